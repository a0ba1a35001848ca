"""What the build pre-renders: the union of the catalog's default views and the course views.

A plan is a list of canonical requests, each once, with the reasons it is there. Nothing is
rendered or written here; every id and value is checked by canonicalizing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from micro.core.catalog import Catalog
from micro.core.models import MicroscopeInstrument, Specimen
from micro.core.params import CT_PRESETS, IMAGING_PARAMS, MICROSCOPE_PARAMS, MRI_PRESETS, Number
from micro.core.requests import (
    ImagingRequest,
    MicroscopeRequest,
    canonicalize_imaging,
    canonicalize_microscope,
)

PROFILES = ("quick", "default", "full")
Request = MicroscopeRequest | ImagingRequest

_FOCUS = next(p for p in MICROSCOPE_PARAMS if p.name == "focus_um" and isinstance(p, Number))
# Lab's first specimen, in order of preference (the first one the catalog has).
LAB_DEFAULT_SPECIMENS = ("cheek-cells", "gram-mixed", "blood-smear", "usaf-1951",
                         "stage-micrometer")
IMAGING_DEFAULT_PHANTOMS = ("brain", "shepp-logan", "derenzo")
# The scanner of each modality that the default profile pre-renders (others render on demand).
PREFERRED_IMAGERS = ("ct-64-slice", "mri-1-5t", "digital-radiography", "ultrasound-curvilinear",
                     "pet-ct", "spect-gamma-camera")


@dataclass
class Plan:
    """Planned renders by canonical path, in a stable order."""

    requests: dict[str, Request] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def add(self, req: Request, reason: str) -> None:
        path = req.path()
        if path not in self.requests:
            self.requests[path] = req
            self.reasons[path] = []
        if reason not in self.reasons[path]:
            self.reasons[path].append(reason)

    def __len__(self) -> int:
        return len(self.requests)


# --------------------------------------------------------------------------- focus steps

def focus_step_um(catalog: Catalog, instrument: str, objective: float, view: str) -> float:
    """One focus step = the objective's depth of field (λn/NA² + n·e/(M·NA), the core's
    optics.dof_um) on the 0.05 µm grid."""
    dof = objective_dof_um(catalog.instruments[instrument], objective, view)
    k = max(1, _FOCUS.units(dof))
    return float(_FOCUS.from_units(min(k, _FOCUS.units(_FOCUS.hi / 4))))


def objective_dof_um(inst: MicroscopeInstrument | Any, objective: float, view: str) -> float:
    """Depth of field of an objective: e is the camera pixel (M = objective × tube × camera
    adapter) or, by eye, the eye's resolvable distance at 250 mm (M = total magnification)."""
    from micro.core.microscope import optics

    assert isinstance(inst, MicroscopeInstrument)
    obj = inst.objective(objective)
    n = optics.medium_index(obj.immersion)
    m_obj = obj.magnification * inst.tube_factor
    if view == "camera" and inst.camera is not None:
        e_um, m = inst.camera.pixel_size_um, m_obj * inst.camera.adapter_magnification
    else:
        assert inst.eyepiece is not None
        e_um, m = optics.EYE_RESOLVABLE_UM, m_obj * inst.eyepiece.magnification
    return float(optics.dof_um(inst.light.wavelength_nm, n, obj.na, e_um, m))


def focus_stack(catalog: Catalog, req: MicroscopeRequest, steps: int) -> list[MicroscopeRequest]:
    """The request and its ±`steps` focus neighbours (those inside the focus range)."""
    step = focus_step_um(catalog, req.instrument, req.objective, req.view)
    out = []
    for i in range(-steps, steps + 1):
        z = req.focus_um + i * step
        if _FOCUS.lo <= z <= _FOCUS.hi:
            out.append(req.replace(catalog, focus_um=round(z, 6)))
    return out


def focus_steps_table(catalog: Catalog) -> dict[str, dict[str, dict[str, float]]]:
    """{instrument: {objective text: {view: step µm}}} for the browser (no formula in JS)."""
    from micro.core.params import fmt_plain

    table: dict[str, dict[str, dict[str, float]]] = {}
    for iid in catalog.microscope_ids():
        inst = catalog.instruments[iid]
        assert isinstance(inst, MicroscopeInstrument)
        views = [v for v, ok in (("camera", inst.camera), ("eyepiece", inst.eyepiece)) if ok]
        table[iid] = {fmt_plain(o.magnification): {v: focus_step_um(catalog, iid,
                                                                     o.magnification, v)
                                                   for v in views}
                      for o in inst.objectives}
    return table


# --------------------------------------------------------------------------- defaults

def specimen_view(catalog: Catalog, spec: Specimen, **changes: Any) -> MicroscopeRequest:
    rec = spec.recommended
    params: dict[str, Any] = {"instrument": rec.instrument, "objective": rec.objective,
                              "specimen": spec.id, "mode": rec.modes[0]}
    params.update(changes)
    return canonicalize_microscope(params, catalog)


def lab_default(catalog: Catalog) -> MicroscopeRequest | None:
    """The view the lab opens with."""
    if not catalog.specimens:
        return None
    sid = next((s for s in LAB_DEFAULT_SPECIMENS if s in catalog.specimens),
               sorted(catalog.specimens)[0])
    return specimen_view(catalog, catalog.specimens[sid])


def imaging_presets(modality: str) -> list[str | None]:
    presets: dict[str, list[str | None]] = {"ct": list(CT_PRESETS), "mri": list(MRI_PRESETS)}
    return presets.get(modality, [None])


def phantom_views(catalog: Catalog, phantom: str, *, all_instruments: bool,
                  all_presets: bool) -> Iterable[ImagingRequest]:
    ph = catalog.phantoms[phantom]
    for modality in ph.modalities:
        if modality not in IMAGING_PARAMS:
            continue
        insts = catalog.imaging_ids(modality)
        preferred = [i for i in PREFERRED_IMAGERS if i in insts] or insts[:1]
        for iid in insts if all_instruments else preferred[:1]:
            # The phantom's own defaults first (its window for that anatomy, the MRI field of
            # view that covers it), then, if asked, every named preset.
            presets = [None, *(p for p in imaging_presets(modality) if p is not None)]
            for preset in presets if all_presets else presets[:1]:
                params: dict[str, Any] = {"instrument": iid, "phantom": phantom}
                if preset is not None:
                    params["preset"] = preset
                yield canonicalize_imaging(params, catalog)


def imaging_default(catalog: Catalog) -> ImagingRequest | None:
    """The view the imaging suite opens with."""
    for pid in (*IMAGING_DEFAULT_PHANTOMS, *sorted(catalog.phantoms)):
        if pid in catalog.phantoms:
            views = list(phantom_views(catalog, pid, all_instruments=False, all_presets=False))
            if views:
                return views[0]
    return None


def library_views(catalog: Catalog, spec: Specimen) -> tuple[str | None, list[str]]:
    """(mode, stains) of the specimen's library views: the stains with verified AI
    illustrations (data/images/<specimen>/<stain>/), in the first recommended mode a library
    view renders in (none: no library views)."""
    from micro.core.library import library_mode, usable_stains

    mode = library_mode(catalog, spec)
    return mode, (usable_stains(catalog, spec) if mode else [])


def plan_defaults(catalog: Catalog, profile: str) -> Plan:
    """The catalog's share of the plan for a profile (quick: a few dozen images for tests)."""
    if profile not in PROFILES:
        raise ValueError(profile)
    plan = Plan()
    first = lab_default(catalog)
    for sid in sorted(catalog.specimens):
        spec = catalog.specimens[sid]
        inst = catalog.instruments[spec.recommended.instrument]
        assert isinstance(inst, MicroscopeInstrument)
        mags = [o.magnification for o in inst.objectives]
        base = specimen_view(catalog, spec)
        lib_mode, lib_stains = library_views(catalog, spec)  # every profile: the library is small
        for stain in lib_stains:
            for m in mags:
                plan.add(base.replace(catalog, objective=m, stain=stain, source="library",
                                      mode=lib_mode), f"specimen {sid} library")
        if profile == "quick":
            if first is not None and sid == first.specimen:
                for m in mags:
                    steps = 3 if m == base.objective else 1
                    for r in focus_stack(catalog, base.replace(catalog, objective=m), steps):
                        plan.add(r, "lab default")
            else:
                plan.add(base, f"specimen {sid}")
            continue
        reason = f"specimen {sid}"
        for m in mags:
            for r in focus_stack(catalog, base.replace(catalog, objective=m), 3):
                plan.add(r, reason)
        for mode in spec.recommended.modes[1:]:
            for m in mags:
                r = base.replace(catalog, objective=m, mode=mode)
                stack = focus_stack(catalog, r, 3) if m == base.objective else [r]
                for x in stack:
                    plan.add(x, f"{reason} {mode}")
        if profile == "full":
            for stain in spec.stains:
                for m in mags:
                    plan.add(base.replace(catalog, objective=m, stain=stain),
                             f"{reason} stain {stain}")
            if inst.eyepiece is not None and inst.camera is not None:
                for m in mags:
                    plan.add(base.replace(catalog, objective=m, view="eyepiece"),
                             f"{reason} eyepiece")
    for pid in sorted(catalog.phantoms):
        for view in phantom_views(catalog, pid, all_instruments=profile == "full",
                                  all_presets=profile != "quick"):
            plan.add(view, f"phantom {pid}")
    return plan


def add_views(plan: Plan, catalog: Catalog, views: Mapping[str, Request], profile: str) -> None:
    """Course views (by where they were written) with their focus neighbours."""
    steps = 0 if profile == "quick" else 3
    for where, req in views.items():
        if isinstance(req, MicroscopeRequest):
            for r in focus_stack(catalog, req, steps):
                plan.add(r, where)
        else:
            plan.add(req, where)

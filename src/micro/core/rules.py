"""The request rules as data: one spec, generated from the parameter models and the catalog.

Python (`micro.core.canon`) and the browser (`site_src/static/js/canon.js`) interpret the same
spec, so they canonicalize every request alike. The browser reads it as `quantization.json`.

A spec is the parameter lists of `params.py` plus
- `tables`: what the catalog allows, per entry (an instrument's objectives, modes, views,
  setting defaults and setting bounds; a specimen's stains and slide extent; a phantom's
  variants, defaults and slice range);
- `requests`: per kind of request, a list of steps run in order on the raw parameters.

Steps (`op`): `pop` a raw value aside; reject keys that are not `known`; check an `id`
against a table and bind its entry; `match` a number to an entry; `pick` a value (default,
normalize, check membership); apply a `preset`; quantize `params` (defaults from entries,
per-entry checks); apply `rules`.

A rule is `{"when": {ref: {test: operand}}, "set": {...}}` (a setting that does nothing in
this configuration takes its default: one key per image) or `{"when": ..., "error": {"field",
"message", "allowed"}}`; all tests of `when` must hold. Tests: eq, ne, in, not_in, gt, ge,
le, outside (a [lo, hi] range with 1e-9 tolerance). A ref is a dotted path: a value already
set (`mode`), a bound entry's field (`inst.modes`, `ph.slice_range_mm.1`) or a spec key
(`library_modes`); `{name}` inside a path is filled first. An operand `{"ref": path}` is
looked up; anything else is literal. Messages fill `{ref}`, `{ref:plain}` (a number),
`{ref:q40}` (quoted, cut to 40 characters), `{ref:id}` (quoted, cut with an ellipsis) and
`{ref-1:plain}` (an offset).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from micro.core.models import MODES, ImagingInstrument, MicroscopeInstrument
from micro.core.params import (
    CT_PRESETS,
    FORMATS,
    IMAGING_COMMON,
    IMAGING_PARAMS,
    LIBRARY_MODES,
    MICROSCOPE_PARAMS,
    MRI_PRESETS,
    PROBE_MODES,
    SEM_MODES,
    SLICE,
    TRANSMITTED_MODES,
    Choice,
    Number,
    fmt_plain,
)

if TYPE_CHECKING:
    from micro.core.catalog import Catalog

Rule = dict[str, Any]
_MP = {p.name: p for p in MICROSCOPE_PARAMS}


def _ref(path: str) -> dict[str, str]:
    return {"ref": path}


# --------------------------------------------------------------------------- microscope

MICROSCOPE_RULES: list[Rule] = [
    {"when": {"view": {"not_in": _ref("inst.views")}},
     "error": {"field": "view", "message": "{instrument} has no {view}",
               "allowed": _ref("inst.views")}},
    *({"when": {axis: {"outside": _ref(f"slide.{axis}")}},
       "error": {"field": axis, "message": f"{{{axis}:plain}} µm is off the slide",
                 "allowed": f"-{{slide.{axis}.1:plain}} to {{slide.{axis}.1:plain}} µm"}}
      for axis in ("x_um", "y_um")),
    {"when": {"source": {"eq": "library"}, "mode": {"not_in": _ref("library_modes")}},
     "error": {"field": "mode", "message": "an AI illustration cannot be viewed in {mode}",
               "allowed": _ref("inst.library_modes")}},
    # Parameters that do nothing in this configuration take their default (one key per image).
    {"when": {"mode": {"not_in": _ref("transmitted_modes")}},
     "set": {"aperture": _MP["aperture"].default}},
    {"when": {"obj.immersion": {"ne": "oil"}}, "set": {"oil": _MP["oil"].default}},
    {"when": {"view": {"eq": "eyepiece"}}, "set": {"exposure_ms": 0.0}},
    {"when": {"mode": {"in": _ref("probe_modes")}},
     "set": {n: _MP[n].default for n in ("focus_um", "light_pct", "exposure_ms")}},
    {"when": {"mode": {"not_in": _ref("sem_modes")}},
     "set": {n: _MP[n].default for n in ("detector", "wd_mm")}},
]

MICROSCOPE_STEPS: list[dict[str, Any]] = [
    {"op": "known", "keys": ["instrument", "objective", "specimen", "stain", "mode", "format"],
     "params": ["microscope"]},
    {"op": "id", "field": "instrument", "among": "tables.microscopes", "bind": "inst"},
    {"op": "id", "field": "specimen", "among": "tables.specimens", "bind": "slide"},
    {"op": "match", "field": "objective", "default": _ref("inst.default_objective"),
     "among": "inst.objectives", "key": "magnification", "bind": "obj",
     "message": "no {value:plain}× objective on {instrument}",
     "allowed": _ref("inst.magnifications")},
    {"op": "pick", "field": "stain", "default": _ref("slide.default_stain"),
     "among": "tables.stains", "message": "unknown id {stain:id}"},
    {"op": "rules", "rules": [
        {"when": {"stain": {"not_in": _ref("slide.stains")}},
         "error": {"field": "stain", "message": "stain {stain:q} is not used on {specimen}",
                   "allowed": _ref("slide.stains")}}]},
    {"op": "pick", "field": "mode", "default": _ref("inst.default_mode"),
     "among": "tables.modes", "message": "unknown mode {mode:q40}"},
    {"op": "rules", "rules": [
        {"when": {"mode": {"not_in": _ref("inst.modes")}},
         "error": {"field": "mode", "message": "{instrument} has no {mode} mode",
                   "allowed": _ref("inst.modes")}}]},
    {"op": "pick", "field": "format", "default": "jpg", "normalize": ["lower", {"jpeg": "jpg"}],
     "among": "formats", "message": "unknown format {format:q20}"},
    {"op": "params", "params": "microscope", "defaults": ["inst.defaults"]},
    {"op": "rules", "rules": MICROSCOPE_RULES},
]


def _microscope_entry(inst: MicroscopeInstrument) -> dict[str, Any]:
    views = [v for v, part in (("camera", inst.camera), ("eyepiece", inst.eyepiece))
             if part is not None]
    return {
        "objectives": [{"magnification": o.magnification, "immersion": o.immersion}
                       for o in inst.objectives],
        "magnifications": [fmt_plain(o.magnification) for o in inst.objectives],
        "default_objective": inst.default_objective, "default_mode": inst.default_mode,
        "modes": list(inst.modes), "views": views,
        "library_modes": [m for m in LIBRARY_MODES if m in inst.modes],
        "defaults": {"view": "camera" if inst.camera is not None else "eyepiece"},
    }


# --------------------------------------------------------------------------- imaging

SLICED = [m for m, ps in IMAGING_PARAMS.items() if SLICE in ps]
IMAGING_RULES: list[Rule] = [
    # Parameters that do nothing in this configuration take their default.
    {"when": {"modality": {"eq": "mri"}, "sequence": {"ne": "inversion-recovery"}},
     "set": {"ti_ms": 0}},
    {"when": {"modality": {"eq": "mri"}, "sequence": {"eq": "inversion-recovery"},
              "ti_ms": {"le": 0}},
     "error": {"field": "ti_ms", "message": "inversion recovery needs an inversion time",
               "allowed": "1 to 5000 ms"}},
    {"when": {"modality": {"eq": "mri"}, "sequence": {"ne": "gradient-echo"}},
     "set": {"flip_deg": 90}},
    {"when": {"modality": {"eq": "mri"}, "view": {"eq": "kspace"}},  # raw k-space: no coil map
     "set": {"coil": "normalized"}},
    {"when": {"modality": {"eq": "mri"}, "te_ms": {"ge": _ref("tr_ms")}},
     "error": {"field": "te_ms", "message": "TE must be shorter than TR",
               "allowed": "1 to {tr_ms-1:plain} ms"}},
    {"when": {"modality": {"in": ["pet", "spect"]}, "recon": {"eq": "fbp"}},
     "set": {"iterations": 4, "subsets": 8}},
    {"when": {"modality": {"in": ["pet", "spect"]}, "recon": {"eq": "mlem"}},
     "set": {"subsets": 1}},
    {"when": {"modality": {"in": SLICED}, "ph.anatomy": {"eq": None}},  # a 2-D test object
     "set": {"slice_mm": 0}},
    {"when": {"modality": {"in": SLICED}, "ph.anatomy": {"ne": None},
              "slice_mm": {"outside": _ref("ph.slice_range_mm")}},
     "error": {"field": "slice_mm", "message": "{slice_mm:plain} mm is outside {phantom}",
               "allowed": "{ph.slice_range_mm.0:plain} to {ph.slice_range_mm.1:plain} mm"}},
    {"when": {"modality": {"eq": "ultrasound"}, "focus_cm": {"gt": _ref("depth_cm")}},
     "error": {"field": "focus_cm", "message": "focus is deeper than the image",
               "allowed": "0.5 to {depth_cm:plain} cm"}},
]

IMAGING_STEPS: list[dict[str, Any]] = [
    {"op": "pop", "field": "preset"},
    {"op": "id", "field": "instrument", "among": "tables.imagers", "bind": "inst",
     "refuse": {"among": "tables.reference_only",
                "message": "{instrument} is in the catalog for reference only: MICRO does not "
                           "simulate {inst.modality} images yet"}},
    {"op": "known", "keys": ["instrument", "phantom", "variant", "format", "modality"],
     "params": ["imaging_common", "imaging.{inst.modality}"]},
    {"op": "pick", "field": "modality", "default": _ref("inst.modality"),
     "among": [_ref("inst.modality")], "message": "{instrument} is a {inst.modality} instrument"},
    {"op": "preset", "field": "preset", "among": "presets.{modality}",
     "message": "unknown preset {preset:q40}"},
    {"op": "id", "field": "phantom", "among": "inst.phantoms", "table": "tables.phantoms",
     "bind": "ph",
     "refuse": {"among": "inst.elsewhere",
                "message": "phantom {phantom:q40} has no {inst.modality} version: "
                           "{instrument} cannot image it"}},
    {"op": "pick", "field": "variant", "falsy": True, "default": "default",
     "among": "ph.variants", "message": "unknown variant {variant:q40}"},
    {"op": "pick", "field": "format", "falsy": True, "default": "png",
     "normalize": [{"jpeg": "jpg"}, "lower"], "among": "formats",
     "message": "unknown format {format:q20}"},
    {"op": "params", "params": "imaging_common", "falsy": True},
    {"op": "params", "params": "imaging.{modality}",
     "defaults": ["ph.defaults.{modality}", "inst.defaults"], "checks": "inst.checks"},
    {"op": "rules", "rules": IMAGING_RULES},
]


def _imaging_defaults(inst: ImagingInstrument) -> dict[str, Any]:
    s: Any = inst.spec
    m = inst.modality
    if m == "xray":  # mAs 0: automatic exposure control
        return {"kvp": s.default_kvp, "mas": 0, "grid": "on" if s.grid_ratio > 0 else "off"}
    if m == "ct":
        return {"kvp": s.default_kvp, "mas": s.default_mas}
    if m == "ultrasound":
        depth = min(s.max_depth_cm, 16.0 if s.probe != "linear" else 5.0)
        return {"frequency_mhz": s.default_frequency_mhz, "depth_cm": depth,
                "focus_cm": round(depth * 0.5 * 2) / 2}
    if m == "pet":  # OSEM with a 5 mm Gaussian post-filter, as scanners ship
        return {"dose_mbq": s.default_dose_mbq, "post_fwhm_mm": 5}
    if m == "spect":  # a 20 min tomographic acquisition, low-pass filtered (count-poor)
        return {"dose_mbq": s.default_dose_mbq, "scan_min": 20, "post_fwhm_mm": 8}
    return {}


_RANGES = {  # (modality, setting) → the instrument spec's range field
    ("xray", "kvp"): "kvp_range", ("xray", "mas"): "mas_range", ("ct", "mas"): "mas_range",
    ("ultrasound", "frequency_mhz"): "frequency_mhz_range",
    ("pet", "dose_mbq"): "dose_mbq_range", ("spect", "dose_mbq"): "dose_mbq_range",
}


def _range_rule(name: str, lo: float, hi: float, **also: Any) -> list[Rule]:
    return [{"when": {name: {**also, "outside": [lo, hi]}},
             "error": {"field": name, "message": f"{{{name}:plain}} is out of range for "
                                                 "{instrument}",
                       "allowed": f"{fmt_plain(lo)} to {fmt_plain(hi)}"}}]


def _imaging_checks(inst: ImagingInstrument) -> dict[str, list[Rule]]:
    """The instrument's own bounds of its settings, as rules run right after each setting."""
    s: Any = inst.spec
    m = inst.modality
    out = {name: _range_rule(name, *getattr(s, attr)) for (mod, name), attr in _RANGES.items()
           if mod == m}
    if m == "xray":  # 0 = automatic exposure control
        out["mas"] = _range_rule("mas", *s.mas_range, ne=0)
    if m == "ct":
        out["kvp"] = [{"when": {"kvp": {"not_in": list(s.kvp_options)}},
                       "error": {"field": "kvp",
                                 "message": "{kvp:plain} kVp is not offered by {instrument}",
                                 "allowed": [fmt_plain(k) for k in s.kvp_options]}}]
    if m == "ultrasound":
        out["depth_cm"] = _range_rule("depth_cm", 1.0, s.max_depth_cm)
    return out


# --------------------------------------------------------------------------- the spec

def _imager_entry(inst: ImagingInstrument, catalog: Catalog) -> dict[str, Any]:
    return {"modality": inst.modality, "defaults": _imaging_defaults(inst),
            "checks": _imaging_checks(inst),
            "phantoms": sorted(p for p, ph in catalog.phantoms.items()
                               if inst.modality in ph.modalities),
            "elsewhere": {p: {"modalities": sorted(ph.modalities)}
                          for p, ph in sorted(catalog.phantoms.items())
                          if inst.modality not in ph.modalities}}


def _imaging_tables(catalog: Catalog) -> dict[str, Any]:
    imaging = {i: x for i, x in sorted(catalog.instruments.items())
               if isinstance(x, ImagingInstrument)}
    simulated = {i: x for i, x in imaging.items() if x.modality in IMAGING_PARAMS}
    return {
        "imagers": {i: _imager_entry(x, catalog) for i, x in simulated.items()},
        "reference_only": {i: {"modality": x.modality} for i, x in imaging.items()
                           if i not in simulated},
        "phantoms": {i: {"variants": ["default", *p.variants], "defaults": p.defaults,
                         "anatomy": p.anatomy, "slice_range_mm": list(p.slice_range_mm)}
                     for i, p in sorted(catalog.phantoms.items())},
    }


def tables(catalog: Catalog) -> dict[str, Any]:
    """What the catalog allows, per entry, for the request steps."""
    return {
        "microscopes": {i: _microscope_entry(x) for i, x in sorted(catalog.instruments.items())
                        if isinstance(x, MicroscopeInstrument)},
        "specimens": {i: {"stains": list(s.stains), "default_stain": s.default_stain,
                          "x_um": [-s.slide_width_um / 2, s.slide_width_um / 2],
                          "y_um": [-s.slide_height_um / 2, s.slide_height_um / 2]}
                      for i, s in sorted(catalog.specimens.items())},
        "stains": sorted(catalog.stains),
        "modes": list(MODES),
        **_imaging_tables(catalog),
    }


def _static() -> dict[str, Any]:
    return {
        "formats": FORMATS, "transmitted_modes": TRANSMITTED_MODES,
        "library_modes": LIBRARY_MODES, "probe_modes": PROBE_MODES, "sem_modes": SEM_MODES,
        "microscope": MICROSCOPE_PARAMS, "imaging_common": IMAGING_COMMON,
        "imaging": IMAGING_PARAMS, "ct_presets": CT_PRESETS, "mri_presets": MRI_PRESETS,
        "presets": {"ct": {"keys": ["window", "level"], "values": CT_PRESETS},
                    "mri": {"keys": ["sequence", "tr_ms", "te_ms", "ti_ms", "flip_deg"],
                            "values": MRI_PRESETS}},
        "requests": {"microscope": MICROSCOPE_STEPS, "imaging": IMAGING_STEPS},
    }


@functools.lru_cache(maxsize=8)
def spec(catalog: Catalog) -> dict[str, Any]:
    """The spec as the Python interpreter reads it (parameters as `Number`/`Choice`)."""
    return {**_static(), "tables": tables(catalog)}


def _jsonable(x: Any) -> Any:
    if isinstance(x, (Number, Choice)):
        return x.spec()
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def spec_json(catalog: Catalog | None = None) -> dict[str, Any]:
    """The same spec as JSON for the browser (`quantization.json`) and for humans."""
    from micro.core.catalog import default_catalog

    return _jsonable(spec(catalog or default_catalog()))


def quantization_spec(catalog: Catalog | None = None) -> dict[str, Any]:
    """The key space as JSON for the browser (and for humans): the parameter specs of
    `micro.core.params` plus the request rules as data, for `catalog` (default: the shipped
    one). The site ships it as `quantization.json`."""
    return spec_json(catalog)

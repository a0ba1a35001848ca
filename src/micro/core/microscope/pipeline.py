"""The microscope pipeline: scene → contrast + optics → detector → display → encode.

`render_microscope_request(req, catalog)` is pure and deterministic: the noise generator is
seeded from the canonical path, the structures from the slide's seed. The scene is the
specimen's procedural structures, or for `source=library` an AI illustration of it
(`illustration.py`); everything after the scene is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from micro.core.allocator import keep_freed_memory
from micro.core.catalog import Catalog
from micro.core.encode import encode
from micro.core.errors import InvalidRequest
from micro.core.library import DirectoryStore
from micro.core.memory import memoized
from micro.core.microscope import (
    budget,
    contrast,
    electron,
    flatfield,
    fluorescence,
    illustration,
    optics,
    sem,
    stereo,
)
from micro.core.microscope.contrast import Signal
from micro.core.microscope.detector import Detected, afm_noise, camera, eye
from micro.core.microscope.display import finish, scale_bar, to_linear_rgb
from micro.core.microscope.illustration import IllustrationStore
from micro.core.microscope.quantities import Coefficients, coefficients, is_cleared_section
from micro.core.microscope.scene import Scene, build_scene
from micro.core.microscope.setup import FLUORESCENCE_MODES, Setup, make_setup
from micro.core.params import LIBRARY_MODES
from micro.core.requests import MicroscopeRequest
from micro.core.result import RenderResult

ModeFn = Callable[[Scene, Setup, Coefficients], Signal]
MODES: dict[str, ModeFn] = {
    "brightfield": contrast.brightfield, "darkfield": contrast.darkfield,
    "phase-contrast": contrast.phase_contrast, "dic": contrast.dic,
    "polarized": contrast.polarized, "stereo": stereo.stereo,
    **dict.fromkeys(FLUORESCENCE_MODES, fluorescence.fluorescence),
    "sem": electron.sem, "tem": electron.tem, "afm": electron.afm,
}


@memoized("microscope.pipeline.coefficients")
def _coefficients(catalog: Catalog, stain_id: str, specimen_id: str) -> Coefficients:
    spec = catalog.specimens[specimen_id]
    return coefficients(catalog.stains[stain_id], catalog.structures,
                        spec.medium_refractive_index, spec.thickness_um,
                        cleared=is_cleared_section(spec))


def simulate(req: MicroscopeRequest, catalog: Catalog, scene: Scene | None = None,
             illustrations: IllustrationStore | None = None
             ) -> tuple[Setup, Scene, Signal, Detected]:
    """Everything up to the detector (tests use it to check physics on the raw signal, and
    may pass a purpose-built `scene` for the request's window instead of the specimen's)."""
    s, scene, signal, det, _ = _simulate(req, catalog, scene, illustrations)
    return s, scene, signal, det


def _simulate(req: MicroscopeRequest, catalog: Catalog, scene: Scene | None,
              illustrations: IllustrationStore | None
              ) -> tuple[Setup, Scene, Signal, Detected, dict[str, Any]]:
    s = make_setup(req, catalog)
    about: dict[str, Any] = {}
    if req.source == "library":
        # the scene is a picture from the library: colour only, in the lighting it depicts
        if req.mode not in LIBRARY_MODES:
            raise InvalidRequest(f"an AI illustration cannot be shown in {req.mode}: it holds "
                                 "colour, not optical path or fluorescence", field="mode",
                                 allowed=list(LIBRARY_MODES))
        if scene is None:
            store = illustrations or DirectoryStore(catalog.data_dir)
            picture = store.find(req.specimen, req.stain)
            scene = illustration.build_illustration_scene(picture, s)
            about = illustration.info(picture, s)
        coef = illustration.coefficients(req.mode)
    else:
        if scene is None:
            budget.check(s)
            scene = build_scene(s.specimen, s.window, catalog.structures, catalog.digest)
        coef = _coefficients(catalog, req.stain, req.specimen)
    signal = MODES[req.mode](scene, s, coef)
    signal = Signal(np.ascontiguousarray(s.crop(signal.values)), signal.channels,
                    signal.colors, signal.kind, signal.wavelength_nm)
    rng = np.random.default_rng(req.seed())
    light = flatfield.lit(signal, s)  # the lamp's colour, vignetting and sensor dust
    if signal.kind == "height":
        det = afm_noise(signal, rng)
    elif s.view == "camera":
        det = camera(light, s, rng)
    else:
        det = eye(light, s)
    return s, scene, signal, det, about


def render_microscope_request(req: MicroscopeRequest, catalog: Catalog,
                              illustrations: IllustrationStore | None = None) -> RenderResult:
    """Render a canonical request. A `source=library` request takes its scene from
    `illustrations` (default: the library folder of the catalog's data directory)."""
    keep_freed_memory()  # a render's freed buffers serve the next one (no page faults)
    s, _scene, signal, det, about = _simulate(req, catalog, None, illustrations)
    img = finish(to_linear_rgb(det, signal, s), signal, s)
    bar_um = None
    if req.scale_bar:
        img, bar_um = scale_bar(img, s.px_um, s.fov_um[0], s.view == "eyepiece")
    raw = np.moveaxis(det.values, 0, -1) if det.values.shape[0] > 1 else det.values[0]
    info = microscope_info(req, s, signal, det)
    info["scale_bar_um"] = bar_um
    info.update(about)
    data = encode(img, req.format, raw=raw)
    return RenderResult(data, req.content_type, info, raw.astype(np.float32, copy=False))


def resolution_um(s: Setup, signal: Signal) -> float:
    """Two-point (Rayleigh-type) resolution of this mode with this objective, µm."""
    mode = s.req.mode
    if s.obj.resolution_nm and mode in ("sem", "tem", "afm"):
        return s.obj.resolution_nm / 1000.0
    if mode in ("brightfield", "darkfield", "phase-contrast", "dic", "polarized"):
        cond = s.na_condenser if mode == "brightfield" else s.na
        if mode == "darkfield" and s.inst.condenser:
            cond = min(s.inst.condenser.na, s.na)
        return optics.brightfield_resolution_um(550.0, s.na, cond)
    if mode == "stereo":
        return optics.rayleigh_um(550.0, s.na)
    return fluorescence.lateral_fwhm_um(s, signal.wavelength_nm) * 0.61 / 0.514


def microscope_info(req: MicroscopeRequest, s: Setup, signal: Signal,
                    det: Detected) -> dict[str, Any]:
    lam = signal.wavelength_nm
    res = resolution_um(s, signal)
    if s.view == "camera" and s.inst.camera is not None:
        # the camera's own pixel (the formula's detector resolution e): the instrument's
        # depth of field does not change with the size the image is rendered at
        e_um, mag_e = s.inst.camera.pixel_size_um, s.mag_sensor
    else:
        e_um, mag_e = optics.EYE_RESOLVABLE_UM, s.mag_sensor * (
            s.inst.eyepiece.magnification if s.inst.eyepiece else 1.0)
    n = s.n_immersion
    dof = optics.dof_um(lam if lam < 2000 else 550.0, n, max(s.na, 1e-3), e_um, mag_e)
    if req.mode in ("confocal", "sted"):
        dof = optics.optical_section_um(lam, n, s.na)
    elif req.mode == "two-photon":
        dof = fluorescence.two_photon_widths_um(s.wavelength_nm, s.na, n)[1]
    elif req.mode == "light-sheet":
        dof = min(dof, fluorescence.LIGHT_SHEET_FWHM_UM)
    elif req.mode == "sem":  # resolution / α, α = aperture radius / working distance
        dof = (s.obj.resolution_nm or 2.0) / 1000.0 / max(sem.convergence(s), 1e-4)
    elif req.mode == "tem":
        dof = (s.obj.resolution_nm or 2.0) / 1000.0 / max(s.na, 1e-4)
    px = s.px_um
    if px > res / 2 * 1.05:
        sampling = "undersampled"
    elif px < res / 8:
        sampling = "empty magnification"
    else:
        sampling = "nyquist"
    eyepiece_m = s.inst.eyepiece.magnification if s.inst.eyepiece else None
    total = s.obj.magnification * s.inst.tube_factor * (eyepiece_m or 1.0)
    if eyepiece_m is None:
        total = s.mag_sensor
    info = {
        "path": req.path(),
        "kind": "microscope",
        "instrument": req.instrument,
        "specimen": req.specimen,
        "stain": req.stain,
        "mode": req.mode,
        "view": req.view,
        "total_magnification": round(total, 4),
        "sensor_magnification": round(s.mag_sensor, 4),
        "objective": {"magnification": s.obj.magnification, "na": s.obj.na,
                      "working_na": round(s.na, 4), "immersion": s.obj.immersion,
                      "correction": s.obj.correction},
        "condenser_na": round(s.na_condenser, 4),
        "wavelength_nm": lam,
        "pixel_size_um": round(px, 6),
        "fov_um": [round(s.fov_um[0], 4), round(s.fov_um[1], 4)],
        "image_px": [s.width, s.height],
        "resolution_um": round(res, 5),
        "dof_um": round(dof, 4),
        "sampling": sampling,
        "focus_um": req.focus_um,
        "stage_um": [req.x_um, req.y_um],
        "exposure_ms": det.exposure_ms,
        "saturated_fraction": round(det.saturated_fraction, 5),
        "snr": None if not np.isfinite(det.snr) else round(det.snr, 2),
        "full_well_e": None if not np.isfinite(det.full_well_e) else det.full_well_e,
        "gain_adu_per_e": round(det.gain_adu_per_e, 6),
        "read_noise_e": round(det.read_noise_e, 3),
        "raw_unit": det.unit,
        "channels": list(signal.channels),
        "provenance": "procedural",
    }
    if req.mode == "sem":
        info.update(sem.sem_info(s))
    return info

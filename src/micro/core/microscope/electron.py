"""Stage 2b+3 — electron and probe microscopes: SEM, TEM, AFM. Grey (or false colour for AFM),
resolution set by the probe, not by light."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from micro.core.microscope.contrast import Signal
from micro.core.microscope.optics import apply, gaussian_otf
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import Setup

GREY = np.ones((1, 3), dtype=np.float32)
SUBSTRATE_SE_YIELD = 0.12
COATING_SE_YIELD = 0.9
TEM_CONTRAST_PER_KV = 12.0
"""Mass-thickness contrast constant at 100 kV per (relative density × µm): scattering out of
the objective aperture falls roughly as 1/√kV."""


def _probe_fwhm_um(s: Setup) -> float:
    return (s.obj.resolution_nm or 2.0) / 1000.0


def _sum_layers(scene: Scene, coef: Coefficients, want: tuple[str, ...],
                s: Setup) -> np.ndarray:
    out = np.zeros((len(want), *s.shape), dtype=np.float32)
    for layer in scene.layers:
        out += layer_quantities(layer, coef, want)
    return out


def sem(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Secondary electrons: yield δ rises with surface tilt (δ ∝ sec θ) and at edges, where
    electrons escape through two surfaces; the Everhart–Thornley detector sits to the upper
    right, so faces turned away from it are shadowed. A metal coating makes the yield the
    same everywhere, leaving pure topography."""
    h, yield_num, cover = _sum_layers(scene, coef, ("height", "se", "cover"), s)
    material = (yield_num + np.clip(1.0 - cover, 0.0, 1.0) * SUBSTRATE_SE_YIELD) / np.maximum(
        cover, 1.0)
    if s.stain.type == "coating":
        material = np.full_like(material, COATING_SE_YIELD)
    gy, gx = np.gradient(h, s.px_um)
    sec = np.sqrt(1.0 + gx * gx + gy * gy)
    # edges: surface standing above its surroundings within the interaction volume (~0.3 µm)
    sigma_um = max(s.px_um, 0.3)
    convex = h - apply(h[None], gaussian_otf(*s.shape, s.px_um, round(2.3548 * sigma_um, 6)))[0]
    edge = np.clip(convex / sigma_um, 0.0, 2.0)
    detector = np.array([0.7, -0.7])  # towards the upper right of the image
    facing = (gx * -detector[0] + gy * -detector[1]) / sec
    signal = material * (sec**1.3) * (1.0 + 0.8 * edge) * np.clip(1.0 + 0.45 * facing, 0.3, 1.6)
    z_top = max(L.z_um for L in scene.layers)
    dz = abs(s.focus_um - z_top)
    fwhm = math.hypot(_probe_fwhm_um(s), 2 * s.na * dz)
    img = apply(signal[None].astype(np.float32), gaussian_otf(*s.shape, s.px_um, round(fwhm, 6)))
    return Signal(np.clip(img, 0.0, None), ("SE",), GREY, "electron", s.wavelength_nm)


def tem(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Bright-field TEM: electrons scattered by heavy atoms miss the objective aperture, so
    I = exp(−k · mass-thickness); heavy-metal stains (uranyl, lead, osmium) add most of it."""
    mass = _sum_layers(scene, coef, ("mass",), s)[0]
    kv = s.inst.light.accelerating_voltage_kv or 100.0
    k = TEM_CONTRAST_PER_KV * math.sqrt(100.0 / kv)
    img = np.exp(-k * mass).astype(np.float32)
    z_mid = float(np.mean([L.z_um for L in scene.layers]))
    dz = abs(s.focus_um - z_mid)
    fwhm = math.hypot(_probe_fwhm_um(s), 2 * s.na * dz)
    img = apply(img[None], gaussian_otf(*s.shape, s.px_um, round(fwhm, 6)))
    return Signal(np.clip(img, 0.0, None), ("e-",), GREY, "electron", s.wavelength_nm)


def afm(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Contact/tapping AFM: the recorded height is the surface dilated by the tip — a sphere
    of the tip radius — so narrow features look wider and pits shallower than they are."""
    height = _sum_layers(scene, coef, ("height",), s)[0] * 1000.0  # nm
    radius_nm = s.obj.resolution_nm or 8.0
    r_px = radius_nm / (s.px_um * 1000.0)
    if r_px >= 1.0:
        rp = int(min(math.ceil(r_px), 15))
        yy, xx = np.mgrid[-rp:rp + 1, -rp:rp + 1] * (s.px_um * 1000.0)
        rr2 = xx * xx + yy * yy
        cap = np.where(rr2 <= radius_nm**2, -(radius_nm - np.sqrt(np.maximum(
            radius_nm**2 - rr2, 0.0))), -1e6)
        height = ndimage.grey_dilation(height, structure=cap.astype(np.float32),
                                       mode="nearest")
    return Signal(height[None].astype(np.float32), ("height",), GREY, "height",
                  s.wavelength_nm)

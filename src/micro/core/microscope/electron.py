"""Stage 2b+3 — electron and probe microscopes: SEM, TEM, AFM. Grey (or false colour for AFM),
resolution set by the probe, not by light."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from micro.core.microscope.contrast import Signal
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.sem import sem
from micro.core.microscope.setup import Setup
from micro.core.microscope.tem import tem

__all__ = ["afm", "sem", "tem"]

GREY = np.ones((1, 3), dtype=np.float32)

def _sum_layers(scene: Scene, coef: Coefficients, want: tuple[str, ...],
                s: Setup) -> np.ndarray:
    out = np.zeros((len(want), *s.shape), dtype=np.float32)
    for layer in scene.layers:
        out += layer_quantities(layer, coef, want)
    return out


MAX_TIP_PX = 24
"""Tip footprint evaluated up to this many pixels from its apex (the cap of an 8 nm tip
at 0.5 nm pixels); further out the sphere has risen far above any feature."""


def tip_dilate(height_nm: np.ndarray, px_nm: float, radius_nm: float) -> np.ndarray:
    """What a spherical tip of `radius_nm` records over a surface: at each position the
    lowest apex height at which the sphere touches nothing, i.e. the grey dilation of the
    surface by the sphere's lower cap (Villarrubia 1997). Narrow features widen by
    2√(2Rh − h²) for height h < R; pits narrower than the tip are never reached."""
    r_px = radius_nm / px_nm
    if r_px < 1.0:
        return height_nm
    rp = int(min(math.ceil(r_px), MAX_TIP_PX))
    yy, xx = np.mgrid[-rp:rp + 1, -rp:rp + 1] * px_nm
    rr2 = xx * xx + yy * yy
    cap = np.where(rr2 <= radius_nm**2,
                   -(radius_nm - np.sqrt(np.maximum(radius_nm**2 - rr2, 0.0))), -1e6)
    return ndimage.grey_dilation(height_nm, structure=cap.astype(np.float32), mode="nearest")


def afm(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Tapping-mode AFM height image (nm, float32 (1, H, W)): the surface dilated by the
    tip — a sphere of the tip radius (resolution_nm) — so narrow features look wider and
    pits shallower than they are. Kept on the cached scene (no focus or light to change)."""
    radius_nm = s.obj.resolution_nm or 8.0
    key = ("afm", s.specimen.id, radius_nm)
    hit = scene.derived.get(key)
    if hit is None:
        height = _sum_layers(scene, coef, ("height",), s)[0] * 1000.0  # nm
        hit = tip_dilate(height, s.px_um * 1000.0, radius_nm).astype(np.float32)
        scene.derived[key] = hit
    return Signal(np.asarray(hit)[None].copy(), ("height",), GREY, "height", s.wavelength_nm)

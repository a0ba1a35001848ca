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

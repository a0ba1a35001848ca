"""Stage 2b+3 — the stereo (dissecting) microscope: reflected light from a 3-D surface.

The specimen is a height map h(x, y) (µm) with a colour (its pigments and stains as
Beer–Lambert optical densities, seen in reflection: light passes the pigment twice). A
gooseneck lamp at the upper left and a ring light around the objective light it: a
Lambertian term with the surface normal, a soft specular highlight on glossy cuticle, and
the ring light's fill. The objective images it at its low NA with the defocus of each
height: the surface is cut into height slabs, each blurred by the defocused OTF of its
distance from the focal plane, and blended back by height — so turning the focus moves the
sharp band through the relief, and the depth of field shrinks as the zoom (NA) rises.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from micro.core.microscope.contrast import LN10, RGB, Signal
from micro.core.microscope.optics import RGB_NM, otf, rfft2
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import Setup

LAMP = np.array([-1.0, -1.0, 1.2]) / math.sqrt(1.0 + 1.0 + 1.44)
"""Direction towards the gooseneck lamp (x, y, z; y down: the upper left)."""
RING_FILL = 0.25
"""Share of the light from the ring light around the objective (shadow-free fill)."""
SPECULAR = 0.18
SHININESS = 30.0


def shade(h: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular reflectance of a surface h (µm) with pixels of px µm."""
    gy, gx = np.gradient(h.astype(np.float64), px)
    inv = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    nx, ny, nz = -gx * inv, -gy * inv, inv
    lam = np.clip(nx * LAMP[0] + ny * LAMP[1] + nz * LAMP[2], 0.0, 1.0)
    diffuse = RING_FILL * nz + (1.0 - RING_FILL) * lam
    half = LAMP + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    spec = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0) ** SHININESS
    return diffuse.astype(np.float32), (SPECULAR * spec).astype(np.float32)


def _surface(scene: Scene, s: Setup, coef: Coefficients
             ) -> tuple[np.ndarray, np.ndarray, float]:
    """Focus-independent part, kept on the cached scene: the lit, coloured surface (3, H, W),
    its height map and the height the autofocus picks (90th percentile of the surface)."""
    key = ("stereo", s.req.stain, s.specimen.id)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    h, w = s.shape
    height = np.zeros((h, w), dtype=np.float32)
    od = np.zeros((3, h, w), dtype=np.float32)
    for layer in scene.layers:
        q = layer_quantities(layer, coef, ("od_r", "od_g", "od_b", "height"))
        od += q[0:3]
        height += q[3]
    diffuse, spec = shade(height, s.px_um)
    albedo = 0.85 * np.exp(-2.0 * LN10 * np.clip(od, 0.0, None))  # down and back up
    img = albedo * diffuse[None] + spec[None]
    z_ref = float(np.percentile(height, 90))
    out = (img.astype(np.float32), height, z_ref)
    scene.derived[key] = out
    return out


def slab_heights(lo: float, hi: float, z_focus: float, dof_um: float) -> np.ndarray:
    """Heights at which the surface is imaged: the focal plane and planes 1, 3 and 9 depths
    of field either side of it (where the blur changes), within the relief."""
    offs = np.array([-9.0, -3.0, -1.0, 0.0, 1.0, 3.0, 9.0]) * dof_um
    zs = np.clip(z_focus + offs, lo, hi)
    return np.unique(np.round(zs, 3))


def hat(height: np.ndarray, zs: np.ndarray, i: int) -> np.ndarray:
    """Piecewise-linear interpolation weight of slab i at each height (sums to 1)."""
    z = float(zs[i])  # Python floats keep the float32 maps float32
    w = np.ones(height.shape, dtype=np.float32)
    if i > 0:
        z0 = float(zs[i - 1])
        w = np.where(height < z, np.clip((height - z0) * (1.0 / (z - z0)), 0.0, 1.0), w)
    if i < len(zs) - 1:
        z1 = float(zs[i + 1])
        w = np.where(height > z, np.clip((z1 - height) * (1.0 / (z1 - z)), 0.0, 1.0), w)
    return w.astype(np.float32, copy=False)


def stereo(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Reflected-light image (relative to a white reflector), float32 (3, H, W)."""
    img, height, z_ref = _surface(scene, s, coef)
    h, w = s.shape
    z_f = z_ref + s.focus_um
    dof = RGB_NM[1] / 1000.0 / max(s.na, 1e-3) ** 2
    zs = slab_heights(float(height.min()), float(height.max()), z_f, dof)
    F = rfft2(img)
    out = np.zeros_like(img)
    G = np.empty_like(F)
    for i, z in enumerate(zs):
        o = otf(h, w, s.px_um, s.na, RGB_NM[1], 1.0, round(float(z) - z_f, 2), s.extra_w20_um)
        np.multiply(F, o[None], out=G)
        plane = sfft.irfft2(G, s=(h, w), axes=(-2, -1), workers=1)
        out += plane * (hat(height, zs, i)[None] if len(zs) > 1 else 1.0)
    return Signal(np.clip(out, 0.0, None).astype(np.float32), ("R", "G", "B"), RGB,
                  "transmitted", 550.0)

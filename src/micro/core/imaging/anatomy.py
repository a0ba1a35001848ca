"""Procedural 3-D anatomy: implicit (mesh-free) organs with smooth irregular boundaries.

Coordinates in mm, patient frame: x towards the patient's left (image right in radiological
convention), y anterior, z superior. An anatomy is a label function: every point gets exactly
one tissue, organs carved from nested implicit shapes (ellipsoids, tubes, depth below a
surface) whose boundaries are displaced by smooth random fields. A field is a sum of random
plane waves (seeded per phantom), evaluated as products of 1-D complex exponentials, so a slice
or a whole volume costs one multiply per wave per point.

The cortex is folded by the zero set of a random field: the set {g = 0} of a smooth field is a
labyrinth of sheets, which is what sulci look like; grey matter is the band within ~3 mm of the
brain surface or of a sulcus, white matter lies beneath.

Slices are rasterised at SECTION_PX over the phantom's field of view and cached per (phantom,
z); the frontal projection (radiography) integrates a coarser volume along y once per phantom.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import erf

from micro.core.memory import memoized

Coord = float | np.ndarray
"""A coordinate or radius (mm): one number, or one per point."""

SECTION_PX = 512
"""Raster of one axial section over the phantom's field of view (label per pixel)."""
PROJECTION_PX = 128
"""Frontal-projection raster (x × z) for radiography; path sampled every PROJECTION_STEP_MM."""
PROJECTION_STEP_MM = 1.5
"""Default step (mm) along the frontal projection's rays (an anatomy may set its own)."""


class Waves:
    """A smooth random field: Σ_k cos(2π f_k·p + φ_k), scaled to unit variance, with
    wavelengths around `wavelength_mm` (isotropic directions)."""

    def __init__(self, rng: np.random.Generator, wavelength_mm: float, k: int = 10,
                 anisotropy: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        d = rng.standard_normal((k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        f = (1.0 / wavelength_mm) * rng.uniform(0.75, 1.3, size=(k, 1))
        self.k = 2 * np.pi * f * d * np.asarray(anisotropy)[None, :]
        self.phase = rng.uniform(0, 2 * np.pi, size=k)
        self.scale = np.sqrt(2.0 / k)

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        out = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        for (kx, ky, kz), ph in zip(self.k, self.phase, strict=True):
            # cos(a + b + c) from 1-D factors: only the final product is full size
            ex = np.exp(1j * (kx * x + ph)).astype(np.complex64)
            eyz = (np.exp(1j * ky * y) * np.exp(1j * kz * z)).astype(np.complex64)
            out += (ex * eyz).real
        out *= self.scale
        return out

    def at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray,
           where: tuple[np.ndarray, ...]) -> np.ndarray:
        """The field at the points `where` (indices into the broadcast shape of x, y, z):
        the same numbers as __call__ there, the 1-D factors formed at their own size and
        only their products at the points."""
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
        out = np.zeros(where[0].shape, dtype=np.float32)
        for (kx, ky, kz), ph in zip(self.k, self.phase, strict=True):
            ex = np.exp(1j * (kx * x + ph)).astype(np.complex64)
            eyz = (np.exp(1j * ky * y) * np.exp(1j * kz * z)).astype(np.complex64)
            out += (np.broadcast_to(ex, shape)[where] * np.broadcast_to(eyz, shape)[where]).real
        out *= self.scale
        return out


def _take(where: tuple[np.ndarray, ...], keep: np.ndarray) -> tuple[np.ndarray, ...]:
    """The points of `where` that `keep` selects."""
    return tuple(i[keep] for i in where)


def ellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: tuple[Coord, Coord, Coord],
              r: tuple[Coord, Coord, Coord], yaw_deg: float = 0.0) -> np.ndarray:
    """Normalised radius ρ of an ellipsoid (ρ < 1 inside), yawed about z."""
    t = np.deg2rad(yaw_deg)
    dx, dy = x - c[0], y - c[1]
    if yaw_deg == 0:  # the same numbers, without forming the rotation at full size
        u, v = dx.astype(np.float64), dy.astype(np.float64)
    else:
        u = dx * np.cos(t) + dy * np.sin(t)
        v = -dx * np.sin(t) + dy * np.cos(t)
    u = u / r[0]
    u *= u
    v = v / r[1]
    v *= v
    out = u + v
    w = ((z - c[2]) / r[2]) ** 2
    out = np.add(out, w, out=out if np.ndim(w) <= out.ndim and np.broadcast_shapes(
        out.shape, np.shape(w)) == out.shape else None)
    return np.sqrt(out, out=out)


@dataclass(frozen=True)
class Anatomy:
    """A 3-D phantom: tissues (ids in the phantom's table order) and a label function."""

    name: str
    tissues: tuple[str, ...]
    fov_mm: float
    z_range: tuple[float, float]
    labels: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    ap_extent_mm: float  # half-extent along y of the body, for the frontal projection
    specks: tuple[tuple[str, float, float, float], ...] = ()
    """Objects too small for the rasters (tissue, x, z, radius mm): spheres whose exact path
    lengths are added to the frontal projection at the output resolution."""
    projection_px: int = PROJECTION_PX
    outline: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    """Exact total path (mm) through the body along y at (x, z), if known."""
    seed: int = 0
    """The seed it was generated from (set by `anatomy`)."""
    projection_step_mm: float = PROJECTION_STEP_MM
    """Sampling step along the frontal projection's rays."""
    projection_dither: int = 1
    """Period (pixels) of the ordered dither of the rays' sampling phase (1: none). A layer
    crossed by a ray is counted in ⌊t/step⌋ or ⌈t/step⌉ samples depending on where the
    sampling planes fall, which prints a smooth shell (the skull) as contour rings; staggering
    the sampling phase over a p×p Bayer pattern spreads that error into a fine texture that
    averages out over a few pixels, at no extra cost."""


# --------------------------------------------------------------------------- the head

def _head(tissues: tuple[str, ...], seed: int) -> Anatomy:
    ix = {t: i for i, t in enumerate(tissues)}
    rng = np.random.default_rng(seed)
    shape_noise = Waves(rng, 70.0, 8)
    fine_noise = Waves(rng, 18.0, 10)
    fold = Waves(rng, 26.0, 14)
    depth_noise = Waves(rng, 40.0, 8)
    diploe_noise = Waves(rng, 50.0, 6)
    lesion_noise = Waves(rng, 9.0, 8)
    mastoid_noise = Waves(rng, 5.0, 10)
    zc = -12.0  # centre of the cranial ellipsoid (the slice z = 0 is at the ventricles)

    def labels(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
        # outer surface: an egg (the cranium), broader behind, gently irregular; below it
        # the face and the jaw (an ellipsoid forward and down) and the neck
        a = 74.0 * (1 - 0.07 * np.clip(y / 95.0, -1, 1))
        rho = np.sqrt((x / a) ** 2 + ((y + 4.0) / 96.0) ** 2 + ((z - zc) / 92.0) ** 2)
        depth = 84.0 * (1 - rho) + 1.2 * shape_noise(x, y, z)  # mm below the scalp surface
        low = float(np.min(z)) < SKULL_BASE_TOP
        if low:
            face = 52.0 * (1 - ellipsoid(x, y, z, (0, 38, -80), (58, 56, 40)))
            jaw = 40.0 * (1 - ellipsoid(x, y, z, (0, 36, -108), (60, 52, 30)))  # lips, chin
            cheeks = 40.0 * (1 - ellipsoid(x, y, z, (0, -2, -92), (56, 40, 34)))  # over the rami
            face = np.maximum(np.maximum(face, jaw), cheeks)
            neck = 46.0 * (1 - np.sqrt((x / 52.0) ** 2 + ((y + 12.0) / 50.0) ** 2)) \
                + 0 * z
            neck = np.where(z < -75, neck, -1.0)
            skin = np.maximum(np.maximum(face, neck), depth)
        else:
            skin = depth
        out = np.full(shape, ix["air"], dtype=np.uint8)
        out[skin > 0] = ix["fat"]  # scalp / skin and subcutaneous fat
        t_scalp = 5.5
        diploe = 2.5 + 1.2 * diploe_noise(x, y, z)
        t_outer, t_inner = 1.8, 1.6
        d = depth - t_scalp
        out[d > 0] = ix["cortical-bone"]
        out[(d > t_outer) & (d < t_outer + diploe)] = ix["cancellous-bone"]
        skull = t_outer + diploe + t_inner
        db = d - skull  # depth below the inner table
        out[db > 0] = ix["csf"]
        brain_d = db - 1.8 - 0.6 * fine_noise(x, y, z)  # depth below the cortical surface
        inside = brain_d > 0
        # cortex folded by the zero set of a random field (sulci), plus the falx
        g = fold(x, y, z)
        kk = 2 * np.pi / 26.0
        dist_sulcus = np.abs(g) / kk  # ≈ distance (mm) to the nearest sulcal sheet
        sulcal_depth = 16.0 + 5.0 * depth_noise(x, y, z)
        in_sulcus_zone = brain_d < sulcal_depth
        fissure = np.abs(x + 1.5 * fine_noise(y, z, x)) < 1.0
        sulcus = inside & ((in_sulcus_zone & (dist_sulcus < 0.7)) | (fissure & (brain_d < 45)))
        grey = inside & ((brain_d < 2.8)
                         | (brain_d < sulcal_depth + 2.5) & (dist_sulcus < 3.4)
                         | (np.abs(x) < 4.2) & (brain_d < 48))
        out[inside] = ix["white-matter"]
        out[grey] = ix["gray-matter"]
        out[sulcus] = ix["csf"]
        # deep grey nuclei (caudate heads, lentiform nuclei, thalami)
        for sx in (-1.0, 1.0):
            for c, r, yaw in (((17, 14, 4), (6.5, 11, 10), 10), ((24, 1, -3), (5.5, 14, 9), 5),
                              ((10, -10, -2), (9, 13, 9), 0)):
                m = inside & (ellipsoid(x, y, z, (sx * c[0], c[1], c[2]), r, sx * yaw) < 1)
                out[m] = ix["gray-matter"]
        # lateral ventricles (frontal horns, bodies, trigones) and the third ventricle
        vent = np.zeros(shape, dtype=bool)
        for sx in (-1.0, 1.0):
            for c, r, yaw in (((9, 17, 6), (5.0, 13, 9), -12), ((11, -6, 12), (5.0, 22, 7), -6),
                              ((17, -28, 4), (6.0, 11, 8), -25)):
                vent |= ellipsoid(x, y, z, (sx * c[0], c[1], c[2]), r, sx * yaw) < 1
        vent |= ellipsoid(x, y, z, (0, -4, -6), (2.2, 12, 9)) < 1
        out[inside & vent] = ix["csf"]
        # tumour with oedema: left frontal white matter, lobulated
        les = ellipsoid(x, y, z, (28, 36, 6), (10, 11, 10)) + 0.12 * lesion_noise(x, y, z)
        out[inside & (les < 1)] = ix["lesion"]
        if low:
            _skull_base_and_face(out, ix, x, y, z, skin, depth, mastoid_noise)
        if float(np.min(z)) < FRONTAL_SINUS_TOP:
            _frontal_sinus(out, ix, x, y, z, skin)
        return out

    return Anatomy("head", tissues, 240.0, (-60.0, 70.0), labels, 100.0, (), 256,
                   projection_step_mm=0.75, projection_dither=4)


SKULL_BASE_TOP = -16.0
"""Above this height (mm) the head is cranial vault and brain only (but for the frontal
sinus, below FRONTAL_SINUS_TOP)."""
FRONTAL_SINUS_TOP = -5.0
"""Top (mm) of the frontal sinus' bony envelope."""


def _skull_base(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (mm) of the floor of the cranial cavity: the anterior fossa over the orbits,
    the middle fossa lower, the posterior fossa lowest, with a dip at the sella."""
    step = np.clip((28.0 - y) / 46.0, 0, 1)
    # the middle and posterior fossae are bowls, deepest near the midline and rising to the
    # sides and the back (a flat floor would print one hard horizontal line on a PA film)
    bowl = np.clip(0.004 * x ** 2 + 0.004 * np.clip(-30.0 - y, 0, None) ** 2, 0, 14.0)
    base = -30.0 - (36.0 - bowl) * step ** 1.3
    # in front, the orbital roofs bulge up either side of the lower cribriform plate and
    # rise towards the supraorbital margins
    front = 1.0 - step
    base = base + front * (5.0 * np.exp(-((np.abs(x) - 33.0) / 15.0) ** 2)
                           - 6.0 * np.exp(-(x / 8.0) ** 2)
                           + 0.12 * np.clip(y - 28.0, 0, None))
    return base - 6.0 * np.exp(-((x / 9.0) ** 2 + ((y - 8.0) / 7.0) ** 2))


def _frontal_sinus(out: np.ndarray, ix: dict[str, int], x: np.ndarray, y: np.ndarray,
                   z: np.ndarray, skin: np.ndarray) -> None:
    """The frontal sinus: air in scalloped lobes between the tables of the frontal bone above
    the nasal bridge, walled by bone, a thin septum between left and right."""
    fs = np.full(np.broadcast_shapes(x.shape, y.shape, z.shape), 9.0, dtype=np.float32)
    for cx_, cz_, rx, rz in ((5.5, -22.0, 7.0, 14.0), (14.0, -26.0, 7.5, 9.5),
                             (21.0, -30.0, 5.5, 5.5)):
        for sx in (-1.0, 1.0):
            fs = np.minimum(fs, ellipsoid(x, y, z, (sx * cx_, 76, cz_), (rx, 8.5, rz)))
    out[(fs < 1.2) & (skin > 5.5)] = ix["cortical-bone"]
    out[(fs < 1) & (np.abs(x) > 0.8) & (skin > 5.5)] = ix["air"]


def _skull_base_and_face(out: np.ndarray, ix: dict[str, int], x: np.ndarray, y: np.ndarray,
                         z: np.ndarray, skin: np.ndarray, cranial_depth: np.ndarray,
                         mastoid_noise: Waves) -> None:
    """Below the floor of the cranial cavity: the skull base (a bony plate with the petrous
    ridges, the sella turcica on the sphenoid and its sinus), the orbits with the globes,
    the maxillary and nasal air spaces, the hard palate, the upper and lower teeth,
    the mandible (body and rami), the mastoid air cells and the upper cervical spine, all in
    soft tissue (muscle) under the skin."""
    bone, marrow, air = ix["cortical-bone"], ix["cancellous-bone"], ix["air"]
    base = _skull_base(x, y)
    # the vault's walls go on down the sides and the back to the level of the ears; inside
    # and in front of them (the face) is soft tissue
    # (lower behind, round the posterior fossa, than at the sides, where the temporal
    # squama ends above the mandibular rami)
    wall_foot = -78.0 + 16.0 * np.clip((y + 20.0) / 20.0, 0, 1)
    wall = ((out == bone) | (out == marrow)) & (y < 60.0 - 0.3 * np.abs(x)) & (z > wall_foot)
    below = (z < base) & (skin > 5.0) & ~wall
    out[below] = ix["muscle"]
    # the vault's tables continue down to the base; under it the shell ends
    plate = (z < base) & (z > base - 1.8) & (cranial_depth > 5.5)
    out[plate] = bone
    # petrous ridges: dense pyramids running forward and inward from the ears
    for sx in (-1.0, 1.0):
        pet = ellipsoid(x, y, z, (sx * 34, -6, -54), (30, 8, 9), sx * -40)
        out[pet < 1] = bone
        mast = ellipsoid(x, y, z, (sx * 52, -24, -62), (11, 12, 13))
        out[(mast < 1) & (skin > 3.0)] = marrow
        out[(mast < 0.9) & (mastoid_noise(x, y, z) > 0.3) & (skin > 3.0)] = air
    # sphenoid body with its sinus (thin walls round air); the sella turcica and the
    # pituitary on it
    sph = ellipsoid(x, y, z, (0, 14, -56), (16, 16, 12))
    out[sph < 1] = bone
    out[sph < 0.88] = air
    out[ellipsoid(x, y, z, (0, 8, -40), (6.5, 5.5, 4.5)) < 1] = ix["gray-matter"]
    dorsum = (np.abs(y - 0.5) < 2.0) & (np.abs(x) < 7) & (z > -46) & (z < -34)
    out[dorsum] = bone
    # maxillary sinuses: air in thin bony walls under the orbits, either side of the nose,
    # their floors dipping towards the tooth roots
    for sx in (-1.0, 1.0):
        ms = ellipsoid(x, y, z, (sx * 30, 46, -72), (16, 19, 15))
        ms = ms + 0.25 * np.clip((-72.0 - z) / 15.0, 0, 1) * np.clip(
            (np.abs(x) - 30.0) / 16.0, 0, 1)  # the floor narrows laterally: a triangle
        out[(ms < 1.07) & (ms >= 1) & (skin > 3.0)] = bone
        out[ms < 1] = air
    # orbits: four-sided pyramids (rounded squares in section) from the orbital margin
    # back to the apex at the optic canal, walled by thin bone, the margin a thick bony
    # ring; inside, fat round the globe
    for sx in (-1.0, 1.0):
        ax_ = np.abs(x)
        y_rim = ORBIT_RIM_Y - 0.3 * np.clip(ax_ - 15.0, 0, 40)  # the lateral rim recessed
        t = np.clip((y_rim - y) / ORBIT_DEPTH, 0, 1)  # 0 at the margin … 1 at the apex
        cx = sx * (ORBIT_CENTRE[0] - 19.0 * t)
        cz = ORBIT_CENTRE[1] - 4.0 * t
        half_w = ORBIT_HALF[0] * (1 - t) ** 0.7 + 2.0
        half_h = ORBIT_HALF[1] * (1 - t) ** 0.7 + 2.0
        q = ((np.abs(x - cx) / half_w) ** 4 + (np.abs(z - cz) / half_h) ** 4) ** 0.25
        along = (y < y_rim + 1.0) & (y > y_rim - ORBIT_DEPTH)
        wall = along & (q >= 1) & (q < 1 + 1.6 / half_w)
        margin = (y < y_rim + 2.0) & (y > y_rim - 14.0) & (q >= 1) & (q < 1.3) & (skin > 2.0)
        out[wall | margin] = bone
        out[along & (q < 1)] = ix["fat"]
        globe = ellipsoid(x, y, z, (sx * ORBIT_CENTRE[0], ORBIT_RIM_Y - 12.0, ORBIT_CENTRE[1]),
                          (12, 12, 12))
        out[(globe < 1) & (skin > 1.0)] = ix["csf"]
    # ethmoid air cells between the orbits (thin bony septa), zygomatic bones outside them
    eth = ellipsoid(x, y, z, (0, 48, -46), (10, 22, 13)) < 1
    out[eth] = air
    out[eth & (np.abs(mastoid_noise(x, y, z)) < 0.25)] = bone
    for sx in (-1.0, 1.0):
        out[ellipsoid(x, y, z, (sx * 52, 46, -62), (6, 13, 8), sx * 20) < 1] = bone
    # nasal cavity: pear-shaped (the piriform aperture widest low down), floored by the
    # palate, with the bony septum in the midline and the inferior and middle turbinates
    # (scrolls of bone) hanging from each lateral wall
    widen = np.clip((-52.0 - z) / 28.0, 0, 1)
    nose = np.sqrt((x / (6.0 + 7.0 * widen)) ** 2 + ((y - 52.0) / 28.0) ** 2
                   + ((z + 67.0) / 20.0) ** 2)
    out[(nose < 1.12) & (nose >= 1)] = bone
    out[(nose < 1) & (np.abs(x) > 1.1)] = air
    out[(nose < 1) & (np.abs(x) <= 1.1) & (y < 66.0)] = bone  # vomer, ethmoid plate
    for sx in (-1.0, 1.0):
        for cz_, wx, h_t, off in ((-79.0, 3.2, 4.5, 9.5), (-66.0, 2.6, 3.6, 7.5)):
            turb = ellipsoid(x, y, z, (sx * off, 50, cz_), (wx, 22, h_t))
            out[(turb < 1) & (nose < 1)] = marrow
            out[(turb < 1) & (turb > 0.7) & (nose < 1)] = bone
    # the pharynx behind the nose and mouth, and the oral cavity between the arches
    out[ellipsoid(x, y, z, (0, 22, -92), (10, 8, 30)) < 1] = air
    out[ellipsoid(x, y, z, (0, 45, -93), (22, 20, 3.5)) < 1] = air
    # hard palate behind the upper teeth
    arch_up = UPPER_ARCH[0] - ARCH_CURVE * x ** 2
    out[(np.abs(z + 86) < 2.5) & (y < arch_up - 2.0) & (y > 18) & (np.abs(x) < 34)] = bone
    # mandible: a horseshoe body (cortex round marrow) under the lower teeth, rising at
    # each angle into a ramus: a plate seen edge-on from the front, up to the coronoid
    # process in front and the condyle (the temporomandibular joint) behind
    arch = LOWER_ARCH[0] - ARCH_CURVE * x ** 2
    d_arch = np.abs(y - arch) * np.cos(np.arctan(2 * ARCH_CURVE * np.abs(x)))
    low_border = -136 + 0.22 * np.abs(x)
    body = (d_arch < 6.5) & (z < -106.5) & (z > low_border) & (np.abs(x) < 50)
    out[body] = bone
    out[body & (d_arch < 4.5) & (z > low_border + 3.0)] = marrow
    for sx in (-1.0, 1.0):
        hz = np.clip((z - MANDIBLE_ANGLE_Z) / (TMJ[2] - MANDIBLE_ANGLE_Z), 0, 1)
        xr = sx * (47.0 + 4.0 * hz)  # the rami diverge a little upwards
        ym = -4.0 - 4.0 * hz  # the ramus leans back
        in_plane = np.abs(x - xr) < 3.0
        proper = (z > MANDIBLE_ANGLE_Z) & (z < -84.0) & (y > ym - 10.0) & (y < ym + 16.0)
        # above it the sigmoid notch parts the coronoid process (in front, tapering to a
        # point) from the condylar neck (behind, up to the joint)
        coronoid = (z >= -84.0) & (y < ym + 16.0) & (y > ym + 6.0 + 0.6 * (z + 84.0))
        neck = (z >= -84.0) & (z < TMJ[2]) & (y > ym - 10.0) & (y < ym - 2.0)
        ramus = in_plane & (proper | coronoid | neck) & (skin > 1.0)
        out[ramus] = bone
        out[ramus & proper & (np.abs(x - xr) < 1.4) & (z > MANDIBLE_ANGLE_Z + 2.5)
            & (y > ym - 7.5) & (y < ym + 13.5)] = marrow
        condyle = ellipsoid(x, y, z, (sx * TMJ[0], TMJ[1], TMJ[2]), (9.0, 4.5, 4.5))
        out[condyle < 1] = bone
    _teeth(out, ix, x, y, z)
    # upper cervical spine: the atlas ring and the axis with its dens, in the midline; below
    # the axis's long body, vertebral bodies 14 mm tall (cortex and end-plates round marrow)
    # with 4 mm discs between them
    vb = np.sqrt((x / 9.0) ** 2 + ((y + 12.0) / 8.0) ** 2) + 0 * z
    cord = (z < -70) & (z > -140)
    h = (-94.0 - z) % 18.0  # mm down from a disc's lower edge (below C2)
    disc = (z < -94.0) & (h > 14.0)
    plate = (z < -94.0) & ((h < 1.2) | (h > 12.8))
    out[cord & (vb < 1)] = marrow
    out[cord & (vb < 1) & plate] = bone
    out[cord & (vb >= 0.8) & (vb < 1)] = bone
    out[cord & (vb < 1) & disc] = ix["muscle"]  # the discs: soft tissue
    out[(ellipsoid(x, y, z, (0, -12, -72), (5, 5, 8)) < 1)] = bone  # the dens
    canal = np.sqrt((x / 9.0) ** 2 + ((y + 32.0) / 8.0) ** 2) + 0 * z
    ring = (canal >= 1) & (canal < 1.5) & (np.abs(z + 80) < 4)
    out[ring] = bone  # the atlas


ORBIT_RIM_Y = 70.0
"""Plane (y, mm) of the medial orbital margin; the lateral margin lies further back."""
ORBIT_CENTRE = (33.0, -41.0)
"""Centre (|x|, z) of each orbital opening (mm)."""
ORBIT_HALF = (19.0, 17.0)
"""Half width and height of the orbital opening (adult ≈ 40 × 35 mm)."""
ORBIT_DEPTH = 44.0
"""From the margin to the apex at the optic canal (mm)."""
TMJ = (51.0, -8.0, -60.0)
"""Centre of each mandibular condyle (|x|, y, z) in its fossa in front of the ear."""
MANDIBLE_ANGLE_Z = -121.0
"""Height of the angles of the mandible, where the body turns up into the rami."""

ARCH_CURVE = 0.03
"""Both dental arches are parabolas y = y0 − ARCH_CURVE·x² (mm) in the axial plane."""
UPPER_ARCH = (74.0, -97.0)
LOWER_ARCH = (72.0, -99.0)
"""(y0 of the arch, height of its occlusal surface): the upper incisors 2 mm in front of the
lower (overjet), the jaws 2 mm apart."""
TEETH = {  # per quadrant from the midline: (mesiodistal width, crown height, root length,
    # buccolingual half-thickness (mm), roots seen in a frontal view)
    "upper": ((8.6, 10.5, 13.0, 3.5, 1), (6.6, 9.0, 13.0, 3.1, 1), (7.6, 10.0, 17.0, 4.0, 1),
              (7.0, 8.2, 14.0, 4.5, 1), (6.6, 7.8, 14.0, 4.5, 1), (10.2, 7.2, 13.0, 5.4, 2),
              (9.2, 7.0, 12.5, 5.2, 2)),
    "lower": ((5.2, 9.0, 12.5, 3.0, 1), (5.8, 9.5, 14.0, 3.1, 1), (7.0, 11.0, 16.0, 3.8, 1),
              (7.0, 8.5, 14.0, 3.9, 1), (7.2, 8.0, 14.5, 4.1, 1), (11.2, 7.5, 14.0, 5.0, 2),
              (10.5, 7.2, 13.0, 4.9, 2)),
}
"""The permanent teeth (central and lateral incisor, canine, two premolars, two molars) with
typical adult crown and root dimensions (Wheeler's Dental Anatomy, ch. 1 tables)."""
ENAMEL_MM = (1.1, 2.0)
"""Enamel thickness on the sides of a crown and over its incisal edge or cusps."""


def _arc_length(x: np.ndarray) -> np.ndarray:
    """Arc length (mm) along y = y0 − c·x² from the midline to x (signed like x)."""
    q = 2 * ARCH_CURVE * np.abs(x)
    return np.sign(x) * (q * np.sqrt(1 + q * q) + np.arcsinh(q)) / (4 * ARCH_CURVE)


def _teeth(out: np.ndarray, ix: dict[str, int], x: np.ndarray, y: np.ndarray,
           z: np.ndarray) -> None:
    """Both dental arches, tooth by tooth: each crown a rounded block (widest at its contact
    point, narrowing to the neck, so dark embrasures part neighbours) of dentine capped by
    enamel, thickest over the cusps; below the neck the root (one, or two for a molar seen
    from the front) tapers to its apex inside the alveolar bone; a pulp chamber and canal of
    soft tissue run down the middle. Enamel is the catalogue's hydroxyapatite-rich
    calcification, dentine cortical bone, pulp soft tissue (muscle); the maxilla's alveolar
    process (cortex round marrow) holds the upper roots, the mandible the lower ones."""
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    box = ((np.abs(x) < 48) & (y > 5) & (y < 86)) & (np.abs(z + 98) < 36)
    if not box.any():
        return
    sel = np.broadcast_to(box, shape)
    xs, ys, zs = (np.broadcast_to(v, shape)[sel] for v in (x, y, z))
    lab = out[sel]
    cos_t = np.cos(np.arctan(2 * ARCH_CURVE * np.abs(xs)))
    along = np.abs(_arc_length(xs))
    bone, marrow = ix["cortical-bone"], ix["cancellous-bone"]
    for jaw, (y0, z_occ), up in (("upper", UPPER_ARCH, 1.0), ("lower", LOWER_ARCH, -1.0)):
        t_ = np.array(TEETH[jaw], dtype=np.float32)
        width, crown_h, root_l, half_bl, roots = t_.T
        edge = np.cumsum(width)
        k = np.minimum(np.searchsorted(edge, along), len(edge) - 1)
        u = along - (edge[k] - width[k] / 2)  # mesiodistal offset from the tooth's axis
        v = (ys - (y0 - ARCH_CURVE * xs ** 2)) * cos_t  # buccolingual, + outwards
        h = up * (zs - z_occ)  # height into the tooth from its occlusal surface
        hw, hc, lr, bt = width[k] / 2 - 0.3, crown_h[k], root_l[k], half_bl[k]
        in_arch = along < edge[-1]
        # alveolar process of the maxilla (the mandible's body is drawn by the caller)
        if up > 0:
            alv = in_arch & (np.abs(v) < bt + 3.5) & (h > hc - 1.5) & (h < hc + lr + 9.0) \
                & ((lab != ix["air"]) | (h < hc + 3.0))
            lab[alv] = bone
            lab[alv & (np.abs(v) < bt + 2.0)] = marrow
        # the crown
        tc = np.clip(h / hc, 0, 1)
        a = hw * (1 - 0.3 * tc ** 2) * (0.55 + 0.45 * np.sqrt(np.clip(tc / 0.18, 0, 1)))
        b = bt * (1 - 0.2 * tc ** 2) * np.where(k < 2, 0.4 + 0.6 * np.sqrt(
            np.clip(tc / 0.6, 0, 1)), 1.0)  # incisors: a thin incisal edge
        crown = in_arch & (h >= 0) & (h <= hc) \
            & ((np.abs(u) / a) ** 3 + (np.abs(v) / b) ** 3 < 1)
        te = ENAMEL_MM[0] * (1 - 0.6 * tc)
        core = ((np.abs(u) / np.maximum(a - te, 0.1)) ** 3
                + (np.abs(v) / np.maximum(b - te, 0.1)) ** 3 < 1) & (h > ENAMEL_MM[1])
        # the root(s), tapering to the apex (a molar's two diverging a little)
        r = np.clip((h - hc) / lr, 0, 1)
        two = roots[k] > 1
        u0 = np.where(two, np.sign(u) * 0.42 * hw * (1 + 0.3 * r), 0.0)
        ar = np.where(two, 0.32, 0.5) * hw * (1 - r) ** 0.8 + 0.3
        br = 0.85 * bt * (1 - r) ** 0.6 + 0.3
        du = u - u0
        root = in_arch & (h > hc) & (h < hc + lr) & ((du / ar) ** 2 + (v / br) ** 2 < 1)
        pulp = (crown & (np.abs(u) < 0.28 * hw) & (np.abs(v) < 0.35 * bt) & (tc > 0.45)) \
            | (root & ((du / (0.22 * ar + 0.3)) ** 2 + (v / (0.25 * br + 0.3)) ** 2 < 1)
               & (r < 0.93))
        lab[crown] = ix["calcification"]
        lab[(crown & core) | root] = bone
        lab[pulp] = ix["muscle"]
    out[sel] = lab


GENERATORS: dict[str, Callable[[tuple[str, ...], int], Anatomy]] = {"head": _head}


@memoized("imaging.anatomy.anatomy")
def anatomy(kind: str, tissues: tuple[str, ...], seed: int) -> Anatomy:
    return dataclasses.replace(GENERATORS[kind](tissues, seed), seed=seed)


def _one_hot(lab: np.ndarray, n_tissues: int) -> np.ndarray:
    out = np.zeros((n_tissues, *lab.shape), dtype=np.float32)
    np.put_along_axis(out, lab[None].astype(np.intp), 1.0, axis=0)
    return out


@memoized("imaging.anatomy.section_labels")
def section_labels(an: Anatomy, z_mm: float) -> np.ndarray:
    """Labels (SECTION_PX², row 0 = anterior) of the axial section at z over the FOV."""
    n = SECTION_PX
    c = (np.arange(n) + 0.5 - n / 2) * (an.fov_mm / n)
    lab = an.labels(c[None, :], -c[:, None], np.asarray(z_mm, dtype=np.float32))
    lab.setflags(write=False)
    return lab


def section_fractions(an: Anatomy, z_mm: float, n: int, fov_mm: float) -> np.ndarray:
    """Tissue fractions (tissues, n, n) of the section on an n-pixel grid over fov_mm
    (centred), area-averaged from the section raster; outside the phantom's FOV, background."""
    lab = section_labels(an, z_mm)
    r = lab.shape[0]
    if r % n == 0 and n < r and fov_mm == an.fov_mm:
        # whole raster pixels per output pixel: the fractions are label counts per block
        # (what the box resampling below computes, exactly: k/f² in float32)
        f = r // n
        block = (np.arange(r) // f)
        key = ((block[:, None] * n + block[None, :]) * len(an.tissues) + lab).ravel()
        counts = np.bincount(key, minlength=n * n * len(an.tissues))
        return np.ascontiguousarray(
            counts.reshape(n, n, len(an.tissues)).transpose(2, 0, 1)).astype(np.float32) \
            * np.float32(1.0 / (f * f))
    frac = _one_hot(lab, len(an.tissues))
    if n == r and abs(fov_mm - an.fov_mm) < 1e-9:
        return frac
    bg = int(np.argmax(frac[:, 0, :].sum(axis=1)))  # the tissue along the raster's edge
    return resample(frac, an.fov_mm, n, fov_mm, fill=bg)


def resample(frac: np.ndarray, src_fov: float, n: int, fov_mm: float,
             ny: int | None = None, fov_y: float | None = None,
             fill: int | None = None) -> np.ndarray:
    """Area-weighted resampling of a (T, R, R) raster over src_fov onto (T, ny, n) over
    fov_mm × fov_y (centred): exact box overlap, a separable sparse linear operator. Target
    area outside the source raster is given to tissue `fill` (None: left empty)."""
    ny = n if ny is None else ny
    fov_y = fov_mm if fov_y is None else fov_y
    r = frac.shape[-1]
    wx = _overlap(r, src_fov, n, fov_mm)
    wy = _overlap(r, src_fov, ny, fov_y)
    out = np.empty((frac.shape[0], ny, n), dtype=np.float32)
    for t in range(frac.shape[0]):
        out[t] = (wx @ (wy @ frac[t]).T).T
    if fill is not None:
        cover = (np.asarray(wy.sum(axis=1)).ravel()[:, None]
                 * np.asarray(wx.sum(axis=1)).ravel()[None, :])
        if np.any(cover < 0.999):
            out[fill] += (1.0 - cover).astype(np.float32)
    return out


@memoized("imaging.anatomy.overlap")
def _overlap(r: int, src_fov: float, n: int, fov_mm: float):
    """(n, r) sparse fraction of each target pixel covered by each source pixel."""
    from scipy import sparse

    s_edges = (np.arange(r + 1) - r / 2) * (src_fov / r)
    t_edges = (np.arange(n + 1) - n / 2) * (fov_mm / n)
    rows, cols, vals = [], [], []
    j = np.searchsorted(s_edges, t_edges[:-1], side="right") - 1
    span = int(np.ceil((fov_mm / n) / (src_fov / r))) + 2
    for d in range(span):
        jj = j + d
        ok = (jj >= 0) & (jj < r)
        lo = np.maximum(t_edges[:-1], s_edges[np.clip(jj, 0, r)])
        hi = np.minimum(t_edges[1:], s_edges[np.clip(jj + 1, 0, r)])
        w = np.clip(hi - lo, 0, None) / (fov_mm / n)
        keep = ok & (w > 0)
        rows.append(np.nonzero(keep)[0])
        cols.append(jj[keep])
        vals.append(w[keep])
    return sparse.csr_matrix((np.concatenate(vals).astype(np.float32),
                              (np.concatenate(rows), np.concatenate(cols))), shape=(n, r))


@memoized("imaging.anatomy.frontal_paths")
def frontal_paths(an: Anatomy) -> np.ndarray:
    """Per-tissue path length (cm) along y (anterior–posterior) through the volume, float32
    (tissues, n, n) (n = the anatomy's projection_px) over x (columns, patient's right on the
    left) and z (rows, superior at the top), both spanning the field of view.

    Integrating the volume takes seconds, so the catalog ships each 3-D phantom's projection
    (data/phantoms/projections, written by `python -m micro.core.imaging.projections`); a
    stored one is used only if it was made from this very module source, seed and tissue list,
    otherwise the projection is computed here."""
    stored = stored_frontal_paths(an)
    return stored if stored is not None else compute_frontal_paths(an)


def generator_digest() -> str:
    """Digest of this module's source: any change to a generator or to the projection makes
    the stored projections stale ("" when the source cannot be read)."""
    try:
        src = inspect.getsource(sys.modules[__name__])
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def projection_file(an: Anatomy, data_dir: Path | None = None) -> Path:
    if data_dir is None:
        from micro.core.catalog import default_data_dir

        data_dir = default_data_dir()
    return Path(data_dir) / "phantoms" / "projections" / f"{an.name}-{an.seed}.npz"


def stored_frontal_paths(an: Anatomy, data_dir: Path | None = None) -> np.ndarray | None:
    """The shipped projection of this anatomy, if one exists and matches it exactly."""
    path = projection_file(an, data_dir)
    digest = generator_digest()
    if not digest or not path.is_file():
        return None
    with np.load(path) as z:
        meta = (str(z["digest"]), tuple(str(t) for t in z["tissues"]), int(z["px"]),
                float(z["step_mm"]))
        if meta != (digest, an.tissues, an.projection_px, an.projection_step_mm):
            return None
        out = z["paths"].astype(np.float32)
    out.setflags(write=False)
    return out


def write_frontal_paths(an: Anatomy, data_dir: Path | None = None) -> Path:
    """Compute the anatomy's projection and store it (compressed) for `frontal_paths`."""
    path = projection_file(an, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, paths=compute_frontal_paths(an), digest=generator_digest(),
                        tissues=np.array(an.tissues), px=an.projection_px,
                        step_mm=an.projection_step_mm)
    return path


def compute_frontal_paths(an: Anatomy) -> np.ndarray:
    """`frontal_paths` by sampling the label function along y (every projection_step_mm),
    the sampling phase of each ray set by an ordered (Bayer) dither of the anatomy's period."""
    n = an.projection_px
    c = (np.arange(n) + 0.5 - n / 2) * (an.fov_mm / n)
    step = an.projection_step_mm
    ys = np.arange(-an.ap_extent_mm, an.ap_extent_mm, step) + step / 2
    out = np.zeros((len(an.tissues), n, n), dtype=np.float32)
    zc = c[::-1]  # rows: superior first
    p = an.projection_dither
    phase = (_bayer(p) + 0.5) / (p * p) - 0.5  # in (−½, ½) of a step
    for a in range(p):
        for b in range(p):
            zz = zc[a::p][:, None, None]
            xx = c[b::p][None, :, None]
            ysh = ys + phase[a, b] * step
            for y0 in range(0, ys.size, 16):
                yy = ysh[y0:y0 + 16][None, None, :]
                lab = an.labels(xx, yy, zz)  # (z, x, y)
                counts = np.stack([(lab == t).sum(axis=2) for t in range(len(an.tissues))])
                out[:, a::p, b::p] += counts.astype(np.float32)
    out *= step / 10.0
    if an.outline is not None:
        # the body's total path is known exactly: rescale the sampled composition to it, so
        # a smooth surface does not print the sampling planes as contour terraces
        total = an.outline(c[None, :], c[::-1][:, None]) / 10.0  # (z, x), cm
        bg = an.tissues.index("air")
        body = out.sum(axis=0) - out[bg]
        scale = np.where(body > 0, total / np.maximum(body, 1e-6), 0.0)
        for t in range(len(an.tissues)):
            if t != bg:
                out[t] *= scale
        out[an.tissues.index("fat")] += np.where(body > 0, 0.0, total)
    out.setflags(write=False)
    return out


def _bayer(p: int) -> np.ndarray:
    """The p×p Bayer ordered-dither matrix (p a power of two): a permutation of 0…p²−1 in
    which every 2×2 block spreads its values as far apart as possible."""
    m = np.zeros((1, 1), dtype=np.int64)
    while m.shape[0] < p:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


# --------------------------------------------------------------------------- the abdomen

def _abdomen(tissues: tuple[str, ...], seed: int) -> Anatomy:
    ix = {t: i for i, t in enumerate(tissues)}
    rng = np.random.default_rng(seed)
    body_noise = Waves(rng, 90.0, 8)
    fat_noise = Waves(rng, 60.0, 8)
    organ_noise = Waves(rng, 45.0, 10)
    vessel_a = Waves(rng, 38.0, 10)
    vessel_b = Waves(rng, 38.0, 10)
    bowel_a = Waves(rng, 42.0, 12)
    bowel_b = Waves(rng, 30.0, 10)
    pyramid = Waves(rng, 14.0, 10)
    rng2 = np.random.default_rng(seed + 1)  # (the fields above keep their seed's draws)
    stool = Waves(rng2, 7.0, 12)
    gas_patch = Waves(rng2, 45.0, 10)
    ribs = _ribs(rng2)
    solid_organs = [ix[t] for t in ("liver", "blood", "spleen", "pancreas", "cyst")]

    def labels(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
        on = organ_noise(x, y, z)
        # body: a wide ellipse, flatter at the back, gently irregular
        yb = y + 5.0
        b = np.where(yb > 0, 112.0, 100.0)
        rho = np.sqrt((x / 160.0) ** 2 + (yb / b) ** 2 + 0 * z)
        depth = 120.0 * (1 - rho) + 3.0 * body_noise(x, y, z)
        out = np.full(shape, ix["air"], dtype=np.uint8)
        out[depth > 0] = ix["fat"]  # skin and subcutaneous fat
        fat_t = 16.0 + 7.0 * np.clip(yb / 100.0, 0, 1) + 4.0 * fat_noise(x, y, z)
        wall = depth > fat_t
        out[wall] = ix["muscle"]  # abdominal wall: rectus, obliques, transversus
        wall_t = np.where(yb > 40, 11.0, 8.0) + 1.5 * fat_noise(y, z, x)
        cavity = depth > fat_t + wall_t
        out[cavity] = ix["fat"]  # intra-abdominal fat
        # the back: erector spinae; the psoas muscles from T12 down, diverging and widening
        # towards the pelvis (their fat-bordered margins are the psoas shadows of a film)
        below_t12 = np.clip(30.0 - z, 0, 260)
        psoas_sleeve = np.zeros(shape, dtype=bool)
        for sx in (-1.0, 1.0):
            out[ellipsoid(x, y, z * 0, (sx * 38, -80, 0), (30, 24, 1)) < 1] = ix["muscle"]
            r_psoas = 6.0 + 0.085 * np.clip(below_t12, 0, 150)
            rho_psoas = ellipsoid(x, y, z * 0, (sx * (21.0 + 0.2 * below_t12), -50.0, 0),
                                  (r_psoas, r_psoas * 1.15, 1))
            out[(rho_psoas < 1) & (z < 30.0)] = ix["muscle"]
            psoas_sleeve |= (rho_psoas * r_psoas < r_psoas + 9.0) & (z < 30.0)
        # vertebral bodies 27 mm tall, waisted, with 8 mm discs between them (levels every
        # 35 mm): kidney-bean in section (the back flattened and dented by the canal), a
        # cortical rim and end-plates round cancellous bone; behind, the neural arch rings
        # the canal: pedicles (cortical rings round marrow, the "eyes" of a frontal film),
        # laminae, the spinous process (a teardrop on the film), and transverse processes
        level = ((z + 12.0) / 35.0) % 1.0  # 0…1 through one motion segment
        in_disc = level > VB_HEIGHT / 35.0
        waist = 1.0 + 0.08 * np.sin(np.pi * np.clip(level * 35.0 / VB_HEIGHT, 0, 1))
        vb = _vertebral_body(x, y) * waist
        out[vb < 1] = ix["cortical-bone"]
        h_vb = level * 35.0
        out[(vb < 0.92) & (h_vb > 1.2) & (h_vb < VB_HEIGHT - 1.2)] = ix["cancellous-bone"]
        out[(vb < 1) & in_disc] = ix["disc"]
        lz = (level - 0.38) * 35.0  # mm from the pedicles' centre height
        post = (y < -58.0) & (y > -88.0)
        for sx in (-1.0, 1.0):
            ped = ((x - sx * 13.0) / 5.0) ** 2 + (lz / 7.0) ** 2
            out[post & (y > -80.0) & (ped < 1)] = ix["cortical-bone"]
            out[post & (y > -80.0) & (y < -62.0) & (ped < 0.3)] = ix["cancellous-bone"]
        # transverse processes: tapering, tilted a little upwards, their length varying
        # from level to level
        along_tp = np.clip((np.abs(x) - 12.0) / 26.0, 0, 1)
        tip = 34.0 + 5.0 * np.sin(1.7 * np.floor((z + 12.0) / 35.0))
        tp = ((np.abs(lz - 4.0 * along_tp) < 3.5 - 2.0 * along_tp) & (np.abs(x) > 12.0)
              & (np.abs(x) < tip) & (np.abs(y + 70 + 0.25 * (np.abs(x) - 12.0)) < 4))
        out[tp] = ix["cortical-bone"]
        r_canal = np.sqrt(x ** 2 + (y - CANAL_Y) ** 2) + 0 * z
        out[(r_canal > CANAL_R - 0.5) & (r_canal < CANAL_R + 5.0) & (y < CANAL_Y + 3.0)
            & (np.abs(lz) < 10)] = ix["cortical-bone"]  # lamina
        v_sp = np.clip((level - 0.22) / 0.56, 0, 1)  # 0 at the process's tip … 1 at its top
        w_sp = 5.0 * np.sqrt(np.clip(np.sin(np.pi * v_sp), 0, None)) * (0.35 + 0.65 * v_sp) + 1e-3
        out[((x / w_sp) ** 2 + ((y + 97.0) / 10.0) ** 2 < 1)
            & (np.abs(level - 0.5) < 0.28)] = ix["cortical-bone"]  # spinous process
        out[r_canal < CANAL_R] = ix["csf"]  # canal
        # the spine is not the abdominal cavity: no organ is drawn over it
        cavity &= ~np.isin(out, [ix["cortical-bone"], ix["cancellous-bone"], ix["disc"],
                                 ix["csf"]])
        # ribs 7–12, each its own curve inside the wall (a cortex round marrow): from its head
        # beside the spine round the side and forward, falling all the way, steepest beside
        # the spine. On a frontal film each posterior rib slopes down and out from the spine,
        # turns down at the flank, and its anterior part slopes down and in; lower ribs fall
        # more steeply. 11 and 12 float: short, tapering to a point (12 the shorter); 7–10 end
        # at their costal cartilages (soft tissue, invisible on a film). Heights, slopes and
        # lengths differ a little per rib and side.
        radial = depth - fat_t - 0.5 * wall_t
        band = (np.abs(radial) < 3.8) & (np.abs(x) > 24.0)  # where a rib can lie
        xs, ybs, bs, zs = (np.broadcast_to(v, shape)[band] for v in (x, yb, b, z))
        rs = radial[band]
        ang = np.arctan2(ybs / bs, xs / 160.0)
        s_post = np.abs(np.angle(np.exp(1j * (ang + np.pi / 2)))) / np.pi  # 0 back … 1 front
        side = xs > 0
        lab = out[band]
        for z0, fall, s_end, floating in ribs:
            zc = np.where(side, z0[1], z0[0]) - _rib_fall(s_post, np.where(side, fall[1], fall[0]))
            end = np.where(side, s_end[1], s_end[0])
            u = np.clip(s_post / end, 0, 1)
            taper = np.sqrt(1 - u ** 2) if floating else 1.0 + 0.0 * u
            h = (5.0 + 2.0 * u) * taper + 0.3  # half-height (mm): broader towards the front
            tube = ((zs - zc) / h) ** 2 + (rs / (3.4 * taper + 0.3)) ** 2
            on_rib = s_post < end
            lab[on_rib & (tube < 1)] = ix["cortical-bone"]
            lab[on_rib & (tube < 0.45)] = ix["cancellous-bone"]
        out[band] = lab
        # the diaphragm: two domes (the right higher, over the liver); above them the lung
        # bases, either side of the mediastinum
        dome = (100.0 + 8.0 * (x < 0) - 0.0035 * ((np.abs(x) - 60.0) ** 2 + (y + 10.0) ** 2)
                + 2.0 * on)
        thorax = cavity & (z > dome)
        out[thorax & (np.abs(x) > 32.0 + 0.15 * np.clip(y + 40.0, 0, None))] = ix["lung"]
        cavity = cavity & ~thorax
        # organs (inside the cavity only)
        liver = (np.minimum(ellipsoid(x, y, z, (-62, 2, 30), (82, 84, 95), 10),
                            ellipsoid(x, y, z, (5, 48, 35), (52, 30, 45), -10))
                 + 0.05 * on) < 1
        liver &= cavity
        out[liver] = ix["liver"]
        pts = np.nonzero(liver)  # (the vessel fields matter in the liver only)
        ves = ((np.abs(vessel_a.at(x, y, z, pts)) < 0.16)
               & (np.abs(vessel_b.at(x, y, z, pts)) < 0.16))
        out[_take(pts, ves)] = ix["blood"]  # hepatic and portal vein branches
        out[liver & (ellipsoid(x, y, z, (-58, 30, 6), (12, 12, 12)) < 1)] = ix["cyst"]
        out[liver & (ellipsoid(x, y, z, (-30, 8, 2), (3.5, 3.5, 3.5)) < 1)] = \
            ix["calcification"]
        spleen = (ellipsoid(x, y, z, (82, -45, 25), (28, 55, 55), 40) + 0.06 * on) < 1
        out[spleen & cavity] = ix["spleen"]
        stomach = (ellipsoid(x, y, z, (48, 30, 30), (46, 34, 50), -35) + 0.05 * on) < 1
        stomach &= cavity & ~liver
        lumen = stomach & ((ellipsoid(x, y, z, (48, 30, 30), (41, 29, 45), -35)
                            + 0.05 * on) < 1)
        out[stomach] = ix["muscle"]  # gastric wall
        out[lumen] = ix["fluid"]
        out[lumen & (y > 42)] = ix["gas"]  # supine: gas rises anteriorly (air-fluid level)
        # pancreas: arched across the spine from the duodenal loop to the splenic hilum
        yc = 2.0 - 0.0045 * (x - 5.0) ** 2 + 12.0
        pan = ((np.abs(y - yc) < 9.0 + 5.0 * (x < -20) + 2.0 * on) & (x > -45) & (x < 70)
               & (np.abs(z - 0.0) < 14.0) & cavity & ~liver & ~stomach)
        out[pan] = ix["pancreas"]
        # kidneys: cortex, medullary pyramids, sinus fat at the hilum; the right one lower
        for sx, zc in ((-1.0, -38.0), (1.0, -22.0)):
            c = (sx * 68, -55, zc)
            k = ellipsoid(x, y, z, c, (27, 33, 55), sx * 30) + 0.03 * on
            kid = (k < 1) & cavity
            # perirenal fat inside the renal fascia, between the kidney and the liver or
            # spleen too: on a film the fat stripe that outlines the kidney
            capsule = ((ellipsoid(x, y, z, c, (36, 42, 66), sx * 30) < 1) & cavity
                       & np.isin(out, solid_organs))
            out[capsule] = ix["fat"]
            out[kid] = ix["kidney"]
            inner = kid & (k < 0.72)
            pts = np.nonzero(inner)
            out[_take(pts, pyramid.at(x, y, z, pts) > -0.2)] = ix["kidney-medulla"]
            hilum = ellipsoid(x, y, z, (sx * 52, -42, zc), (11, 13, 30), sx * 30) < 1
            out[kid & hilum] = ix["fat"]
        # great vessels: aorta left-anterior of the spine, IVC to its right
        out[ellipsoid(x, y, z * 0, (14, -17, 0), (11, 11, 1)) < 1] = ix["blood"]
        out[(ellipsoid(x, y, z * 0, (-24, -16, 0), (13, 9, 1)) < 1)] = ix["blood"]
        # retroperitoneal fat: a capsule round each kidney and a sleeve round each psoas keeps
        # the bowel off them (their fat-bordered outlines are what a plain film shows)
        retro = np.zeros(shape, dtype=bool)
        for sx, zc in ((-1.0, -38.0), (1.0, -22.0)):
            retro |= ellipsoid(x, y, z, (sx * 68, -55, zc), (36, 42, 66), sx * 30) < 1
        retro |= psoas_sleeve
        # the colon framing the abdomen: caecum and ascending colon in the right flank, the
        # hepatic flexure under the liver, the transverse colon sagging across the front, the
        # splenic flexure high on the left, the descending colon down the left flank into the
        # sigmoid; haustral folds every ~3 cm; contents faeces (soft tissue) mottled with gas
        # bubbles, and gas pockets rising to the front of the lumen (supine), patchy along it
        near = cavity & (out == ix["fat"]) & ~retro & (z < COLON_TOP)
        xs, ys, zs = (np.broadcast_to(v, shape)[near] for v in (x, y, z))
        dist, along, yc, r = _tube(xs, ys, zs, COLON)
        r = r * (1.0 - 0.13 * np.cos(2 * np.pi * along / 30.0) ** 8)  # haustral folds
        lab = out[near]
        colon = dist < r
        lab[colon] = ix["muscle"]
        lumen = colon & (dist < r - 2.5)
        lab[lumen] = ix["fluid"]
        lx, ly, lz, lyc, lr = (v[lumen] for v in (xs, ys, zs, yc, r))
        bubbles = stool(lx, ly, lz) > 1.0
        pocket = (ly - lyc) > lr * (0.3 + 0.5 * gas_patch(lx, ly, lz) - 0.3 * (lyc > 20))
        lab[lumen] = np.where(bubbles | pocket, ix["gas"], ix["fluid"]).astype(np.uint8)
        out[near] = lab
        # small-bowel loops packed in the middle and below: walls round fluid contents, thin
        # seams of mesenteric fat between them, a few small gas pockets
        free = cavity & (out == ix["fat"]) & ~retro & (y > -40) & (z < -8 - 0.25 * np.abs(x))
        pts = np.nonzero(free)
        g = bowel_a.at(x, y, z, pts)
        out[_take(pts, g > -1.1)] = ix["muscle"]
        inside_loop = _take(pts, g > -0.75)
        out[inside_loop] = ix["fluid"]
        out[_take(inside_loop, bowel_b.at(x, y, z, inside_loop) > 1.75)] = ix["gas"]
        # the pelvis: the iliac wings, plates (cortex round marrow) flaring out from the
        # sacroiliac joints, under a thick rounded crest at the level of L4–5
        if float(np.min(z)) > -100.0:  # above the crests (a slice of the upper abdomen)
            return out
        ax = np.abs(x)
        # (the wing's mid-surface is kept coronal: an oblique plate sampled along the rays
        # would print the sampling step as stripes)
        plate_y = -40.0 + 0 * ax
        crest = -112.0 - 0.011 * (ax - 82.0) ** 2  # height of the crest
        fan = (ax > 30.0 + 0.25 * np.clip(-150.0 - z, 0, None)) & (ax < 140.0)
        t_plate = np.abs(y - plate_y)
        wing = fan & (z < crest) & (t_plate < 4.0)
        out[wing] = ix["cortical-bone"]
        out[wing & (t_plate < 2.2)] = ix["cancellous-bone"]
        rim = fan & (((z - crest) / 6.0) ** 2 + (t_plate / 7.0) ** 2 < 1)
        out[rim] = ix["cortical-bone"]
        out[rim & (((z - crest) / 4.0) ** 2 + (t_plate / 5.0) ** 2 < 1)] = \
            ix["cancellous-bone"]
        return out

    return Anatomy("abdomen", tissues, 400.0, (-110.0, 90.0), labels, 130.0, (), 256,
                   projection_step_mm=1.0)


GENERATORS["abdomen"] = _abdomen

VB_HEIGHT = 27.0
"""Height (mm) of a lumbar vertebral body; the disc below it makes up the 35 mm level."""
CANAL_Y, CANAL_R = -74.0, 8.0
"""Centre (y) and radius of the spinal canal (mm), its front wall the back of the body."""


def _vertebral_body(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Normalised radius (< 1 inside) of a lumbar vertebral body's axial section: kidney-
    bean shaped, 46 mm wide and 38 mm deep, rounded in front and at the sides, its back
    flattened and dented in the midline where it forms the front wall of the canal."""
    u, v = np.abs(x) / 23.0, (y + 48.0) / 19.0
    # an ellipse in front, squarer behind (a superellipse), so the back is broad and flat
    p = np.where(v < 0, 3.0, 2.0)
    rho = (u ** p + np.abs(v) ** p) ** (1.0 / p)
    # the dent: the body ends outside a circle round the front of the canal (its
    # normalised radius rising from 1 to 2 inwards, so a rim at ρ > 0.92 follows it too)
    dent = np.sqrt(x ** 2 + (y - CANAL_Y) ** 2) / (CANAL_R + 3.0)
    return np.maximum(rho, 2.0 - dent)


RIBS = ((12, 28.0, 235.0, 0.22), (11, 63.0, 190.0, 0.40), (10, 98.0, 150.0, 0.72),
        (9, 133.0, 128.0, 0.76), (8, 168.0, 112.0, 0.78), (7, 203.0, 100.0, 0.80))
"""Ribs on an AP abdomen: (number, height of the head beside the spine (mm), fall (mm of
descent per unit of the way round, s 0 at the back … 1 at the front), s where the bone ends).
The heads sit one vertebral level (35 mm) apart."""


def _ribs(rng: np.random.Generator) -> list[tuple[tuple[float, float], tuple[float, float],
                                                 tuple[float, float], bool]]:
    """Per rib: (head height, fall, end) for the right and the left side, each jittered a
    little, and whether it floats."""
    out = []
    for num, z0, fall, end in RIBS:
        j = rng.normal(0, 1, (3, 2))
        out.append(((z0 + 3.0 * float(j[0, 0]), z0 + 3.0 * float(j[0, 1])),
                    (fall * (1 + 0.07 * float(j[1, 0])), fall * (1 + 0.07 * float(j[1, 1]))),
                    (end * (1 + 0.05 * float(j[2, 0])), end * (1 + 0.05 * float(j[2, 1]))),
                    num >= 11))
    return out


def _rib_fall(s: np.ndarray, fall: Coord) -> np.ndarray:
    """Descent (mm) of a rib's centre-line below its head after a way s round the body (0 at
    the back, ½ at the flank): steep at the neck and angle beside the spine, steepest again
    where the rib curves down the side of the chest (so on a frontal film its lateral turn is
    a broad curve, not a hairpin), and steady between."""
    w = 0.14
    side = 0.5 * w * np.sqrt(np.pi) * (erf((s - 0.5) / w) + erf(0.5 / w))
    return fall * (0.65 * s + 1.2 * side) + 25.0 * (1 - np.exp(-s / 0.1))


COLON = ((-92.0, 0.0, -175.0, 30.0), (-105.0, -12.0, -120.0, 28.0),
         (-110.0, -15.0, -80.0, 26.0), (-95.0, 5.0, -62.0, 24.0),
         (-55.0, 45.0, -78.0, 22.0), (0.0, 55.0, -92.0, 22.0), (55.0, 45.0, -62.0, 22.0),
         (100.0, 5.0, -5.0, 22.0), (112.0, -18.0, -50.0, 19.0), (112.0, -22.0, -130.0, 18.0),
         (70.0, -5.0, -175.0, 18.0), (15.0, 5.0, -195.0, 18.0))
"""The colon's centre-line (x, y, z, radius mm), caecum to sigmoid."""
COLON_TOP = max(p[2] + p[3] for p in COLON)
"""Height (mm) above which there is no colon."""


def _tube(x: np.ndarray, y: np.ndarray, z: np.ndarray,
          path: tuple[tuple[float, float, float, float], ...]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance (mm) to a polyline through `path`, and at the nearest point: the arc length
    along it, its y and the radius (interpolated along each segment)."""
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    best = np.full(shape, np.inf, dtype=np.float32)
    along = np.zeros(shape, dtype=np.float32)
    yc = np.zeros(shape, dtype=np.float32)
    rad = np.zeros(shape, dtype=np.float32)
    s0 = 0.0
    for a, b in pairwise(path):
        d = np.subtract(b[:3], a[:3])
        length = float(np.linalg.norm(d))
        u = d / length
        t = np.clip((x - a[0]) * u[0] + (y - a[1]) * u[1] + (z - a[2]) * u[2], 0, length)
        dist = np.sqrt((x - a[0] - t * u[0]) ** 2 + (y - a[1] - t * u[1]) ** 2
                       + (z - a[2] - t * u[2]) ** 2)
        closer = dist < best
        best = np.where(closer, dist, best)
        along = np.where(closer, s0 + t, along)
        yc = np.where(closer, a[1] + t * u[1], yc)
        rad = np.where(closer, a[3] + (b[3] - a[3]) * t / length, rad)
        s0 += length
    return best, along, yc, rad


# --------------------------------------------------------------------------- the breast

BREAST_CHEST_WALL_X = -132.0
"""The chest wall (mm): beyond the image's left edge (x = −120 at 240 mm), as on a CC view,
where the breast runs off the detector's chest-wall side."""
BREAST_DEPTH = 160.0
"""Chest wall to the nipple (mm): the nipple 148 mm from the image edge."""
BREAST_HALF_WIDTH = (100.0, 92.0)
"""Half-width (mm) at the chest wall above (lateral) and below (medial) the nipple line."""
BREAST_HALF_T = 22.5
"""Half the compressed thickness (mm): 45 mm between the paddles."""
BREAST_SKIN_MM = 1.5


class _Lattice:
    """Band-limited random field: a seeded Gaussian lattice (spacing `cell` mm per axis over
    the box lo…hi), smoothed by one cell, unit variance, read by trilinear interpolation.
    Unlike a sum of a few plane waves it has no preferred direction or period."""

    def __init__(self, rng: np.random.Generator, lo: tuple[float, float, float],
                 hi: tuple[float, float, float], cell: tuple[float, float, float]) -> None:
        self.lo = np.asarray(lo, dtype=np.float32)
        self.cell = np.asarray(cell, dtype=np.float32)
        shape = tuple(int(np.ceil((h - lo_) / c)) + 3 for lo_, h, c in zip(lo, hi, cell,
                                                                             strict=True))
        g = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 1.0,
                                    mode="wrap")
        self.grid = (g / g.std()).astype(np.float32)

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        coords = [(np.asarray(v, dtype=np.float32) - lo) / cl + 1.0
                  for v, lo, cl in zip((a, b, c), self.lo, self.cell, strict=True)]
        return ndimage.map_coordinates(self.grid, coords, order=1, mode="nearest",
                                       prefilter=False)


def _breast(tissues: tuple[str, ...], seed: int) -> Anatomy:
    """A compressed breast, cranio-caudal view: compression along y (the projection axis),
    the chest wall just beyond the image left, the nipple to the right, z up (lateral).

    Geometry: a D-shaped outline in (x, z) with a few low-order wobbles; between the paddles
    the breast is BREAST_HALF_T thick, and within that distance of the skin line it rounds
    off (a half-disc profile), so the periphery thins to the skin. The body is the skin
    (1.5 mm, thicker over the areola), the nipple, subcutaneous fat, and the parenchyma.

    Parenchyma: an envelope (dense centrally and upper-outer, a cone narrowing to the
    nipple, none in the subcutaneous and retromammary fat) plus multi-scale noise whose
    axes follow rays converging on the nipple (coordinates: distance ρ from the nipple, angle
    × (60 mm + 0.4 ρ), y), thresholded: a scalloped, cloud-like region of fine lobulated texture whose
    glandular fraction falls towards the skin and the fat. Cooper's ligaments: thin sheets
    (the zero set of a field nearly constant along y) rising from the parenchyma's edge to
    the skin; lactiferous ducts converge on the nipple; a few tortuous vessels cross the
    fat; a spiculated carcinoma; a cluster of microcalcifications (specks)."""
    ix = {t: i for i, t in enumerate(tissues)}
    gl, fat = ix["fibroglandular"], ix["fat"]
    box_lo, box_hi = (0.0, -260.0, -26.0), (260.0, 260.0, 26.0)  # (ρ, angle·scale, y)
    xyz_lo, xyz_hi = (-135.0, -26.0, -125.0), (60.0, 26.0, 125.0)

    @functools.cache
    def fields() -> tuple[_Lattice, ...]:
        """The noise lattices, made on the first label query (a mammogram uses the stored
        projection and never needs them)."""
        frng = np.random.default_rng(seed)
        return (_Lattice(frng, box_lo, box_hi, (18.0, 9.0, 7.0)),  # lobes
                _Lattice(frng, box_lo, box_hi, (7.0, 2.6, 2.6)),  # lobules
                _Lattice(frng, box_lo, box_hi, (2.6, 1.1, 1.1)),  # grain
                _Lattice(frng, xyz_lo, xyz_hi, (12.0, 12.0, 12.0)),  # fat margin
                _Lattice(frng, xyz_lo, xyz_hi, (4.0, 14.0, 4.0)),  # ligaments
                # (distance from the breast's centre at the chest wall, angle × 100 mm,
                # y): the septa of the subcutaneous fat run out to the skin
                _Lattice(frng, (0.0, -320.0, -26.0), (200.0, 320.0, 26.0), (9.0, 3.5, 12.0)),
                _Lattice(frng, (-80.0, -26.0, -40.0), (-20.0, 26.0, 40.0), (2.5, 2.5, 2.5)))

    rng = np.random.default_rng([seed, 1])
    h0, xn = BREAST_HALF_T, BREAST_CHEST_WALL_X + BREAST_DEPTH
    # the carcinoma: lobulated core, spicules along random directions (flattened towards
    # the compression plane, as compression spreads them)
    mc = np.array([-52.0, 9.0, 3.0], dtype=np.float32)  # 13 mm under the upper skin
    th = 2 * np.pi * (np.arange(30) + rng.uniform(-0.35, 0.35, 30)) / 30  # all round
    sp_dir = np.stack([np.cos(th), rng.normal(0, 0.35, 30), np.sin(th)], axis=1)
    sp_dir = (sp_dir / np.linalg.norm(sp_dir, axis=1, keepdims=True)).astype(np.float32)
    sp_len = rng.uniform(12.0, 32.0, 30).astype(np.float32)
    sp_w = rng.uniform(0.9, 2.0, 30).astype(np.float32)  # base half-width, mm
    # vessels: tortuous tubes from the chest wall towards the nipple
    vessels = [(rng.uniform(-70, 75), rng.uniform(-0.45, 0.45), rng.uniform(-14, 14),
                rng.uniform(3, 7), rng.uniform(25, 45), rng.uniform(0, 2 * np.pi),
                rng.uniform(0.8, 1.3), rng.uniform(-40, 10)) for _ in range(6)]
    # lactiferous ducts: from behind the nipple back into the parenchyma
    ducts = [(rng.uniform(-0.6, 0.6), rng.uniform(-8, 8), rng.uniform(35, 70),
              rng.uniform(0, 2 * np.pi)) for _ in range(4)]

    def outline(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        d, nip = _breast_rim(x, z)
        return 2 * np.maximum(_breast_half_thickness(d), nip)

    def labels(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
        d, nip = _breast_rim(x, z)  # mm inside the skin line; nipple half-thickness
        half = np.maximum(_breast_half_thickness(d), nip)
        inside = np.abs(y) < half
        out = np.full(shape, ix["air"], dtype=np.uint8)
        if not inside.any():
            return out
        lobes, lobules, grain, margin, ligament, septa, mass_noise = fields()
        sel = np.nonzero(inside)
        px, py, pz = (np.broadcast_to(v, shape)[sel] for v in (x, y, z))
        pd = np.broadcast_to(d, shape)[sel]
        # depth below the 3-D surface: the paddles' faces, the half-disc rim, the nipple
        s = h0 - np.sqrt(np.clip(h0 - pd, 0, None) ** 2 + py ** 2)
        dn = np.sqrt((px - xn) ** 2 + pz ** 2)  # distance from the nipple in (x, z)
        s = np.maximum(s, np.broadcast_to(nip, shape)[sel] - np.abs(py))
        skin_t = BREAST_SKIN_MM + 1.6 * np.exp(-(dn / 16.0) ** 2)  # thicker areola
        lab = np.full(px.shape, fat, dtype=np.uint8)
        # parenchyma: envelope + noise in nipple-centred coordinates
        rho = dn + 30.0 * (1.0 - np.exp(-dn / 20.0))  # radial scale shortened near the nipple
        ang = np.arctan2(pz, xn - px) * (60.0 + 0.4 * rho)
        u = (px - BREAST_CHEST_WALL_X) / BREAST_DEPTH  # 0 chest wall … 1 nipple
        w = 0.62 * (1.0 - u) + 0.10  # the cone narrows to the nipple
        v = (pz / 100.0 - 0.10 * (1.0 - u)) / w  # centred a little upper (lateral)
        sub = 7.0 + 3.0 * margin(px, py, pz)  # subcutaneous fat thickness (mm)
        env = (1.15 - 1.1 * v ** 2 - 0.9 * np.clip((14.0 - (px - BREAST_CHEST_WALL_X))
                                                   / 14.0, 0, None)
               - 1.2 * np.clip((sub - s) / sub, 0, None) ** 0.5 - 1.0 * u ** 4)
        env -= 2.2 * np.exp(-np.sum([(c - m) ** 2 for c, m in zip((px, py, pz), mc,
                                                                   strict=True)], axis=0)
                            / 24.0 ** 2)  # fatty surroundings of the carcinoma
        dens = env + 0.5 * lobes(rho, ang, py) + 0.5 * lobules(rho, ang, py) \
            + 0.45 * grain(rho, ang, py) - 0.9
        lab[dens > 0] = gl
        # Cooper's ligaments: sheets from the parenchyma's edge out to the skin
        lig = np.abs(ligament(px, py, pz))
        lab[(lig < 0.028) & (dens > -0.6) & (dens <= 0) & (s > skin_t)] = gl
        rc = np.sqrt((px - BREAST_CHEST_WALL_X) ** 2 + pz ** 2)
        sep = np.abs(septa(rc, np.arctan2(pz, px - BREAST_CHEST_WALL_X) * 100.0, py))
        lab[(sep < 0.016) & (s < sub + 3.0) & (s > skin_t)] = gl  # on through the fat
        # lactiferous ducts converging on the nipple (tubes of ~1.2 mm)
        phi = np.arctan2(pz, xn - px)
        for a0, y0, length, ph in ducts:
            th = a0 * (1 - np.exp(-dn / 25.0)) + 0.08 * np.sin(dn / 9.0 + ph)
            tube = ((np.abs(phi - th) * dn) ** 2 + (py - y0 * np.clip(dn / 40, 0, 1)) ** 2
                    < (0.3 + 0.4 * np.exp(-dn / 20.0)) ** 2)
            lab[tube & (dn < length)] = gl
        # vessels (blood attenuates as fibroglandular tissue does at mammographic energies)
        for z0, slope, y0, amp, lam, ph, r, x_end in vessels:
            t = px - BREAST_CHEST_WALL_X
            zc = z0 + slope * t * (1 - 0.004 * t) + amp * np.sin(t / lam * 2 * np.pi + ph) \
                + 0.4 * amp * np.sin(t / (0.37 * lam) * 2 * np.pi + 2 * ph)
            yc = y0 + 4.0 * np.sin(t / (1.3 * lam) + ph)
            lab[((zc - pz) ** 2 + (yc - py) ** 2 < r * r) & (px < x_end)] = gl
        # skin and nipple
        lab[s < skin_t] = gl
        lab[(np.broadcast_to(nip, shape)[sel] > 0) & (pd < 3.0)] = gl  # the nipple
        # the carcinoma: a lobulated core 8 mm across… with radiating spicules
        dx, dy, dz = px - mc[0], py - mc[1], pz - mc[2]
        r3 = np.sqrt(dx * dx + dy * dy + dz * dz)
        near = r3 < 33.0
        if near.any():
            mn = mass_noise(px[near], py[near], pz[near])
            rr = r3[near]
            core = rr < 9.5 * (1.0 + 0.14 * mn)
            unit = np.stack([dx[near], dy[near], dz[near]]) / np.maximum(rr, 1e-3)
            cosang = sp_dir @ unit  # (spicules, points)
            k = np.argmax(cosang, axis=0)
            # offset from the spicule's axis; the strands are flattened bands (3× wider
            # along y, the compression), so each projects as a line
            off = unit * rr - sp_dir[k].T * (np.max(cosang, axis=0) * rr)
            width = sp_w[k] * np.clip(1 - rr / sp_len[k], 0, None) + 0.2
            spic = ((off[0] ** 2 + off[2] ** 2 + (off[1] / 3.0) ** 2 < width ** 2)
                    & (rr < sp_len[k]) & (rr > 5.0))
            m = np.zeros(px.shape, dtype=bool)
            m[near] = core | spic
            lab[m & (s > skin_t)] = ix["mass"]
        out[sel] = lab
        return out  # the microcalcifications (specks) are added exactly to projections

    crng = np.random.default_rng(seed + 1)
    specks: list[tuple[str, float, float, float]] = []
    cx0, cz0 = -22.0, 30.0  # a cluster ~10 mm across in the upper-outer parenchyma
    for _ in range(16):
        cx, cz = cx0 + crng.normal(0, 3.0), cz0 + crng.normal(0, 2.5)
        rad = float(crng.uniform(0.05, 0.25) if crng.random() < 0.25
                    else crng.uniform(0.1, 0.25))  # 0.1–0.5 mm across, most ≥ 0.2
        n_seg = int(crng.choice([1, 1, 2, 3]))  # pleomorphic: dots, rods, branches
        ang = crng.uniform(0, np.pi)
        for j in range(n_seg):
            r_j = rad * (1.0 - 0.25 * j)
            off = j * 1.8 * rad
            specks.append(("calcification", float(cx + off * np.cos(ang)),
                           float(cz + off * np.sin(ang)), float(r_j)))
    return Anatomy("breast", tissues, 240.0, (-80.0, 80.0), labels, BREAST_HALF_T + 0.5,
                   tuple(specks), 512, outline, projection_step_mm=0.75)


def _breast_rim(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) inside the breast's skin line at (x, z) (negative outside), and the
    nipple's half-thickness there (0 off the nipple). The outline: a half-ellipse from the
    chest wall, wider above (lateral) than below, gently irregular."""
    x = np.asarray(x, dtype=np.float32)
    z = np.asarray(z, dtype=np.float32)
    a = BREAST_DEPTH
    b = np.where(z > 0, BREAST_HALF_WIDTH[0], BREAST_HALF_WIDTH[1]).astype(np.float32)
    u = np.clip((x - BREAST_CHEST_WALL_X) / a, 0, None)
    v = z / b
    r = np.sqrt(u * u + v * v)
    th = np.arctan2(v, u)
    r = r * (1.0 + 0.018 * np.sin(3 * th + 0.7) + 0.012 * np.sin(5 * th + 2.1))
    grad = np.sqrt((u / a) ** 2 + (v / b) ** 2) / np.maximum(r, 1e-3)
    d = (1.0 - r) / np.maximum(grad, 1e-6)
    d = np.where(x > BREAST_CHEST_WALL_X, d, -1.0)
    xn = BREAST_CHEST_WALL_X + BREAST_DEPTH
    nr = np.sqrt(((x - xn + 1.0) / 5.0) ** 2 + (z / 5.5) ** 2)
    nip = np.where(nr < 1, 4.0 * np.sqrt(np.clip(1 - nr * nr, 0, None)), 0.0)
    return d.astype(np.float32), nip.astype(np.float32)


def _breast_half_thickness(d: np.ndarray) -> np.ndarray:
    """Half-thickness (mm) of the compressed breast at distance d inside the skin line:
    BREAST_HALF_T where the paddles press, a half-disc roll-off within that of the edge."""
    h = BREAST_HALF_T
    return np.where(d > 0, np.sqrt(np.clip(h * h - np.clip(h - d, 0, None) ** 2, 0, None)),
                    0.0).astype(np.float32)


GENERATORS["breast"] = _breast


def speck_paths(an: Anatomy, n: int) -> np.ndarray:
    """Exact path lengths (cm) through the anatomy's specks, on the n-pixel frontal grid,
    per tissue (tissues, n, n), area-averaged over each pixel: a speck smaller than a pixel
    still adds its whole volume (a faint dot), a larger one is resolved (supersampled at
    ≥ 4 samples per speck radius, then scaled so its integral is the sphere's volume)."""
    out = np.zeros((len(an.tissues), n, n), dtype=np.float32)
    px = an.fov_mm / n
    for tid, cx, cz, rad in an.specks:
        t = an.tissues.index(tid)
        ss = int(np.clip(np.ceil(4 * px / rad), 4, 64))
        sub = (np.arange(ss) + 0.5) / ss
        j0 = max(int((cx - rad) / px + n / 2) - 1, 0)
        j1 = min(int((cx + rad) / px + n / 2) + 2, n)
        i0 = max(int(n / 2 - (cz + rad) / px) - 1, 0)
        i1 = min(int(n / 2 - (cz - rad) / px) + 2, n)
        xs = ((np.arange(j0, j1)[:, None] + sub[None, :]).ravel() - n / 2) * px
        zs = (n / 2 - (np.arange(i0, i1)[:, None] + sub[None, :]).ravel()) * px
        d2 = (xs[None, :] - cx) ** 2 + (zs[:, None] - cz) ** 2
        path = 2 * np.sqrt(np.clip(rad ** 2 - d2, 0, None))
        area = path.reshape(i1 - i0, ss, j1 - j0, ss).mean(axis=(1, 3))
        whole = i0 > 0 and j0 > 0 and i1 < n and j1 < n  # not cut by the raster's edge
        if whole and area.sum() > 0:  # Σ of the pixel means = the sphere's volume / px²
            area *= 4.0 / 3.0 * np.pi * rad ** 3 / (px * px) / area.sum()
        out[t, i0:i1, j0:j1] += area / 10
    return out

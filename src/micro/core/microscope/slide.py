"""The slide as an object: what lies on and in a real preparation besides the specimen.

- dust and lint fibres on the top of the coverslip, 170 µm above the specimen (No. 1.5):
  soft grey shadows at 4× and 10× that sharpen as the focus is raised towards them and vanish
  at high NA, where they are spread over hundreds of µm;
- debris in the mounting medium a few µm to tens of µm above and below the specimen;
- stain precipitate lying on the specimen: clusters of fine dark granules of the stain's main
  dye (the classic Wright/Giemsa and haematoxylin deposit);
- an occasional air bubble in the mountant: a dark refracting rim around a clear centre.

Everything is placed on the slide's deterministic lattice (seeded from the slide, in slide
coordinates), so it moves with the stage and is the same at every objective. Each particle is
a Gaussian absorber whose width adds, in quadrature, its own size, the objective's blur and
the geometric blur circle of its defocus, ρ = |Δz|·tan(asin(NA/n)); its absorbed area is
conserved, so a defocused particle spreads and fades as a real one does. Particles add
optical density (Beer–Lambert); each is evaluated only within 3σ of its centre."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from micro.core.memory import memoized
from micro.core.microscope.lattice import Window, lattice_points, population_seed
from micro.core.microscope.setup import Setup

COVERSLIP_UM = 170.0
"""No. 1.5 coverslip: its top surface is 170 µm above the specimen."""
DUST_OD_RGB = np.array([0.33, 0.36, 0.42], dtype=np.float32)
"""Grey-brown dust and lint (slightly more absorbing in the blue)."""
FIELD_MARGIN_UM = 40.0


@dataclass(frozen=True)
class Kind:
    """One family of particles: lattice spacing, depth range, size range (µm) and peak OD."""

    name: str
    spacing_um: float
    z_um: tuple[float, float]
    size_um: tuple[float, float]
    od: tuple[float, float]
    stained: bool = False
    cluster: int = 1
    """Granules per site (precipitate) or beads along a fibre (lint): drawn one by one when
    resolved, as one blob when not."""
    fibre_um: tuple[float, float] | None = None
    """Length range of a fibre: its beads lie along a gently curved line."""


KINDS = (
    Kind("coverslip-dust", 380.0, (COVERSLIP_UM, COVERSLIP_UM), (4.0, 30.0), (0.4, 1.2)),
    Kind("coverslip-lint", 1100.0, (COVERSLIP_UM, COVERSLIP_UM), (3.0, 9.0), (0.3, 0.8),
         cluster=48, fibre_um=(80.0, 400.0)),
    Kind("mount-debris", 260.0, (-25.0, 25.0), (1.5, 6.0), (0.3, 0.9)),
    Kind("stain-precipitate", 320.0, (0.0, 0.0), (0.3, 1.2), (1.0, 2.0), stained=True,
         cluster=12),
)
BUBBLE_SPACING_UM = 6000.0
"""About one bubble per 70 mm² of slide (half of the lattice cells empty): a rare find in a
few low-power fields, not one in most of them."""


def apply(values: np.ndarray, s: Setup, z0_um: float) -> None:
    """Multiply the (3, H, W) transmitted light of the simulated window, in place, by the
    slide's artefacts. Depths are relative to the specimen's mid-plane z0_um. Each particle
    only touches the pixels within 3σ of it, so the cost follows the particles in view."""
    w = s.window
    n_med = max(s.specimen.medium_refractive_index, 1.0)
    na = (s.na + s.na_condenser) / 2 if s.na_condenser > 0 else s.na
    sigma_psf = 0.21 * 0.55 / max(na, 0.05)
    tan_cone = math.tan(math.asin(min(na / n_med, 0.95)))
    base_seed = population_seed(s.specimen.seed, "slide-artefacts")
    dye_od = precipitate_od(s)
    for kind in KINDS:
        if kind.stained and dye_od is None:
            continue
        blobs = _blobs(kind, w, base_seed, s.focus_um - z0_um, sigma_psf, tan_cone)
        if blobs is not None:
            colour = dye_od if kind.stained else DUST_OD_RGB
            assert colour is not None
            _stamp(values, w, blobs, colour)
    _bubbles(values, w, base_seed)


def precipitate_od(s: Setup) -> np.ndarray | None:
    """OD vector (R, G, B) of the stain's main absorbing dye, which is what precipitates."""
    if s.stain.type not in ("absorbing", "differential"):
        return None
    for dye in s.stain.dyes:
        if dye.od_rgb is not None:
            return np.asarray(dye.od_rgb, dtype=np.float32)
    return None


@memoized("microscope.slide.particles")
def _particles(kind: Kind, w: Window, base_seed: int) -> tuple[np.ndarray, ...] | None:
    """x, y, own σ (µm), peak OD and depth of the particles of one kind near the window:
    focus-independent, so a focus series draws them once."""
    seed = population_seed(base_seed, kind.name)
    reach_um = FIELD_MARGIN_UM + (kind.fibre_um[1] / 2 if kind.fibre_um else 0.0)
    x, y, u, _ = lattice_points(w, seed, kind.spacing_um, reach_um, 6 + 2 * kind.cluster)
    keep = u[:, 2] < 0.6  # not every lattice cell holds a particle
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return None
    lo, hi = kind.size_um
    size = lo * (hi / lo) ** u[:, 3]  # log-uniform sizes
    z = kind.z_um[0] + (kind.z_um[1] - kind.z_um[0]) * u[:, 4]
    peak = kind.od[0] + (kind.od[1] - kind.od[0]) * u[:, 5]
    sigma0 = size / 2.5
    k = kind.cluster
    if kind.fibre_um is not None:  # lint: beads along a curved line of length L
        lo_l, hi_l = kind.fibre_um
        length = lo_l * (hi_l / lo_l) ** u[:, 6]
        t = np.linspace(-0.5, 0.5, k)[None] * length[:, None]  # arc length from the middle
        theta = u[:, 7, None] * 2 * np.pi + (u[:, 8, None] - 0.5) * 4.0 * t / length[:, None]
        x = (x[:, None] + t * np.cos(theta)).ravel()
        y = (y[:, None] + t * np.sin(theta)).ravel()
        step = length / (k - 1)
        sigma0 = np.maximum(sigma0, step / 2.0)
        # overlapping beads sum to the fibre's own OD across it
        peak = np.repeat(peak * step / (sigma0 * math.sqrt(2 * math.pi)), k)
        sigma0 = np.repeat(sigma0, k)
        z = np.repeat(z, k)
    elif k > 1:
        spread = 2.0 + 6.0 * u[:, 4]  # cluster radius, µm
        if spread.max() < 2.0 * w.px_um:  # unresolved: each cluster as one blob
            peak = peak * k * (sigma0 / spread) ** 2
            sigma0 = spread
        else:
            ang = u[:, 6:6 + k] * 2 * np.pi
            rad = np.sqrt(u[:, 6 + k:6 + 2 * k]) * spread[:, None]
            x = (x[:, None] + rad * np.cos(ang)).ravel()
            y = (y[:, None] + rad * np.sin(ang)).ravel()
            sigma0 = np.repeat(sigma0, k)
            peak = np.repeat(peak, k)
            z = np.repeat(z, k)
    return x, y, sigma0, peak, z


def _blobs(kind: Kind, w: Window, base_seed: int, focus_um: float, sigma_psf: float,
           tan_cone: float) -> tuple[np.ndarray, ...] | None:
    """x, y, σ (µm) and peak OD of every particle of one kind that can reach the window, as
    imaged at this focus."""
    parts = _particles(kind, w, base_seed)
    if parts is None:
        return None
    x, y, sigma0, peak, z = parts
    rho = np.abs(focus_um - z) * tan_cone
    sigma = np.sqrt(sigma0**2 + sigma_psf**2 + (rho / 2.0) ** 2 + (0.5 * w.px_um) ** 2)
    amp = peak * (sigma0 / sigma) ** 2  # absorbed area conserved
    reach = 3.0 * sigma
    near = ((x + reach > w.x0_um) & (x - reach < w.x0_um + w.width_um)
            & (y + reach > w.y0_um) & (y - reach < w.y0_um + w.height_um) & (amp > 2e-3))
    if not near.any():
        return None
    return x[near], y[near], sigma[near], amp[near]


REACH_BUCKETS_PX = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45)
"""Particles are stamped all at once per bucket of reach (3σ, pixels); larger ones, rare
(big dust far out of focus at high magnification), one by one."""


def _stamp(values: np.ndarray, w: Window, blobs: tuple[np.ndarray, ...],
           colour: np.ndarray) -> None:
    """values ×= 10^(−OD·a·exp(−r²/2σ²)) around each particle (Beer–Lambert: overlapping
    particles multiply). Particles of similar reach in one vectorised pass per bucket, the
    few very large ones (big dust far out of focus) one by one on their own box."""
    x, y, sg, a = blobs
    px = w.px_um
    reach = np.ceil(3.0 * sg / px).astype(np.int64)
    lo = 0
    for hi in REACH_BUCKETS_PX:
        sel = (reach > lo) & (reach <= hi)
        if sel.any():
            _stamp_small(values, w, x[sel], y[sel], sg[sel], a[sel], hi, colour)
        lo = hi
    small = reach <= lo
    ln10 = np.float32(np.log(10.0))
    neg_od = -ln10 * np.asarray(colour, dtype=np.float32)[:, None, None]
    for xb, yb, sb, ab in zip(x[~small], y[~small], sg[~small], a[~small], strict=True):
        r = 3.0 * sb
        j0 = max(int((xb - r - w.x0_um) / px), 0)
        j1 = min(int((xb + r - w.x0_um) / px) + 1, w.width)
        i0 = max(int((yb - r - w.y0_um) / px), 0)
        i1 = min(int((yb + r - w.y0_um) / px) + 1, w.height)
        if i0 >= i1 or j0 >= j1:
            continue
        xs = ((np.arange(j0, j1) + 0.5) * px + (w.x0_um - xb)).astype(np.float32)
        ys = ((np.arange(i0, i1) + 0.5) * px + (w.y0_um - yb)).astype(np.float32)
        k = np.float32(-0.5 / (sb * sb))
        g = np.exp(ys[:, None] ** 2 * k) * (np.exp(xs**2 * k) * np.float32(ab))[None]
        values[:, i0:i1, j0:j1] *= np.exp(neg_od * g[None])


def _stamp_small(values: np.ndarray, w: Window, x: np.ndarray, y: np.ndarray, sg: np.ndarray,
                 a: np.ndarray, reach: int, colour: np.ndarray) -> None:
    """All small particles at once: a (2·reach + 1)² box around each, multiplied in with
    np.multiply.at (boxes may overlap)."""
    px = w.px_um
    offs = np.arange(-reach, reach + 1)
    ci = np.floor((y - w.y0_um) / px).astype(np.int64)
    cj = np.floor((x - w.x0_um) / px).astype(np.int64)
    rows = ci[:, None] + offs[None]  # (n, k)
    cols = cj[:, None] + offs[None]
    k = (-0.5 / (sg * sg))[:, None]
    gy = np.exp(np.square((rows + 0.5) * px + w.y0_um - y[:, None]) * k)
    gx = np.exp(np.square((cols + 0.5) * px + w.x0_um - x[:, None]) * k) * a[:, None]
    g = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)
    inside = (((rows >= 0) & (rows < w.height))[:, :, None]
              & ((cols >= 0) & (cols < w.width))[:, None, :])
    inside &= g > np.float32(1e-4)
    idx = (rows[:, :, None] * w.width + cols[:, None, :])[inside]
    g = g[inside]
    h, wd = values.shape[1:]
    for c in range(3):
        plane = values[c].reshape(h * wd)
        np.multiply.at(plane, idx, np.exp(g * np.float32(-np.log(10.0) * colour[c])))


def _bubbles(values: np.ndarray, w: Window, base_seed: int) -> None:
    """values ×= the transmission of air bubbles in the mountant: total reflection in a dark
    rim (~8 % of the radius wide), a clear centre."""
    seed = population_seed(base_seed, "bubble")
    x, y, u, _ = lattice_points(w, seed, BUBBLE_SPACING_UM, 300.0, 5)
    keep = u[:, 2] < 0.5
    px = w.px_um
    for bx, by, ur in zip(x[keep], y[keep], u[keep, 3], strict=True):
        r0 = 25.0 + 175.0 * ur**2
        width = 0.08 * r0 + 2.0 * px
        r1 = r0 + 3 * width
        j0 = max(int((bx - r1 - w.x0_um) / px), 0)
        j1 = min(int((bx + r1 - w.x0_um) / px) + 1, w.width)
        i0 = max(int((by - r1 - w.y0_um) / px), 0)
        i1 = min(int((by + r1 - w.y0_um) / px) + 1, w.height)
        if i0 >= i1 or j0 >= j1:
            continue
        xs = (np.arange(j0, j1) + 0.5) * px + w.x0_um - bx
        ys = (np.arange(i0, i1) + 0.5) * px + w.y0_um - by
        r = np.hypot(ys[:, None], xs[None])
        rim = np.exp(-np.square((r - r0) / width)).astype(np.float32)
        values[:, i0:i1, j0:j1] *= (1.0 - 0.75 * rim)[None]

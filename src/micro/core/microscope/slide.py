"""The slide as an object: what lies on and in a real preparation besides the specimen.

- dust and lint on the top of the coverslip, 170 µm above the specimen (a No. 1.5 coverslip):
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
optical density (Beer–Lambert), evaluated separably: OD = Gy · diag(a) · Gx."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    """Granules per site (precipitate): drawn one by one when resolved, as one blob when not."""


KINDS = (
    Kind("coverslip-dust", 380.0, (COVERSLIP_UM, COVERSLIP_UM), (4.0, 30.0), (0.4, 1.2)),
    Kind("mount-debris", 260.0, (-25.0, 25.0), (1.5, 6.0), (0.3, 0.9)),
    Kind("stain-precipitate", 320.0, (0.0, 0.0), (0.3, 1.2), (1.0, 2.0), stained=True,
         cluster=12),
)
BUBBLE_SPACING_UM = 2200.0
"""About one bubble per 5 mm² of slide, half of the lattice cells empty: occasional."""


def transmission(s: Setup, z0_um: float) -> np.ndarray | None:
    """(3, H, W) float32 transmission of the slide's artefacts over the simulated window, or
    None when none reaches it. Depths are relative to the specimen's mid-plane z0_um."""
    dye_od = precipitate_od(s)
    w = s.window
    h_px, w_px = w.height, w.width
    n_med = max(s.specimen.medium_refractive_index, 1.0)
    na = (s.na + s.na_condenser) / 2 if s.na_condenser > 0 else s.na
    sigma_psf = 0.21 * 0.55 / max(na, 0.05)
    tan_cone = math.tan(math.asin(min(na / n_med, 0.95)))
    base_seed = population_seed(s.specimen.seed, "slide-artefacts")
    ys = (np.arange(h_px, dtype=np.float32) + 0.5) * np.float32(w.px_um) + np.float32(w.y0_um)
    xs = (np.arange(w_px, dtype=np.float32) + 0.5) * np.float32(w.px_um) + np.float32(w.x0_um)
    od = None
    for kind in KINDS:
        if kind.stained and dye_od is None:
            continue
        blobs = _blobs(kind, w, base_seed, s.focus_um - z0_um, sigma_psf, tan_cone)
        if blobs is None:
            continue
        plane = _separable(blobs, xs, ys)
        colour = dye_od if kind.stained else DUST_OD_RGB
        assert colour is not None
        term = plane[None] * np.asarray(colour, dtype=np.float32)[:, None, None]
        od = term if od is None else od + term
    ring = _bubbles(w, base_seed, xs, ys)
    if od is None and ring is None:
        return None
    t = np.ones((3, h_px, w_px), dtype=np.float32) if od is None else np.power(
        np.float32(10.0), -od)
    if ring is not None:
        t *= ring[None]
    return t


def precipitate_od(s: Setup) -> np.ndarray | None:
    """OD vector (R, G, B) of the stain's main absorbing dye, which is what precipitates."""
    if s.stain.type != "absorbing":
        return None
    for dye in s.stain.dyes:
        if dye.od_rgb is not None:
            return np.asarray(dye.od_rgb, dtype=np.float32)
    return None


def _blobs(kind: Kind, w: Window, base_seed: int, focus_um: float, sigma_psf: float,
           tan_cone: float) -> tuple[np.ndarray, ...] | None:
    """x, y, σ (µm) and peak OD of every particle of one kind that can reach the window."""
    seed = population_seed(base_seed, kind.name)
    x, y, u, _ = lattice_points(w, seed, kind.spacing_um, FIELD_MARGIN_UM, 6 + 2 * kind.cluster)
    keep = u[:, 2] < 0.6  # not every lattice cell holds a particle
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return None
    lo, hi = kind.size_um
    size = lo * (hi / lo) ** u[:, 3]  # log-uniform sizes
    z = kind.z_um[0] + (kind.z_um[1] - kind.z_um[0]) * u[:, 4]
    peak = kind.od[0] + (kind.od[1] - kind.od[0]) * u[:, 5]
    sigma0 = size / 2.5
    if kind.cluster > 1:
        spread = 2.0 + 6.0 * u[:, 4]  # cluster radius, µm
        if spread.max() < 2.0 * w.px_um:  # unresolved: each cluster as one blob
            peak = peak * kind.cluster * (sigma0 / spread) ** 2
            sigma0 = spread
        else:
            k = kind.cluster
            ang = u[:, 6:6 + k] * 2 * np.pi
            rad = np.sqrt(u[:, 6 + k:6 + 2 * k]) * spread[:, None]
            x = (x[:, None] + rad * np.cos(ang)).ravel()
            y = (y[:, None] + rad * np.sin(ang)).ravel()
            sigma0 = np.repeat(sigma0, k)
            peak = np.repeat(peak, k)
            z = np.repeat(z, k)
    rho = np.abs(focus_um - z) * tan_cone
    sigma = np.sqrt(sigma0**2 + sigma_psf**2 + (rho / 2.0) ** 2 + (0.5 * w.px_um) ** 2)
    amp = peak * (sigma0 / sigma) ** 2  # absorbed area conserved
    reach = 3.0 * sigma
    near = ((x + reach > w.x0_um) & (x - reach < w.x0_um + w.width_um)
            & (y + reach > w.y0_um) & (y - reach < w.y0_um + w.height_um) & (amp > 2e-3))
    if not near.any():
        return None
    return x[near], y[near], sigma[near], amp[near]


def _separable(blobs: tuple[np.ndarray, ...], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(H, W) Σ a·exp(−r²/2σ²): one (H × n) · (n × W) product."""
    x, y, sigma, amp = (b.astype(np.float32) for b in blobs)
    gy = np.exp(-0.5 * np.square((ys[:, None] - y[None]) / sigma[None]))
    gx = np.exp(-0.5 * np.square((x[:, None] - xs[None]) / sigma[:, None]))
    gx *= amp[:, None]
    return gy @ gx


def _bubbles(w: Window, base_seed: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray | None:
    """(H, W) transmission of air bubbles in the mountant, or None: total reflection in a
    dark rim (~8 % of the radius wide), a clear centre."""
    seed = population_seed(base_seed, "bubble")
    x, y, u, _ = lattice_points(w, seed, BUBBLE_SPACING_UM, 300.0, 5)
    keep = u[:, 2] < 0.5
    if not keep.any():
        return None
    out = None
    for bx, by, ur in zip(x[keep], y[keep], u[keep, 3], strict=True):
        r0 = 25.0 + 175.0 * ur**2
        width = 0.08 * r0 + 2.0 * w.px_um
        r1 = r0 + 3 * width
        i0 = np.searchsorted(ys, by - r1)
        i1 = np.searchsorted(ys, by + r1)
        j0 = np.searchsorted(xs, bx - r1)
        j1 = np.searchsorted(xs, bx + r1)
        if i0 >= i1 or j0 >= j1:
            continue
        if out is None:
            out = np.ones((ys.size, xs.size), dtype=np.float32)
        r = np.hypot(ys[i0:i1, None] - by, xs[None, j0:j1] - bx)
        rim = np.exp(-np.square((r - r0) / width))
        out[i0:i1, j0:j1] *= 1.0 - 0.75 * rim
    return out

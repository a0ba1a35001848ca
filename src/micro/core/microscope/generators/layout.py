"""Layout fields shared by the tissue and rock generators: cells (fascicles, mineral grains,
osteons) whose borders curve and interlock instead of running straight like a Voronoi
diagram's. The pixel grid is displaced by smooth noise before the nearest seed is found
(domain warping), so borders wander by `warp_um` at the scale `warp_scale_um`; the seeds
themselves stay on the slide's lattice, so every window sees the same cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from micro.core.memory import memoized
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.seeds import grid_step, nearest, nearest_on_grid

F32 = np.float32


def _axis(coords: np.ndarray, scale_um: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Along one axis: each coordinate's lattice node (relative to the first), its
    smoothstep weight towards the next node, the first node and the number of nodes."""
    f = coords / scale_um
    i0 = np.floor(f).astype(np.int64)
    t = f - i0
    t = (t * t * (3 - 2 * t)).astype(np.float32)
    lo = int(i0.min())
    return (i0 - lo).astype(np.intp), t, lo, int(i0.max()) - lo + 2


PERIOD = 4096
"""Lattice values repeat every PERIOD nodes (≥ 4 mm even for a 1 µm texture)."""


@memoized("microscope.generators.layout.permutation")
def _permutation(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)
    return rng.permutation(PERIOD).astype(np.intp), rng.random(PERIOD, dtype=np.float32)


def _lattice_values(seed: int, gi: np.ndarray, gj: np.ndarray) -> np.ndarray:
    """Uniform value (float32, shape of gi) of each lattice node: V[P[(P[i] + j) mod N]],
    Perlin's hashing by a seeded permutation (a pure function of seed and node)."""
    perm, vals = _permutation(seed)
    return vals[perm[(perm[gi % PERIOD] + gj) % PERIOD]]


def smooth_noise(w: Window, seed: int, scale_um: float) -> np.ndarray:
    """Smooth value noise in [0, 1] (float32 (H, W)) at a physical scale, a pure function of
    slide position at every pixel size: unlike `raster.value_noise` it never fades to its
    mean, because layouts (borders, warps) must be the same at every objective. The same
    smoothstep interpolation as `raster.value_noise`, evaluated separably: first along x
    for every lattice row, then along y (a few full-size passes); lattice values come from
    a seeded permutation table (`_lattice_values`), so even a texture as fine as the pixels
    costs two gathers per node."""
    X, Y = w.grids()
    ix, tx, i_lo, nx = _axis(X.ravel(), scale_um)
    iy, ty, j_lo, ny = _axis(Y.ravel(), scale_um)
    gi, gj = np.meshgrid(np.arange(i_lo, i_lo + nx), np.arange(j_lo, j_lo + ny),
                         indexing="xy")
    tab = _lattice_values(seed, gi, gj)
    rows = tab[:, ix] * (1 - tx) + tab[:, ix + 1] * tx  # (ny, W): every lattice row along x
    out = rows[iy]
    out *= (1 - ty)[:, None]
    out += rows[iy + 1] * ty[:, None]
    return out


def noise(w: Window, seed: int, scale_um: float) -> np.ndarray:
    """Texture like `raster.value_noise` (same interpolation, same fading to the mean as
    pixels outgrow the scale), float32, via `smooth_noise`."""
    fade = min(1.0, scale_um / max(w.px_um, 1e-9))
    if fade < 0.5:
        return np.full((w.height, w.width), 0.5, dtype=np.float32)
    v = smooth_noise(w, seed, scale_um)
    if fade < 1.0:
        v = 0.5 + (v - 0.5) * np.float32(fade)
    return v


@dataclass(frozen=True)
class Cells:
    d1: np.ndarray
    """float32 (H, W): warped distance (µm) to the nearest seed."""
    d2: np.ndarray
    """float32 (H, W): warped distance to the second-nearest seed."""
    near: np.ndarray
    """int32 (H, W): index of the nearest seed into `table` and `seeds`."""
    table: np.ndarray
    """(n, slots) per-cell uniforms (slots 0–1: the seed jitter)."""
    seeds: np.ndarray
    """(n, 2) seed positions, slide µm."""
    wx: np.ndarray
    """float32 (H, W): the warped x of each pixel, µm (relative to the window's corner)."""
    wy: np.ndarray

    @property
    def edge(self) -> np.ndarray:
        """Approximate distance (µm) to the nearest border: (d2 − d1) / 2."""
        return (self.d2 - self.d1) * F32(0.5)


def warped_cells(w: Window, seed: int, spacing_um: float, *, jitter: float = 0.9,
                 warp_um: float = 0.0, warp_scale_um: float = 100.0,
                 rough_um: float = 0.0, rough_scale_um: float = 20.0,
                 slots: int = 8, on_grid: bool = False) -> Cells:
    """Voronoi cells of one jittered seed per `spacing_um` lattice cell, evaluated on the
    pixel grid displaced by up to ±`warp_um` of smooth noise of scale `warp_scale_um`, plus
    ±`rough_um` of finer noise (`rough_scale_um`) for ragged, sutured borders. `on_grid`:
    search for the nearest seeds on a coarser grid where they are many pixels apart (see
    `histology.cells_at`; exact for cells far larger than the warp's bends)."""
    X, Y = w.grids()
    ox, oy = w.x0_um, w.y0_um
    gx: np.ndarray = np.broadcast_to((X - ox).astype(F32), (w.height, w.width))
    gy: np.ndarray = np.broadcast_to((Y - oy).astype(F32), (w.height, w.width))
    if warp_um > 0:
        nx = smooth_noise(w, seed ^ 0x3A1, warp_scale_um)
        ny = smooth_noise(w, seed ^ 0x3A2, warp_scale_um)
        gx = gx + F32(2 * warp_um) * (nx - 0.5).astype(F32)
        gy = gy + F32(2 * warp_um) * (ny - 0.5).astype(F32)
    if rough_um > 0:
        nx = smooth_noise(w, seed ^ 0x3A3, rough_scale_um)
        ny = smooth_noise(w, seed ^ 0x3A4, rough_scale_um)
        gx = gx + F32(2 * rough_um) * (nx - 0.5)
        gy = gy + F32(2 * rough_um) * (ny - 0.5)
    s = spacing_um
    # lattice cells relative to the window's corner (positions stay slide-absolute)
    ci = np.floor((gx + F32(ox)) / s).astype(np.int64)
    cj = np.floor((gy + F32(oy)) / s).astype(np.int64)
    i_lo, i_hi = int(ci.min()) - 1, int(ci.max()) + 1
    j_lo, j_hi = int(cj.min()) - 1, int(cj.max()) + 1
    ii, jj = np.meshgrid(np.arange(i_lo, i_hi + 1), np.arange(j_lo, j_hi + 1), indexing="xy")
    ncols = i_hi - i_lo + 1
    table = uniforms(seed, ii.ravel(), jj.ravel(), slots)
    sx = (ii.ravel() + 0.5 + (table[:, 0] - 0.5) * jitter) * s
    sy = (jj.ravel() + 0.5 + (table[:, 1] - 0.5) * jitter) * s
    rel_x, rel_y = (sx - ox).astype(F32), (sy - oy).astype(F32)
    base = ((cj - j_lo) * ncols + (ci - i_lo)).astype(np.int32)
    d1 = np.full(gx.shape, np.inf, dtype=F32)
    d2 = np.full(gx.shape, np.inf, dtype=F32)
    near = np.zeros(gx.shape, dtype=np.int32)
    k_grid = grid_step(gx, gy, s, True) if on_grid else 0
    if k_grid:  # the grid search has always taken the 3×3 cells row by row
        nearest_on_grid(np.asarray(gx), np.asarray(gy), rel_x, rel_y, lambda at: base[at],
                        ncols, d1, d2, near, np.zeros(gx.shape, np.int32), True, k_grid)
    else:
        nearest(gx.ravel(), gy.ravel(), rel_x, rel_y, base.ravel(), ncols, d1.reshape(-1),
                near.reshape(-1), d2.reshape(-1), columns_first=True)
    np.sqrt(d1, out=d1)
    np.sqrt(d2, out=d2)
    return Cells(d1, d2, near, table, np.stack([sx, sy], axis=1), np.asarray(gx),
                 np.asarray(gy))

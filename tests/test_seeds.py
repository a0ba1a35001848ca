"""The nearest-seed search (microscope/seeds.py) finds, for every point, the nearest and
second-nearest of the nine seeds around it, whatever the chunking; the coarse-grid search
on a window's pixels agrees with the search at every pixel."""

from __future__ import annotations

import numpy as np

from micro.core.microscope import seeds

F32 = np.float32


def _lattice(rng: np.random.Generator, ncol: int, nrow: int, spacing: float, jitter: float
             ) -> tuple[np.ndarray, np.ndarray]:
    gi, gj = np.meshgrid(np.arange(ncol), np.arange(nrow), indexing="xy")
    sx = (gi.ravel() + 0.5 + (rng.random(gi.size) - 0.5) * jitter) * spacing
    sy = (gj.ravel() + 0.5 + (rng.random(gi.size) - 0.5) * jitter) * spacing
    return sx.astype(F32), sy.astype(F32)


def _base(x: np.ndarray, y: np.ndarray, spacing: float, ncol: int) -> np.ndarray:
    return (np.floor(y / spacing).astype(np.int64) * ncol
            + np.floor(x / spacing).astype(np.int64)).astype(np.int32)


def test_nearest_two_of_the_nine_seeds_across_chunks() -> None:
    rng = np.random.default_rng(1)
    ncol, nrow, s = 40, 30, 10.0
    sx, sy = _lattice(rng, ncol, nrow, s, 0.9)
    n = 2 * seeds.CHUNK + 123  # three chunks, the last one short
    x = rng.uniform(s, (ncol - 1) * s, n).astype(F32)  # never in an edge cell
    y = rng.uniform(s, (nrow - 1) * s, n).astype(F32)
    base = _base(x, y, s, ncol)
    d1, d2 = np.full(n, np.inf, F32), np.full(n, np.inf, F32)
    k1, k2 = np.zeros(n, np.int32), np.zeros(n, np.int32)
    seeds.nearest(x, y, sx, sy, base, ncol, d1, k1, d2, k2)
    # brute force over the nine candidates
    k = base[:, None] + seeds.offsets(ncol)[None, :]
    d = (x[:, None] - sx[k]) ** 2 + (y[:, None] - sy[k]) ** 2
    order = np.argsort(d, axis=1, kind="stable")
    rows = np.arange(n)
    np.testing.assert_array_equal(k1, k[rows, order[:, 0]])
    np.testing.assert_array_equal(k2, k[rows, order[:, 1]])
    np.testing.assert_array_equal(d1, d[rows, order[:, 0]])
    np.testing.assert_array_equal(d2, d[rows, order[:, 1]])
    # the nearest only: the same nearest, d2 untouched
    e1, e2, j1 = np.full(n, np.inf, F32), np.full(n, np.inf, F32), np.zeros(n, np.int32)
    seeds.nearest(x, y, sx, sy, base, ncol, e1, j1)
    np.testing.assert_array_equal(j1, k1)
    np.testing.assert_array_equal(e1, d1)
    assert np.isinf(e2).all()


def test_ties_go_to_the_first_cell_in_the_search_order() -> None:
    ncol = 3
    sx = np.array([0.5, 1.5, 2.5] * 3, F32)  # seeds at the cell centres, 1 apart
    sy = np.repeat(np.array([0.5, 1.5, 2.5], F32), 3)
    x, y = np.array([1.0], F32), np.array([1.0], F32)  # equidistant from four seeds
    base = np.array([4], np.int32)
    for columns_first, first in ((False, 0), (True, 0)):
        d1, k1 = np.full(1, np.inf, F32), np.zeros(1, np.int32)
        d2, k2 = np.full(1, np.inf, F32), np.zeros(1, np.int32)
        seeds.nearest(x, y, sx, sy, base, ncol, d1, k1, d2, k2, columns_first)
        assert k1[0] == first and d1[0] == d2[0] == F32(0.5)
    # the second of four equals: the next cell in the order (row by row: to the right;
    # column by column: below)
    d1, k1 = np.full(1, np.inf, F32), np.zeros(1, np.int32)
    d2, k2 = np.full(1, np.inf, F32), np.zeros(1, np.int32)
    seeds.nearest(x, y, sx, sy, base, ncol, d1, k1, d2, k2, columns_first=False)
    assert k2[0] == 1
    seeds.nearest(x, y, sx, sy, base, ncol, np.full(1, np.inf, F32), k1,
                  np.full(1, np.inf, F32), k2, columns_first=True)
    assert k2[0] == 3


def test_the_coarse_grid_search_agrees_with_the_full_search() -> None:
    rng = np.random.default_rng(7)
    s, px = 40.0, 0.5  # cells 80 pixels across
    H, W = 200, 260
    ncol, nrow = int(W * px / s) + 3, int(H * px / s) + 3
    sx, sy = _lattice(rng, ncol, nrow, s, 0.9)
    yy, xx = np.mgrid[0:H, 0:W]
    x = (s + (xx + 0.5) * px).astype(F32)
    y = (s + (yy + 0.5) * px).astype(F32)
    # a gentle warp, as `layout.warped_cells` applies
    x += F32(3.0) * np.sin(y / F32(37.0))
    y += F32(3.0) * np.cos(x / F32(53.0))
    base = _base(x, y, s, ncol)
    for second in (True, False):
        full = [np.full(H * W, np.inf, F32), np.full(H * W, np.inf, F32),
                np.zeros(H * W, np.int32), np.zeros(H * W, np.int32)]
        seeds.nearest(x.ravel(), y.ravel(), sx, sy, base.ravel(), ncol, full[0], full[2],
                      full[1] if second else None, full[3] if second else None)
        k = seeds.grid_step(x, y, s, second)
        assert k >= 3
        grid = [np.full((H, W), np.inf, F32), np.full((H, W), np.inf, F32),
                np.zeros((H, W), np.int32), np.zeros((H, W), np.int32)]
        seeds.nearest_on_grid(x, y, sx, sy, lambda at: base[at], ncol, grid[0], grid[1],
                              grid[2], grid[3], second, k)
        np.testing.assert_array_equal(grid[2].ravel(), full[2])
        np.testing.assert_array_equal(grid[0].ravel(), full[0])
        if second:
            np.testing.assert_array_equal(grid[3].ravel(), full[3])
            np.testing.assert_array_equal(grid[1].ravel(), full[1])

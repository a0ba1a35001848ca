"""White adipose tissue: large polygonal-rounded adipocytes, each one lipid droplet
(dissolved in paraffin sections) inside a rim of cytoplasm a micrometre thick; the
flattened nucleus lies inside the rim, pressed against it ('signet ring'); capillaries
with red cells run in the small spaces where three cells meet."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.histology import (
    F32,
    FINE_UM,
    Cells,
    cells_at,
    grid,
    hash01,
    inside,
    layer_of,
    limited,
    line,
    noise_fields,
    nuclei,
    pack_red_cells,
    put,
    red_cells,
    section,
    smoothly,
    texture,
)
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator


def fat_cells(x: np.ndarray, y: np.ndarray, seed: int, size_um: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For points (µm): distance to the own cell's membrane (µm, rounded at the corners,
    negative in the spaces between cells), distance to the polygon wall alone, angle
    around the cell centre, distance to it, and the cell's hash."""
    mem, wall, ang, d1, c = _fat_cells(x, y, seed, size_um)
    return mem, wall, ang, d1, _cell_hash(c).take(c.near)


def _fat_cells(x: np.ndarray, y: np.ndarray, seed: int, size_um: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Cells]:
    wx, wy = _bowed(x, y, seed, size_um)
    c = cells_at(wx, wy, seed, size_um, 0.9, 6, on_grid=True)
    wall = c.wall.astype(F32)
    d1 = c.d1.astype(F32)
    rmax = size_um * (0.86 + 0.12 * c.slot(2).astype(F32))
    mem = np.minimum(wall, rmax - d1)
    ang = np.arctan2((wy - c.sy).astype(F32), (wx - c.sx).astype(F32))
    return mem, wall, ang, d1, c


BOW = ((2.2, 0.35), (0.9, 0.12), (0.42, 0.07), (0.14, 0.012))
"""The warp of the cells' coordinates, as (scale, amplitude) in cell diameters: the
broad one varies the cells' shapes; the one at about half a cell's width bows each wall
(a wall is one cell wide, so a field that turns over within it curves it by a few µm, as
neighbours of unequal pressure push it); the fine one makes the thin walls a little wavy."""


def _bowed(x: np.ndarray, y: np.ndarray, seed: int, size_um: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The points displaced by the sum of the `BOW` fields (each as `warp` makes it),
    worked out at nodes (`smoothly`): even the fine field, 13 µm across, is interpolated
    to about 0.1 µm, as its amplitude is only a micrometre."""
    dx, dy = smoothly(x, y, lambda a, b: _shift(a, b, seed, size_um), FINE_UM)
    return x + dx, y + dy


def _shift(x: np.ndarray, y: np.ndarray, seed: int, size_um: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The displacement (µm, float32) by the `BOW` fields."""
    dx = np.zeros(np.shape(x), dtype=F32)
    dy = np.zeros(np.shape(y), dtype=F32)
    for k, (scale, amp) in enumerate(BOW):
        s = seed ^ (0xFA7 + 0x101 * k)
        nx, ny = noise_fields(x, y, (s, s ^ 0x5A5A), scale * size_um)
        a = F32(2 * amp * size_um)
        nx -= F32(0.5)
        nx *= a
        dx += nx
        ny -= F32(0.5)
        ny *= a
        dy += ny
    return dx, dy


LOBULE = 7.0
"""Spacing of the lobules (in cell diameters) that thin septa of connective tissue divide
the fat into."""


def _septal(c: Cells, seed: int, size_um: float) -> np.ndarray:
    """Whether each point's wall is part of a septum: its two cells belong to different
    lobules (a cell's lobule is the one its centre falls in)."""
    lob = cells_at(c.seed_x, c.seed_y, seed ^ 0x10B, LOBULE * size_um, 0.8, 2,
                   second=False).near
    return np.asarray(lob.take(c.near) != lob.take(c.near2))


def _cell_hash(c: Cells) -> np.ndarray:
    """Each lattice cell's hash (per cell of the table, gathered by the caller)."""
    return hash01(np.round(c.seed_x * 4), np.round(c.seed_y * 4))


@generator("adipose")
def adipose(canvas: Canvas, ctx: Ctx) -> None:
    """White fat (size_um = adipocyte diameter). Parts: lipid, rim, nucleus, rbc.
    Labels: fat, fat-rim, fat-nucleus, capillary, septum."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    size = float(np.mean(ctx.pop.size_um))
    X, Y = grid(w)
    mem, wall, ang, d1, cells = _fat_cells(X, Y, ctx.seed, size)
    # per-cell choices are made once per lattice cell, then looked up by each pixel
    ckey = np.floor(_cell_hash(cells) * 1e6)  # an integer key per cell
    near = cells.near

    def per_cell(k: int) -> np.ndarray:
        return hash01(ckey, k).take(near)

    half = 0.55 + 0.5 * per_cell(1)  # half the wall: one cell's rim, µm
    rim = np.where(mem < 0, 1.0, line(mem, 2 * half, px)) * (mem > -0.5)
    gap = np.clip(inside(mem + 0.5, px) * (wall > 0), 0, 1)  # where three cells meet
    # between lobules the two rims are a septum of collagen apart (3–8 µm in all)
    lipid = np.clip(1 - rim - gap, 0, 1)
    at = np.flatnonzero(_septal(cells, ctx.seed, size))  # a few % of the pixels
    wide = half.flat[at] + 1.5 + 2.5 * hash01(ckey, 5).take(near.flat[at])
    band = np.clip(line(mem.flat[at], 2 * wide, px) - rim.flat[at] - gap.flat[at], 0, 1)
    septum = np.zeros(lipid.shape, dtype=F32)
    septum.flat[at] = band
    lipid.flat[at] = np.clip(lipid.flat[at] - band, 0, 1)
    tint = 0.8 + 0.4 * texture(w, ctx.seed ^ 0x71, 2.0)
    put(canvas, layer, ctx.cls("rim"), rim * tint * 1.3, "fat-rim")
    put(canvas, layer, ctx.cls("rim"), gap * 0.35)
    put(canvas, layer, ctx.cls("lipid"), lipid * 0.5, "fat")
    put(canvas, layer, ctx.cls("septum"), septum * tint, "septum")
    # signet-ring nuclei: a lens pressed against the inside of the rim of about two cells in
    # five (the others are cut away from their nucleus)
    has = per_cell(2) < 0.4
    phin = 6.2832 * per_cell(3)
    hl = 7.0 + 4.0 * per_cell(4)  # half-length along the rim, µm
    arc = np.abs((ang - phin + np.pi) % (2 * np.pi) - np.pi) * d1
    thick = 2.6 * np.sqrt(np.clip(1 - (arc / hl) ** 2, 0, 1))
    depth = mem - half
    nuc = np.where(has & (mem > 0) & (arc < hl), inside(depth - thick, px), 0.0)
    nuc = np.clip(nuc - rim, 0, 1)
    chrom = 0.85 + 0.3 * texture(w, ctx.seed ^ 0x7C, 0.7)
    near_rim = inside(mem - 6.0, px)
    put(canvas, layer, ctx.cls("nucleus"), limited(nuc * chrom * 1.1, 0.02, 2.6, px) * near_rim,
        "fat-nucleus")
    if px > 2.5:  # red cells and endothelium below the pixel size: their area means
        rbc, hb = red_cells(canvas, ctx)
        put(canvas, layer, rbc, gap * (0.3 * hb))
        put(canvas, layer, ctx.cls("nucleus"), gap * 0.05)
    else:
        _capillaries(canvas, ctx, layer, z, size)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _capillaries(canvas: Canvas, ctx: Ctx, layer: int, z: float, size: float) -> None:
    """Red cells and endothelial nuclei in the spaces between three cells and, now and
    then, squeezed along a wall; flat fibroblast nuclei along the septa."""
    x, y, u = ctx.points(7.0, 6.0, 8)
    mem, wall, _ang, _d1, c = _fat_cells(x, y, ctx.seed, size)
    corner = (mem < -2.0) & (wall > 0)
    red = corner & (u[:, 2] < 0.3)
    rbc, hb = red_cells(canvas, ctx)
    if rbc and red.any():
        draw(canvas, rbc, x[red], y[red], 3.6, 3.2, 6.3 * u[red, 3], z_um=z,
             profile="biconcave", amount=hb, label="capillary")
    endo = corner & (u[:, 2] > 0.9)
    nuclei(canvas, layer, ctx.cls("nucleus"), x[endo], y[endo], 3.2, 1.5, 6.3 * u[endo, 3],
           u[endo], 1.0)
    # one fibroblast about every 60 µm of septum, its long axis along the wall (across the
    # line joining the two cells' centres)
    fib = _septal(c, ctx.seed, size) & (wall < 2.0) & (u[:, 4] < 0.2)
    if fib.any():
        across = np.arctan2(c.seed_y.take(c.near2) - c.sy, c.seed_x.take(c.near2) - c.sx)
        nuclei(canvas, layer, ctx.cls("nucleus"), x[fib], y[fib], 5.0, 1.2,
               across[fib] + np.pi / 2 + 0.2 * (u[fib, 5] - 0.5), u[fib], 1.0, "septum")

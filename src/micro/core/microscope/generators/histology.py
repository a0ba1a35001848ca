"""Shared tools of the organ generators.

The architecture of an organ is a pure function of slide position (lattices of lobules,
corpuscles or cells hashed from the slide seed), evaluated at pixel centres or at any list
of points, so every window at every objective shows the same tissue and tests can ask the
layout directly. Edges are anti-aliased and detail finer than a pixel is replaced by its
area mean (nothing aliases at 4×); nuclei are stamped with perturbed outlines and clumped
chromatin; the section itself varies in thickness, shows knife chatter and the odd fold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from micro.core.memory import memoized
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx
from micro.core.microscope.seeds import grid_step, nearest, nearest_on_grid

F32 = np.float32


def layer_of(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    """The depth layer (index, µm) a section population is drawn into."""
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


RED_CELL_DIAMETER_UM = 7.5
"""Mean red-cell diameter (REALISM.md): as deep as a red cell on edge reaches, and about
the width of a capillary, which its red cells pass in single file."""


def haemoglobin_path(section_um: float, cell_um: float) -> float:
    """The amount red cells in a tissue section are drawn at: how many flat red cells' worth
    of haemoglobin a ray crosses through them (amount 1 is one cell lying flat, `cell_um`
    thick, as in a blood smear's monolayer). In a section the red cells fill vessel lumina
    packed, overlapping and at every angle, so along the optical axis haemoglobin runs
    through the whole section — in the 4–5 µm sections of most organs, thinner than a cell
    on edge (`RED_CELL_DIAMETER_UM`) — or, in a thicker section, through a capillary's
    single-file lumen, about one cell diameter deep: min(section_um, 7.5 µm) / cell_um.
    A 5 µm section over the `rbc` class's 2.2 µm mean thickness (data/structures.json;
    Evans & Fung 1972: ~2.6 µm at the rim, ~1 µm at the centre) is 2.3 cells; a 10 µm
    section of fat 3.4. Never less than one cell."""
    return max(1.0, min(section_um, RED_CELL_DIAMETER_UM) / cell_um)


def red_cells(canvas: Canvas, ctx: Ctx) -> tuple[str | None, float]:
    """The population's red-cell class (part 'rbc'; None if it draws none) and the amount
    its red cells are drawn at in this section (`haemoglobin_path` of the specimen's
    thickness). Every tissue generator takes both from here; a blood smear (blood.py)
    draws its monolayer at one cell's path."""
    cls = ctx.cls("rbc")
    if cls is None:
        return None, 1.0
    return cls, haemoglobin_path(ctx.specimen.thickness_um, canvas.structures[cls].thickness_um)


def pack_red_cells(canvas: Canvas, ctx: Ctx, layer: int) -> None:
    """Red cells drawn overlapping (a lumen packed with them) hold no more haemoglobin along
    the axis than the section is thick: cap the layer's red-cell map at `haemoglobin_path`
    (before `section` scales everything by the local thickness). A packed lumen is then one
    red mass with the cells' outlines showing only where they leave a gap."""
    rbc, hb = red_cells(canvas, ctx)
    a = canvas.amounts.get((layer, rbc)) if rbc else None
    if a is not None:
        np.minimum(a, F32(hb), out=a)


def packed_lumen(canvas: Canvas, ctx: Ctx, cx: np.ndarray, cy: np.ndarray, r_um: np.ndarray,
                 fill: np.ndarray, z_um: float) -> None:
    """Red cells packing vessel lumina (centres cx, cy, radii r_um, µm): as many as tile the
    lumen at one per 5 µm square (Vogel's sunflower spiral, so neighbours overlap a little,
    as cells crowded in a fixed vessel do), a fraction `fill` (per vessel) of them present,
    each at its own angle, drawn at the section's path (`red_cells`; `pack_red_cells` caps
    where they overlap)."""
    rbc, hb = red_cells(canvas, ctx)
    if rbc is None or np.size(cx) == 0:
        return
    reach = np.maximum(r_um - 2.5, 0.5)[:, None]  # cells pressed to the wall
    n = (np.pi * reach**2 / 25.0 + 1.0).astype(np.int64)
    k = np.arange(int(n.max()))[None, :]
    kx, ky = np.floor(cx)[:, None], np.floor(cy)[:, None]
    keep = (k < n) & (hash01(kx, ky, k, 1) < fill[:, None])
    rr = reach * np.sqrt((k + 0.5) / n)
    ang = 2.39996 * k + 6.2832 * hash01(kx, ky, 2)
    draw(canvas, rbc, (cx[:, None] + rr * np.cos(ang))[keep],
         (cy[:, None] + rr * np.sin(ang))[keep], 3.6, 3.2,
         (6.2832 * hash01(kx, ky, k, 3))[keep], z_um=z_um, profile="biconcave", amount=hb)


def put(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
        label: str | None = None) -> None:
    """Add an amount map (any shape of H·W values, clipped at 0) to a class and a label.
    (Canvas.add and add_label copy what they keep, so one clipped float32 map serves both.)"""
    if cls is None and label is None:
        return
    a = np.asarray(amt)
    if a.size != canvas.npix:
        a = np.broadcast_to(a, (canvas.window.height, canvas.window.width))
    if a.dtype == F32:
        flat = np.maximum(a, F32(0.0)).ravel()
    else:
        flat = a.astype(F32).ravel()
        np.maximum(flat, F32(0.0), out=flat)
    if cls:
        canvas.add(layer, cls, flat)
    if label:
        canvas.add_label(label, flat)


def inside(sd_um: np.ndarray, px_um: float) -> np.ndarray:
    """Anti-aliased coverage of a region given the signed distance (µm, negative inside)."""
    return np.clip(0.5 - sd_um / px_um, 0.0, 1.0)


def line(dist_um: np.ndarray, width_um: np.ndarray | float, px_um: float) -> np.ndarray:
    """Area coverage of a band `width_um` wide centred on dist = 0 (a membrane, a septum):
    sharp-edged when wider than a pixel, otherwise spread over the pixel it crosses with its
    area kept (never aliased, never smeared over pixels it does not touch)."""
    w_eff = np.maximum(width_um, px_um)
    return np.clip((w_eff / 2 - np.abs(dist_um)) / px_um + 0.5, 0.0, 1.0) * (width_um / w_eff)


def hypot(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """√(x² + y²) in np.hypot's dtype, without its overflow guard: glibc's hypot costs
    about ten square roots in float64 (13 ms on a 512² image), and lengths in µm are far
    from overflowing."""
    dt = np.result_type(x, y)
    if not np.issubdtype(dt, np.floating):
        dt = np.dtype(np.float64)
    s = np.add(np.square(x, dtype=dt), np.square(y, dtype=dt))
    return np.sqrt(s, out=s) if isinstance(s, np.ndarray) else np.sqrt(s)


def detail(size_um: float, px_um: float) -> float:
    """How much of a feature of this size survives sampling at px_um: 1 when it spans two
    pixels or more, 0 when it is under half a pixel (its area mean is shown instead)."""
    return float(np.clip(size_um / px_um - 0.5, 0.0, 1.0))


def limited(value: np.ndarray, mean: float, size_um: float, px_um: float) -> np.ndarray:
    """Band-limit a fine pattern: blend it towards its area mean as pixels outgrow it."""
    f = detail(size_um, px_um)
    if f >= 1.0:
        return value
    return mean + f * (value - mean)


def noise_at(x: np.ndarray, y: np.ndarray, seed: int, scale_um: float) -> np.ndarray:
    """Smooth value noise in [0, 1] at arbitrary points (µm), cubic-eased between lattice
    corners `scale_um` apart. For detail finer than the pixels use `value_noise` on the
    window, which fades it out."""
    return noise_fields(x, y, (seed,), scale_um)[0]


def noise_fields(x: np.ndarray, y: np.ndarray, seeds: tuple[int, ...], scale_um: float
                 ) -> list[np.ndarray]:
    """`noise_at` for several seeds at the same points and scale: where the points fall in
    the lattice and their easing weights are worked out once for all of them."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if x.ndim == 2 and x.size and x.strides[0] == 0 and y.strides[1] == 0:
        return [_grid_noise(x[0], y[:, 0], s, scale_um) for s in seeds]
    if x.size == 0:
        return [np.zeros(x.shape, dtype=F32) for _ in seeds]
    fx = x / scale_um
    fy = y / scale_um
    i0f = np.floor(fx)
    j0f = np.floor(fy)
    tx = (fx - i0f).astype(F32)
    ty = (fy - j0f).astype(F32)
    del fx, fy
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ilo, jlo = int(i0f.min()), int(j0f.min())
    ncol = int(i0f.max()) + 2 - ilo
    nrow = int(j0f.max()) + 2 - jlo
    j0f -= jlo
    j0f *= ncol
    i0f -= ilo
    j0f += i0f
    k = j0f.astype(np.intp)  # the lower-left corner's index in the table
    del i0f, j0f
    gi, gj = np.meshgrid(np.arange(ilo, ilo + ncol), np.arange(jlo, jlo + nrow), indexing="xy")
    out = []
    for seed in seeds:
        tab = uniforms(seed, gi.ravel(), gj.ravel(), 1)[:, 0].astype(F32)
        top = tab.take(k)
        t = tab[1:].take(k)
        t -= top
        t *= tx
        top += t
        bot = tab[ncol:].take(k)
        tab[ncol + 1:].take(k, out=t)
        t -= bot
        t *= tx
        bot += t
        bot -= top
        bot *= ty
        bot += top
        out.append(bot)
    return out


def _grid_noise(xs: np.ndarray, ys: np.ndarray, seed: int, scale_um: float) -> np.ndarray:
    """`noise_at` on the grid xs (W,) × ys (H,) (a window's pixel centres): the table is
    interpolated along x once per lattice row, then between rows (the same arithmetic)."""
    fx, fy = xs / scale_um, ys / scale_um
    i0 = np.floor(fx).astype(np.int64)
    j0 = np.floor(fy).astype(np.int64)
    tx = (fx - i0).astype(F32)
    ty = (fy - j0).astype(F32)
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ilo, jlo = int(i0.min()), int(j0.min())
    ncol = int(i0.max()) + 2 - ilo
    nrow = int(j0.max()) + 2 - jlo
    tab = lattice_table(seed, ilo, jlo, ncol, nrow)
    a = i0 - ilo
    rows = tab[:, a] * (1 - tx) + tab[:, a + 1] * tx  # (nrow, W)
    b = j0 - jlo
    out = rows[b]
    out *= (1 - ty)[:, None]
    out += rows[b + 1] * ty[:, None]
    return out


TILE = 128
"""Lattice nodes per side of a cached block of lattice values (`lattice_table`)."""


@memoized("microscope.generators.histology.lattice_tile")
def _lattice_tile(seed: int, ti: int, tj: int) -> np.ndarray:
    """`uniforms(seed, i, j, 1)` of the TILE × TILE lattice nodes of block (ti, tj), float32,
    rows along j."""
    gi, gj = np.meshgrid(np.arange(ti * TILE, (ti + 1) * TILE),
                         np.arange(tj * TILE, (tj + 1) * TILE), indexing="xy")
    return uniforms(seed, gi.ravel(), gj.ravel(), 1)[:, 0].astype(F32).reshape(TILE, TILE)


def lattice_table(seed: int, ilo: int, jlo: int, ncol: int, nrow: int) -> np.ndarray:
    """The value-noise lattice of a seed over nodes ilo… × jlo… (float32 (nrow, ncol)),
    `uniforms(seed, i, j, 1)` assembled from blocks kept in `micro.core.memory`: a pan
    mostly reuses the blocks of the last view instead of hashing every node again."""
    out = np.empty((nrow, ncol), dtype=F32)
    for tj in range(jlo // TILE, (jlo + nrow - 1) // TILE + 1):
        j0, j1 = max(jlo, tj * TILE), min(jlo + nrow, (tj + 1) * TILE)
        for ti in range(ilo // TILE, (ilo + ncol - 1) // TILE + 1):
            i0, i1 = max(ilo, ti * TILE), min(ilo + ncol, (ti + 1) * TILE)
            tile = _lattice_tile(seed, ti, tj)
            out[j0 - jlo:j1 - jlo, i0 - ilo:i1 - ilo] = tile[j0 - tj * TILE:j1 - tj * TILE,
                                                            i0 - ti * TILE:i1 - ti * TILE]
    return out


def texture(w: Window, seed: int, scale_um: float) -> np.ndarray:
    """`raster.value_noise` (the same lattice values, interpolation and fading to 0.5 as
    pixels outgrow the scale) in float32, from cached lattice blocks (`lattice_table`)."""
    fade = min(1.0, scale_um / max(w.px_um, 1e-9))
    if fade < 0.5:  # the texture averages out inside a pixel
        return np.full((w.height, w.width), 0.5, dtype=F32)
    X, Y = w.grids()
    v = _grid_noise(X[0], Y[:, 0], seed, scale_um)
    if fade < 1.0:
        v -= F32(0.5)
        v *= F32(fade)
        v += F32(0.5)
    return v


def grid(w: Window, dx_um: float = 0.0, dy_um: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre slide coordinates (µm), shifted by (dx_um, dy_um): (H, W) float64 views
    of one row and one column (read-only; `noise_at` and `warp` see a grid and work
    separably)."""
    X, Y = w.grids()
    return (np.broadcast_to(X + dx_um, (w.height, w.width)),
            np.broadcast_to(Y + dy_um, (w.height, w.width)))


def warp(x: np.ndarray, y: np.ndarray, seed: int, scale_um: float, amp_um: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """Displace points by smooth noise (µm): straight lattice lines become gentle curves."""
    nx, ny = noise_fields(x, y, (seed, seed ^ 0x5A5A), scale_um)
    return x + (nx - 0.5) * (2 * amp_um), y + (ny - 0.5) * (2 * amp_um)


FINE_UM = 2.4
"""Node spacing (µm, at 1 µm pixels; it scales as the pixels' square root) for fields that
vary over 35–60 µm: interpolated, they are then within 0.05 pixel of exact."""
@dataclass(frozen=True)
class Nodes:
    """A window's pixel grid seen from a coarser grid of nodes fixed to the slide (every
    k pixels' width, at multiples of it in slide µm, so the same nodes serve every window
    at that pixel size): fields that vary only over many pixels are worked out at the
    nodes and interpolated bilinearly."""

    x: np.ndarray
    """(ny, nx) the nodes (µm), read-only views of one row and one column."""
    y: np.ndarray
    ix: np.ndarray
    """(W,) the node column left of each pixel column, and the pixel's fraction beyond."""
    ax: np.ndarray
    iy: np.ndarray
    """(H,) likewise for rows; ay is (H, 1)."""
    ay: np.ndarray

    def up(self, g: np.ndarray) -> np.ndarray:
        """The field g at the nodes (ny, nx), interpolated to the pixels (H, W), float32."""
        g = np.asarray(g, F32)
        b0 = g.take(self.ix, axis=1)
        bx = b0 + (g.take(self.ix + 1, axis=1) - b0) * self.ax  # along x, then y
        out = bx.take(self.iy, axis=0)
        out += (bx.take(self.iy + 1, axis=0) - out) * self.ay
        return out

    def at(self, g: np.ndarray, di: int, dj: int) -> np.ndarray:
        """The value at one of the four nodes round each pixel (no interpolation)."""
        return g.take(self.ix + di, axis=1).take(self.iy + dj, axis=0)

    def agree(self, g: np.ndarray) -> np.ndarray:
        """Whether the four nodes round each pixel hold the same value of g."""
        a = self.at(g, 0, 0)
        return (a == self.at(g, 1, 0)) & (a == self.at(g, 0, 1)) & (a == self.at(g, 1, 1))


def nodes_of(x: np.ndarray, y: np.ndarray, step_um: float) -> Nodes | None:
    """Nodes at most `step_um` apart (a whole number, ≥ 2, of pixels) for points x, y if
    they are a window's pixel grid (as `grid` makes it), else None."""
    if not (x.ndim == 2 and x.strides[0] == 0 and y.strides[1] == 0 and x.shape[1] > 8
            and y.shape[0] > 8):
        return None
    xs, ys = x[0], y[:, 0]
    px = float(xs[1] - xs[0])
    k = int(step_um / px)
    if k < 2:
        return None
    h = k * px
    mx0, my0 = int(np.floor(xs[0] / h)), int(np.floor(ys[0] / h))
    nx = int(np.floor(xs[-1] / h)) + 2 - mx0
    ny = int(np.floor(ys[-1] / h)) + 2 - my0
    gx = (np.arange(nx) + mx0) * h
    gy = (np.arange(ny) + my0) * h
    fx, fy = xs / h - mx0, ys / h - my0
    ix, iy = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
    return Nodes(np.broadcast_to(gx, (ny, nx)), np.broadcast_to(gy[:, None], (ny, nx)),
                 ix, (fx - ix).astype(F32), iy, (fy - iy).astype(F32)[:, None])


def smoothly(x: np.ndarray, y: np.ndarray, f: Callable[[np.ndarray, np.ndarray],
             tuple[np.ndarray, ...]], step_um: float) -> tuple[np.ndarray, ...]:
    """The fields f(x, y) — each smooth over `step_um` (at 1 µm pixels; see FINE_UM) — at
    points x, y: on a window's pixel grid worked out at nodes and interpolated, elsewhere
    exactly."""
    nodes = nodes_of(x, y, step_um * float(np.sqrt(abs(x[0, 1] - x[0, 0])))
                     if x.ndim == 2 and x.shape[1] > 1 else 0.0)
    if nodes is None:
        return f(x, y)
    return tuple(nodes.up(v) for v in f(nodes.x, nodes.y))


@dataclass(frozen=True)
class Cells:
    """Voronoi cells of a jittered square lattice, looked up at arbitrary points.

    Only the two distances are made up front; what a caller reads of the nearest cell
    (its seed, its uniforms, the wall's hash) is gathered on first use and kept."""

    d1: np.ndarray
    """Distance (µm) to the nearest seed."""
    d2: np.ndarray
    """Distance to the second nearest seed; (d2 − d1)/2 ≈ distance to the cell wall."""
    near: np.ndarray
    """int32 (…): the nearest cell, an index into `table`, `seed_x` and `seed_y`."""
    near2: np.ndarray
    """The second-nearest cell."""
    table: np.ndarray
    """(n, slots) per-cell uniforms of the lattice cells around the points."""
    seed_x: np.ndarray
    """(n,) each cell's seed (µm)."""
    seed_y: np.ndarray
    corner: tuple[int, int, int, int]
    """(i, j) of the table's first lattice cell, its columns and the lattice seed."""

    @functools.cached_property
    def sx(self) -> np.ndarray:
        """The nearest seed (µm)."""
        return self.seed_x.take(self.near)

    @functools.cached_property
    def sy(self) -> np.ndarray:
        return self.seed_y.take(self.near)

    @functools.cached_property
    def u(self) -> np.ndarray:
        """(…, slots) per-cell uniforms of the nearest cell (slots 0–1 are its jitter)."""
        return self.table[self.near]

    def slot(self, k: int) -> np.ndarray:
        """Uniform `k` of the nearest cell (…): `u[..., k]` without gathering every slot."""
        return self.table[:, k].take(self.near)

    @functools.cached_property
    def pair(self) -> np.ndarray:
        """Hash in [0, 1) of the wall between the nearest and second-nearest cells."""
        ilo, jlo, ncol, seed = self.corner
        # the wall's identity from the two cells' global lattice indices
        id1 = (ilo + self.near % ncol) * 100003.0 + (jlo + self.near // ncol)
        id2 = (ilo + self.near2 % ncol) * 100003.0 + (jlo + self.near2 // ncol)
        return hash01(np.minimum(id1, id2), np.maximum(id1, id2), seed % 65521)

    @property
    def wall(self) -> np.ndarray:
        return (self.d2 - self.d1) / 2


def cells_at(x: np.ndarray, y: np.ndarray, seed: int, spacing_um: float, jitter: float = 0.8,
             slots: int = 6, second: bool = True, *, on_grid: bool = False) -> Cells:
    """Nearest and second-nearest seeds of a jittered lattice (one seed per cell of
    `spacing_um`) at points x, y (µm, any shape). With `second` False only the nearest is
    found (cheaper): d2 is then inf and near2 the nearest, so `wall` and `pair` mean
    nothing. `on_grid`: x, y are (H, W) pixels of a window, perhaps smoothly warped (the
    search then runs on a coarser grid where the seeds are many pixels apart)."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if x.size == 0:
        e = np.zeros(x.shape, dtype=F32)
        z = np.zeros(x.shape, dtype=np.int32)
        return Cells(e, e, z, z, np.zeros((1, slots)), np.zeros(1), np.zeros(1),
                     (0, 0, 1, seed))
    k = grid_step(x, y, spacing_um, second) if on_grid else 0
    # the lattice cells the points reach (floor is monotonic: the extremes' cells)
    ilo = int(np.floor(x.min() / spacing_um)) - 1
    jlo = int(np.floor(y.min() / spacing_um)) - 1
    ncol = int(np.floor(x.max() / spacing_um)) + 2 - ilo
    nrow = int(np.floor(y.max() / spacing_um)) + 2 - jlo
    gi, gj = np.meshgrid(np.arange(ilo, ilo + ncol), np.arange(jlo, jlo + nrow), indexing="xy")
    tab = uniforms(seed, gi.ravel(), gj.ravel(), slots)
    seed_x = (gi.ravel() + 0.5 + (tab[:, 0] - 0.5) * jitter) * spacing_um
    seed_y = (gj.ravel() + 0.5 + (tab[:, 1] - 0.5) * jitter) * spacing_um
    ox, oy = ilo * spacing_um, jlo * spacing_um
    rx = (x - ox).astype(F32)
    ry = (y - oy).astype(F32)
    ssx = (seed_x - ox).astype(F32)
    ssy = (seed_y - oy).astype(F32)
    shape = x.shape
    d1 = np.full(shape, np.inf, dtype=F32)
    d2 = np.full(shape, np.inf, dtype=F32)
    near = np.zeros(shape, dtype=np.int32)
    near2 = np.zeros(shape, dtype=np.int32)
    if k:
        def base_of(at: tuple) -> np.ndarray:
            """The lattice cells of some of the points (as below, from the points)."""
            ci = np.floor(x[at] / spacing_um).astype(np.int64) - ilo
            cj = np.floor(y[at] / spacing_um).astype(np.int64) - jlo
            return (cj * ncol + ci).astype(np.int32)

        nearest_on_grid(rx, ry, ssx, ssy, base_of, ncol, d1, d2, near, near2, second, k)
    else:
        ci = np.floor(x / spacing_um).astype(np.int64)
        cj = np.floor(y / spacing_um).astype(np.int64)
        ci -= ilo
        cj -= jlo
        cj *= ncol
        cj += ci
        base = cj.astype(np.int32)
        del ci, cj
        nearest(rx.ravel(), ry.ravel(), ssx, ssy, base.ravel(), ncol, d1.reshape(-1),
                near.reshape(-1), d2.reshape(-1) if second else None,
                near2.reshape(-1) if second else None)
    if not second:
        near2 = near
    np.sqrt(d1, out=d1)
    np.sqrt(d2, out=d2)
    return Cells(d1, d2, near, near2, tab, seed_x, seed_y, (ilo, jlo, ncol, seed))


# --------------------------------------------------------------------------- stamps

def stamp_grid(w: Window, x: np.ndarray, y: np.ndarray, reach_um: float,
               radius_px: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local offsets (µm) u (n, 1, S), v (n, S, 1) of a square stamp around each point,
    the flat pixel index (n, S, S) and whether it lies in the window. The stamp reaches
    `radius_px` pixels either side of the point's pixel (default: one more than reach_um)."""
    R = int(np.ceil(reach_um / w.px_um)) + 1 if radius_px is None else radius_px
    cx, cy = w.to_px(x, y)
    fx, fy = np.floor(cx), np.floor(cy)
    offx = offy = np.arange(-R, R + 1)
    if np.size(x) == 1 and 2 * R + 1 > max(w.width, w.height):
        # a stamp wider than the window (a nucleus at very high magnification): only the
        # window's pixels, so the work is the window's, not the stamp's
        ix, iy = int(fx[0]), int(fy[0])
        offx = np.arange(max(-R, -ix), min(R, w.width - 1 - ix) + 1)
        offy = np.arange(max(-R, -iy), min(R, w.height - 1 - iy) + 1)
    u = ((offx[None, None, :] + (fx + 0.5 - cx)[:, None, None]) * w.px_um).astype(F32)
    v = ((offy[None, :, None] + (fy + 0.5 - cy)[:, None, None]) * w.px_um).astype(F32)
    gx = fx.astype(np.int64)[:, None, None] + offx[None, None, :]
    gy = fy.astype(np.int64)[:, None, None] + offy[None, :, None]
    ok = (gx >= 0) & (gx < w.width) & (gy >= 0) & (gy < w.height)
    return u, v, gy * w.width + gx, ok


def scatter(npix: int, idx: np.ndarray, ok: np.ndarray, val: np.ndarray) -> np.ndarray:
    return np.bincount(idx[ok], weights=val[ok], minlength=npix).astype(F32)


def nuclei(canvas: Canvas, layer: int, cls: str | None, x: np.ndarray, y: np.ndarray,
           a_um: np.ndarray | float, b_um: np.ndarray | float, theta: np.ndarray | float,
           u: np.ndarray, amount: np.ndarray | float = 1.0, label: str | None = None,
           nucleolus: str | None = None, vesicular: float = 0.0) -> None:
    """Nuclei with irregular outlines (2nd/3rd harmonics), clumped chromatin that gathers
    at the envelope, and optionally a nucleolus. a, b: semi-axes (µm) along/across theta;
    u: (n, ≥6) per-nucleus uniforms; `vesicular` (0–1) empties the centre (open chromatin
    of large active nuclei: hepatocytes, neurons). Uptake varies ±15 % per nucleus."""
    if cls is None or np.size(x) == 0:
        return
    w = canvas.window
    n = np.size(x)
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    a = np.broadcast_to(np.asarray(a_um, dtype=np.float64), (n,))
    b = np.broadcast_to(np.asarray(b_um, dtype=np.float64), (n,))
    th = np.broadcast_to(np.asarray(theta, dtype=np.float64), (n,))
    amt = np.broadcast_to(np.asarray(amount, dtype=np.float64), (n,)) * (0.85 + 0.3 * u[:, 2])
    reach = float(np.max(a)) * 1.2 + w.px_um
    margin = reach + 2 * w.px_um
    vis = ((x > w.x0_um - margin) & (x < w.x0_um + w.width_um + margin)
           & (y > w.y0_um - margin) & (y < w.y0_um + w.height_um + margin))
    if not vis.any():
        return
    x, y, a, b, th, amt, u = x[vis], y[vis], a[vis], b[vis], th[vis], amt[vis], u[vis]
    S = (2 * int(np.ceil(reach / w.px_um)) + 3) ** 2
    chunk = max(1, 300_000 // S)
    # the stamp covers every pixel whose centre can be inside a nucleus' anti-aliased edge:
    # the outline reaches 1.12 × its radius (harmonics) plus half a pixel of edge, measured
    # along the short axis; a pixel at offset k has its centre k − ½ pixels away or more
    short = np.maximum(np.minimum(a, b), 1e-6)
    edge_um = float(np.max(np.maximum(a, b) * (1.0 + 0.5 * w.px_um / short)))
    R = int(np.floor(1.12 * 1.01 * edge_um / w.px_um + 0.5))
    acc = np.zeros(canvas.npix, dtype=F32)
    acc_n = np.zeros(canvas.npix, dtype=F32) if nucleolus else None
    k_chrom = 2 * np.pi / 1.4
    f_chrom = detail(0.7, w.px_um)
    for s in range(0, x.size, chunk):
        sl = slice(s, s + chunk)
        uu, vv, idx, ok = stamp_grid(w, x[sl], y[sl], reach, R)
        c = np.cos(th[sl]).astype(F32)[:, None, None]
        sn = np.sin(th[sl]).astype(F32)[:, None, None]
        A = a[sl].astype(F32)[:, None, None]
        B = b[sl].astype(F32)[:, None, None]
        p = (uu * c + vv * sn) / A
        q = (vv * c - uu * sn) / B
        phi = np.arctan2(q, p)
        g = u[sl].astype(F32)
        wob = (1 + 0.07 * g[:, 3, None, None] * np.cos(2 * phi + 6.3 * g[:, 4, None, None])
               + 0.05 * g[:, 5, None, None] * np.cos(3 * phi + 6.3 * g[:, 3, None, None]))
        rho = np.sqrt(p * p + q * q) / wob
        edge = np.clip((1 - rho) * np.minimum(A, B) / w.px_um + 0.5, 0, 1)
        r1 = np.minimum(rho, 1)
        body = np.sqrt(1 - r1 * r1) * (1 - 0.6 * vesicular) + 0.9 * np.exp(
            -((1 - r1) / 0.18) ** 2) * (0.4 + vesicular)
        if f_chrom > 0:
            ph = 6.283 * g[:, 4, None, None]
            clump = (np.cos(k_chrom * (uu * 0.8 + vv * 0.6) + ph)
                     * np.cos(k_chrom * (uu * -0.5 + vv * 0.87) + 2 * ph)
                     + np.cos(k_chrom * 1.3 * (uu * 0.2 - vv * 0.98) + 3 * ph))
            body = body * (1 + 0.35 * f_chrom * clump)
        val = edge * body * amt[sl].astype(F32)[:, None, None]
        acc += scatter(canvas.npix, idx, ok, val)
        if acc_n is not None:
            ox = 0.3 * (g[:, 5, None, None] - 0.5)
            rn = hypot(p - ox, q + ox) * np.minimum(A, B)
            dot = np.clip((0.9 - rn) / w.px_um + 0.5, 0, 1) * edge
            acc_n += scatter(canvas.npix, idx, ok, dot * (0.5 + vesicular))
    canvas.add(layer, cls, acc)
    if label:
        canvas.add_label(label, acc)
    if acc_n is not None and nucleolus:
        canvas.add(layer, nucleolus, acc_n)


# --------------------------------------------------------------------------- the section

def section(canvas: Canvas, layer: int, seed: int, chatter_um: float = 40.0,
            fold_every_um: float = 4000.0) -> np.ndarray:
    """Scale everything drawn in `layer` by the local section thickness (relative, returned
    (H, W)): ±12 % over a few hundred µm, knife chatter (bands of thick and thin across the
    cut direction, `chatter_um` apart, in some stretches only) and now and then a fold (a
    strip where the section lies doubled). Labels are left as drawn."""
    w = canvas.window
    X, Y = grid(w)
    xs, ys = X[0], Y[:, 0]
    t = noise_at(X, Y, seed ^ 0x7A1C, 350.0)
    t -= F32(0.5)
    t *= F32(0.24)
    t += F32(1.0)
    f = detail(chatter_um / 2, w.px_um)
    if f > 0:
        gate = noise_at(X, Y, seed ^ 0xC4A7, 600.0)
        gate -= F32(0.55)
        gate *= F32(6)
        np.clip(gate, 0, 1, out=gate)
        if gate.any():  # chatter only in some stretches: the waves where it shows
            # sin(a x + b y) = sin(a x) cos(b y) + cos(a x) sin(b y): one row and one column
            ax = 2 * np.pi * xs * 0.94 / chatter_um
            by = 2 * np.pi * ys * 0.34 / chatter_um
            wave = (np.sin(ax).astype(F32)[None, :] * np.cos(by).astype(F32)[:, None])
            wave += np.cos(ax).astype(F32)[None, :] * np.sin(by).astype(F32)[:, None]
            wave *= gate
            wave *= F32(0.08 * f)
            t += wave
    # folds: one candidate line per lattice cell of fold_every_um (half of them present), a
    # strip 15–40 µm wide tapering at its ends; only the few cells near the window are tried
    L = fold_every_um
    fold = np.zeros(t.shape, F32)
    i0, i1 = int(np.floor((w.x0_um - L) / L)), int(np.floor((w.x0_um + w.width_um + L) / L))
    j0, j1 = int(np.floor((w.y0_um - L) / L)), int(np.floor((w.y0_um + w.height_um + L) / L))
    gi, gj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="xy")
    fu = uniforms(seed ^ 0xF01D, gi.ravel(), gj.ravel(), 5)
    fx = (gi.ravel() + 0.1 + 0.8 * fu[:, 0]) * L
    fy = (gj.ravel() + 0.1 + 0.8 * fu[:, 1]) * L
    half = 0.3 * L
    for k in np.nonzero(fu[:, 4] < 0.5)[0]:
        if (fx[k] + half < w.x0_um or fx[k] - half > w.x0_um + w.width_um
                or fy[k] + half < w.y0_um or fy[k] - half > w.y0_um + w.height_um):
            continue
        ang = np.pi * fu[k, 2]
        rx, ry = (xs - fx[k]).astype(F32)[None, :], (ys - fy[k]).astype(F32)[:, None]
        dist = np.abs(rx * F32(np.sin(ang)) - ry * F32(np.cos(ang)))
        along = np.abs(rx * F32(np.cos(ang)) + ry * F32(np.sin(ang)))
        taper = np.sqrt(np.clip(1 - (along / F32(half)) ** 2, 0, 1))
        width = (F32(15.0 + 25.0 * fu[k, 3])) * taper
        fold = np.maximum(fold, inside(dist - width / 2, w.px_um))
    t = (t + fold * 0.9).astype(F32)
    flat = t.ravel()
    for (li, _cls), arr in canvas.amounts.items():
        if li == layer:
            arr *= flat
    return t


def hash01(*keys: np.ndarray | int | float, after: HashPrefix | None = None) -> np.ndarray:
    """Cheap deterministic hash of integer- or half-integer-valued keys to [0, 1), for
    per-structure choices inside an architecture (which cord branches, which cell holds two
    nuclei). 32-bit multiply–xorshift mixing; keys are taken modulo 2³¹. `after`: the keys
    before these, absorbed once by `hash_prefix` (hash01(a, b) == hash01(b,
    after=hash_prefix(a))), for several hashes that share their first keys. Works in place
    on one uint32 array (fresh full-size temporaries cost more here than the arithmetic)."""
    if after is None:
        shape = np.broadcast_shapes(*(np.shape(k) for k in keys))
        if shape == ():
            return _hash01_scalar(*keys)
        h = np.full(shape, 0x5BD1E995, dtype=np.uint32)
        k0 = 0
    else:
        shape = np.broadcast_shapes(after.state.shape, *(np.shape(k) for k in keys))
        h = np.array(np.broadcast_to(after.state, shape), dtype=np.uint32)
        k0 = after.n
    scratch = np.empty(shape, dtype=np.uint32)
    _absorb(h, scratch, keys, k0)
    _mix(h, scratch, np.uint32(0x2C1B3C6D), 12)
    _mix(h, scratch, np.uint32(0x297A2D39), 15)
    out = h.astype(np.float64)
    out *= 1.0 / 4294967296.0
    return out


@dataclass(frozen=True)
class HashPrefix:
    """The state of `hash01` after its first keys (see `hash_prefix`)."""

    state: np.ndarray
    n: int


def hash_prefix(*keys: np.ndarray | int | float) -> HashPrefix:
    """Absorb the first keys of several `hash01` calls once (pass it as `after=`)."""
    shape = np.broadcast_shapes(*(np.shape(k) for k in keys))
    h = np.full(shape, 0x5BD1E995, dtype=np.uint32)
    _absorb(h, np.empty(shape, dtype=np.uint32), keys, 0)
    return HashPrefix(h, len(keys))


def _absorb(h: np.ndarray, scratch: np.ndarray, keys: tuple, k0: int) -> None:
    """Mix keys (positions k0, k0 + 1, ...) into the state h, in place."""
    wide = None
    for k, key in enumerate(keys, start=k0):
        if isinstance(key, (int, float, np.integer, np.floating)):
            np.bitwise_xor(h, np.uint32(int(key * 2) % 4294967296), out=h)
        else:
            # twice the key, truncated to int64 (half-integers stay distinct); its low 32
            # bits are what the xor keeps
            if np.shape(key) == h.shape:
                if wide is None:
                    wide = np.empty(h.shape, dtype=np.int64)
                np.multiply(key, 2, out=wide, casting="unsafe")
                np.bitwise_xor(h, wide, out=h, casting="unsafe")
            else:
                np.bitwise_xor(h, (np.asarray(key) * 2).astype(np.int64), out=h,
                               casting="unsafe")
        _mix(h, scratch, np.uint32((0x9E3779B1 + 0x6A09E667 * k) & 0xFFFFFFFF), 15)


def _mix(h: np.ndarray, scratch: np.ndarray, mul: np.uint32, shift: int) -> None:
    """h ← h · mul (mod 2³²); h ← h ^ (h >> shift), in place."""
    np.multiply(h, mul, out=h, casting="unsafe")
    np.right_shift(h, np.uint32(shift), out=scratch)
    np.bitwise_xor(h, scratch, out=h)


def _hash01_scalar(*keys: int | float | np.ndarray) -> np.ndarray:
    """`hash01` of scalar keys (a 0-d array)."""
    h = np.uint32(0x5BD1E995)
    for k, key in enumerate(keys):
        v = np.uint32(int(np.asarray(key) * 2) % 4294967296)
        h = np.bitwise_xor(h, v)
        h = np.multiply(h, np.uint32((0x9E3779B1 + 0x6A09E667 * k) & 0xFFFFFFFF),
                        dtype=np.uint32, casting="unsafe")
        h = h ^ (h >> np.uint32(15))
    h = np.multiply(h, np.uint32(0x2C1B3C6D), dtype=np.uint32, casting="unsafe")
    h = h ^ (h >> np.uint32(12))
    h = np.multiply(h, np.uint32(0x297A2D39), dtype=np.uint32, casting="unsafe")
    h = h ^ (h >> np.uint32(15))
    return np.asarray(h).astype(np.float64) * (1.0 / 4294967296.0)

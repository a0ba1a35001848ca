"""Cells at electron-microscope scale in an ultrathin (~70 nm) section, with real
dimensions: every membrane is a trilaminar unit membrane (two 2.5 nm osmiophilic leaflets
round a 3 nm light core, 7–9 nm in all); plasma membranes of neighbouring cells face each
other across a 20 nm cleft; the nucleus has a double envelope (a 20–40 nm perinuclear
space) interrupted by nuclear pores, heterochromatin clumped along it, euchromatin and a
nucleolus; mitochondria have an outer and an inner membrane with lamellar cristae
folding into a granular matrix; rough ER is stacks of flattened cisternae (lumen ~50 nm)
studded with 25 nm ribosomes on their cytosolic faces; free polysomes and glycogen
rosettes fill the cytoplasm.

Amounts are the fraction of each pixel a structure covers in projection, times the path
it takes through the section relative to its class's thickness (a membrane cut
perpendicularly runs through the whole section), so mass-thickness comes out right.
"""

from __future__ import annotations

import numpy as np

from micro.core.genparams import TemCellsParams
from micro.core.microscope.generators.plants import worley_at
from micro.core.microscope.generators.relief import blur_px, ragged_boxes
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, band, value_noise, worley
from micro.core.microscope.registry import Ctx, generator

LEAFLET_UM = 0.0025
"""Osmiophilic leaflet of a unit membrane."""
LEAFLET_OFFSET_UM = 0.00275
"""Leaflet centre from the bilayer's mid-plane: 2.5 + 3 + 2.5 nm = 8 nm."""
CLEFT_UM = 0.020
PERINUCLEAR_UM = 0.030
PORE_SPACING_UM = 0.22
PORE_WIDTH_UM = 0.09
RIBOSOME_UM = 0.025


def unit_membrane(dist_um: np.ndarray, px: float) -> np.ndarray:
    """Amount of a bilayer whose mid-plane lies at distance 0: two leaflets, which merge
    into one dark line once the pixel is wider than the bilayer (area-averaged)."""
    return (band(dist_um - LEAFLET_OFFSET_UM, LEAFLET_UM, px)
            + band(dist_um + LEAFLET_OFFSET_UM, LEAFLET_UM, px))


def _path(canvas: Canvas, cls: str, section_um: float) -> float:
    """Path through the section of a structure that crosses it (relative to the class's
    own thickness, which caps the path in the coefficients)."""
    t = canvas.structures[cls].thickness_um
    return max(1.0, section_um / max(min(t, section_um), 1e-6))


@generator("tem-cells")
def tem_cells(canvas: Canvas, ctx: Ctx) -> None:
    """Params: cell_um (cell diameter), nucleus_frac, mito_spacing_um, rer_spacing_um.
    Parts: cytoplasm, membrane, nucleus, heterochromatin, nucleolus, mitochondrion,
    ribosome, glycogen."""
    w = canvas.window
    px = w.px_um
    section = ctx.specimen.thickness_um
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    cell = ctx.params(TemCellsParams).cell_um
    if px > cell / 4:  # whole cells far below a pixel: the tissue's mean composition
        _tissue_average(canvas, ctx, layer, cell, section)
        return
    args = (ctx.seed, cell, 1.0, 0.0, 0.8, 6)
    d1, d2, near, table, seeds = _cells(w, *args)
    lab = ctx.pop.label
    mem = ctx.cls("membrane")
    k_mem = _path(canvas, mem, section) if mem else 1.0
    # cell borders meander (no straight Voronoi edges): perturb the bisector distance
    # float32 from here on: distances are µm within a cell (float32 keeps 1e-7 relative)
    f = value_noise(w, ctx.seed ^ 21, 2.0).astype(np.float32)
    f -= 0.5
    f *= 0.12
    wobble = value_noise(w, ctx.seed ^ 22, 0.5).astype(np.float32)
    wobble -= 0.5
    wobble *= 0.04
    f += wobble
    f += (d2 - d1) / 2
    gy, gx = np.gradient(f, px)
    slope = np.sqrt(gx * gx + gy * gy)
    edge = np.abs(f) / np.maximum(slope, 0.3)  # distance from the moved border
    half = CLEFT_UM / 2 + LEAFLET_OFFSET_UM + LEAFLET_UM / 2
    membranes = unit_membrane(edge - half, px)  # one bilayer each side of the cleft
    # nucleus: a lobed outline round each cell's seed
    nf = ctx.params(TemCellsParams).nucleus_frac
    X, Y = w.grids()
    # per-cell columns gathered by each pixel's cell (a contiguous column takes faster)
    sx, sy = (np.ascontiguousarray(c).take(near) for c in seeds.T)
    dx, dy = (X - sx).astype(np.float32), (Y - sy).astype(np.float32)
    ang = np.arctan2(dy, dx)
    tab = np.ascontiguousarray(table.T[2:5], dtype=np.float32)  # slots 2, 3, 4
    ph = tab[1].take(near) * np.float32(2 * np.pi)
    rn = np.float32(cell * nf) * (0.85 + 0.3 * tab[0].take(near)) * (
        1.0 + 0.05 * np.sin(2 * ang + ph) + 0.03 * np.sin(3 * ang + 2 * ph))
    dn = d1 - rn  # < 0 inside the nucleus
    # pores: gaps in the envelope every ~0.22 µm of its circumference
    s = ang * rn / np.float32(PORE_SPACING_UM) + tab[2].take(near) * 7.0
    site = np.rint(s)
    to_pore = np.abs(s - site) * PORE_SPACING_UM
    # not at every site: site mod 3 ≠ 1 (by floor: float `%` costs as much as the rest)
    open_site = site - 3 * np.floor(site / 3) != 1
    pore = (to_pore < PORE_WIDTH_UM / 2) & open_site
    envelope = (unit_membrane(dn + LEAFLET_OFFSET_UM + LEAFLET_UM, px)
                + unit_membrane(dn - PERINUCLEAR_UM, px)) * ~pore
    pore_complex = pore * band(dn - PERINUCLEAR_UM / 2, PERINUCLEAR_UM + 0.01, px)
    if mem:
        canvas.add(layer, mem, ((membranes + envelope) * k_mem).ravel().astype(np.float32))
    inside_n = np.clip(-dn / px + 0.5, 0.0, 1.0)
    # organelles drawn below take their space from the cytoplasm
    taken = np.zeros(w.height * w.width, dtype=np.float32)
    _mitochondria(canvas, ctx, layer, args, section, taken)
    _rough_er(canvas, ctx, layer, args, section, taken)
    cyt = ctx.cls("cytoplasm")
    if cyt:
        grain = 1.0 + 0.08 * fine_grain(w, ctx.seed ^ 3, 0.012)
        amt = (1.0 - inside_n) * np.clip(1.0 - taken.reshape(w.height, w.width), 0, 1) * grain
        canvas.add(layer, cyt, amt.ravel().astype(np.float32))
        canvas.add_label(lab + "-cytoplasm", amt.ravel().astype(np.float32))
    nuc, het = ctx.cls("nucleus"), ctx.cls("heterochromatin")
    hc = _heterochromatin(w, ctx.seed, dn, to_pore, open_site, inside_n)
    if nuc:
        eu = 0.45 + 0.05 * fine_grain(w, ctx.seed ^ 4, 0.02)
        amt = inside_n * eu * (1.0 - hc)
        amt += pore_complex * 0.8
        canvas.add(layer, nuc, amt.ravel().astype(np.float32))
        canvas.add_label(lab + "-nucleus", (inside_n).ravel().astype(np.float32))
    if het:
        amt = 0.6 * hc
        canvas.add(layer, het, amt.ravel().astype(np.float32))
    nucl = ctx.cls("nucleolus")
    if nucl:
        ids = np.flatnonzero(np.bincount(near.ravel(), minlength=len(seeds)))
        r0 = cell * nf
        draw(canvas, nucl, seeds[ids, 0] + 0.3 * r0, seeds[ids, 1] - 0.1 * r0, 0.75, 0.6,
             z_um=z, profile="dome", amount=0.6, label=lab + "-nucleolus")
    _cytosol_particles(canvas, ctx, z, args, taken + inside_n.ravel().astype(np.float32))


def _tissue_average(canvas: Canvas, ctx: Ctx, layer: int, cell: float,
                    section: float) -> None:
    """Mean amount of every part over a field of many cells (an ultrathin section seen at
    a magnification where a cell is a fraction of a pixel): area fractions from the same
    sizes and densities the resolved path draws."""
    nf = ctx.params(TemCellsParams).nucleus_frac
    f_nuc = np.pi * nf * nf  # one nucleus of radius nf·cell per cell area cell²
    ms = ctx.params(TemCellsParams).mito_spacing_um
    f_mito = 0.55 * (0.3 * 1.25 + np.pi * 0.17**2) / ms**2 * (1 - f_nuc)
    f_cyt = max(1.0 - f_nuc - f_mito, 0.0)
    mem = ctx.cls("membrane")
    parts = {
        "cytoplasm": f_cyt,
        "nucleus": f_nuc * 0.45 * 0.75,
        "heterochromatin": f_nuc * 0.25 * 0.6,
        "mitochondrion": f_mito * 0.8,
        "ribosome": f_cyt * 0.8 * 5 * np.pi * (RIBOSOME_UM / 2) ** 2 / 0.09**2 * 0.35,
        "glycogen": f_cyt * 0.3 * 7 * np.pi * 0.012**2 / 0.35**2 * 0.8,
    }
    if mem:  # borders (two bilayers), envelopes (two), cristae: ~6 µm of bilayer per µm²
        length_per_um2 = 2 * 3.46 / cell + 2 * 2 * nf * np.pi * cell / cell**2 + 6.0 * f_mito
        parts["membrane"] = length_per_um2 * 2 * LEAFLET_UM * _path(canvas, mem, section)
    n = canvas.window.height * canvas.window.width
    for part, amount in parts.items():
        cls = ctx.cls(part)
        if cls:
            canvas.add(layer, cls, np.full(n, amount, dtype=np.float32))


def _heterochromatin(w: Window, seed: int, dn: np.ndarray, to_pore: np.ndarray,
                     open_site: np.ndarray, inside_n: np.ndarray) -> np.ndarray:
    """Fraction of the nucleus that is heterochromatin (0–1): a dense rim along the
    envelope, broken at the pores (`to_pore` µm from the nearest pore site, `open_site`
    where that site has a pore), and a few clumps inside."""
    n1 = value_noise(w, seed ^ 5, 0.6).astype(np.float32, copy=False)
    n2 = value_noise(w, seed ^ 6, 0.2).astype(np.float32, copy=False)
    clump = np.clip((n1 + 0.5 * n2 - 0.95) / 0.06, 0.0, 1.0)
    # the peripheral layer: 40–200 nm thick, thinning into light channels under the pores
    channel = np.clip(1.0 - to_pore / (PORE_WIDTH_UM * 0.7), 0.0, 1.0) * open_site
    depth = (0.04 + 0.16 * n1 * n1) * (1.0 - 0.8 * channel)
    rim = np.clip((dn + depth) / 0.025, 0.0, 1.0)
    return np.maximum(rim, clump) * inside_n


def fine_grain(w: Window, seed: int, scale_um: float) -> np.ndarray:
    """Isotropic granular texture of unit variance at `scale_um` (stained protein and
    resin), fading as the pixel outgrows the grain (its average over a pixel tends to the
    mean). Statistical, seeded from the window: fine grain is not followed between
    magnifications, as it cannot be told apart anyway."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, round(w.x0_um / w.px_um) & 0xFFFFFFFF,
                                 round(w.y0_um / w.px_um) & 0xFFFFFFFF,
                                 round(w.px_um * 1e7) & 0xFFFFFFFF])
    g = rng.standard_normal((w.height, w.width), dtype=np.float32)
    sigma = scale_um / w.px_um
    if sigma > 0.3:
        g = blur_px(g, sigma)
        g *= np.float32(2 * np.sqrt(np.pi) * sigma)  # back to unit variance
    return g * np.float32(min(1.0, sigma))


MAX_BLOCKS = 64
"""`_cells` takes the block path up to this many lattice cells over the window."""


def _cells(w: Window, seed: int, spacing: float, aspect: float, angle: float, jitter: float,
           slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`raster.worley` (same arguments, bit for bit the same answer) for cells much larger
    than the window's pixels in an unturned lattice: each lattice cell covers a rectangle of
    pixels whose nine candidate seeds are the same, and a squared distance there is a row
    term plus a column term, so no per-pixel gathers are needed."""
    if angle != 0.0:
        return worley(w, seed, spacing, aspect, angle, jitter, slots)
    X, Y = w.grids()
    U, V = X[0] / aspect, Y[:, 0]  # the frame of `raster.seed_lattice`, unturned
    ci = np.floor(U / spacing).astype(np.int64)
    cj = np.floor(V / spacing).astype(np.int64)
    i_lo, i_hi = int(ci.min()) - 1, int(ci.max()) + 1
    j_lo, j_hi = int(cj.min()) - 1, int(cj.max()) + 1
    if (i_hi - i_lo - 1) * (j_hi - j_lo - 1) > MAX_BLOCKS:
        return worley(w, seed, spacing, aspect, angle, jitter, slots)
    gi, gj = np.meshgrid(np.arange(i_lo, i_hi + 1), np.arange(j_lo, j_hi + 1), indexing="xy")
    ncols = i_hi - i_lo + 1
    table = uniforms(seed, gi.ravel(), gj.ravel(), slots)
    su = (gi.ravel() + 0.5 + (table[:, 0] - 0.5) * jitter) * spacing
    sv = (gj.ravel() + 0.5 + (table[:, 1] - 0.5) * jitter) * spacing
    u0, v0 = i_lo * spacing, j_lo * spacing
    ca, sa = np.cos(angle), np.sin(angle)
    seeds = np.stack([su * aspect * ca - sv * sa, su * aspect * sa + sv * ca], axis=1)
    u = ((U - u0) * aspect).astype(np.float32)
    v = (V - v0).astype(np.float32)
    seed_u = ((su - u0) * aspect).astype(np.float32)
    seed_v = (sv - v0).astype(np.float32)
    d1 = np.full((w.height, w.width), np.inf, dtype=np.float32)
    d2 = np.full((w.height, w.width), np.inf, dtype=np.float32)
    near = np.zeros((w.height, w.width), dtype=np.int32)
    col_starts = np.flatnonzero(np.diff(ci, prepend=ci[0] - 1))
    row_starts = np.flatnonzero(np.diff(cj, prepend=cj[0] - 1))
    for r0, r1 in zip(row_starts, [*row_starts[1:], w.height], strict=True):
        for c0, c1 in zip(col_starts, [*col_starts[1:], w.width], strict=True):
            base = (int(cj[r0]) - j_lo) * ncols + int(ci[c0]) - i_lo
            a1, a2, nn = d1[r0:r1, c0:c1], d2[r0:r1, c0:c1], near[r0:r1, c0:c1]
            dd = np.empty(a1.shape, dtype=np.float32)
            tt = np.empty(a1.shape, dtype=np.float32)
            cl = np.empty(a1.shape, dtype=bool)
            for di in (-1, 0, 1):  # the order of `raster.worley` (the nearer wins a tie)
                for dj in (-1, 0, 1):
                    k = base + dj * ncols + di
                    du = np.square(u[c0:c1] - seed_u[k])
                    dv = np.square(v[r0:r1] - seed_v[k])
                    if du.min() + dv.min() >= a2.max():
                        continue  # nearer to no pixel than its second-nearest seed so far
                    np.add(du[None, :], dv[:, None], out=dd)
                    np.maximum(a1, dd, out=tt)
                    np.minimum(a2, tt, out=a2)
                    np.less(dd, a1, out=cl)
                    np.copyto(nn, np.int32(k), where=cl)
                    np.minimum(a1, dd, out=a1)
    np.sqrt(d1, out=d1)
    np.sqrt(d2, out=d2)
    return d1, d2, near, table, seeds


def _cells_at(x: np.ndarray, y: np.ndarray, seed: int, spacing: float, aspect: float,
              angle: float, jitter: float, slots: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`plants.worley_at` (bit for bit: d1, d2 and the nearest cell's uniforms) for many
    points among few cells: each lattice cell's seed is hashed once, not once per point."""
    if x.size == 0:
        e1, e2, t, _ = worley_at(x, y, seed, spacing, aspect, angle, jitter, slots)
        return e1, e2, t
    ca, sa = np.cos(angle), np.sin(angle)
    U = (x * ca + y * sa) / aspect
    V = -x * sa + y * ca
    ci = np.floor(U / spacing).astype(np.int64)
    cj = np.floor(V / spacing).astype(np.int64)
    i_lo, j_lo = int(ci.min()) - 1, int(cj.min()) - 1
    ni, nj = int(ci.max()) + 2 - i_lo, int(cj.max()) + 2 - j_lo
    if ni * nj > x.size:  # points as sparse as the cells: hash per point
        e1, e2, t, _ = worley_at(x, y, seed, spacing, aspect, angle, jitter, slots)
        return e1, e2, t
    gi, gj = np.meshgrid(np.arange(i_lo, i_lo + ni), np.arange(j_lo, j_lo + nj),
                         indexing="xy")
    table = uniforms(seed, gi.ravel(), gj.ravel(), slots)
    su = (gi.ravel() + 0.5 + (table[:, 0] - 0.5) * jitter) * spacing
    sv = (gj.ravel() + 0.5 + (table[:, 1] - 0.5) * jitter) * spacing
    base = (cj - j_lo) * ni + (ci - i_lo)
    d1 = np.full(x.shape, np.inf)
    d2 = np.full(x.shape, np.inf)
    best = np.zeros(x.shape, dtype=np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            k = base + (dj * ni + di)
            d = np.hypot((U - su[k]) * aspect, V - sv[k])
            closer = d < d1
            d2 = np.where(closer, d1, np.minimum(d2, d))
            d1 = np.where(closer, d, d1)
            best = np.where(closer, k, best)
    return d1, d2, table[best]


def _inside_cytoplasm(x: np.ndarray, y: np.ndarray, args: tuple, nf: float,
                      margin_n: float, margin_m: float) -> np.ndarray:
    e1, e2, t = _cells_at(x, y, *args)
    rnuc = args[1] * nf * (0.85 + 0.3 * t[:, 2])
    return (e1 > rnuc * 1.08 + margin_n) & ((e2 - e1) / 2 > margin_m)


def _mitochondria(canvas: Canvas, ctx: Ctx, layer: int, args: tuple, section: float,
                  taken: np.ndarray) -> np.ndarray | None:
    """Capsules 0.25–0.45 µm wide and 0.5–2 µm long: outer membrane, inner membrane 8 nm
    inside it, lamellar cristae (two membranes round a 20 nm intracristal space) reaching
    in from either side, and a granular matrix with a few dense granules."""
    mito, mem = ctx.cls("mitochondrion"), ctx.cls("membrane")
    w = canvas.window
    px = w.px_um
    nf = ctx.params(TemCellsParams).nucleus_frac
    x, y, u = ctx.points(ctx.params(TemCellsParams).mito_spacing_um, 2.0, 12)
    ok = _inside_cytoplasm(x, y, args, nf, 0.5, 0.7) & (u[:, 2] < 0.55)
    if not ok.any() or not (mito or mem):
        return None
    x, y, u = x[ok], y[ok], u[ok]
    L = 0.5 + 1.5 * u[:, 3] ** 1.5
    W = 0.13 + 0.09 * u[:, 4]
    th = np.pi * u[:, 5]
    obj, pix, dx, dy = ragged_boxes(canvas, x, y, L / 2 + W + 2 * px)
    if obj.size == 0:
        return None
    c, s_ = np.cos(th)[obj], np.sin(th)[obj]
    a = dx * c + dy * s_  # along the long axis
    b = -dx * s_ + dy * c
    half = np.maximum(L[obj] / 2 - W[obj], 0.0)
    ax = np.maximum(np.abs(a) - half, 0.0)
    # only the pairs within reach of the (wavy, ≤ 1.06 W) outline and its membranes: every
    # amount below is exactly 0 elsewhere (most of each square box)
    keep = np.flatnonzero(ax * ax + b * b < (W[obj] * 1.06 + px + 0.01) ** 2)
    obj, pix, dx, dy, a, b, ax, half = (v[keep] for v in (obj, pix, dx, dy, a, b, ax, half))
    r = np.hypot(ax, b)
    Wo = W[obj] * (1.0 + 0.06 * np.sin(a * 9.0 + u[obj, 6] * 6.3))  # not a perfect capsule
    d = r - Wo  # < 0 inside
    inside = np.clip(-d / px + 0.5, 0.0, 1.0)
    n = w.height * w.width
    if mem:
        k_mem = _path(canvas, mem, section)
        # cristae every ~90 nm along the organelle, from one side or the other, to a depth
        spacing = 0.09
        kk = np.rint(a / spacing + u[obj, 7])
        du = (a / spacing + u[obj, 7] - kk) * spacing
        h = np.modf(np.abs(np.sin(kk * 12.9898 + u[obj, 8] * 78.233) * 43758.5453))[0]
        side = np.where(h < 0.5, 1.0, -1.0)
        depth = (0.45 + 0.5 * np.modf(h * 7.0)[0]) * 2 * Wo
        reach = (side * b + Wo) < depth  # within the crista's length from its wall
        crista = (unit_membrane(np.abs(du) - 0.010 - LEAFLET_OFFSET_UM - 0.001, px) * reach
                  * (d < -0.02) * (np.abs(a) < half + Wo * 0.6))
        membranes = (unit_membrane(d + LEAFLET_OFFSET_UM + 0.001, px)
                     + unit_membrane(d + 0.018, px) + crista)
        acc = np.bincount(pix, weights=membranes * k_mem, minlength=n)
        canvas.add(layer, mem, acc.astype(np.float32))
    cover = np.zeros(n)
    np.maximum.at(cover, pix, inside)
    if mito:
        grain = 0.8 + 0.4 * np.modf(np.abs(np.sin(dx * 311.7 + dy * 197.3) * 9631.7))[0]
        acc = np.bincount(pix, weights=inside * 0.8 * grain, minlength=n)
        canvas.add(layer, mito, acc.astype(np.float32))
        canvas.add_label(ctx.pop.label + "-mitochondrion", cover.astype(np.float32))
    taken += cover.astype(np.float32)
    return cover


def _rough_er(canvas: Canvas, ctx: Ctx, layer: int, args: tuple, section: float,
              taken: np.ndarray) -> None:
    """Stacks of 3–6 gently curved cisternae 0.8–2.5 µm long, lumen 40–60 nm, ~0.12 µm
    apart, with ribosomes every ~35 nm on both cytosolic faces."""
    mem, rib = ctx.cls("membrane"), ctx.cls("ribosome")
    w = canvas.window
    px = w.px_um
    nf = ctx.params(TemCellsParams).nucleus_frac
    x, y, u = ctx.points(ctx.params(TemCellsParams).rer_spacing_um, 3.0, 12)
    ok = _inside_cytoplasm(x, y, args, nf, 0.4, 0.6) & (u[:, 2] < 0.7)
    if not ok.any() or not mem:
        return
    x, y, u = x[ok], y[ok], u[ok]
    L = 0.8 + 1.7 * u[:, 3]
    k = np.floor(3 + 4 * u[:, 4])
    pitch = 0.11 + 0.03 * u[:, 5]
    th = np.pi * u[:, 6]
    bend = (u[:, 7] - 0.5) * 0.5  # curvature, 1/µm
    obj, pix, dx, dy = ragged_boxes(canvas, x, y, L / 2 + k * pitch / 2 + 0.1)
    if obj.size == 0:
        return
    c, s_ = np.cos(th)[obj], np.sin(th)[obj]
    a = dx * c + dy * s_
    b = -dx * s_ + dy * c - bend[obj] * a * a
    # only the pairs along the stack and within reach of its outer cisternae's membranes and
    # ribosomes (≤ 0.03 + 0.008 + 0.025 µm + a pixel): every amount below is exactly 0
    # elsewhere
    keep = np.flatnonzero((np.abs(a) < L[obj] / 2)
                          & (np.abs(b) < (k[obj] - 1) / 2 * pitch[obj] + 0.08 + px))
    obj, pix, a, b = obj[keep], pix[keep], a[keep], b[keep]
    p = pitch[obj]
    ko = k[obj]
    # nearest cisterna (0 … k−1) and the distance from its mid-plane
    idx = np.clip(np.rint(b / p + (ko - 1) / 2), 0, ko - 1)
    v = b - (idx - (ko - 1) / 2) * p
    lumen = 0.02 + 0.01 * np.modf(idx * 0.618 + u[obj, 8])[0]
    ends = np.abs(a) < L[obj] / 2 * (1.0 - 0.15 * np.modf(idx * 0.37 + u[obj, 9])[0])
    n = w.height * w.width
    k_mem = _path(canvas, mem, section)
    membranes = (unit_membrane(np.abs(v) - lumen, px)) * ends
    acc = np.bincount(pix, weights=membranes * k_mem, minlength=n)
    canvas.add(layer, mem, acc.astype(np.float32))
    cover = np.zeros(n)
    np.maximum.at(cover, pix, (np.abs(v) < lumen) * ends * 0.12)
    taken += cover.astype(np.float32)
    if rib:
        # ribosomes: 25 nm dots just outside each membrane, every ~35 nm with jitter
        step = 0.035
        j = np.rint(a / step)
        jit = np.modf(np.abs(np.sin(j * 91.7 + idx * 47.1 + u[obj, 10] * 13.0) * 4375.5))[0]
        present = jit < 0.8
        da = a - (j + (jit - 0.5) * 0.4) * step
        dv = np.abs(v) - (lumen + 0.008 + RIBOSOME_UM / 2)
        r = np.hypot(da, dv)
        dot = np.clip((RIBOSOME_UM / 2 - r) / px + 0.5, 0.0, 1.0)
        if px > RIBOSOME_UM:  # sub-pixel: their area fraction along the line
            dot = band(dv, RIBOSOME_UM, px) * 0.8 * np.pi / 4
        acc = np.bincount(pix, weights=dot * present * ends * 0.5, minlength=n)
        canvas.add(layer, rib, acc.astype(np.float32))


def _cytosol_particles(canvas: Canvas, ctx: Ctx, z: float, args: tuple,
                       taken: np.ndarray) -> None:
    """Free polysomes (small clusters of ribosomes) and glycogen: β-particles of 25 nm
    gathered into α-rosettes up to ~0.1 µm; at low magnification, where a pixel holds
    many clusters, their mean coverage."""
    rib, gly = ctx.cls("ribosome"), ctx.cls("glycogen")
    for cls, spacing, n_in, spread, frac in ((rib, 0.09, 5, 0.035, 0.8),
                                             (gly, 0.35, 7, 0.04, 0.3)):
        if not cls:
            continue
        r = RIBOSOME_UM / 2 if cls == rib else 0.012
        amount = 0.35 if cls == rib else 0.8
        w = canvas.window
        if w.px_um > 4 * spacing:  # far below a pixel: their mean coverage (a density)
            mean = frac * n_in * np.pi * r * r / spacing**2 * amount  # dome: mean 1
            free = np.clip(1.0 - taken, 0.0, 1.0)
            layer = int(canvas.layer_of(np.array([z]))[0])
            canvas.add(layer, cls, (free * np.float32(mean)).astype(np.float32))
            continue
        x, y, u = ctx.points(spacing, 0.5, 3 + 2 * n_in)
        ok = _inside_cytoplasm(x, y, args, 0.0, 0.0, 0.04) & (u[:, 2] < frac)
        ix, iy = w.to_px(x, y)
        ix = np.clip(ix.astype(np.int64), 0, w.width - 1)
        iy = np.clip(iy.astype(np.int64), 0, w.height - 1)
        ok &= taken[iy * w.width + ix] < 0.5  # not in the nucleus, a mitochondrion, a cisterna
        x, y, u = x[ok], y[ok], u[ok]
        if x.size == 0:
            continue
        ang = 2 * np.pi * u[:, 3:3 + n_in]
        rad = spread * np.sqrt(u[:, 3 + n_in:3 + 2 * n_in])
        px_ = (x[:, None] + rad * np.cos(ang)).ravel()
        py_ = (y[:, None] + rad * np.sin(ang)).ravel()
        draw(canvas, cls, px_, py_, r, r, z_um=z, profile="dome", amount=amount)

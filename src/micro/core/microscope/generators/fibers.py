"""Fibrous tissue: striated skeletal and cardiac muscle (A-bands birefringent along the
fibre), connective-tissue septa that replace parenchyma (fibrosis), and vessels."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.blood import carve
from micro.core.microscope.generators.plants import cell_field
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, band, value_noise, worley
from micro.core.microscope.registry import Ctx, generator


def _frame(w: Window, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates along (U) and across (V) a direction, µm, (H, W)."""
    X, Y = w.grids()
    c, s = np.cos(angle), np.sin(angle)
    return X * c + Y * s, -X * s + Y * c


def striations(U: np.ndarray, sarc_um: float, duty: float, px_um: float,
               phase: np.ndarray | float = 0.0) -> np.ndarray:
    """A-band coverage along a fibre: 1 inside the A-band, 0 in the I-band; pixels wider
    than half a sarcomere see the band's mean fraction (no aliasing at low power)."""
    f = np.mod(U / sarc_um + phase, 1.0)
    edge = np.clip((duty / 2 - np.abs(f - 0.5)) * sarc_um / px_um + 0.5, 0.0, 1.0)
    fade = float(np.clip(sarc_um / (2.5 * px_um) - 0.5, 0.0, 1.0))
    return duty + fade * (edge - duty)


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    if cls:
        canvas.add(layer, cls, amt.ravel().astype(np.float32))
        if label:
            canvas.add_label(label, amt.ravel().astype(np.float32))


def _a_band_retardance(canvas: Canvas, layer: int, cls: str, amt: np.ndarray,
                       axis: np.ndarray | float) -> None:
    r = canvas.structures[cls].birefringence_retardance_nm
    if r > 0:
        c2, s2 = np.cos(2 * axis), np.sin(2 * axis)
        canvas.add_retardance(layer, (amt * r * c2).ravel().astype(np.float32),
                              (amt * r * s2).ravel().astype(np.float32))


@generator("skeletal-muscle")
def skeletal(canvas: Canvas, ctx: Ctx) -> None:
    """Longitudinal section of skeletal muscle: parallel fibres (size_um = fibre width)
    with cross-striations (sarcomere_um, A-band duty), flattened peripheral nuclei and
    endomysium between fibres. Parts: fibre (I-band), a_band, nucleus, endomysium."""
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    angle = np.deg2rad(float(ctx.p("angle_deg", 20.0)))
    pitch = float(np.mean(ctx.pop.size_um))
    U, V = _frame(w, angle)
    k0 = np.floor(V / pitch).astype(np.int64)
    ks = np.arange(int(k0.min()) - 1, int(k0.max()) + 3)
    tab = uniforms(ctx.seed, ks, np.zeros_like(ks), 4)
    bnd = (ks + (tab[:, 0] - 0.5) * 0.3) * pitch
    i = k0 - ks[0]
    i = np.where(V < bnd[i], i - 1, np.where(V >= bnd[i + 1], i + 1, i))
    lo, hi = bnd[i], bnd[i + 1]
    dist = np.minimum(V - lo, hi - V)
    endo = band(dist, float(ctx.p("endomysium_um", 1.5)), w.px_um)
    inside = 1.0 - endo
    sarc = float(ctx.p("sarcomere_um", 2.4))
    stripe = striations(U, sarc, float(ctx.p("a_band_duty", 0.62)), w.px_um,
                        tab[i, 1] * 7.0)
    shade = 0.85 + 0.3 * tab[i, 2]
    fibre, a_band = ctx.cls("fibre"), ctx.cls("a_band")
    lab = ctx.pop.label
    _add(canvas, layer, fibre, inside * shade * (1 - stripe), lab)
    if a_band:
        amt = inside * shade * stripe
        _add(canvas, layer, a_band, amt, lab + "-a-band")
        _a_band_retardance(canvas, layer, a_band, amt, angle)
    _add(canvas, layer, ctx.cls("endomysium"), endo * 0.8)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        x, y, u = ctx.points(float(ctx.p("nucleus_spacing_um", 22.0)), 12.0, 5)
        c, s = np.cos(angle), np.sin(angle)
        uu, vv = x * c + y * s, -x * s + y * c
        kk = np.clip(np.floor(vv / pitch).astype(np.int64) - ks[0], 0, len(bnd) - 2)
        side = u[:, 2] < 0.5
        vn = np.where(side, bnd[kk] + 1.6, bnd[kk + 1] - 1.6)
        nx, ny = uu * c - vn * s, uu * s + vn * c
        draw(canvas, nucleus, nx, ny, 5.0 + 2 * u[:, 3], 1.3, angle, z_um=z, profile="dome",
             amount=1.0, label=lab + "-nucleus")


@generator("cardiac-muscle")
def cardiac(canvas: Canvas, ctx: Ctx) -> None:
    """Cardiac muscle: branching cells ~100 × 15 µm (stretched Voronoi cells) with central
    nuclei, fainter striations, and intercalated discs where cells meet end to end."""
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    angle = np.deg2rad(float(ctx.p("angle_deg", -15.0)))
    width = float(np.mean(ctx.pop.size_um))
    aspect = float(ctx.p("aspect", 5.0))
    edge, near, table, seeds = cell_field(w, ctx.seed, width, aspect, angle, 0.8, 6)
    wall = band(edge, 1.2, w.px_um)
    gy, gx = np.gradient(edge)
    normal = np.arctan2(gy, gx)
    end_on = np.abs(np.cos(normal - angle)) ** 6  # wall across the fibre → disc
    disc = wall * end_on
    endo = wall * (1 - end_on)
    inside = 1.0 - wall
    U, _ = _frame(w, angle)
    stripe = striations(U, float(ctx.p("sarcomere_um", 2.2)), 0.6, w.px_um,
                        table[near, 2] * 5.0)
    lab = ctx.pop.label
    shade = 0.85 + 0.3 * table[near, 3]
    _add(canvas, layer, ctx.cls("fibre"), inside * shade * (1 - 0.6 * stripe), lab)
    a_band = ctx.cls("a_band")
    if a_band:
        amt = inside * shade * 0.6 * stripe
        _add(canvas, layer, a_band, amt)
        _a_band_retardance(canvas, layer, a_band, amt, angle)
    _add(canvas, layer, ctx.cls("disc"), disc * 1.5, lab + "-disc")
    _add(canvas, layer, ctx.cls("endomysium"), endo * 0.7)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        ids = np.unique(near)
        draw(canvas, nucleus, seeds[ids, 0], seeds[ids, 1], 5.0 + 1.5 * table[ids, 4], 2.2,
             angle, z_um=z, profile="dome", amount=0.9, label=lab + "-nucleus")


@generator("septa")
def septa(canvas: Canvas, ctx: Ctx) -> None:
    """Bridging fibrous septa (cirrhosis): bands of collagen along the borders of large
    regenerative nodules (size_um = nodule diameter), replacing whatever earlier
    populations drew there. Params: width_um, wavy (0–1), cells (fibroblast nuclei per
    100 µm of septum). Parts: septum, nucleus."""
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    d1, d2, near, table, _ = worley(w, ctx.seed, float(np.mean(ctx.pop.size_um)), 1.0, 0.0,
                                    0.9, 4)
    wob = (value_noise(w, ctx.seed ^ 0x5E, 60.0) - 0.5) * float(ctx.p("wavy", 0.5)) * 40
    edge = (d2 - d1) / 2 + wob
    width = float(ctx.p("width_um", 25.0)) * (0.6 + 0.8 * table[near, 2])
    sep = np.clip(1.0 - np.abs(edge) / (width / 2), 0.0, 1.0) ** 0.5
    carve(canvas, layer, (1.0 - sep).ravel())
    fibres = 0.75 + 0.5 * value_noise(w, ctx.seed ^ 0xC0, 3.0)
    _add(canvas, layer, ctx.cls("septum"), sep * fibres, ctx.pop.label)
    cls = ctx.cls("septum")
    if cls:
        r = canvas.structures[cls].birefringence_retardance_nm
        if r > 0:
            ang = np.arctan2(*np.gradient(edge)) + np.pi / 2
            amt = sep * fibres * r
            canvas.add_retardance(layer, (amt * np.cos(2 * ang)).ravel().astype(np.float32),
                                  (amt * np.sin(2 * ang)).ravel().astype(np.float32))
    nucleus = ctx.cls("nucleus")
    if nucleus:
        x, y, u = ctx.points(float(ctx.p("nucleus_spacing_um", 14.0)), 6.0, 5)
        ix = np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
        iy = np.clip(((y - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
        ok = sep[iy, ix] > 0.3
        draw(canvas, nucleus, x[ok], y[ok], 3.5, 1.2, np.pi * u[ok, 2], z_um=z,
             profile="dome", amount=0.9)


def coverage(canvas: Canvas, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Anti-aliased area coverage (0–1 per pixel, flat (H·W,)) of discs, drawn on a scratch
    canvas with the same window."""
    scratch = Canvas(canvas.window, [0.0], canvas.structures)
    cls = next(iter(canvas.structures))
    draw(scratch, cls, x, y, r, r, profile="flat", retardance_nm=0.0)
    got = scratch.amounts.get((0, cls))
    return np.zeros(canvas.npix) if got is None else got.astype(np.float64)


def _in_tissue(canvas: Canvas, layer: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether earlier populations put any material in `layer` at these points (µm)."""
    w = canvas.window
    maps = [a for (li, _cls), a in canvas.amounts.items() if li == layer]
    if not maps:
        return np.ones(np.shape(x), dtype=bool)
    ix = np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
    iy = np.clip(((y - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
    flat = iy * w.width + ix
    return sum(a[flat] for a in maps) > 0.05


@generator("vessels")
def vessels(canvas: Canvas, ctx: Ctx) -> None:
    """Round vessels cut across (central veins, arterioles): the lumen clears earlier
    tissue, an endothelial/adventitial wall rings it, some red cells lie inside;
    `within_tissue` keeps them out of places earlier populations left empty.
    Parts: wall, rbc, nucleus."""
    layer, z = _layer(canvas, ctx)
    n = 24
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1], 8 + 3 * n)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    if ctx.p("within_tissue", False):
        # none where nothing was drawn before (the air above a skin surface), judged at the
        # vessel's centre or the nearest pixel of the window
        keep &= _in_tissue(canvas, layer, x, y)
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    R = ctx.size(u[:, 3]) / 2
    wall_um = float(ctx.p("wall_um", 4.0))
    lumen = coverage(canvas, x, y, R)
    outer = coverage(canvas, x, y, R + wall_um)
    clear = 1.0 - np.clip(outer, 0.0, 1.0)
    ring = np.clip(outer - lumen, 0.0, 1.0)
    carve(canvas, layer, clear)
    _add(canvas, layer, ctx.cls("wall"), ring, ctx.pop.label)
    rbc = ctx.cls("rbc")
    if rbc:
        uu = u[:, 8:8 + 3 * n].reshape(-1, 3)
        rr = np.sqrt(uu[:, 0]) * np.repeat(R, n) * 0.85
        ph = 2 * np.pi * uu[:, 1]
        ok = uu[:, 2] < float(ctx.p("rbc_fill", 0.4))
        draw(canvas, rbc, (np.repeat(x, n) + rr * np.cos(ph))[ok],
             (np.repeat(y, n) + rr * np.sin(ph))[ok], 3.7, 3.7, z_um=z,
             profile="biconcave", amount=0.8)

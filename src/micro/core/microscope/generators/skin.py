"""Thick skin (palm) cut perpendicular to the surface, surface up (−y): a compact,
lamellar stratum corneum without nuclei, the glassy stratum lucidum, the stratum granulosum
of flattened cells full of keratohyalin granules, the stratum spinosum of polygonal cells
joined by spiny bridges, one row of columnar basal cells with melanin caps on the
basement membrane; rete ridges interlocking with dermal papillae (capillary loops); then
the papillary dermis of fine collagen and the reticular dermis of coarse wavy bundles with
fibroblasts and vessels."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import SkinParams
from micro.core.microscope.generators.histology import (
    F32,
    cells_at,
    grid,
    hypot,
    inside,
    layer_of,
    limited,
    line,
    noise_at,
    nuclei,
    pack_red_cells,
    packed_lumen,
    put,
    red_cells,
    section,
    texture,
)
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

LUCIDUM_UM = 8.0
GRANULOSUM_UM = 16.0
BASAL_UM = 11.0
SPINOSUM_UM = 110.0
"""Spinosum over the papilla tips (µm); rete ridges add up to 130 µm."""


def surfaces(x: np.ndarray, seed: int, top: float, corneum: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y (µm) of the skin surface, of the corneum's lower border and of the dermal–
    epidermal junction at x: surface ridges ~450 µm apart, rete ridges ~110 µm apart
    reaching 100 µm down between the dermal papillae."""
    x = np.asarray(x, dtype=np.float64)
    z = x * 0.0
    surf = top + 22.0 * np.sin(2 * np.pi * x / 450.0 + 4 * noise_at(x, z, seed ^ 1, 900.0)) \
        + 8.0 * (noise_at(x, z, seed ^ 2, 60.0) - 0.5)
    c_low = surf + corneum * (0.85 + 0.3 * noise_at(x, z, seed ^ 3, 300.0))
    phase = 2 * np.pi * x / 115.0 + 5 * noise_at(x, z, seed ^ 4, 400.0)
    depth = 50.0 * (1 + np.tanh(2.2 * np.sin(phase))) * (0.7 + 0.6 * noise_at(x, z, seed ^ 5,
                                                                               150.0))
    junction = c_low + LUCIDUM_UM + GRANULOSUM_UM + SPINOSUM_UM + depth
    return surf.astype(F32), c_low.astype(F32), junction.astype(F32)


@generator("skin")
def skin(canvas: Canvas, ctx: Ctx) -> None:
    """Thick skin. Params: surface_um (y of the surface), corneum_um (mean thickness),
    depth_um (section depth below the surface). Parts: keratin, cytoplasm, granules
    (keratohyalin), nucleus, melanin, collagen, rbc. Labels: stratum-corneum,
    stratum-lucidum, stratum-granulosum, stratum-spinosum, stratum-basale, dermis,
    dermal-papilla, epidermis-nucleus."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    prm = ctx.params(SkinParams)
    top, corneum, deep = prm.surface_um, prm.corneum_um, prm.depth_um
    X, Y = grid(w)
    surf, c_low, junc = surfaces(X[0], ctx.seed, top, corneum)
    d = Y - surf  # depth below the surface
    luc_low = c_low + LUCIDUM_UM
    gran_low = luc_low + GRANULOSUM_UM
    corn = inside(-d, px) * inside(Y - c_low, px)
    luc = inside(c_low - Y, px) * inside(Y - luc_low, px)
    gran = inside(luc_low - Y, px) * inside(Y - gran_low, px)
    basal = inside(junc - BASAL_UM - Y, px) * inside(Y - junc, px)
    spin = np.clip(inside(gran_low - Y, px) * inside(Y - junc, px) - basal, 0, 1)
    derm = inside(junc - Y, px) * inside(Y - (surf + deep), px)
    epi = spin + basal + gran
    put(canvas, layer, None, corn, "stratum-corneum")
    put(canvas, layer, None, luc, "stratum-lucidum")
    put(canvas, layer, None, gran, "stratum-granulosum")
    put(canvas, layer, None, spin, "stratum-spinosum")
    put(canvas, layer, None, basal, "stratum-basale")
    put(canvas, layer, None, derm, "dermis")
    papilla = derm * inside(Y - (gran_low + SPINOSUM_UM + 90.0), px)  # above ridge tips
    put(canvas, layer, None, papilla, "dermal-papilla")
    # corneum: compact keratin lamellae parallel to the surface, a few clefts
    lam = limited(0.85 + 0.15 * np.cos(2 * np.pi * (d + 6 * noise_at(X, Y, ctx.seed ^ 6, 40.0))
                                      / 3.5), 0.85, 1.75, px)
    gate = np.clip((noise_at(X, Y, ctx.seed ^ 7, 90.0) - 0.45) * 5, 0, 1)
    cleft = 1 - 0.8 * gate * line(((d + 8 * noise_at(X, Y, ctx.seed ^ 17, 50.0)) % 18.0) - 9.0,
                                  1.2, px)
    put(canvas, layer, ctx.cls("keratin"), corn * lam * cleft * 1.05 + luc * 0.45)
    # living epidermis: cells flatten towards the surface, columnar at the base. The
    # cells are laid out only on the rows the epidermis crosses (the costly part)
    cyto = np.zeros(X.shape, dtype=F32)
    ncov = np.zeros(X.shape, dtype=F32)
    E = _rows(epi > 0)
    if E is not None:
        Xe, Ye = X[E], Y[E]
        rise = np.clip((junc - Ye) / np.maximum(junc - gran_low, 1.0), 0, 1)  # base 0 → 1 top
        sq = 1.0 + 1.3 * rise ** 3  # horizontal stretch of the cell frame
        cx = Xe / sq
        c = cells_at(cx, Ye, ctx.seed ^ 8, 12.0, 0.85, 6)
        wall = c.wall.astype(F32)
        bridges = limited(0.5 + 0.5 * np.cos(2 * np.pi * (Xe + Ye) / 1.6), 0.5, 0.8, px)
        border = line(wall, 1.4, px) * (0.5 + 0.5 * bridges)
        grain = 0.85 + 0.3 * texture(w, ctx.seed ^ 9, 1.2)[E]
        tint = 0.85 + 0.3 * c.slot(2).astype(F32)
        cyto[E] = epi[E] * (1 - 0.75 * border) * grain * tint * 0.9
        be = basal[E] > 0.5
        rn = np.where(be, 3.0, 3.4) * (0.9 + 0.2 * c.slot(3).astype(F32))
        flatten = sq / np.minimum(sq, 1.7)  # nuclei flatten less than their cells
        nd = hypot((cx - c.sx).astype(F32) * flatten,
                      (Ye - c.sy).astype(F32) * np.where(be, 0.7, 1.0))
        has = c.slot(4) < 0.8
        ncov[E] = np.where(has, inside(nd - rn, px), 0.0) * (1 - 0.6 * rise ** 4)
    put(canvas, layer, ctx.cls("cytoplasm"), cyto)
    chrom = 0.8 + 0.4 * texture(w, ctx.seed ^ 10, 0.7)
    put(canvas, layer, ctx.cls("nucleus"), limited(ncov * chrom, 0.12, 6.0, px) * epi
        * (1 + 0.3 * basal), "epidermis-nucleus")
    kh = np.clip((texture(w, ctx.seed ^ 11, 0.9) - 0.55) * 5, 0, 1)
    put(canvas, layer, ctx.cls("granules"), gran * limited(kh, 0.2, 1.0, px) * 3.0)
    mel = np.clip((texture(w, ctx.seed ^ 12, 0.8) - 0.5) * 4, 0, 1)
    put(canvas, layer, ctx.cls("melanin"), basal * limited(mel, 0.25, 0.8, px) * 0.35)
    # dermis: fine loose collagen in the papillae, coarse wavy bundles below
    dj = Y - junc
    pap = np.clip(1 - dj / 80.0, 0, 1)
    # bundles: a cellular net stretched along a wavy, mostly horizontal course — bundles of
    # varied thickness and length, separated by clefts (laid out only where they show)
    bundles = np.zeros(X.shape, dtype=F32)
    D = _rows((derm > 0) & (pap < 1))
    if D is not None:
        Xd, Yd = X[D], Y[D]
        wy = Yd + 25.0 * np.sin(Xd / 70.0 + 6 * noise_at(Xd, Yd, ctx.seed ^ 14, 250.0)) \
            + 30.0 * (noise_at(Xd, Yd, ctx.seed ^ 13, 180.0) - 0.5)
        b = cells_at(Xd / 7.0, wy, ctx.seed ^ 16, 13.0, 0.9, 3)
        cleft = line(b.wall, 1.3, px) * (0.4 + 0.6 * b.slot(2).astype(F32))
        fibril = limited(0.85 + 0.15 * np.cos(2 * np.pi * wy / 1.8), 0.85, 0.9, px)
        bundles[D] = (0.7 + 0.45 * b.slot(1).astype(F32)) * (1 - cleft) * fibril
    fine = 0.55 + 0.2 * texture(w, ctx.seed ^ 15, 3.0)
    put(canvas, layer, ctx.cls("collagen"), derm * (pap * fine + (1 - pap) * bundles))
    bm = line(Y - junc, 1.0, px)
    put(canvas, layer, ctx.cls("collagen"), bm * 0.6)
    _dermal_cells(canvas, ctx, layer, z, top, corneum)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _rows(mask: np.ndarray) -> slice | None:
    """The band of rows where `mask` holds anywhere (None: nowhere)."""
    r = np.nonzero(mask.any(axis=1))[0]
    return slice(int(r[0]), int(r[-1]) + 1) if r.size else None


def _dermal_cells(canvas: Canvas, ctx: Ctx, layer: int, z: float, top: float,
                  corneum: float) -> None:
    """Fibroblasts along the bundles, capillary loops in the papillae and small vessels
    with red cells deeper down."""
    nuc, (rbc, hb) = ctx.cls("nucleus"), red_cells(canvas, ctx)
    x, y, u = ctx.points(28.0, 6.0, 8)
    _, _, j = surfaces(x, ctx.seed, top, corneum)
    fib = (y > j + 8) & (u[:, 2] < 0.7)
    nuclei(canvas, layer, nuc, x[fib], y[fib], 5.0, 1.2, 0.25 * (u[fib, 3] - 0.5), u[fib],
           1.0)
    # vessels: a lumen, a thin wall with endothelial nuclei, red cells inside
    vx, vy, vu = ctx.points(160.0, 40.0, 8)
    _, _, vj = surfaces(vx, ctx.seed, top, corneum)
    ok = (vy > vj + 30) & (vu[:, 2] < 0.55)
    if rbc and ok.any():
        R = 6.0 + 14.0 * vu[ok, 3]
        draw(canvas, ctx.cls("cytoplasm") or rbc, vx[ok], vy[ok], R + 2.5, R + 2.5, z_um=z,
             profile="rim", amount=0.6)
        packed_lumen(canvas, ctx, vx[ok], vy[ok], R, 0.55 + 0.45 * vu[ok, 5], z)
        ex = vx[ok] + R * np.cos(6.283 * vu[ok, 6])
        ey = vy[ok] + R * np.sin(6.283 * vu[ok, 6])
        nuclei(canvas, layer, nuc, ex, ey, 3.5, 1.2, 6.283 * vu[ok, 6] + np.pi / 2, vu[ok],
               1.0)
    # capillary loops in the papillae: a few red cells just below the junction
    x2, y2, u2 = ctx.points(14.0, 6.0, 8)
    _, _, j2 = surfaces(x2, ctx.seed, top, corneum)
    loop = (y2 > j2 + 6) & (y2 < j2 + 40) & (u2[:, 2] < 0.18)
    if rbc and loop.any():
        draw(canvas, rbc, x2[loop], y2[loop], 3.6, 3.2, 6.3 * u2[loop, 3], z_um=z,
             profile="biconcave", amount=hb)

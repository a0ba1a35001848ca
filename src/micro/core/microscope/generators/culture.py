"""Cells grown on a coverslip, for fluorescence: spread fibroblast-like cells with actin
stress fibres at the glass, a tubular mitochondrial network above them and the nucleus
higher still; and cultured neurons filled with a fluorescent protein, with branching
dendrites and a long axon."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import CulturedCellsParams, NeuronsParams
from micro.core.microscope.blobs import Also, Texture, draw_cells, lognormal, outline, uptake
from micro.core.microscope.generators.blood import anchored, children
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


def _cultured_cost(ctx: Ctx) -> float:
    """Work per cell for the budget, in units of one textured cell stamp (the budget's unit,
    ~2 kB of drawing temporaries): stress fibres (10 segments, a quarter branched, bundles
    of 3 filaments at fine pixels, plus meshwork and adhesions) and mitochondrial tubules
    (up to 24 steps, a third branched) are plain capsules, ~1/6 of that each."""
    prm = ctx.params(CulturedCellsParams)
    sub = 3 if ctx.window.px_um < 0.15 else 1
    segments = prm.fibres * (10 * 1.25 * sub + 4) + prm.mito_tubules * 24 * 1.34
    return prm.presence * (segments / 6 + 5)


@generator("cultured-cells", cost=_cultured_cost)
def cultured(canvas: Canvas, ctx: Ctx) -> None:
    """Spread cells on glass. Each has its own irregular outline (strong low harmonics: a
    polygonal, lamellipodial spread cell), a cortical actin rim under the membrane, stress
    fibres that curve gently, branch and end in focal adhesions, and are bundles of a few
    thin filaments (sub-100 nm, resolved by STED/SIM, one fibre at widefield), a fine
    actin meshwork, a networked tubular mitochondrial network grown outwards from around
    the nucleus with branch points, and a textured nucleus with nucleoli.

    Params: fibres, mito_tubules (per cell), actin_z_um (stress fibres sit on the ventral
    membrane, ~0.1 µm above the glass, inside the TIRF field), mito_z_um, nucleus_z_um.
    Parts: body, actin, mitochondrion, nucleus, nucleolus."""
    prm = ctx.params(CulturedCellsParams)
    nf, nt = prm.fibres, prm.mito_tubules
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1], 48)
    keep = u[:, 2] < prm.presence
    x, y, u = anchored(ctx, x[keep], y[keep], u[keep])
    if x.size == 0:
        return
    lo, hi = ctx.pop.size_um
    D = lognormal(u[:, 3], (lo + hi) / 2, 0.2, lo, hi)
    asp = 1.3 + 0.9 * u[:, 4]
    a, b = D / 2 * np.sqrt(asp), D / 2 / np.sqrt(asp)
    th = np.pi * u[:, 5]
    c, s = np.cos(th), np.sin(th)
    coeffs = outline(u[:, 12:22], 0.1 + 0.1 * u[:, 22])
    za = prm.actin_z_um
    zm = prm.mito_z_um
    zn = prm.nucleus_z_um
    lab = ctx.pop.label
    level = uptake(u[:, 23], u[:, 24], 0.2, 0.05)  # labelling differs from cell to cell
    body, actin, mito = ctx.cls("body"), ctx.cls("actin"), ctx.cls("mitochondrion")
    nuc, nucl = ctx.cls("nucleus"), ctx.cls("nucleolus")
    # the cortical actin rim lies on the body's outline: both from one outline evaluation
    cortex = ([Also(actin, "cortex", 0.9 * level, lab + "-cortex", za)] if actin and body
              else [])
    if body:
        draw_cells(canvas, body, x, y, a, b, th, coeffs, z_um=zm, profile="lens",
                   amount=0.6, label=lab, also=cortex)
    # the nucleus sits off-centre towards the cell's rear
    nx = x + 0.12 * a * c
    ny = y + 0.12 * a * s
    rn = np.minimum(b * 0.5, 9.0) * (0.9 + 0.2 * u[:, 25])
    if actin and not cortex:
        draw_cells(canvas, actin, x, y, a, b, th, coeffs, z_um=za, profile="cortex",
                   amount=0.9 * level, label=lab + "-cortex")
    # the fibres, the mitochondria and the nucleus lie inside each cell's ellipse: only
    # cells whose ellipse reaches the window need them (the lattice margin covers the
    # irregular outline, up to ~1.7 times the ellipse, which is drawn for every cell)
    w = ctx.window
    reach = a + 2.0
    near = ((x + reach > w.x0_um) & (x - reach < w.x0_um + w.width_um)
            & (y + reach > w.y0_um) & (y - reach < w.y0_um + w.height_um))
    x, y, u, a, b, th, c, s = x[near], y[near], u[near], a[near], b[near], th[near], \
        c[near], s[near]
    nx, ny, rn, level, coeffs = nx[near], ny[near], rn[near], level[near], coeffs[near]
    if actin:
        _stress_fibres(canvas, ctx, actin, x, y, a, b, th, coeffs, za, u, nf, level)
    if mito:
        _mitochondria(canvas, ctx, mito, nx, ny, rn, a, b, th, zm, u, nt, level)
    if nuc:
        draw_cells(canvas, nuc, nx, ny, rn * 1.2, rn, th + (u[:, 26] - 0.5) * 0.5,
                   outline(u[:, 27:37], 0.04), z_um=zn, profile="dome", amount=1.0,
                   texture=Texture(0.6, 0.35, 0.5, 0.3), tex_u=u[:, 37:40],
                   label=lab + "-nucleus")
        if nucl:
            k = 3
            nu = children(ctx.seed ^ 0x7C1, u[:, 40], k, 3)
            count = 1 + np.floor(u[:, 41] * k).astype(int)
            on = (np.arange(k)[None, :] < count[:, None]).ravel()
            r0 = np.sqrt(nu[:, 0]) * 0.5 * np.repeat(rn, k)
            p0 = 2 * np.pi * nu[:, 1]
            sz = 0.7 + 0.6 * nu[:, 2]
            draw(canvas, nucl, (np.repeat(nx, k) + r0 * np.cos(p0))[on],
                 (np.repeat(ny, k) + r0 * np.sin(p0))[on], sz[on], sz[on] * 0.85,
                 z_um=zn, profile="dome", amount=1.0)


def _stress_fibres(canvas: Canvas, ctx: Ctx, cls: str, x: np.ndarray, y: np.ndarray,
                   a: np.ndarray, b: np.ndarray, th: np.ndarray, coeffs: np.ndarray,
                   z: float, u: np.ndarray, nf: int, level: np.ndarray) -> None:
    """Ventral stress fibres roughly along the cell's long axis and transverse arcs,
    each a gently curved path of `seg` steps; one in four branches (a Y) from its middle.
    A fibre is a bundle of `sub` filaments 60–80 nm wide, 90–140 nm apart, each wobbling a
    little on its own; a focal adhesion (a short bright dash) holds each end; a sparse
    meshwork of single filaments lies between the fibres."""
    seg = 10
    # filaments 90–140 nm apart merge inside a pixel wider than that: at such pixels a
    # fibre is drawn as one filament carrying the bundle's amount (the same area-average)
    sub = 3 if canvas.window.px_um < 0.15 else 1
    fu = children(ctx.seed ^ 0xF1B, u[:, 42], nf, 8)  # (n·nf, 8)
    A, B = np.repeat(a, nf), np.repeat(b, nf)
    T = np.repeat(th, nf)
    arc = fu[:, 0] < 0.25  # transverse arcs near the leading edge
    off = (fu[:, 1] - 0.5) * 1.6 * B
    along = np.where(arc, 0.0, 1.0)
    front = 0.45 + 0.2 * fu[:, 1]  # arcs lie across the front part of the cell
    span = np.where(arc, 0.8 * B * np.sqrt(1 - front ** 2),
                    A * np.sqrt(np.clip(1 - (off / B) ** 2, 0.05, 1)) * 0.85)
    ang0 = T + np.where(arc, np.pi / 2, 0.0) + (fu[:, 2] - 0.5) * 0.5
    bend = (fu[:, 3] - 0.5) * np.where(arc, 1.6, 0.5)  # arcs curve more
    base_x = np.repeat(x, nf) - off * np.sin(T) * along + np.where(arc, front * A * np.cos(T),
                                                                  0.0)
    base_y = np.repeat(y, nf) + off * np.cos(T) * along + np.where(arc, front * A * np.sin(T),
                                                                  0.0)
    # ventral fibres run a third to all of their chord, anywhere along it: fibres of many
    # lengths, not a comb of full-length lines (the digits of fu[:, 2] and fu[:, 3] beyond
    # the ones that set angle and bend are independent uniforms)
    full = span
    span = np.where(arc, span, span * (0.35 + 0.65 * ((fu[:, 2] * 97.0) % 1.0) ** 0.7))
    slide_along = (full - span) * (2.0 * ((fu[:, 3] * 89.0) % 1.0) - 1.0)
    base_x = base_x + slide_along * np.cos(ang0)
    base_y = base_y + slide_along * np.sin(ang0)
    t = (np.arange(seg)[None, :] + 0.5) / seg - 0.5
    a_k = ang0[:, None] + bend[:, None] * t
    step = (2 * span / seg)[:, None]
    px = base_x[:, None] + np.cumsum(step * np.cos(a_k), axis=1) - span[:, None] * np.cos(ang0)[:, None]
    py = base_y[:, None] + np.cumsum(step * np.sin(a_k), axis=1) - span[:, None] * np.sin(ang0)[:, None]
    lvl = np.repeat(level, nf)
    bright = (0.6 + 0.8 * fu[:, 4]) * lvl  # thick and thin fibres
    # one in four branches from its middle, 15–30° off, for the second half of its length
    br = fu[:, 5] < 0.25
    h = seg // 2
    b_ang = a_k[br, h:] + np.where(fu[br, 6] < 0.5, 1.0, -1.0)[:, None] * (0.26 + 0.26 * fu[br, 7:8])
    bx = px[br, h - 1:h] + np.cumsum(step[br] * np.cos(b_ang), axis=1)
    by = py[br, h - 1:h] + np.cumsum(step[br] * np.sin(b_ang), axis=1)
    paths = [(px, py, a_k, step, bright), (bx, by, b_ang, step[br], bright[br] * 0.7)]
    lab = ctx.pop.label + "-actin"
    for qx, qy, qa, qs, qb in paths:
        m = qx.shape[0]
        if m == 0:
            continue
        k = qx.shape[1]
        su = children(ctx.seed ^ 0x5B, (qx[:, 0] * 7.31 % 1.0 + qy[:, 0] * 3.17 % 1.0) % 1.0,
                      sub, 2 * k)  # per filament wobble
        lat = (np.arange(sub) - (sub - 1) / 2)[None, :, None] * (0.09 + 0.05 * su[:, :1]
                                                                  ).reshape(m, sub, 1)
        lat = lat + (su[:, 1:k + 1].reshape(m, sub, k) - 0.5) * 0.05
        nx_, ny_ = -np.sin(qa)[:, None, :], np.cos(qa)[:, None, :]
        fx = qx[:, None, :] + lat * nx_ - np.cos(qa)[:, None, :] * qs[:, :, None] / 2
        fy = qy[:, None, :] + lat * ny_ - np.sin(qa)[:, None, :] * qs[:, :, None] / 2
        w = 0.03 + 0.01 * su[:, k + 1:k + 2].reshape(m, sub, 1) * np.ones((1, 1, k))
        amt = (qb[:, None, None] * np.ones((1, sub, k))) * (0.22 / w) * 0.3 * (3 / sub)
        # abutting rectangles, not capsules: no doubled amount where segments meet
        draw(canvas, cls, fx.ravel(), fy.ravel(),
             np.broadcast_to(qs[:, :, None] / 2 + 0.01, fx.shape).ravel(), w.ravel(),
             np.broadcast_to(qa[:, None, :], fx.shape).ravel(), z_um=z, rect=True,
             amount=amt.ravel(), label=lab)
    # focal adhesions at both ends of the ventral fibres
    ends = ~arc
    ex = np.concatenate([px[ends, 0] - step[ends, 0] * np.cos(a_k[ends, 0]), px[ends, -1]])
    ey = np.concatenate([py[ends, 0] - step[ends, 0] * np.sin(a_k[ends, 0]), py[ends, -1]])
    ea = np.concatenate([a_k[ends, 0], a_k[ends, -1]])
    eb = np.concatenate([bright[ends], bright[ends]])
    draw(canvas, cls, ex, ey, 0.2, 0.2, ea, z_um=z, half_len_um=0.6, profile="dome",
         amount=eb * 1.2, label=ctx.pop.label + "-adhesion")
    # a sparse meshwork of single filaments
    mesh = 40
    mu = children(ctx.seed ^ 0x3E5, u[:, 43], mesh, 4)
    r0 = np.sqrt(mu[:, 0]) * 0.85
    p0 = 2 * np.pi * mu[:, 1]
    AA, BB, TT = np.repeat(a, mesh), np.repeat(b, mesh), np.repeat(th, mesh)
    lx, ly = r0 * np.cos(p0) * AA, r0 * np.sin(p0) * BB
    mx = np.repeat(x, mesh) + lx * np.cos(TT) - ly * np.sin(TT)
    my = np.repeat(y, mesh) + lx * np.sin(TT) + ly * np.cos(TT)
    draw(canvas, cls, mx, my, 0.03, 0.03, 2 * np.pi * mu[:, 2], z_um=z,
         half_len_um=0.8 + 1.5 * mu[:, 3], profile="flat",
         amount=np.repeat(level, mesh) * 0.9, label=ctx.pop.label + "-mesh")
    del coeffs


def _mitochondria(canvas: Canvas, ctx: Ctx, cls: str, nx: np.ndarray, ny: np.ndarray,
                  rn: np.ndarray, a: np.ndarray, b: np.ndarray, th: np.ndarray, z: float,
                  u: np.ndarray, nt: int, level: np.ndarray) -> None:
    """A tubular network: `nt` tubules per cell start at the nuclear periphery and grow
    outwards by a persistent random walk (0.6 µm steps, 250–400 nm wide), a third of them
    branching once; steps that would leave the cell end the tubule. Densest around the
    nucleus, sparse in the periphery, as in a real MitoTracker image."""
    steps = 24
    tu = children(ctx.seed ^ 0x317, u[:, 44], nt, steps + 6)
    start = 2 * np.pi * tu[:, 0]
    R0 = np.repeat(rn, nt) * (1.1 + 0.9 * tu[:, 1] ** 2)
    sx = np.repeat(nx, nt) + R0 * 1.1 * np.cos(start)
    sy = np.repeat(ny, nt) + R0 * np.sin(start)
    length = (6 + np.floor(tu[:, 2] * (steps - 6))).astype(int)
    turn = (tu[:, 6:6 + steps] - 0.5) * 0.7
    ang = start[:, None] + (tu[:, 3:4] - 0.5) * 1.2 + np.cumsum(turn, axis=1)
    st = 0.6
    px = sx[:, None] + np.cumsum(st * np.cos(ang), axis=1)
    py = sy[:, None] + np.cumsum(st * np.sin(ang), axis=1)
    # inside the cell (its ellipse, a little inset)
    A, B, T = np.repeat(a, nt)[:, None], np.repeat(b, nt)[:, None], np.repeat(th, nt)[:, None]
    cx = np.repeat(nx - 0.12 * a * np.cos(th), nt)[:, None]
    cy = np.repeat(ny - 0.12 * a * np.sin(th), nt)[:, None]
    dx, dy = px - cx, py - cy
    ux = (dx * np.cos(T) + dy * np.sin(T)) / A
    uy = (-dx * np.sin(T) + dy * np.cos(T)) / B
    inside = np.cumprod((ux * ux + uy * uy) < 0.8, axis=1).astype(bool)
    on = inside & (np.arange(steps)[None, :] < length[:, None])
    w = (0.12 + 0.06 * tu[:, 4])[:, None] * np.ones((1, steps))
    amt = np.repeat(level, nt)[:, None] * np.ones((1, steps))
    draw(canvas, cls, (px - st / 2 * np.cos(ang))[on], (py - st / 2 * np.sin(ang))[on],
         w[on], w[on], ang[on], z_um=z, half_len_um=st / 2, profile="dome",
         amount=amt[on], label=ctx.pop.label + "-mitochondria")
    # a third branch once, from a third of the way along
    br = tu[:, 5] < 0.33
    j = steps // 3
    bang = ang[br, j:] + np.where(tu[br, 1:2] < 0.5, 0.8, -0.8)
    bx = px[br, j - 1:j] + np.cumsum(st * np.cos(bang), axis=1)
    by = py[br, j - 1:j] + np.cumsum(st * np.sin(bang), axis=1)
    bon = on[br, j:] & (np.arange(steps - j)[None, :] < (length[br, None] - j) * 0.6)
    draw(canvas, cls, (bx - st / 2 * np.cos(bang))[bon], (by - st / 2 * np.sin(bang))[bon],
         w[br, j:][bon], w[br, j:][bon], bang[bon], z_um=z, half_len_um=st / 2,
         profile="dome", amount=amt[br, j:][bon], label=ctx.pop.label + "-mitochondria")


@generator("neurons")
def neurons(canvas: Canvas, ctx: Ctx) -> None:
    """Cultured neurons expressing a cytoplasmic fluorescent protein (size_um = soma
    diameter): 4–7 primary dendrites that taper and branch once, one long thin axon, and
    an expression level that differs from cell to cell. Params: dendrite_um (length),
    axon_um. Parts: soma, neurite, nucleus."""
    k, m, ma = 7, 10, 40
    slots = 12 + 3 * k + 2 * k * m + ma
    prm = ctx.params(NeuronsParams)
    Ld, La = prm.dendrite_um, prm.axon_um
    x, y, u = ctx.points(ctx.spacing(), La, slots)
    keep = u[:, 2] < prm.presence
    x, y, u = anchored(ctx, x[keep], y[keep], u[keep])
    if x.size == 0:
        return
    n = x.size
    D = ctx.size(u[:, 3])
    z = ctx.z(u[:, 4])
    level = 0.25 + 0.75 * u[:, 5] ** 0.5
    soma, neurite, nuc = ctx.cls("soma"), ctx.cls("neurite"), ctx.cls("nucleus")
    lab = ctx.pop.label
    if soma:
        draw(canvas, soma, x, y, D / 2, D / 2 * 0.85, np.pi * u[:, 6], z_um=z,
             profile="dome", amount=level, label=lab)
    if nuc:
        draw(canvas, nuc, x, y, D * 0.3, D * 0.27, z_um=z, profile="dome", amount=0.3 * level)
    if not neurite:
        return
    prim = u[:, 12:12 + 3 * k].reshape(n, k, 3)
    count = 4 + np.floor(u[:, 7] * 3.99).astype(int)
    present = np.arange(k)[None, :] < count[:, None]
    a0 = 2 * np.pi * (np.arange(k)[None, :] + 0.5 * prim[..., 0]) / k + 2 * np.pi * u[:, 8:9]
    steps = u[:, 12 + 3 * k:12 + 3 * k + 2 * k * m].reshape(n, k, m, 2)
    seg = Ld * (0.6 + 0.6 * prim[..., 1])[..., None] / m
    ang = a0[..., None] + np.cumsum((steps[..., 0] - 0.5) * 0.5, axis=-1)
    dx, dy = np.cos(ang) * seg, np.sin(ang) * seg
    px = x[:, None, None] + D[:, None, None] * 0.45 * np.cos(a0)[..., None] + np.cumsum(
        dx, -1) - dx / 2
    py = y[:, None, None] + D[:, None, None] * 0.45 * np.sin(a0)[..., None] + np.cumsum(
        dy, -1) - dy / 2
    taper = np.linspace(1.2, 0.35, m)[None, None, :] * np.ones((n, k, 1))
    sel = np.broadcast_to(present[..., None], px.shape)
    zz = np.broadcast_to(z[:, None, None], px.shape)
    amt = np.broadcast_to(level[:, None, None], px.shape)
    # abutting rectangles along each neurite (capsules would double up at every joint)
    draw(canvas, neurite, px[sel], py[sel], np.broadcast_to(seg, px.shape)[sel] / 2 + 0.05,
         taper[sel], ang[sel], z_um=zz[sel], rect=True,
         amount=amt[sel], label=lab + "-neurite")
    # one branch from the middle of each dendrite, at ±40°
    mid = m // 2
    bang = ang[..., mid:] + np.where(steps[..., mid:mid + 1, 1] > 0.5, 0.7, -0.7)
    bx = px[..., mid:mid + 1] + np.cumsum(np.cos(bang) * seg, -1)
    by = py[..., mid:mid + 1] + np.cumsum(np.sin(bang) * seg, -1)
    bsel = np.broadcast_to(present[..., None], bx.shape)
    bt = taper[..., mid:] * 0.7
    draw(canvas, neurite, bx[bsel], by[bsel], np.broadcast_to(seg, bx.shape)[bsel] / 2 + 0.05,
         bt[bsel], bang[bsel], z_um=np.broadcast_to(z[:, None, None], bx.shape)[bsel],
         rect=True,
         amount=np.broadcast_to(level[:, None, None], bx.shape)[bsel])
    # the axon: thin, uniform, long, gently curving
    aa = 2 * np.pi * u[:, 9:10] + np.cumsum((u[:, 12 + 3 * k + 2 * k * m:] - 0.5) * 0.25, 1)
    sa = La / ma
    ax = x[:, None] + np.cumsum(np.cos(aa) * sa, 1) - np.cos(aa) * sa / 2
    ay = y[:, None] + np.cumsum(np.sin(aa) * sa, 1) - np.sin(aa) * sa / 2
    draw(canvas, neurite, ax.ravel(), ay.ravel(), sa / 2 + 0.05, 0.4, aa.ravel(),
         z_um=np.repeat(z, ma), rect=True,
         amount=np.repeat(level, ma), label=lab + "-axon")

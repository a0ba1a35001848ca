"""Free cells: squames, yeasts, spores, dead cells — each with its own outline (a perturbed
ellipse, or a rounded irregular polygon for a flat squame), size (log-normal), stain uptake
and texture, an optional refractile wall that follows the outline, a textured nucleus,
folds, buds with bud scars, vacuoles, granules and bacteria stuck to the surface, placed on
the slide's jittered lattice; optionally a polysaccharide capsule around each cell and the
grains of a negative stain's film, which lie everywhere except in the cells and capsules."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.blobs import (
    Also,
    Texture,
    draw_cells,
    lognormal,
    outline,
    polygon,
    uptake,
)
from micro.core.microscope.generators.blood import children
from micro.core.microscope.lattice import MAX_CELLS, lattice_points
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

GRAIN_SITES = 12_000
"""Lattice sites of negative-stain grains drawn at most per view; a wider field draws every
k-th site with weight k² (its grains are then far below a pixel, and the weight keeps their
area-averaged darkness)."""
GRAINS_PER_SITE = 8


def _grain_spacing(rate: float) -> float:
    """Lattice spacing (µm) of grain sites for `rate` grains per 100 µm²."""
    return float(np.sqrt(GRAINS_PER_SITE * 100.0 / rate))


def _cost(ctx: Ctx) -> float:
    """Stamps per lattice candidate: the cell, plus its share of the stain grains."""
    rate = float(ctx.p("grains_per_100um2"))
    if rate <= 0:
        return 1.0
    w = ctx.window
    spacing = ctx.spacing()
    cand = min((w.width_um / spacing + 2) * (w.height_um / spacing + 2), 2 * MAX_CELLS)
    g = _grain_spacing(rate)
    sites = min((w.width_um / g + 2) * (w.height_um / g + 2), GRAIN_SITES * 1.3)
    return 1.0 + sites * GRAINS_PER_SITE / max(cand, 1.0)


@generator("cells", cost=_cost)
def cells(canvas: Canvas, ctx: Ctx) -> None:
    """Params: aspect (max elongation), profile (body thickness profile), presence (fraction
    of lattice sites occupied), cv (size spread, log-normal within size_um), irregularity
    (outline harmonics), sides ([min, max]: a rounded polygon, flat squames), texture_um and
    texture (grainy cytoplasm), folds (per cell: darker creases of a folded squame),
    nucleus_frac, nucleus_offset, nucleus_aspect, nucleolus (bool), granules, granule_um,
    organelles (per cell, part 'organelle'), organelle_um [len, width], adherent (bacteria
    per cell, part 'bacterium'), bud_prob and scars (budding yeast, part 'membrane' for the
    wall and the scars), capsule_um ([min, max] thickness of a capsule, part 'capsule',
    log-uniform per cell; buds get 0.6 of their mother's), grains_per_100um2 (negative
    stain grains, part 'grain', outside every cell and capsule), body_amount,
    nucleus_amount, membrane_amount, jitter."""
    n_gran = int(ctx.p("granules"))
    n_org = int(ctx.p("organelles"))
    slots = 48 + 3 * n_gran + 3 * n_org
    dmax = ctx.pop.size_um[1]
    x, y, u = ctx.points(ctx.spacing(), dmax * 1.6, slots, float(ctx.p("jitter")))
    keep = u[:, 2] < float(ctx.p("presence"))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    lo, hi = ctx.pop.size_um
    d = lognormal(u[:, 3], (lo + hi) / 2, float(ctx.p("cv")), lo, hi)
    aspect = 1.0 + (float(ctx.p("aspect")) - 1.0) * u[:, 4]
    theta = np.pi * u[:, 5]
    a = d / 2 * np.sqrt(aspect)
    b = d / 2 / np.sqrt(aspect)
    z = ctx.z(u[:, 6])
    label = ctx.pop.label
    irr = float(ctx.p("irregularity"))
    sides = ctx.p("sides")
    if isinstance(sides, list) and len(sides) == 2:
        ns = np.round(sides[0] + (sides[1] - sides[0]) * u[:, 7]).astype(int)
        coeffs = polygon(u[:, 20:40], ns, 0.035, orders=10)
    else:
        coeffs = outline(u[:, 20:30], irr * (0.6 + 0.8 * u[:, 30]))
    stain = uptake(u[:, 40], u[:, 41], float(ctx.p("uptake_spread")), 0.05)
    prof = str(ctx.p("profile"))
    tex = Texture(float(ctx.p("texture_um")), float(ctx.p("texture")))
    tex_u = u[:, 42:45]
    body = ctx.cls("body")
    membrane = ctx.cls("membrane")
    # the membrane (or wall) follows the body's outline: both from one evaluation of it
    wall = ([Also(membrane, "rim", float(ctx.p("membrane_amount")) * stain)]
            if membrane else [])
    if body:
        draw_cells(canvas, body, x, y, a, b, theta, coeffs, z_um=z, profile=prof,
                   amount=float(ctx.p("body_amount")) * stain, texture=tex, tex_u=tex_u,
                   label=label, centre_label=label + "-centre", also=wall)
    elif membrane:
        draw_cells(canvas, membrane, x, y, a, b, theta, coeffs, z_um=z, profile="rim",
                   amount=float(ctx.p("membrane_amount")) * stain)
    folds = int(ctx.p("folds"))
    if body and folds:
        _folds(canvas, ctx, body, x, y, a, b, theta, z, u, folds, stain)
    bud_prob = float(ctx.p("bud_prob"))
    buds = None
    if body and bud_prob > 0:
        buds = _buds(canvas, ctx, body, membrane, x, y, a, b, theta, z, u, bud_prob, prof,
                     stain)
    capsule = ctx.cls("capsule")
    cap_um = ctx.p("capsule_um")
    t_cap = np.zeros(x.size)
    if capsule and isinstance(cap_um, list) and len(cap_um) == 2:
        t_cap = _capsules(canvas, ctx, capsule, x, y, a, b, theta, z, coeffs, u, cap_um,
                          buds)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        nf = float(ctx.p("nucleus_frac")) * (0.85 + 0.3 * u[:, 12])
        off = float(ctx.p("nucleus_offset"))
        na = b * nf * float(ctx.p("nucleus_aspect"))
        nb = b * nf
        rr = off * (a - na) * u[:, 8]
        phi = 2 * np.pi * u[:, 9]
        nx = x + rr * np.cos(phi)
        ny = y + rr * np.sin(phi)
        nth = theta + (u[:, 13] - 0.5)
        draw_cells(canvas, nucleus, nx, ny, na, nb, nth, outline(u[:, 31:41], 0.05),
                   z_um=z, profile="lens", amount=float(ctx.p("nucleus_amount")) * stain,
                   texture=Texture(0.45, 0.45, 0.45, 0.4), tex_u=u[:, 45:48],
                   label=label + "-nucleus")
        nucleolus = ctx.cls("nucleolus")
        if nucleolus and bool(ctx.p("nucleolus")):
            draw(canvas, nucleolus, nx + 0.2 * na * np.cos(phi), ny + 0.2 * nb * np.sin(phi),
                 nb * 0.22, nb * 0.2, z_um=z, profile="dome")
    _scatter_inside(canvas, ctx, "granule", x, y, a, b, theta, z, u, 48, n_gran,
                    float(ctx.p("granule_um")), float(ctx.p("granule_amount")), 1.0)
    org_len, org_w = ctx.p("organelle_um")
    _scatter_inside(canvas, ctx, "organelle", x, y, a, b, theta, z, u, 48 + 3 * n_gran,
                    n_org, float(org_w), float(ctx.p("organelle_amount")),
                    float(org_len) / float(org_w), spread=float(ctx.p("organelle_spread")))
    n_bac = int(ctx.p("adherent"))
    bac = ctx.cls("bacterium")
    if bac and n_bac:
        _adherent(canvas, ctx, bac, x, y, a, b, theta, z, u, n_bac)
    grain = ctx.cls("grain")
    rate = float(ctx.p("grains_per_100um2"))
    if grain and rate > 0:
        # what keeps the film out: each cell with its capsule, and its bud with the bud's
        # (outlines within their harmonics' reach: 3.5 × the irregularity, + 0.2 µm)
        grow = 1.0 + 3.5 * irr * 1.4
        ex, ey = [x], [y]
        ea, eb = [(a + t_cap) * grow + 0.2], [(b + t_cap) * grow + 0.2]
        eth, owner = [theta], [np.arange(x.size)]
        if buds is not None:
            bx, by, ba, bb, bth, _, _, mother = buds
            tb = 0.6 * t_cap[mother]
            ex.append(bx)
            ey.append(by)
            ea.append((ba + tb) * 1.2 + 0.2)
            eb.append((bb + tb) * 1.2 + 0.2)
            eth.append(bth)
            owner.append(mother)
        ells = tuple(np.concatenate(v) for v in (ex, ey, ea, eb, eth, owner))
        _grains(canvas, ctx, grain, rate, ells, float(z.mean()))


Buds = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
             np.ndarray, np.ndarray]
"""Each bud's x, y, semi-axes, angle, outline harmonics, depth and its mother's index."""


def _capsules(canvas: Canvas, ctx: Ctx, cls: str, x: np.ndarray, y: np.ndarray,
              a: np.ndarray, b: np.ndarray, theta: np.ndarray, z: np.ndarray,
              coeffs: np.ndarray, u: np.ndarray, cap_um: list, buds: Buds | None
              ) -> np.ndarray:
    """A polysaccharide capsule around each cell (and a thinner one around its bud): a
    uniform gel of its own thickness per cell, rounder than the cell (the same thickness
    all round), its outline following the cell's own harmonics, halved. Being almost
    water it is nearly invisible; what shows it is the negative stain it keeps out.
    Returns each cell's capsule thickness (µm)."""
    lo, hi = float(cap_um[0]), float(cap_um[1])
    cu = children(ctx.seed ^ 0xCA95, u[:, 3], 1, 1)[:, 0]
    t = lo * (hi / lo) ** cu
    label = ctx.pop.label + "-capsule"
    draw_cells(canvas, cls, x, y, a + t, b + t, theta, coeffs * 0.5, z_um=z, profile="flat",
               label=label)
    if buds is not None:
        bx, by, ba, bb, bth, bc, bz, mother = buds
        tb = 0.6 * t[mother]
        draw_cells(canvas, cls, bx, by, ba + tb, bb + tb, bth, bc * 0.5, z_um=bz,
                   profile="flat", label=label)
    return t


def _grains(canvas: Canvas, ctx: Ctx, cls: str, rate: float, ells: tuple[np.ndarray, ...],
            z: float) -> None:
    """Grains of a negative stain's film (colloidal carbon or dye clumps, 0.25–1 µm) at
    `rate` per 100 µm², everywhere outside the exclusion ellipses `ells` (x, y, a, b,
    angle, index of the owning cell): each grain is tested against the ellipses
    themselves, not against what the canvas holds, so every window gives the same
    answer."""
    w = canvas.window
    spacing = _grain_spacing(rate)
    per = GRAINS_PER_SITE
    # a site's grains scatter up to half a spacing around it: sites that far outside count
    gx, gy, gu, weight = lattice_points(w, ctx.seed ^ 0x1A4, spacing, spacing / 2 + 1.5,
                                        2 + 3 * per, max_cells=GRAIN_SITES)
    if gx.size == 0:
        return
    uu = gu[:, 2:].reshape(gx.size, per, 3)
    px = (gx[:, None] + (uu[..., 0] - 0.5) * spacing).ravel()
    py = (gy[:, None] + (uu[..., 1] - 0.5) * spacing).ravel()
    r = (0.12 * 4.0 ** uu[..., 2]).ravel()  # log-uniform 0.12–0.48 µm radius
    ix, iy = w.to_px(px, py)
    pad = 0.5 / w.px_um + 1.0  # grains just outside still reach in
    free = (ix >= -pad) & (ix < w.width + pad) & (iy >= -pad) & (iy < w.height + pad)
    ex, ey, ea, eb, eth, owner = ells
    if ex.size and free.any():
        # each ellipse looks only at the grain sites under its bounding box (the grains of
        # a site lie within half a spacing of it): pairs (ellipse, site) then (…, grain)
        si = np.floor(gx / spacing).astype(np.int64)
        sj = np.floor(gy / spacing).astype(np.int64)
        i0, j0 = int(si.min()), int(sj.min())
        ni, nj = int(si.max()) - i0 + 1, int(sj.max()) - j0 + 1
        site = np.full(ni * nj, -1, dtype=np.int64)
        site[(sj - j0) * ni + (si - i0)] = np.arange(gx.size)
        ext = np.maximum(ea, eb) + 0.5 + spacing / 2  # + the largest grain
        bi0 = np.clip(np.floor((ex - ext) / spacing).astype(np.int64) - i0, 0, ni)
        bi1 = np.clip(np.floor((ex + ext) / spacing).astype(np.int64) - i0 + 1, 0, ni)
        bj0 = np.clip(np.floor((ey - ext) / spacing).astype(np.int64) - j0, 0, nj)
        bj1 = np.clip(np.floor((ey + ext) / spacing).astype(np.int64) - j0 + 1, 0, nj)
        wi, wj = bi1 - bi0, bj1 - bj0
        count = wi * wj
        e = np.repeat(np.arange(ex.size), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        ti = bi0[e] + k % np.maximum(wi[e], 1)
        tj = bj0[e] + k // np.maximum(wi[e], 1)
        st = site[tj * ni + ti]
        e, st = e[st >= 0], st[st >= 0]
        g = (st[:, None] * per + np.arange(per)[None, :]).ravel()
        e = np.repeat(e, per)
        dx, dy = px[g] - ex[e], py[g] - ey[e]
        c, s = np.cos(eth[e]), np.sin(eth[e])
        along = (dx * c + dy * s) / (ea[e] + r[g])
        across = (-dx * s + dy * c) / (eb[e] + r[g])
        free[g[along * along + across * across < 1.0]] = False
    keep_weight = canvas.weight
    canvas.weight = weight
    try:
        draw(canvas, cls, px[free], py[free], r[free], r[free] * 0.85,
             (np.pi * uu[..., 2]).ravel()[free], z_um=z, profile="dome",
             label=ctx.pop.label + "-grain")
    finally:
        canvas.weight = keep_weight


def _folds(canvas: Canvas, ctx: Ctx, cls: str, x: np.ndarray, y: np.ndarray, a: np.ndarray,
           b: np.ndarray, theta: np.ndarray, z: np.ndarray, u: np.ndarray, folds: int,
           stain: np.ndarray) -> None:
    """Creases of a folded squame: gently curved lines across part of the cell where the
    cell lies double (darker, a little wider at the middle)."""
    n = x.size
    fu = children(ctx.seed ^ 0xF01D, u[:, 14], folds, 6)
    count = np.floor(u[:, 15] * (folds + 1)).astype(int)  # 0 … folds per cell
    seg = 6
    cx = np.repeat(x, folds)
    cy = np.repeat(y, folds)
    A, B, th = np.repeat(a, folds), np.repeat(b, folds), np.repeat(theta, folds)
    on = (np.arange(folds)[None, :] < count[:, None]).ravel()
    # a chord through the cell: start somewhere inside, run across at an angle, bend
    r0 = np.sqrt(fu[:, 0]) * 0.55
    p0 = 2 * np.pi * fu[:, 1]
    lx, ly = r0 * np.cos(p0) * A, r0 * np.sin(p0) * B
    c, s = np.cos(th), np.sin(th)
    sx, sy = cx + lx * c - ly * s, cy + lx * s + ly * c
    ang = 2 * np.pi * fu[:, 2]
    length = (0.35 + 0.5 * fu[:, 3]) * A
    bend = (fu[:, 4] - 0.5) * 1.2
    t = (np.arange(seg)[None, :] + 0.5) / seg - 0.5
    a_k = ang[:, None] + bend[:, None] * t
    step = (length / seg)[:, None]
    px = sx[:, None] + np.cumsum(step * np.cos(a_k), axis=1)
    py = sy[:, None] + np.cumsum(step * np.sin(a_k), axis=1)
    w = (0.5 + 0.7 * fu[:, 5])[:, None] * np.sin(np.pi * (t + 0.5)) ** 0.5 + 0.1
    amt = np.repeat(stain, folds)[:, None] * 1.1 * np.ones((1, seg))
    sel = np.broadcast_to(on[:, None], px.shape)
    draw(canvas, cls, px[sel], py[sel], w[sel], w[sel], a_k[sel],
         z_um=np.broadcast_to(np.repeat(z, folds)[:, None], px.shape)[sel],
         half_len_um=np.broadcast_to(step / 2, px.shape)[sel], profile="lens",
         amount=amt[sel], label=ctx.pop.label + "-fold")
    del n


def _buds(canvas: Canvas, ctx: Ctx, body: str, membrane: str | None, x: np.ndarray,
          y: np.ndarray, a: np.ndarray, b: np.ndarray, theta: np.ndarray, z: np.ndarray,
          u: np.ndarray, bud_prob: float, prof: str, stain: np.ndarray) -> Buds:
    """Budding yeast: a daughter of 0.3–0.8 the mother's size at one pole (or near it), its
    own irregular outline and wall; older mothers carry bud scars (small raised rings on
    the wall). Returns the buds' geometry (for their capsules)."""
    has = u[:, 16] < bud_prob
    bsize = 0.3 + 0.5 * u[has, 17]
    pole = theta[has] + np.pi * (u[has, 18] > 0.5) + (u[has, 19] - 0.5) * 0.7
    rb = a[has] * bsize
    # distance from the mother's centre to its outline towards the pole (the ellipse)
    rel = pole - theta[has]
    edge = 1.0 / np.sqrt((np.cos(rel) / a[has]) ** 2 + (np.sin(rel) / b[has]) ** 2)
    dist = edge + rb * 0.82
    bx = x[has] + np.cos(pole) * dist
    by = y[has] + np.sin(pole) * dist
    bu = children(ctx.seed ^ 0xB0D, u[has, 19], 1, 14)
    bc = outline(bu[:, :10], 0.04)
    asp = 1.0 + 0.15 * bu[:, 10]
    # the bud's wall on the bud's outline, from the same evaluation of it
    wall = ([Also(membrane, "rim", float(ctx.p("membrane_amount")) * stain[has])]
            if membrane else [])
    draw_cells(canvas, body, bx, by, rb * np.sqrt(asp), rb / np.sqrt(asp), pole, bc,
               z_um=z[has], profile=prof,
               amount=float(ctx.p("body_amount")) * stain[has] * 0.9,
               label=ctx.pop.label + "-bud", also=wall)
    geometry = (bx, by, rb * np.sqrt(asp), rb / np.sqrt(asp), pole, bc, z[has],
                np.nonzero(has)[0])
    if membrane:
        scars = int(ctx.p("scars"))
        if scars:
            su = children(ctx.seed ^ 0x5CA, u[:, 19], scars, 2)
            count = np.floor(u[:, 11] * (scars + 1)).astype(int)
            on = (np.arange(scars)[None, :] < count[:, None]).ravel()
            ang = np.repeat(theta, scars) + np.pi * (su[:, 0] - 0.5) * 0.9 + np.pi * (
                su[:, 1] > 0.5)
            A, B = np.repeat(a, scars), np.repeat(b, scars)
            rel = ang - np.repeat(theta, scars)
            rr = 1.0 / np.sqrt((np.cos(rel) / A) ** 2 + (np.sin(rel) / B) ** 2) * 0.9
            sx = np.repeat(x, scars) + rr * np.cos(ang)
            sy = np.repeat(y, scars) + rr * np.sin(ang)
            draw(canvas, membrane, sx[on], sy[on], 0.45, 0.45, z_um=np.repeat(z, scars)[on],
                 profile="rim", amount=0.9, label=ctx.pop.label + "-scar")
    return geometry


def _adherent(canvas: Canvas, ctx: Ctx, cls: str, x: np.ndarray, y: np.ndarray,
              a: np.ndarray, b: np.ndarray, theta: np.ndarray, z: np.ndarray, u: np.ndarray,
              count: int) -> None:
    """Bacteria stuck to a squame's surface: a few small colonies of cocci and short rods
    per cell, denser in some cells than others."""
    n = x.size
    colonies = 4
    cu = children(ctx.seed ^ 0xBAC, u[:, 10], colonies, 4)
    r0 = np.sqrt(cu[:, 0]) * 0.8
    p0 = 2 * np.pi * cu[:, 1]
    A, B, th = np.repeat(a, colonies), np.repeat(b, colonies), np.repeat(theta, colonies)
    lx, ly = r0 * np.cos(p0) * A, r0 * np.sin(p0) * B
    c, s = np.cos(th), np.sin(th)
    colx, coly = np.repeat(x, colonies) + lx * c - ly * s, np.repeat(y, colonies) + lx * s + ly * c
    load = np.repeat(u[:, 11] ** 2, colonies)  # some cells carry many, most a few
    per = max(count // colonies, 1)
    mu = children(ctx.seed ^ 0xBAD, cu[:, 2], per, 3)
    rad = 0.6 * np.sqrt(np.arange(per)[None, :] + 0.5) * (0.8 + 0.6 * mu[:, 0].reshape(-1, per))
    ang = np.arange(per)[None, :] * 2.4 + 2 * np.pi * mu[:, 1].reshape(-1, per)
    bx = colx[:, None] + rad * np.cos(ang)
    by = coly[:, None] + rad * np.sin(ang)
    keep = (mu[:, 2].reshape(-1, per) < load[:, None] + 0.15)
    r = 0.42 + 0.08 * mu[:, 0].reshape(-1, per)
    draw(canvas, cls, bx[keep], by[keep], r[keep], r[keep] * 0.92, ang[keep],
         z_um=np.broadcast_to(np.repeat(z, colonies)[:, None], bx.shape)[keep],
         profile="dome", amount=1.0, label=ctx.pop.label + "-bacteria")
    del n


def _scatter_inside(canvas: Canvas, ctx: Ctx, part: str, x: np.ndarray, y: np.ndarray,
                    a: np.ndarray, b: np.ndarray, theta: np.ndarray, z: np.ndarray,
                    u: np.ndarray, first: int, count: int, size_um: float, amount: float,
                    elong: float, spread: float = 0.85) -> None:
    """`count` small structures per cell, uniformly inside its body (granules, organelles)."""
    cls = ctx.cls(part)
    if not cls or count == 0:
        return
    uu = u[:, first:first + 3 * count].reshape(len(x), count, 3)
    rr = np.sqrt(uu[..., 0]) * spread
    phi = 2 * np.pi * uu[..., 1]
    lx = rr * np.cos(phi) * a[:, None]
    ly = rr * np.sin(phi) * b[:, None]
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    gx = (x[:, None] + lx * c - ly * s).ravel()
    gy = (y[:, None] + lx * s + ly * c).ravel()
    ang = (np.pi * uu[..., 2]).ravel()
    zz = np.repeat(z, count)
    # sizes vary ±25 % from structure to structure
    scale = (0.75 + 0.5 * ((uu[..., 2] * 7.0) % 1.0)).ravel()
    r = size_um / 2 * scale
    half = r * max(elong - 1.0, 0.0)
    draw(canvas, cls, gx, gy, r, r, ang, z_um=zz, profile="dome", amount=amount,
         half_len_um=half, label=ctx.pop.label + "-" + part)

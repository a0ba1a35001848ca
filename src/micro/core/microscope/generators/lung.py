"""Lung: a lace of thin, curved alveolar septa (a warped cellular net, some walls missing
where alveoli open into ducts) carrying capillaries with red cells and the nuclei of
pneumocytes and endothelium; alveolar macrophages in the air spaces; bronchioles with a
folded ciliated epithelium, smooth muscle and a companion pulmonary artery; scattered
vessels full of blood."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from micro.core.genparams import AlveoliParams
from micro.core.memory import memoized
from micro.core.microscope.generators.histology import (
    F32,
    cells_at,
    grid,
    hash01,
    hypot,
    inside,
    layer_of,
    limited,
    line,
    noise_at,
    nuclei,
    pack_red_cells,
    put,
    red_cells,
    section,
    texture,
    warp,
)
from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator
from micro.core.microscope.seeds import first_min, offsets, sq_dist

BRONCHIOLE_SPACING_UM = 2600.0
VESSEL_SPACING_UM = 650.0
DUCT_HALF = 0.05
"""Half-width of an alveolar duct's corridor, in the noise field's units (about 0.15 of an
alveolus diameter each side of its axis)."""


def alveoli_at(x: np.ndarray, y: np.ndarray, seed: int, size_um: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (µm) to the nearest alveolar wall's mid-line (negative in the small knobs
    where walls meet) and whether that wall exists (False where two alveoli open into one
    another, and along the alveolar ducts, whose walls end in free knobs).

    The air spaces are the cells of a multiplicatively weighted Voronoi diagram (each site
    d/w nearest): its walls are circular arcs and its cells vary in size with the weights,
    so the alveoli are rounded, irregular sacs rather than polygons."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    wx, wy = warp(x, y, seed ^ 0xA1, 0.6 * size_um, 0.1 * size_um)
    wx, wy = warp(wx, wy, seed ^ 0xA2, 0.32 * size_um, 0.05 * size_um)
    S = 0.62 * size_um
    ci = np.floor(wx / S).astype(np.int64)
    cj = np.floor(wy / S).astype(np.int64)
    if ci.size == 0:
        e = np.zeros(x.shape, F32)
        return e, e > 0
    ilo, jlo = int(ci.min()) - 1, int(cj.min()) - 1
    ni, nj = int(ci.max()) + 2 - ilo, int(cj.max()) + 2 - jlo
    gi, gj = np.meshgrid(np.arange(ilo, ilo + ni), np.arange(jlo, jlo + nj), indexing="xy")
    tab = uniforms(seed, gi.ravel(), gj.ravel(), 3)
    sx = ((gi.ravel() + 0.5 + (tab[:, 0] - 0.5) * 0.85) * S - ilo * S).astype(F32)
    sy = ((gj.ravel() + 0.5 + (tab[:, 1] - 0.5) * 0.85) * S - jlo * S).astype(F32)
    wt = np.exp(0.7 * (tab[:, 2] - 0.5)).astype(F32)  # 0.70–1.42
    rx, ry = (wx - ilo * S).astype(F32), (wy - jlo * S).astype(F32)
    base = ((cj - jlo) * ni + (ci - ilo)).astype(np.intp)
    del ci, cj
    offs = offsets(ni).astype(np.intp)
    k = np.empty_like(base)
    rr = np.empty((9, *base.shape), F32)  # weighted distance d/w to each of the 3×3 sites
    tmp = np.empty(base.shape, F32)
    for m, off in enumerate(offs):
        np.add(base, off, out=k)
        t = sq_dist(rx, ry, sx, sy, k, rr[m], tmp)
        np.sqrt(t, out=t)
        t /= wt.take(k)
    best, r1 = first_min(rr)  # the nearest site (the first of equals)
    kb = base + offs.take(best)
    w1 = wt.take(kb)
    soft = np.zeros(r1.shape, F32)
    second = np.full(r1.shape, np.inf, F32)
    k2 = kb.copy()
    knob = F32(2.5)
    for m, off in enumerate(offs):  # each neighbour's wall: distance ≈ Δ(d/w)·w₁w₂/(w₁+w₂)
        np.add(base, off, out=k)
        wk = wt.take(k)
        np.add(w1, wk, out=tmp)
        wk *= w1
        wk /= tmp
        b = rr[m]
        b -= r1
        b *= wk
        np.copyto(b, F32(np.inf), where=best == m)
        np.copyto(k2, k, where=b < second)
        np.minimum(second, b, out=second)
        b /= -knob
        np.exp(b, out=b)
        soft += b
    del rr
    mem = -knob * np.log(np.maximum(soft, F32(1e-30)))
    gid = gi.ravel() * 100003.0 + gj.ravel()  # each site's lattice identity
    gid1, gid2 = gid.take(kb), gid.take(k2)
    pair = hash01(np.minimum(gid1, gid2), np.maximum(gid1, gid2), seed % 65521)
    # alveolar ducts: winding corridors where the walls stop short in free knobs
    duct = np.abs(noise_at(x, y, seed ^ 0xD0C7, 4.0 * size_um) - 0.5)
    return mem.astype(F32), (pair < 0.93) & (duct > DUCT_HALF)


def airways_at(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The bronchiole nearest each point (one per lattice cell of 2.6 mm, some absent):
    distance to its centre in its own (oblique-cut, elliptical, gently warped) frame, angle,
    lumen radius there (irregular mucosal folds), outer radius; and its artery."""
    c = cells_at(x, y, seed ^ 0xB0, BRONCHIOLE_SPACING_UM, 0.5, 10, second=False)
    u = c.u.astype(F32)
    present = u[..., 2] < 0.7
    xw, yw = warp(x, y, seed ^ 0xB7, 160.0, 14.0)
    ex, ey = (xw - c.sx).astype(F32), (yw - c.sy).astype(F32)
    psi = F32(6.283) * u[..., 9]
    asp = 1.0 + 0.45 * u[..., 8]  # cut obliquely: an ellipse of axis ratio up to 2
    qa = (ex * np.cos(psi) + ey * np.sin(psi)) / np.sqrt(asp)
    qb = (-ex * np.sin(psi) + ey * np.cos(psi)) * np.sqrt(asp)
    r = hypot(qa, qb)
    phi = np.arctan2(qb, qa)
    lum0 = np.where(present, 95.0 + 70.0 * u[..., 3], 0.0).astype(F32)
    folds = np.floor(6 + 5 * u[..., 4])
    irr = phi + 0.35 * np.sin(2 * phi + 6.3 * u[..., 6])  # folds of unequal spacing
    fold_h = 0.07 + 0.08 * noise_at(x, y, seed ^ 0xB8, 70.0)
    lumen = lum0 * (1 + fold_h * np.cos(folds * irr + 6.3 * u[..., 5])
                    + 0.05 * np.cos(3 * phi + 6.3 * u[..., 6]))
    outer = np.where(present, lum0 + 58.0 + 20.0 * u[..., 7], 0.0).astype(F32)
    outer = outer * (1 + 0.06 * np.cos(2 * phi + 6.3 * u[..., 1]))
    ang = 6.283 * u[..., 7]
    ra = 0.75 * lum0 * (0.8 + 0.3 * u[..., 0])
    ax = c.sx + np.cos(ang) * (outer + ra + 15.0)
    ay = c.sy + np.sin(ang) * (outer + ra + 15.0)
    fx, fy = xw - ax, yw - ay  # the artery is cut in the same plane: the same ellipse
    fa = (fx * np.cos(psi) + fy * np.sin(psi)) / np.sqrt(asp)
    fb = (-fx * np.sin(psi) + fy * np.cos(psi)) * np.sqrt(asp)
    ar = np.where(present, hypot(fa, fb) * (1 + 0.05 * np.cos(
        2 * np.arctan2(fb, fa) + 6.3 * u[..., 5])), 1e6).astype(F32)
    return {"r": np.where(present, r, F32(1e6)), "phi": phi, "lumen": lumen, "outer": outer,
            "ar": ar, "ra": ra}


def vessels_at(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest parenchymal vessel's centre and its radius (0: none)."""
    c = cells_at(x, y, seed ^ 0x7E55, VESSEL_SPACING_UM, 0.8, 4, second=False)
    R = np.where(c.u[..., 2] < 0.45, 25.0 + 70.0 * c.u[..., 3] ** 2, 0.0).astype(F32)
    return c.d1.astype(F32), R


def sparse(fn: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]], X: np.ndarray,
           Y: np.ndarray, near: Callable[[dict[str, np.ndarray]], np.ndarray],
           far: dict[str, float], step: int = 8) -> dict[str, np.ndarray]:
    """fn (a dict of fields at points) over a window's grid, evaluated on every `step`-th
    pixel first and at full resolution only in the step × step blocks where `near` holds
    (grown by a block); elsewhere the fields take their `far` values. `near` must hold with
    a margin of a block's diagonal around wherever the fields differ from `far`."""
    H, W = X.shape
    ri = np.minimum(np.arange(0, H, step) + step // 2, H - 1)
    ci = np.minimum(np.arange(0, W, step) + step // 2, W - 1)
    coarse = fn(X[np.ix_(ri, ci)], Y[np.ix_(ri, ci)])
    blocks = ndimage.binary_dilation(near(coarse), iterations=1)
    mask = np.repeat(np.repeat(blocks, step, axis=0), step, axis=1)[:H, :W]
    out = {k: np.full((H, W), v, dtype=F32) for k, v in far.items()}
    if mask.any():
        got = fn(X[mask], Y[mask])
        for k in out:
            out[k][mask] = got[k]
    return out


@memoized("microscope.generators.lung.anchor")
def anchor(seed: int) -> tuple[float, float]:
    """Offset (µm) that puts a bronchiole 300 µm left of the slide's start position."""
    g = np.linspace(-1.5, 1.5, 31) * BRONCHIOLE_SPACING_UM
    gx, gy = np.meshgrid(g, g)
    aw = airways_at(gx, gy, seed)
    c = cells_at(gx, gy, seed ^ 0xB0, BRONCHIOLE_SPACING_UM, 0.5, 8, second=False)
    ok = aw["outer"] > 0
    k = np.argmin(np.where(ok, hypot(c.sx, c.sy), np.inf))
    return float(c.sx.ravel()[k]) + 300.0, float(c.sy.ravel()[k])


@generator("alveoli")
def alveoli(canvas: Canvas, ctx: Ctx) -> None:
    """Lung parenchyma (size_um = alveolus diameter). Params: septum_um (mean septal
    thickness). Parts: septum, nucleus, rbc, elastic, macrophage, cilia, muscle, collagen,
    epithelium, pigment. Labels: alveolar-septum, airspace, bronchiole,
    bronchiole-epithelium, cilia, vessel, macrophage."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    size = float(np.mean(ctx.pop.size_um))
    ox, oy = anchor(ctx.seed)
    X, Y = grid(w, ox, oy)
    # bronchioles and vessels are sparse: found on a coarse grid first, then computed at
    # full resolution only in the blocks near one (the result is the same as everywhere)
    reach = 60.0 + 24.0 * px
    aw = sparse(lambda x, y: airways_at(x, y, ctx.seed), X, Y,
                lambda a: (a["r"] < 1.5 * a["outer"] + 40.0 + reach)
                | (a["ar"] < 1.5 * a["ra"] + reach),
                {"r": 1e6, "phi": 0.0, "lumen": 0.0, "outer": 0.0, "ar": 1e6, "ra": 0.0})
    ves = sparse(lambda x, y: dict(zip(("d", "R"), vessels_at(x, y, ctx.seed), strict=True)),
                 X, Y, lambda a: (a["R"] > 0) & (a["d"] < a["R"] + 10.0 + reach),
                 {"d": 1e6, "R": 0.0})
    vd, vR = ves["d"], ves["R"]
    # airway and vessel walls replace the alveoli where they lie
    r, lum, outer = aw["r"], aw["lumen"], aw["outer"]
    airway = inside(r - outer, px)
    art_wall = inside(aw["ar"] - aw["ra"], px)
    art_lumen = inside(aw["ar"] - aw["ra"] + 14.0, px)
    apart = (vR > 0) & (r > outer + vR + 30.0) & (aw["ar"] > aw["ra"] + vR + 20.0)
    ves = inside(vd - vR - 5.0, px) * apart
    ves_lumen = inside(vd - vR, px) * apart
    solid = np.clip(airway + art_wall + ves, 0, 1)
    mem, wall_ok = alveoli_at(X, Y, ctx.seed, size)
    t = ctx.params(AlveoliParams).septum_um * (0.7 + 0.7 * noise_at(X, Y, ctx.seed ^ 0x5E, 60.0))
    sep = np.where(mem < 0, 1.0, line(mem, t, px)) * wall_ok
    sep = sep * (1 - inside(r - outer - 25.0, px)) * (1 - solid)
    grain = 0.8 + 0.4 * texture(w, ctx.seed ^ 0x61, 1.5)
    put(canvas, layer, ctx.cls("septum"), sep * grain, "alveolar-septum")
    put(canvas, layer, ctx.cls("elastic"), sep * 0.25)
    put(canvas, layer, None, np.clip(1 - sep - solid, 0, 1), "airspace")
    # bronchiole: cilia, columnar epithelium, lamina propria, smooth muscle, adventitia
    d = r - lum  # µm beyond the folded luminal surface
    epi = inside(np.abs(d - 11.0) - 11.0, px) * airway
    cil = inside(np.abs(d + 2.5) - 2.5, px) * airway
    lp = inside(np.abs(d - 29.0) - 7.0, px) * airway
    bundles = np.clip((noise_at(X, Y, ctx.seed ^ 0xB9, 45.0) - 0.3) * 4.0, 0, 1)
    musc = inside(np.abs(d - 44.0) - 8.0 * bundles, px) * airway  # interrupted bundles
    adv = np.clip(airway - epi - cil - lp - musc - inside(d, px), 0, 1)
    put(canvas, layer, None, np.clip(airway - inside(d, px), 0, 1), "bronchiole")
    put(canvas, layer, ctx.cls("epithelium"), epi * grain * 1.1, "bronchiole-epithelium")
    hair = limited(0.6 + 0.4 * np.cos(aw["phi"] * r / 0.8), 0.6, 0.8, px)
    put(canvas, layer, ctx.cls("cilia"), cil * hair, "cilia")
    put(canvas, layer, ctx.cls("septum"), lp * 0.5)
    fib = 0.75 + 0.4 * texture(w, ctx.seed ^ 0x63, 5.0)
    put(canvas, layer, ctx.cls("muscle"), musc * fib)
    put(canvas, layer, ctx.cls("collagen"), adv * fib * 0.7)
    # nuclei of the epithelium: a row of elongated nuclei along the fold
    cell = (aw["phi"] * np.maximum(r, 1.0)) / 6.0
    k = np.floor(cell)
    nd = hypot((cell - k - 0.5) * 6.0 / 1.6, (d - 12.0 - 3.0 * np.sin(k * 2.1)) / 3.6)
    put(canvas, layer, ctx.cls("nucleus"), limited(inside(nd - 1, px), 0.18, 3.2, px) * epi)
    # companion artery and parenchymal vessels: walls, lumina full of blood
    vwall = np.clip(art_wall - art_lumen, 0, 1) + np.clip(ves - ves_lumen, 0, 1)
    put(canvas, layer, ctx.cls("muscle"), vwall * 0.6)
    put(canvas, layer, ctx.cls("collagen"), vwall * 0.4)
    put(canvas, layer, None, np.clip(art_lumen + ves_lumen, 0, 1), "vessel")
    blood = np.clip(art_lumen + ves_lumen, 0, 1)
    clot = np.clip((noise_at(X, Y, ctx.seed ^ 0xB1, 18.0) - 0.25) * 2, 0, 1)
    rbc, hb = red_cells(canvas, ctx)
    if px > 2.0:
        put(canvas, layer, rbc, blood * (0.35 + 0.3 * clot) * hb)
    if px > 4.0:  # septal cells below the pixel size: their area means
        put(canvas, layer, rbc, sep * (1 - solid) * (0.2 * hb))
        put(canvas, layer, ctx.cls("nucleus"), sep * (1 - solid) * 0.1)
    _cells(canvas, ctx, layer, z, size, ox, oy, blood * clot, mem)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _cells(canvas: Canvas, ctx: Ctx, layer: int, z: float, size: float, ox: float,
           oy: float, blood: np.ndarray, grid_mem: np.ndarray) -> None:
    """Septal red cells and nuclei, red cells in vessels, alveolar macrophages (`grid_mem`:
    the wall distance on the window's pixels)."""
    w = canvas.window
    nuc, (rbc, hb) = ctx.cls("nucleus"), red_cells(canvas, ctx)
    if w.px_um > 4.0:
        _macrophages(canvas, ctx, layer, z, size, ox, oy)
        return
    # points near a wall are moved onto it (along the distance gradient): capillary red
    # cells, flat type I and endothelial nuclei in the wall, rounded type II cells with
    # foamy cytoplasm bulging from it, most often near the junctions
    x, y, u = ctx.points(6.0, 6.0, 8)
    # points deep in an air space cannot be near a wall: the pixel grid's wall distance
    # rules them out first (it changes by < 4 µm per µm: each warp stretches by < 2, the
    # soft minimum of the walls' distances not at all; so within 0.71 pixel of a pixel
    # centre by < 3 pixels); the rest are checked exactly
    fx, fy = (x - w.x0_um) / w.px_um, (y - w.y0_um) / w.px_um
    inwin = (fx >= 0) & (fx < w.width) & (fy >= 0) & (fy < w.height)
    ix = np.clip(fx.astype(np.int64), 0, w.width - 1)
    iy = np.clip(fy.astype(np.int64), 0, w.height - 1)
    maybe = ~inwin | (grid_mem[iy, ix] < 5.0 + 3.0 * w.px_um)
    x, y, u = x[maybe], y[maybe], u[maybe]
    xs, ys = x + ox, y + oy
    mem, ok = alveoli_at(xs, ys, ctx.seed, size)
    near = ok & (mem < 5.0)
    x, y, u, xs, ys, mem = x[near], y[near], u[near], xs[near], ys[near], mem[near]
    e = 1.0
    m1, _ = alveoli_at(xs + e, ys, ctx.seed, size)
    m2, _ = alveoli_at(xs, ys + e, ctx.seed, size)
    gx, gy = (m1 - mem) / e, (m2 - mem) / e
    gn = np.maximum(hypot(gx, gy), 0.3)
    step = np.where(mem > 0, mem, 0.0) * (0.3 + 0.7 * u[:, 6])  # not all on the mid-line
    x, y = x - gx / gn * step, y - gy / gn * step
    xs, ys = x + ox, y + oy
    aw = airways_at(xs, ys, ctx.seed)
    vd, vR = vessels_at(xs, ys, ctx.seed)
    free = (aw["r"] > aw["outer"] + 8) & (aw["ar"] > aw["ra"] + 6) & ((vR == 0) | (vd > vR + 8))
    along = np.arctan2(gy, gx) + np.pi / 2
    red = free & (u[:, 2] < 0.3)
    if rbc and red.any():
        draw(canvas, rbc, x[red], y[red], 3.6, 3.0, along[red], z_um=z,
             profile="biconcave", amount=hb)
    flat = free & (u[:, 2] > 0.66)  # type I pneumocytes and endothelium
    nuclei(canvas, layer, nuc, x[flat], y[flat], 3.6, 1.4, along[flat], u[flat], 1.0)
    t2 = free & (u[:, 2] > 0.3) & (u[:, 2] < 0.3 + np.where(mem < 0, 0.3, 0.06))
    off = 3.0 * np.where(u[t2, 7] < 0.5, 1.0, -1.0)  # bulging into one alveolus
    t2x, t2y = x[t2] + gx[t2] / gn[t2] * off, y[t2] + gy[t2] / gn[t2] * off
    cyt = ctx.cls("macrophage")
    if cyt and t2.any():
        draw(canvas, cyt, t2x, t2y, 5.0, 4.2, along[t2], z_um=z, profile="lens", amount=0.55,
             label="type-ii-pneumocyte")
    nuclei(canvas, layer, nuc, t2x, t2y, 2.6, 2.3, 0.0, u[t2], 0.9)
    if w.px_um <= 2.0 and rbc:
        x2, y2, u2 = ctx.points(5.0, 6.0, 6)
        ix = np.clip(((x2 - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
        iy = np.clip(((y2 - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
        inb = (blood[iy, ix] > 0.5) & (u2[:, 2] < 0.85)
        draw(canvas, rbc, x2[inb], y2[inb], 3.6, 3.3, 6.3 * u2[inb, 3], z_um=z,
             profile="biconcave", amount=hb)
    _macrophages(canvas, ctx, layer, z, size, ox, oy)


def _macrophages(canvas: Canvas, ctx: Ctx, layer: int, z: float, size: float, ox: float,
                 oy: float) -> None:
    """Alveolar macrophages ('dust cells') in the air spaces, some with brown pigment."""
    nuc = ctx.cls("nucleus")
    x3, y3, u3 = ctx.points(size * 1.2, 15.0, 8)
    m3, _ = alveoli_at(x3 + ox, y3 + oy, ctx.seed, size)
    aw3 = airways_at(x3 + ox, y3 + oy, ctx.seed)
    mac = (m3 > 14.0) & (aw3["r"] > aw3["outer"] + 20) & (u3[:, 2] < 0.35)
    cyt = ctx.cls("macrophage")
    if cyt and mac.any():
        draw(canvas, cyt, x3[mac], y3[mac], 8.0 + 2 * u3[mac, 3], 7.0, 6.3 * u3[mac, 4],
             z_um=z, profile="lens", amount=0.9, label="macrophage")
    nuclei(canvas, layer, nuc, x3[mac] + 2.0, y3[mac], 3.2, 2.6, 6.3 * u3[mac, 5], u3[mac], 1.0)
    pig = ctx.cls("pigment")
    dusty = mac & (u3[:, 6] < 0.5)
    if pig and dusty.any():
        n = 8
        g = np.arange(n)[None, :]
        ang = 6.283 * (g / n + u3[dusty, 7, None])
        rr = 5.0 * np.sqrt((g + 0.5) / n)
        draw(canvas, pig, (x3[dusty, None] - 2 + rr * np.cos(ang)).ravel(),
             (y3[dusty, None] + rr * np.sin(ang)).ravel(), 0.7, 0.7, z_um=z,
             profile="dome", amount=0.8)

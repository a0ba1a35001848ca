"""Small intestine (jejunum) cut along its axis, lumen up (−y): leaf- and finger-shaped
villi of varying height, width and lean, each a lamina-propria core under a simple
columnar epithelium of enterocytes (basal nuclei, brush border) and goblet cells; the crypts
of Lieberkühn below them; then muscularis mucosae, submucosa with vessels, the inner
circular and outer longitudinal muscle layers and the serosa."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from micro.core.genparams import VilliParams
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
    packed_lumen,
    put,
    section,
    texture,
)
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

EPI_UM = 26.0
LEAN = 0.38
"""Largest lean of the villi (radians), shared by neighbours."""


VilliArgs = tuple[int, float, float, float, float]
"""(seed, pitch, base, height, width) of `villus_sdf`."""


@overload
def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, core: Literal[False] = False) -> np.ndarray: ...


@overload
def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, core: Literal[True]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, core: bool = False) -> Any:
    """Signed distance (µm, negative inside) to the nearest villus. Villus k rises from
    y = base towards −y along an axis that leans (neighbours lean alike: the villi are
    packed) and bends; its height varies ±35 %, its width ±30 %, its profile from a finger
    (parallel sides) to a leaf (widest in the middle). With `core`, also the signed
    distance to its lacteal (the central lymphatic, a slit along the axis) and the villus
    is returned with the distance to its lamina-propria core, which is missing where the
    section grazes the villus (tangential cut: epithelium only)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    shape = np.broadcast(x, y).shape
    rise = np.maximum(base - y, 0.0)
    # the local lean shifts which villi can reach a point (a function of x only: on a
    # window's grid, evaluated once per column)
    xs = x[0] if x.ndim == 2 and x.strides[0] == 0 else x
    lean0 = LEAN * (noise_at(xs, xs * 0.0, seed ^ 0x1EA, 900.0) - 0.5) * 2
    k0 = np.round((x - rise * np.tan(lean0)) / pitch)
    # per-villus constants: a table over the villi the points can reach
    klo = int(k0.min()) - 1 if k0.size else 0
    kt = np.arange(klo, (int(k0.max()) + 2) if k0.size else 1, dtype=np.float64)
    tab = {q: hash01(seed, kt, q) for q in (1, 2, 3, 4, 5, 6, 11, 12, 13, 14)}
    cx_t = (kt + (tab[5] - 0.5) * 0.3) * pitch
    th_t = LEAN * (noise_at(cx_t, cx_t * 0.0, seed ^ 0x1EA, 900.0) - 0.5) * 2 + 0.12 * (
        tab[4] - 0.5)
    # per-villus constants in float32, the local frame relative to the first villus
    x0 = float(cx_t[0]) if cx_t.size else 0.0
    T = {"h": height * (0.65 + 0.7 * tab[1]), "hw": width / 2 * (0.7 + 0.6 * tab[2]),
         "leaf": tab[3], "cx": cx_t - x0, "c": np.cos(th_t), "s": np.sin(th_t),
         "bend": (tab[6] - 0.5), "graze": tab[11], "l12": tab[12], "l13": 6.3 * tab[13],
         "l14": 6.3 * tab[14]}
    T = {key: np.asarray(v, dtype=F32) for key, v in T.items()}
    xl = (x - x0).astype(F32)
    dy = (y - base).astype(F32)
    best = np.full(shape, np.inf, dtype=F32)
    cdist = np.full(shape, np.inf, dtype=F32)
    lact = np.full(shape, np.inf, dtype=F32)
    e1 = np.full(shape, np.inf, dtype=F32)  # distance to the nearest villus axis
    e2 = np.full(shape, np.inf, dtype=F32)  # and to the second nearest
    for dk in (-1, 0, 1):
        i = (k0 + dk - klo).astype(np.int64)
        h, hw, leaf = T["h"][i], T["hw"][i], T["leaf"][i]
        c, sn = T["c"][i], T["s"][i]
        dx = xl - T["cx"][i]
        a = -dy * c + dx * sn  # along the axis (up), µm
        b = dx * c + dy * sn
        t = np.clip(a / h, 0.0, 1.0)
        b = b - T["bend"][i] * hw * t * t  # the axis bends
        prof = hw * (1 + leaf * F32(0.45) * np.sin(F32(np.pi) * t) - F32(0.15) * t)
        tip_r = hw * (F32(0.85) - F32(0.15) * leaf)
        at = h - tip_r
        e = hypot(b, np.maximum(a - at, 0))
        d = np.where(a > at, e - tip_r, np.maximum(np.abs(b) - prof, -a))
        closer = e < e1
        e2 = np.where(closer, e1, np.minimum(e2, e))
        e1 = np.minimum(e1, e)
        best = np.where(closer, d, best)
        if core:
            cd = np.where(T["graze"][i] < 0.12, F32(np.inf), d + F32(EPI_UM))  # grazed
            wob = F32(3.0) * np.sin(a / F32(45.0) + T["l13"][i])  # a collapsed, wavy slit
            lw = F32(3.5) * (F32(0.6) + F32(0.8) * T["l12"][i]) * (F32(0.6) + F32(0.5) * np.sin(
                a / F32(70.0) + T["l14"][i]) ** 2)
            ld = np.maximum(np.abs(b - wob) - lw, np.maximum(F32(0.12) * h - a, a - F32(0.8) * h))
            cdist = np.where(closer, cd, cdist)
            lact = np.where(closer, ld, lact)
    # neighbours never overlap: each keeps to its side of the mid-line between their axes,
    # with a narrow cleft of lumen between them
    best = np.maximum(best, (6.0 - (e2 - e1) / 2).astype(F32))
    if core:
        return best, np.maximum(cdist, best + F32(EPI_UM)), lact
    return best


def islands(x: np.ndarray, y: np.ndarray, seed: int, top: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Villi cut across or obliquely, lying free in the lumen above the tips (y < top):
    ovals of epithelium round a core. Signed distances (µm) to the oval and to its core."""
    c = cells_at(x, y, seed ^ 0x151A, 260.0, 0.7, 6, second=False)
    u = c.u
    ra = 45.0 + 40.0 * u[..., 2]
    rb = ra * (0.55 + 0.4 * u[..., 3])
    th = 6.283 * u[..., 4]
    dx, dy = x - c.sx, y - c.sy
    p = (dx * np.cos(th) + dy * np.sin(th)) / ra
    q = (-dx * np.sin(th) + dy * np.cos(th)) / rb
    d = ((hypot(p, q) - 1) * rb).astype(F32)
    ok = (u[..., 5] < 0.45) & (c.sy < top - 1.2 * ra)
    d = np.where(ok, d, F32(np.inf))
    return d, d + F32(EPI_UM)


def crypt_sdf(x: np.ndarray, y: np.ndarray, seed: int, top: float, depth: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to the nearest crypt and the distance to its axis (µm). Most crypts
    are tubes 32–56 µm wide running down from the villus bases at a slant, rounded at the
    bottom and of varied depth; one in four is cut across and shows as a round profile."""
    pitch = 62.0
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k0 = np.round(x / pitch)
    best = np.full(np.broadcast(x, y).shape, np.inf, dtype=F32)
    axis_d = np.full(best.shape, np.inf, dtype=F32)
    klo = int(k0.min()) - 1 if k0.size else 0
    kt = np.arange(klo, (int(k0.max()) + 2) if k0.size else 1, dtype=np.float64)
    tab = {q: hash01(seed, kt, q) for q in (7, 8, 9, 10, 13, 14)}
    for dk in (-1, 0, 1):
        k = k0 + dk
        hv = {q: v[(k - klo).astype(np.int64)] for q, v in tab.items()}
        r = 16.0 + 12.0 * hv[7]
        bot = top + depth * (0.65 + 0.45 * hv[8])
        cx = (k + (hv[9] - 0.5) * 0.35) * pitch + (y - top) * (hv[10] - 0.5) * 0.45
        dx = np.abs(x - cx)
        d = np.where(y > bot - r, hypot(dx, y - (bot - r)), dx) - r
        d = np.maximum(d, top - 20.0 - y)
        across = hv[13] < 0.25
        cy = top + depth * (0.35 + 0.45 * hv[14])
        d_round = hypot(x - cx, y - cy) - r * 1.1
        d = np.where(across, d_round, d).astype(F32)
        closer = d < best
        axis_d = np.where(closer, (d + np.where(across, r * 1.1, r)).astype(F32), axis_d)
        best = np.minimum(best, d)
    return best, axis_d


def wall_layers(x: np.ndarray, mm_top: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Bottoms (y, µm, wall frame) of the muscularis mucosae, submucosa, inner circular
    and outer longitudinal muscle and serosa below `mm_top`; each layer's thickness varies
    along the gut (±25 %)."""
    x = np.asarray(x, dtype=np.float64)

    def vary(key: int, scale: float) -> np.ndarray:
        return (0.75 + 0.5 * noise_at(x, x * 0.0, seed ^ key, scale)).astype(F32)

    mm = mm_top + 28.0 * vary(0x31, 400.0)
    sub = mm + 190.0 * vary(0x32, 700.0)
    circ = sub + 170.0 * vary(0x33, 900.0)
    longi = circ + 12.0 + 90.0 * vary(0x34, 800.0)
    return {"mm": mm, "sub": sub, "circ": circ, "longi": longi, "serosa": longi + 16.0}


def bend(x: np.ndarray, seed: int) -> np.ndarray:
    """How far (µm) the whole wall is displaced towards +y at x: the gut wall is not flat."""
    x = np.asarray(x, dtype=np.float64)
    return (90.0 * (noise_at(x, x * 0.0, seed ^ 0xBE, 1400.0) - 0.5)
            + 30.0 * (noise_at(x, x * 0.0, seed ^ 0xBF, 350.0) - 0.5)).astype(F32)


def _on(mask: np.ndarray, fn, x: np.ndarray, y: np.ndarray, n: int,
        fill: float | np.floating) -> tuple[np.ndarray, ...]:
    """The n arrays fn(x, y) returns, evaluated only where `mask` holds (`fill` elsewhere)."""
    outs = tuple(np.full(mask.shape, fill, dtype=F32) for _ in range(n))
    if mask.any():
        got = fn(np.asarray(x)[mask], np.asarray(y)[mask])
        for o, g in zip(outs, got, strict=True):
            o[mask] = g
    return outs


@memoized("microscope.generators.intestine.anchor")
def anchor(seed: int, pitch: float) -> float:
    """x offset (µm) that puts villus 0 at the slide's start position."""
    return float((hash01(seed, 0, 5) - 0.5) * 0.25 * pitch)


@generator("villi")
def villi(canvas: Canvas, ctx: Ctx) -> None:
    """Jejunum. Params: pitch_um (villus spacing), base_um (y of the villus bases),
    height_um, width_um, crypt_um (crypt depth). Parts: cytoplasm, nucleus, mucin,
    brush_border, stroma, muscle, collagen, rbc. Labels: villus, crypt, lamina-propria,
    goblet, enterocyte-nucleus, muscularis-mucosae, submucosa, muscularis-externa, lacteal,
    circular-muscle, longitudinal-muscle, serosa."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    prm = ctx.params(VilliParams)
    pitch, base, H = prm.pitch_um, prm.base_um, prm.height_um
    wid, cdep = prm.width_um, prm.crypt_um
    ox = anchor(ctx.seed, pitch)
    X, Y0 = grid(w)
    row = X[0]
    Y = Y0 - bend(row, ctx.seed)  # x-only functions are evaluated once per column
    Xs = np.broadcast_to(row + ox, X.shape)
    args: VilliArgs = (ctx.seed, pitch, base, H, wid)
    far = F32(1e6)
    # each structure is computed only where it can lie
    v, cd, lact = _on(Y < base + 30.0, lambda xm, ym: villus_sdf(xm, ym, *args, core=True),
                      Xs, Y, 3, far)
    top = base - 1.4 * H
    isl, isl_core = _on(Y < top + 20.0, lambda xm, ym: islands(xm, ym, ctx.seed, top), Xs,
                        Y, 2, far)
    v = np.minimum(v, isl)
    cd = np.minimum(cd, isl_core)
    villus = inside(v, px) * (Y < base + 1)
    core = inside(cd, px) * villus
    epi = villus - core
    lacteal = inside(lact, px) * core
    mm_top = base + cdep + 10.0 + 15.0 * (noise_at(row, row * 0, ctx.seed ^ 0x3B, 300.0)
                                          - 0.5)
    c, c_axis = _on((Y > base - 25.0) & (Y < mm_top + 5.0),
                    lambda xm, ym: crypt_sdf(xm, ym, ctx.seed, base, cdep), Xs, Y, 2, far)
    zone = (Y >= base) & (Y < mm_top)
    crypt = inside(c, px) * zone
    crypt_lumen = inside(c_axis - 3.5, px) * crypt
    crypt_epi = crypt - crypt_lumen
    lp = np.clip(core + (zone * 1.0 - crypt) * (Y < mm_top), 0, 1)
    wl = wall_layers(row, mm_top, ctx.seed)

    def between(top: np.ndarray, bot: np.ndarray) -> np.ndarray:
        return inside(np.abs(Y - (top + bot) / 2) - (bot - top) / 2, px)

    mm = between(mm_top, wl["mm"])
    sub = between(wl["mm"], wl["sub"])
    circ = between(wl["sub"], wl["circ"])
    longi = between(wl["circ"] + 12.0, wl["longi"])
    plexus = between(wl["circ"], wl["circ"] + 12.0)
    serosa = between(wl["longi"], wl["serosa"])
    put(canvas, layer, None, lacteal, "lacteal")
    put(canvas, layer, None, circ, "circular-muscle")
    put(canvas, layer, None, longi, "longitudinal-muscle")
    put(canvas, layer, None, serosa, "serosa")
    put(canvas, layer, None, villus, "villus")
    put(canvas, layer, None, crypt, "crypt")
    put(canvas, layer, None, lp, "lamina-propria")
    put(canvas, layer, None, mm, "muscularis-mucosae")
    put(canvas, layer, None, sub, "submucosa")
    put(canvas, layer, None, circ + longi, "muscularis-externa")
    # epithelium: cytoplasm with faint lateral borders, brush border on the surface
    grain = 0.85 + 0.3 * texture(w, ctx.seed ^ 0x61, 1.2)
    lateral = limited(inside(np.abs(((Y + 0.3 * Xs) % 5.5) - 2.75) - 2.3, px), 0.85, 1.0, px)
    put(canvas, layer, ctx.cls("cytoplasm"), (epi * 0.9 * (0.75 + 0.25 * lateral)
                                              + crypt_epi * 0.7) * grain)
    brush = epi * line(v + 1.0, 2.0, px)
    put(canvas, layer, ctx.cls("brush_border"), brush * 1.6)
    loose = 0.5 + 0.5 * texture(w, ctx.seed ^ 0x62, 5.0)
    put(canvas, layer, ctx.cls("stroma"), (lp - 0.8 * lacteal) * loose * 0.8)
    # muscle layers and connective tissue
    fib = 0.75 + 0.4 * texture(w, ctx.seed ^ 0x63, 6.0)
    put(canvas, layer, ctx.cls("muscle"), (mm + circ + longi) * fib)
    wavy = limited(0.7 + 0.5 * np.cos(2 * np.pi * (Y + 12 * np.sin(X / 40.0)) / 9.0), 0.7,
                   4.5, px)
    put(canvas, layer, ctx.cls("collagen"), (sub * 0.6 * wavy + plexus * 0.4 + serosa * 0.5))
    # nuclei: drawn one by one where the pixels resolve them, as their area mean below
    nuc = ctx.cls("nucleus")
    if px > 2.0:  # nuclei below the pixel size: their area means
        put(canvas, layer, nuc, epi * inside(np.abs(v + EPI_UM - 9) - 4.5, px) * 0.6
            + crypt_epi * 0.35 + (mm + circ + longi) * 0.08, "enterocyte-nucleus")
    if px > 4.0:
        put(canvas, layer, nuc, lp * 0.18)
        put(canvas, layer, ctx.cls("mucin"), epi * 0.12)
    else:  # goblet cells and lamina-propria cells are resolved from 10× on
        _cells(canvas, ctx, layer, z, args, ox, cdep, fine=px <= 2.0)
    _muscle_and_vessels(canvas, ctx, layer, z, mm_top)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _normal(x: np.ndarray, y: np.ndarray, args: VilliArgs) -> np.ndarray:
    e = 1.0
    nx = villus_sdf(x + e, y, *args) - villus_sdf(x - e, y, *args)
    ny = villus_sdf(x, y + e, *args) - villus_sdf(x, y - e, *args)
    return np.arctan2(ny, nx)


def _cells(canvas: Canvas, ctx: Ctx, layer: int, z: float, args: VilliArgs, ox: float,
           cdep: float, fine: bool = True) -> None:
    """Enterocyte nuclei (basal, elongated across the surface), goblet cells, crypt
    nuclei, lymphocytes and plasma cells of the lamina propria, smooth-muscle nuclei."""
    nuc, mucin = ctx.cls("nucleus"), ctx.cls("mucin")
    base = args[2]
    if fine:
        x, y, u = ctx.points(4.2, 8.0, 8)
        y = y - bend(x, ctx.seed)
        s = villus_sdf(x + ox, y, *args)
        row = (s > -EPI_UM + 5) & (s < -EPI_UM + 13) & (u[:, 2] < 0.85) & (y < base)
        th = _normal(x + ox, y, args)
        yb = bend(x, ctx.seed)
        nuclei(canvas, layer, nuc, x[row], (y + yb)[row], 3.6, 1.5, th[row], u[row], 1.0,
               label="enterocyte-nucleus")
    x2, y2, u2 = ctx.points(18.0, 8.0, 8)
    yb2 = bend(x2, ctx.seed)
    y2 = y2 - yb2
    s2 = villus_sdf(x2 + ox, y2, *args)
    gob = (s2 > -EPI_UM + 7) & (s2 < -9) & (u2[:, 2] < 0.55) & (y2 < base)
    if mucin and gob.any():
        th2 = _normal(x2 + ox, y2, args)[gob]
        gx, gy = x2[gob], (y2 + yb2)[gob]
        cup = Canvas(canvas.window, [0.0], canvas.structures)
        draw(cup, mucin, gx, gy, 7.5, 4.5, th2, profile="flat", retardance_nm=0.0)
        cov = cup.amounts.get((0, mucin))
        cyto = ctx.cls("cytoplasm")
        if cov is not None and cyto and (layer, cyto) in canvas.amounts:
            canvas.amounts[(layer, cyto)] *= 1 - 0.8 * np.clip(cov, 0, 1)  # the pale cup
        draw(canvas, mucin, gx, gy, 7.5, 4.5, th2, z_um=z, profile="dome",
             amount=0.9 + 0.3 * u2[gob, 3], label="goblet")
        nuclei(canvas, layer, nuc, gx - 10 * np.cos(th2), gy - 10 * np.sin(th2),
               2.4, 1.6, th2, u2[gob], 1.2)
    if fine:  # crypt epithelium: nuclei around the narrow lumen
        c, ca = crypt_sdf(x + ox, y, ctx.seed, base, cdep)
        ring = (c < -3) & (ca > 7) & (u[:, 3] < 0.55) & (y > base)
        nuclei(canvas, layer, nuc, x[ring], (y + yb)[ring], 3.2, 1.8, 0.0, u[ring], 1.0)
    # lamina propria: lymphocytes and plasma cells
    x3, y3, u3 = ctx.points(8.0, 6.0, 8)
    yb3 = bend(x3, ctx.seed)
    y3 = y3 - yb3
    _s3, core3, lact3 = villus_sdf(x3 + ox, y3, *args, core=True)
    c3, _ = crypt_sdf(x3 + ox, y3, ctx.seed, base, cdep)
    lp = (((core3 < -3) & (lact3 > 1)) | ((y3 > base) & (y3 < base + cdep) & (c3 > 3))) & (
        u3[:, 2] < 0.5)
    nuclei(canvas, layer, nuc, x3[lp], (y3 + yb3)[lp], 2.5, 2.3, 0.0, u3[lp], 1.2)


def _muscle_and_vessels(canvas: Canvas, ctx: Ctx, layer: int, z: float,
                        mm_top: np.ndarray) -> None:
    """Smooth-muscle nuclei (cut across in the circular layer, along in the longitudinal
    one and the muscularis mucosae) and submucosal vessels with red cells."""
    w = canvas.window
    if w.px_um > 2.0:
        return
    X, _ = grid(w)
    top_row = (np.asarray(np.broadcast_to(mm_top, (w.height, w.width)))[0]
               + bend(X[0], ctx.seed))  # in the slide frame

    def top_at(x: np.ndarray) -> np.ndarray:
        return top_row[np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)]

    x, y, u = ctx.points(10.0, 8.0, 8)
    t = top_at(x)
    wl = wall_layers(x, t, ctx.seed)
    musc = ((y > t) & (y < wl["mm"])) | ((y > wl["sub"]) & (y < wl["longi"]))
    circ = (y > wl["sub"]) & (y < wl["circ"])
    keep = musc & (u[:, 2] < 0.6)
    th = np.where(circ, 6.3 * u[:, 3], 0.05 * (u[:, 3] - 0.5))
    a = np.where(circ, 2.0, 5.0)
    b = np.where(circ, 1.8, 1.2)
    nuclei(canvas, layer, ctx.cls("nucleus"), x[keep], y[keep], a[keep], b[keep], th[keep],
           u[keep], 1.0)
    rbc = ctx.cls("rbc")
    vx, vy, vu = ctx.points(140.0, 40.0, 8)
    vt = top_at(vx)
    vw = wall_layers(vx, vt, ctx.seed)
    ok = (vy > vw["mm"] + 35) & (vy < vw["sub"] - 40) & (vu[:, 2] < 0.7)
    if rbc and ok.any():
        R = 12.0 + 18.0 * vu[ok, 3]
        packed_lumen(canvas, ctx, vx[ok], vy[ok], R, 0.55 + 0.45 * vu[ok, 5], z)
        draw(canvas, ctx.cls("collagen") or rbc, vx[ok], vy[ok], R + 3, R + 3, z_um=z,
             profile="rim", amount=0.5)

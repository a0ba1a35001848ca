"""Small intestine (jejunum) cut along its axis, lumen up (−y): leaf- and finger-shaped
villi of varying height, width and lean, each a lamina-propria core under a simple
columnar epithelium of enterocytes (basal nuclei, brush border) and goblet cells; the crypts
of Lieberkühn below them; then muscularis mucosae, submucosa with vessels, the inner
circular and outer longitudinal muscle layers and the serosa."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import VilliParams
from micro.core.memory import memoized
from micro.core.microscope.generators.histology import (
    F32,
    grid,
    hash01,
    inside,
    layer_of,
    limited,
    line,
    noise_at,
    nuclei,
    put,
    section,
)
from micro.core.microscope.raster import Canvas, draw, value_noise
from micro.core.microscope.registry import Ctx, generator

EPI_UM = 26.0


def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float) -> np.ndarray:
    """Signed distance (µm, negative inside) to the nearest villus. Villus k rises from
    y = base towards −y; its height varies ±30 %, its width ±20 %, its profile from a
    finger (parallel sides) to a leaf (widest in the middle), and its axis leans and bends."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k0 = np.round(x / pitch)
    best = np.full(np.broadcast(x, y).shape, np.inf, dtype=F32)
    for dk in (-1, 0, 1):
        k = k0 + dk
        h = height * (0.7 + 0.6 * hash01(seed, k, 1))
        hw = width / 2 * (0.8 + 0.4 * hash01(seed, k, 2))
        leaf = hash01(seed, k, 3)
        lean = (hash01(seed, k, 4) - 0.5) * 0.5 * hw
        cx = (k + (hash01(seed, k, 5) - 0.5) * 0.25) * pitch
        t = np.clip((base - y) / h, 0.0, 1.0)
        axis = cx + lean * t * t * 2
        prof = hw * (1 + leaf * 0.45 * np.sin(np.pi * t) - 0.15 * t)
        tip_r = hw * (0.85 - 0.15 * leaf)
        side = (np.abs(x - axis) - prof).astype(F32)
        ty = base - h + tip_r
        tip = (np.hypot(x - (cx + lean * 2), np.minimum(y - ty, 0.0)) - tip_r).astype(F32)
        d = np.where(y < ty, tip, np.maximum(side, (base - h - y).astype(F32)))
        best = np.minimum(best, d)
    return best


def crypt_sdf(x: np.ndarray, y: np.ndarray, seed: int, top: float, depth: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to the nearest crypt (a tube ~45 µm wide running down from the
    villus bases, rounded at the bottom) and the distance to its axis (µm)."""
    pitch = 62.0
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k0 = np.round(x / pitch)
    best = np.full(np.broadcast(x, y).shape, np.inf, dtype=F32)
    axis_d = np.full(best.shape, np.inf, dtype=F32)
    for dk in (-1, 0, 1):
        k = k0 + dk
        r = 20.0 + 6.0 * hash01(seed, k, 7)
        bot = top + depth * (0.8 + 0.25 * hash01(seed, k, 8))
        cx = (k + (hash01(seed, k, 9) - 0.5) * 0.3) * pitch + (y - top) * (
            hash01(seed, k, 10) - 0.5) * 0.2
        dx = np.abs(x - cx)
        d = np.where(y > bot - r, np.hypot(dx, y - (bot - r)), dx) - r
        d = np.maximum(d, top - 20.0 - y).astype(F32)
        closer = d < best
        axis_d = np.where(closer, (d + r).astype(F32), axis_d)
        best = np.minimum(best, d)
    return best, axis_d


def bend(x: np.ndarray, seed: int) -> np.ndarray:
    """How far (µm) the whole wall is displaced towards +y at x: the gut wall is not flat."""
    x = np.asarray(x, dtype=np.float64)
    return (90.0 * (noise_at(x, x * 0.0, seed ^ 0xBE, 1400.0) - 0.5)
            + 30.0 * (noise_at(x, x * 0.0, seed ^ 0xBF, 350.0) - 0.5)).astype(F32)


@memoized("microscope.generators.intestine.anchor")
def anchor(seed: int, pitch: float) -> float:
    """x offset (µm) that puts villus 0 at the slide's start position."""
    return float((hash01(seed, 0, 5) - 0.5) * 0.25 * pitch)


@generator("villi")
def villi(canvas: Canvas, ctx: Ctx) -> None:
    """Jejunum. Params: pitch_um (villus spacing), base_um (y of the villus bases),
    height_um, width_um, crypt_um (crypt depth). Parts: cytoplasm, nucleus, mucin,
    brush_border, stroma, muscle, collagen, rbc. Labels: villus, crypt, lamina-propria,
    goblet, enterocyte-nucleus, muscularis-mucosae, submucosa, muscularis-externa."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    prm = ctx.params(VilliParams)
    pitch, base, H = prm.pitch_um, prm.base_um, prm.height_um
    wid, cdep = prm.width_um, prm.crypt_um
    ox = anchor(ctx.seed, pitch)
    X, Y0 = grid(w)
    Y = Y0 - bend(X, ctx.seed)
    Xs = X + ox
    args = (ctx.seed, pitch, base, H, wid)
    v = villus_sdf(Xs, Y, *args)
    villus = inside(v, px) * (Y < base + 1)
    epi = villus * (1 - inside(v + EPI_UM, px))
    core = villus - epi
    c, c_axis = crypt_sdf(Xs, Y, ctx.seed, base, cdep)
    mm_top = base + cdep + 10.0 + 15.0 * (noise_at(X, X * 0, ctx.seed ^ 0x3B, 300.0) - 0.5)
    zone = (Y >= base) & (Y < mm_top)
    crypt = inside(c, px) * zone
    crypt_lumen = inside(c_axis - 3.5, px) * crypt
    crypt_epi = crypt - crypt_lumen
    lp = np.clip(core + (zone * 1.0 - crypt) * (Y < mm_top), 0, 1)
    mm = inside(np.abs(Y - mm_top - 14.0) - 14.0, px)
    sm_bot = mm_top + 28.0 + 190.0
    sub = inside(np.abs(Y - (mm_top + 28.0 + sm_bot) / 2) - (sm_bot - mm_top - 28.0) / 2, px)
    circ_bot = sm_bot + 170.0
    circ = inside(np.abs(Y - (sm_bot + circ_bot) / 2) - 85.0, px)
    long_bot = circ_bot + 12.0 + 90.0
    longi = inside(np.abs(Y - (circ_bot + 12.0 + long_bot) / 2) - 45.0, px)
    plexus = inside(np.abs(Y - circ_bot - 6.0) - 6.0, px)
    serosa = inside(np.abs(Y - long_bot - 8.0) - 8.0, px)
    put(canvas, layer, None, villus, "villus")
    put(canvas, layer, None, crypt, "crypt")
    put(canvas, layer, None, lp, "lamina-propria")
    put(canvas, layer, None, mm, "muscularis-mucosae")
    put(canvas, layer, None, sub, "submucosa")
    put(canvas, layer, None, circ + longi, "muscularis-externa")
    # epithelium: cytoplasm with faint lateral borders, brush border on the surface
    grain = 0.85 + 0.3 * value_noise(w, ctx.seed ^ 0x61, 1.2)
    lateral = limited(inside(np.abs(((Y + 0.3 * Xs) % 5.5) - 2.75) - 2.3, px), 0.85, 1.0, px)
    put(canvas, layer, ctx.cls("cytoplasm"), (epi * 0.9 * (0.75 + 0.25 * lateral)
                                              + crypt_epi * 0.7) * grain)
    brush = epi * line(v + 1.0, 2.0, px)
    put(canvas, layer, ctx.cls("brush_border"), brush * 1.6)
    loose = 0.5 + 0.5 * value_noise(w, ctx.seed ^ 0x62, 5.0)
    put(canvas, layer, ctx.cls("stroma"), lp * loose * 0.8)
    # muscle layers and connective tissue
    fib = 0.75 + 0.4 * value_noise(w, ctx.seed ^ 0x63, 6.0)
    put(canvas, layer, ctx.cls("muscle"), (mm + circ + longi) * fib)
    wavy = limited(0.7 + 0.5 * np.cos(2 * np.pi * (Y + 12 * np.sin(X / 40.0)) / 9.0), 0.7,
                   4.5, px)
    put(canvas, layer, ctx.cls("collagen"), (sub * 0.6 * wavy + plexus * 0.4 + serosa * 0.5))
    # nuclei: drawn one by one where the pixels resolve them, as their area mean below
    nuc = ctx.cls("nucleus")
    if px > 2.0:
        put(canvas, layer, nuc, epi * inside(np.abs(v + EPI_UM - 9) - 4.5, px) * 0.6
            + crypt_epi * 0.35 + lp * 0.18 + (mm + circ + longi) * 0.08, "enterocyte-nucleus")
        put(canvas, layer, ctx.cls("mucin"), epi * 0.12)
    else:
        _cells(canvas, ctx, layer, z, args, ox, cdep)
    _muscle_and_vessels(canvas, ctx, layer, z, mm_top)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _normal(x: np.ndarray, y: np.ndarray, args: tuple) -> np.ndarray:
    e = 1.0
    nx = villus_sdf(x + e, y, *args) - villus_sdf(x - e, y, *args)
    ny = villus_sdf(x, y + e, *args) - villus_sdf(x, y - e, *args)
    return np.arctan2(ny, nx)


def _cells(canvas: Canvas, ctx: Ctx, layer: int, z: float, args: tuple, ox: float,
           cdep: float) -> None:
    """Enterocyte nuclei (basal, elongated across the surface), goblet cells, crypt
    nuclei, lymphocytes and plasma cells of the lamina propria, smooth-muscle nuclei."""
    nuc, mucin = ctx.cls("nucleus"), ctx.cls("mucin")
    base = args[2]
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
    # crypt epithelium: nuclei around the narrow lumen
    c, ca = crypt_sdf(x + ox, y, ctx.seed, base, cdep)
    ring = (c < -3) & (ca > 7) & (u[:, 3] < 0.55) & (y > base)
    nuclei(canvas, layer, nuc, x[ring], (y + yb)[ring], 3.2, 1.8, 0.0, u[ring], 1.0)
    # lamina propria: lymphocytes and plasma cells
    x3, y3, u3 = ctx.points(8.0, 6.0, 8)
    yb3 = bend(x3, ctx.seed)
    y3 = y3 - yb3
    s3 = villus_sdf(x3 + ox, y3, *args)
    c3, _ = crypt_sdf(x3 + ox, y3, ctx.seed, base, cdep)
    lp = ((s3 < -EPI_UM - 3) | ((y3 > base) & (y3 < base + cdep) & (c3 > 3))) & (
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
    sm = t + 28.0 + 190.0
    musc = ((y > t) & (y < t + 28)) | ((y > sm) & (y < sm + 272))
    circ = (y > sm) & (y < sm + 170)
    keep = musc & (u[:, 2] < 0.6)
    th = np.where(circ, 6.3 * u[:, 3], 0.05 * (u[:, 3] - 0.5))
    a = np.where(circ, 2.0, 5.0)
    b = np.where(circ, 1.8, 1.2)
    nuclei(canvas, layer, ctx.cls("nucleus"), x[keep], y[keep], a[keep], b[keep], th[keep],
           u[keep], 1.0)
    rbc = ctx.cls("rbc")
    vx, vy, vu = ctx.points(140.0, 40.0, 8)
    vt = top_at(vx)
    ok = (vy > vt + 60) & (vy < vt + 28 + 190 - 40) & (vu[:, 2] < 0.7)
    if rbc and ok.any():
        R = 12.0 + 18.0 * vu[ok, 3]
        n = 12
        ang = 6.283 * (np.arange(n)[None, :] / n + vu[ok, 4, None])
        rr = R[:, None] * np.sqrt((np.arange(n)[None, :] + 0.5) / n) * 0.8
        keep2 = (np.arange(n)[None, :] / n) < vu[ok, 5, None]
        draw(canvas, rbc, (vx[ok, None] + rr * np.cos(ang))[keep2],
             (vy[ok, None] + rr * np.sin(ang))[keep2], 3.6, 3.2, z_um=z,
             profile="biconcave", amount=0.85)
        draw(canvas, ctx.cls("collagen") or rbc, vx[ok], vy[ok], R + 3, R + 3, z_um=z,
             profile="rim", amount=0.5)

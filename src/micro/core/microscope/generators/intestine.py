"""Small intestine (jejunum) cut along its axis, lumen up (−y): leaf- and finger-shaped
villi of varying height, width and lean, each a lamina-propria core under a simple
columnar epithelium of enterocytes (basal nuclei, brush border) and goblet cells; the crypts
of Lieberkühn below them (Paneth cells at their bases); then muscularis mucosae, submucosa
with vessels, the inner circular and outer longitudinal muscle layers and the serosa.

Each villus is its own seeded outline: a centre line that leans and bends smoothly, a
width profile (broad foot, leaf bulge or finger, rounded tip) and a slow waviness that
differs on its two sides. Nearly upright, a villus is described row by row (the centre and
the two half-widths at each height), so a window evaluates one small block per villus."""

from __future__ import annotations

from dataclasses import dataclass
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
    red_cells,
    section,
    texture,
)
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

EPI_UM = 26.0
LEAN = 0.42
"""Largest lean (tangent) of the villi. The lean is a smooth field over the mucosa (`flow`,
varying with height too, so villi bend): neighbours lean and bend alike and do not cross
one another, villi a few apart lean in different directions."""
FOOT_UM = 40.0
"""How far a villus reaches below its foot (hidden by the crypt layer): no gap at the base."""
TAU = 2 * np.pi
STEP_UM = 2.0
"""Height step (µm) of the outline table that point lists are interpolated in."""
MARGIN_UM = 16.0
"""How far outside a villus its distance is needed (the cleft between neighbours, the
anti-aliased edge)."""
Params = dict[str, Any]
"""Per-villus constants: floats for one villus, (K, 1) arrays for several."""
FLOOR_UM = 22.0
"""Thickness of the epithelium lining the floor between the villus feet."""
ISLES_UM = 650.0
"""Villi cut across lie free in the lumen up to this far above the tallest tips."""

VilliArgs = tuple[int, float, float, float, float, float]
"""(seed, pitch, base, height, width, ox) of `villus_sdf`."""


@dataclass(frozen=True)
class Villi:
    """Per-villus constants (arrays over the villi k = k0, k0+1, …): foot x (villus frame,
    µm) and foot y (slide frame), height, half-width at the foot, taper, leaf bulge, the
    tangent of the lean, the bend, the centre line's wave, each side's two wave terms, the
    tip's radius and where it starts, whether the section grazes it, the lacteal's shape."""

    k0: int
    q: dict[str, np.ndarray]


def _table(seed: int, pitch: float, base: float, height: float, width: float, ox: float,
           klo: int, khi: int) -> Villi:
    """The constants of villi klo…khi, hashed from the slide seed and the villus index."""
    k = np.arange(klo, khi + 1, dtype=np.float64)
    u = {i: hash01(seed, k, i) for i in (*range(1, 17), 18, 19, 21, 22, 24, 25)}
    fx = (k + (u[5] - 0.5) * 0.45) * pitch
    h = height * (0.62 + 0.76 * u[1])
    hw = width / 2 * (0.72 + 0.56 * u[2])
    taper = 0.25 + 0.35 * u[7]
    leaf = u[3]
    R = hw * (1 - taper * 0.92) * (1 + leaf * 0.3 * np.sin(np.pi * 0.92))
    q = {
        "fx": fx, "fy": base + bend(fx - ox, seed).astype(np.float64), "h": h, "hw": hw,
        "taper": taper, "leaf": leaf,
        "tl": 0.1 * (u[4] - 0.5), "bc": 0.1 * (u[6] - 0.5),
        "wa": 6.0 + 14.0 * u[8], "wl": h * (0.5 + 0.4 * u[9]),
        "graze": u[11], "l12": u[12], "l13": TAU * u[13], "l14": TAU * u[14],
        # each side's slow waviness (relative) and the cell-scale irregularity
        "aL": 0.08 + 0.1 * u[15], "lL": 90.0 + 110.0 * u[16],
        "aR": 0.08 + 0.1 * u[18], "lR": 90.0 + 110.0 * u[19],
        "bL": 0.03 + 0.04 * u[21], "mL": 55.0 + 50.0 * u[22],
        "bR": 0.03 + 0.04 * u[24], "mR": 55.0 + 50.0 * u[25],
        "R": R, "sR": h - R,
        # the section misses a few (a wider gap), never the one at the start position
        "absent": ((u[10] < 0.07) & (k != 0)) * 1.0,
    }
    for i in range(5):  # the phases of the centre line's and the sides' waves
        for j in range(3):
            q[f"w{i}_{j}"] = TAU * hash01(seed, k, 100 + 3 * i + j)
    return Villi(klo, q)


def _reach(height: float, width: float) -> float:
    """How far (µm, along x) a villus can reach from its foot."""
    return 1.38 * height * (LEAN + 0.14) + width * 1.0 + 60.0


def _wave(v: Params, S: np.ndarray, i: int, scale: Any) -> np.ndarray:
    """Smooth irregular wave in about [−1, 1] along a villus: three sines of incommensurate
    periods (scale, 0.58 and 0.34 of it) with the villus' own phases."""
    p = f"w{i}_"
    return (0.55 * np.sin(S * (TAU / scale) + v[p + "0"])
            + 0.3 * np.sin(S * (TAU / (0.58 * scale)) + v[p + "1"])
            + 0.15 * np.sin(S * (TAU / (0.34 * scale)) + v[p + "2"]))


def flow(x: np.ndarray | float, y: np.ndarray | float, seed: int) -> np.ndarray:
    """The shared lean (tangent of the angle from upright) of the villi at slide point
    (x, y): a smooth field of long waves, so neighbours lean and bend alike."""
    ph = _flow_phases(seed)
    return LEAN * (0.5 * np.sin(x * (TAU / 2600.0) + y * (TAU / 3100.0) + ph[0])
                   + 0.35 * np.sin(x * (TAU / 1500.0) - y * (TAU / 1900.0) + ph[1])
                   + 0.15 * np.sin(x * (TAU / 1000.0) + y * (TAU / 4000.0) + ph[2]))


@memoized("microscope.generators.intestine.flow")
def _flow_phases(seed: int) -> np.ndarray:
    return (TAU * hash01(seed, np.arange(3.0), 0x1EA)).astype(F32)


def _centre(v: Params, S: np.ndarray, lean: np.ndarray) -> np.ndarray:
    """The villus' centre line: x (µm, from its foot) at height S above the foot."""
    t = np.minimum(np.maximum(S / v["h"], 0.0), 1.0)
    return np.maximum(S, 0.0) * lean + v["h"] * (v["tl"] * t + v["bc"] * t * t) \
        + v["wa"] * t * _wave(v, S, 0, v["wl"])


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]
"""(centre x, left and right half-widths, cos of the lean, tip centre x) of one villus at
heights S: what its outline is, row by row."""


def _rows(v: Params, S: np.ndarray, seed: int) -> Rows:
    """The outline of one villus at heights S above its foot (µm, any shape), or of
    several at once (v's values (K, 1) arrays, S (K, H))."""
    h, sR = v["h"], v["sR"]
    t = np.minimum(np.maximum(S / h, 0.0), 1.0)
    lean = flow(v["fx"], v["fy"] - S, seed)
    xc = _centre(v, S, lean)
    hw0 = v["hw"] * (1 - v["taper"] * t) * (1 + v["leaf"] * 0.3 * np.sin(np.pi * t)) \
        + 14.0 * np.exp(-np.maximum(S, 0.0) / 22.0)
    fade = np.minimum(np.maximum((sR - S) / 60.0, 0.0), 1.0)
    hwL = hw0 * (1 + fade * (v["aL"] * _wave(v, S, 1, v["lL"])
                             + v["bL"] * _wave(v, S, 2, v["mL"])))
    hwR = hw0 * (1 + fade * (v["aR"] * _wave(v, S, 3, v["lR"])
                             + v["bR"] * _wave(v, S, 4, v["mR"])))
    slope = lean + v["tl"] + 2 * v["bc"] * t
    cf = 1.0 / np.sqrt(1 + slope * slope)
    xcap = _centre(v, sR, flow(v["fx"], v["fy"] - sR, seed))
    return xc, hwL, hwR, cf, xcap


def _one(v: dict[str, float], rows: Rows, X: np.ndarray, S: np.ndarray, core: bool
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Signed distance (µm) to one villus at points X (villus frame, relative to its foot)
    and S (height above its foot; `rows` its outline there), broadcastable, and its claim
    on the points (the distance to its axis, growing fast outside it: where two villi
    overlap, the nearer axis keeps the point); with `core`, also the distances to its core
    and to its lacteal."""
    h, sR = v["h"], v["sR"]
    xc, hwL, hwR, cf, xcap = rows
    xcap = float(np.asarray(xcap).ravel()[0])
    xc32, hwL32, hwR32, cf32, S32 = (np.asarray(a, dtype=F32) for a in (xc, hwL, hwR, cf, S))
    S = S32
    dx = X - xc32
    side = np.where(dx < 0, -dx - hwL32, dx - hwR32) * cf32
    tip = S > F32(sR)
    ax = np.abs(dx) * cf32
    if np.any(tip):
        r = hypot(X - F32(xcap), S - F32(sR))
        d = np.where(tip, r - F32(v["R"]), side)
        ax = np.where(tip, r, ax)
    else:
        d = side
    d = np.maximum(d, F32(-FOOT_UM) - S)
    claim = ax + F32(8.0) * np.maximum(d, F32(0.0))  # beyond MARGIN_UM it never wins
    if not core:
        return d, claim, None, None
    cd = d + F32(EPI_UM) if v["graze"] >= 0.12 else np.full_like(d, np.inf)
    wob = F32(3.0) * np.sin(S / F32(45.0) + F32(v["l13"]))  # a collapsed, wavy slit
    lw = F32(3.5 * (0.6 + 0.8 * v["l12"])) * (F32(0.6) + F32(0.5) * np.sin(
        S / F32(70.0) + F32(v["l14"])) ** 2)
    ld = np.maximum(np.abs(dx - wob) - lw, np.maximum(F32(0.12 * h) - S, S - F32(0.78 * h)))
    return d, claim, cd, ld


def _merge(d: np.ndarray, e: np.ndarray, cd: np.ndarray | None, ld: np.ndarray | None,
           out: list[np.ndarray], sl: tuple[slice, ...] | np.ndarray) -> None:
    """Fold one villus into the running strongest two claims (e1, e2) and the owner's
    distance, core and lacteal distances, at `sl` of the output arrays."""
    e1, e2 = out[0][sl], out[1][sl]
    closer = e < e1
    out[1][sl] = np.where(closer, e1, np.minimum(e2, e))
    out[0][sl] = np.where(closer, e, e1)
    out[2][sl] = np.where(closer, d, out[2][sl])
    if cd is not None and ld is not None:
        out[3][sl] = np.where(closer, cd, out[3][sl])
        out[4][sl] = np.where(closer, ld, out[4][sl])


@overload
def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, ox: float, core: Literal[False] = False
               ) -> np.ndarray: ...


@overload
def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, ox: float, core: Literal[True]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def villus_sdf(x: np.ndarray, y: np.ndarray, seed: int, pitch: float, base: float,
               height: float, width: float, ox: float, core: bool = False
               ) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed distance (µm, negative inside) to the nearest villus at slide points (x, y);
    x in the villus frame (slide x + ox). Either x is a row (W,) and y a column (H,) of a
    window's grid (the result is H×W), or both are point lists of one shape. Villus k
    stands on the wall at x ≈ k·pitch (its foot follows the wall's bend) and rises to −y.
    With `core`, also the distance to its lamina-propria core (none where the section
    grazes it: epithelium only) and to its lacteal, a pale central slit. Where neighbours
    press together, the one whose axis is nearer keeps each point and a narrow cleft of
    lumen stays between them."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    is_grid = x.ndim == 1 and y.ndim == 1 and x.shape != y.shape
    shape = (y.size, x.size) if is_grid else np.broadcast(x, y).shape
    out = [np.full(shape, np.inf, dtype=F32) for _ in range(5 if core else 3)]
    if x.size == 0 or y.size == 0:
        return (out[2], out[3], out[4]) if core else out[2]
    reach = _reach(height, width)
    klo = int(np.floor((x.min() - reach) / pitch)) - 1
    khi = int(np.ceil((x.max() + reach) / pitch)) + 1
    tab = _table(seed, pitch, base, height, width, ox, klo, khi)
    q = tab.q
    # the villi that can reach the points: their feet, heights, leans and widths
    pad = (LEAN + np.abs(q["tl"]) + np.abs(q["bc"])) * q["h"] + q["wa"] + q["hw"] * 1.55 + 16.0
    ymin, ymax = float(y.min()), float(y.max())
    near = np.nonzero((q["absent"] < 0.5) & (q["fx"] + pad >= x.min())
                      & (q["fx"] - pad <= x.max()) & (q["fy"] + FOOT_UM >= ymin)
                      & (q["fy"] - q["h"] <= ymax))[0]
    Q = {key: a[near, None].astype(F32) for key, a in q.items()}
    if is_grid:
        order = xf = yf = xs = x
        # the outlines of all these villi on every row at once (small: villi × rows)
        S_tab = (q["fy"][near, None] - y[None, :]).astype(F32)
        band = max(8, int(500.0 / max(abs(float(y[1] - y[0])) if y.size > 1 else 1.0, 1e-6)))
    else:
        xf, yf = x.ravel(), y.ravel()
        order = np.argsort(xf)
        xs = xf[order]
        # the outlines sampled every STEP_UM of height, interpolated at the points
        S_tab = np.arange(-FOOT_UM - STEP_UM, float(q["h"].max()) + 2 * STEP_UM, STEP_UM,
                          dtype=F32)[None, :] + np.zeros((near.size, 1), dtype=F32)
    xc_t, hwL_t, hwR_t, cf_t, xcap_t = _rows(Q, S_tab, seed)
    if not is_grid:  # how far each villus actually reaches either side of its foot
        left = np.minimum((xc_t - hwL_t).min(axis=1), (xcap_t - Q["R"])[:, 0])
        right = np.maximum((xc_t + hwR_t).max(axis=1), (xcap_t + Q["R"])[:, 0])
    for n, j in enumerate(near):
        v = {key: float(a[j]) for key, a in q.items()}
        top, foot = v["fy"] - v["h"], v["fy"] + FOOT_UM
        xlo, xhi = v["fx"] - float(pad[j]), v["fx"] + float(pad[j])
        if is_grid:
            if y[0] <= y[-1]:
                r0, r1 = np.searchsorted(y, [top - 1.0, foot + 1.0])
            else:  # rows run towards −y
                r1, r0 = y.size - np.searchsorted(y[::-1], [top - 1.0, foot + 1.0])
            if r1 <= r0:
                continue
            S_all = S_tab[n, r0:r1]
            xc, hwL, hwR, _cf = xc_t[n, r0:r1], hwL_t[n, r0:r1], hwR_t[n, r0:r1], cf_t[n, r0:r1]
            xcap = float(xcap_t[n, 0])
            tip = S_all > v["sR"]
            lo = np.where(tip, xcap - v["R"], xc - hwL) + v["fx"] - MARGIN_UM
            hi = np.where(tip, xcap + v["R"], xc + hwR) + v["fx"] + MARGIN_UM
            # bands of rows, each over the columns its part of the villus can reach
            for b0 in range(0, r1 - r0, band):
                b1 = min(b0 + band, r1 - r0)
                c0, c1 = np.searchsorted(x, [lo[b0:b1].min(), hi[b0:b1].max()])
                if c1 <= c0:
                    continue
                X = (x[c0:c1] - v["fx"]).astype(F32)[None, :]
                band_rows: Rows = (xc[b0:b1, None], hwL[b0:b1, None], hwR[b0:b1, None],
                                   _cf[b0:b1, None], xcap)
                d, e, cd, ld = _one(v, band_rows, X, S_all[b0:b1, None], core)
                _merge(d, e, cd, ld, out, (slice(r0 + b0, r0 + b1), slice(c0, c1)))
        else:
            xlo = v["fx"] + float(left[n]) - MARGIN_UM - 1.0
            xhi = v["fx"] + float(right[n]) + MARGIN_UM + 1.0
            i0, i1 = np.searchsorted(xs, [xlo, xhi])
            idx = order[i0:i1]
            idx = idx[(yf[idx] >= top - 1.0) & (yf[idx] <= foot + 1.0)]
            if idx.size == 0:
                continue
            S = (v["fy"] - yf[idx]).astype(F32)
            g = np.clip((S - S_tab[0, 0]) / F32(STEP_UM), 0, S_tab.shape[1] - 1.001)
            g0 = g.astype(np.intp)
            f = g - g0
            rows = [(1 - f) * t[n, g0] + f * t[n, g0 + 1] for t in (xc_t, hwL_t, hwR_t, cf_t)]
            X = (xf[idx] - v["fx"]).astype(F32)
            # only the points near this villus' outline at their height
            xcap = float(xcap_t[n, 0])
            tip = S > v["sR"]
            lo = np.where(tip, xcap - v["R"], rows[0] - rows[1]) - MARGIN_UM
            hi = np.where(tip, xcap + v["R"], rows[0] + rows[2]) + MARGIN_UM
            keep = (X >= lo) & (X <= hi)
            if not keep.any():
                continue
            idx, X, S = idx[keep], X[keep], S[keep]
            pt_rows: Rows = (rows[0][keep], rows[1][keep], rows[2][keep], rows[3][keep], xcap)
            d, e, cd, ld = _one(v, pt_rows, X, S, core)
            flat = [o.reshape(-1) for o in out]
            _merge(d, e, cd, ld, flat, idx)
    e1, e2 = out[0], out[1]
    gap = F32(6.0) - (np.minimum(e2, F32(1e6)) - np.minimum(e1, F32(1e6))) / 2
    best = np.maximum(out[2], gap)
    if core:
        return best, np.maximum(out[3], best + F32(EPI_UM)), out[4]
    return best


def islands(x: np.ndarray, y: np.ndarray, seed: int, top: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Villi cut across or obliquely, lying free in the lumen above the tips (up to
    ISLES_UM above `top`): irregular ovals (two low harmonics on the outline) of epithelium
    round a core, a few grazed (epithelium only). Signed distances (µm) to the profile and
    to its core."""
    c = cells_at(x, y, seed ^ 0x151A, 240.0, 0.7, 9, second=False)
    ra = (40.0 + 45.0 * c.slot(2)).astype(F32)
    rb = ra * (0.4 + 0.55 * c.slot(3)).astype(F32)
    th = TAU * c.slot(4)
    dx, dy = (x - c.sx).astype(F32), (y - c.sy).astype(F32)
    cs, sn = np.cos(th).astype(F32), np.sin(th).astype(F32)
    p = (dx * cs + dy * sn) / ra
    q = (dy * cs - dx * sn) / rb
    r2 = p * p + q * q + F32(1e-12)
    r = np.sqrt(r2)
    # the outline's 2nd and 3rd harmonics, cos(2φ + α) and cos(3φ + β), without an arctan
    a2, a3 = (TAU * c.slot(6)).astype(F32), (TAU * c.slot(7)).astype(F32)
    c2, s2 = (p * p - q * q) / r2, 2 * p * q / r2
    c3, s3 = (c2 * p - s2 * q) / r, (s2 * p + c2 * q) / r
    wob = 1 + F32(0.1) * (c2 * np.cos(a2) - s2 * np.sin(a2)) + F32(0.07) * (
        c3 * np.cos(a3) - s3 * np.sin(a3))
    d = (r - wob) * rb
    ok = (c.slot(5) < 0.5) & (c.sy < top - 1.2 * ra) & (c.sy > top - ISLES_UM)
    d = np.where(ok, d, F32(np.inf))
    core = np.where(c.slot(8) < 0.2, F32(np.inf), d + F32(EPI_UM))
    return d, core


def crypt_sdf(x: np.ndarray, y: np.ndarray, seed: int, top: float, depth: float,
              angle: bool = False) -> tuple[np.ndarray, ...]:
    """The crypts of Lieberkühn in the wall frame below `top`: signed distances (µm) to
    the nearest crypt and to its lumen, and the height above its blind end. Crypts are
    crowded tubes 30–42 µm wide with a narrow lumen, slightly tortuous (a slow wave of
    their axis), of varied depth and slant; three in ten are cut across (one or two round
    or oval rings of cells round a tiny lumen), a few grazed (a cord of cells, no lumen).
    With `angle`, also the direction (radians) across the crypt wall at each point."""
    pitch = 46.0
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k0 = np.round(x / pitch)
    shape = np.broadcast(x, y).shape
    best = np.full(shape, np.inf, dtype=F32)
    lum = np.full(shape, np.inf, dtype=F32)
    above = np.full(shape, np.inf, dtype=F32)
    ang = np.zeros(shape, dtype=F32)
    klo = int(k0.min()) - 1 if k0.size else 0
    kt = np.arange(klo, (int(k0.max()) + 2) if k0.size else 1, dtype=np.float64)
    tab = {q: hash01(seed, kt, q).astype(F32)
           for q in (7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, 20, 21)}
    yr = (y - top).astype(F32)
    ki = (k0 - klo).astype(np.intp)
    for dk in (-1, 0, 1):
        k = k0 + dk
        hv = {q: v.take(ki + dk) for q, v in tab.items()}
        r = F32(15.0) + F32(6.0) * hv[7]
        bot = F32(depth) * (F32(0.62) + F32(0.33) * hv[8])
        lam = F32(110.0) + F32(110.0) * hv[16]
        amp = F32(3.0) + F32(8.0) * hv[15]
        ph = F32(TAU) * hv[17]
        slant = F32(0.3) * (hv[10] - F32(0.5))
        arg = F32(TAU) * yr / lam + ph
        cx = ((k + (hv[9] - 0.5) * 0.3) * pitch - x).astype(F32) + slant * yr + amp * np.sin(arg)
        slope = slant + amp * F32(TAU) / lam * np.cos(arg)
        cf = F32(1.0) / np.sqrt(F32(1.0) + slope * slope)
        rr = r * (F32(1.0) + F32(0.07) * np.sin(yr / F32(9.0) + ph))
        dx = np.abs(cx) * cf
        low = yr > bot - r
        ad = np.where(low, hypot(cx, yr - (bot - r)), dx)
        d = np.maximum(np.where(low, ad - r, dx - rr), F32(-20.0) - yr)
        # the lumen: narrow, collapsed in stretches, none where the section grazes the crypt
        open_ = np.clip(F32(0.2) + F32(1.3) * np.sin(yr / F32(28.0) + F32(TAU) * hv[21]), 0, 1)
        lr = np.where(hv[19] < 0.15, F32(-1.0), (F32(0.8) + F32(1.5) * hv[20]) * open_)
        # cut across: one or two rings at different depths
        across = hv[13] < 0.3
        cy1 = F32(depth) * (F32(0.25) + F32(0.45) * hv[14])
        cy2 = cy1 + np.where(hv[18] < 0.5, F32(2.4), F32(-2.4)) * r
        e1 = hypot(cx, (yr - cy1) * F32(1.15))
        e2 = np.where((cy2 > r) & (cy2 < bot), hypot(cx, (yr - cy2) * F32(0.95)), F32(np.inf))
        e = np.minimum(e1, e2)
        d = np.where(across, e - r * F32(1.08), d)
        ad = np.where(across, e, ad)
        closer = d < best
        best = np.where(closer, d, best)
        lum = np.where(closer, ad - np.where(across, F32(1.5) + F32(2.0) * hv[20], lr), lum)
        above = np.where(closer, np.where(across, F32(np.inf), bot - yr), above)
        if angle:
            ca = np.where(across, np.arctan2(np.where(e1 <= e2, yr - cy1, yr - cy2), -cx),
                          F32(0.0))
            ang = np.where(closer, ca, ang)
    if angle:
        return best, lum, above, ang
    return best, lum, above


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
    """The first n arrays fn(x, y) returns, evaluated only where `mask` holds (`fill`
    elsewhere)."""
    outs = tuple(np.full(mask.shape, fill, dtype=F32) for _ in range(n))
    if mask.any():
        got = fn(np.asarray(x)[mask], np.asarray(y)[mask])
        for o, g in zip(outs, got[:n], strict=True):
            o[mask] = g
    return outs


@memoized("microscope.generators.intestine.anchor")
def anchor(seed: int, pitch: float) -> float:
    """x offset (µm) that puts villus 0 at the slide's start position."""
    return float((hash01(seed, 0, 5) - 0.5) * 0.45 * pitch)


@generator("villi")
def villi(canvas: Canvas, ctx: Ctx) -> None:
    """Jejunum. Params: pitch_um (villus spacing), base_um (y of the villus bases),
    height_um, width_um, crypt_um (crypt depth). Parts: cytoplasm, nucleus, mucin,
    brush_border (also the Paneth cells' granules), stroma, muscle, collagen, rbc. Labels:
    villus, crypt, crypt-lumen, lamina-propria, goblet, enterocyte-nucleus, paneth-cell,
    muscularis-mucosae, submucosa, muscularis-externa, lacteal, circular-muscle,
    longitudinal-muscle, serosa."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    prm = ctx.params(VilliParams)
    pitch, base, H = prm.pitch_um, prm.base_um, prm.height_um
    wid, cdep = prm.width_um, prm.crypt_um
    ox = anchor(ctx.seed, pitch)
    X, Y0 = grid(w)
    row = X[0]
    Y = Y0 - bend(row, ctx.seed)  # the wall frame (x-only functions: once per column)
    Yf = Y.astype(F32)
    Xs = np.broadcast_to(row + ox, X.shape)
    args: VilliArgs = (ctx.seed, pitch, base, H, wid, ox)
    far = F32(1e6)
    v, cd, lact = villus_sdf(row + ox, Y0[:, 0], *args, core=True)
    top = base - 1.45 * H
    isl, isl_core = _on((Y < top + 20.0) & (Y > top - ISLES_UM - 100.0), lambda xm, ym: islands(xm, ym, ctx.seed, top), Xs,
                        Y, 2, far)
    v = np.minimum(v, isl)
    cd = np.minimum(cd, isl_core)
    below = inside(F32(base) - Yf, px)  # the mucosa under the villus feet
    villus = inside(v, px) * (1 - below)
    core_in = inside(cd, px)
    core = core_in * villus
    epi = villus - core
    lacteal = inside(lact, px) * core
    mm_top = base + cdep + 10.0 + 15.0 * (noise_at(row, row * 0, ctx.seed ^ 0x3B, 300.0)
                                          - 0.5)
    c, c_lum, c_up = _on((Y > base - 25.0) & (Y < mm_top + 5.0),
                         lambda xm, ym: crypt_sdf(xm, ym, ctx.seed, base, cdep), Xs, Y, 3, far)
    zone = below * (Y < mm_top)
    crypt = inside(c, px) * zone
    crypt_lumen = inside(c_lum, px) * crypt
    crypt_epi = crypt - crypt_lumen
    # the surface between the villus feet: the same epithelium, the crypts opening through it
    floor = zone * inside(Yf - F32(base + FLOOR_UM), px) * (1 - crypt) * (1 - core_in)
    surf = np.minimum(v, F32(base) - Yf)  # distance to the mucosal surface
    epi = epi + floor
    lp = np.clip(core + (zone - crypt - floor), 0, 1)
    wl = wall_layers(row, mm_top, ctx.seed)

    def between(top: np.ndarray, bot: np.ndarray) -> np.ndarray:
        return inside(np.abs(Yf - (top + bot) / 2) - (bot - top) / 2, px)

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
    put(canvas, layer, None, crypt_lumen, "crypt-lumen")
    put(canvas, layer, None, lp, "lamina-propria")
    put(canvas, layer, None, mm, "muscularis-mucosae")
    put(canvas, layer, None, sub, "submucosa")
    put(canvas, layer, None, circ + longi, "muscularis-externa")
    # epithelium: cytoplasm with faint lateral borders, brush border on the surface; the
    # crypt cells are smaller and more basophilic
    grain = 0.85 + 0.3 * texture(w, ctx.seed ^ 0x61, 1.2)
    lateral = limited(inside(np.abs(((Y + 0.3 * Xs) % 5.5) - 2.75) - 2.3, px), 0.85, 1.0,
                      px) if px < 1.5 else F32(0.85)  # cell borders: their mean when unresolved
    put(canvas, layer, ctx.cls("cytoplasm"), (epi * 0.9 * (0.75 + 0.25 * lateral)
                                              + crypt_epi * 0.4) * grain)
    brush = epi * line(surf + 1.0, 1.5, px)
    put(canvas, layer, ctx.cls("brush_border"), brush * 1.1)
    # the loose stroma's texture (its area mean where pixels are as large as its grain)
    loose = 0.5 + 0.5 * texture(w, ctx.seed ^ 0x62, 5.0) if px <= 3.0 else F32(0.75)
    put(canvas, layer, ctx.cls("stroma"), (lp - 0.6 * lacteal) * loose * 0.6
        + crypt_epi * 0.65)
    put(canvas, layer, ctx.cls("mucin"), crypt_lumen * 0.5)  # the crypts' secretion
    put(canvas, layer, ctx.cls("collagen"), (lp - 0.6 * lacteal) * loose * 0.45)
    # Paneth cells at the crypt bases: apical granules, bright with eosin (and PAS)
    paneth = crypt_epi * inside(c_up - 26.0, px)
    if px <= 3.0:  # in clusters, the granules resolved
        paneth = paneth * (texture(w, ctx.seed ^ 0x9A, 9.0) > 0.35) * limited(
            (texture(w, ctx.seed ^ 0x9B, 0.9) > 0.55) * 1.0, 0.45, 1.2, px)
    else:
        paneth = paneth * 0.3
    put(canvas, layer, ctx.cls("brush_border"), paneth * 1.6, "paneth-cell")
    # muscle layers and connective tissue
    tex6 = texture(w, ctx.seed ^ 0x63, 6.0)
    fib = 0.75 + 0.4 * tex6
    put(canvas, layer, ctx.cls("muscle"), (mm + circ + longi) * fib)
    wavy: np.ndarray | np.floating = F32(0.7)
    if px <= 3.0:  # loose, wavy collagen bundles of varying spacing and density
        drift = texture(w, ctx.seed ^ 0x65, 60.0)
        wavy = limited(0.35 + 0.45 * drift + 0.5 * np.cos(
            2 * np.pi * (Y + 12 * np.sin(X / 40.0) + 30.0 * drift) / 9.0) * (0.4 + drift),
            0.7, 4.5, px)
    put(canvas, layer, ctx.cls("collagen"), (sub * 0.6 * wavy + plexus * 0.4 + serosa * 0.5))
    # nuclei: drawn one by one where the pixels resolve them, as their area mean below
    nuc = ctx.cls("nucleus")
    if px > 3.0:  # nuclei below the pixel size: their area means, unevenly packed
        patchy = 0.6 + 0.8 * tex6
        grazed = (cd > 1e5) & (below < 0.5)  # cut en face: nuclei all over the epithelium
        band = inside(np.abs(surf + EPI_UM - 10) - 5.0, px) * ~grazed
        put(canvas, layer, nuc, (epi * (band * 0.3 + 0.08 + 0.14 * grazed) + crypt_epi * 0.4)
            * patchy
            + (mm + circ + longi) * 0.08, "enterocyte-nucleus")
        put(canvas, layer, nuc, lp * 0.2 * patchy)
        put(canvas, layer, ctx.cls("mucin"), epi * 0.12)
    else:  # enterocytes, goblet cells and lamina-propria cells resolved from 10× on
        _cells(canvas, ctx, layer, z, args, cdep)
    _muscle_and_vessels(canvas, ctx, layer, z, mm_top)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _mucosa(x: np.ndarray, y: np.ndarray, args: VilliArgs
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At slide points (x without the villus frame's offset): the signed distances to the
    mucosal surface (the villi, the profiles cut across in the lumen, the floor between the
    villus feet), to the villus cores, and to the lacteals."""
    seed, base, H, ox = args[0], args[2], args[3], args[5]
    v, cd, lact = villus_sdf(x + ox, y, *args, core=True)
    yw = y - bend(x, seed)
    top = base - 1.45 * H
    isl, isl_core = _on((yw < top + 20.0) & (yw > top - ISLES_UM - 100.0),
                        lambda xm, ym: islands(xm, ym, seed, top), x + ox, yw, 2, F32(1e6))
    return np.minimum(np.minimum(v, isl), F32(base) - yw), np.minimum(cd, isl_core), lact


def _normal(x: np.ndarray, y: np.ndarray, args: VilliArgs) -> np.ndarray:
    """Direction (radians) of the outward normal of the mucosal surface at slide points
    (central differences, the four offsets asked in one call)."""
    e, n = 1.0, x.size
    s = _mucosa(np.concatenate([x + e, x - e, x, x]), np.concatenate([y, y, y + e, y - e]),
                args)[0]
    return np.arctan2(s[2 * n:3 * n] - s[3 * n:], s[:n] - s[n:2 * n])


def _cells(canvas: Canvas, ctx: Ctx, layer: int, z: float, args: VilliArgs,
           cdep: float) -> None:
    """Enterocyte nuclei (basal, elongated across the surface, crowded at slightly
    different heights), goblet cells, crypt nuclei round the lumen, lymphocytes and plasma
    cells of the lamina propria and the red cells of its subepithelial capillaries. Villi
    are asked in the slide frame, crypts in the wall frame; the three lattices of cells
    ask their questions together (one call each for the mucosa, the crypts and the
    normals)."""
    nuc, mucin = ctx.cls("nucleus"), ctx.cls("mucin")
    base, ox = args[2], args[5]
    x, y, u = ctx.points(4.0, 8.0, 8)
    w1 = canvas.weight
    x2, y2, u2 = ctx.points(16.0, 8.0, 8)
    w2 = canvas.weight
    x3, y3, u3 = ctx.points(7.0, 6.0, 8)
    w3 = canvas.weight
    n1, n2 = x.size, x.size + x2.size
    xa, ya = np.concatenate([x, x2, x3]), np.concatenate([y, y2, y3])
    ywa = ya - bend(xa, ctx.seed)
    sa, sca, la = _mucosa(xa, ya, args)
    ca, luma, _up, anga = crypt_sdf(xa + ox, ywa, ctx.seed, base, cdep, angle=True)
    yw, yw2, yw3 = ywa[:n1], ywa[n1:n2], ywa[n2:]
    s, sc, c, lum, ang = sa[:n1], sca[:n1], ca[:n1], luma[:n1], anga[:n1]
    surface = (yw < base) | ((yw < base + FLOOR_UM + 4) & (c > 2))  # not in a crypt
    deep = s + EPI_UM - 4.0 * u[:, 4]  # nuclei at slightly different heights
    row = (deep > 4) & (deep < 12) & (u[:, 2] < 0.88) & surface
    flat = (s < -2) & (sc > 1e5) & (u[:, 2] < 0.3) & (yw < base)  # cut en face
    s2, c2 = sa[n1:n2], ca[n1:n2]
    gob = (s2 > -EPI_UM + 8) & (s2 < -8) & (u2[:, 2] < 0.55) & (
        (yw2 < base) | ((yw2 < base + FLOOR_UM) & (c2 > 6)))
    nr = int(row.sum())
    normal = _normal(np.concatenate([x[row], x2[gob]]), np.concatenate([y[row], y2[gob]]),
                     args)
    th = np.where(flat, TAU * u[:, 4], 0.0)
    th[row] = normal[:nr]
    row |= flat
    canvas.weight = w1
    nuclei(canvas, layer, nuc, x[row], y[row], np.where(flat, 2.3, 3.8)[row],
           np.where(flat, 1.9, 1.5)[row], th[row], u[row], 1.0, label="enterocyte-nucleus")
    # crypt epithelium: nuclei at the base of the cells, round the narrow lumen
    ring = (c < -2) & (c > -11) & (lum > 4) & (u[:, 3] < 0.7) & (yw > base)
    nuclei(canvas, layer, nuc, x[ring], y[ring], 3.4, 1.8, ang[ring], u[ring], 1.05)
    canvas.weight = w2
    if mucin and gob.any():
        th2 = normal[nr:]
        gx, gy = x2[gob], y2[gob]
        cup = Canvas(canvas.window, [0.0], canvas.structures)
        draw(cup, mucin, gx, gy, 9.0, 5.5, th2, profile="flat", retardance_nm=0.0)
        cov = cup.amounts.get((0, mucin))
        cyto = ctx.cls("cytoplasm")
        if cov is not None and cyto and (layer, cyto) in canvas.amounts:
            canvas.amounts[(layer, cyto)] *= 1 - 0.9 * np.clip(cov, 0, 1)  # the pale cup
        draw(canvas, mucin, gx, gy, 9.0, 5.5, th2, z_um=z, profile="dome",
             amount=0.9 + 0.3 * u2[gob, 3], label="goblet")
        nuclei(canvas, layer, nuc, gx - 10.5 * np.cos(th2), gy - 10.5 * np.sin(th2),
               2.2, 1.7, th2, u2[gob], 1.3)
    # lamina propria: lymphocytes and plasma cells, densely scattered
    canvas.weight = w3
    core3, lact3, c3 = sca[n2:], la[n2:], ca[n2:]
    lp = (((core3 < -3) & (lact3 > 1)) | ((yw3 > base + FLOOR_UM + 2) & (yw3 < base + cdep)
                                         & (c3 > 3))) & (u3[:, 2] < 0.6)
    plasma = u3[:, 5] < 0.3  # plasma cells: larger, oval
    nuclei(canvas, layer, nuc, x3[lp], y3[lp], np.where(plasma, 3.0, 2.4)[lp],
           np.where(plasma, 2.4, 2.2)[lp], TAU * u3[lp, 4], u3[lp], 1.2)
    # capillaries just under the epithelium: red cells in single file
    cap = (core3 > -8) & (core3 < -3) & (u3[:, 6] < 0.08) & (yw3 < base)
    rbc, hb = red_cells(canvas, ctx)
    if rbc and cap.any():
        draw(canvas, rbc, x3[cap], y3[cap], 3.6, 3.0, TAU * u3[cap, 7], z_um=z,
             profile="biconcave", amount=hb)


def _muscle_and_vessels(canvas: Canvas, ctx: Ctx, layer: int, z: float,
                        mm_top: np.ndarray) -> None:
    """Smooth-muscle nuclei (cut across in the circular layer, along in the longitudinal
    one and the muscularis mucosae) and submucosal vessels with red cells."""
    w = canvas.window
    if w.px_um > 3.0:
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
    fibro = (y > wl["mm"]) & (y < wl["sub"]) & (u[:, 2] < 0.1)  # submucosal fibroblasts
    keep = (musc & (u[:, 2] < 0.6)) | fibro
    th = np.where(circ, 6.3 * u[:, 3], np.where(fibro, 0.6, 0.05) * (u[:, 3] - 0.5))
    a = np.where(circ, 2.0, np.where(fibro, 4.0, 5.0))
    b = np.where(circ, 1.8, np.where(fibro, 1.0, 1.2))
    nuclei(canvas, layer, ctx.cls("nucleus"), x[keep], y[keep], a[keep], b[keep], th[keep],
           u[keep], 1.0)
    rbc = ctx.cls("rbc")
    vx, vy, vu = ctx.points(140.0, 40.0, 8)
    vt = top_at(vx)
    vw = wall_layers(vx, vt, ctx.seed)
    ok = (vy > vw["mm"] + 35) & (vy < vw["sub"] - 40) & (vu[:, 2] < 0.7)
    if rbc and ok.any():
        R = 10.0 + 45.0 * vu[ok, 3] ** 2  # capillaries and venules to small veins
        art = vu[ok, 6] < 0.35  # arterioles: a muscular wall
        draw(canvas, ctx.cls("muscle") or rbc, vx[ok][art], vy[ok][art], R[art] + 7,
             R[art] + 7, z_um=z, profile="rim", amount=0.9)
        full = np.clip((R / 45.0) ** 2, 0.08, 1.0)  # small vessels hold few
        packed_lumen(canvas, ctx, vx[ok], vy[ok], R, full * (0.3 + 0.7 * vu[ok, 5]), z)
        draw(canvas, ctx.cls("collagen") or rbc, vx[ok], vy[ok], R + 3, R + 3, z_um=z,
             profile="rim", amount=0.5)

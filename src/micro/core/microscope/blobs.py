"""Cells that are not alike (the SIMCEP / SimuCell approach).

A cell is a star-shaped outline — an ellipse whose radius is modulated by a few random
low-order harmonics, the higher orders weaker, like smooth noise along the edge — with a
thickness profile inside, optionally cut by the half-planes where it presses against its
neighbours (touching cells flatten against each other instead of overlapping as discs), and
a texture from a seeded bank (grainy cytoplasm, chromatin clumped into heterochromatin along
the envelope). Everything is a pure function of the per-cell uniforms the caller passes, in
slide micrometres, so every objective and window shows the same cells.

Textures are read from a fixed bank of periodic noise tiles at a physical scale; where the
pixels are larger than the texture it fades to its mean (1), so a low-power view keeps each
cell's area-averaged amount instead of aliasing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from micro.core.microscope.raster import PROFILES as _BASE_PROFILES
from micro.core.microscope.raster import Canvas, _mean_profile, _splat, flat_span


def cortex(r: np.ndarray) -> np.ndarray:
    """A thin shell under the membrane (cortical actin): about 2.5 % of the radius deep."""
    return np.exp(-(((1.0 - r) / 0.025) ** 2)) * 1.2


def band(r: np.ndarray) -> np.ndarray:
    """A band of cytoplasm around a clear centre (a malaria ring form): densest at 0.72 of
    the radius, e-fold half-width 0.2 of it, peak 1.5 as a dome's."""
    return np.exp(-(((r - 0.72) / 0.2) ** 2)) * 1.5


PROFILES = {**_BASE_PROFILES, "cortex": cortex, "band": band}
_MEANS = {name: _mean_profile(p) for name, p in PROFILES.items()}

TEX = 64
"""Texels per side of a bank tile."""
TEXEL_PER_FEATURE = 4.0
"""A texture's feature (grain, clump) spans about this many texels."""


def _make_bank(tiles: int = 8, seed: int = 0x5EED_CE11) -> np.ndarray:
    """(tiles, TEX, TEX) float32 periodic smooth noise, rank-normalised to uniform [0, 1]
    (symmetric about 0.5, so a threshold at q keeps a fraction 1 − q)."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((tiles, TEX, TEX))
    k = np.fft.fftfreq(TEX)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    sigma = 1.0 / (np.pi * TEXEL_PER_FEATURE)
    filt = np.exp(-k2 / (2 * sigma * sigma))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(white) * filt))
    flat = smooth.reshape(tiles, -1)
    ranks = flat.argsort(axis=1).argsort(axis=1)
    return ((ranks + 0.5) / flat.shape[1]).reshape(tiles, TEX, TEX).astype(np.float32)


BANK = _make_bank()


def _rim_mean(profile: str) -> float:
    """Profile-weighted mean of rho³ over the unit disc: the envelope term's offset, so that
    chromatin gathered on the envelope does not change the nucleus' total amount."""
    r = np.sqrt((np.arange(4096) + 0.5) / 4096)
    w = PROFILES[profile](r)
    return float((w * r ** 3).sum() / w.sum())


_RIM = {name: _rim_mean(name) for name in PROFILES}


@dataclass(frozen=True)
class Texture:
    """How a cell's amount varies inside it.

    scale_um: feature size; strength: relative modulation (0 = flat); clump: fraction of the
    area in clumps (None = smooth grain; 0.4 = heterochromatin blobs covering 40 %);
    envelope: extra amount towards the rim (chromatin on the nuclear envelope)."""

    scale_um: float
    strength: float
    clump: float | None = None
    envelope: float = 0.0


def outline(u: np.ndarray, irregularity: float | np.ndarray, orders: int = 5) -> np.ndarray:
    """(n, orders, 2) harmonic coefficients (cos, sin) for orders 2 … orders+1 from (n,
    2·orders) uniforms; amplitude falls as order^-1.5 so the outline is smooth but never a
    perfect ellipse. `irregularity` is the amplitude of order 2 (fraction of the radius)."""
    n = u.shape[0]
    m = np.arange(2, orders + 2, dtype=np.float64)
    amp = np.asarray(irregularity, dtype=np.float64).reshape(-1, 1) * (m / 2.0) ** -1.5
    c = (2.0 * u[:, :2 * orders].reshape(n, orders, 2) - 1.0) * amp[..., None]
    return c


def polygon(u: np.ndarray, sides: np.ndarray, roundness: float, orders: int = 10
            ) -> np.ndarray:
    """Harmonics of a rounded irregular polygon (a flat squame): a few extra low orders
    from (n, 2·orders) uniforms plus the order `sides` peak that gives the corners."""
    c = outline(u, 0.07, orders)
    m = np.arange(2, orders + 2)
    hit = m[None, :] == np.asarray(sides)[:, None]
    phase = 2 * np.pi * u[:, 0]
    c[..., 0] += np.where(hit, roundness * np.cos(phase)[:, None], 0.0)
    c[..., 1] += np.where(hit, roundness * np.sin(phase)[:, None], 0.0)
    return c


def contacts(x: np.ndarray, y: np.ndarray, r: np.ndarray, gap_um: float = 0.15,
             max_planes: int = 6) -> np.ndarray:
    """Where cells press on each other: (n, max_planes, 3) half-planes (unit normal nx, ny
    and offset s in µm from the cell's centre) splitting each overlapping pair on their
    power line (a bigger cell keeps more), `gap_um` apart. Unused planes have s = inf. The
    verdict on a pair depends only on the two cells, so it is the same in every window."""
    n = x.size
    planes = np.zeros((n, max_planes, 3))
    planes[..., 2] = np.inf
    if n < 2:
        return planes
    pts = np.column_stack([x, y])
    pairs = cKDTree(pts).query_pairs(2.0 * float(r.max()), output_type="ndarray")
    if pairs.size == 0:
        return planes
    a, b = pairs[:, 0], pairs[:, 1]
    dx, dy = x[b] - x[a], y[b] - y[a]
    d = np.hypot(dx, dy)
    hit = (d < r[a] + r[b]) & (d > 1e-6)
    a, b, dx, dy, d = a[hit], b[hit], dx[hit], dy[hit], d[hit]
    sa = (d * d + r[a] ** 2 - r[b] ** 2) / (2 * d) - gap_um / 2
    sb = d - sa - gap_um
    nx, ny = dx / d, dy / d
    rows = np.concatenate([a, b])
    vals = np.column_stack([np.concatenate([nx, -nx]), np.concatenate([ny, -ny]),
                            np.concatenate([sa, sb])])
    # keep the tightest planes of each cell
    order = np.lexsort((vals[:, 2], rows))
    rows, vals = rows[order], vals[order]
    first = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.size) - first
    ok = rank < max_planes
    planes[rows[ok], rank[ok]] = vals[ok]
    return planes


def grid_contacts(x: np.ndarray, y: np.ndarray, r: np.ndarray, ok: np.ndarray, reach: int,
                  gap_um: float = 0.15, max_planes: int = 6) -> np.ndarray:
    """`contacts` for cells on a lattice grid (2-D arrays, one cell per lattice cell, those
    with `ok` present; `reach` lattice cells cover the widest overlapping pair): the planes
    of the cells x[ok], in that order, found by looking at neighbouring grid cells only."""
    H, W = x.shape
    q = reach
    Wp = W + 2 * q
    px_, py_ = np.pad(x, q).ravel(), np.pad(y, q).ravel()
    pr, pok = np.pad(r, q).ravel(), np.pad(ok, q).ravel()
    jj, ii = np.nonzero(ok)
    me = (jj + q) * Wp + (ii + q)
    n = me.size
    offs = [(di, dj) for dj in range(-q, q + 1) for di in range(-q, q + 1) if di or dj]
    cand = np.zeros((n, len(offs), 3))
    cand[..., 2] = np.inf
    xa, ya, ra = px_[me], py_[me], pr[me]
    for k, (di, dj) in enumerate(offs):
        o = me + dj * Wp + di
        dx, dy = px_[o] - xa, py_[o] - ya
        dist = np.hypot(dx, dy)
        hit = pok[o] & (dist < ra + pr[o]) & (dist > 1e-6)
        if not hit.any():
            continue
        dh = dist[hit]
        cand[hit, k, 0] = dx[hit] / dh
        cand[hit, k, 1] = dy[hit] / dh
        cand[hit, k, 2] = (dh * dh + ra[hit] ** 2 - pr[o][hit] ** 2) / (2 * dh) - gap_um / 2
    order = np.argsort(cand[..., 2], axis=1)[:, :max_planes]
    return np.take_along_axis(cand, order[..., None], axis=1)


_BUCKETS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64)


@dataclass(frozen=True)
class Also:
    """A further class `draw_cells` draws on the same outlines (see its `also`)."""

    cls: str
    profile: str
    amount: np.ndarray | float = 1.0
    label: str | None = None
    z_um: np.ndarray | float | None = None
    """Its depth (default: the cells' own)."""


def draw_cells(canvas: Canvas, cls: str, x: np.ndarray, y: np.ndarray, a_um: np.ndarray,
               b_um: np.ndarray, theta: np.ndarray, coeffs: np.ndarray, *,
               z_um: np.ndarray | float = 0.0, amount: np.ndarray | float = 1.0,
               profile: str = "lens", planes: np.ndarray | None = None,
               texture: Texture | None = None, tex_u: np.ndarray | None = None,
               label: str | None = None, centre_label: str | None = None,
               also: Sequence[Also] = ()) -> None:
    """Draw star-shaped cells of one class.

    a_um, b_um: semi-axes along and across theta; coeffs (n, K, 2): radius harmonics of
    orders 2 … K+1 (see `outline`); planes (n, M, 3): contact half-planes (see `contacts`);
    tex_u (n, 3) uniforms choosing each cell's texture tile and offset. `centre_label`
    adds a unit point per cell at its centre, so tests can count cells. `also` draws
    further classes on the very same outlines (a cell body and its cortex, a yeast's
    cytoplasm and wall), each with its own profile, amount, label and depth and without
    texture, from one evaluation of the outline: the same maps as separate calls, at
    about the cost of one.
    """
    n = np.size(x)
    if n == 0:
        return
    w = canvas.window
    px = w.px_um

    def vec(v: object) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()

    x, y = vec(x), vec(y)
    A, B = vec(a_um) / px, vec(b_um) / px
    th = vec(theta)
    amt = vec(amount) * canvas.weight
    K = coeffs.shape[1]
    coeffs = np.asarray(coeffs, dtype=np.float64).reshape(n, K, 2)
    if planes is None:
        planes = np.zeros((n, 1, 3))
        planes[..., 2] = np.inf
    planes = planes.copy()
    planes[..., 2] /= px
    if tex_u is None:
        tex_u = np.zeros((n, 3))
    layers = np.broadcast_to(canvas.layer_of(np.asarray(z_um)), (n,))
    cx, cy = w.to_px(x, y)
    rmax = 1.0 + np.abs(coeffs).sum(axis=(1, 2))
    reach = np.maximum(A, B) * rmax
    area = np.pi * A * B * (1.0 + 0.5 * (coeffs ** 2).sum(axis=(1, 2)))
    kinds = [(cls, profile, amt, label)] + [(k.cls, k.profile, vec(k.amount) * canvas.weight,
                                            k.label) for k in also]
    amts = [k[2] for k in kinds]
    targets = [k_amt * _MEANS[k_prof] * area for _c, k_prof, k_amt, _l in kinds]
    drawn = targets[0] > 0
    for t in targets[1:]:
        drawn = drawn | (t > 0)
    visible = ((cx + reach + 2 > 0) & (cx - reach - 2 < w.width)
               & (cy + reach + 2 > 0) & (cy - reach - 2 < w.height) & drawn)
    tex = _TexParams.of(texture, px, _RIM[profile])
    profs = tuple(PROFILES[k[1]] for k in kinds)
    # each kind's layer per cell; cells are drawn in groups sharing all of them
    per_kind = np.stack([layers] + [
        layers if k.z_um is None
        else np.broadcast_to(canvas.layer_of(np.asarray(k.z_um)), (n,)) for k in also])
    combos = np.unique(per_kind[:, visible], axis=1)
    for combo in combos.T:
        sel = np.nonzero(visible & (per_kind == combo[:, None]).all(axis=0))[0]
        # a kind shares its class map only if no earlier kind draws the same map (whose
        # label must not see the later kind's structures)
        keys = [(int(li), k[0]) for li, k in zip(combo, kinds, strict=True)]
        accs = [canvas.accumulator(li, k_cls, shared=not kinds[i][3]
                                   and (li, k_cls) not in keys[:i])
                for i, (li, k_cls) in enumerate(keys)]
        tiny = sel[reach[sel] < 0.75]
        if tiny.size:
            for (acc, _f), target in zip(accs, targets, strict=True):
                _splat(acc, w, cx[tiny], cy[tiny], target[tiny])
        big = sel[reach[sel] >= 0.75]
        bucket = np.searchsorted(_BUCKETS, np.ceil(reach[big] + 0.6))
        outs = [acc for acc, _f in accs]
        for bk in np.unique(bucket):
            grp = big[bucket == bk]
            if bk >= len(_BUCKETS):
                for g in grp:
                    _one_clipped(outs, w, int(g), reach, cx, cy, A, B, th, coeffs, amts,
                                 planes, tex, tex_u, profs)
                continue
            R = _BUCKETS[int(bk)]
            chunk = max(1, 200_000 // ((2 * R + 1) ** 2))
            for start in range(0, grp.size, chunk):
                _chunk(outs, w, grp[start:start + chunk], R, cx, cy, A, B, th, coeffs, amts,
                       planes, tex, tex_u, targets, profs)
        span = flat_span(w, cy[sel], reach[sel])
        for (li, k_cls), (acc, fresh), k in zip(keys, accs, kinds, strict=True):
            k_label = k[3]
            if not fresh:
                canvas.add(li, k_cls, acc, span)
            if k_label:
                canvas.add_label(k_label, acc, span)
    if centre_label:
        pts = np.zeros(canvas.npix, dtype=np.float32)
        inside = (cx >= 0) & (cx < w.width) & (cy >= 0) & (cy < w.height)
        np.add.at(pts, cy[inside].astype(np.int64) * w.width + cx[inside].astype(np.int64),
                  np.float32(canvas.weight))
        canvas.add_label(centre_label, pts)


@dataclass(frozen=True)
class _TexParams:
    texel_px: float
    """Texels per pixel."""
    strength: float
    clump: float | None
    envelope: float
    rim_mean: float

    @staticmethod
    def of(t: Texture | None, px_um: float, rim_mean: float) -> _TexParams | None:
        if t is None or (t.strength <= 0 and t.envelope <= 0):
            return None
        # a feature smaller than ~2 pixels averages out inside them: fade to the mean
        fade = float(np.clip(t.scale_um / px_um / 2.0 - 0.25, 0.0, 1.0))
        if fade <= 0:
            return None
        return _TexParams(px_um / (t.scale_um / TEXEL_PER_FEATURE), t.strength * fade,
                          t.clump, t.envelope * fade, rim_mean)


def _eval(u: np.ndarray, v: np.ndarray, g: np.ndarray, A: np.ndarray, B: np.ndarray,
          th: np.ndarray, coeffs: np.ndarray, planes: np.ndarray, tex: _TexParams | None,
          tex_u: np.ndarray, profs: tuple[object, ...]
          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each profile: coverage × profile × texture at pixel offsets (u, v) from each
    cell's centre (float32, (k, h, w)), and the value without the contact planes (for area
    normalisation). The outline, edge and planes are evaluated once for all profiles.
    Harmonics that move the outline by less than a quarter pixel, and contact planes of
    cells under three pixels across, are skipped: they cannot show."""
    f32 = np.float32

    def per(a: np.ndarray) -> np.ndarray:
        return a.astype(f32)[:, None, None]

    c, s = per(np.cos(th[g])), per(np.sin(th[g]))
    a, b = per(A[g]), per(B[g])
    up = u * c + v * s
    up /= a
    vp = v * c - u * s
    vp /= b
    rho = np.hypot(up, vp)
    big = float(np.maximum(A[g], B[g]).max())
    wiggle = float(np.abs(coeffs[g]).sum(axis=(1, 2)).max()) * big
    R: np.ndarray | float = 1.0
    if wiggle > 0.25:
        inv = 1.0 / np.maximum(rho, f32(1e-6))
        up *= inv
        vp *= inv
        c1, s1 = up, vp
        Rm = np.ones_like(rho)
        cm, sm = c1, s1
        for k in range(coeffs.shape[1]):
            cm, sm = cm * c1 - sm * s1, sm * c1 + cm * s1  # order k+2
            Rm += per(coeffs[g, k, 0]) * cm
            Rm += per(coeffs[g, k, 1]) * sm
        np.maximum(Rm, f32(0.3), out=Rm)
        rho /= Rm
        R = Rm
    del up, vp
    edge = 1.0 - rho
    edge *= R * np.minimum(a, b) if isinstance(R, np.ndarray) else np.minimum(a, b)
    edge += f32(0.5)
    np.clip(edge, 0.0, 1.0, out=edge)
    np.minimum(rho, f32(1.0), out=rho)
    vals = []
    for prof in profs:
        val = prof(rho)  # type: ignore[operator]
        val *= edge
        vals.append(val.astype(f32, copy=False))
    if tex is not None:
        vals[0] *= _texture(u, v, g, rho, tex, tex_u)
    if big < 1.5:
        return [(val, val) for val in vals]
    cut: np.ndarray | None = None
    for m in range(planes.shape[1]):
        s_m = planes[g, m, 2]
        if not np.isfinite(s_m).any():
            continue
        s_m = np.where(np.isfinite(s_m), s_m, 1e6)
        h = per(s_m) - (u * per(planes[g, m, 0]) + v * per(planes[g, m, 1]))
        h += f32(0.5)
        np.clip(h, 0.0, 1.0, out=h)
        cut = h if cut is None else cut * h
    return [((val if cut is None else val * cut), val) for val in vals]


def _texture(u: np.ndarray, v: np.ndarray, g: np.ndarray, rho: np.ndarray, tex: _TexParams,
             tex_u: np.ndarray) -> np.ndarray:
    f32 = np.float32
    tile = (tex_u[g, 0] * BANK.shape[0]).astype(np.int64)[:, None, None]
    tx = u * f32(tex.texel_px) + (tex_u[g, 1] * TEX).astype(f32)[:, None, None]
    ty = v * f32(tex.texel_px) + (tex_u[g, 2] * TEX).astype(f32)[:, None, None]
    ix, iy = np.floor(tx), np.floor(ty)
    fx, fy = tx - ix, ty - iy
    ix = ix.astype(np.int64) % TEX
    iy = iy.astype(np.int64) % TEX
    jx, jy = (ix + 1) % TEX, (iy + 1) % TEX
    base = tile * (TEX * TEX)
    flat = BANK.reshape(-1)
    t = ((flat[base + iy * TEX + ix] * (1 - fx) + flat[base + iy * TEX + jx] * fx) * (1 - fy)
         + (flat[base + jy * TEX + ix] * (1 - fx) + flat[base + jy * TEX + jx] * fx) * fy)
    if tex.clump is None:
        f = 1.0 + f32(tex.strength) * (2.0 * t - 1.0)
    else:
        p = f32(tex.clump)
        blob = np.clip((t - (1 - p)) / f32(0.06) + f32(0.5), 0.0, 1.0)
        f = 1.0 + f32(tex.strength) * (blob / p - 1.0)
    if tex.envelope:
        r3 = np.minimum(rho, f32(1.0)) ** 3
        f = f * (1.0 + f32(tex.envelope) * (r3 - f32(tex.rim_mean)))
    return np.maximum(f, f32(0.0)).astype(f32)


def _chunk(accs: list[np.ndarray], w: object, g: np.ndarray, R: int, cx: np.ndarray,
           cy: np.ndarray, A: np.ndarray, B: np.ndarray, th: np.ndarray, coeffs: np.ndarray,
           amts: list[np.ndarray], planes: np.ndarray, tex: _TexParams | None,
           tex_u: np.ndarray, targets: list[np.ndarray], profs: tuple[object, ...]) -> None:
    f32 = np.float32
    W, H = w.width, w.height  # type: ignore[attr-defined]
    off = np.arange(-R, R + 1, dtype=np.int32)
    fx, fy = np.floor(cx[g]), np.floor(cy[g])
    u = off.astype(f32)[None, None, :] + (fx + 0.5 - cx[g]).astype(f32)[:, None, None]
    v = off.astype(f32)[None, :, None] + (fy + 0.5 - cy[g]).astype(f32)[:, None, None]
    gx = fx.astype(np.int64)[:, None, None] + off[None, None, :]
    gy = fy.astype(np.int64)[:, None, None] + off[None, :, None]
    inside = (gx >= 0) & (gx < W) & (gy >= 0) & (gy < H)
    flat = gy * W + gx
    small = np.minimum(A[g], B[g]) < 4.0
    for (val, free), acc, amt, target in zip(
            _eval(u, v, g, A, B, th, coeffs, planes, tex, tex_u, profs), accs, amts, targets,
            strict=True):
        total = free.sum(axis=(1, 2), dtype=np.float64)
        # small cells: conserve area·amount whatever their sub-pixel placement
        scale = np.where(small, target[g] / np.maximum(total, 1e-12), amt[g])
        val *= scale.astype(f32)[:, None, None]
        m = inside & (val > 0)
        # a scatter-add of the covered pixels only (a full-image bincount per chunk would
        # allocate and sweep three image-sized arrays)
        np.add.at(acc, flat[m], val[m])


def _one_clipped(accs: list[np.ndarray], w: object, g: int, reach: np.ndarray,
                 cx: np.ndarray, cy: np.ndarray, A: np.ndarray, B: np.ndarray,
                 th: np.ndarray, coeffs: np.ndarray, amts: list[np.ndarray],
                 planes: np.ndarray, tex: _TexParams | None, tex_u: np.ndarray,
                 profs: tuple[object, ...]) -> None:
    W, H = w.width, w.height  # type: ignore[attr-defined]
    r = reach[g] + 1.0
    x0, x1 = max(int(np.floor(cx[g] - r)), 0), min(int(np.ceil(cx[g] + r)), W)
    y0, y1 = max(int(np.floor(cy[g] - r)), 0), min(int(np.ceil(cy[g] + r)), H)
    if x0 >= x1 or y0 >= y1:
        return
    f32 = np.float32
    gi = np.array([g])
    u = (np.arange(x0, x1) + 0.5 - cx[g]).astype(f32)[None, None, :]
    v = (np.arange(y0, y1) + 0.5 - cy[g]).astype(f32)[None, :, None]
    for (val, _), acc, amt in zip(_eval(u, v, gi, A, B, th, coeffs, planes, tex, tex_u, profs),
                                  accs, amts, strict=True):
        acc.reshape(H, W)[y0:y1, x0:x1] += val[0] * f32(amt[g])


def lognormal(u: np.ndarray, mean: float, cv: float, lo: float, hi: float) -> np.ndarray:
    """Sizes from a log-normal of this mean and coefficient of variation, truncated to
    [lo, hi] by inverting the truncated distribution (no pile-up at the limits)."""
    from scipy.special import ndtr, ndtri

    s2 = np.log1p(cv * cv)
    mu, s = np.log(mean) - s2 / 2, np.sqrt(s2)
    flo, fhi = ndtr((np.log(lo) - mu) / s), ndtr((np.log(hi) - mu) / s)
    q = flo + (fhi - flo) * np.asarray(u)
    return np.exp(mu + s * ndtri(np.clip(q, 1e-12, 1 - 1e-12)))


def uptake(u: np.ndarray, v: np.ndarray, spread: float = 0.15, outliers: float = 0.04
           ) -> np.ndarray:
    """Per-cell stain uptake from two uniforms: log-normal around 1 with this spread (u),
    and a few cells (the fraction `outliers`, by v) markedly over- or under-stained (×1.45
    or ×0.6)."""
    from scipy.special import ndtri

    f = np.exp(spread * ndtri(np.clip(np.asarray(u), 1e-6, 1 - 1e-6)))
    f = np.where(v < outliers / 2, f * 0.6, f)
    return np.where(v > 1 - outliers / 2, f * 1.45, f)

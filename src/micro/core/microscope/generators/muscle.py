"""Muscle, laid out fibre by fibre before any detail is drawn.

Skeletal: long parallel fibres 50–100 µm wide that undulate together, endomysium between
them and thicker perimysium around fascicles, flattened nuclei at the fibre's edge under the
sarcolemma, cross-striations at the true sarcomere period. Cardiac: fibres 10–20 µm wide
that fuse and split (branching), cells joined end to end by step-like intercalated discs,
one oval central nucleus per cell in a pale perinuclear zone. Smooth: interlacing fascicles
of spindle cells with cigar-shaped central nuclei, cut along or across.

Periodic structure finer than the pixel grid is synthesised from its Fourier series with
every harmonic weighted by the pixel's box average and cut before the sampling Nyquist
frequency (`sarcomere_bands`), so a 4× view shows the striations' mean colour and a 40×
view the bands themselves — never a moiré.
"""

from __future__ import annotations

import numpy as np

from micro.core.genparams import CardiacMuscleParams, SkeletalMuscleParams, SmoothMuscleParams
from micro.core.microscope.generators.histology import cells_at, hypot, red_cells
from micro.core.microscope.generators.layout import noise, warped_cells
from micro.core.microscope.generators.section import thickness
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas, band
from micro.core.microscope.registry import Ctx, generator

F32 = np.float32


def _taper(m: float) -> float:
    """Weight of a harmonic at m = its frequency / the sampling Nyquist frequency: 1 up to
    0.6, a raised-cosine roll-off to 0 at 0.9 (nothing reaches Nyquist)."""
    if m <= 0.6:
        return 1.0
    if m >= 0.9:
        return 0.0
    return float(0.5 + 0.5 * np.cos(np.pi * (m - 0.6) / 0.3))


def sarcomere_bands(U: np.ndarray, sarc_um: float, duty: float, px_um: float, angle: float,
                    phase: np.ndarray | float = 0.0, max_harmonics: int = 9) -> np.ndarray:
    """Band-limited coverage of a periodic band (1 inside, 0 outside) of period `sarc_um`
    along U (µm) and fractional width `duty`, centred at phase 0.5, for pixels of `px_um`
    whose grid meets the bands' normal at `angle` (radians from x).

    Square wave = duty + Σ 2/(πk)·sin(πk·duty)·cos(2πk(t − ½)); harmonic k has spatial
    frequency k/sarc along (cos angle, sin angle) and is kept with weight
    sinc(fx·px)·sinc(fy·px) (the pixel's area average) × a roll-off that reaches zero
    before the larger of |fx|, |fy| meets the Nyquist frequency 1/(2 px). Returns float32."""
    fn = 0.5 / px_um
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    theta = (2 * np.pi) * (np.asarray(U) / sarc_um + phase - 0.5)
    out = np.full(np.shape(theta), duty, dtype=F32)
    cos1 = np.cos(theta).astype(F32)
    prev, cur = np.ones_like(cos1), cos1
    for k in range(1, max_harmonics + 1):
        f = k / sarc_um
        fx, fy = f * c, f * s
        g = _taper(max(fx, fy) / fn) * float(np.sinc(fx * px_um) * np.sinc(fy * px_um))
        if g <= 0.0:
            break
        a = 2.0 / (np.pi * k) * np.sin(np.pi * k * duty) * g
        if abs(a) > 1e-4:
            out += F32(a) * cur
        prev, cur = cur, F32(2.0) * cos1 * cur - prev  # Chebyshev: cos((k+1)θ)
    return out


def _hash01(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """A cheap deterministic pseudo-random value in [0, 1) (float32) per integer pair
    (a, b), given as integer-valued floats."""
    h = (np.asarray(a).astype(np.int64) * 73856093) ^ (np.asarray(b).astype(np.int64)
                                                        * 19349663 + 0x5BD1E995)
    h = (h ^ (h >> 13)) * 0x5BD1E995
    return ((h ^ (h >> 15)) & 0xFFFFFF).astype(F32) * F32(1.0 / 16777216.0)


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    flat = np.asarray(amt, dtype=F32).ravel()
    if cls:
        canvas.add(layer, cls, flat)
    if label:
        canvas.add_label(label, flat)


def _retardance(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
                axis: np.ndarray | float) -> None:
    if not cls:
        return
    r = canvas.structures[cls].birefringence_retardance_nm
    if r > 0:
        a = np.asarray(amt, dtype=F32) * F32(r)
        canvas.add_retardance(layer, (a * np.cos(2 * axis)).ravel().astype(F32),
                              (a * np.sin(2 * axis)).ravel().astype(F32))


class Fibres:
    """Parallel fibres across a window: band k lies between boundaries b_k(U) and
    b_{k+1}(U) in the frame turned by `angle` (U along the fibres, V across), after a
    common gentle undulation. Boundaries are pure functions of (seed, k), so every window
    sees the same fibres."""

    def __init__(self, seed: int, angle: float, pitch: float, jitter: float = 0.3,
                 wobble: float = 0.1, undulation_um: float = 8.0,
                 wave_um: float = 250.0) -> None:
        self.seed, self.angle, self.pitch, self.wave = seed, angle, pitch, wave_um
        self.jitter, self.wobble, self.und = jitter, wobble, undulation_um
        u = uniforms(seed ^ 0xB0D, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), 2)
        self.und_phase = 2 * np.pi * float(u[0, 0])
        self.und_len = 700.0 + 600.0 * float(u[0, 1])

    def frame(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U (along) and V (across, undulation removed) of points, µm (the dtype of X)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        if X.dtype == np.float32:
            c, s = F32(c), F32(s)
        U = X * c + Y * s
        V = -X * s + Y * c
        V = V - V.dtype.type(self.und) * np.sin(
            U * V.dtype.type(2 * np.pi / self.und_len) + V.dtype.type(self.und_phase))
        return U, V

    def table(self, k: np.ndarray) -> np.ndarray:
        """Per-boundary uniforms (n, 8): 0 offset, 1 wobble phase, 2 wobble length, 3
        shade, 4 stripe phase, 5–7 free for the tissue."""
        return uniforms(self.seed, k, np.zeros_like(k), 8).astype(F32)

    def boundary(self, tab: np.ndarray, ks: np.ndarray, i: np.ndarray,
                 U: np.ndarray) -> np.ndarray:
        """V of boundary i (index into ks / tab rows) at U: per-band constants are
        computed once per band, then gathered per point."""
        base = ((ks + self.jitter * (tab[:, 0] - 0.5)) * self.pitch).astype(U.dtype)
        inv_lam = (1.0 / (self.wave * (1.0 + 2.0 * tab[:, 2]))).astype(U.dtype)
        tau = U.dtype.type(2 * np.pi)
        wob = U.dtype.type(self.wobble * self.pitch)
        return base[i] + wob * np.sin(tau * (U * inv_lam[i] + tab[:, 1].astype(U.dtype)[i]))

    def assign(self, U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                          np.ndarray, np.ndarray]:
        """For each point: the band index (into `ks`), its lower and upper boundary V (µm),
        and `ks` with its table rows `tab`, returned as (i, lo, hi, (ks, tab))."""
        k0 = np.floor(V / self.pitch).astype(np.int64)
        # no points (a window that holds none of this population): an empty band table
        lo_k, hi_k = (int(k0.min()), int(k0.max())) if k0.size else (0, 0)
        ks = np.arange(lo_k - 2, hi_k + 4)
        tab = self.table(ks)
        i = k0 - ks[0]
        b0 = self.boundary(tab, ks, i, U)
        b1 = self.boundary(tab, ks, i + 1, U)
        below = V < b0
        above = V >= b1
        lo, hi = b0, b1
        if below.any():  # band i − 1: its lower boundary is new
            lo = np.where(below, self.boundary(tab, ks, i - 1, U), lo)
            hi = np.where(below, b0, hi)
        if above.any():
            hi = np.where(above, self.boundary(tab, ks, i + 2, U), hi)
            lo = np.where(above, b1, lo)
        i = i - below + above
        return i, lo, hi, (ks, tab)  # type: ignore[return-value]


@generator("skeletal-muscle")
def skeletal(canvas: Canvas, ctx: Ctx) -> None:
    """Longitudinal section of skeletal muscle. size_um = fibre pitch range (mean used);
    params: angle_deg, sarcomere_um, a_band_duty, endomysium_um, perimysium_prob (share of
    fibre borders that are fascicle borders), nucleus_spacing_um. Parts: fibre (I-band
    and sarcoplasm), a_band, nucleus, endomysium. Labels: <label>-fibre (the fibre's
    cross-section, 0–1), <label>-nucleus, <label> (fibre amount)."""
    prm = ctx.params(SkeletalMuscleParams)
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    angle = np.deg2rad(prm.angle_deg)
    pitch = float(np.mean(ctx.pop.size_um))
    fib = Fibres(ctx.seed, angle, pitch, jitter=0.3, wobble=0.08, undulation_um=10.0)
    X, Y = (g.astype(F32) for g in w.grids())
    U, V = fib.frame(X, Y)
    i, lo, hi, (_ks, tab) = fib.assign(U, V)
    # fascicle borders: a few fibre borders carry a wide perimysium
    peri = prm.perimysium_prob
    endo_um = prm.endomysium_um
    wlo = np.where(tab[i, 5] < peri, 6.0 + 10.0 * tab[i, 6], endo_um)
    whi = np.where(tab[i + 1, 5] < peri, 6.0 + 10.0 * tab[i + 1, 6], endo_um)
    d_lo, d_hi = V - lo, hi - V
    # coverage of the fibre (anti-aliased): its own half of each septum excluded
    cov = np.clip((np.minimum(d_lo - wlo / 2, d_hi - whi / 2)) / w.px_um + 0.5, 0.0, 1.0)
    sep = 1.0 - cov
    sec = thickness(w, ctx.seed ^ 0x5EC, chatter=prm.chatter,
                    cut_angle=angle + 1.2, fold_prob=prm.fold_prob)
    sarc = prm.sarcomere_um
    duty = prm.a_band_duty
    stripe = sarcomere_bands(U, sarc, duty, w.px_um, angle, tab[i, 4] * 7.0)
    # fibres differ a little in stain uptake (fibre types) and have a fine myofibril grain
    shade = (0.88 + 0.24 * tab[i, 3]) * sec
    grain = 0.9 + 0.2 * noise(w, ctx.seed ^ 0x61, 1.2)
    body = cov * shade * grain
    lab = ctx.pop.label
    fibre, a_band = ctx.cls("fibre"), ctx.cls("a_band")
    _add(canvas, layer, fibre, body * (1.0 - stripe), lab)
    if a_band:
        amt = body * stripe
        _add(canvas, layer, a_band, amt)
        _retardance(canvas, layer, a_band, amt, angle)
    _add(canvas, layer, None, cov, lab + "-fibre")
    endo = ctx.cls("endomysium")
    if endo:
        wavy = 0.7 + 0.6 * noise(w, ctx.seed ^ 0x62, 4.0)
        amt = sep * wavy * sec * 0.8
        _add(canvas, layer, endo, amt)
        _retardance(canvas, layer, endo, amt, angle)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        x, y, u = ctx.points(prm.nucleus_spacing_um, 12.0, 6)
        if x.size == 0:
            return
        uu, vv = fib.frame(x, y)
        j, nlo, nhi, _ = fib.assign(uu, vv)
        side = u[:, 2] < 0.5
        wj = np.where(side, np.where(tab[j, 5] < peri, 6.0 + 10.0 * tab[j, 6], endo_um),
                      np.where(tab[j + 1, 5] < peri, 6.0 + 10.0 * tab[j + 1, 6], endo_um))
        semi_b = 1.1 + 0.5 * u[:, 3]
        # flattened against the sarcolemma, just inside the fibre's edge
        vn = np.where(side, nlo + wj / 2 + semi_b + 0.3, nhi - wj / 2 - semi_b - 0.3)
        dv = vn - vv
        c, s = np.cos(angle), np.sin(angle)
        nx, ny = x - dv * s, y + dv * c
        tilt = angle + (u[:, 4] - 0.5) * 0.08
        draw(canvas, nucleus, nx, ny, 4.5 + 2.5 * u[:, 5], semi_b, tilt, z_um=z,
             profile="dome", amount=0.85 + 0.3 * u[:, 4], label=lab + "-nucleus")


class _Rows:
    """Rows of a table picked per point, read column by column (t[..., c]) without
    gathering whole rows."""

    def __init__(self, table: np.ndarray, idx: np.ndarray) -> None:
        self.table, self.idx = table, idx

    def __getitem__(self, key: tuple[object, int]) -> np.ndarray:
        return self.table[:, key[1]][self.idx]


def _segments(seed: int, ks: np.ndarray, U: np.ndarray, i: np.ndarray, length: float
              ) -> tuple[np.ndarray, np.ndarray, _Rows, _Rows]:
    """Cells along each cardiac fibre: disc m of band k lies at U = (m + 0.15 + 0.7 u)·length
    + offset_k. For each point (band index i into ks): U of the discs before and after it
    (µm) and the uniforms (…, 6) of those two discs (the first belongs to the point's cell)."""
    off = (uniforms(seed ^ 0xD15, ks, np.ones_like(ks), 1)[:, 0] * length).astype(F32)
    Ur = U - off[i]
    m0 = np.floor(Ur / length).astype(np.int64)
    m_lo, m_hi = int(m0.min()) - 2, int(m0.max()) + 3
    mm = np.arange(m_lo, m_hi)
    kk, mg = np.meshgrid(np.arange(ks.size), mm, indexing="ij")
    tab = uniforms(seed ^ 0xCE11, ks[kk].ravel(), mg.ravel(), 6).reshape(
        ks.size, mm.size, 6).astype(F32)
    pos = ((mm[None, :] + 0.15 + 0.7 * tab[..., 0]) * length).astype(F32)  # (bands, discs)
    flat = i * mm.size + (m0 - m_lo)
    pos_f = pos.ravel()
    d0 = pos_f[flat]
    before_idx = np.where(Ur >= d0, flat, flat - 1)
    before = pos_f[before_idx] + off[i]
    after = pos_f[before_idx + 1] + off[i]
    t = tab.reshape(-1, 6)
    return before, after, _Rows(t, before_idx), _Rows(t, before_idx + 1)


@generator("cardiac-muscle")
def cardiac(canvas: Canvas, ctx: Ctx) -> None:
    """Cardiac muscle cut along its fibres. size_um = fibre pitch range; params: angle_deg,
    cell_um (mean cell length), sarcomere_um, gap_um (interstitium between fibres, absent
    where neighbours fuse: branching). Parts: fibre, a_band, disc, nucleus, endomysium,
    rbc (capillary red cells in the interstitium). Labels: <label>-fibre, <label>-nucleus,
    <label>-disc."""
    prm = ctx.params(CardiacMuscleParams)
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    angle = np.deg2rad(prm.angle_deg)
    pitch = float(np.mean(ctx.pop.size_um))
    fib = Fibres(ctx.seed, angle, pitch, jitter=0.35, wobble=0.22, undulation_um=6.0,
                 wave_um=90.0)
    X, Y = (g.astype(F32) for g in w.grids())
    U, V = fib.frame(X, Y)
    i, lo, hi, (ks, tab) = fib.assign(U, V)
    # interstitium between neighbouring fibres, missing over stretches where they fuse
    gmax = prm.gap_um

    inv_lam = 1.0 / (120.0 + 160.0 * tab[:, 6])
    g_amp = gmax * (0.5 + 0.6 * tab[:, 5])
    tau = F32(2 * np.pi)

    def gap(j: np.ndarray) -> np.ndarray:
        ph = tab[:, 7][j]
        q = U * inv_lam[j]
        n = np.sin(tau * (q + ph)) + F32(0.6) * np.sin(tau * (q / F32(0.43) + F32(2.7) * ph))
        return g_amp[j] * np.clip((n + F32(0.45)) * F32(1.5), 0.0, 1.0)

    g_lo, g_hi = gap(i), gap(i + 1)
    d_lo, d_hi = V - lo, hi - V
    cov = np.clip(np.minimum(d_lo - g_lo / 2, d_hi - g_hi / 2) / w.px_um + 0.5, 0.0, 1.0)
    width = hi - lo
    vfrac = np.clip(d_lo / np.maximum(width, 1e-6), 0.0, 1.0)
    before, after, t0, t1 = _segments(ctx.seed, ks, U, i, prm.cell_um)

    # intercalated discs: transverse, with two or three steps across the fibre
    def stepped(pos: np.ndarray, t: np.ndarray | _Rows) -> np.ndarray:
        steps = 2 + (t[..., 1] < 0.5)
        return pos + (t[..., 2] - 0.5) * 6.0 * (np.floor(vfrac * steps) - (steps - 1) / 2)

    dist = np.minimum(np.abs(U - stepped(before, t0)), np.abs(stepped(after, t1) - U))
    disc = band(dist, 0.8, w.px_um) * cov
    sec = thickness(w, ctx.seed ^ 0x5EC, chatter=prm.chatter,
                    cut_angle=angle + 1.0, fold_prob=prm.fold_prob)
    # the cell's nucleus: central, oval along the fibre, in a pale perinuclear zone
    uc = (before + after) / 2 + (t0[..., 3] - 0.5) * 6.0
    vc = (lo + hi) / 2 + (t0[..., 4] - 0.5) * 1.5
    a_n = 5.0 + 1.5 * t0[..., 5]
    b_n = np.minimum(2.6, width * 0.22)
    rho = hypot((U - uc) / a_n, (V - vc) / b_n)
    edge = np.clip((1.0 - rho) * b_n / w.px_um + 0.5, 0.0, 1.0)
    nuc_amt = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0)) * 1.3 * edge * cov
    pale = np.clip(1.0 - hypot((U - uc) / (a_n * 1.9), (V - vc) / (b_n * 1.3)), 0.0, 1.0)
    stripe = sarcomere_bands(U, prm.sarcomere_um, 0.6, w.px_um, angle,
                             tab[i, 4] * 5.0)
    shade = (0.9 + 0.2 * tab[i, 3]) * sec * (0.9 + 0.2 * noise(w, ctx.seed ^ 0x63, 1.5))
    body = cov * shade * (1.0 - 0.6 * pale) * (1.0 - np.clip(nuc_amt, 0, 1) * 0.7)
    lab = ctx.pop.label
    _add(canvas, layer, ctx.cls("fibre"), body * (1.0 - 0.45 * stripe), lab)
    a_band = ctx.cls("a_band")
    if a_band:
        # the disc is dense (fascia adherens, desmosomes): it takes eosin like an A-band
        amt = body * 0.45 * stripe + disc * 0.7 * sec
        _add(canvas, layer, a_band, amt)
        _retardance(canvas, layer, a_band, body * 0.45 * stripe, angle)
    _add(canvas, layer, ctx.cls("disc"), disc * 0.8 * sec, lab + "-disc")
    _add(canvas, layer, None, cov, lab + "-fibre")
    nucleus = ctx.cls("nucleus")
    if nucleus:
        chrom = 0.75 + 0.5 * noise(w, ctx.seed ^ 0x64, 0.7)
        _add(canvas, layer, nucleus, nuc_amt * chrom * sec, lab + "-nucleus")
    endo = ctx.cls("endomysium")
    if endo:
        _add(canvas, layer, endo, (1.0 - cov) * 0.8 * sec)
    rbc, hb = red_cells(canvas, ctx)
    if rbc:
        # capillaries run in the interstitium: red cells in single file where it is open
        x, y, u = ctx.points(14.0, 6.0, 5)
        uu, vv = fib.frame(x, y)
        j, nlo, _nhi, (_ks2, tab2) = fib.assign(uu, vv)
        t = tab2[j]
        lam = 120.0 + 160.0 * t[:, 6]
        n = np.sin(2 * np.pi * (uu / lam + t[:, 7])) + 0.6 * np.sin(
            2 * np.pi * (uu / (0.43 * lam) + 2.7 * t[:, 7]))
        open_ = (n > 0.5) & (u[:, 2] < 0.25)
        dv = nlo - vv
        c, s = np.cos(angle), np.sin(angle)
        draw(canvas, rbc, (x - dv * s)[open_], (y + dv * c)[open_], 3.6, 1.6 + 0.4 * u[open_, 3],
             angle, z_um=z, profile="dome", amount=0.6 * hb)


@generator("smooth-muscle")
def smooth(canvas: Canvas, ctx: Ctx) -> None:
    """Smooth muscle (e.g. the muscularis of the gut): interlacing fascicles (fascicle_um)
    separated by thin connective septa; in each fascicle spindle cells (size_um = cell width
    range, cell_um = length) lie staggered, their thick middles beside their neighbours'
    tapered ends, each with one central cigar-shaped nucleus. A share of fascicles
    (cross_prob) is cut across and shows round profiles, a few with a central nucleus.
    Parts: cytoplasm, nucleus, septum. Labels: <label>, <label>-nucleus."""
    prm = ctx.params(SmoothMuscleParams)
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    fasc = prm.fascicle_um
    X, Y = (g.astype(F32) for g in w.grids())
    # fascicles: cells with curving, interlocking borders
    cells = warped_cells(w, ctx.seed, fasc, jitter=0.9, warp_um=0.3 * fasc,
                         warp_scale_um=0.6 * fasc, slots=6, on_grid=True)
    near, table = cells.near, cells.table.astype(F32)
    border = cells.edge
    sep_um = prm.septum_um
    septum = np.clip(1.0 - border / sep_um, 0.0, 1.0) ** 1.5
    base_angle = np.deg2rad(prm.angle_deg)
    ang = base_angle + (table[near, 2] - 0.5) * 1.6
    across = table[near, 3] < prm.cross_prob
    width = float(np.mean(ctx.pop.size_um))
    length = prm.cell_um
    c, s = np.cos(ang), np.sin(ang)
    U = X * c + Y * s + table[near, 4] * 1000.0
    V = -X * s + Y * c + table[near, 5] * 1000.0
    # longitudinal: rows of cells `width` apart, cell m of row r spans [m, m+1)·length
    # shifted by a per-row offset (hashed); a cell is thickest in its middle
    # the rows wave gently together (a relaxed fascicle) and cells differ in length
    V = V + F32(2.5) * np.sin(U * F32(2 * np.pi / 170.0) + F32(6.0) * table[near, 5])
    r = np.floor(V / width)
    row_len = F32(length) * (F32(0.7) + F32(0.6) * _hash01(r, 7.0))
    row_off = _hash01(r, 0.0) * row_len
    t = (U - row_off) / row_len
    m = np.floor(t)
    f = t - m
    vf = V / width - r  # 0–1 across the row
    cell_u = _hash01(r, m)
    profile = np.sin(np.pi * f) ** 0.6
    # a spindle: the cell is widest at its middle and tapers to points that slip between
    # the neighbouring rows' cells; its outline is faint in H&E
    half = F32(0.5) * (F32(0.45) + F32(0.75) * profile)
    memb = np.maximum(band(np.minimum(f, 1 - f) * row_len, 0.5, w.px_um) * 0.3,
                      band((np.abs(vf - 0.5) - half) * width, 0.5, w.px_um) * 0.45)
    # the nucleus: cigar-shaped (a superellipse, fullest in the middle, blunt rounded ends),
    # 10–25 µm long, turned a little and bent a little per cell, not always in the middle
    nuc_len = row_len * (0.12 + 0.08 * cell_u)
    a_n = nuc_len / 2
    nb = width * (0.2 + 0.08 * _hash01(r, m + 0.5))
    tilt = (_hash01(m, r + 0.5) - F32(0.5)) * F32(0.22)
    du = (f - 0.45 - 0.1 * cell_u) * row_len
    dv = (vf - 0.5 - 0.12 * (cell_u - 0.5)) * width
    nu = du * np.cos(tilt) + dv * np.sin(tilt)
    nv = -du * np.sin(tilt) + dv * np.cos(tilt)
    nv = nv - (cell_u - F32(0.5)) * F32(2.4) * nb * (nu / a_n) ** 2  # a gentle bend
    rho = (np.abs(nu) / a_n) ** F32(2.6) + (nv / nb) ** 2
    sd = (np.sqrt(rho) - 1.0) * nb  # ≈ µm outside the outline
    nuc_long = np.clip(-sd / w.px_um + 0.5, 0.0, 1.0) * (0.75 + 0.25 * np.sqrt(
        np.clip(1.0 - rho, 0.0, 1.0)))
    # across: polygonal profiles of the same cells; about one in four shows its nucleus
    # (worked out only in the fascicles cut across: the Voronoi cells of the same lattice
    # as `worley` on the window)
    memb_x = np.zeros(across.shape, F32)
    nuc_cross = np.zeros(across.shape, F32)
    ia = np.flatnonzero(across)
    if ia.size:
        xs, ys = w.grids()
        rows, cols = np.divmod(ia, w.width)
        cl = cells_at(xs[0].take(cols), ys[:, 0].take(rows), ctx.seed ^ 0x72, width * 1.05,
                      0.9, 4)
        memb_x.reshape(-1)[ia] = band((cl.d2 - cl.d1) / 2, 0.4, w.px_um)
        has = cl.slot(2) < 0.3  # cut through the nucleus: a round profile 2–4 µm across
        rn = width * 0.3 * (0.75 + 0.5 * cl.slot(3))
        nuc_cross.reshape(-1)[ia] = np.where(has, np.clip((rn - cl.d1) / w.px_um + 0.5, 0.0,
                                                          1.0), 0.0)
    sec = thickness(w, ctx.seed ^ 0x5EC, chatter=prm.chatter,
                    fold_prob=prm.fold_prob)
    tissue = (1.0 - septum)
    fibril = 0.88 + 0.24 * noise(w, ctx.seed ^ 0x73, 1.5)
    uptake = (0.88 + 0.24 * table[near, 2]) * sec
    cyto = np.where(across, 0.95 - 0.35 * memb_x, 0.8 + 0.2 * profile - 0.3 * memb)
    nuc = np.where(across, nuc_cross, nuc_long) * tissue
    lab = ctx.pop.label
    _add(canvas, layer, ctx.cls("cytoplasm"), cyto * tissue * fibril * uptake *
         (1.0 - 0.6 * np.clip(nuc, 0, 1)), lab)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        chrom = 0.8 + 0.4 * noise(w, ctx.seed ^ 0x74, 0.7)
        _add(canvas, layer, nucleus, nuc * chrom * sec, lab + "-nucleus")
    sep_cls = ctx.cls("septum")
    if sep_cls:
        wavy = 0.7 + 0.6 * noise(w, ctx.seed ^ 0x75, 5.0)
        _add(canvas, layer, sep_cls, septum * wavy * sec)
        fb = ctx.cls("nucleus")
        if fb:  # fibroblasts in the septa: thin dark nuclei
            x, y, u = ctx.points(30.0, 6.0, 5)
            ix = np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
            iy = np.clip(((y - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
            ok = septum[iy, ix] > 0.5
            draw(canvas, fb, x[ok], y[ok], 4.0 + 2 * u[ok, 2], 1.0, np.pi * u[ok, 3], z_um=z,
                 profile="dome", amount=0.9)

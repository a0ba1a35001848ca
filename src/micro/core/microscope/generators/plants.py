"""Plant tissues: the onion root-tip meristem with cells in every phase of mitosis, the
two-layered Elodea leaf packed with chloroplasts (stems live in `stems`)."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import PlantCellsParams, RootTipParams
from micro.core.microscope.generators.histology import F32, hash01, hypot, noise_at
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, band, seed_lattice, worley
from micro.core.microscope.registry import Ctx, generator

PHASES = ("interphase", "prophase", "metaphase", "anaphase", "telophase")
PHASE_FRACTIONS = (0.925, 0.045, 0.011, 0.006, 0.013)
"""Share of meristem cells per phase: a mitotic index of 7.5 % (onion root-tip meristems
score 5–10 %, REALISM.md principle 5), split by the phases' relative durations — prophase
about 60 %, metaphase 15 %, anaphase 8 %, telophase 17 % of dividing cells (Allium cepa,
e.g. González-Fernández et al., Exp Cell Res 1971; the classic school-lab counts)."""


FACE_SHARE = 0.12
"""Share of lattice sites on a cell's faces (clear of the wall band) that hold a
chloroplast in the Elodea leaf's focal plane: the cytoplasm there is a thin film over the
vacuole, so few chloroplasts cross a cell's middle."""


def worley_at(x: np.ndarray, y: np.ndarray, seed: int, spacing: float, aspect: float,
              angle: float, jitter: float, slots: int) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray, np.ndarray]:
    """The `raster.worley` field evaluated at arbitrary points (x, y µm): d1, d2, the
    nearest cell's uniforms (n, slots) and its seed (n, 2). Same cells, same answer, for
    points inside or outside any window."""
    ca, sa = np.cos(angle), np.sin(angle)
    U = (x * ca + y * sa) / aspect
    V = -x * sa + y * ca
    ci = np.floor(U / spacing).astype(np.int64)
    cj = np.floor(V / spacing).astype(np.int64)
    d1 = np.full(x.shape, np.inf)
    d2 = np.full(x.shape, np.inf)
    best = np.zeros((x.size, slots))
    bu = np.zeros(x.shape)
    bv = np.zeros(x.shape)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            t = uniforms(seed, ci + di, cj + dj, slots)
            su = (ci + di + 0.5 + (t[:, 0] - 0.5) * jitter) * spacing
            sv = (cj + dj + 0.5 + (t[:, 1] - 0.5) * jitter) * spacing
            d = hypot((U - su) * aspect, V - sv)
            closer = d < d1
            d2 = np.where(closer, d1, np.minimum(d2, d))
            d1 = np.where(closer, d, d1)
            best = np.where(closer[:, None], t, best)
            bu = np.where(closer, su, bu)
            bv = np.where(closer, sv, bv)
    seeds = np.stack([bu * aspect * ca - bv * sa, bu * aspect * sa + bv * ca], axis=1)
    return d1, d2, best, seeds


def cell_field(w: Window, seed: int, width: float, aspect: float, angle: float,
               jitter: float, slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """Elongated polygonal cells (width × width·aspect µm, long axis at `angle`): Voronoi
    cells of a jittered lattice in a frame compressed along the long axis, so cells stay
    long and brick-like. Returns the distance (real µm) to the nearest wall, the cell index
    (H, W) into `table` (n, slots) and the cell seeds (n, 2) in slide µm."""
    lat = seed_lattice(w, seed, width, aspect, angle, jitter, slots, u_scale=1.0)
    _, _, k1, k2 = lat.nearest_two()
    # distance to the bisector of the two nearest seeds, converted to real µm
    su, sv = lat.seed_u, lat.seed_v
    nu, nv = su.take(k2) - su.take(k1), sv.take(k2) - sv.take(k1)
    norm = np.maximum(hypot(nu, nv), np.float32(1e-9))
    nu /= norm
    nv /= norm
    mu = (su.take(k1) + su.take(k2)) * np.float32(0.5)
    mv = (sv.take(k1) + sv.take(k2)) * np.float32(0.5)
    edge = np.abs((mu - lat.u) * nu + (mv - lat.v) * nv) / hypot(nu / np.float32(aspect), nv)
    return edge, k1, lat.table, lat.seeds


def cell_edge_at(x: np.ndarray, y: np.ndarray, seed: int, width: float, aspect: float,
                 angle: float, jitter: float) -> np.ndarray:
    """`cell_field`'s wall distance (real µm) at arbitrary points."""
    ca, sa = np.cos(angle), np.sin(angle)
    U = (x * ca + y * sa) / aspect
    V = -x * sa + y * ca
    if U.size == 0:
        return np.zeros(U.shape)
    ci = np.floor(U / width).astype(np.int64)
    cj = np.floor(V / width).astype(np.int64)
    # the seeds of every lattice cell the points can see, hashed once (slots 0–1: jitter)
    i_lo, j_lo = int(ci.min()) - 1, int(cj.min()) - 1
    gi, gj = np.meshgrid(np.arange(i_lo, int(ci.max()) + 2), np.arange(j_lo, int(cj.max()) + 2),
                         indexing="xy")
    ncols = gi.shape[1]
    t = uniforms(seed, gi.ravel(), gj.ravel(), 2)
    su = (gi.ravel() + 0.5 + (t[:, 0] - 0.5) * jitter) * width
    sv = (gj.ravel() + 0.5 + (t[:, 1] - 0.5) * jitter) * width
    base = (cj - j_lo) * ncols + (ci - i_lo)
    d1 = np.full(U.shape, np.inf)
    d2 = np.full(U.shape, np.inf)
    k1 = np.zeros(U.shape, dtype=np.int64)
    k2 = np.zeros(U.shape, dtype=np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            k = base + (dj * ncols + di)
            d = (U - su[k]) ** 2 + (V - sv[k]) ** 2
            c1 = d < d1
            c2 = ~c1 & (d < d2)
            np.copyto(d2, d1, where=c1)
            np.copyto(k2, k1, where=c1)
            np.copyto(d2, d, where=c2)
            np.copyto(k2, k, where=c2)
            np.copyto(d1, d, where=c1)
            np.copyto(k1, k, where=c1)
    nu, nv = su[k2] - su[k1], sv[k2] - sv[k1]
    norm = np.maximum(hypot(nu, nv), 1e-9)
    nu, nv = nu / norm, nv / norm
    mu, mv = (su[k1] + su[k2]) / 2, (sv[k1] + sv[k2]) / 2
    return np.abs((mu - U) * nu + (mv - V) * nv) / hypot(nu / aspect, nv)


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    if cls:
        flat = amt.ravel().astype(np.float32)
        canvas.add(layer, cls, flat)
        if label:
            canvas.add_label(label, flat)


@generator("root-tip")
def root_tip(canvas: Canvas, ctx: Ctx) -> None:
    """Longitudinal squash of an onion root tip, tip at y = tip_um pointing +y, root
    width_um wide: a root cap of large loose cells over the apex (cap_um long), then the
    meristem (meristem_um long) of small box-shaped cells in files, every one in a phase
    of mitosis with `PHASE_FRACTIONS`, then the elongation zone where cells lengthen and no
    longer divide. Chromosomes: condensed threads (prophase), an equatorial plate
    (metaphase), two separating groups (anaphase), two compact daughter nuclei and a cell
    plate (telophase). Parts: wall, cytoplasm, nucleus, chromosome, nucleolus. Labels:
    <label>-<phase> per phase (one blob per cell: its nucleus or mitotic figure)."""
    prm = ctx.params(RootTipParams)
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    cell = prm.cell_um
    half = prm.width_um / 2
    tip = prm.tip_um
    cap_len = prm.cap_um
    mer_len = prm.meristem_um
    apex = tip - cap_len  # where the meristem meets the cap
    X, Y = (np.broadcast_to(g, (w.height, w.width)) for g in w.grids())
    prof = half * np.sqrt(np.clip((tip - Y) / half, 0.0, 1.0))
    root = np.clip((prof - np.abs(X)) / max(w.px_um, 1.0) + 0.5, 0.0, 1.0)
    files = Files(ctx.seed, cell, half, tip, cap_len, mer_len)
    k, fu, j, ft, fw, L = files.at(X, Y)
    in_cap = Y > apex + 10.0 * np.cos(X / 60.0) - 0.2 * np.abs(X)
    c1, c2, near_c, table_c, _ = worley(w, ctx.seed ^ 0xCA, cell * 1.6, 1.0, 0.0, 0.7, 8)
    edge_f = np.minimum(np.minimum(fu, 1 - fu) * fw, np.minimum(ft, 1 - ft) * L)
    edge = np.where(in_cap, (c2 - c1) / 2, edge_f)
    shade = np.where(in_cap, table_c[near_c, 3], _hash(ctx.seed, k, j, 3))
    wall = band(edge, 1.0, w.px_um) * root
    lab = ctx.pop.label
    _add(canvas, layer, ctx.cls("wall"), wall, f"{ctx.pop.label}-wall")
    # cap cells are vacuolate and pale; the squash thins towards the sides
    cyt = np.where(in_cap, 0.45, 0.8) + 0.4 * shade
    _add(canvas, layer, ctx.cls("cytoplasm"), (root - wall) * cyt, lab)
    nuc, chrom, nucl = ctx.cls("nucleus"), ctx.cls("chromosome"), ctx.cls("nucleolus")
    nmt = prm.nucleus_amount
    # cap nuclei: interphase only
    lat = seed_lattice(w, ctx.seed ^ 0xCA, cell * 1.6, 1.0, 0.0, 0.7, 8, u_scale=1.0)
    sx, sy = lat.seeds[:, 0], lat.seeds[:, 1]
    t = lat.table
    ok = np.abs(sx) < half * np.sqrt(np.clip((tip - 20.0 - sy) / half, 0.0, 1.0)) - 8
    ok &= sy > apex + 10.0 * np.cos(sx / 60.0) - 0.2 * np.abs(sx) + 12.0
    ok &= t[:, 5] < 0.6
    if nuc and ok.any():
        rr = cell * 0.3 * (0.9 + 0.2 * t[ok, 3])
        draw(canvas, nuc, sx[ok], sy[ok], rr, rr, 0.0, z_um=z, profile="dome",
             amount=nmt * 0.5, label=f"{lab}-interphase")
    # meristem and elongation zone: one nucleus per cell of the files, at the cell's centre
    kk, jj = (a.ravel() for a in np.meshgrid(np.arange(int(k.min()) - 1, int(k.max()) + 2),
                                             np.arange(int(j.min()) - 1, int(j.max()) + 2),
                                             indexing="ij"))
    cx, cy, cw, cl = files.centre(kk, jj)
    vis = (np.abs(cx - w.cx_um) < w.width_um / 2 + cell) & (
        np.abs(cy - w.cy_um) < w.height_um / 2 + 3 * cell)
    inroot = np.abs(cx) < half * np.sqrt(np.clip((tip - 20.0 - cy) / half, 0.0, 1.0)) - 6
    below_cap = cy <= apex + 10.0 * np.cos(cx / 60.0) - 0.2 * np.abs(cx)
    keep = vis & inroot & below_cap
    kk, jj, cx, cy, cw, cl = kk[keep], jj[keep], cx[keep], cy[keep], cw[keep], cl[keep]
    mer = cy >= apex - mer_len + 40.0 * np.sin(cx / 90.0)
    u2, u3, u4 = (_hash(ctx.seed, kk, jj, q) for q in (2, 5, 4))
    ph = np.where(mer, np.searchsorted(np.cumsum(PHASE_FRACTIONS), u2), 0)
    # elongating cells keep a nucleus in most sections, only some show it
    show = mer | (u3 < 0.85)
    kk, jj, cx, cy, cw, cl, ph, u4 = (a[show] for a in (kk, jj, cx, cy, cw, cl, ph, u4))
    mer = mer[show]
    r = np.minimum(cell * 0.3 * (0.85 + 0.3 * _hash(ctx.seed, kk, jj, 6)), 0.42 * cw)
    r = np.where(mer, np.minimum(r, 0.42 * cl), r)
    ax = np.pi / 2 + (u4 - 0.5) * 0.4  # spindle roughly along the root axis
    # an interphase nucleus sits anywhere in its cell's middle, not at its exact centre
    idle = ph == 0
    cx = cx + np.where(idle, (_hash(ctx.seed, kk, jj, 7) - 0.5) * 0.7
                       * np.maximum(cw / 2 - r, 0.0), 0.0)
    cy = cy + np.where(idle, (_hash(ctx.seed, kk, jj, 8) - 0.5) * 0.7
                       * np.maximum(cl / 2 - r, 0.0), 0.0)
    elong = ~mer
    if nuc and elong.any():  # elongation-zone nuclei: ovals along the cell
        draw(canvas, nuc, cx[elong], cy[elong], r[elong] * 1.25, r[elong], np.pi / 2,
             z_um=z, profile="dome", amount=nmt * 0.7, label=f"{lab}-interphase")
    cx, cy, r, ax, ph = cx[mer], cy[mer], r[mer], ax[mer], ph[mer]
    if nuc:
        for p, grow in ((0, 1.0), (1, 1.1)):
            s = ph == p
            draw(canvas, nuc, cx[s], cy[s], r[s] * grow, r[s] * grow * 0.92, ax[s], z_um=z,
                 profile="dome", amount=nmt * (0.65 if p == 0 else 0.35),
                 label=f"{lab}-interphase" if p == 0 else None)
    if nucl:
        s = ph == 0
        draw(canvas, nucl, cx[s] + 0.3 * r[s], cy[s], r[s] * 0.25, r[s] * 0.25, z_um=z,
             profile="dome", amount=1.0)
    # one label blob per dividing cell: the region its mitotic figure occupies
    for p in range(1, len(PHASES)):
        s = ph == p
        if s.any():
            span = (1.0, 1.45, 1.7, 2.0)[p - 1]
            blob = _disc_coverage(canvas, cx[s], cy[s], r[s] * span, r[s] * 1.1, ax[s])
            canvas.add_label(f"{lab}-{PHASES[p]}", blob)
    if not chrom:
        return
    _chromosomes(canvas, ctx, chrom, ph, cx, cy, r, ax, z)


def _hash(seed: int, k: np.ndarray, j: np.ndarray | int, slot: int) -> np.ndarray:
    """Per-cell uniform of file k, cell j."""
    return hash01(np.asarray(k) * 4099 + (seed % 4093), j, slot)


class Files:
    """The root's cells in files: the files run along the root (y) and converge towards
    the apex (their lateral coordinate is scaled by the root's half-width there) and each
    varies in width; along a file, the transverse walls sit at cell lengths that vary
    (0.6–1.4 × `cell`, daughter pairs beside long cells), tilt a little per file, and do
    not line up with the neighbouring files'. Beyond the meristem the cells lengthen
    smoothly to about 3 × over `RAMP_UM`."""

    RAMP_UM = 500.0

    def __init__(self, seed: int, cell: float, half: float, tip: float, cap: float,
                 meristem: float) -> None:
        self.seed, self.cell, self.half, self.tip = seed, cell, half, tip
        self.d0 = cap + meristem  # where lengthening starts, from the tip
        self.n = 2 * half / cell  # files across the full width

    def _prof(self, y: np.ndarray) -> np.ndarray:
        return np.maximum(self.half * np.sqrt(np.clip((self.tip - y) / self.half, 0.0, 1.0)),
                          self.cell)

    def _t0(self, d: np.ndarray) -> np.ndarray:
        """Cells counted from the tip along a file, before the per-file variation."""
        c, R, d0 = self.cell, self.RAMP_UM, self.d0
        ramp = R / (2 * c) * np.log1p(2 * np.clip(d - d0, 0, R) / R)
        return np.minimum(d, d0) / c + ramp + np.maximum(d - d0 - R, 0) / (3 * c)

    def _t0_inv(self, t: np.ndarray) -> np.ndarray:
        c, R, d0 = self.cell, self.RAMP_UM, self.d0
        t1 = d0 / c
        t2 = t1 + R / (2 * c) * np.log(3.0)
        return np.where(t < t1, t * c, np.where(
            t < t2, d0 + R / 2 * np.expm1((t - t1) * 2 * c / R), d0 + R + (t - t2) * 3 * c))

    def length(self, d: np.ndarray) -> np.ndarray:
        return self.cell * (1 + 2 * np.clip((d - self.d0) / self.RAMP_UM, 0, 1))

    def _uwarp(self, uf: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (uf + 0.7 * (noise_at(uf * self.cell, uf * 0.0, self.seed ^ 0xF1, 2.5 * self.cell)
                            - 0.5)
                + 0.5 * (noise_at(uf * self.cell, y, self.seed ^ 0xF2, 300.0) - 0.5))

    def _tvar(self, k: np.ndarray, t0: np.ndarray) -> np.ndarray:
        return _hash(self.seed, k, -7, 1) + 0.8 * (noise_at(
            k * 1000.0, t0 * self.cell, self.seed ^ 0xF3, 1.6 * self.cell) - 0.5)

    def at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """File k, position across it (0–1), cell j along it, position along the cell
        (0–1), the file's width and the cell's length (µm) at points."""
        prof = self._prof(y)
        uf = (np.clip(x / prof, -1.2, 1.2) + 1) / 2 * self.n
        uw = self._uwarp(uf, y)
        k = np.floor(uw)
        fu = uw - k
        d = self.tip - y
        t0 = self._t0(d)
        tilt = (_hash(self.seed, k, -3, 2) - 0.5) * 0.3
        t = t0 + self._tvar(k, t0) + tilt * (fu - 0.5)
        j = np.floor(t)
        return (k, fu.astype(F32), j, (t - j).astype(F32), (2 * prof / self.n).astype(F32),
                self.length(d).astype(F32))

    def centre(self, k: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
        """Centre (µm), width and length of cells (k, j) — the inverse of `at`, solved by
        a few fixed-point steps, so the nuclei are the same in every window."""
        k = k.astype(np.float64)
        t = j + 0.5
        t0 = t - _hash(self.seed, k, -7, 1)
        for _ in range(4):
            t0 = t - self._tvar(k, t0)
        y = self.tip - self._t0_inv(t0)
        uf = k + 0.5
        for _ in range(5):
            uf = uf + (k + 0.5 - self._uwarp(uf, y))
        prof = self._prof(y)
        x = (2 * uf / self.n - 1) * prof
        return x, y, 2 * prof / self.n, self.length(self.tip - y)


def _disc_coverage(canvas: Canvas, x: np.ndarray, y: np.ndarray, a: np.ndarray,
                   b: np.ndarray, th: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (flat (H·W,), float32) of ellipses, on a scratch canvas."""
    scratch = Canvas(canvas.window, [0.0], canvas.structures)
    cls = next(c for c, st in canvas.structures.items() if st.birefringence_retardance_nm == 0)
    draw(scratch, cls, x, y, a, b, th, profile="flat")
    got = scratch.amounts.get((0, cls))
    return np.zeros(canvas.npix, dtype=np.float32) if got is None else got


def _chromosomes(canvas: Canvas, ctx: Ctx, chrom: str, ph: np.ndarray, cx: np.ndarray,
                 cy: np.ndarray, r: np.ndarray, ax: np.ndarray, z: float) -> None:
    """The mitotic figures of the dividing cells (phase index `ph` per cell)."""
    k = 10  # chromosome arms drawn per cell
    uu = uniforms(ctx.seed ^ 0xC4, np.round(cx * 8).astype(np.int64),
                  np.round(cy * 8).astype(np.int64), 3 * k).reshape(-1, k, 3)
    c, s_ = np.cos(ax)[:, None], np.sin(ax)[:, None]

    def put(sel: np.ndarray, along: np.ndarray, across: np.ndarray, ang: np.ndarray,
            length: np.ndarray, amount: float = 1.0, label: str | None = None) -> None:
        px = cx[sel][:, None] + along * c[sel] - across * s_[sel]
        py = cy[sel][:, None] + along * s_[sel] + across * c[sel]
        draw(canvas, chrom, px.ravel(), py.ravel(), 0.45, 0.45, ang.ravel(), z_um=z,
             half_len_um=length.ravel(), profile="dome", amount=amount, label=label)

    rr = r[:, None]
    lab = ctx.pop.label
    # prophase: long thin threads all through the nucleus
    sel = ph == 1
    a = 2 * np.pi * uu[sel, :, 0]
    put(sel, (uu[sel, :, 1] - 0.5) * rr[sel] * 1.2, (uu[sel, :, 2] - 0.5) * rr[sel] * 1.2,
        a, rr[sel] * 0.35 * np.ones((1, k)), 0.7)
    # metaphase: the chromosomes crowd the spindle equator, arms along the spindle, a dense
    # dark band across the cell (each drawn as its two chromatids)
    sel = ph == 2
    for off in (-0.12, 0.12):
        put(sel, (uu[sel, :, 1] - 0.5) * rr[sel] * 0.3 + off * rr[sel],
            (uu[sel, :, 2] - 0.5) * rr[sel] * 2.0,
            np.broadcast_to(ax[sel][:, None], (sel.sum(), k)), rr[sel] * 0.3 * np.ones((1, k)),
            1.4, label=f"{lab}-metaphase-chromosomes")
    # anaphase: each daughter chromosome is a V — its centromere leads towards the pole
    # and its two arms trail back towards the equator, ±ψ off the spindle axis
    sel = ph == 3
    side = np.where(np.arange(k)[None, :] < k // 2, -1.0, 1.0)
    lead = side * rr[sel] * (0.75 + 0.25 * uu[sel, :, 1])  # centromeres, along the spindle
    lat = (uu[sel, :, 2] - 0.5) * rr[sel] * 1.5
    arm = rr[sel] * 0.22 * np.ones((1, k))
    psi = 0.45 + 0.25 * uu[sel, :, 0]
    for sg in (-1.0, 1.0):
        d_along, d_across = -side * np.cos(psi), sg * np.sin(psi)
        put(sel, lead + arm * d_along, lat + arm * d_across,
            ax[sel][:, None] + np.arctan2(d_across, d_along), arm, 1.5,
            label=f"{lab}-anaphase-chromosomes")
    # telophase: two compact, dense daughter groups at the poles and a cell plate between
    sel = ph == 4
    for sg in (-1.0, 1.0):
        put(sel, sg * rr[sel] * (1.05 + 0.15 * (uu[sel, :5, 0] - 0.5)),
            (uu[sel, :5, 1] - 0.5) * rr[sel] * 1.1,
            np.broadcast_to(ax[sel][:, None] + np.pi / 2, (sel.sum(), 5)) + uu[sel, :5, 2],
            rr[sel] * 0.3 * np.ones((1, 5)), 1.5)
    wall_cls = ctx.cls("wall")
    if wall_cls and sel.any():
        draw(canvas, wall_cls, cx[sel], cy[sel], 0.5, r[sel] * 1.3, ax[sel], z_um=z,
             rect=True, amount=0.8)


@generator("plant-cells")
def plant_cells(canvas: Canvas, ctx: Ctx) -> None:
    """A sheet of plant cells (onion epidermis, Elodea leaf): long brick-like cells
    (cell_um wide, aspect, angle_deg) with cellulose walls, a large central vacuole, the
    thin cytoplasm along the walls, one nucleus per cell (nucleus_um, nucleus_prob) pressed
    to the wall, and optional lens-shaped chloroplasts (size_um) crowding the cytoplasm.
    Parts: wall, cytoplasm, vacuole, nucleus, nucleolus, chloroplast."""
    prm = ctx.params(PlantCellsParams)
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    cell = prm.cell_um
    aspect = prm.aspect
    angle = np.deg2rad(prm.angle_deg)
    jitter = prm.jitter
    edge, near, table, seeds = cell_field(w, ctx.seed, cell, aspect, angle, jitter, 8)
    wall_um = prm.wall_um
    wall = np.clip(band(edge, wall_um, w.px_um), 0, 1)
    lab = ctx.pop.label
    _add(canvas, layer, ctx.cls("wall"), wall * prm.wall_amount, lab + "-wall")
    inside = 1.0 - wall
    rim = np.clip(1.0 - (edge - wall_um) / 4.0, 0.0, 1.0) * inside
    _add(canvas, layer, ctx.cls("cytoplasm"), (0.3 * inside + rim) *
         prm.cytoplasm_amount, lab)
    _add(canvas, layer, ctx.cls("vacuole"), inside)
    chl = ctx.cls("chloroplast")
    if chl:
        # the chloroplasts lie in one layer in the thin cytoplasm the central vacuole
        # presses against the walls: in a focal plane through the cell's middle they line
        # its walls as a chain, centres `lo`–`hi` µm from the wall (a disc beside the
        # wall's cytoplasm), and only a few cross the top and bottom faces
        size = float(np.mean(ctx.pop.size_um))
        lo = wall_um / 2 + 0.55 * size
        hi = lo + 1.3 * size
        if w.px_um > 0.45 * size:
            # under 2.5 pixels per chloroplast the chain can only alias, so its
            # area-averaged density is drawn instead (the mean of what the lines below
            # draw: a disc of area `disc`·amount 0.8 (dome profile mean 1) per
            # (1.05·size)² lattice site; 90 % of the sites in the band along the walls,
            # gathered into a strip one chloroplast wide, and FACE_SHARE of the others)
            site = (1.05 * size) ** 2
            disc = np.pi * (size / 2) * (0.85 * size / 2) * 0.8
            mid = lo + 0.075 * size
            strip = np.clip((size / 2 - np.abs(edge - mid)) / w.px_um + 0.5, 0.0, 1.0)
            face = np.clip((edge - hi) / w.px_um + 0.5, 0.0, 1.0)
            mean = disc / site * (0.9 * (hi - lo) / size * strip + FACE_SHARE * face)
            _add(canvas, layer, chl, np.minimum(mean, 1.0), lab + "-chloroplast")
            chl = None
    if chl:
        x, y, u = ctx.points(size * 1.05, size, 6)
        ex = cell_edge_at(x, y, ctx.seed, cell, aspect, angle, jitter)
        along = (ex > lo) & (ex < hi) & (u[:, 3] < 0.9)
        across = (ex >= hi) & (u[:, 3] < FACE_SHARE)
        keep = along | across
        # pushed onto the wall's cytoplasm: centres along the wall at `lo`, a little
        # scatter outwards
        push = np.where(along, lo + 0.15 * size * u[:, 2] - ex, 0.0)[keep]
        x, y = x[keep], y[keep]
        h = 0.25  # µm: the wall distance's gradient points away from the nearest wall
        gx = (cell_edge_at(x + h, y, ctx.seed, cell, aspect, angle, jitter) - ex[keep]) / h
        gy = (cell_edge_at(x, y + h, ctx.seed, cell, aspect, angle, jitter) - ex[keep]) / h
        g = np.maximum(np.hypot(gx, gy), 1e-6)
        draw(canvas, chl, x + push * gx / g, y + push * gy / g,
             size / 2 * (0.9 + 0.2 * u[keep, 4]), size / 2 * 0.85, np.pi * u[keep, 5],
             z_um=z, profile="dome", amount=0.8, label=lab + "-chloroplast")
    nuc = ctx.cls("nucleus")
    if nuc:
        ids = np.flatnonzero(np.bincount(near.ravel(), minlength=len(table)))  # cells seen
        ids = ids[table[ids, 2] < prm.nucleus_prob]
        r = prm.nucleus_um / 2 * (0.85 + 0.3 * table[ids, 3])
        # pressed against a side wall by the vacuole
        side = np.where(table[ids, 4] < 0.5, -1.0, 1.0) * (cell / 2 - r - wall_um)
        along = (table[ids, 5] - 0.5) * cell * aspect * 0.5
        nx = seeds[ids, 0] + along * np.cos(angle) - side * np.sin(angle)
        ny = seeds[ids, 1] + along * np.sin(angle) + side * np.cos(angle)
        draw(canvas, nuc, nx, ny, r * 1.15, r * 0.9, angle, z_um=z, profile="dome",
             amount=prm.nucleus_amount, label=lab + "-nucleus")
        nucl = ctx.cls("nucleolus")
        if nucl:
            draw(canvas, nucl, nx, ny, r * 0.22, r * 0.22, z_um=z, profile="dome",
                 amount=1.0)

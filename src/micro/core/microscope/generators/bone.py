"""Skeletal tissues laid out before their cells: compact bone as Haversian systems that
cut one another (younger osteons complete, older ones truncated at cement lines) over a
background of interstitial lamellae, and hyaline cartilage as a plate under its
perichondrium with chondrocytes in lacunae, in isogenous groups that grow deeper in."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.histology import hypot
from micro.core.microscope.generators.layout import noise
from micro.core.microscope.generators.muscle import sarcomere_bands
from micro.core.microscope.generators.section import thickness
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, band
from micro.core.microscope.registry import Ctx, generator

F32 = np.float32


class Osteons:
    """Haversian systems on a jittered lattice (spacing µm): osteon k has centre c_k,
    radius R_k (diameter 200–300 µm by default), canal radius r_k and an age; a point
    belongs to the youngest osteon whose disc contains it, or to the interstitial bone."""

    def __init__(self, seed: int, spacing: float, dia: tuple[float, float],
                 canal: tuple[float, float]) -> None:
        self.seed, self.s, self.dia, self.canal = seed, spacing, dia, canal

    def _table(self, ci: np.ndarray, cj: np.ndarray) -> tuple[np.ndarray, ...]:
        t = uniforms(self.seed, ci, cj, 6)
        cx = (ci + 0.5 + (t[:, 0] - 0.5) * 0.7) * self.s
        cy = (cj + 0.5 + (t[:, 1] - 0.5) * 0.7) * self.s
        R = (self.dia[0] + (self.dia[1] - self.dia[0]) * t[:, 2]) / 2
        rc = (self.canal[0] + (self.canal[1] - self.canal[0]) * t[:, 3] ** 1.5) / 2
        return cx, cy, R, rc, t[:, 4], t[:, 5]

    def owner_grid(self, w: Window, margin_um: float) -> dict[str, np.ndarray]:
        """`owner` for every pixel of a window (float32 (H, W) maps), osteon by osteon in
        its bounding box — oldest first, so a younger osteon overwrites the older ones it
        cuts — instead of nine candidates per pixel. `rim` is exact within `margin_um` of
        a border (beyond that only the owner's own radius is considered)."""
        x0, y0 = w.x0_um, w.y0_um
        x1, y1 = x0 + w.width_um, y0 + w.height_um
        reach = self.dia[1] / 2 + margin_um
        ii, jj = np.meshgrid(np.arange(int(np.floor((x0 - reach) / self.s)) - 1,
                                       int(np.floor((x1 + reach) / self.s)) + 2),
                             np.arange(int(np.floor((y0 - reach) / self.s)) - 1,
                                       int(np.floor((y1 + reach) / self.s)) + 2),
                             indexing="xy")
        cx, cy, R, rc, age, u = self._table(ii.ravel(), jj.ravel())
        px = w.px_um
        half = int(np.ceil(reach / px)) + 1
        # stamps pay ~20 ns a stamp pixel (most outside the window), boxes ~25 µs an
        # osteon plus its pixels inside the window: stamps win only for tiny osteons
        if half <= 16 and (2 * half + 1) ** 2 * R.size <= 3_000_000:
            own, dist, rim = self._stamps(w, cx, cy, R, age, half)
        else:
            own, dist, rim = self._boxes(w, cx, cy, R, age, margin_um)
        inside = own >= 0
        k = np.where(inside, own, 0)
        return {"inside": inside, "cx": cx[k], "cy": cy[k], "R": R[k], "rc": rc[k],
                "d": dist, "u": u[k], "rim": rim, "k": k}

    @staticmethod
    def _boxes(w: Window, cx: np.ndarray, cy: np.ndarray, R: np.ndarray, age: np.ndarray,
               margin_um: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ownership osteon by osteon in its bounding box, oldest first (few, large)."""
        shape = (w.height, w.width)
        own = np.full(shape, -1, dtype=np.int32)
        dist = np.zeros(shape, dtype=F32)
        rim = np.zeros(shape, dtype=F32)
        px, x0, y0 = w.px_um, w.x0_um, w.y0_um
        xs = x0 + (np.arange(w.width) + 0.5) * px
        ys = y0 + (np.arange(w.height) + 0.5) * px
        for k in np.argsort(age):
            r_out = R[k] + margin_um
            c0 = max(int((cx[k] - r_out - x0) / px), 0)
            c1 = min(int((cx[k] + r_out - x0) / px) + 2, w.width)
            r0 = max(int((cy[k] - r_out - y0) / px), 0)
            r1 = min(int((cy[k] + r_out - y0) / px) + 2, w.height)
            if c0 >= c1 or r0 >= r1:
                continue
            dx = (xs[c0:c1] - cx[k]).astype(F32)[None, :]
            dy = (ys[r0:r1] - cy[k]).astype(F32)[:, None]
            d = np.sqrt(dx * dx + dy * dy)
            gap = d - F32(R[k])
            box = (slice(r0, r1), slice(c0, c1))
            o, dd, rm = own[box], dist[box], rim[box]
            # older owners nearby are cut by this osteon's cement line
            np.minimum(rm, gap, out=rm, where=(o >= 0) & (gap >= 0))
            take = gap < 0
            o[take] = k
            dd[take] = d[take]
            rm[take] = -gap[take]
        return own, dist, rim

    @staticmethod
    def _stamps(w: Window, cx: np.ndarray, cy: np.ndarray, R: np.ndarray, age: np.ndarray,
                half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same ownership for many small osteons at once, on (2·half+1)² stamps:
        the youngest containing osteon by a max-scatter of ages, then its distance, then
        the cement lines of younger neighbours by a min-scatter."""
        px = w.px_um
        fx, fy = (cx - w.x0_um) / px, (cy - w.y0_um) / px
        off = np.arange(-half, half + 1)
        gx = np.floor(fx).astype(np.int64)[:, None, None] + off[None, None, :]
        gy = np.floor(fy).astype(np.int64)[:, None, None] + off[None, :, None]
        d = np.sqrt((gx + 0.5 - fx[:, None, None]) ** 2
                     + (gy + 0.5 - fy[:, None, None]) ** 2).astype(F32) * F32(px)
        ok = (gx >= 0) & (gx < w.width) & (gy >= 0) & (gy < w.height)
        flat = (np.clip(gy, 0, w.height - 1) * w.width + np.clip(gx, 0, w.width - 1))
        n = w.width * w.height
        gap = d - R.astype(F32)[:, None, None]
        ages = np.broadcast_to(age.astype(F32)[:, None, None], d.shape)
        best = np.full(n, -1.0, dtype=F32)
        m = ok & (gap < 0)
        np.maximum.at(best, flat[m], ages[m])
        win = m & (ages == best[flat])
        own = np.full(n, -1, dtype=np.int32)
        dist = np.zeros(n, dtype=F32)
        rim = np.zeros(n, dtype=F32)
        kk = np.broadcast_to(np.arange(R.size, dtype=np.int32)[:, None, None], d.shape)
        own[flat[win]] = kk[win]
        dist[flat[win]] = d[win]
        rim[flat[win]] = -gap[win]
        cut = ok & (gap >= 0) & (ages > best[flat]) & (best[flat] >= 0)
        np.minimum.at(rim, flat[cut], gap[cut])
        shape = (w.height, w.width)
        return own.reshape(shape), dist.reshape(shape), rim.reshape(shape)

    def owner(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """For points (any shape): `inside` (bool), and of the owning osteon its centre
        (cx, cy), radius R, canal radius rc, distance d from its centre, a per-osteon
        uniform `u`, and `rim` — the distance (µm) to the owner's border (its circle or a
        younger neighbour's cement line)."""
        ci = np.floor(x / self.s).astype(np.int64)
        cj = np.floor(y / self.s).astype(np.int64)
        i_lo, j_lo = int(ci.min()) - 1, int(cj.min()) - 1
        ii, jj = np.meshgrid(np.arange(i_lo, int(ci.max()) + 2),
                             np.arange(j_lo, int(cj.max()) + 2), indexing="xy")
        ncols = ii.shape[1]
        cx, cy, R, rc, age, u = self._table(ii.ravel(), jj.ravel())
        base = (cj - j_lo) * ncols + (ci - i_lo)
        best_age = np.full(x.shape, -1.0)
        own = np.zeros(x.shape, dtype=np.int64)
        dist = np.full(x.shape, np.inf)
        cand = []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                k = base + (dj * ncols + di)
                d = hypot(x - cx[k], y - cy[k])
                cand.append((k, d))
                take = (d < R[k]) & (age[k] > best_age)
                own = np.where(take, k, own)
                dist = np.where(take, d, dist)
                best_age = np.where(take, age[k], best_age)
        inside = best_age >= 0
        rim = np.where(inside, R[own] - dist, 0.0)
        # a younger osteon cuts its older neighbours: the owner's rim stops at its edge
        for k, d in cand:
            younger = inside & (age[k] > best_age) & (k != own)
            rim = np.where(younger, np.minimum(rim, d - R[k]), rim)
        return {"inside": inside, "cx": cx[own], "cy": cy[own], "R": R[own],
                "rc": rc[own], "d": dist, "u": u[own], "rim": rim}


def _rings(r: np.ndarray, period: float, duty: float, px: float,
           phase: np.ndarray | float = 0.0) -> np.ndarray:
    """Band-limited concentric lamellae (1 in a bright lamella, 0 in a dark one) at radius
    r: the local grating runs radially, so its worst axis frequency is 1/period."""
    return sarcomere_bands(r, period, duty, px, 0.0, phase, max_harmonics=5)


@generator("osteon")
def osteon(canvas: Canvas, ctx: Ctx) -> None:
    """Ground cross-section of compact bone. size_um = osteon diameter range; params:
    spacing_um (osteon lattice), canal_um (range of Haversian canal diameters),
    lamella_um, lacuna_spacing_um. The collagen of alternate lamellae runs round the canal
    (bright between crossed polars, slow axis tangential → a dark Maltese cross on the
    polarizer axes) or along the osteon (dark). Parts: matrix, lacuna. Labels: <label>
    (matrix), <label>-osteon (each osteon inside its cement line), <label>-canal,
    <label>-lacuna."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    lo, hi = ctx.pop.size_um
    canal = tuple(ctx.p("canal_um"))
    ost = Osteons(ctx.seed, float(ctx.p("spacing_um")), (lo, hi),
                  (float(canal[0]), float(canal[1])))
    px = w.px_um
    o = ost.owner_grid(w, max(3.0 * px, 6.0))
    inside, d, rc = o["inside"], o["d"], o["rc"]
    X, Y = w.grids()
    X, Y = X.astype(F32), Y.astype(F32)
    lam = float(ctx.p("lamella_um"))
    dx, dy = X - o["cx"].astype(F32), Y - o["cy"].astype(F32)
    # canal: slightly irregular outline (angle terms only near the canal)
    near_canal = inside & (d < 1.3 * rc + 2 * px)
    canal_r = rc.astype(F32)
    if near_canal.any():
        ang = np.arctan2(dy[near_canal], dx[near_canal])
        uu = o["u"][near_canal]
        canal_r = canal_r.copy()
        canal_r[near_canal] *= (1.0 + 0.12 * np.sin(2 * ang + 6.3 * uu)
                                + 0.06 * np.sin(3 * ang + 2.1 * uu))
    open_canal = np.where(inside, np.clip((d - canal_r) / px + 0.5, 0.0, 1.0), 1.0)
    # interstitial lamellae: arcs of old, remodelled osteons (a coarser ghost lattice)
    ghost = Osteons(ctx.seed ^ 0x6057, 230.0, (260.0, 420.0), (0.0, 0.0))
    g = ghost.owner_grid(w, 0.0)
    gx, gy = X - g["cx"].astype(F32), Y - g["cy"].astype(F32)
    cx2 = np.where(inside, dx, gx)
    cy2 = np.where(inside, dy, gy)
    r_eff = np.sqrt(cx2 * cx2 + cy2 * cy2)
    duty = 0.5
    # lamellae are 3–12 µm thick: a radius warped by a slow ripple varies the local period;
    # packets of several lamellae alternate too, so the rings show at low power as well
    ph = np.where(inside, o["u"], g["u"]).astype(F32)
    r_w = r_eff + F32(0.22 * lam) * np.sin(F32(2 * np.pi) * (r_eff / F32(3.7 * lam) + ph))
    lamellae = 0.6 * _rings(r_w, lam, duty, px, ph) + 0.4 * _rings(r_w, 3.1 * lam, duty, px,
                                                                    2 * ph)
    cement = np.where(inside, band(o["rim"] - 1.0, 1.5, px), 0.0)
    sec = thickness(w, ctx.seed ^ 0x5EC, variation=0.08, chatter=0.0, fold_prob=0.0)
    amt = open_canal * sec * (0.92 + 0.08 * (lamellae - duty) * 2) * (1.0 + 0.35 * cement)
    matrix = ctx.cls("matrix")
    lab = ctx.pop.label
    if matrix:
        canvas.add(layer, matrix, amt.ravel().astype(F32))
        canvas.add_label(lab, amt.ravel().astype(F32))
        ret = canvas.structures[matrix].birefringence_retardance_nm
        # circumferential lamellae bright, longitudinal ones dark; interstitial bone keeps
        # the (tangential) orientation of its ghost osteon. Slow axis at φ + 90°:
        # cos 2θ = −(x² − y²)/r², sin 2θ = −2xy/r²
        r2 = np.maximum(r_eff * r_eff, F32(1e-6))
        r = amt * ret * (0.2 + 0.8 * lamellae) / r2
        canvas.add_retardance(layer, (-r * (cx2 * cx2 - cy2 * cy2)).ravel().astype(F32),
                              (-r * 2 * cx2 * cy2).ravel().astype(F32))
        rim_in = np.clip(o["rim"] / px - 1.0, 0.0, 1.0) * inside
        canvas.add_label(lab + "-osteon", (rim_in * open_canal).ravel().astype(F32))
        canvas.add_label(lab + "-canal", ((1.0 - open_canal) * inside).ravel().astype(F32))
    lacuna = ctx.cls("lacuna")
    if lacuna:
        _lacunae(canvas, ctx, ost, lacuna, lam, z, lab)


def _lacunae(canvas: Canvas, ctx: Ctx, ost: Osteons, cls: str, lam: float, z: float,
             lab: str) -> None:
    """Almond-shaped lacunae between lamellae, long axis round the canal, each with fine
    wavy canaliculi radiating mostly towards and away from the canal."""
    x, y, u = ctx.points(float(ctx.p("lacuna_spacing_um")), 30.0, 8)
    if x.size == 0:
        return
    o = ost.owner(x, y)
    ok = o["inside"] & (o["d"] > o["rc"] + 6.0) & (o["rim"] > 5.0)
    # lacunae in interstitial bone too, fewer
    ok |= ~o["inside"] & (u[:, 7] < 0.5)
    x, y, u = x[ok], y[ok], u[ok]
    o = {k: v[ok] for k, v in o.items()}
    if x.size == 0:
        return
    phi = np.where(o["inside"], np.arctan2(y - o["cy"], x - o["cx"]), np.pi * u[:, 6])
    rr = np.where(o["inside"], (np.floor(o["d"] / lam) + 0.5) * lam, 0.0)
    lx = np.where(o["inside"], o["cx"] + rr * np.cos(phi), x)
    ly = np.where(o["inside"], o["cy"] + rr * np.sin(phi), y)
    t = phi + np.pi / 2
    a = 4.0 + 2.5 * u[:, 2]
    b = 1.6 + 0.8 * u[:, 3]
    m = 12
    px = canvas.window.px_um
    if px > 1.5:
        # the canaliculi (0.3 µm wide) cannot be told apart from their lacuna at this
        # pixel size: their material (m × 0.3 µm × ~7.5 µm × 0.35) joins the lacuna's
        extra = m * 0.3 * 7.5 * 0.35 / (np.pi * a * b)  # the dome profile averages 1
        draw(canvas, cls, lx, ly, a, b, t, z_um=z, profile="dome", amount=1.0 + extra,
             label=lab + "-lacuna")
        return
    draw(canvas, cls, lx, ly, a, b, t, z_um=z, profile="dome", amount=1.0,
         label=lab + "-lacuna")
    kk = np.arange(m)
    spread = (u[:, 4][:, None] * 7.0 + kk[None, :] * 2.399) % (2 * np.pi)
    # mostly radial: squeeze the angles towards ±radial
    radial = phi[:, None] + np.where(kk % 2 == 0, 0.0, np.pi)[None, :]
    ang = radial + 0.55 * np.sin(spread)
    ln = 4.0 + 7.0 * ((u[:, 5][:, None] + kk[None, :] * 0.37) % 1.0)
    # start at the lacuna's outline (ellipse radius towards that angle)
    rel = ang - t[:, None]
    r0 = 1.0 / np.sqrt((np.cos(rel) / a[:, None]) ** 2 + (np.sin(rel) / b[:, None]) ** 2)
    cxn = lx[:, None] + np.cos(ang) * (r0 + ln / 2)
    cyn = ly[:, None] + np.sin(ang) * (r0 + ln / 2)
    draw(canvas, cls, cxn.ravel(), cyn.ravel(), 0.15, 0.15, ang.ravel(), z_um=z,
         half_len_um=(ln / 2).ravel(), profile="flat", amount=0.35)


def _ellipse_coverage(canvas: Canvas, x: np.ndarray, y: np.ndarray, a: np.ndarray,
                      b: np.ndarray, th: np.ndarray, profile: str = "flat") -> np.ndarray:
    """Anti-aliased coverage (flat (H·W,), float32) of ellipses, on a scratch canvas."""
    scratch = Canvas(canvas.window, [0.0], canvas.structures)
    cls = next(c for c, s in canvas.structures.items() if s.birefringence_retardance_nm == 0)
    draw(scratch, cls, x, y, a, b, th, profile=profile)
    got = scratch.amounts.get((0, cls))
    return np.zeros(canvas.npix, dtype=F32) if got is None else got


@generator("hyaline-cartilage")
def hyaline_cartilage(canvas: Canvas, ctx: Ctx) -> None:
    """Hyaline cartilage (a tracheal ring) cut across: a plate `plate_um` thick along x,
    gently curved, under a fibrous perichondrium (perichondrium_um) on both faces.
    Chondrocytes (size_um = lacuna length range) sit in lacunae, single and flattened
    parallel to the surface under the perichondrium, in isogenous groups of 2–4 (rows or
    clusters) deeper in; each group lies in a darker territorial matrix; the cells have
    shrunk from their lacuna walls. Parts: matrix, cytoplasm, nucleus, perichondrium.
    Labels: <label> (matrix), <label>-lacuna, <label>-nucleus, <label>-group."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    px = w.px_um
    half = float(ctx.p("plate_um")) / 2
    peri = float(ctx.p("perichondrium_um"))
    bend = float(ctx.p("curvature_per_mm")) / 1000.0
    offset = float(ctx.p("offset_um"))
    X, Y = w.grids()

    def depth_of(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        """Distance (µm) from the nearer cartilage surface, negative outside."""
        mid = offset + bend * xx * xx / 2 + 25.0 * np.sin(xx / 400.0)
        return half - np.abs(yy - mid)

    dep = depth_of(X, Y)
    plate = np.clip(dep / px + 0.5, 0.0, 1.0)
    peri_band = np.clip((dep + peri) / px + 0.5, 0.0, 1.0) * (1.0 - plate)
    sec = thickness(w, ctx.seed ^ 0x5EC, variation=0.12, chatter=float(ctx.p("chatter")),
                    fold_prob=float(ctx.p("fold_prob")))
    # isogenous groups on a lattice; single flat cells near the surface, groups deeper
    spacing = float(ctx.p("group_spacing_um"))
    gx, gy, gu = ctx.points(spacing, 40.0, 12)
    gd = depth_of(gx, gy)
    keep = (gd > 8.0) & (gu[:, 7] < float(ctx.p("presence")))
    gx, gy, gu, gd = gx[keep], gy[keep], gu[keep], gd[keep]
    deep = np.clip((gd - 20.0) / 150.0, 0.0, 1.0)
    n_cells = np.where(deep < 0.15, 1, 1 + np.floor(gu[:, 2] * (1.0 + 3.0 * deep)).astype(int))
    n_cells = np.clip(n_cells, 1, 4)
    # surface-parallel orientation near the surface, random deeper
    x_mid = bend * gx
    surf_angle = np.arctan(x_mid)
    theta = surf_angle + (gu[:, 3] - 0.5) * np.pi * deep
    L_lo, L_hi = ctx.pop.size_um
    a = (L_lo + (L_hi - L_lo) * gu[:, 4]) / 2  # lacuna half-length
    flat = 1.0 + 1.6 * (1.0 - deep)  # flattened near the surface
    b = a / flat * (0.75 + 0.25 * gu[:, 5])
    # cells of a group stacked along the group axis (a row) or in a 2 × 2 cluster
    k = np.arange(4)
    rows = gu[:, 6] < 0.6
    step = 2 * b + 2.0
    off_along = np.where(rows[:, None], (k[None, :] - (n_cells[:, None] - 1) / 2) * step[:, None],
                         ((k[None, :] % 2) - 0.5 * (n_cells[:, None] > 1)) * (2 * a[:, None] + 2.0))
    off_across = np.where(rows[:, None], 0.0,
                          ((k[None, :] // 2) - 0.5 * (n_cells[:, None] > 2)) * step[:, None])
    present = k[None, :] < n_cells[:, None]
    # in a row the cells face each other with flat sides: long axis across the row
    ct, st = np.cos(theta)[:, None], np.sin(theta)[:, None]
    cx = gx[:, None] + off_along * st + off_across * ct
    cy = gy[:, None] - off_along * ct + off_across * st
    jig = uniforms(ctx.seed ^ 0xC411, np.round(cx * 4).astype(np.int64).ravel(),
                   np.round(cy * 4).astype(np.int64).ravel(), 4).reshape(*cx.shape, 4)
    ca = a[:, None] * (0.85 + 0.3 * jig[..., 0])
    cb = b[:, None] * (0.85 + 0.3 * jig[..., 1])
    cth = theta[:, None] + (jig[..., 2] - 0.5) * 0.5
    sel = present.ravel()
    cx, cy, ca, cb, cth = (v.ravel()[sel] for v in (cx, cy, ca, cb, cth))
    jig = jig.reshape(-1, 4)[sel]
    lacunae = _ellipse_coverage(canvas, cx, cy, ca, cb, cth)
    # territorial matrix: a darker capsule round each group (its cells' own matrix)
    gr = np.where(rows, (n_cells * step) / 2 + 6.0, a * 2 + 6.0)
    terr = _ellipse_coverage(canvas, gx, gy, np.maximum(gr, a + 6.0), b + 9.0 + (
        n_cells > 1) * 4.0, theta + np.pi / 2 * rows, profile="dome")
    capsule = _ellipse_coverage(canvas, cx, cy, ca + 1.5, cb + 1.5, cth)
    glass = 0.92 + 0.16 * noise(w, ctx.seed ^ 0x91, 25.0)
    tissue = plate.ravel() * sec.ravel()
    matrix_amt = tissue * np.clip(1.0 - lacunae, 0.0, 1.0) * (
        glass.ravel() * 0.8 + 0.45 * np.clip(terr, 0.0, 1.2)
        + 0.5 * np.clip(capsule - lacunae, 0.0, 1.0))
    lab = ctx.pop.label
    mcls = ctx.cls("matrix")
    if mcls:
        canvas.add(layer, mcls, matrix_amt.astype(F32))
        canvas.add_label(lab, matrix_amt.astype(F32))
    canvas.add_label(lab + "-lacuna", (lacunae * tissue).astype(F32))
    canvas.add_label(lab + "-group", (np.clip(terr, 0, 1) * tissue).astype(F32))
    # the shrunken cell: smaller, pulled towards one side of its lacuna, with a nucleus
    shrink = 0.78 + 0.17 * jig[:, 3]
    sx = cx + (1 - shrink) * ca * 0.6 * np.cos(cth + 2 * np.pi * jig[:, 0])
    sy = cy + (1 - shrink) * cb * 0.6 * np.sin(cth + 2 * np.pi * jig[:, 0])
    cyto = ctx.cls("cytoplasm")
    if cyto:
        draw(canvas, cyto, sx, sy, ca * shrink, cb * shrink, cth, z_um=z, profile="lens",
             amount=1.2 + 0.6 * jig[:, 1])
    nuc = ctx.cls("nucleus")
    if nuc:
        rn = np.minimum(2.6, cb * shrink * 0.7)
        draw(canvas, nuc, sx, sy, rn * 1.1, rn, cth, z_um=z, profile="dome",
             amount=0.8 + 0.3 * jig[:, 2], label=lab + "-nucleus")
    pcls = ctx.cls("perichondrium")
    if pcls:
        fib = 0.7 + 0.6 * noise(w, ctx.seed ^ 0x93, 3.0)
        canvas.add(layer, pcls, (peri_band * fib * sec).ravel().astype(F32))
        if nuc:
            fx, fy, fu = ctx.points(16.0, 6.0, 5)
            fd = depth_of(fx, fy)
            okf = (fd < -3.0) & (fd > -peri + 3.0)
            draw(canvas, nuc, fx[okf], fy[okf], 4.0 + 2.0 * fu[okf, 2], 0.9,
                 np.arctan(bend * fx[okf]) + (fu[okf, 3] - 0.5) * 0.2, z_um=z,
                 profile="dome", amount=1.0)

"""Blood films: red cells (normal, sickled, parasitized by P. falciparum rings and
gametocytes) and the five kinds of leukocyte, on the jittered lattice of the slide."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from micro.core.microscope.blobs import (
    Texture,
    draw_cells,
    grid_contacts,
    lognormal,
    outline,
    uptake,
)
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import lattice_points, uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator, make_ctx


def thin(x: np.ndarray, y: np.ndarray, prio: np.ndarray, dmin_um: float) -> np.ndarray:
    """Blue-noise thinning: drop every point that has a higher-priority neighbour closer than
    `dmin_um`. The verdict on a point depends only on candidates within dmin of it, so any
    window whose margin exceeds dmin gets the same answer (parcentric)."""
    keep = np.ones(x.size, dtype=bool)
    if x.size < 2:
        return keep
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(dmin_um, output_type="ndarray")
    if pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        loser = np.where(prio[a] < prio[b], a, b)
        keep[loser] = False
    return keep


def arc(n: int, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray, theta: np.ndarray,
        span: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points along arcs (one per structure): x, y (N, n) and the local tangent angle."""
    t = np.linspace(-0.5, 0.5, n)[None, :] * span[:, None] + theta[:, None]
    px = cx[:, None] + radius[:, None] * np.cos(t)
    py = cy[:, None] + radius[:, None] * np.sin(t)
    return px, py, t + np.pi / 2


def settle(x: np.ndarray, y: np.ndarray, prio: np.ndarray, dmin: np.ndarray,
           valid: np.ndarray, reach: int, rounds: int = 6) -> np.ndarray:
    """Random sequential packing by priority on a lattice grid (2-D arrays, one candidate
    per lattice cell, `reach` cells covering the largest dmin): a candidate is kept when
    every valid higher-priority candidate closer than the pair's dmin ((dmin_a + dmin_b)/2)
    has been dropped, dropped when one of them is kept. Unlike one-pass thinning this packs
    to near jamming (cells that just touch, as in the monolayer of a good smear). After
    `rounds` rounds the verdict depends only on candidates within rounds·reach cells, so a
    window with that margin agrees with every other window; the few still undecided are
    dropped."""
    H, W = x.shape
    r = reach

    def pad(a: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(a, r, constant_values=fill)

    def nb(a: np.ndarray, di: int, dj: int) -> np.ndarray:  # view: a[j + dj, i + di]
        return a[r + dj:r + dj + H, r + di:r + di + W]

    # float32 halves the memory traffic; a value rounds the same way in every window
    x, y, dmin = x.astype(np.float32), y.astype(np.float32), dmin.astype(np.float32)
    prio = prio.astype(np.float32)
    px, py, pd = pad(x, np.inf), pad(y, np.inf), pad(dmin, 0.0)
    pv, pp = pad(valid, False), pad(prio, -1.0)
    flat = np.arange(H * W).reshape(H, W)
    lo_list, hi_list = [], []
    for dj in range(-r, r + 1):
        for di in range(-r, r + 1):
            if di == 0 and dj == 0:
                continue
            hi = nb(pv, di, dj) & (nb(pp, di, dj) > prio) & valid
            ddx = nb(px, di, dj) - x
            ddy = nb(py, di, dj) - y
            lim = (dmin + nb(pd, di, dj)) * np.float32(0.5)
            hi &= ddx * ddx + ddy * ddy < lim * lim
            me = flat[hi]
            if me.size:
                lo_list.append(me)
                hi_list.append(me + dj * W + di)
    state: np.ndarray = np.where(valid, 0, -1).astype(np.int8).ravel()  # 0 undecided, 1 kept, -1 dropped
    if not lo_list:
        return (state == 0).reshape(H, W)
    lo_idx = np.concatenate(lo_list)  # each candidate's higher-priority rivals
    hi_idx = np.concatenate(hi_list)
    n = H * W
    for _ in range(rounds):
        live_hi = np.bincount(lo_idx, weights=state[hi_idx] >= 0, minlength=n)
        kept_hi = np.bincount(lo_idx, weights=state[hi_idx] == 1, minlength=n)
        und = state == 0
        state[und & (kept_hi > 0)] = -1
        state[und & (live_hi == 0)] = 1
        if not (state == 0).any():
            break
        # only pairs whose lower candidate is still undecided matter from here on
        still = state[lo_idx] == 0
        lo_idx, hi_idx = lo_idx[still], hi_idx[still]
    state = state.reshape(H, W)
    return state == 1


def smear_thickness(ctx: Ctx, x: np.ndarray) -> np.ndarray:
    """Relative thickness of the film at slide x (µm), from the `smear` parameter of the
    specimen's red-cell population ([thick_x_um, feather_x_um, edge_x_um]): thick end (T > 1, cells overlap in rouleaux) left of
    thick_x_um, the monolayer (T ≈ 1) in the middle, thinning to the feathered edge from
    feather_x_um to edge_x_um, and bare glass beyond it. No `smear`: 1 everywhere."""
    x = np.asarray(x, dtype=np.float64)
    cfg = next((p.params["smear_x_um"] for p in ctx.specimen.populations
                if p.generator == "rbc" and "smear_x_um" in p.params), None)
    if not isinstance(cfg, list) or len(cfg) != 3:
        return np.ones_like(x)
    t0, f0, e0 = (float(v) for v in cfg)

    def smooth(t: np.ndarray) -> np.ndarray:
        t = np.clip(t, 0.0, 1.0)
        return t * t * (3 - 2 * t)

    mono = 1.08 - 0.16 * np.clip((x - t0) / (f0 - t0), 0.0, 1.0)
    thick = 1.08 + 1.3 * smooth((t0 - x) / 2500.0)
    feather = 0.92 * (1.0 - smooth((x - f0) / (e0 - f0))) ** 1.5
    return np.where(x < t0, thick, np.where(x > f0, feather, mono))


@generator("rbc")
def red_cells(canvas: Canvas, ctx: Ctx) -> None:
    """Red cells of a film: biconcave discs (central pallor) whose diameters follow a
    log-normal (mean_um, cv, truncated to size_um), outlines perturbed by weak harmonics,
    packed by random sequential packing so that in the monolayer they just touch and
    flatten where they press on each other; thicker towards the thick end (overlapping,
    stacked in rouleaux), sparser, flatter and paler-centred towards the feathered edge
    (see `smear_thickness`). Stain uptake varies from cell to cell. Params: mean_um, cv,
    packing (dmin / diameter in the monolayer), smear_x_um, sickle_frac (part 'sickle'),
    ring_frac, double_frac, trophozoite_frac, gametocyte_frac (parts 'parasite',
    'chromatin', 'pigment'; see `_plasmodium`), gametocyte_at, presence, body_amount."""
    lo, hi = ctx.pop.size_um
    mean_um = ctx.p("mean_um")
    mean = (lo + hi) / 2 if mean_um is None else float(mean_um)
    cv = float(ctx.p("cv"))
    pack = float(ctx.p("packing"))
    rounds = 6
    spacing = mean * 0.7
    reach = int(np.ceil(hi * pack / spacing))
    margin = spacing * reach * (rounds + 1) + 2 * hi + 35.0
    w = ctx.window
    i0, i1 = int(np.floor((w.x0_um - margin) / spacing)), int(np.ceil((w.x0_um + w.width_um
                                                                      + margin) / spacing))
    j0, j1 = int(np.floor((w.y0_um - margin) / spacing)), int(np.ceil((w.y0_um + w.height_um
                                                                      + margin) / spacing))
    if (i1 - i0) * (j1 - j0) > GRID_MAX:
        _red_cells_far(canvas, ctx, mean, cv, lo, hi)
        return
    gi, gj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="xy")
    g: np.ndarray = uniforms(ctx.seed, gi.ravel(), gj.ravel(), 5).reshape(*gi.shape, 5)
    x = (gi + g[..., 0]) * spacing
    y = (gj + g[..., 1]) * spacing
    T = smear_thickness(ctx, x)
    valid = g[..., 2] < float(ctx.p("presence")) * np.clip(T, 0.0, 1.0)
    d = lognormal(g[..., 4], mean, cv, lo, hi)
    # denser where the film is thick: cells overlap there instead of just touching
    dmin = d * pack / np.sqrt(np.clip(T, 1.0, None)) ** 1.4
    # white cells push the red cells aside: none is centred on one, the nearest press on it
    wx, wy, wr = _white_cells(ctx, margin)
    for k in range(wx.size):  # few: look only at the lattice cells around each
        reach_w = wr[k] + 0.25 * hi + spacing
        ia = max(int(np.floor((wx[k] - reach_w) / spacing)) - i0, 0)
        ib = min(int(np.ceil((wx[k] + reach_w) / spacing)) - i0 + 1, x.shape[1])
        ja = max(int(np.floor((wy[k] - reach_w) / spacing)) - j0, 0)
        jb = min(int(np.ceil((wy[k] + reach_w) / spacing)) - j0 + 1, x.shape[0])
        if ia >= ib or ja >= jb:
            continue
        box = (slice(ja, jb), slice(ia, ib))
        near = np.hypot(x[box] - wx[k], y[box] - wy[k]) <= wr[k] + 0.25 * d[box]
        valid[box] &= ~near
    ok = settle(x, y, g[..., 3], dmin, valid, reach, rounds)
    if not ok.any():
        return
    d = d * (1.0 + 0.12 * np.clip((0.8 - T) / 0.8, 0.0, 1.0))  # flattened towards the edge
    # cells of the monolayer flatten against each other; in the thick part they lie across
    grid_planes = grid_contacts(x, y, d / 2 * 1.02, ok & (T < 1.3), reach, gap_um=0.12)
    mono = (T < 1.3)[ok]
    x, y, T, d = x[ok], y[ok], T[ok], d[ok]
    u = uniforms(ctx.seed ^ 0x3C11, gi[ok], gj[ok], 40)
    flat = T < 0.6  # feathered edge: the pallor lost
    # rouleaux: in the thick part some cells start a stack of coins
    roul = (u[:, 20] < np.clip((T - 1.4) * 0.6, 0.0, 0.45))
    nr = 7
    ks = np.arange(1, nr + 1)[None, :]
    length = 2 + np.floor(u[roul, 21] * (nr - 1)).astype(int)
    ang = 2 * np.pi * u[roul, 22]
    step = d[roul] * (0.38 + 0.15 * u[roul, 23])
    bend = (u[roul, 24] - 0.5) * 0.25
    a_k = ang[:, None] + bend[:, None] * ks
    sx = x[roul, None] + np.cumsum(step[:, None] * np.cos(a_k), axis=1)
    sy = y[roul, None] + np.cumsum(step[:, None] * np.sin(a_k), axis=1)
    inr = ks <= length[:, None]
    ru = children(ctx.seed ^ 0x5A11, u[roul, 39], nr, u.shape[1])[inr.ravel()]
    ru[:, 8:14] = 1.0  # stacked cells carry no parasites nor sickling
    x = np.concatenate([x, sx[inr]])
    y = np.concatenate([y, sy[inr]])
    nroul = int(inr.sum())
    d = np.concatenate([d, lognormal(ru[:, 4], mean, cv, lo, hi)])
    T = np.concatenate([T, np.repeat(T[roul], inr.sum(axis=1))])
    u = np.concatenate([u, ru])
    flat = np.concatenate([flat, np.zeros(nroul, dtype=bool)])
    aspect = 1.0 + 0.07 * u[:, 5] + 0.1 * flat * u[:, 5]
    th = np.pi * u[:, 6]
    z = ctx.z(u[:, 7])
    a, b = d / 2 * np.sqrt(aspect), d / 2 / np.sqrt(aspect)
    coeffs = outline(u[:, 25:35], 0.018 + 0.03 * u[:, 35] + 0.05 * flat)
    # cells of the monolayer flatten against each other; stacked cells lie across
    planes = np.zeros((x.size, 7, 3))
    planes[..., 2] = np.inf
    grid_idx = np.nonzero(mono)[0]
    planes[grid_idx, :6] = grid_planes
    if wx.size and grid_idx.size:  # and against the white cell nearest to each
        gx, gy, gr = x[grid_idx], y[grid_idx], d[grid_idx] / 2
        dd = np.hypot(gx[:, None] - wx[None, :], gy[:, None] - wy[None, :])
        jw = dd.argmin(axis=1)
        dist = dd[np.arange(grid_idx.size), jw]
        hit = dist < gr + wr[jw]
        h = grid_idx[hit]
        dh, jh = dist[hit], jw[hit]
        planes[h, 6, 0] = (wx[jh] - x[h]) / dh
        planes[h, 6, 1] = (wy[jh] - y[h]) / dh
        planes[h, 6, 2] = (dh * dh + gr[hit] ** 2 - wr[jh] ** 2) / (2 * dh) - 0.06
    # the film stains a little darker where it is thicker (±15 %) and cell to cell
    stain = uptake(u[:, 15], u[:, 16], 0.1, 0.03) * np.clip(0.9 + 0.1 * T, 0.85, 1.15)
    amount = float(ctx.p("body_amount")) * stain
    sickle_frac = float(ctx.p("sickle_frac"))
    sick = (u[:, 8] < sickle_frac) & ~flat
    body = ctx.cls("body")
    assert body is not None
    # towards the feathered edge the pallor fades out over a few hundred µm
    wflat = np.clip((0.8 - T) / 0.4, 0.0, 1.0)
    for group, prof, share in ((~sick & (wflat < 1), "biconcave", 1.0 - wflat),
                               (~sick & (wflat > 0), "lens", 0.8 * wflat)):
        g = np.nonzero(group)[0]
        draw_cells(canvas, body, x[g], y[g], a[g], b[g], th[g], coeffs[g], z_um=z[g],
                   amount=amount[g] * share[g], profile=prof, planes=planes[g],
                   label=ctx.pop.label,
                   centre_label=ctx.pop.label + "-centre" if prof == "biconcave" else None)
        if prof == "lens":  # cells drawn only flat still count once
            only = g[wflat[g] >= 1]
            draw_cells(canvas, body, x[only], y[only], a[only], b[only], th[only],
                       coeffs[only], amount=0.0, centre_label=ctx.pop.label + "-centre")
    sickle = ctx.cls("sickle")
    if sickle and sick.any():
        _sickles(canvas, ctx, sickle, x[sick], y[sick], d[sick], th[sick], z[sick],
                 u[sick], amount[sick])
    parasite, chromatin = ctx.cls("parasite"), ctx.cls("chromatin")
    if parasite and chromatin:
        _plasmodium(canvas, ctx, parasite, chromatin, x, y, d, th, z, u, ~sick & ~flat,
                    body)


GRID_MAX = 250_000
"""Above this many packing-lattice cells in a window (a view of several mm, red cells a
pixel or less across) the film is drawn as its area density instead of packed cells."""


def _red_cells_far(canvas: Canvas, ctx: Ctx, mean: float, cv: float, lo: float,
                   hi: float) -> None:
    """The film seen from far: sub-pixel cells at the local number density (~10 800 /mm² in
    the monolayer, as the packing gives; up to ~7 times that at the thick end, fewer to the
    feathered edge), unpacked, so the smear's gradient and colour survive at the lowest
    powers without packing millions of cells."""
    body = ctx.cls("body")
    if body is None:
        return
    # the monolayer's cells on a regular jittered lattice (an even film at any scale),
    # the thick end's extra cells on a finer one, present where the film is thicker
    extra = 6.0
    for spacing, layer in ((1000.0 / np.sqrt(10_800.0), 0), (1000.0 / np.sqrt(10_800.0 * extra),
                                                              1)):
        x, y, u = ctx.points(spacing, hi, 8)
        T = smear_thickness(ctx, x)
        per = np.where(T > 1.0, T ** 2.2, np.clip(T, 0.0, None) ** 0.6)
        if layer == 0:
            amount, keep = np.minimum(per, 1.0), per > 0
        else:
            amount, keep = np.ones_like(per), u[:, 2] * extra < per - 1.0
        x, y, u, amount = x[keep], y[keep], u[keep], amount[keep]
        if x.size == 0:
            continue
        d = lognormal(u[:, 3], mean, cv, lo, hi)
        draw_cells(canvas, body, x, y, d / 2, d / 2, np.zeros(x.size),
                   np.zeros((x.size, 1, 2)),
                   amount=float(ctx.p("body_amount")) * amount, profile="biconcave",
                   label=ctx.pop.label)


def _sickles(canvas: Canvas, ctx: Ctx, cls: str, x: np.ndarray, y: np.ndarray,
             d: np.ndarray, th: np.ndarray, z: np.ndarray, u: np.ndarray,
             amount: np.ndarray) -> None:
    """Drepanocytes: crescents of capsules along an arc, thickest in the middle and pointed
    at both ends; length, curvature, width and asymmetry differ from cell to cell, and
    some are boat-shaped (nearly straight, blunt)."""
    n = 9
    length = d * (1.25 + 0.55 * u[:, 9])
    boat = u[:, 12] < 0.2
    span = np.where(boat, 0.35 + 0.3 * u[:, 10], 0.9 + 1.1 * u[:, 10])
    radius = length / span
    cx = x - radius * np.cos(th)
    cy = y - radius * np.sin(th)
    px, py, tang = arc(n, cx, cy, radius, th, span)
    t = np.linspace(0.08, np.pi - 0.08, n)[None, :]
    skew = (u[:, 13:14] - 0.5) * 0.8
    taper = np.sin(t + skew * np.sin(t)) ** np.where(boat, 0.5, 0.8)[:, None]
    w = (d * (0.2 + 0.06 * u[:, 11]))[:, None] * taper + 0.12
    seg = (length / n)[:, None] * np.ones((1, n))
    draw(canvas, cls, px.ravel(), py.ravel(), w.ravel(), w.ravel(), tang.ravel(),
         z_um=np.repeat(z, n), half_len_um=(seg / 2).ravel() * 0.9, profile="dome",
         amount=np.repeat(0.72 * amount, n), label=ctx.pop.label + "-sickle")


def _plasmodium(canvas: Canvas, ctx: Ctx, parasite: str, chromatin: str, x: np.ndarray,
                y: np.ndarray, d: np.ndarray, th: np.ndarray, z: np.ndarray, u: np.ndarray,
                host: np.ndarray, body: str) -> None:
    """P. falciparum in red cells of normal size: rings (a band of blue cytoplasm ~0.3–0.5 µm
    wide, thicker on the side away from the chromatin, a fifth to a third of the cell across,
    with one or two deep red-purple chromatin dots — 'headphones' — sometimes two rings in a
    cell or one flattened on its edge, the appliqué form), a few older trophozoites
    (denser, irregular, with pigment grains) and rare crescent gametocytes (blue, a central
    dark chromatin mass with pigment; `gametocyte_at` places teaching examples). The
    parasite takes the place of haemoglobin it has displaced and digested, so the host
    cell is paler under it (which is why the blue of the cytoplasm shows against the pink
    cell). Labels: '<label>-ring' (ring cytoplasm), '<label>-chromatin',
    '<label>-trophozoite', '<label>-gametocyte'."""
    lab = ctx.pop.label
    ring_frac = float(ctx.p("ring_frac"))
    troph_frac = float(ctx.p("trophozoite_frac"))
    gam_frac = float(ctx.p("gametocyte_frac"))
    pigment = ctx.cls("pigment")
    placed = _placed(ctx, x, y, d)
    ring = host & ~placed & (u[:, 11] < ring_frac)
    two = ring & (u[:, 36] < float(ctx.p("double_frac")))
    rx = np.concatenate([x[ring], x[two]])
    ry = np.concatenate([y[ring], y[two]])
    rd = np.concatenate([d[ring], d[two]])
    rz = np.concatenate([z[ring], z[two]])
    ru = np.concatenate([u[ring], np.roll(u[two], 7, axis=1)])
    if rx.size:
        r = rd * (0.09 + 0.05 * ru[:, 12])  # radius to the middle of the band
        edge = ru[:, 37] < 0.15  # appliqué: flattened against the red-cell margin
        off = rd * np.where(edge, 0.4, 0.25 * ru[:, 13])
        ang = 2 * np.pi * ru[:, 9]
        cx, cy = rx + off * np.cos(ang), ry + off * np.sin(ang)
        asp = np.where(edge, 1.8, 1.0 + 0.3 * ru[:, 38])
        ra, rb = r * np.sqrt(asp), r / np.sqrt(asp)
        rot = ang + np.pi / 2  # the long axis along the cell margin
        # the chromatin's place on the band (ellipse parameter)
        tdot = np.pi * (ru[:, 14] > 0.5) + (ru[:, 10] - 0.5)

        def on_band(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ex, ey = ra[:, None] * np.cos(t), rb[:, None] * np.sin(t)
            c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
            return cx[:, None] + ex * c - ey * s, cy[:, None] + ex * s + ey * c

        # the band (its middle at radius r), irregular, and a thicker crescent of
        # cytoplasm across from the chromatin (the 'signet')
        coeffs = outline(ru[:, 25:35], 0.06)
        amt = 0.6 * (0.85 + 0.3 * ru[:, 39])
        draw_cells(canvas, parasite, cx, cy, ra / 0.72, rb / 0.72, rot, coeffs, z_um=rz,
                   profile="band", amount=amt, label=lab + "-ring")
        far = tdot + np.pi + 0.6 * (ru[:, 21] - 0.5)
        fx, fy = on_band(far[:, None])
        sx, sy = on_band(far[:, None] + 0.05)
        sang = np.arctan2(sy[:, 0] - fy[:, 0], sx[:, 0] - fx[:, 0])
        sw = 0.18 + 0.08 * ru[:, 20]
        draw(canvas, parasite, fx[:, 0], fy[:, 0], sw, sw, sang, z_um=rz,
             half_len_um=r * (0.3 + 0.3 * ru[:, 22]), profile="dome",
             amount=0.45 * (0.6 + 0.8 * ru[:, 23]), label=lab + "-ring")
        dot = rd * (0.045 + 0.015 * ru[:, 15])  # 0.6–0.9 µm across
        dbl = ru[:, 10] < 0.25  # two chromatin dots ('headphones')
        tt = np.stack([tdot, tdot + 0.9 + 0.3 * ru[:, 16]], axis=1)
        dx, dy = on_band(tt)
        keep = np.column_stack([np.ones(rx.size, dtype=bool), dbl])
        def each(v: np.ndarray) -> np.ndarray:
            return np.broadcast_to(v[:, None], keep.shape)[keep]

        draw(canvas, chromatin, dx[keep], dy[keep], each(dot), each(dot * 0.85),
             each(rot + tdot), z_um=each(rz), profile="dome", amount=1.6,
             label=lab + "-chromatin")
    tro = host & ~placed & ~ring & (u[:, 11] < ring_frac + troph_frac)
    if tro.any():
        r = d[tro] * (0.22 + 0.08 * u[tro, 12])
        coeffs = outline(u[tro][:, 25:35], 0.22)
        draw_cells(canvas, parasite, x[tro], y[tro], r, r * 0.85, th[tro], coeffs,
                   z_um=z[tro], profile="lens", amount=0.75,
                   texture=Texture(0.5, 0.35), tex_u=u[tro][:, 17:20],
                   label=lab + "-trophozoite")
        draw(canvas, chromatin, x[tro] + r * 0.35, y[tro] - r * 0.2, r * 0.22, r * 0.2,
             z_um=z[tro], profile="dome", amount=1.0, label=lab + "-chromatin")
        if pigment:
            k = 4
            pu = u[tro][:, 26:26 + 2 * k].reshape(-1, k, 2)
            pr = np.sqrt(pu[..., 0]) * r[:, None] * 0.6
            pa = 2 * np.pi * pu[..., 1]
            draw(canvas, pigment, (x[tro][:, None] + pr * np.cos(pa)).ravel(),
                 (y[tro][:, None] + pr * np.sin(pa)).ravel(), 0.18, 0.18,
                 z_um=np.repeat(z[tro], k), profile="dome", amount=1.0)
    g = host & (placed | (~ring & ~tro & (u[:, 11] > 1.0 - gam_frac)))
    if g.any():
        _gametocytes(canvas, ctx, parasite, chromatin, pigment, x[g], y[g], d[g], th[g],
                     z[g], u[g])
    infected = ring | tro | g
    _displace(canvas, body, [lab + s for s in ("-ring", "-trophozoite", "-gametocyte")],
              x[infected], y[infected], d[infected])


def _placed(ctx: Ctx, x: np.ndarray, y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The red cells that hold one of the `gametocyte_at` stage positions (µm): the cell
    whose centre lies within a third of its diameter of the point, so the same cell is
    chosen in every window."""
    at = ctx.p("gametocyte_at")
    hit = np.zeros(x.size, dtype=bool)
    if not at or x.size == 0:
        return hit
    pts = np.asarray(at, dtype=np.float64).reshape(-1, 2)
    for px_, py_ in pts:
        dist = np.hypot(x - px_, y - py_)
        k = int(dist.argmin())
        if dist[k] < d[k] / 3:
            hit[k] = True
    return hit


def _gametocytes(canvas: Canvas, ctx: Ctx, parasite: str, chromatin: str,
                 pigment: str | None, x: np.ndarray, y: np.ndarray, d: np.ndarray,
                 th: np.ndarray, z: np.ndarray, u: np.ndarray) -> None:
    """Crescents (P. falciparum gametocytes, 8–12 µm): a gently curved sausage with blunt,
    tapering ends, longer than the red cell, blue cytoplasm, a central dark chromatin mass
    and pigment grains scattered around it."""
    n = 9
    length = d * (1.15 + 0.25 * u[:, 12])
    span = 0.55 + 0.35 * u[:, 13]  # curvature: arc angle of the crescent
    radius = length / span
    ccx, ccy = x - radius * np.cos(th), y - radius * np.sin(th)
    px, py, tang = arc(n, ccx, ccy, radius, th, span)
    t = np.linspace(0.12, np.pi - 0.12, n)[None, :]
    w = (d * (0.15 + 0.03 * u[:, 14]))[:, None] * np.sin(t) ** 0.45 + 0.1
    seg = (length / n)[:, None] * np.ones((1, n))
    draw(canvas, parasite, px.ravel(), py.ravel(), w.ravel(), w.ravel(), tang.ravel(),
         z_um=np.repeat(z, n), half_len_um=(seg / 2).ravel() * 0.9, profile="dome",
         amount=0.5, label=ctx.pop.label + "-gametocyte")
    mid = n // 2
    draw(canvas, chromatin, px[:, mid], py[:, mid], d * 0.11, d * 0.08, tang[:, mid],
         z_um=z, profile="dome", amount=0.8, label=ctx.pop.label + "-chromatin")
    if pigment:
        k = 6
        pu = children(ctx.seed ^ 0x6A3E, u[:, 15], 1, 2 * k).reshape(-1, k, 2)
        along = (pu[..., 0] - 0.5) * d[:, None] * 0.35
        across = (pu[..., 1] - 0.5) * d[:, None] * 0.12
        c, s = np.cos(tang[:, mid:mid + 1]), np.sin(tang[:, mid:mid + 1])
        draw(canvas, pigment, (px[:, mid:mid + 1] + along * c - across * s).ravel(),
             (py[:, mid:mid + 1] + along * s + across * c).ravel(), 0.2, 0.2,
             z_um=np.repeat(z, k), profile="dome", amount=1.0)


def _displace(canvas: Canvas, body: str, labels: list[str], x: np.ndarray, y: np.ndarray,
              d: np.ndarray) -> None:
    """Thin the host's haemoglobin where a parasite lies: its cytoplasm replaces haemoglobin
    it has taken up and digested, so under its densest part (label amount ≥ 0.8) only a
    quarter of the path through the cell is still haemoglobin. Only the boxes around the
    infected cells (centres x, y, diameters d; µm) are touched: a parasite never reaches
    beyond 0.75 of its host's diameter from the host's centre."""
    maps = [canvas.labels[k] for k in labels if k in canvas.labels]
    bodies = [arr for (_li, cls), arr in canvas.amounts.items() if cls == body]
    if not maps or not bodies or x.size == 0:
        return
    w = canvas.window
    cx, cy = w.to_px(x, y)
    reach = 0.75 * d / w.px_um + 2
    x0 = np.clip(np.floor(cx - reach), 0, w.width).astype(int)
    x1 = np.clip(np.ceil(cx + reach), 0, w.width).astype(int)
    y0 = np.clip(np.floor(cy - reach), 0, w.height).astype(int)
    y1 = np.clip(np.ceil(cy + reach), 0, w.height).astype(int)
    grids = [m.reshape(w.height, w.width) for m in maps]
    outs = [arr.reshape(w.height, w.width) for arr in bodies]
    done = np.zeros((w.height, w.width), dtype=bool)  # overlapping boxes: once per pixel
    for k in np.nonzero((x1 > x0) & (y1 > y0))[0]:
        box = (slice(y0[k], y1[k]), slice(x0[k], x1[k]))
        occ = grids[0][box] if len(grids) == 1 else np.sum([g[box] for g in grids], axis=0)
        keep = (1.0 - 0.75 * np.clip(occ / np.float32(0.8), 0.0, 1.0)).astype(np.float32)
        keep[done[box]] = 1.0
        for out in outs:
            out[box] *= keep
        done[box] = True


def anchored(ctx: Ctx, x: np.ndarray, y: np.ndarray, u: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the population's `anchor` structures (fixed stage positions, e.g. the slide
    centre) with their own hashed attributes."""
    anchors = ctx.p("anchor")  # every caller's model is a micro.core.genparams.AnchorParams
    if not anchors:
        return x, y, u
    pts = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    k = np.arange(len(pts), dtype=np.int64)
    ua = uniforms(ctx.seed ^ 0xA7C4, -1 - k, k, u.shape[1])
    return (np.concatenate([x, pts[:, 0]]), np.concatenate([y, pts[:, 1]]),
            np.concatenate([u, ua]))


def children(seed: int, key: np.ndarray, m: int, slots: int) -> np.ndarray:
    """(n·m, slots) uniforms for the m parts of each of n structures, keyed by one uniform
    of each structure (`key`, (n,)), so a part's attributes follow its parent whatever the
    window."""
    ident = np.floor(np.asarray(key) * 2.0 ** 40).astype(np.int64)
    return uniforms(seed, np.repeat(ident, m), np.tile(np.arange(m, dtype=np.int64),
                                                        ident.size), slots)


def notch(depth: np.ndarray, width: float | np.ndarray, phase: np.ndarray, orders: int
          ) -> np.ndarray:
    """Harmonics (orders 2 … orders+1) of a smooth inward notch of relative `depth` and
    angular `width` (radians) at angle `phase`: the hilum of a kidney-shaped nucleus."""
    m = np.arange(2, orders + 2)[None, :]
    w = np.asarray(width, dtype=np.float64).reshape(-1, 1)
    amp = -np.asarray(depth)[:, None] * w / np.sqrt(np.pi / 2) * np.exp(-(m * w) ** 2 / 2)
    return np.stack([amp * np.cos(m * phase[:, None]), amp * np.sin(m * phase[:, None])],
                    axis=-1)


CHROMATIN = {
    # feature size µm, clump contrast, clumped fraction, rim bias
    "neutrophil": Texture(0.45, 0.4, 0.5, 0.5),
    "band": Texture(0.45, 0.4, 0.5, 0.5),
    "eosinophil": Texture(0.45, 0.5, 0.45, 0.4),
    "basophil": Texture(0.5, 0.4, 0.5, 0.3),
    "lymphocyte": Texture(0.6, 0.6, 0.45, 0.8),
    "monocyte": Texture(0.35, 0.4, 0.55, 0.3),
}


def _granules(ctx: Ctx) -> int:
    kind = str(ctx.p("kind"))
    n_gran = {"neutrophil": 90, "eosinophil": 80, "basophil": 40, "band": 90}.get(kind, 0)
    granules = ctx.p("granules")
    return n_gran if granules is None else int(granules)


def leukocyte_sites(ctx: Ctx, margin_um: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centres (µm), per-cell uniforms and radii of a leukocyte population's cells within
    margin_um of the window (the red cells call this to make room for them)."""
    x, y, u, _ = lattice_points(ctx.window, ctx.seed, ctx.spacing(), margin_um,
                                40 + 3 * _granules(ctx))
    on_film = u[:, 2] < np.clip(smear_thickness(ctx, x), 0.0, 1.0)
    x, y, u = anchored(ctx, x[on_film], y[on_film], u[on_film])
    lo, hi = ctx.pop.size_um
    return x, y, u, lognormal(u[:, 3], (lo + hi) / 2, 0.09, lo, hi) / 2


def _white_cells(ctx: Ctx, margin_um: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres and radii of every white cell of the specimen near the window."""
    xs, ys, rs = [np.zeros(0)], [np.zeros(0)], [np.zeros(0)]
    for pop in ctx.specimen.populations:
        if pop.generator == "leukocyte":
            x, y, _, r = leukocyte_sites(make_ctx(ctx.specimen, pop, ctx.window), margin_um)
            xs.append(x)
            ys.append(y)
            rs.append(r)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(rs)


@generator("leukocyte")
def leukocyte(canvas: Canvas, ctx: Ctx) -> None:
    """White cells. Params: kind neutrophil|lymphocyte|monocyte|eosinophil|basophil|band,
    anchor (optional [x, y, ...] positions that always hold one), granules, granule_um,
    granule_amount, body_amount, nucleus_amount. Parts: body, nucleus, granule.

    Every cell has its own outline, size, stain uptake and chromatin: clumped
    heterochromatin along the envelope. Neutrophils: 3–5 irregular lobes on a curved path,
    joined by thin chromatin strands (label '<label>-strand'), fine granules. Eosinophils:
    two separate lobes among packed orange-red granules (see `_packed`). Basophils: dark
    granules of uneven size over the nucleus. Lymphocytes: a round, coarsely clumped nucleus
    slightly indented, a thin rim of cytoplasm (wider in large lymphocytes). Monocytes: a folded kidney-shaped nucleus with
    lacy chromatin in abundant grey-blue cytoplasm. Cells sit on the film where it is not
    bare glass (see `smear_thickness`)."""
    kind = str(ctx.p("kind"))
    n_gran = _granules(ctx)
    x, y, u, r = leukocyte_sites(ctx, ctx.pop.size_um[1])
    if x.size == 0:
        return
    n = x.size
    z = ctx.z(u[:, 6])
    th = 2 * np.pi * u[:, 5]
    label = ctx.pop.label
    body, nucleus, granule = ctx.cls("body"), ctx.cls("nucleus"), ctx.cls("granule")
    stain = uptake(u[:, 30], u[:, 31], 0.12, 0.04)
    if body:
        asp = 1.0 + 0.12 * u[:, 4]
        draw_cells(canvas, body, x, y, r * np.sqrt(asp), r / np.sqrt(asp), th,
                   outline(u[:, 10:20], 0.03 + 0.03 * u[:, 20]), z_um=z, profile="lens",
                   amount=float(ctx.p("body_amount")) * stain,
                   texture=Texture(0.5, 0.25), tex_u=u[:, 21:24], label=label,
                   centre_label=label + "-centre")
    if nucleus:
        _nucleus(canvas, ctx, kind, nucleus, x, y, r, th, z, u,
                 float(ctx.p("nucleus_amount")) * stain)
    if granule and n_gran:
        uu = u[:, 40:40 + 3 * n_gran].reshape(n, n_gran, 3)
        g_um = float(ctx.p("granule_um"))
        spread = 0.6 if kind == "basophil" else 0.3  # basophil granules differ in size
        gsz = g_um / 2 * (1.0 - spread / 2 + spread * uu[..., 2])
        if kind == "eosinophil":
            gx, gy, on = _packed(x, y, r, th, uu, g_um, u)
        else:
            rr = np.sqrt(uu[..., 0]) * r[:, None] * 0.86
            phi = 2 * np.pi * uu[..., 1]
            gx, gy = x[:, None] + rr * np.cos(phi), y[:, None] + rr * np.sin(phi)
            on = np.ones(gx.shape, dtype=bool)
        amt = float(ctx.p("granule_amount")) * stain[:, None] * np.ones((1, n_gran))
        draw(canvas, granule, gx[on], gy[on], gsz[on], gsz[on],
             z_um=np.broadcast_to(z[:, None], on.shape)[on], profile="dome",
             amount=amt[on], label=label + "-granule")


EOS_LOBE_RAD, EOS_LOBE_ANGLE = 0.42, 1.15
"""An eosinophil's two nuclear lobes lie this far from the cell centre (× its radius), at
this angle (rad) either side of the cell's axis."""


def _packed(x: np.ndarray, y: np.ndarray, r: np.ndarray, th: np.ndarray, uu: np.ndarray,
            g_um: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eosinophil granules packed side by side: the nearest points of a hexagonal lattice
    (spacing 0.85 of a granule diameter, so neighbours just overlap; each jittered by up to
    ±0.18 of it), turned with the cell, up to the membrane; over the two nuclear lobes (at
    EOS_LOBE_RAD, EOS_LOBE_ANGLE, as `_nucleus` puts them) three in four are left out, so
    the lobes show through. Returns granule centres (n, m) and which are drawn."""
    n, m = uu.shape[:2]
    sp = 0.85 * g_um
    k = int(np.ceil(np.sqrt(m))) + 2
    i, j = np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1))
    hx, hy = sp * (i + 0.5 * j).ravel(), sp * np.sqrt(3) / 2 * j.ravel()
    near = np.argsort(np.hypot(hx, hy), kind="stable")[:m]
    hx, hy = hx[near][None, :], hy[near][None, :]
    hx = hx + (uu[..., 0] - 0.5) * 0.36 * sp
    hy = hy + (uu[..., 1] - 0.5) * 0.36 * sp
    c, s = np.cos(th)[:, None], np.sin(th)[:, None]
    gx, gy = x[:, None] + hx * c - hy * s, y[:, None] + hx * s + hy * c
    on = np.hypot(hx, hy) < r[:, None] - 0.6 * g_um
    for lobe, side in ((0, -1.0), (1, 1.0)):
        t = (th + side * EOS_LOBE_ANGLE + (u[:, 24 + lobe] - 0.5) * 0.16)[:, None]
        lx = x[:, None] + EOS_LOBE_RAD * r[:, None] * np.cos(t)
        ly = y[:, None] + EOS_LOBE_RAD * r[:, None] * np.sin(t)
        over = np.hypot(gx - lx, gy - ly) < 0.3 * r[:, None]
        on &= ~(over & ((uu[..., 2] * 7.0) % 1.0 < 0.75))
    return gx, gy, on


def _nucleus(canvas: Canvas, ctx: Ctx, kind: str, cls: str, x: np.ndarray, y: np.ndarray,
             r: np.ndarray, th: np.ndarray, z: np.ndarray, u: np.ndarray,
             amt: np.ndarray) -> None:
    n = x.size
    nl = ctx.pop.label + "-nucleus"
    tex = CHROMATIN.get(kind, CHROMATIN["lymphocyte"])
    if kind in ("neutrophil", "eosinophil", "band"):
        if kind == "neutrophil":  # 3 lobes ~50 %, 4 ~38 %, 5 ~12 %
            lobes = np.where(u[:, 7] < 0.5, 3, np.where(u[:, 7] < 0.88, 4, 5))
        elif kind == "eosinophil":
            lobes = np.full(n, 2)
        else:
            lobes = np.full(n, 6)
        m = 6
        k = np.arange(m)[None, :]
        present = k < lobes[:, None]
        # lobes on a curved path around the cell centre, a gap between neighbours: the
        # more lobes, the wider the path (and never closing on itself)
        L = lobes[:, None].astype(float)
        step = (5.3 / np.maximum(L, 3.0)) * (0.9 + 0.12 * u[:, 8:9])
        rad = r[:, None] * (0.3 + 0.06 * L + 0.05 * (u[:, 25:25 + m] - 0.5))
        la = r[:, None] * (0.44 - 0.025 * L) * (0.9 + 0.2 * u[:, 32:32 + m])
        lb = la * (0.6 + 0.12 * u[:, 26:26 + m])
        if kind == "eosinophil":  # two separate lobes joined by a strand ('spectacles')
            step = np.full((n, 1), 2 * EOS_LOBE_ANGLE)
            rad = r[:, None] * EOS_LOBE_RAD * np.ones((1, m))
            la = la * 1.05
            lb = la * 0.72
        if kind == "band":  # a curved sausage: many small overlapping lobes
            step = np.full((n, 1), 0.5)
            rad = r[:, None] * 0.45 * np.ones((1, m))
            la = r[:, None] * 0.2 * np.ones((1, m))
            lb = la
        t = (k - (L - 1) / 2) * step + th[:, None] + (u[:, 24:24 + m] - 0.5) * 0.16
        px = x[:, None] + rad * np.cos(t)
        py = y[:, None] + rad * np.sin(t)
        lu = children(ctx.seed ^ 0x10BE, u[:, 39], m, 14)
        coeffs = outline(lu[:, :10], 0.1 + 0.06 * lu[:, 10])
        zz = np.broadcast_to(z[:, None], px.shape)
        aa = np.broadcast_to(amt[:, None], px.shape)
        sel = present.ravel()
        draw_cells(canvas, cls, px.ravel()[sel], py.ravel()[sel], la.ravel()[sel],
                   lb.ravel()[sel], t.ravel()[sel], coeffs[sel], z_um=zz.ravel()[sel],
                   profile="lens", amount=aa.ravel()[sel] * 1.8, texture=tex,
                   tex_u=lu[sel, 11:14], label=nl)
        # thin chromatin strands between neighbouring lobes
        link = present[:, 1:] & present[:, :-1]
        mx, my = (px[:, 1:] + px[:, :-1]) / 2, (py[:, 1:] + py[:, :-1]) / 2
        ang = np.arctan2(py[:, 1:] - py[:, :-1], px[:, 1:] - px[:, :-1])
        gap = np.hypot(px[:, 1:] - px[:, :-1], py[:, 1:] - py[:, :-1])
        wide = 0.5 if kind == "band" else 0.13
        draw(canvas, cls, mx[link], my[link], wide, wide, ang[link],
             z_um=zz[:, 1:][link], half_len_um=gap[link] / 2, profile="flat",
             amount=aa[:, 1:][link] * 0.9, label=ctx.pop.label + "-strand")
        return
    if kind == "monocyte":
        frac = 0.5 + 0.08 * u[:, 8]
        off = r * 0.18
        ph = th + np.pi
        c = np.concatenate([outline(u[:, 10:20], 0.08), np.zeros((n, 4, 2))], axis=1)
        c += notch(0.9 + 0.3 * u[:, 9], 0.45, np.zeros(n), 9)  # the kidney's hilum
        draw_cells(canvas, cls, x + off * np.cos(th), y + off * np.sin(th), r * frac * 1.15,
                   r * frac * 0.9, ph, c, z_um=z, profile="lens", amount=amt * 1.4,
                   texture=tex, tex_u=u[:, 33:36], label=nl)
        return
    # lymphocyte, basophil: one round nucleus, a small indentation
    if kind == "lymphocyte":
        frac = np.where(u[:, 9] < 0.15, 0.62, 0.8) + 0.06 * u[:, 8]  # some large ones
    else:
        frac = 0.55 + 0.05 * u[:, 8]
    off = r * (1.0 - frac) * 0.6
    c = outline(u[:, 10:20], 0.04) + notch(0.1 * u[:, 9], 0.5, 2 * np.pi * u[:, 7], 5)
    draw_cells(canvas, cls, x + off * np.cos(th), y + off * np.sin(th), r * frac,
               r * frac * 0.94, th, c, z_um=z, profile="lens", amount=amt * 1.15,
               texture=tex, tex_u=u[:, 33:36], label=nl)


@generator("platelet")
def platelets(canvas: Canvas, ctx: Ctx) -> None:
    """Platelets: irregular pale-blue fragments (hyalomere, 2–3 µm, log-normal) with a
    purple granular centre (granulomere, resolved granules); about one in twelve lies in a
    small clump. Density follows the film (see `smear_thickness`). Parts: body, granule."""
    x, y, u = ctx.points(ctx.spacing(), 12.0, 40)
    T = smear_thickness(ctx, x)
    keep = u[:, 2] < np.clip(T, 0.0, 1.0) * float(ctx.p("presence"))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    clump = u[:, 3] < 0.08
    m = 5
    k = np.arange(m)[None, :]
    ca = 2 * np.pi * u[clump, 4:4 + m]
    cr = 1.6 + 2.2 * np.sqrt(u[clump, 9:9 + m]) * (k > 0)
    cx = (x[clump, None] + cr * np.cos(ca)).ravel()
    cy = (y[clump, None] + cr * np.sin(ca)).ravel()
    cu = children(ctx.seed ^ 0xC1, u[clump, 39], m, u.shape[1])
    x = np.concatenate([x[~clump], cx])
    y = np.concatenate([y[~clump], cy])
    u = np.concatenate([u[~clump], cu])
    n = x.size
    lo, hi = ctx.pop.size_um
    d = lognormal(u[:, 14], (lo + hi) / 2, 0.18, lo * 0.8, hi * 1.2)
    asp = 1.0 + 0.4 * u[:, 15]
    th = np.pi * u[:, 16]
    z = ctx.z(u[:, 17])
    body, granule = ctx.cls("body"), ctx.cls("granule")
    lab = ctx.pop.label
    if body:
        draw_cells(canvas, body, x, y, d / 2 * np.sqrt(asp), d / 2 / np.sqrt(asp), th,
                   outline(u[:, 18:28], 0.12), z_um=z, profile="lens",
                   amount=float(ctx.p("body_amount")) * uptake(u[:, 28], u[:, 29]),
                   texture=Texture(0.4, 0.3), tex_u=u[:, 30:33], label=lab,
                   centre_label=lab + "-centre")
    if granule:
        g = 6
        gu = children(ctx.seed ^ 0x6A, u[:, 38], 1, 3 * g).reshape(n, g, 3)
        count = 3 + np.floor(u[:, 33] * 4).astype(int)
        rr = np.sqrt(gu[..., 0]) * (d / 2)[:, None] * 0.5
        pa = 2 * np.pi * gu[..., 1]
        on = np.arange(g)[None, :] < count[:, None]
        gx = (x[:, None] + rr * np.cos(pa))[on]
        gy = (y[:, None] + rr * np.sin(pa))[on]
        gs = (0.12 + 0.08 * gu[..., 2])[on]
        draw(canvas, granule, gx, gy, gs, gs, z_um=np.broadcast_to(z[:, None], on.shape)[on],
             profile="dome", amount=float(ctx.p("granule_amount")), label=lab)


def carve(canvas: Canvas, layer: int, keep: np.ndarray) -> None:
    """Scale everything already drawn in `layer` by `keep` (H·W,): later structures that
    replace tissue (septa, vessels, lumens) clear what earlier populations put there."""
    for (li, _cls), arr in canvas.amounts.items():
        if li == layer:
            arr *= keep.astype(np.float32)
    for arr in canvas.labels.values():
        arr *= keep.astype(np.float32)

"""Kidney cortex: renal corpuscles on a jittered lattice (never overlapping, at the real
density) — a lobulated tuft of capillary loops inside Bowman's capsule, the clear urinary
space between, the tuft attached at the vascular pole — and the labyrinth of tubules cut
across around them. Architecture first: the tubule profiles are perturbed ellipses of
their own sizes, some cut obliquely, packed on a power diagram (flattened where they press
on each other, rounded at the corners) and pushed out round the corpuscles; then each is a
ring of wedge-shaped epithelial cells round its lumen: proximal tubules (tall eosinophilic
granular cells with indistinct borders, nuclei near the base, a brush border narrowing the
lumen to a star or a slit) and distal tubules (smaller, paler, lower cells with crisp
borders and more nuclei crowded round a wide clean lumen), with peritubular capillaries
(red cells in single file) and a few fibroblasts in the thin interstitium."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from micro.core.genparams import KidneyParams
from micro.core.memory import memoized
from micro.core.microscope.generators.histology import (
    F32,
    Cells,
    cells_at,
    grid,
    hash01,
    hypot,
    inside,
    layer_of,
    limited,
    line,
    nuclei,
    pack_red_cells,
    put,
    red_cells,
    section,
    texture,
    warp,
)
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

CAPSULE_UM = 3.0


@dataclass(frozen=True)
class Corpuscles:
    """The renal corpuscle nearest each point."""

    cx: np.ndarray
    """Centre (µm)."""
    cy: np.ndarray
    d: np.ndarray
    """Distance to the centre (µm)."""
    radius: np.ndarray
    """Inner radius of Bowman's capsule (µm); 0 where the lattice cell holds none."""
    tuft: np.ndarray
    """Normalised radius in the glomerular tuft (< 1 inside)."""
    near: np.ndarray
    """The corpuscle's row in `table`, `seed_x`, `seed_y` and `radius_t`."""
    table: np.ndarray
    """(n, 9) float32 uniforms of the corpuscles round the points."""
    seed_x: np.ndarray
    """(n,) their centres (µm) and inner capsule radii (0: none)."""
    seed_y: np.ndarray
    radius_t: np.ndarray
    r_um: np.ndarray
    """Distance from the tuft's centre (µm)."""
    lobe: np.ndarray
    """Position across the tuft's lobule (0–1; the clefts at 0 and 1, its axis at 0.5)."""
    lobe_um: np.ndarray
    """Width of the lobule at that radius (µm)."""

    def slot(self, k: int) -> np.ndarray:
        """Uniform k of each point's corpuscle."""
        return self.table[:, k].take(self.near)


def spacing_um(density_per_mm2: float) -> float:
    return float(1000.0 / max(density_per_mm2, 1e-9) ** 0.5)


def corpuscles(x: np.ndarray, y: np.ndarray, seed: int, density_per_mm2: float,
               d_min: float, d_max: float, on_grid: bool = False) -> Corpuscles:
    """Corpuscles of diameter d_min–d_max on a lattice of the given density, jittered only
    as much as keeps neighbours apart: two capsules never touch. `on_grid`: x, y are a
    window's pixels (see `cells_at`)."""
    S = spacing_um(density_per_mm2)
    outer = d_max / 2 + CAPSULE_UM + 8.0
    jitter = float(np.clip(1.0 - 2 * outer / S, 0.0, 0.8))
    c: Cells = cells_at(x, y, seed, S, jitter, 9, second=False,  # the nearest only
                        on_grid=on_grid)
    # per corpuscle (a table row), then gathered per point
    tab = c.table.astype(F32)
    present = tab[:, 2] < 0.85
    R_t = np.where(present, (d_min + (d_max - d_min) * tab[:, 3]) / 2, 0.0).astype(F32)
    pole_t = 6.283 * tab[:, 4]
    rt_t = R_t * (0.8 + 0.08 * tab[:, 5])
    shift = (R_t - rt_t) * 0.85
    R = R_t.take(c.near)
    dx, dy = (x - c.sx).astype(F32), (y - c.sy).astype(F32)
    tx = dx - (shift * np.cos(pole_t)).take(c.near)
    ty = dy - (shift * np.sin(pole_t)).take(c.near)
    r = hypot(tx, ty)
    # the tuft's lobules, worked out only near a corpuscle: beyond 1.8 R the normalised
    # radius is over 1.5 everywhere (rt ≥ 0.8 R, its offset ≤ 0.17 R, the bulge ≤ 1.18),
    # and every use of it (< 1 inside the tuft) reads the far value 9 the same
    tuft = np.full(r.shape, F32(9.0))
    lobe = np.zeros(r.shape, F32)
    lobe_um = np.zeros(r.shape, F32)
    at = np.flatnonzero((R > 0) & (c.d1 < 1.8 * R + 2.0))
    if at.size:
        uu = tab[c.near.reshape(-1)[at]]
        tx_s, ty_s, r_s = tx.reshape(-1)[at], ty.reshape(-1)[at], r.reshape(-1)[at]
        near_s = c.near.reshape(-1)[at]
        rt_s, pole_s = rt_t.take(near_s), pole_t.take(near_s)
        phi = np.arctan2(ty_s, tx_s)
        # 5–8 lobules fanning out from the vascular pole, each with its own bulge: a
        # scalloped outline notched at the clefts between them
        nlob = np.floor(5 + 4 * uu[:, 6])
        # lobules of unequal width whose clefts curve
        wig = (phi + 0.25 * np.sin(2 * phi + 6.3 * uu[:, 7])
               + 0.3 * np.sin(r_s / (0.35 * np.maximum(rt_s, 1.0)) + 6.3 * uu[:, 5]))
        f = ((wig - pole_s) / 6.2832 * nlob + 0.5 + uu[:, 8]) % 1.0
        bulge = 0.85 + 0.15 * np.sqrt(np.sin(np.pi * f)) * (0.9 + 0.2 * np.cos(3 * phi + 6.3
                                                                               * uu[:, 5]))
        tuft.reshape(-1)[at] = r_s / np.maximum(rt_s * bulge, 1e-3)
        lobe.reshape(-1)[at] = f
        lobe_um.reshape(-1)[at] = 6.2832 * r_s / nlob
    return Corpuscles(c.sx, c.sy, c.d1.astype(F32), R, tuft, c.near, tab, c.seed_x, c.seed_y,
                      R_t, r.astype(F32), lobe, lobe_um)


def tuft_parts(cp: Corpuscles) -> tuple[np.ndarray, np.ndarray]:
    """Where the tuft's clefts (urinary space between lobules, < 0 inside) and mesangial
    stalks (< 0 inside, thickest towards the hilum) are: signed distances (µm)."""
    t = cp.tuft
    axis = 0.5 + 0.12 * np.sin(t * 9.0 + 6.3 * cp.slot(7))  # a stalk that bends
    off = np.abs(cp.lobe - axis) * cp.lobe_um  # from the lobule's axis
    edge = (0.5 - np.abs(cp.lobe - 0.5)) * cp.lobe_um  # from the cleft
    depth = 0.62 + 0.2 * cp.slot(0)  # the clefts notch the outer third
    cleft = np.where(t > depth, edge - 1.3 * np.clip((t - depth) * 4, 0, 1), 9.0)
    # the stalks meet in a mesangial hub at the hilum; branches thin out towards the rim
    stalk = np.where(t < 0.22, t * 30.0 - 5.0,
                     off - (1.0 + 6.0 * np.clip(0.62 - t, 0, 1)) * (t < 0.62))
    return cleft.astype(F32), stalk.astype(F32)


@memoized("microscope.generators.kidney.anchor")
def anchor(seed: int, density_per_mm2: float, d_min: float, d_max: float
           ) -> tuple[float, float]:
    """Offset (µm) that brings the corpuscle nearest the slide origin to (0, 0), so the
    start position of the slide shows one (a translation of the whole cortex)."""
    S = spacing_um(density_per_mm2)
    g = np.linspace(-1.5 * S, 1.5 * S, 25)
    gx, gy = np.meshgrid(g, g)
    cp = corpuscles(gx, gy, seed, density_per_mm2, d_min, d_max)
    ok = cp.radius > 0
    k = np.argmin(np.where(ok, hypot(cp.cx, cp.cy), np.inf))
    return float(cp.cx.ravel()[k]), float(cp.cy.ravel()[k])


def smooth_max(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """max(a, b) with the corner where they cross rounded over about k (µm): of two
    signed distances, the intersection of the regions with a fillet."""
    h = np.clip(0.5 + (0.5 / k) * (b - a), 0.0, 1.0)
    return a + (b - a) * h + k * h * (1 - h)


MACULA_UM = 20.0
"""Radius of the distal tubule whose macula densa presses against the vascular pole (µm)."""


def macula(cp: Corpuscles, x: np.ndarray, y: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (µm) from each point to the centre of its corpuscle's macula-densa tubule,
    just outside the capsule at the vascular pole (1e6 where the lattice cell holds no
    corpuscle), and the offset (µm) from that centre turned so that +x faces the
    corpuscle."""
    pole_t = 6.283 * cp.table[:, 4] + 0.45  # per corpuscle, then per point
    reach = cp.radius_t + CAPSULE_UM + MACULA_UM + 3.0
    mx = (cp.seed_x + reach * np.cos(pole_t)).take(cp.near)
    my = (cp.seed_y + reach * np.sin(pole_t)).take(cp.near)
    mdx, mdy = (x - mx).astype(F32), (y - my).astype(F32)
    mdd = np.where(cp.radius > 0, hypot(mdx, mdy), F32(1e6))
    c, s = (-np.cos(pole_t)).take(cp.near), (-np.sin(pole_t)).take(cp.near)
    return mdd, mdx * c + mdy * s, mdy * c - mdx * s


def clearance(cp: Corpuscles, mdd: np.ndarray) -> np.ndarray:
    """Room (µm) between a point and the nearest renal corpuscle's capsule or macula-densa
    tubule (negative inside them): tubules keep out of both."""
    return np.minimum(np.where(cp.radius > 0, cp.d - cp.radius - CAPSULE_UM, F32(1e6)),
                      mdd - MACULA_UM).astype(F32)


Clearance = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Tubules:
    """The tubule profile each point belongs to, in its own frame."""

    depth: np.ndarray
    """Distance (µm) in from the profile's basement membrane (negative outside it)."""
    lumen: np.ndarray
    """Signed distance (µm) to the lumen (negative inside it)."""
    height: np.ndarray
    """Height of the epithelium there, basement to lumen (µm)."""
    r: np.ndarray
    """Distance from the profile's centre (µm)."""
    sector: np.ndarray
    """Position round the profile in cells (k + fraction: the point's cell is floor)."""
    ncell: np.ndarray
    """Cells round the profile."""
    prox: np.ndarray
    """Whether the profile is a proximal tubule."""
    key: np.ndarray
    """The profile's identity (an integer-valued float, for hashing)."""
    tint: np.ndarray
    """The profile's uptake of eosin (about 1)."""


def tubules(x: np.ndarray, y: np.ndarray, seed: int, tubule_um: float, proximal: float,
            clear: np.ndarray, clear_at: Clearance,
            on_grid: bool = False) -> Tubules:
    """Tubule profiles cut across, packed round the corpuscles: one per seed of a jittered,
    gently warped lattice, each a perturbed ellipse of its own size (proximal 52–66 µm,
    distal 37–47 µm across, times tubule_um / 50; one in five cut obliquely, up to twice
    as long as wide), flattened where it meets a neighbour on the power-diagram wall
    between them (a big profile pushes the wall towards a small one), a thin interstitium
    between. `clear`: room to the corpuscles at the points; `clear_at(x, y)` the same at
    the seeds and the way out from the corpuscle (a profile closer to a capsule than
    three quarters of its radius is pushed out to that; one whose centre falls more than
    12 µm inside is not there)."""
    S = tubule_um  # one profile per tubule_um square; the mean profile fills it
    wx, wy = warp(x, y, seed ^ 0x70B, 60.0, 7.0)
    tb = cells_at(wx, wy, seed ^ 0x7B, S, 0.65, 10, on_grid=on_grid)
    wx, wy = wx.astype(F32), wy.astype(F32)
    tab = tb.table.astype(F32)
    sc = tubule_um / 50.0
    prox_t = tab[:, 2] < proximal
    R_t = np.where(prox_t, 26.0 + 7.0 * tab[:, 3], 18.5 + 5.0 * tab[:, 3]) * sc
    # profiles near a corpuscle are pushed out to wrap round it; one whose centre falls
    # well inside it is not there
    room, ax_, ay_ = clear_at(tb.seed_x, tb.seed_y)
    push = np.clip(0.75 * R_t + 2.0 - room, 0.0, None)
    dead_t = room < -12.0
    sx = (tb.seed_x + push * ax_).astype(F32)
    sy = (tb.seed_y + push * ay_).astype(F32)
    w_t = np.where(dead_t, F32(-1e7), R_t * R_t).astype(F32)
    # the owner: the nearer of the two nearest seeds in power distance d² − R² (the
    # distances found again where a seed was pushed)
    d1, d2 = tb.d1, tb.d2
    moved = push > 0
    at = np.flatnonzero(moved.take(tb.near) | moved.take(tb.near2))
    if at.size:
        d1, d2 = d1.copy(), d2.copy()
        fx, fy = wx.reshape(-1)[at], wy.reshape(-1)[at]
        for d, nn in ((d1, tb.near), (d2, tb.near2)):
            k = nn.reshape(-1)[at]
            d.reshape(-1)[at] = hypot(fx - sx.take(k), fy - sy.take(k))
    # per profile: an ellipse (axis, aspect: one in five cut obliquely), the lumen (a
    # narrow irregular star in proximal tubules, a quarter of them collapsed; wide, round
    # in distal ones) and the cells round it
    th_t = 6.2832 * tab[:, 4]
    aspect_t = np.where(tab[:, 5] < 0.2, 1.35 + 2.5 * tab[:, 5], 1.0 + 0.15 * tab[:, 5])
    a_t, b_t = R_t * np.sqrt(aspect_t), R_t / np.sqrt(aspect_t)
    g = tab[:, 8] * 6.2832
    occl_t = prox_t & (tab[:, 7] < 0.25)
    lam_t = np.where(prox_t, np.where(occl_t, 0.06, 0.11 + 0.12 * tab[:, 7]),
                     0.48 + 0.12 * tab[:, 7])
    t = _Table(sx, sy, w_t, np.cos(th_t) / a_t, np.sin(th_t) / a_t, np.cos(th_t) / b_t,
               np.sin(th_t) / b_t, np.cos(g), np.sin(g), lam_t,
               lam_t * np.where(prox_t, 0.25, 0.06),
               lam_t * np.where(prox_t, 0.25 + 0.2 * tab[:, 5], 0.0),
               np.where(prox_t, 7.0 + np.floor(3 * tab[:, 9]), 9.0 + np.floor(3 * tab[:, 9])),
               tab[:, 6], prox_t, dead_t, np.floor(tab[:, 9] * 1048576.0))
    shape = tb.d1.shape
    f32 = [np.empty(shape, F32) for _ in range(8)]
    out = Tubules(f32[0], f32[1], f32[2], f32[3], f32[4], f32[5], np.empty(shape, bool),
                  f32[6], f32[7])
    flat = [a.reshape(-1) for a in (wx, wy, d1, d2, tb.near, tb.near2,
                                     np.broadcast_to(clear, shape))]
    res = [a.reshape(-1) for a in (out.depth, out.lumen, out.height, out.r, out.sector,
                                    out.ncell, out.prox, out.key, out.tint)]
    for s0 in range(0, flat[0].size, PROFILE_CHUNK):  # the scratch arrays stay in cache
        sl = slice(s0, s0 + PROFILE_CHUNK)
        for o, v in zip(res, _profile(t, *(a[sl] for a in flat)), strict=True):
            o[sl] = v
    return out


@dataclass(frozen=True)
class _Table:
    """Per tubule profile (a row per lattice cell round the points): its seed, its
    power-diagram weight, its ellipse's axes (cos, sin of the axis over each semi-axis),
    its outline's and lumen's harmonics, cells round it, and so on."""

    sx: np.ndarray
    sy: np.ndarray
    w: np.ndarray
    ca: np.ndarray
    sa: np.ndarray
    cb: np.ndarray
    sb: np.ndarray
    cg: np.ndarray
    sg: np.ndarray
    lam: np.ndarray
    k2: np.ndarray
    k3: np.ndarray
    n: np.ndarray
    u6: np.ndarray
    prox: np.ndarray
    dead: np.ndarray
    key: np.ndarray


PROFILE_CHUNK = 16_384
"""Points `_profile` works on at once (its scratch arrays then stay in the cache)."""


def _profile(t: _Table, wx: np.ndarray, wy: np.ndarray, d1: np.ndarray, d2: np.ndarray,
             near: np.ndarray, near2: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, ...]:
    """`Tubules`' fields at some points (flat), given their two nearest seeds."""
    p1 = d1 * d1 - t.w.take(near)
    p2 = d2 * d2 - t.w.take(near2)
    swap = p2 < p1
    own = np.where(swap, near2, near)
    oth = np.where(swap, near, near2)
    ox, oy = t.sx.take(own), t.sy.take(own)
    sep = hypot(t.sx.take(oth) - ox, t.sy.take(oth) - oy)
    p2 -= p1
    np.abs(p2, out=p2)
    wall = p2 / (2 * np.maximum(sep, F32(1.0)))  # distance to the power wall
    dx = wx - ox
    dy = wy - oy
    r = hypot(dx, dy)
    P = dx * t.ca.take(own) + dy * t.sa.take(own)  # in the ellipse's frame, unit radius
    Q = dy * t.cb.take(own) - dx * t.sb.take(own)
    rho = np.maximum(hypot(P, Q), F32(1e-4))
    cs, sn = P / rho, Q / rho  # the angle round the ellipse
    c2, s2 = 2 * cs * cs - 1, 2 * sn * cs
    c3, s3 = cs * (2 * c2 - 1), sn * (2 * c2 + 1)
    cgo, sgo = t.cg.take(own), t.sg.take(own)
    h3 = c3 * cgo - s3 * sgo  # cos(3ψ + γ)
    rim = r / rho * (1 + 0.05 * h3)
    u6 = t.u6.take(own)
    # the outline flattened on the wall, its corners rounded (a smooth maximum)
    sd = smooth_max(r - rim, F32(0.8) + 0.6 * u6 - wall, 5.0)
    np.maximum(sd, 4.0 - clear, out=sd)
    sd[t.dead.take(own)] = 9e3
    depth = -sd
    prox = t.prox.take(own)
    lum_r = rim * (t.lam.take(own) + t.k2.take(own) * (c2 * sgo - s2 * cgo)
                   + t.k3.take(own) * (c3 * sgo + s3 * cgo))
    lumen = np.maximum(r - lum_r, np.where(prox, F32(7.0), F32(4.5)) - depth)
    height = np.maximum(depth + r - lum_r, F32(1.0))  # along the ray, where flattened too
    n = t.n.take(own)
    sector = np.arctan2(dy, dx)  # the true angle: arc lengths round it are r dψ
    sector *= F32(1 / 6.2832)
    sector += F32(0.5)
    sector *= n
    sector += u6 + 0.15 * h3
    key = t.key.take(own)
    return depth, lumen, height, r, sector, n, prox, key, 0.88 + 0.24 * u6


@generator("kidney")
def kidney(canvas: Canvas, ctx: Ctx) -> None:
    """Renal cortex (density_per_mm2 and size_um of the corpuscles). Params: tubule_um
    (mean tubule diameter), proximal (fraction of tubule profiles that are proximal). Parts:
    cytoplasm, nucleus, brush_border, basement, rbc, membrane. Labels: glomerulus,
    bowman-space, bowman-capsule, proximal-tubule, distal-tubule, tubule-lumen,
    glomerulus-nucleus, tubule-nucleus, mesangium, capillary-lumen, macula-densa."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    dens = ctx.pop.density_per_mm2
    dmin, dmax = ctx.pop.size_um
    ox, oy = anchor(ctx.seed, dens, dmin, dmax)
    X, Y = grid(w, ox, oy)
    cp = corpuscles(X, Y, ctx.seed, dens, dmin, dmax, on_grid=True)
    cyto, nuc, bm = ctx.cls("cytoplasm"), ctx.cls("nucleus"), ctx.cls("basement")
    # --- corpuscles
    body = inside(cp.d - cp.radius - CAPSULE_UM, px) * (cp.radius > 0)
    capsule = body - inside(cp.d - cp.radius, px)
    tuft = inside((cp.tuft - 1) * 30.0, px) * body
    cleft, stalk = tuft_parts(cp)
    tuft = tuft * (1 - inside(cleft, px))
    space = np.clip(body - capsule - tuft, 0, 1)
    put(canvas, layer, None, tuft, "glomerulus")
    put(canvas, layer, None, space, "bowman-space")
    put(canvas, layer, cyto, capsule * 0.6, "bowman-capsule")
    put(canvas, layer, bm, capsule * 0.7)
    sel = tuft.ravel() > 0
    if sel.any():  # capillary loops (open lumina, thin walls) around the mesangial stalks
        xs, ys = X.ravel()[sel], Y.ravel()[sel]
        cap = cells_at(xs, ys, ctx.seed ^ 0xCA9, 9.0, 0.9, 4)
        lumen_r = 2.6 + 1.4 * cap.u[:, 2]
        mes = inside(stalk.ravel()[sel], px)
        # a loop's lumen stops 0.8 µm short of the wall it shares with its neighbour
        lsd = np.maximum(cap.d1 - lumen_r, 0.8 - cap.wall)
        open_ = inside(lsd, px) * (1 - mes)
        loop_wall = np.clip(inside(lsd - 1.0, px) - open_, 0, 1) * (1 - mes)
        t = tuft.ravel()[sel]
        full = np.zeros(canvas.npix, F32)

        def spread(v: np.ndarray) -> np.ndarray:
            out = full.copy()
            out[sel] = v * t
            return out

        put(canvas, layer, cyto, spread(limited(1 - open_, 0.5, 7.0, px) * 0.7 + 0.25 * mes))
        put(canvas, layer, None, spread(mes), "mesangium")
        put(canvas, layer, None, spread(open_), "capillary-lumen")
        put(canvas, layer, bm, spread(limited(loop_wall, 0.3, 2.2, px) * 1.2 + 0.5 * mes))
        red = open_ * (cap.u[:, 3] < 0.4) * (1 - np.clip(cap.d1 / lumen_r, 0, 1) ** 2) ** 0.3
        rbc, hb = red_cells(canvas, ctx)
        put(canvas, layer, rbc, spread(limited(red, 0.15, 5.0, px) * hb))
    # macula densa: the distal tubule pressed against the vascular pole, its cells tall and
    # crowded (nuclei packed together on the side facing the corpuscle)
    mdd, mu, mv = macula(cp, X, Y)
    md_tube = inside(mdd - MACULA_UM, px)
    md_epi = md_tube * (1 - inside(mdd - 8.0, px))
    md_nuc = np.zeros(mdd.shape, F32)
    at = np.flatnonzero(md_epi > 0)  # the angle round the tubule only where it is
    if at.size:
        psi = np.arctan2(mv.reshape(-1)[at], mu.reshape(-1)[at])
        dd = mdd.reshape(-1)[at]
        ncell = np.where(np.abs(psi) < 1.1, 26.0, 12.0)
        a = (psi / 6.2832 + 0.5) * ncell
        t_off = (a - np.floor(a) - 0.5) * 6.2832 / ncell * dd
        md_nuc.reshape(-1)[at] = inside(hypot(t_off / 1.6, (dd - 13.0) / 3.4) - 1, px)
    md_nuc *= md_epi
    put(canvas, layer, cyto, md_epi * 0.75)
    put(canvas, layer, nuc, limited(md_nuc, 0.2, 3.0, px), "macula-densa")
    put(canvas, layer, bm, line(mdd - MACULA_UM, 1.0, px))
    # --- tubules, everywhere outside the corpuscles
    prm = ctx.params(KidneyParams)
    clear = clearance(cp, mdd)
    tb = tubules(X, Y, ctx.seed, prm.tubule_um, prm.proximal, clear,
                 _seed_clearance(ctx.seed, dens, dmin, dmax), on_grid=True)
    grain = 0.8 + 0.4 * texture(w, ctx.seed ^ 0x9A, 1.0)
    # one fine texture serves the brush border's fuzz and the nuclei's chromatin (they
    # never share a pixel)
    fine = texture(w, ctx.seed ^ 0xC1, 0.7)
    fuzz = 0.6 + 0.8 * fine
    chrom = 0.5 + fine
    maps = [np.empty(canvas.npix, F32) for _ in range(9)]
    fields = [a.reshape(-1) for a in (tb.depth, tb.lumen, tb.height, tb.r, tb.sector,
                                       tb.ncell, tb.prox, tb.key, tb.tint, grain, fuzz, chrom)]
    for s0 in range(0, canvas.npix, PROFILE_CHUNK):
        sl = slice(s0, s0 + PROFILE_CHUNK)
        for o, v in zip(maps, _paint(px, *(a[sl] for a in fields)), strict=True):
            o[sl] = v
    cyto_t, prox_t, dist_t, lumen_t, tube, bm_t, brush, nuc_t, lateral = maps
    put(canvas, layer, cyto, cyto_t)
    put(canvas, layer, None, prox_t, "proximal-tubule")
    put(canvas, layer, None, dist_t, "distal-tubule")
    put(canvas, layer, None, lumen_t, "tubule-lumen")
    put(canvas, layer, bm, bm_t)
    put(canvas, layer, ctx.cls("brush_border"), brush)
    put(canvas, layer, nuc, nuc_t, "tubule-nucleus")
    put(canvas, layer, ctx.cls("membrane"), lateral)
    # --- points: glomerular nuclei, capsule nuclei, peritubular red cells
    if px > 2.5:  # cells below the pixel size: their area means
        put(canvas, layer, nuc, tuft * 0.3, "glomerulus-nucleus")
        interstitium = np.clip(1 - tube.reshape(body.shape) - body - md_tube, 0, 1)
        rbc, hb = red_cells(canvas, ctx)
        put(canvas, layer, rbc, interstitium * (0.12 * hb))
        put(canvas, layer, nuc, interstitium * 0.06)
    else:
        _points(canvas, ctx, layer, z, dens, dmin, dmax, prm, ox, oy)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _paint(px: float, depth: np.ndarray, lumen: np.ndarray, height: np.ndarray,
           r: np.ndarray, sector: np.ndarray, ncell: np.ndarray, prox: np.ndarray,
           key: np.ndarray, tint: np.ndarray, grain: np.ndarray, fuzz: np.ndarray,
           chrom: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the tubules put at some pixels (flat fields of `Tubules` and textures):
    cytoplasm, proximal and distal epithelium, lumen, the whole profile, basement
    membrane, brush border, nuclei and lateral cell borders."""
    tube = inside(-depth, px)
    lum = inside(lumen, px)
    epi = tube * (1 - lum)
    # proximal cells: tall, deeply eosinophilic and granular, most so towards the apex;
    # distal cells lower and paler
    apical = np.clip(1.0 - lumen / height, 0, 1)
    cyto = epi * np.where(prox, 1.1 + 0.3 * apical, F32(0.62)) * tint * grain
    bm = line(depth - 0.5, 1.0, px)
    brush = np.where(prox, line(lumen - 0.6, 3.0, px), F32(0.0)) * tube * fuzz
    # nuclei: one per cell round the profile, near its base in proximal cells (wide cells,
    # so few in each cross-section; some cells are cut beside their nucleus), more central
    # and crowded in the narrow distal cells
    k = np.floor(sector)
    f = sector - k
    k = np.where(k >= ncell, k - ncell, np.where(k < 0, k + ncell, k))
    h = hash01(key, k)
    has = h < np.where(prox, 0.6, 0.8)
    hu = h * 7.31
    hu -= np.floor(hu)
    hv = h * 53.7
    hv -= np.floor(hv)
    nr = np.where(prox, 3.0, 2.5) + 0.5 * hu
    dn = np.maximum(height * np.where(prox, 0.28 + 0.14 * hv, 0.4 + 0.2 * hv), 1.2 * nr + 0.8)
    # a nucleus fits its cell: in a narrow cell it is narrower and taller
    wcell = 6.2832 / ncell * np.maximum(r + depth - dn, 1.0)
    across = np.minimum(nr, 0.4 * wcell)
    along = np.minimum(nr * np.sqrt(nr / across), 1.5 * nr)
    t_off = (f - 0.5 - 0.12 * (hu - 0.5)) * wcell
    nd = (hypot(t_off / across, (depth - dn) / along) - 1) * across
    ncov = np.where(has, inside(nd, px), 0.0) * chrom * 1.1
    nuc = limited(ncov, 0.13, 2 * 2.9, px) * epi
    # lateral cell borders: crisp in distal cells, barely seen in proximal ones
    side = np.minimum(f, 1 - f) * 6.2832 / ncell * r
    lateral = limited(line(side, 0.6, px) * epi * np.where(prox, F32(0.15), F32(0.7)),
                      0.03, 1.0, px)
    return cyto, epi * prox, epi * ~prox, tube * lum, tube, bm, brush, nuc, lateral


def _seed_clearance(seed: int, dens: float, dmin: float, dmax: float) -> Clearance:
    """`clearance` at any points (the tubule seeds), and the unit vector away from the
    nearest corpuscle's centre."""
    def at(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cp = corpuscles(x, y, seed, dens, dmin, dmax)
        ux, uy = x - cp.cx, y - cp.cy
        n = np.maximum(hypot(ux, uy), 1e-3)
        return clearance(cp, macula(cp, x, y)[0]), ux / n, uy / n
    return at


def _points(canvas: Canvas, ctx: Ctx, layer: int, z: float, dens: float, dmin: float,
            dmax: float, prm: KidneyParams, ox: float, oy: float) -> None:
    """Nuclei of the tuft and the capsule, red cells and endothelium of peritubular
    capillaries: points checked against the architecture (slide frame shifted by ox, oy)."""
    nuc, (rbc, hb) = ctx.cls("nucleus"), red_cells(canvas, ctx)
    x, y, u = ctx.points(5.0, 6.0, 8)
    cp = corpuscles(x + ox, y + oy, ctx.seed, dens, dmin, dmax)
    cap = cells_at(x + ox, y + oy, ctx.seed ^ 0xCA9, 9.0, 0.9, 4)
    cleft, stalk = tuft_parts(cp)
    in_tuft = (cp.tuft < 0.97) & (cleft > 1.0)
    wall = cap.d1 > 2.6 + 1.4 * cap.u[..., 2] + 0.8  # not in a capillary lumen
    # mesangial cells crowd the stalks; endothelial nuclei line the loops; podocytes sit on
    # the outer surface of the loops, facing the urinary space
    mes = in_tuft & (stalk < 0) & (u[:, 2] < 0.5)
    outer = in_tuft & ~(stalk < 0) & ((cp.tuft > 0.86) | (cleft < 4.0)) & wall
    podo = outer & (u[:, 2] < 0.3)
    endo = in_tuft & ~(stalk < 0) & ~outer & wall & (u[:, 2] < 0.14)
    nuclei(canvas, layer, nuc, x[mes], y[mes], 2.4, 2.0, 6.3 * u[mes, 3], u[mes], 1.15,
           label="glomerulus-nucleus")
    nuclei(canvas, layer, nuc, x[podo], y[podo], 3.0, 2.4, 6.3 * u[podo, 3], u[podo], 0.95,
           label="glomerulus-nucleus")
    nuclei(canvas, layer, nuc, x[endo], y[endo], 3.0, 1.3, 6.3 * u[endo, 3], u[endo], 1.0,
           label="glomerulus-nucleus")
    ring = (np.abs(cp.d - cp.radius - CAPSULE_UM / 2) < 2.0) & (cp.radius > 0) & (u[:, 2] < 0.3)
    ang = np.arctan2(y + oy - cp.cy, x + ox - cp.cx) + np.pi / 2
    nuclei(canvas, layer, nuc, x[ring], y[ring], 4.0, 1.2, ang[ring], u[ring], 1.0)
    # peritubular capillaries in the interstitium: red cells in single file (two or three
    # in a row along the capillary), an endothelial nucleus beside some, and the odd
    # fibroblast
    x, y, u = ctx.points(10.0, 6.0, 8)
    px_, py_ = x + ox, y + oy
    cp = corpuscles(px_, py_, ctx.seed, dens, dmin, dmax)
    clear = clearance(cp, macula(cp, px_, py_)[0])
    tb = tubules(px_, py_, ctx.seed, prm.tubule_um, prm.proximal, clear,
                 _seed_clearance(ctx.seed, dens, dmin, dmax))
    inter = (tb.depth < -2.0) & (clear > 6.0)
    cap = inter & (u[:, 2] < 0.22)
    if rbc and cap.any():
        ang = 6.3 * u[cap, 3]
        k = np.arange(3)[None, :] - 1.0
        keep = (k >= 0) | (u[cap, 4] < 0.5)[:, None]
        cx = (x[cap, None] + 3.4 * k * np.cos(ang)[:, None])[keep]
        cy = (y[cap, None] + 3.4 * k * np.sin(ang)[:, None])[keep]
        th = (ang[:, None] + np.pi / 2 + 0.3 * (u[cap, 5, None] - 0.5) + 0 * k)[keep]
        draw(canvas, rbc, cx, cy, 3.6, 2.2, th, z_um=z, profile="biconcave", amount=hb)
    endo = inter & (((u[:, 2] < 0.22) & (u[:, 6] < 0.4)) | (u[:, 2] > 0.92))
    nuclei(canvas, layer, nuc, x[endo] + 3.0 * np.cos(6.3 * u[endo, 7]),
           y[endo] + 3.0 * np.sin(6.3 * u[endo, 7]), 3.4, 1.2, 6.3 * u[endo, 3], u[endo], 1.0)

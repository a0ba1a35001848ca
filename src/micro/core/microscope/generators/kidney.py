"""Kidney cortex: renal corpuscles on a jittered lattice (never overlapping, at the real
density) — a lobulated tuft of capillary loops inside Bowman's capsule, the clear urinary
space between, the tuft attached at the vascular pole — and the labyrinth of tubules cut
across around them: proximal tubules (tall eosinophilic cells, brush border, small
irregular lumen, few nuclei per profile) and distal tubules (paler, lower cells, wide clean
lumen, more nuclei), with peritubular capillaries in the thin interstitium."""

from __future__ import annotations

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
    hash_prefix,
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


@generator("kidney")
def kidney(canvas: Canvas, ctx: Ctx) -> None:
    """Renal cortex (density_per_mm2 and size_um of the corpuscles). Params: tubule_um
    (tubule diameter), proximal (fraction of tubule profiles that are proximal). Parts:
    cytoplasm, nucleus, brush_border, basement, rbc. Labels: glomerulus, bowman-space,
    bowman-capsule, proximal-tubule, distal-tubule, glomerulus-nucleus, tubule-nucleus,
    mesangium, capillary-lumen, macula-densa."""
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
    pole_t = 6.283 * cp.table[:, 4] + 0.45  # per corpuscle, then per pixel
    pole = pole_t.take(cp.near)
    md_r = 20.0
    reach = cp.radius_t + CAPSULE_UM + md_r + 3.0
    mx = (cp.seed_x + reach * np.cos(pole_t)).take(cp.near)
    my = (cp.seed_y + reach * np.sin(pole_t)).take(cp.near)
    mdx, mdy = (X - mx).astype(F32), (Y - my).astype(F32)
    mdd = np.where(cp.radius > 0, hypot(mdx, mdy), F32(1e6))
    md_tube = inside(mdd - md_r, px)
    md_epi = md_tube * (1 - inside(mdd - 8.0, px))
    psi = np.arctan2(mdy, mdx) - (pole + np.pi)  # 0: facing the corpuscle
    psi = (psi + np.pi) % 6.2832 - np.pi
    dense = np.abs(psi) < 1.1
    ncell = np.where(dense, 26.0, 12.0)
    a = (psi / 6.2832 + 0.5) * ncell
    t_off = (a - np.floor(a) - 0.5) * 6.2832 / ncell * mdd
    md_nuc = inside(hypot(t_off / 1.6, (mdd - 13.0) / 3.4) - 1, px) * md_epi
    put(canvas, layer, cyto, md_epi * 0.75)
    put(canvas, layer, nuc, limited(md_nuc, 0.2, 3.0, px), "macula-densa")
    put(canvas, layer, bm, line(mdd - md_r, 1.0, px))
    # --- tubules, everywhere outside the corpuscles
    WX, WY = warp(X, Y, ctx.seed ^ 0x70B, 60.0, 7.0)
    prm = ctx.params(KidneyParams)
    tub_um = prm.tubule_um
    tb = cells_at(WX, WY, ctx.seed ^ 0x7B, tub_um, 0.85, 8, on_grid=True)
    e = tb.wall.astype(F32)
    d1 = tb.d1.astype(F32)
    tab8 = tb.table.astype(F32)
    u2, u3, u4, u5, u6, u7 = (tab8[:, k].take(tb.near) for k in range(2, 8))
    prox = u2 < prm.proximal
    free = (1 - inside(cp.d - cp.radius - CAPSULE_UM - 5.0, px) * (cp.radius > 0)) * (
        1 - inside(mdd - md_r - 4.0, px))
    phi = np.arctan2((WY - tb.sy).astype(F32), (WX - tb.sx).astype(F32))
    lum = np.where(prox, tub_um * (0.06 + 0.07 * u3) * (  # small, slit-like
        1 + 0.35 * np.cos(2 * phi + 6.3 * u4) + 0.15 * np.cos(3 * phi + 6.3 * u7)),
        tub_um * (0.2 + 0.1 * u3) * (1 + 0.08 * np.cos(2 * phi + 6.3 * u4)))
    gap = 1.8 + 1.5 * u5
    # round the polygon's corners: the profile is at most a (slightly wobbly) circle
    e = np.minimum(e, tub_um * (0.56 + 0.12 * u7) - d1 + gap)
    tube = inside(gap - e, px) * free
    epi = tube * (1 - inside(np.maximum(d1 - lum, gap + 5.0 - e), px))  # cells ≥ 5 µm tall
    grain = 0.8 + 0.4 * texture(w, ctx.seed ^ 0x9A, 1.0)
    tint = 0.88 + 0.24 * u6
    put(canvas, layer, cyto, epi * np.where(prox, 1.25, 0.7) * tint * grain)
    put(canvas, layer, None, epi * prox, "proximal-tubule")
    put(canvas, layer, None, epi * ~prox, "distal-tubule")
    put(canvas, layer, bm, line(e - gap, 1.0, px) * free)
    fuzz = 0.6 + 0.8 * texture(w, ctx.seed ^ 0xB8, 0.6)
    brush = np.where(prox, line(d1 - lum - 1.4, 2.8, px), 0.0) * epi
    put(canvas, layer, ctx.cls("brush_border"), brush * fuzz)
    # nuclei: one per cell around the profile; proximal cells are wide and few are cut
    # through their nucleus, distal ones narrow with a nucleus in most
    ncell = np.where(prox, 6.0, 9.0)
    a = (phi / 6.2832 + 0.5) * ncell
    k = np.floor(a)
    outer_r = d1 + e - gap
    rn = np.where(prox, 0.55, 0.5) * (outer_r - lum) + lum
    t_off = (a - k - 0.5) * 6.2832 / ncell * d1
    r_off = d1 - rn
    tid = hash01(np.round(tb.sx * 8), np.round(tb.sy * 8))
    by_cell = hash_prefix(tid * 1e6, k)
    has = hash01(after=by_cell) < np.where(prox, 0.5, 0.85)
    nr = 2.6 + 0.6 * hash01(2, after=by_cell)
    nd = hypot(t_off / 1.05, r_off / 0.95)
    ncov = np.where(has, inside(nd - nr, px), 0.0) * epi
    chrom = 0.75 + 0.5 * (texture(w, ctx.seed ^ 0xC1, 0.7) - 0.5) * 2
    put(canvas, layer, nuc, limited(ncov * chrom * 1.1, 0.065, 2.6, px) * epi, "tubule-nucleus")
    lateral = inside(np.abs(a - k - 0.5) * 6.2832 / ncell * d1 - 0.5 * ncell / 9.0, px)
    lateral = np.where(prox, 0.0, 1 - lateral) * epi
    put(canvas, layer, ctx.cls("membrane"), limited(lateral, 0.04, 1.0, px) * epi * 0.6)
    # --- points: glomerular nuclei, capsule nuclei, peritubular red cells
    if px > 2.5:  # cells below the pixel size: their area means
        put(canvas, layer, nuc, tuft * 0.3, "glomerulus-nucleus")
        interstitium = np.clip(free - tube, 0, 1)
        rbc, hb = red_cells(canvas, ctx)
        put(canvas, layer, rbc, interstitium * (0.25 * hb))
        put(canvas, layer, nuc, interstitium * 0.06)
    else:
        _points(canvas, ctx, layer, z, dens, dmin, dmax, tub_um, ox, oy)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _points(canvas: Canvas, ctx: Ctx, layer: int, z: float, dens: float, dmin: float,
            dmax: float, tub_um: float, ox: float, oy: float) -> None:
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
    # peritubular capillaries: red cells and endothelial nuclei in the interstitium
    x, y, u = ctx.points(9.0, 6.0, 8)
    cp = corpuscles(x + ox, y + oy, ctx.seed, dens, dmin, dmax)
    wx, wy = warp(x + ox, y + oy, ctx.seed ^ 0x70B, 60.0, 7.0)
    tb = cells_at(wx, wy, ctx.seed ^ 0x7B, tub_um, 0.85, 8)
    gap = 1.8 + 1.5 * tb.u[..., 5]
    e = np.minimum(tb.wall, tub_um * (0.56 + 0.12 * tb.u[..., 7]) - tb.d1 + gap)
    inter = (e < gap) & (cp.d > cp.radius + CAPSULE_UM + 6.0)
    red = inter & (u[:, 2] < 0.22)
    if rbc and red.any():
        draw(canvas, rbc, x[red], y[red], 3.6, 3.0, 6.3 * u[red, 3], z_um=z,
             profile="biconcave", amount=hb)
    endo = inter & (u[:, 2] > 0.85)
    nuclei(canvas, layer, nuc, x[endo], y[endo], 3.6, 1.3, 6.3 * u[endo, 3], u[endo], 1.0)

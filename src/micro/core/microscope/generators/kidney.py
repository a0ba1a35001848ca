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
    inside,
    layer_of,
    limited,
    line,
    nuclei,
    put,
    section,
    warp,
)
from micro.core.microscope.raster import Canvas, draw, value_noise
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
    u: np.ndarray


def spacing_um(density_per_mm2: float) -> float:
    return float(1000.0 / max(density_per_mm2, 1e-9) ** 0.5)


def corpuscles(x: np.ndarray, y: np.ndarray, seed: int, density_per_mm2: float,
               d_min: float, d_max: float) -> Corpuscles:
    """Corpuscles of diameter d_min–d_max on a lattice of the given density, jittered only
    as much as keeps neighbours apart: two capsules never touch."""
    S = spacing_um(density_per_mm2)
    outer = d_max / 2 + CAPSULE_UM + 8.0
    jitter = float(np.clip(1.0 - 2 * outer / S, 0.0, 0.8))
    c: Cells = cells_at(x, y, seed, S, jitter, 9)
    u = c.u.astype(F32)
    present = u[..., 2] < 0.85
    R = np.where(present, (d_min + (d_max - d_min) * u[..., 3]) / 2, 0.0).astype(F32)
    dx, dy = (x - c.sx).astype(F32), (y - c.sy).astype(F32)
    pole = 6.283 * u[..., 4]
    rt = R * (0.8 + 0.08 * u[..., 5])
    tx = dx - (R - rt) * 0.85 * np.cos(pole)
    ty = dy - (R - rt) * 0.85 * np.sin(pole)
    phi = np.arctan2(ty, tx)
    lob = (1 + 0.07 * np.cos(4 * phi + 6.3 * u[..., 6]) + 0.03 * np.cos(6 * phi + 6.3 * u[..., 7])
           + 0.05 * np.cos(3 * phi + 6.3 * u[..., 8]))
    tuft = np.where(present, np.hypot(tx, ty) / np.maximum(rt * lob, 1e-3), 9.0)
    return Corpuscles(c.sx, c.sy, c.d1.astype(F32), R, tuft.astype(F32), u)


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
    k = np.argmin(np.where(ok, np.hypot(cp.cx, cp.cy), np.inf))
    return float(cp.cx.ravel()[k]), float(cp.cy.ravel()[k])


@generator("kidney")
def kidney(canvas: Canvas, ctx: Ctx) -> None:
    """Renal cortex (density_per_mm2 and size_um of the corpuscles). Params: tubule_um
    (tubule diameter), proximal (fraction of tubule profiles that are proximal). Parts:
    cytoplasm, nucleus, brush_border, basement, rbc. Labels: glomerulus, bowman-space,
    bowman-capsule, proximal-tubule, distal-tubule, glomerulus-nucleus, tubule-nucleus."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    dens = ctx.pop.density_per_mm2
    dmin, dmax = ctx.pop.size_um
    ox, oy = anchor(ctx.seed, dens, dmin, dmax)
    X, Y = grid(w)
    X, Y = X + ox, Y + oy
    cp = corpuscles(X, Y, ctx.seed, dens, dmin, dmax)
    cyto, nuc, bm = ctx.cls("cytoplasm"), ctx.cls("nucleus"), ctx.cls("basement")
    # --- corpuscles
    body = inside(cp.d - cp.radius - CAPSULE_UM, px) * (cp.radius > 0)
    capsule = body - inside(cp.d - cp.radius, px)
    tuft = inside((cp.tuft - 1) * 30.0, px) * body
    space = np.clip(body - capsule - tuft, 0, 1)
    put(canvas, layer, None, tuft, "glomerulus")
    put(canvas, layer, None, space, "bowman-space")
    put(canvas, layer, cyto, capsule * 0.6, "bowman-capsule")
    put(canvas, layer, bm, capsule * 0.7)
    sel = tuft.ravel() > 0
    if sel.any():
        xs, ys = X.ravel()[sel], Y.ravel()[sel]
        cap = cells_at(xs, ys, ctx.seed ^ 0xCA9, 11.0, 0.9, 4)
        lumen_r = 1.8 + 1.8 * cap.u[:, 2]
        open_ = inside(cap.d1 - lumen_r, px)
        loop_wall = np.clip(inside(cap.d1 - lumen_r - 2.2, px) - open_, 0, 1)
        t = tuft.ravel()[sel]
        full = np.zeros(canvas.npix, F32)

        def spread(v: np.ndarray) -> np.ndarray:
            out = full.copy()
            out[sel] = v * t
            return out

        put(canvas, layer, cyto, spread(limited(1 - open_, 0.75, 8.0, px) * 0.75))
        put(canvas, layer, bm, spread(limited(loop_wall, 0.3, 2.2, px) * 1.2))
        red = open_ * (cap.u[:, 3] < 0.45) * (1 - np.clip(cap.d1 / lumen_r, 0, 1) ** 2) ** 0.3
        put(canvas, layer, ctx.cls("rbc"), spread(limited(red, 0.15, 6.0, px) * 0.8))
    # --- tubules, everywhere outside the corpuscles
    WX, WY = warp(X, Y, ctx.seed ^ 0x70B, 60.0, 7.0)
    prm = ctx.params(KidneyParams)
    tub_um = prm.tubule_um
    tb = cells_at(WX, WY, ctx.seed ^ 0x7B, tub_um, 0.85, 8)
    e = tb.wall.astype(F32)
    d1 = tb.d1.astype(F32)
    u = tb.u.astype(F32)
    prox = u[..., 2] < prm.proximal
    free = 1 - inside(cp.d - cp.radius - CAPSULE_UM - 5.0, px) * (cp.radius > 0)
    phi = np.arctan2((WY - tb.sy).astype(F32), (WX - tb.sx).astype(F32))
    lum = np.where(prox, tub_um * (0.07 + 0.07 * u[..., 3]) * (
        1 + 0.3 * np.cos(3 * phi + 6.3 * u[..., 4]) + 0.2 * np.cos(5 * phi + 6.3 * u[..., 7])),
        tub_um * (0.2 + 0.1 * u[..., 3]) * (1 + 0.08 * np.cos(2 * phi + 6.3 * u[..., 4])))
    gap = 1.8 + 1.5 * u[..., 5]
    # round the polygon's corners: the profile is at most a (slightly wobbly) circle
    e = np.minimum(e, tub_um * (0.56 + 0.12 * u[..., 7]) - d1 + gap)
    tube = inside(gap - e, px) * free
    epi = tube * (1 - inside(d1 - lum, px))
    grain = 0.8 + 0.4 * value_noise(w, ctx.seed ^ 0x9A, 1.0)
    tint = 0.88 + 0.24 * u[..., 6]
    put(canvas, layer, cyto, epi * np.where(prox, 1.25, 0.7) * tint * grain)
    put(canvas, layer, None, epi * prox, "proximal-tubule")
    put(canvas, layer, None, epi * ~prox, "distal-tubule")
    put(canvas, layer, bm, line(e - gap, 1.0, px) * free)
    fuzz = 0.6 + 0.8 * value_noise(w, ctx.seed ^ 0xB8, 0.6)
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
    has = hash01(tid * 1e6, k) < np.where(prox, 0.5, 0.85)
    nr = 2.6 + 0.6 * hash01(tid * 1e6, k, 2)
    nd = np.hypot(t_off / 1.05, r_off / 0.95)
    ncov = np.where(has, inside(nd - nr, px), 0.0) * epi
    chrom = 0.75 + 0.5 * (value_noise(w, ctx.seed ^ 0xC1, 0.7) - 0.5) * 2
    put(canvas, layer, nuc, limited(ncov * chrom * 1.1, 0.065, 2.6, px) * epi, "tubule-nucleus")
    lateral = inside(np.abs(a - k - 0.5) * 6.2832 / ncell * d1 - 0.5 * ncell / 9.0, px)
    lateral = np.where(prox, 0.0, 1 - lateral) * epi
    put(canvas, layer, ctx.cls("membrane"), limited(lateral, 0.04, 1.0, px) * epi * 0.6)
    # --- points: glomerular nuclei, capsule nuclei, peritubular red cells
    if px > 2.5:  # cells below the pixel size: their area means
        put(canvas, layer, nuc, tuft * 0.3, "glomerulus-nucleus")
        interstitium = np.clip(free - tube, 0, 1)
        put(canvas, layer, ctx.cls("rbc"), interstitium * 0.25)
        put(canvas, layer, nuc, interstitium * 0.06)
    else:
        _points(canvas, ctx, layer, z, dens, dmin, dmax, tub_um, ox, oy)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _points(canvas: Canvas, ctx: Ctx, layer: int, z: float, dens: float, dmin: float,
            dmax: float, tub_um: float, ox: float, oy: float) -> None:
    """Nuclei of the tuft and the capsule, red cells and endothelium of peritubular
    capillaries: points checked against the architecture (slide frame shifted by ox, oy)."""
    nuc, rbc = ctx.cls("nucleus"), ctx.cls("rbc")
    x, y, u = ctx.points(5.0, 6.0, 8)
    cp = corpuscles(x + ox, y + oy, ctx.seed, dens, dmin, dmax)
    cap = cells_at(x + ox, y + oy, ctx.seed ^ 0xCA9, 11.0, 0.9, 4)
    inner = (cp.tuft < 0.95) & (cap.d1 > 1.8 + 1.8 * cap.u[..., 2] + 1.5) & (u[:, 2] < 0.6)
    nuclei(canvas, layer, nuc, x[inner], y[inner], 2.6, 2.1, 6.3 * u[inner, 3], u[inner],
           1.1, label="glomerulus-nucleus")
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
             profile="biconcave", amount=0.85)
    endo = inter & (u[:, 2] > 0.85)
    nuclei(canvas, layer, nuc, x[endo], y[endo], 3.6, 1.3, 6.3 * u[endo, 3], u[endo], 1.0)

"""Surfaces for SEM, AFM and the stereo microscope: the compound eye of a fly (hexagonal
corneal facets on a bulging eye, bristles between them) and DNA molecules spread on mica
(worm-like chains with a 50 nm persistence length)."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import MAX_CELLS, uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator

SQ3 = np.sqrt(3.0)


def hex_points(ctx: Ctx, pitch: float, margin: float, slots: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of a hexagonal lattice (facets, honeycombs) that can touch the window, with
    per-site uniforms hashed from the lattice indices."""
    w = ctx.window
    dy = pitch * SQ3 / 2
    j0 = int(np.floor((w.y0_um - margin) / dy))
    j1 = int(np.ceil((w.y0_um + w.height_um + margin) / dy))
    i0 = int(np.floor((w.x0_um - margin) / pitch)) - 1
    i1 = int(np.ceil((w.x0_um + w.width_um + margin) / pitch))
    n = (j1 - j0 + 1) * (i1 - i0 + 1)
    k = max(1, int(np.ceil(np.sqrt(n / MAX_CELLS))))  # see lattice.MAX_CELLS
    if ctx.canvas is not None:  # rows step 2k (to keep the hexagonal parity), columns k
        ctx.canvas.weight = float(2 * k * k) if k > 1 else 1.0
    gi, gj = np.meshgrid(np.arange(-(-i0 // k) * k, i1 + 1, k),
                         np.arange(-(-j0 // (2 * k)) * 2 * k, j1 + 1, 2 * k if k > 1 else 1),
                         indexing="xy")
    ii, jj = gi.ravel(), gj.ravel()
    x = (ii + 0.5 * (jj & 1)) * pitch
    y = jj * dy
    return x, y, uniforms(ctx.seed, ii, jj, slots)


@generator("compound-eye")
def compound_eye(canvas: Canvas, ctx: Ctx) -> None:
    """A fly's head seen from the side: the compound eye (size_um = eye width, height)
    bulges from the head capsule and is tiled by hexagonal corneal lenses (facet_um), with
    short interommatidial bristles; the rest of the head carries long bristles (setae).
    Parts: head (bulk cuticle: the relief), facet (corneal lens), bristle."""
    ew, eh = ctx.pop.size_um
    pitch = float(ctx.p("facet_um", 22.0))
    head, facet, bristle = ctx.cls("head"), ctx.cls("facet"), ctx.cls("bristle")
    z = float(np.mean(ctx.pop.z_um))
    lab = ctx.pop.label
    if head:
        draw(canvas, head, np.array([0.0]), np.array([0.0]), np.array([ew / 2]),
             np.array([eh / 2]), z_um=z, profile="dome", amount=1.0, label=lab)
        draw(canvas, head, np.array([ew * 0.55]), np.array([eh * 0.1]), np.array([ew * 0.6]),
             np.array([eh * 0.7]), z_um=z, profile="dome", amount=0.6)
    x, y, u = hex_points(ctx, pitch, pitch, 6)
    rho = (x / (ew / 2)) ** 2 + (y / (eh / 2)) ** 2
    on_eye = rho < 0.97
    # facets shrink and squash towards the rim of the eye, as they are seen obliquely
    sq = np.sqrt(np.clip(1 - rho[on_eye], 0.05, 1))
    ang = np.arctan2(y[on_eye], x[on_eye])
    r = pitch * 0.5 * (0.95 + 0.05 * u[on_eye, 2])
    if facet:
        draw(canvas, facet, x[on_eye], y[on_eye], r * sq ** 0.5, r, ang, z_um=z,
             profile="dome", amount=1.0, label=lab + "-facet")
    if bristle:
        b = on_eye & (u[:, 3] < 0.25)
        bx = x[b] + pitch * 0.5
        by = y[b] + pitch * SQ3 / 6
        ba = np.pi * 0.3 + 0.5 * u[b, 4]
        ln = pitch * 0.6
        draw(canvas, bristle, bx + np.cos(ba) * ln / 2, by + np.sin(ba) * ln / 2, 0.5, 0.5,
             ba, z_um=z, half_len_um=ln / 2, profile="dome", amount=1.0)
        xs, ys, us = ctx.points(120.0, 400.0, 6)
        off = ((xs / (ew / 2)) ** 2 + (ys / (eh / 2)) ** 2 > 1.1) & (us[:, 2] < 0.6)
        L = 150 + 200 * us[off, 3]
        a = -np.pi / 2 + (us[off, 4] - 0.5) * 1.5
        draw(canvas, bristle, xs[off] + np.cos(a) * L / 2, ys[off] + np.sin(a) * L / 2,
             3.0, 3.0, a, z_um=z, half_len_um=L / 2, profile="dome", amount=1.0,
             label=lab + "-seta")


def _dna_cost(ctx: Ctx) -> float:
    """One dot per molecule when a molecule fits in a pixel, else DNA_SEGMENTS capsules."""
    return 1.0 if ctx.window.px_um > 2 * float(ctx.p("contour_um", 0.91)) else DNA_SEGMENTS


DNA_SEGMENTS = 64


@generator("dna", cost=_dna_cost)
def dna(canvas: Canvas, ctx: Ctx) -> None:
    """DNA adsorbed on freshly cleaved mica (AFM). Params: contour_um (contour length,
    0.34 nm per base pair), circular (plasmids) or linear, persistence_nm (bending
    stiffness: tangent angle diffuses with variance = segment/persistence). Part: strand."""
    cls = ctx.cls("strand")
    assert cls is not None
    L = float(ctx.p("contour_um", 0.91))
    circular = bool(ctx.p("circular", True))
    lp = float(ctx.p("persistence_nm", 50.0)) / 1000.0
    z = float(np.mean(ctx.pop.z_um))
    if ctx.window.px_um > 2 * L:
        # a whole molecule inside one pixel: draw it as a dot of the same area (2 nm × L)
        x, y, u = ctx.points(ctx.spacing(), L, 4)
        keep = u[:, 2] < float(ctx.p("presence", 1.0))
        r_eq = float(np.sqrt(L * 0.002 / np.pi))
        draw(canvas, cls, x[keep], y[keep], r_eq, r_eq, z_um=z, profile="flat", amount=1.0,
             label=ctx.pop.label)
        return
    m = DNA_SEGMENTS
    seg = L / m
    x, y, u = ctx.points(ctx.spacing(), L, 8 + m)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    # Gaussian steps from the hashed uniforms (Box–Muller)
    g = np.sqrt(-2 * np.log(np.clip(u[:, 8:8 + m], 1e-12, 1))) * np.cos(
        2 * np.pi * u[:, np.r_[9:8 + m, 8]])
    dth = g * np.sqrt(seg / lp)
    if circular:
        dth = dth - dth.mean(axis=1, keepdims=True) + 2 * np.pi / m
    th = 2 * np.pi * u[:, 3][:, None] + np.cumsum(dth, axis=1)
    sx, sy = np.cos(th) * seg, np.sin(th) * seg
    if circular:  # close the loop: spread the end-to-end gap over the segments
        sx = sx - sx.mean(axis=1, keepdims=True)
        sy = sy - sy.mean(axis=1, keepdims=True)
    px = np.cumsum(sx, axis=1)
    py = np.cumsum(sy, axis=1)
    px = px - px.mean(axis=1, keepdims=True) + x[:, None]
    py = py - py.mean(axis=1, keepdims=True) + y[:, None]
    ang = np.arctan2(sy, sx)
    mx, my = px - sx / 2, py - sy / 2
    draw(canvas, cls, mx.ravel(), my.ravel(), 0.001, 0.001, ang.ravel(), z_um=z,
         half_len_um=np.hypot(sx, sy).ravel() / 2, profile="flat", amount=1.0,
         label=ctx.pop.label)

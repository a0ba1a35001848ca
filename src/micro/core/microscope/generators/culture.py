"""Cells grown on a coverslip, for fluorescence: spread fibroblast-like cells with actin
stress fibres at the glass, a tubular mitochondrial network above them and the nucleus
higher still; and cultured neurons filled with a fluorescent protein, with branching
dendrites and a long axon."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.blood import anchored
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


@generator("cultured-cells")
def cultured(canvas: Canvas, ctx: Ctx) -> None:
    """Params: fibres, mitochondria (per cell), actin_z_um (stress fibres sit on the
    ventral membrane, ~0.1 µm above the glass, inside the TIRF field), mito_z_um,
    nucleus_z_um. Parts: body, actin, mitochondrion, nucleus, nucleolus."""
    nf, nm = int(ctx.p("fibres", 14)), int(ctx.p("mitochondria", 70))
    slots = 12 + 2 * nf + 3 * nm
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1], slots)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = anchored(ctx, x[keep], y[keep], u[keep])
    if x.size == 0:
        return
    n = x.size
    D = ctx.size(u[:, 3])
    asp = 1.3 + 0.9 * u[:, 4]
    a, b = D / 2 * np.sqrt(asp), D / 2 / np.sqrt(asp)
    th = np.pi * u[:, 5]
    c, s = np.cos(th), np.sin(th)
    za = float(ctx.p("actin_z_um", 0.1))
    zm = float(ctx.p("mito_z_um", 1.2))
    zn = float(ctx.p("nucleus_z_um", 3.0))
    lab = ctx.pop.label
    body, actin, mito = ctx.cls("body"), ctx.cls("actin"), ctx.cls("mitochondrion")
    nuc, nucl = ctx.cls("nucleus"), ctx.cls("nucleolus")
    if body:
        draw(canvas, body, x, y, a, b, th, z_um=zm, profile="lens", amount=0.6, label=lab)
    if actin:
        # cortical actin at the cell edge, stress fibres spanning the cell along its axis
        draw(canvas, actin, x, y, a, b, th, z_um=za, profile="rim", amount=0.35)
        f = u[:, 12:12 + 2 * nf].reshape(n, nf, 2)
        off = (f[..., 0] - 0.5) * 1.7 * b[:, None]
        tilt = (f[..., 1] - 0.5) * 0.35
        half = a[:, None] * np.sqrt(np.clip(1 - (off / b[:, None]) ** 2, 0, 1)) * 0.85
        fx = x[:, None] - off * s[:, None]
        fy = y[:, None] + off * c[:, None]
        draw(canvas, actin, fx.ravel(), fy.ravel(), 0.15, 0.15,
             (th[:, None] + tilt).ravel(), z_um=za, half_len_um=half.ravel(),
             profile="flat", amount=1.0, label=lab + "-actin")
    nx = x + 0.15 * a * c
    ny = y + 0.15 * a * s
    if mito:
        g = u[:, 12 + 2 * nf:12 + 2 * nf + 3 * nm].reshape(n, nm, 3)
        rr = 0.2 + 0.75 * np.sqrt(g[..., 0])  # denser around the nucleus
        ph = 2 * np.pi * g[..., 1]
        lx, ly = rr * np.cos(ph) * a[:, None] * 0.85, rr * np.sin(ph) * b[:, None] * 0.85
        mx = nx[:, None] + lx * c[:, None] - ly * s[:, None]
        my = ny[:, None] + lx * s[:, None] + ly * c[:, None]
        ang = ph + np.pi / 2 + (g[..., 2] - 0.5) * 1.5
        draw(canvas, mito, mx.ravel(), my.ravel(), 0.2, 0.2, ang.ravel(), z_um=zm,
             half_len_um=(0.5 + 1.5 * g[..., 2]).ravel(), profile="dome", amount=1.0,
             label=lab + "-mitochondria")
    if nuc:
        rn = np.minimum(b * 0.55, 9.0)
        draw(canvas, nuc, nx, ny, rn * 1.2, rn, th, z_um=zn, profile="dome", amount=1.0,
             label=lab + "-nucleus")
        if nucl:
            draw(canvas, nucl, nx + 0.3 * rn * c, ny + 0.3 * rn * s, 1.2, 1.0, z_um=zn,
                 profile="dome", amount=1.0)


@generator("neurons")
def neurons(canvas: Canvas, ctx: Ctx) -> None:
    """Cultured neurons expressing a cytoplasmic fluorescent protein (size_um = soma
    diameter): 4–7 primary dendrites that taper and branch once, one long thin axon, and
    an expression level that differs from cell to cell. Params: dendrite_um (length),
    axon_um. Parts: soma, neurite, nucleus."""
    k, m, ma = 7, 10, 40
    slots = 12 + 3 * k + 2 * k * m + ma
    Ld = float(ctx.p("dendrite_um", 120.0))
    La = float(ctx.p("axon_um", 600.0))
    x, y, u = ctx.points(ctx.spacing(), La, slots)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = anchored(ctx, x[keep], y[keep], u[keep])
    if x.size == 0:
        return
    n = x.size
    D = ctx.size(u[:, 3])
    z = ctx.z(u[:, 4])
    level = 0.25 + 0.75 * u[:, 5] ** 0.5
    soma, neurite, nuc = ctx.cls("soma"), ctx.cls("neurite"), ctx.cls("nucleus")
    lab = ctx.pop.label
    if soma:
        draw(canvas, soma, x, y, D / 2, D / 2 * 0.85, np.pi * u[:, 6], z_um=z,
             profile="dome", amount=level, label=lab)
    if nuc:
        draw(canvas, nuc, x, y, D * 0.3, D * 0.27, z_um=z, profile="dome", amount=0.3 * level)
    if not neurite:
        return
    prim = u[:, 12:12 + 3 * k].reshape(n, k, 3)
    count = 4 + np.floor(u[:, 7] * 3.99).astype(int)
    present = np.arange(k)[None, :] < count[:, None]
    a0 = 2 * np.pi * (np.arange(k)[None, :] + 0.5 * prim[..., 0]) / k + 2 * np.pi * u[:, 8:9]
    steps = u[:, 12 + 3 * k:12 + 3 * k + 2 * k * m].reshape(n, k, m, 2)
    seg = Ld * (0.6 + 0.6 * prim[..., 1])[..., None] / m
    ang = a0[..., None] + np.cumsum((steps[..., 0] - 0.5) * 0.5, axis=-1)
    dx, dy = np.cos(ang) * seg, np.sin(ang) * seg
    px = x[:, None, None] + D[:, None, None] * 0.45 * np.cos(a0)[..., None] + np.cumsum(
        dx, -1) - dx / 2
    py = y[:, None, None] + D[:, None, None] * 0.45 * np.sin(a0)[..., None] + np.cumsum(
        dy, -1) - dy / 2
    taper = np.linspace(1.2, 0.35, m)[None, None, :] * np.ones((n, k, 1))
    sel = np.broadcast_to(present[..., None], px.shape)
    zz = np.broadcast_to(z[:, None, None], px.shape)
    amt = np.broadcast_to(level[:, None, None], px.shape)
    draw(canvas, neurite, px[sel], py[sel], taper[sel], taper[sel], ang[sel], z_um=zz[sel],
         half_len_um=np.broadcast_to(seg, px.shape)[sel] / 2, profile="flat",
         amount=amt[sel], label=lab + "-neurite")
    # one branch from the middle of each dendrite, at ±40°
    mid = m // 2
    bang = ang[..., mid:] + np.where(steps[..., mid:mid + 1, 1] > 0.5, 0.7, -0.7)
    bx = px[..., mid:mid + 1] + np.cumsum(np.cos(bang) * seg, -1)
    by = py[..., mid:mid + 1] + np.cumsum(np.sin(bang) * seg, -1)
    bsel = np.broadcast_to(present[..., None], bx.shape)
    bt = taper[..., mid:] * 0.7
    draw(canvas, neurite, bx[bsel], by[bsel], bt[bsel], bt[bsel], bang[bsel],
         z_um=np.broadcast_to(z[:, None, None], bx.shape)[bsel],
         half_len_um=np.broadcast_to(seg, bx.shape)[bsel] / 2, profile="flat",
         amount=np.broadcast_to(level[:, None, None], bx.shape)[bsel])
    # the axon: thin, uniform, long, gently curving
    aa = 2 * np.pi * u[:, 9:10] + np.cumsum((u[:, 12 + 3 * k + 2 * k * m:] - 0.5) * 0.25, 1)
    sa = La / ma
    ax = x[:, None] + np.cumsum(np.cos(aa) * sa, 1) - np.cos(aa) * sa / 2
    ay = y[:, None] + np.cumsum(np.sin(aa) * sa, 1) - np.sin(aa) * sa / 2
    draw(canvas, neurite, ax.ravel(), ay.ravel(), 0.4, 0.4, aa.ravel(),
         z_um=np.repeat(z, ma), half_len_um=sa / 2, profile="flat",
         amount=np.repeat(level, ma), label=lab + "-axon")

"""Bacteria: rods and cocci, single, in pairs, chains, grape-like clusters or palisades,
optionally with endospores."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

GOLDEN = np.pi * (3 - np.sqrt(5))


@generator("bacteria")
def bacteria(canvas: Canvas, ctx: Ctx) -> None:
    """size_um: cell length range (rods) or diameter range (cocci). Params: shape rod|coccus,
    arrangement single|pairs|chains|clusters|palisade, members (max per group), width_um
    (rods), bend (radians per cell along chains), spore_frac, spore_pos central|terminal."""
    shape = str(ctx.p("shape", "rod"))
    arr = str(ctx.p("arrangement", "single"))
    m = {"single": 1, "pairs": 2}.get(arr, int(ctx.p("members", 8)))
    slots = 7 + 3 * m
    L_max = ctx.pop.size_um[1]
    margin = L_max * (m + 1)
    x, y, u = ctx.points(ctx.spacing(), margin, slots)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    n = x.size
    count = np.ones(n, dtype=int) * m
    if arr in ("chains", "clusters", "palisade"):
        count = 2 + np.floor(u[:, 3] * (m - 1)).astype(int)
    theta0 = 2 * np.pi * u[:, 4]
    z = ctx.z(u[:, 5])
    mem = u[:, 7:7 + 3 * m].reshape(n, m, 3)
    length = ctx.size(mem[..., 0])  # (n, m)
    width = float(ctx.p("width_um", 0.8)) if shape == "rod" else length
    width = np.broadcast_to(width, length.shape)
    k = np.arange(m)[None, :]
    step = (length + 0.15) if shape == "rod" else (width * 0.95)
    if arr == "clusters":
        rad = 0.55 * width * np.sqrt(k + 0.5)
        ang = k * GOLDEN + theta0[:, None]
        px = x[:, None] + rad * np.cos(ang) + (mem[..., 1] - 0.5) * width * 0.3
        py = y[:, None] + rad * np.sin(ang) + (mem[..., 2] - 0.5) * width * 0.3
        th = 2 * np.pi * mem[..., 1]
    elif arr == "palisade":
        px = x[:, None] + (k * (width * 1.15)) * np.cos(theta0[:, None] + np.pi / 2)
        py = y[:, None] + (k * (width * 1.15)) * np.sin(theta0[:, None] + np.pi / 2)
        th = theta0[:, None] + (mem[..., 1] - 0.5) * 0.3 + 0 * k
    else:
        bend = float(ctx.p("bend", 0.25)) if arr == "chains" else 0.0
        dth = (mem[..., 1] - 0.5) * 2 * bend
        dth[:, 0] = 0.0
        th = theta0[:, None] + np.cumsum(dth, axis=1)
        seg = step * np.ones_like(th)
        seg[:, 0] = 0.0
        px = x[:, None] + np.cumsum(seg * np.cos(th), axis=1)
        py = y[:, None] + np.cumsum(seg * np.sin(th), axis=1)
        if arr == "pairs" and shape == "coccus":
            th = th + 0.0
    present = k < count[:, None]
    px, py, th = px[present], py[present], th[present]
    L, W = length[present], width[present]
    zz = np.broadcast_to(z[:, None], length.shape)[present]
    body = ctx.cls("body")
    assert body is not None
    if shape == "rod":
        half = np.maximum(L - W, 0.0) / 2
        draw(canvas, body, px, py, W / 2, W / 2, th, z_um=zz, profile="dome", half_len_um=half,
             amount=float(ctx.p("body_amount", 1.0)), label=ctx.pop.label)
    else:
        draw(canvas, body, px, py, W / 2, W / 2, th, z_um=zz, profile="dome",
             amount=float(ctx.p("body_amount", 1.0)), label=ctx.pop.label)
    spore = ctx.cls("spore")
    frac = float(ctx.p("spore_frac", 0.0))
    if spore and frac > 0 and shape == "rod":
        sp_u = mem[..., 2][present]
        has = sp_u < frac
        pos = str(ctx.p("spore_pos", "central"))
        shift = (np.maximum(L - W, 0.0) / 2)[has] * (0.0 if pos == "central" else 1.0)
        sx = px[has] + shift * np.cos(th[has])
        sy = py[has] + shift * np.sin(th[has])
        draw(canvas, spore, sx, sy, W[has] * 0.55, W[has] * 0.42, th[has], z_um=zz[has],
             profile="dome", amount=1.2, label=ctx.pop.label + "-spore")

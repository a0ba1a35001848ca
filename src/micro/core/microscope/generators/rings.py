"""Concentric structures: starch grains with growth rings around an eccentric hilum, and
pollen grains with their sculptured exine (osteons live in `bone`)."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import PollenParams, StarchParams
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


@generator("starch")
def starch(canvas: Canvas, ctx: Ctx) -> None:
    """Potato starch grains: ovoid, layered in growth rings around an eccentric hilum;
    radially oriented amylopectin (slow axis radial) gives a Maltese cross between crossed
    polars. Small grains are rounder. Part: grain."""
    prm = ctx.params(StarchParams)
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1], 10)
    keep = u[:, 2] < prm.presence
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    L = ctx.size(u[:, 3] ** 2)  # many small grains, fewer big ones
    aspect = 1.0 + 0.5 * u[:, 4] * (L / ctx.pop.size_um[1])
    a, b = L / 2, L / 2 / aspect
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    grain = ctx.cls("grain")
    assert grain is not None
    lab = ctx.pop.label
    draw(canvas, grain, x, y, a, b, th, z_um=z, profile="dome", amount=0.55, label=lab)
    rings = prm.rings
    for k in range(1, rings + 1):  # nested shells shrinking towards the hilum
        f = 1.0 - k / (rings + 1)
        shift = (1.0 - f) * a * 0.55
        draw(canvas, grain, x - shift * np.cos(th), y - shift * np.sin(th), a * f, b * f, th,
             z_um=z, profile="flat", amount=0.12)


@generator("pollen")
def pollen(canvas: Canvas, ctx: Ctx) -> None:
    """Pollen grains. Params: kind echinate (spiny, e.g. sunflower) | tricolpate (three
    furrows) | saccate (pine: body with two air bladders), spines. Parts: grain (interior,
    gives the SEM relief), exine (sporopollenin wall)."""
    prm = ctx.params(PollenParams)
    kind, ns = prm.kind, prm.spines
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1] * 1.6, 10)
    keep = u[:, 2] < prm.presence
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    D = ctx.size(u[:, 3])
    R = D / 2
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    grain, exine = ctx.cls("grain"), ctx.cls("exine")
    lab = ctx.pop.label
    if kind == "saccate":
        for side in (-1.0, 1.0):
            bx, by = x + side * R * 0.75 * np.cos(th), y + side * R * 0.75 * np.sin(th)
            if exine:
                draw(canvas, exine, bx, by, R * 0.62, R * 0.72, th, z_um=z, profile="rim",
                     amount=0.5, label=lab)
            if grain:
                draw(canvas, grain, bx, by, R * 0.62, R * 0.72, th, z_um=z, profile="dome",
                     amount=0.35)
    if grain:
        draw(canvas, grain, x, y, R, R * (0.92 if kind != "saccate" else 0.8), th, z_um=z,
             profile="dome", amount=1.0, label=lab)
    if exine:
        draw(canvas, exine, x, y, R, R * (0.92 if kind != "saccate" else 0.8), th, z_um=z,
             profile="rim", amount=0.8, label=lab)
    if exine and kind == "echinate":
        # spines on the outline and, foreshortened, on the face towards the viewer
        k = np.arange(ns)
        ang = th[:, None] + 2 * np.pi * k[None, :] / ns
        sl = (R * 0.16)[:, None]
        sx = x[:, None] + (R[:, None] + sl * 0.5) * np.cos(ang)
        sy = y[:, None] + (R[:, None] + sl * 0.5) * np.sin(ang)
        draw(canvas, exine, sx.ravel(), sy.ravel(), np.repeat(R * 0.05, ns),
             np.repeat(R * 0.05, ns), ang.ravel(), z_um=np.repeat(z, ns),
             half_len_um=np.repeat(R * 0.07, ns), profile="dome", amount=1.2)
        gold = k * np.pi * (3 - np.sqrt(5))
        rr = np.sqrt((k + 0.5) / ns)[None, :] * R[:, None] * 0.85
        fx = x[:, None] + rr * np.cos(gold[None, :] + th[:, None])
        fy = y[:, None] + rr * np.sin(gold[None, :] + th[:, None])
        draw(canvas, exine, fx.ravel(), fy.ravel(), np.repeat(R * 0.06, ns),
             np.repeat(R * 0.06, ns), z_um=np.repeat(z, ns), profile="dome", amount=1.6)
    if exine and kind == "tricolpate":
        k = np.arange(3)
        ang = th[:, None] + 2 * np.pi * k[None, :] / 3
        cx = x[:, None] + R[:, None] * 0.55 * np.cos(ang)
        cy = y[:, None] + R[:, None] * 0.55 * np.sin(ang)
        draw(canvas, exine, cx.ravel(), cy.ravel(), np.repeat(R * 0.4, 3),
             np.repeat(R * 0.08, 3), (ang + np.pi / 2).ravel(), z_um=np.repeat(z, 3),
             profile="dome", amount=1.0)

"""Hyaline cartilage (the other organs have their own modules: liver, kidney, intestine,
lung, skin, adipose, spinalcord)."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.fibers import coverage
from micro.core.microscope.generators.histology import texture
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


@generator("cartilage")
def cartilage(canvas: Canvas, ctx: Ctx) -> None:
    """Hyaline cartilage: glassy matrix with isogenous groups of 1–4 chondrocytes
    (size_um = lacuna length) in lacunae, each group in a darker territorial matrix; the
    cells shrink from their lacunae in fixation. Parts: matrix, cytoplasm, nucleus."""
    layer, z = _layer(canvas, ctx)
    w = canvas.window
    x, y, u = ctx.points(ctx.spacing(), 30.0, 16)
    m = 4
    count = 1 + np.floor(u[:, 2] * 3.999).astype(int)
    k = np.arange(m)[None, :]
    present = k < count[:, None]
    th = np.pi * u[:, 3]
    L = ctx.size(u[:, 4:8])
    step = (k - (count[:, None] - 1) / 2) * L * 0.8
    cx = x[:, None] + step * np.cos(th)[:, None]
    cy = y[:, None] + step * np.sin(th)[:, None]
    a, b = L / 2, L / 2 * 0.8
    lac_x, lac_y = cx[present], cy[present]
    lac = coverage(canvas, lac_x, lac_y, b[present])
    territory = coverage(canvas, x, y, (L.max(axis=1) * (count + 1) * 0.45))
    matrix = ctx.cls("matrix")
    lab = ctx.pop.label
    amt = (1.0 - np.clip(lac, 0, 1)) * (0.75 + 0.5 * np.clip(territory, 0, 1))
    amt = amt * (0.9 + 0.2 * texture(w, ctx.seed ^ 9, 25.0).ravel())
    if matrix:
        canvas.add(layer, matrix, amt.astype(np.float32))
        canvas.add_label(lab, amt.astype(np.float32))
    cyt, nuc = ctx.cls("cytoplasm"), ctx.cls("nucleus")
    tt = np.broadcast_to(th[:, None], cx.shape)[present]
    if cyt:
        draw(canvas, cyt, lac_x, lac_y, a[present] * 0.7, b[present] * 0.65, tt, z_um=z,
             profile="lens", amount=0.8, label=lab + "-chondrocyte")
    if nuc:
        draw(canvas, nuc, lac_x, lac_y, 2.8, 2.5, tt, z_um=z, profile="dome", amount=0.9,
             label=lab + "-nucleus")

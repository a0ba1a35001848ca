"""Cells at electron-microscope scale (ultrathin section, ~70 nm): plasma membranes
between neighbouring cells, nuclei with a double envelope, heterochromatin and a
nucleolus, mitochondria with cristae, stacks of rough ER studded with ribosomes, Golgi
cisternae, vesicles and glycogen."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.plants import worley_at
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas, band, value_noise, worley
from micro.core.microscope.registry import Ctx, generator


@generator("tem-cells")
def tem_cells(canvas: Canvas, ctx: Ctx) -> None:
    """Params: cell_um (cell diameter), nucleus_frac, mito_spacing_um, rer_spacing_um.
    Parts: cytoplasm, membrane, nucleus, heterochromatin, nucleolus, mitochondrion,
    ribosome, glycogen."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    cell = float(ctx.p("cell_um", 12.0))
    args = (ctx.seed, cell, 1.0, 0.0, 0.8, 6)
    d1, d2, near, table, seeds = worley(w, *args)
    edge = (d2 - d1) / 2
    lab = ctx.pop.label
    mem, cyt = ctx.cls("membrane"), ctx.cls("cytoplasm")
    pm = band(edge, 0.02, w.px_um)  # two unit membranes and the 20 nm cleft between
    if mem:
        canvas.add(layer, mem, (pm * 10).ravel().astype(np.float32))
    nf = float(ctx.p("nucleus_frac", 0.32))
    rn = cell * nf * (0.85 + 0.3 * table[near, 2])
    inside_n = d1 < rn
    if cyt:
        amt = (1.0 - 0.5 * pm) * ~inside_n * (0.9 + 0.2 * value_noise(w, ctx.seed ^ 3, 0.05))
        canvas.add(layer, cyt, amt.ravel().astype(np.float32))
        canvas.add_label(lab + "-cytoplasm", amt.ravel().astype(np.float32))
    nuc, het = ctx.cls("nucleus"), ctx.cls("heterochromatin")
    if nuc:
        amt = inside_n * (0.6 + 0.8 * value_noise(w, ctx.seed ^ 4, 0.12))
        canvas.add(layer, nuc, amt.ravel().astype(np.float32))
        canvas.add_label(lab + "-nucleus", amt.ravel().astype(np.float32))
        if mem:  # nuclear envelope: two membranes 30 nm apart
            env = band(d1 - rn, 0.008, w.px_um) + band(d1 - rn - 0.035, 0.008, w.px_um)
            canvas.add(layer, mem, (env * 10).ravel().astype(np.float32))
    if het:
        clumps = band(d1 - rn + 0.12, 0.12, w.px_um) * (0.5 + value_noise(w, ctx.seed ^ 5,
                                                                           0.15))
        canvas.add(layer, het, clumps.ravel().astype(np.float32))
    nucl = ctx.cls("nucleolus")
    if nucl:
        ids = np.unique(near)
        draw(canvas, nucl, seeds[ids, 0] + 0.3 * cell * nf, seeds[ids, 1], 0.7, 0.6,
             z_um=z, profile="dome", amount=1.0, label=lab + "-nucleolus")
    # mitochondria: in the cytoplasm, away from the nucleus and the plasma membrane
    mito = ctx.cls("mitochondrion")
    ms = float(ctx.p("mito_spacing_um", 1.6))
    x, y, u = ctx.points(ms, 2.0, 12)
    e1, e2, t, _ = worley_at(x, y, *args)
    rnuc = cell * nf * (0.85 + 0.3 * t[:, 2])
    ok = (e1 > rnuc + 0.5) & ((e2 - e1) / 2 > 0.7) & (u[:, 2] < 0.55)
    if mito and ok.any():
        L = 0.5 + 1.0 * u[ok, 3]
        W = 0.22 + 0.1 * u[ok, 4]
        th = np.pi * u[ok, 5]
        draw(canvas, mito, x[ok], y[ok], W, W, th, z_um=z, half_len_um=L / 2,
             profile="flat", amount=0.4, label=lab + "-mitochondrion")
        if mem:
            draw(canvas, mem, x[ok], y[ok], W + 0.01, W + 0.01, th, z_um=z,
                 half_len_um=L / 2, profile="rim", amount=1.0)
            k = 7  # cristae: folds of the inner membrane across the matrix
            s = (np.arange(k)[None, :] - (k - 1) / 2) / k * (L[:, None] + W[:, None])
            cx = x[ok][:, None] + s * np.cos(th)[:, None]
            cy = y[ok][:, None] + s * np.sin(th)[:, None]
            draw(canvas, mem, cx.ravel(), cy.ravel(), np.repeat(0.012, cx.size),
                 np.repeat(W * 0.75, k), np.repeat(th, k), z_um=z, profile="flat",
                 amount=4.0)
    # rough endoplasmic reticulum: stacks of three cisternae with ribosomes on them
    rib = ctx.cls("ribosome")
    rs = float(ctx.p("rer_spacing_um", 2.2))
    x, y, u = ctx.points(rs, 2.0, 40)
    e1, e2, t, _ = worley_at(x, y, *args)
    rnuc = cell * nf * (0.85 + 0.3 * t[:, 2])
    ok = (e1 > rnuc + 0.4) & ((e2 - e1) / 2 > 0.6) & (u[:, 2] < 0.6)
    if mem and ok.any():
        th = np.pi * u[ok, 3]
        L = 0.8 + 0.8 * u[ok, 4]
        k = 3
        off = (np.arange(k)[None, :] - 1) * 0.11
        cx = x[ok][:, None] - off * np.sin(th)[:, None]
        cy = y[ok][:, None] + off * np.cos(th)[:, None]
        draw(canvas, mem, cx.ravel(), cy.ravel(), 0.02, 0.02, np.repeat(th, k), z_um=z,
             half_len_um=np.repeat(L / 2, k), profile="flat", amount=1.0,
             label=lab + "-rer")
        if rib:
            m = 24
            g = u[ok, 8:8 + m]
            along = (g - 0.5) * L[:, None]
            side = np.where(np.arange(m)[None, :] % 2 == 0, -1.0, 1.0) * 0.165
            rx = x[ok][:, None] + along * np.cos(th)[:, None] - side * np.sin(th)[:, None]
            ry = y[ok][:, None] + along * np.sin(th)[:, None] + side * np.cos(th)[:, None]
            draw(canvas, rib, rx.ravel(), ry.ravel(), 0.013, 0.013, z_um=z,
                 profile="dome", amount=1.0)
    gly = ctx.cls("glycogen")
    if gly:
        x, y, u = ctx.points(0.35, 1.0, 4)
        e1, e2, t, _ = worley_at(x, y, *args)
        rnuc = cell * nf * (0.85 + 0.3 * t[:, 2])
        ok = (e1 > rnuc + 0.3) & ((e2 - e1) / 2 > 0.3) & (u[:, 2] < 0.35)
        draw(canvas, gly, x[ok], y[ok], 0.015, 0.015, z_um=z, profile="dome", amount=1.0)

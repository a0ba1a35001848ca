"""Rocks and crystals: an interlocking granite thin section (each grain its own mineral,
optic-axis tilt and extinction angle, so crossed polars show Michel-Lévy colours), and
radiating crystal needles grown from a drying solution."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas, band, value_noise, worley
from micro.core.microscope.registry import Ctx, generator

PARTS = ("quartz", "feldspar", "plagioclase", "biotite", "muscovite", "opaque")


@generator("granite")
def granite(canvas: Canvas, ctx: Ctx) -> None:
    """Params: grain_um (mean grain size), fractions (one per part of PARTS, summing to 1),
    twin_um (albite-twin lamella width in plagioclase). Parts name the mineral classes;
    plagioclase may reuse the feldspar class. A grain's retardance is Δmax · sin²ψ with ψ
    the tilt of its optic axis out of the viewing direction (uniform on the sphere), and its
    slow axis a random angle: grains turn dark (extinction) every 90° of stage rotation."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    grain_um = float(ctx.p("grain_um", 400.0))
    d1, d2, near, table, _ = worley(w, ctx.seed, grain_um, 1.0, 0.0, 0.95, 8)
    # a second, finer cell field gives the size spread of real granite
    e1, e2, near2, table2, _ = worley(w, ctx.seed ^ 0x6A, grain_um * 0.45, 1.0, 0.0, 0.95, 8)
    fine = table[near, 7] < 0.45
    tab = np.where(fine[..., None], table2[near2], table[near])
    edge = np.where(fine, (e2 - e1) / 2, (d2 - d1) / 2)
    fr = np.asarray(ctx.p("fractions", [0.32, 0.28, 0.2, 0.1, 0.07, 0.03]), dtype=np.float64)
    cum = np.cumsum(fr / fr.sum())
    kind = np.searchsorted(cum, tab[..., 2])
    cos_psi = tab[..., 3]
    tilt = 1.0 - cos_psi**2  # sin² of the optic-axis tilt
    axis = np.pi * tab[..., 4]
    boundary = band(edge, 2.0, w.px_um)
    twin = float(ctx.p("twin_um", 12.0))
    X, Y = w.grids()
    lab = ctx.pop.label
    for k, part in enumerate(PARTS):
        cls = ctx.cls(part)
        if not cls:
            continue
        m = (kind == k).astype(np.float64)
        if not m.any():
            continue
        amt = m * (1.0 - 0.3 * boundary)
        if part == "biotite":
            amt = amt * (0.6 + 0.4 * np.cos(axis) ** 2)  # pleochroism: absorbs along cleavage
        canvas.add(layer, cls, amt.ravel().astype(np.float32))
        canvas.add_label(f"{lab}-{part}", m.ravel().astype(np.float32))
        ret = canvas.structures[cls].birefringence_retardance_nm
        if ret <= 0:
            continue
        ang = axis
        if part == "plagioclase":
            # polysynthetic albite twins: alternate lamellae rotated by ±(extinction angle)
            s = (X * np.cos(axis) + Y * np.sin(axis)) / twin
            fade = float(np.clip(twin / (2.5 * w.px_um) - 0.5, 0.0, 1.0))
            ang = axis + np.sign(np.sin(np.pi * s)) * 0.45 * fade
        r = amt * ret * (0.15 + 0.85 * tilt)
        canvas.add_retardance(layer, (r * np.cos(2 * ang)).ravel().astype(np.float32),
                              (r * np.sin(2 * ang)).ravel().astype(np.float32))
    crack = ctx.cls("crack")
    if crack:
        dust = 0.5 + value_noise(w, ctx.seed ^ 0xF1, 8.0)
        canvas.add(layer, crack, (0.3 * boundary * dust).ravel().astype(np.float32))


@generator("crystals")
def crystals(canvas: Canvas, ctx: Ctx) -> None:
    """Crystals grown from a drying drop: fans of needles radiating from nucleation points
    (size_um = needle length), each needle birefringent along its length with a thickness
    (and so retardance) of its own. Params: needles (per fan), width_um. Part: crystal."""
    m = int(ctx.p("needles", 24))
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1] * 1.1, 8 + 3 * m)
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    n = x.size
    cls = ctx.cls("crystal")
    assert cls is not None
    uu = u[:, 8:8 + 3 * m].reshape(n, m, 3)
    spread = 0.6 + 2.4 * u[:, 3]  # from a narrow sheaf to a full spherulite
    ang = 2 * np.pi * u[:, 4][:, None] + (uu[..., 0] - 0.5) * spread[:, None]
    L = ctx.size(uu[..., 1])
    wd = float(ctx.p("width_um", 3.0)) * (0.5 + uu[..., 2])
    cx = x[:, None] + np.cos(ang) * L / 2
    cy = y[:, None] + np.sin(ang) * L / 2
    z = np.broadcast_to(ctx.z(u[:, 5])[:, None], L.shape)
    draw(canvas, cls, cx.ravel(), cy.ravel(), (wd / 2).ravel(), (wd / 2).ravel(),
         ang.ravel(), z_um=z.ravel(), half_len_um=(L / 2).ravel(), profile="flat",
         orient="along",
         amount=(0.35 + 0.9 * uu[..., 2]).ravel(), label=ctx.pop.label)

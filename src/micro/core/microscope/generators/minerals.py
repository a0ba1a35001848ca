"""Rocks and crystals: an interlocking granite thin section (each grain its own mineral,
optic-axis tilt and extinction angle, so crossed polars show Michel-Lévy colours), and
radiating crystal needles grown from a drying solution."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.layout import noise, warped_cells
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas, band
from micro.core.microscope.registry import Ctx, generator

PARTS = ("quartz", "feldspar", "plagioclase", "biotite", "muscovite", "opaque")


@generator("granite")
def granite(canvas: Canvas, ctx: Ctx) -> None:
    """Params: grain_um (mean grain size), fractions (one per part of PARTS, summing to 1),
    twin_um (mean albite-twin lamella width in plagioclase), cleavage_um (spacing of mica
    cleavage traces), undulose_deg (how far the extinction sweeps across a strained quartz
    grain). Parts name the mineral classes; plagioclase may reuse the feldspar class.

    Grains interlock: their borders are Voronoi borders of a warped grid (curving and
    ragged), at two grain sizes. A grain's retardance is Δmax · sin²ψ with ψ the tilt of its
    optic axis out of the viewing direction (uniform on the sphere), and its slow axis a
    random angle, so grains turn dark every 90° of stage rotation; strained quartz sweeps
    its extinction across the grain (undulose extinction); plagioclase is striped by
    polysynthetic albite twins of uneven width; micas carry fine cleavage traces along their
    slow axis (length-slow) and biotite is pleochroic. K-feldspar is clouded by alteration."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    grain_um = float(ctx.p("grain_um", 400.0))
    big = warped_cells(w, ctx.seed, grain_um, jitter=0.95, warp_um=0.22 * grain_um,
                       warp_scale_um=0.5 * grain_um, rough_um=6.0, rough_scale_um=25.0)
    small = warped_cells(w, ctx.seed ^ 0x6A, grain_um * 0.45, jitter=0.95,
                         warp_um=0.1 * grain_um, warp_scale_um=0.25 * grain_um,
                         rough_um=5.0, rough_scale_um=20.0)
    fine = big.table[big.near, 7] < 0.45
    tab = np.where(fine[..., None], small.table[small.near], big.table[big.near])
    edge = np.where(fine, small.edge, big.edge)
    seeds = np.where(fine[..., None], small.seeds[small.near], big.seeds[big.near])
    fr = np.asarray(ctx.p("fractions", [0.32, 0.28, 0.2, 0.1, 0.07, 0.03]), dtype=np.float64)
    cum = np.cumsum(fr / fr.sum())
    kind = np.searchsorted(cum, tab[..., 2])
    cos_psi = tab[..., 3]
    tilt = 1.0 - cos_psi**2  # sin² of the optic-axis tilt
    axis = np.pi * tab[..., 4]
    boundary = band(edge, 2.0, w.px_um)
    X, Y = w.grids()
    # position inside the grain relative to its seed, in grain units (undulose sweeps)
    rel_x = (X - seeds[..., 0]) / grain_um
    rel_y = (Y - seeds[..., 1]) / grain_um
    lab = ctx.pop.label
    px = w.px_um
    for k, part in enumerate(PARTS):
        cls = ctx.cls(part)
        if not cls:
            continue
        m = (kind == k).astype(np.float64)
        if not m.any():
            continue
        amt = m * (1.0 - 0.3 * boundary)
        ang = axis
        if part == "quartz":
            # strain: the lattice (and extinction) rotates across the grain
            sweep = np.deg2rad(float(ctx.p("undulose_deg", 18.0))) * tab[..., 5]
            d = rel_x * np.cos(tab[..., 6] * np.pi) + rel_y * np.sin(tab[..., 6] * np.pi)
            ang = axis + sweep * np.tanh(2.5 * d)
        if part == "feldspar":
            cloud = noise(w, ctx.seed ^ 0xFE, 6.0)
            amt = amt * (1.0 + 0.25 * tab[..., 5] * (cloud - 0.3))
        if part in ("biotite", "muscovite"):
            amt = amt * (1.0 - 0.5 * _cleavage(X, Y, axis, float(ctx.p("cleavage_um", 5.0)),
                                               px, tab[..., 6]))
        if part == "biotite":
            amt = amt * (0.6 + 0.4 * np.cos(axis) ** 2)  # pleochroism: absorbs along cleavage
        canvas.add(layer, cls, amt.ravel().astype(np.float32))
        canvas.add_label(f"{lab}-{part}", m.ravel().astype(np.float32))
        ret = canvas.structures[cls].birefringence_retardance_nm
        if ret <= 0:
            continue
        if part == "plagioclase":
            ang = axis + _albite_twins(X, Y, axis, float(ctx.p("twin_um", 12.0)), px,
                                       tab[..., 6])
        r = amt * ret * (0.15 + 0.85 * tilt)
        canvas.add_retardance(layer, (r * np.cos(2 * ang)).ravel().astype(np.float32),
                              (r * np.sin(2 * ang)).ravel().astype(np.float32))
    crack = ctx.cls("crack")
    if crack:
        dust = 0.5 + noise(w, ctx.seed ^ 0xF1, 8.0)
        canvas.add(layer, crack, (0.3 * boundary * dust).ravel().astype(np.float32))


def _albite_twins(X: np.ndarray, Y: np.ndarray, axis: np.ndarray, twin_um: float,
                  px: float, u: np.ndarray) -> np.ndarray:
    """Extinction offset (radians) of polysynthetic twin lamellae running along the grain's
    axis: alternate lamellae are turned by ±(a grain's extinction angle, 10–30°); widths
    vary (the lamella index runs on a warped coordinate). Lamellae narrower than ~2 pixels
    fade to their mean (0) instead of aliasing."""
    s = (-X * np.sin(axis) + Y * np.cos(axis)) / twin_um + 7.0 * u
    s = s + 0.35 * np.sin(2 * np.pi * s * 0.21 + 11.0 * u)
    fade = float(np.clip(twin_um / (2.5 * px) - 0.5, 0.0, 1.0))
    ext = np.deg2rad(10.0 + 20.0 * u)
    return np.sign(np.sin(np.pi * s)) * ext * fade


def _cleavage(X: np.ndarray, Y: np.ndarray, axis: np.ndarray, spacing_um: float, px: float,
              u: np.ndarray) -> np.ndarray:
    """Fine dark traces (≈0.7 µm) of the perfect basal cleavage of micas, parallel to the
    grain's slow axis, unevenly spaced; sub-pixel spacing gives their mean coverage."""
    s = (-X * np.sin(axis) + Y * np.cos(axis)) / spacing_um + 5.0 * u
    s = s + 0.3 * np.sin(2 * np.pi * s * 0.17 + 9.0 * u)
    mean = 0.7 / spacing_um
    if spacing_um < 3.0 * px:
        return np.full(np.shape(s), mean)
    dist = np.abs(s - np.round(s)) * spacing_um
    return band(dist, 0.7, px)


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

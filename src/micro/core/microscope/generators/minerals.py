"""Rocks and crystals: an interlocking granite thin section (each grain its own mineral,
optic-axis tilt and extinction angle, so crossed polars show Michel-Lévy colours), and
radiating crystal needles grown from a drying solution."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import CrystalsParams, GraniteParams
from micro.core.microscope.generators.layout import noise, warped_cells
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas, band
from micro.core.microscope.registry import Ctx, generator

F32 = np.float32
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
    prm = ctx.params(GraniteParams)
    grain_um = prm.grain_um
    big = warped_cells(w, ctx.seed, grain_um, jitter=0.95, warp_um=0.22 * grain_um,
                       warp_scale_um=0.5 * grain_um, rough_um=6.0, rough_scale_um=25.0)
    small = warped_cells(w, ctx.seed ^ 0x6A, grain_um * 0.45, jitter=0.95,
                         warp_um=0.1 * grain_um, warp_scale_um=0.25 * grain_um,
                         rough_um=5.0, rough_scale_um=20.0)
    fine = big.table[:, 7][big.near] < 0.45
    # each pixel's grain as one index into both tables stacked (small grains after big)
    grain = np.where(fine, small.near + np.int32(big.table.shape[0]), big.near)
    table = np.concatenate([big.table, small.table]).astype(F32)
    seed_x, seed_y = np.concatenate([big.seeds, small.seeds]).astype(F32).T.copy()

    def col(c: int) -> np.ndarray:
        """Slot c of each pixel's grain table (float32 (H, W))."""
        return table[:, c].take(grain)

    edge = np.where(fine, small.edge, big.edge)
    fr = np.asarray(prm.fractions, dtype=np.float64)
    cum = np.cumsum(fr / fr.sum())
    kind = np.searchsorted(cum, col(2))
    axis = F32(np.pi) * col(4)
    u5, u6 = col(5), col(6)
    tilt = 1.0 - np.square(col(3))  # sin² of the optic-axis tilt (cos ψ uniform)
    boundary = band(edge, 2.0, w.px_um).astype(F32)
    X, Y = (g.astype(F32) for g in w.grids())
    X = np.broadcast_to(X, kind.shape)
    Y = np.broadcast_to(Y, kind.shape)
    lab = ctx.pop.label
    px = w.px_um
    amounts: dict[str, np.ndarray] = {}
    c2 = np.zeros(kind.shape, dtype=F32)
    s2 = np.zeros(kind.shape, dtype=F32)
    for k, part in enumerate(PARTS):
        cls = ctx.cls(part)
        m = kind == k
        if not cls or not m.any():
            continue
        # every pixel of this mineral, as 1-D arrays: each pixel is worked on once
        amt = 1.0 - 0.3 * boundary[m]
        ax, uu5, uu6, xm, ym = axis[m], u5[m], u6[m], X[m], Y[m]
        ang = ax
        if part == "quartz":
            # strain: the lattice (and extinction) rotates across the grain
            # float32 (µm within a grain; float64 transcendentals cost several times more)
            gm = grain[m]
            d = ((xm - seed_x.take(gm)) * np.cos(uu6 * F32(np.pi))
                 + (ym - seed_y.take(gm)) * np.sin(uu6 * F32(np.pi))) / F32(grain_um)
            ang = ax + F32(np.deg2rad(prm.undulose_deg)) * uu5 * np.tanh(F32(2.5) * d)
        if part == "feldspar":
            cloud = noise(w, ctx.seed ^ 0xFE, 6.0)[m]
            amt = amt * (1.0 + 0.25 * uu5 * (cloud - 0.3))
        if part in ("biotite", "muscovite"):
            amt = amt * (1.0 - 0.5 * _cleavage(xm, ym, ax, prm.cleavage_um,
                                               px, uu6))
        if part == "biotite":
            amt = amt * (0.6 + 0.4 * np.cos(ax) ** 2)  # pleochroism: absorbs along cleavage
        acc = amounts.setdefault(cls, np.zeros(kind.shape, dtype=F32))
        acc[m] += amt
        canvas.add_label(f"{lab}-{part}", m.ravel().astype(F32))
        ret = canvas.structures[cls].birefringence_retardance_nm
        if ret <= 0:
            continue
        if part == "plagioclase":
            ang = ax + _albite_twins(xm, ym, ax, prm.twin_um, px, uu6)
        r = amt * ret * (0.15 + 0.85 * tilt[m])
        c2[m] = r * np.cos(2 * ang)
        s2[m] = r * np.sin(2 * ang)
    for cls, acc in amounts.items():
        canvas.add(layer, cls, acc.ravel())
    canvas.add_retardance(layer, c2.ravel(), s2.ravel())
    crack = ctx.cls("crack")
    if crack:
        dust = 0.5 + noise(w, ctx.seed ^ 0xF1, 8.0)
        canvas.add(layer, crack, (0.3 * boundary * dust).ravel().astype(F32))


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
    prm = ctx.params(CrystalsParams)
    m = prm.needles
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1] * 1.1, 8 + 3 * m)
    keep = u[:, 2] < prm.presence
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
    wd = prm.width_um * (0.5 + uu[..., 2])
    cx = x[:, None] + np.cos(ang) * L / 2
    cy = y[:, None] + np.sin(ang) * L / 2
    z = np.broadcast_to(ctx.z(u[:, 5])[:, None], L.shape)
    draw(canvas, cls, cx.ravel(), cy.ravel(), (wd / 2).ravel(), (wd / 2).ravel(),
         ang.ravel(), z_um=z.ravel(), half_len_um=(L / 2).ravel(), profile="flat",
         orient="along",
         amount=(0.35 + 0.9 * uu[..., 2]).ravel(), label=ctx.pop.label)

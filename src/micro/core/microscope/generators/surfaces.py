"""Surfaces for SEM, AFM and the stereo microscope: the compound eye of a fly (hexagonal
corneal facets on a bulging eye, bristles between them) and DNA molecules spread on mica
(worm-like chains with a 50 nm persistence length)."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.relief import blur_px, with_anchor
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import MAX_CELLS, uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator

SQ3 = np.sqrt(3.0)
DNA_WIDTH_UM = 0.002
"""B-DNA double helix diameter."""


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
    """A fly's head seen from the side, as a surface: the head capsule (a broad dome) and
    the compound eye bulging from it (size_um = eye width, height), tiled by hexagonal
    corneal lenses (facet_um pitch, each a low lens dome, grooves between) laid out in the
    eye's own surface coordinates, so that facets are foreshortened towards its rim; short
    interommatidial bristles rise from some facet corners; long setae cover the rest of
    the head. Parts: head (capsule cuticle), facet (cornea), bristle."""
    ew, eh = ctx.pop.size_um
    a, b = ew / 2, eh / 2
    pitch = float(ctx.p("facet_um"))
    lens_um = float(ctx.p("lens_height_um"))
    head, facet, bristle = ctx.cls("head"), ctx.cls("facet"), ctx.cls("bristle")
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    # float32 (µm, eye centred on the slide origin: 0.5 nm steps at a 6 mm offset)
    X, Y = (g.astype(np.float32) for g in w.grids())
    # head capsule: a dome 2 × 1.9 eye sizes across, centred behind the eye
    hx, hy, ha, hb, hc = 0.3 * ew, 0.05 * eh, 1.05 * ew, 0.95 * eh, 0.45 * ew
    r2 = ((X - hx) / ha) ** 2 + ((Y - hy) / hb) ** 2
    h_head = hc * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    on_head = np.clip((1.0 - np.sqrt(r2)) * min(ha, hb) / w.px_um + 0.5, 0.0, 1.0)
    # the eye: a cap of semi-axes a, b and height c above the capsule
    c = 0.3 * ew
    nx, ny = X / a, Y / b
    rho2 = nx * nx + ny * ny
    nz = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
    on_eye = np.clip((1.0 - np.sqrt(rho2)) * min(a, b) / w.px_um + 0.5, 0.0, 1.0)
    height = h_head + c * nz
    if pitch > 2 * w.px_um:  # facets resolved: lens domes in surface coordinates
        R = c  # surface coordinates on the cap: longitude/latitude × its radius of curvature
        lat = np.arcsin(np.clip(ny, -1.0, 1.0))
        lon = np.arctan2(nx, np.maximum(nz, 1e-6))
        su, sv = R * lon, R * lat
        d_hex, d = _hex_nearest(su, sv, pitch)
        # a smooth lens dome, cut by a narrow groove along the hexagonal facet border
        lens = np.clip(1.0 - (d / (pitch / SQ3)) ** 2, 0.0, 1.0)
        lens *= np.clip((0.5 * pitch - d_hex) / 1.0, 0.0, 1.0) ** 0.5
        fade = min(1.0, (pitch / w.px_um - 2.0) / 4.0)
        height = height + (lens_um * lens * nz * fade) * (rho2 < 1.0)
    height = height * (on_head > 0)
    foot_eye = on_eye * on_head
    if facet:
        p = canvas.structures[facet]
        canvas.add(layer, facet, foot_eye.ravel().astype(np.float32))
        height = height - foot_eye * (p.height_um or p.thickness_um)
        canvas.add_label(ctx.pop.label + "-facet", foot_eye.ravel().astype(np.float32))
    if head:
        p = canvas.structures[head]
        foot = on_head * (1.0 - foot_eye)
        canvas.add(layer, head, foot.ravel().astype(np.float32))
        height = height - foot * (p.height_um or p.thickness_um)
        canvas.add_label(ctx.pop.label, on_head.ravel().astype(np.float32))
    canvas.add(layer, "relief", height.ravel().astype(np.float32))
    if bristle:
        _eye_bristles(canvas, ctx, bristle, a, b, c, pitch, z)
        _head_setae(canvas, ctx, bristle, (hx, hy, ha, hb, hc), a, b, c, z)


def _hex_nearest(u: np.ndarray, v: np.ndarray, pitch: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Hexagonal distance (half the flat-to-flat width of the hexagon through the point) to
    the nearest centre of a hexagonal lattice (rows pitch·√3/2 apart, every other row
    offset by half a pitch), and the ordinary distance to that centre."""
    # float32 throughout (µm on the eye's surface; float64 passes cost twice as much)
    f32 = np.float32
    u, v = u.astype(f32, copy=False), v.astype(f32, copy=False)
    dy = f32(pitch * SQ3 / 2)
    j = np.floor(v / dy)
    best = np.full(u.shape, np.inf, dtype=f32)
    ex_best = np.zeros(u.shape, dtype=f32)
    ey_best = np.zeros(u.shape, dtype=f32)
    for jj in (j, j + 1):
        # in one row the hexagonal norm, max(|ex|, ½|ex| + (√3/2)|ey|), grows with |ex|:
        # the row's nearest centre is the one nearest in x (no neighbours to try)
        off = (jj.astype(np.int32) & 1).astype(f32) * f32(0.5)
        cx = (np.rint(u / f32(pitch) - off) + off) * f32(pitch)
        ex = u - cx
        ey = v - jj * dy
        # hexagonal norm: the largest distance across the three pairs of facet sides
        d = np.maximum(np.abs(ex), f32(0.5) * np.abs(ex) + f32(SQ3 / 2) * np.abs(ey))
        better = d < best
        np.copyto(best, d, where=better)
        np.copyto(ex_best, ex, where=better)
        np.copyto(ey_best, ey, where=better)
    return best, np.sqrt(ex_best * ex_best + ey_best * ey_best)


def _eye_bristles(canvas: Canvas, ctx: Ctx, cls: str, a: float, b: float, c: float,
                  pitch: float, z: float) -> None:
    """Interommatidial bristles: at a third of the facet corners a hair ~15 µm long and
    1.5 µm thick rises from between the lenses, leaning down the eye."""
    R = c
    x, y, u = hex_points(ctx, pitch, 40.0, 6)  # lattice in surface coordinates
    lon, lat = x / R, y / R
    ok = (np.abs(lat) < np.pi / 2) & (np.abs(lon) < np.pi / 2) & (u[:, 3] < 0.35)
    lon, lat, u = lon[ok], lat[ok], u[ok]
    # the corner below-right of the facet centre, mapped back onto the image
    lon = lon + pitch / 2 / R
    lat = lat + pitch / (2 * SQ3) / R
    nx = np.cos(lat) * np.sin(lon)
    ny = np.sin(lat)
    inside = nx * nx + ny * ny < 0.92
    nx, ny, u = nx[inside], ny[inside], u[inside]
    if nx.size == 0:
        return
    bx, by = nx * a, ny * b
    ang = np.pi / 2 + (u[:, 4] - 0.5) * 1.2
    ln = 15.0 * (0.8 + 0.4 * u[:, 5])
    p = canvas.structures[cls]
    amount = 2.5 / (p.height_um or p.thickness_um)  # stands ~2.5 µm off the lenses
    draw(canvas, cls, bx + np.cos(ang) * ln / 2, by + np.sin(ang) * ln / 2, 0.75, 0.75, ang,
         z_um=z, half_len_um=ln / 2, profile="dome", amount=amount)


def _head_setae(canvas: Canvas, ctx: Ctx, cls: str, head: tuple[float, ...], a: float,
                b: float, c: float, z: float) -> None:
    """Long setae (150–350 µm, 3 µm thick) on the head capsule, not on the eye, pointing
    down and back, standing ~10 µm off the cuticle."""
    hx, hy, ha, hb, _ = head
    xs, ys, us = ctx.points(90.0, 400.0, 6)
    on_head = ((xs - hx) / ha) ** 2 + ((ys - hy) / hb) ** 2 < 0.9
    off_eye = (xs / a) ** 2 + (ys / b) ** 2 > 1.08
    keep = on_head & off_eye & (us[:, 2] < 0.7)
    if not keep.any():
        return
    L = 150 + 200 * us[keep, 3]
    ang = np.pi * 0.5 + (us[keep, 4] - 0.5) * 1.6
    p = canvas.structures[cls]
    draw(canvas, cls, xs[keep] + np.cos(ang) * L / 2, ys[keep] + np.sin(ang) * L / 2, 1.5,
         1.5, ang, z_um=z, half_len_um=L / 2, profile="dome",
         amount=12.0 / (p.height_um or p.thickness_um), label=ctx.pop.label + "-seta")
    del c


MOLECULE_PX = 3.0
"""A molecule is drawn strand by strand only when its extent spans at least this many pixels;
smaller ones are far below what the image resolves and go in as their statistical image."""


def _molecule_extent_um(contour_um: float, circular: bool, lp_um: float) -> float:
    """Typical extent of one molecule: a relaxed loop's diameter (L/π), or a worm-like
    chain's root-mean-square end-to-end distance √(2 Lp L (1 − Lp/L (1 − e^(−L/Lp))))."""
    if circular:
        return contour_um / np.pi
    r2 = 2 * lp_um * contour_um * (1 - lp_um / contour_um * (1 - np.exp(-contour_um / lp_um)))
    return float(np.sqrt(max(r2, 0.0)))


def _dna_cost(ctx: Ctx) -> float:
    """Stamps per lattice site, for the work budget: a density field when molecules are
    below a few pixels (its work follows the pixels), else one chain of up to 64 segments
    per molecule present."""
    L = float(ctx.p("contour_um"))
    lp = float(ctx.p("persistence_nm")) / 1000.0
    px = ctx.window.px_um
    if _molecule_extent_um(L, bool(ctx.p("circular")), lp) < MOLECULE_PX * px:
        return 0.0
    m = int(np.clip(np.ceil(L / max(px, lp / 4)), 16, 64))
    return m * float(ctx.p("presence"))


@generator("dna", cost=_dna_cost)
def dna(canvas: Canvas, ctx: Ctx) -> None:
    """DNA adsorbed on freshly cleaved mica (AFM). Params: contour_um (contour length,
    0.34 nm per base pair), circular (plasmids) or linear, persistence_nm (bending
    stiffness: in two dimensions the tangent angle diffuses with variance = arc/persistence),
    presence (fraction of lattice sites holding a molecule). Part: strand.

    Molecules that span a few pixels or more are drawn as chains; smaller ones, when
    hundreds of thousands fall in one window, are drawn as what the optics can see of
    them: a density field — Poisson counts of molecules per pixel times the strand area
    of one molecule, spread over the molecule's extent — so the work follows the pixels,
    not the number of molecules."""
    cls = ctx.cls("strand")
    assert cls is not None
    L = float(ctx.p("contour_um"))
    circular = bool(ctx.p("circular"))
    lp = float(ctx.p("persistence_nm")) / 1000.0
    presence = float(ctx.p("presence"))
    z = float(np.mean(ctx.pop.z_um))
    w = canvas.window
    extent = _molecule_extent_um(L, circular, lp)
    if extent < MOLECULE_PX * w.px_um:
        _dna_density(canvas, ctx, cls, L * DNA_WIDTH_UM, extent, presence, z)
        return
    # a segment no shorter than needed to follow the bends the pixels can show
    m = int(np.clip(np.ceil(L / max(w.px_um, lp / 4)), 16, 64))
    x, y, u = with_anchor(ctx, *ctx.points(ctx.spacing(), L, 8 + m))
    keep = u[:, 2] < presence
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    px, py, sx, sy = wlc_chains(u, L, m, lp, circular)
    px += x[:, None]
    py += y[:, None]
    ang = np.arctan2(sy, sx)
    mx, my = px - sx / 2, py - sy / 2
    # abutting rectangles (capsules would overlap at every joint and double the height)
    draw(canvas, cls, mx.ravel(), my.ravel(), np.hypot(sx, sy).ravel() / 2,
         DNA_WIDTH_UM / 2, ang.ravel(), z_um=z, profile="flat", amount=1.0,
         label=ctx.pop.label, rect=True)


def wlc_chains(u: np.ndarray, contour_um: float, m: int, lp_um: float, circular: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Worm-like chains in two dimensions from hashed uniforms u (n, ≥ 8 + m): m segments
    of contour/m whose tangent angle diffuses with variance segment/Lp per step, so that
    ⟨cos Δθ(s)⟩ = exp(−s / 2Lp); a circular chain has its bends' mean set to close the
    loop (2π in all) and its end-to-end gap spread over the segments. Returns the segment
    end points (n, m) centred on 0 and the segment vectors (n, m), µm."""
    seg = contour_um / m
    # Gaussian steps from the hashed uniforms (Box–Muller)
    g = np.sqrt(-2 * np.log(np.clip(u[:, 8:8 + m], 1e-12, 1))) * np.cos(
        2 * np.pi * u[:, np.r_[9:8 + m, 8]])
    dth = g * np.sqrt(seg / lp_um)
    if circular:
        dth = dth - dth.mean(axis=1, keepdims=True) + 2 * np.pi / m
    th = 2 * np.pi * u[:, 3][:, None] + np.cumsum(dth, axis=1)
    sx, sy = np.cos(th) * seg, np.sin(th) * seg
    if circular:  # close the loop: spread the end-to-end gap over the segments
        sx = sx - sx.mean(axis=1, keepdims=True)
        sy = sy - sy.mean(axis=1, keepdims=True)
    px = np.cumsum(sx, axis=1)
    py = np.cumsum(sy, axis=1)
    return (px - px.mean(axis=1, keepdims=True), py - py.mean(axis=1, keepdims=True), sx, sy)


def _dna_density(canvas: Canvas, ctx: Ctx, cls: str, area_um2: float, extent_um: float,
                 presence: float, z: float) -> None:
    """The statistical image of molecules far below a pixel: per pixel a Poisson number of
    molecules (mean = density × presence × pixel area), each adding its strand area, the
    whole blurred over one molecule's extent. Seeded from the population and the window,
    so a view is reproducible."""
    w = canvas.window
    mean = ctx.pop.density_per_mm2 * 1e-6 * presence * w.px_um ** 2
    key = [ctx.seed & 0xFFFFFFFF, round(w.x0_um / w.px_um) & 0xFFFFFFFF,
           round(w.y0_um / w.px_um) & 0xFFFFFFFF, round(w.px_um * 1e6) & 0xFFFFFFFF,
           w.width, w.height]
    rng = np.random.default_rng(key)
    counts = rng.poisson(mean, size=(w.height, w.width)).astype(np.float32)
    cover = counts * np.float32(area_um2 / w.px_um ** 2)
    sigma_px = extent_um / 2.3548 / w.px_um
    if sigma_px > 0.3:
        cover = blur_px(cover, sigma_px)
    layer = int(canvas.layer_of(np.array([z]))[0])
    flat = cover.ravel()
    canvas.add(layer, cls, flat)
    canvas.add_label(ctx.pop.label, flat)

"""Stem cross-sections laid out tissue by tissue before any cell wall is drawn.

Dicot (sunflower type): epidermis with cuticle, a collenchyma band, cortex, a RING of
collateral vascular bundles — xylem vessels in radial files towards the pith, the cambium
(continued between the bundles as interfascicular cambium, which closes the ring), phloem,
and a cap of sclerenchyma fibres — and a pith of large parenchyma cells.

Monocot (maize type): a rind of epidermis and sclerenchyma, and vascular bundles SCATTERED
through the ground parenchyma, smaller and more crowded towards the rind; each bundle is
enclosed in a fibre sheath, with two large metaxylem vessels, the protoxylem and its air
lacuna towards the centre, and the phloem towards the outside.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from micro.core.genparams import DicotStemParams, MonocotStemParams
from micro.core.microscope.generators.histology import hypot
from micro.core.microscope.generators.layout import Cells, warped_cells
from micro.core.microscope.generators.section import thickness
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.raster import Canvas, band
from micro.core.microscope.registry import Ctx, generator

F32 = np.float32


def walls(w: Window, seed: int, spacing: float, width: float, warp: float = 0.0,
          cells: Cells | None = None) -> np.ndarray:
    """Wall density (float32 (H, W)) of a net of cells `spacing` µm across with walls
    `width` µm thick; where pixels are coarser than the net, its area-averaged value
    (no aliasing, no wasted work at low power): a net under three pixels per cell cannot
    be drawn without aliasing."""
    if w.px_um > spacing / 3:
        return np.full((w.height, w.width), min(1.0, 2.0 * width / spacing), dtype=F32)
    if cells is None:
        cells = _field(w, seed, spacing, warp)
    return band(cells.edge, width, w.px_um).astype(F32)


def _field(w: Window, seed: int, spacing: float, warp: float) -> Cells:
    return warped_cells(w, seed, spacing, jitter=0.9, warp_um=warp,
                        warp_scale_um=max(spacing * 1.5, 30.0), slots=4)


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    flat = np.asarray(amt, dtype=F32).ravel()
    if cls:
        canvas.add(layer, cls, flat)
    if label:
        canvas.add_label(label, flat)


def _polar(w: Window) -> tuple[np.ndarray, np.ndarray]:
    X, Y = w.grids()
    X, Y = X.astype(F32), Y.astype(F32)
    return np.sqrt(X * X + Y * Y), np.arctan2(Y, X)


def _outline(seed: int, phi: np.ndarray, R: float) -> np.ndarray:
    """Radius of a slightly irregular stem outline at angle phi."""
    u = uniforms(seed ^ 0x57E, np.arange(4), np.zeros(4, dtype=np.int64), 2)
    r = np.full(phi.shape, R, dtype=F32)
    for k, (a, p) in enumerate(u, start=2):
        r += F32(R * 0.012 * a) * np.sin(F32(k) * phi + F32(2 * np.pi * p))
    return r


@generator("dicot-stem")
def dicot_stem(canvas: Canvas, ctx: Ctx) -> None:
    """Cross-section of a young dicot stem, radius size_um[1]/2; params: bundles (number
    in the ring), ring_frac (bundle ring radius / stem radius). Parts: wall (cellulose),
    lignified, phloem, cuticle. Labels: <label> (parenchyma walls), <label>-xylem,
    <label>-phloem, <label>-cambium, <label>-bundle."""
    w = canvas.window
    layer = int(canvas.layer_of(np.array([float(np.mean(ctx.pop.z_um))]))[0])
    R = ctx.pop.size_um[1] / 2
    px = w.px_um
    r, phi = _polar(w)
    edge_r = _outline(ctx.seed, phi, R)
    stem = np.clip((edge_r - r) / px + 0.5, 0.0, 1.0)
    prm = ctx.params(DicotStemParams)
    nb = prm.bundles
    ring = prm.ring_frac * R
    # bundles: jittered positions round the ring, sizes alternate big / small
    k = np.arange(nb)
    bu = uniforms(ctx.seed ^ 0xB0, k, np.zeros_like(k), 4)
    centres = 2 * np.pi * (k + 0.3 * (bu[:, 0] - 0.5)) / nb
    size = (0.75 + 0.4 * bu[:, 1]) * np.where(k % 2 == 0, 1.0, 0.7)
    # the nearest bundle by angle
    step = 2 * np.pi / nb
    centres32 = centres.astype(F32)
    tau, half_turn = F32(2 * np.pi), F32(np.pi)

    def wrap(a: np.ndarray) -> np.ndarray:
        return np.mod(a + half_turn, tau) - half_turn

    j = np.mod(np.round((phi - centres32[0]) / F32(step)).astype(np.int64), nb)
    dphi = wrap(phi - centres32[j])
    for dj in (-1, 1):  # jitter can make a neighbour the closer one
        j2 = np.mod(j + dj, nb)
        d2 = wrap(phi - centres32[j2])
        closer = np.abs(d2) < np.abs(dphi)
        j = np.where(closer, j2, j)
        dphi = np.where(closer, d2, dphi)
    s = size[j].astype(F32)
    dt = dphi * r  # tangential distance from the bundle's midline, µm
    dr = (r - ring) / s  # radial, in the bundle's own scale
    H = F32(0.11 * R)  # reference bundle half-height
    # teardrop: narrow at the inner (protoxylem) end, widest at the cambium, rounded cap
    prof = np.where(dr < 0, np.sqrt(np.clip(1.0 + dr / (1.3 * H), 0.0, 1.0)),
                    np.sqrt(np.clip(1.0 - (dr / (0.75 * H)) ** 2, 0.0, 1.0)))
    half_w = F32(0.055 * R) * s * prof
    bundle = np.clip((half_w - np.abs(dt)) / px + 0.5, 0.0, 1.0) * stem * (half_w > 0)
    xylem = bundle * (dr < -0.02 * H)
    cambium_in = bundle * (dr >= -0.02 * H) * (dr < 0.06 * H)
    phloem = bundle * (dr >= 0.06 * H) * (dr < 0.38 * H)
    cap = bundle * (dr >= 0.38 * H)
    # interfascicular cambium: the thin band joining the bundles into a ring
    cam_band = band(r - ring, 8.0, px) * (1.0 - bundle) * stem
    # tissues outside the bundles
    epi_t = 16.0
    depth = edge_r - r
    epid = np.clip((epi_t - depth) / px + 0.5, 0.0, 1.0) * stem
    coll = np.clip((90.0 - depth) / px + 0.5, 0.0, 1.0) * stem * (1.0 - epid)
    pith = np.clip((ring - 0.16 * R - r) / (0.03 * R), 0.0, 1.0)
    ground = stem * (1.0 - bundle) * (1.0 - epid) * (1.0 - coll)
    sec = thickness(w, ctx.seed ^ 0x5EC, variation=0.1, chatter=0.0, fold_prob=0.0)
    wp = walls(w, ctx.seed ^ 0x91, 85.0, 2.0, warp=12.0)
    cortex = _field(w, ctx.seed ^ 0x92, 34.0, 5.0) if px <= 34.0 / 3 else None
    wc = walls(w, ctx.seed ^ 0x92, 34.0, 1.6, warp=5.0, cells=cortex)
    wcol = walls(w, ctx.seed ^ 0x93, 18.0, 3.5, warp=2.0)
    wsmall = walls(w, ctx.seed ^ 0x94, 8.0, 1.0)
    wfib = walls(w, ctx.seed ^ 0x95, 7.0, 2.4)
    wepi = walls(w, ctx.seed ^ 0x96, 15.0, 1.8)
    paren = ground * (pith * wp + (1.0 - pith) * wc)
    # xylem: vessels (large lumina with thick red walls) in radial files among small
    # lignified fibres and xylem parenchyma
    vessels = _vessels(w, ctx.seed ^ 0x92, xylem, px, cortex)
    lig = xylem * (vessels["wall"] + (1.0 - vessels["lumen"]) * wfib * 0.9) + cap * wfib * 1.3
    lab = ctx.pop.label
    _add(canvas, layer, ctx.cls("wall"),
         (paren + coll * wcol * 1.3 + epid * wepi + (cambium_in + cam_band) * (0.5 + wsmall)
          + phloem * wsmall) * sec, lab)
    _add(canvas, layer, ctx.cls("lignified"), lig * sec, lab + "-xylem")
    _add(canvas, layer, ctx.cls("phloem"), phloem * (0.35 + 0.8 * wsmall) * sec,
         lab + "-phloem")
    _add(canvas, layer, None, cambium_in + cam_band, lab + "-cambium")
    _add(canvas, layer, None, bundle, lab + "-bundle")
    _add(canvas, layer, ctx.cls("cuticle"), band(depth - 1.5, 3.0, px) * (r < edge_r + 3))


def _vessels(w: Window, seed: int, region: np.ndarray, px: float,
             cells: Cells | None) -> dict[str, np.ndarray]:
    """Xylem vessels in a region: cells of a 34 µm field (the cortex's, so one cell field
    serves both), a share of which are vessels (lumen 10–28 µm across, wall ~3 µm);
    returns `lumen` and `wall` amounts."""
    if not np.any(region > 0):
        z = np.zeros(region.shape, dtype=F32)
        return {"lumen": z, "wall": z}
    if cells is None:
        cells = _field(w, seed, 34.0, 5.0)
    t = cells.table[:, 2].astype(F32)[cells.near]
    is_v = t < 0.45
    rad = F32(5.0) + F32(9.0) * cells.table[:, 3].astype(F32)[cells.near]
    lumen = np.clip((rad - cells.d1) / px + 0.5, 0.0, 1.0) * is_v
    wall = band(cells.d1 - rad - 1.5, 3.0, px) * is_v
    return {"lumen": lumen * region, "wall": wall * region}


@generator("monocot-stem")
def monocot_stem(canvas: Canvas, ctx: Ctx) -> None:
    """Cross-section of a monocot (maize) stem, radius size_um[1]/2; params:
    bundle_spacing_um (lattice of candidate bundles), rind_um (sclerenchyma rind).
    Parts: wall, lignified, phloem, cuticle. Labels: <label> (ground parenchyma walls),
    <label>-bundle (one blob per bundle: its sheath and contents), <label>-xylem,
    <label>-phloem."""
    w = canvas.window
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    R = ctx.pop.size_um[1] / 2
    px = w.px_um
    r, phi = _polar(w)
    edge_r = _outline(ctx.seed, phi, R)
    stem = np.clip((edge_r - r) / px + 0.5, 0.0, 1.0)
    depth = edge_r - r
    prm = ctx.params(MonocotStemParams)
    rind = prm.rind_um
    epid = np.clip((14.0 - depth) / px + 0.5, 0.0, 1.0) * stem
    scl = np.clip((rind - depth) / px + 0.5, 0.0, 1.0) * stem * (1.0 - epid)
    ground = stem * (1.0 - epid) * (1.0 - scl)
    # ground parenchyma: cells larger towards the centre
    centre = np.clip(1.0 - r / (0.7 * R), 0.0, 1.0)
    wg = walls(w, ctx.seed ^ 0x81, 70.0, 2.0, warp=10.0)
    wo = walls(w, ctx.seed ^ 0x82, 38.0, 1.6, warp=6.0)
    wfib = walls(w, ctx.seed ^ 0x83, 7.0, 2.4)
    wepi = walls(w, ctx.seed ^ 0x84, 14.0, 1.8)
    sec = thickness(w, ctx.seed ^ 0x5EC, variation=0.1, chatter=0.0, fold_prob=0.0)
    lab = ctx.pop.label
    # bundles: jittered lattice candidates, kept more often towards the rind; under the
    # rind a finer lattice of small bundles, separated from the inner ones by a bundle-free
    # ring. Of two bundles that would touch, the one with the lower priority goes (a pure
    # function of the candidates around it, so every window agrees).
    spacing = prm.bundle_spacing_um
    x, y, u = ctx.points(spacing, 500.0, 8, jitter=0.9)
    frac = hypot(x, y) / R
    keep = (frac < 0.76) & (u[:, 2] < 0.45 + 0.55 * (frac / 0.76) ** 2)
    size = 0.62 * spacing * (1.0 - 0.25 * frac) * (0.8 + 0.2 * u[:, 3])
    x2, y2, u2 = ctx.points(spacing * 0.5, 300.0, 8, jitter=0.9)
    f2 = hypot(x2, y2) / R
    k2 = (f2 > 0.82) & (f2 < 0.965) & (u2[:, 2] < 0.8)
    size2 = 0.3 * spacing * (0.8 + 0.2 * u2[:, 3])
    x = np.concatenate([x[keep], x2[k2]])
    y = np.concatenate([y[keep], y2[k2]])
    u = np.concatenate([u[keep], u2[k2]])
    size = np.concatenate([size[keep], size2[k2]])  # bundle diameter, µm
    if x.size > 1:
        pairs = cKDTree(np.column_stack([x, y])).query_pairs(float(size.max()) + 15.0,
                                                            output_type="ndarray")
        if pairs.size:
            i, j = pairs[:, 0], pairs[:, 1]
            touch = hypot(x[i] - x[j], y[i] - y[j]) < (size[i] + size[j]) / 2 + 15.0
            loser = np.where(u[i, 5] < u[j, 5], j, i)[touch]
            ok = np.ones(x.size, dtype=bool)
            ok[loser] = False
            x, y, u, size = x[ok], y[ok], u[ok], size[ok]
    out = np.arctan2(y, x)  # phloem faces outwards
    a, b = size / 2 * 0.82, size / 2  # slightly taller (radially) than wide
    sheath_cov = _cov(canvas, x, y, b, a, out)
    inner_cov = _cov(canvas, x, y, b * 0.8, a * 0.78, out)
    sheath = np.clip(sheath_cov - inner_cov, 0.0, 1.0).reshape(w.height, w.width)
    inner = np.clip(inner_cov, 0.0, 1.0).reshape(w.height, w.width)
    ground = ground * (1.0 - np.clip(sheath_cov, 0, 1).reshape(w.height, w.width))
    paren = ground * (centre * wg + (1.0 - centre) * wo)
    _add(canvas, layer, ctx.cls("wall"),
         (paren + epid * wepi + inner * 0.25) * sec, lab)
    _add(canvas, layer, None, np.clip(sheath_cov, 0, 1), lab + "-bundle")
    lig = (scl * wfib * 1.3 + sheath * (0.5 + wfib)) * sec
    _add(canvas, layer, ctx.cls("lignified"), lig)
    _add(canvas, layer, ctx.cls("cuticle"), band(depth - 1.5, 3.0, px) * (r < edge_r + 3))
    c, s = np.cos(out), np.sin(out)

    def at(along: np.ndarray | float, across: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        return x + along * c - across * s, y + along * s + across * c

    lcls, pcls = ctx.cls("lignified"), ctx.cls("phloem")
    if lcls:
        # two metaxylem vessels (the "eyes"), protoxylem below them, its lacuna
        rv = size * (0.11 + 0.03 * u[:, 4])
        for side in (-1.0, 1.0):
            vx, vy = at(-0.05 * size, side * 0.23 * size)
            draw(canvas, lcls, vx, vy, rv, rv * 0.95, out, z_um=z, profile="rim",
                 amount=1.1, label=lab + "-xylem")
        px_, py_ = at(-0.24 * size, 0.0 * size)
        draw(canvas, lcls, px_, py_, size * 0.05, size * 0.05, out, z_um=z, profile="rim",
             amount=1.0, label=lab + "-xylem")
        lx, ly = at(-0.33 * size, 0.0 * size)
        wcls = ctx.cls("wall")
        if wcls:
            draw(canvas, wcls, lx, ly, size * 0.08, size * 0.1, out, z_um=z, profile="rim",
                 amount=0.6)
    if pcls:
        # phloem: sieve tubes and companion cells, a rounded patch towards the rind
        fx, fy = at(0.25 * size, 0.0)
        draw(canvas, pcls, fx, fy, size * 0.12, size * 0.19, out, z_um=z, profile="lens",
             amount=0.5, label=lab + "-phloem")


def _cov(canvas: Canvas, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray,
         th: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (flat (H·W,), float32) of ellipses, on a scratch canvas."""
    scratch = Canvas(canvas.window, [0.0], canvas.structures)
    cls = next(c for c, st in canvas.structures.items() if st.birefringence_retardance_nm == 0)
    draw(scratch, cls, x, y, a, b, th, profile="flat")
    got = scratch.amounts.get((0, cls))
    return np.zeros(canvas.npix, dtype=F32) if got is None else got

"""Tissue sections: polygonal cells (Worley/Voronoi) with walls, cytoplasm, nuclei and empty
or filled lumens — liver plates, epithelia, plant epidermis, cartilage, adipose."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import TissueParams
from micro.core.microscope.generators.histology import texture
from micro.core.microscope.raster import Canvas, band, draw, worley
from micro.core.microscope.registry import Ctx, generator


@generator("tissue")
def tissue(canvas: Canvas, ctx: Ctx) -> None:
    """Params: cell_um (cell diameter), aspect and angle_deg (elongated cells), wall_um (wall
    or membrane thickness), body_amount, wall_amount, nucleus_um, nucleus_prob,
    nucleus_amount, lumen_frac (cells left empty or filled with part 'lumen'), lumen_amount,
    texture_um (granular texture scale), inclusion_amount (part
    'inclusion': glycogen, lipid or pigment within the cytoplasm), region_um + region_frac (large-scale patches where
    the tissue is absent: alveoli, vessels)."""
    prm = ctx.params(TissueParams)
    w = canvas.window
    cell = prm.cell_um
    aspect = prm.aspect
    angle = np.deg2rad(prm.angle_deg)
    d1, d2, near, table, seeds = worley(w, ctx.seed, cell / np.sqrt(aspect), aspect, angle,
                                        prm.jitter, 8)
    lumen_frac = prm.lumen_frac
    is_lumen = table[near, 2] < lumen_frac
    edge = (d2 - d1) / 2
    wall_um = prm.wall_um
    wall = band(edge, wall_um, w.px_um)
    inside = 1.0 - wall
    region_um = prm.region_um
    present = np.ones_like(d1)
    if region_um > 0:
        rd1, rd2, rnear, rtab, _ = worley(w, ctx.seed ^ 0x5EED, region_um, 1.0, 0.0, 0.9, 4)
        hole = rtab[rnear, 2] < prm.region_frac
        present = np.where(hole, np.clip((rd1 - region_um * 0.45) / region_um * 6, 0, 1), 1.0)
    tex: float | np.ndarray = 1.0
    tex_um = prm.texture_um
    if tex_um > 0:
        tex = 0.75 + 0.5 * texture(w, ctx.seed ^ 0x7E47, tex_um)
    label = ctx.pop.label
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    tint = 0.85 + 0.3 * table[near, 3]
    body = ctx.cls("body")
    if body:
        amt = (np.where(is_lumen, 0.0, inside * tint * tex) * present
               * prm.body_amount)
        canvas.add(layer, body, amt.ravel().astype(np.float32))
        canvas.add_label(label, amt.ravel().astype(np.float32))
        inclusion = ctx.cls("inclusion")
        if inclusion:
            grain = 0.5 + texture(w, ctx.seed ^ 0x61C0, 0.8)
            canvas.add(layer, inclusion, (amt * grain * prm.inclusion_amount
                                          ).ravel().astype(np.float32))
    wall_cls = ctx.cls("wall")
    if wall_cls:
        wl = wall * present * prm.wall_amount
        canvas.add(layer, wall_cls, wl.ravel().astype(np.float32))
        props = canvas.structures[wall_cls]
        if props.birefringence_retardance_nm > 0:
            gy, gx = np.gradient(edge)
            ang = np.arctan2(gy, gx) + np.pi / 2  # slow axis along the wall
            r = wl * props.birefringence_retardance_nm
            canvas.add_retardance(layer, (r * np.cos(2 * ang)).ravel().astype(np.float32),
                                  (r * np.sin(2 * ang)).ravel().astype(np.float32))
    lumen_cls = ctx.cls("lumen")
    if lumen_cls:
        lm = np.where(is_lumen, inside, 0.0) * present * prm.lumen_amount
        canvas.add(layer, lumen_cls, lm.ravel().astype(np.float32))
    nucleus = ctx.cls("nucleus")
    if nucleus:
        nuc_um = prm.nucleus_um if prm.nucleus_um is not None else cell * 0.3
        nprob = prm.nucleus_prob
        ids = np.flatnonzero(np.bincount(near.ravel(), minlength=len(table)))  # cells seen
        ok = (table[ids, 2] >= lumen_frac) & (table[ids, 4] < nprob)
        ids = ids[ok]
        sx, sy = seeds[ids, 0], seeds[ids, 1]
        # nuclei of cells whose centre fell in a region hole are not drawn
        if region_um > 0:
            ix = np.clip(((sx - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
            iy = np.clip(((sy - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
            keep = present[iy, ix] > 0.5
            ids, sx, sy = ids[keep], sx[keep], sy[keep]
        r = nuc_um / 2 * (0.85 + 0.3 * table[ids, 5])
        draw(canvas, nucleus, sx, sy, r * 1.1, r, np.pi * table[ids, 6], z_um=z,
             profile="dome", amount=prm.nucleus_amount,
             label=label + "-nucleus")

"""Fibrous tissue: connective-tissue septa that replace parenchyma (fibrosis) and vessels
(muscle lives in `muscle`)."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import SeptaParams, VesselsParams
from micro.core.microscope.generators.blood import carve
from micro.core.microscope.generators.histology import red_cells
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas, value_noise, worley
from micro.core.microscope.registry import Ctx, generator


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    if cls:
        canvas.add(layer, cls, amt.ravel().astype(np.float32))
        if label:
            canvas.add_label(label, amt.ravel().astype(np.float32))


@generator("septa")
def septa(canvas: Canvas, ctx: Ctx) -> None:
    """Bridging fibrous septa (cirrhosis): bands of collagen along the borders of large
    regenerative nodules (size_um = nodule diameter), replacing whatever earlier
    populations drew there. Params: width_um, wavy (0–1), cells (fibroblast nuclei per
    100 µm of septum). Parts: septum, nucleus."""
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    d1, d2, near, table, _ = worley(w, ctx.seed, float(np.mean(ctx.pop.size_um)), 1.0, 0.0,
                                    0.9, 4)
    wob = (value_noise(w, ctx.seed ^ 0x5E, 60.0) - 0.5) * ctx.params(SeptaParams).wavy * 40
    edge = (d2 - d1) / 2 + wob
    width = ctx.params(SeptaParams).width_um * (0.6 + 0.8 * table[near, 2])
    sep = np.clip(1.0 - np.abs(edge) / (width / 2), 0.0, 1.0) ** 0.5
    carve(canvas, layer, (1.0 - sep).ravel())
    fibres = 0.75 + 0.5 * value_noise(w, ctx.seed ^ 0xC0, 3.0)
    _add(canvas, layer, ctx.cls("septum"), sep * fibres, ctx.pop.label)
    cls = ctx.cls("septum")
    if cls:
        r = canvas.structures[cls].birefringence_retardance_nm
        if r > 0:
            ang = np.arctan2(*np.gradient(edge)) + np.pi / 2
            amt = sep * fibres * r
            canvas.add_retardance(layer, (amt * np.cos(2 * ang)).ravel().astype(np.float32),
                                  (amt * np.sin(2 * ang)).ravel().astype(np.float32))
    nucleus = ctx.cls("nucleus")
    if nucleus:
        x, y, u = ctx.points(ctx.params(SeptaParams).nucleus_spacing_um, 6.0, 5)
        ix = np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
        iy = np.clip(((y - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
        ok = sep[iy, ix] > 0.3
        draw(canvas, nucleus, x[ok], y[ok], 3.5, 1.2, np.pi * u[ok, 2], z_um=z,
             profile="dome", amount=0.9)


def coverage(canvas: Canvas, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Anti-aliased area coverage (0–1 per pixel, flat (H·W,)) of discs, drawn on a scratch
    canvas with the same window."""
    scratch = Canvas(canvas.window, [0.0], canvas.structures)
    cls = next(iter(canvas.structures))
    draw(scratch, cls, x, y, r, r, profile="flat", retardance_nm=0.0)
    got = scratch.amounts.get((0, cls))
    return np.zeros(canvas.npix) if got is None else got.astype(np.float64)


def _in_tissue(canvas: Canvas, layer: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether earlier populations put any material in `layer` at these points (µm)."""
    w = canvas.window
    maps = [a for (li, _cls), a in canvas.amounts.items() if li == layer]
    if not maps:
        return np.ones(np.shape(x), dtype=bool)
    ix = np.clip(((x - w.x0_um) / w.px_um).astype(int), 0, w.width - 1)
    iy = np.clip(((y - w.y0_um) / w.px_um).astype(int), 0, w.height - 1)
    flat = iy * w.width + ix
    return sum(a[flat] for a in maps) > 0.05


@generator("vessels")
def vessels(canvas: Canvas, ctx: Ctx) -> None:
    """Round vessels cut across (central veins, arterioles): the lumen clears earlier
    tissue, an endothelial/adventitial wall rings it, some red cells lie inside;
    `within_tissue` keeps them out of places earlier populations left empty.
    Parts: wall, rbc, nucleus."""
    layer, z = _layer(canvas, ctx)
    n = 24
    x, y, u = ctx.points(ctx.spacing(), ctx.pop.size_um[1], 8 + 3 * n)
    prm = ctx.params(VesselsParams)
    keep = u[:, 2] < prm.presence
    if prm.within_tissue:
        # none where nothing was drawn before (the air above a skin surface), judged at the
        # vessel's centre or the nearest pixel of the window
        keep &= _in_tissue(canvas, layer, x, y)
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    R = ctx.size(u[:, 3]) / 2
    wall_um = prm.wall_um
    lumen = coverage(canvas, x, y, R)
    outer = coverage(canvas, x, y, R + wall_um)
    clear = 1.0 - np.clip(outer, 0.0, 1.0)
    ring = np.clip(outer - lumen, 0.0, 1.0)
    carve(canvas, layer, clear)
    _add(canvas, layer, ctx.cls("wall"), ring, ctx.pop.label)
    rbc, hb = red_cells(canvas, ctx)
    if rbc:
        uu = u[:, 8:8 + 3 * n].reshape(-1, 3)
        rr = np.sqrt(uu[:, 0]) * np.repeat(R, n) * 0.85
        ph = 2 * np.pi * uu[:, 1]
        ok = uu[:, 2] < prm.rbc_fill
        draw(canvas, rbc, (np.repeat(x, n) + rr * np.cos(ph))[ok],
             (np.repeat(y, n) + rr * np.sin(ph))[ok], 3.7, 3.7, z_um=z,
             profile="biconcave", amount=hb)

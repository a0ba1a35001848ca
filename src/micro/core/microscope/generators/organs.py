"""Organ architecture for histology sections: skin, intestinal villi, kidney cortex, lung
alveoli, hyaline cartilage, adipose tissue and the spinal cord with its motor neurons.
Each is laid out on the pixel grid of the window from the slide seed (no per-structure
Python loop), so any window at any magnification shows the same tissue."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.fibers import coverage
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import Window
from micro.core.microscope.raster import Canvas, band, value_noise, worley
from micro.core.microscope.registry import Ctx, generator


def _layer(canvas: Canvas, ctx: Ctx) -> tuple[int, float]:
    z = float(np.mean(ctx.pop.z_um))
    return int(canvas.layer_of(np.array([z]))[0]), z


def _add(canvas: Canvas, layer: int, cls: str | None, amt: np.ndarray,
         label: str | None = None) -> None:
    if cls:
        flat = np.clip(amt, 0.0, None).ravel().astype(np.float32)
        canvas.add(layer, cls, flat)
        if label:
            canvas.add_label(label, flat)


def walls(w: Window, seed: int, spacing: float, width: float, jitter: float = 0.9
          ) -> np.ndarray:
    """Cell-wall (or myelin-ring) density of a fine Voronoi net; when pixels are coarser
    than the net, its area-averaged value (no aliasing, no wasted work at low power)."""
    mean = min(1.0, 2.0 * width / spacing)
    if w.px_um > spacing / 2:
        return np.full((w.height, w.width), mean)
    d1, d2, *_ = worley(w, seed, spacing, 1.0, 0.0, jitter, 2)
    return band((d2 - d1) / 2, width, w.px_um)


def _nuclei(canvas: Canvas, ctx: Ctx, cls: str | None, x: np.ndarray, y: np.ndarray,
            u: np.ndarray, keep: np.ndarray, r_um: float, z: float, amount: float = 1.0,
            elong: float = 1.2, theta: np.ndarray | float | None = None,
            label: str | None = None) -> None:
    if not cls or not keep.any():
        return
    th = np.pi * u[keep, 3] if theta is None else np.broadcast_to(theta, x.shape)[keep]
    r = r_um * (0.85 + 0.3 * u[keep, 4])
    draw(canvas, cls, x[keep], y[keep], r * elong, r / elong, th, z_um=z, profile="dome",
         amount=amount, label=label)


@generator("skin")
def skin(canvas: Canvas, ctx: Ctx) -> None:
    """Thick skin cut perpendicular to the surface (surface along y = surface_um): stratum
    corneum (keratin), living epidermis of polygonal keratinocytes, a basal layer with
    melanin, rete ridges interlocking with dermal papillae, and dermis of collagen bundles
    with fibroblasts. Parts: keratin, cytoplasm, nucleus, melanin, collagen."""
    w = canvas.window
    layer, z = _layer(canvas, ctx)
    X, Y = w.grids()
    top = float(ctx.p("surface_um", -140.0))
    corneum = float(ctx.p("corneum_um", 40.0))
    px = max(w.px_um, 0.5)
    surf = top + 6 * np.sin(X / 37.0)
    junction = top + corneum + 90 + 30 * np.sin(2 * np.pi * X / 140.0)
    deep = float(ctx.p("depth_um", 1800.0))
    in_corn = np.clip((Y - surf) / px + 0.5, 0, 1) * np.clip((surf + corneum - Y) / px + 0.5,
                                                             0, 1)
    in_epi = np.clip((Y - surf - corneum) / px + 0.5, 0, 1) * np.clip(
        (junction - Y) / px + 0.5, 0, 1)
    in_derm = np.clip((Y - junction) / px + 0.5, 0, 1) * np.clip((top + deep - Y) / px, 0, 1)
    lab = ctx.pop.label
    flakes = 0.7 + 0.6 * value_noise(w, ctx.seed ^ 1, 4.0)
    _add(canvas, layer, ctx.cls("keratin"), in_corn * flakes, lab + "-corneum")
    cellwall = walls(w, ctx.seed ^ 2, 11.0, 0.8)
    _add(canvas, layer, ctx.cls("cytoplasm"), in_epi * (1 - 0.5 * cellwall), lab + "-epidermis")
    bundles = 0.55 + 0.7 * value_noise(w, ctx.seed ^ 3, 12.0)
    _add(canvas, layer, ctx.cls("collagen"), in_derm * bundles, lab + "-dermis")
    x, y, u = ctx.points(9.0, 8.0, 6)
    sx = top + 6 * np.sin(x / 37.0)
    jy = top + corneum + 90 + 30 * np.sin(2 * np.pi * x / 140.0)
    epi = (y > sx + corneum + 4) & (y < jy - 3) & (u[:, 2] < 0.8)
    # nuclei flatten towards the surface (stratum granulosum) and crowd the basal layer
    flat = np.clip((jy - y) / 60.0, 0.0, 1.0)
    _nuclei(canvas, ctx, ctx.cls("nucleus"), x, y, u, epi, 3.2, z, 0.9,
            elong=1.0 + 0.8 * float(np.mean(flat[epi])) if epi.any() else 1.2,
            theta=np.zeros_like(x), label=lab + "-nucleus")
    basal = (y > jy - 9) & (y < jy - 2)
    mel = ctx.cls("melanin")
    if mel and basal.any():
        draw(canvas, mel, x[basal], y[basal] - 3, 1.2, 0.9, z_um=z, profile="dome",
             amount=0.5 * u[basal, 5])
    x2, y2, u2 = ctx.points(45.0, 8.0, 6)
    jy2 = top + corneum + 90 + 30 * np.sin(2 * np.pi * x2 / 140.0)
    fib = (y2 > jy2 + 10) & (y2 < top + deep)
    _nuclei(canvas, ctx, ctx.cls("nucleus"), x2, y2, u2, fib, 2.6, z, 0.9, elong=2.2)


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
    amt = amt * (0.9 + 0.2 * value_noise(w, ctx.seed ^ 9, 25.0).ravel())
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

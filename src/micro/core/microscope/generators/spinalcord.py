"""Spinal cord in cross-section: an oval cord with the ventral median fissure and the
dorsal median septum; one connected butterfly of grey matter (broad ventral horns, slender
dorsal horns reaching towards the dorsolateral surface, the grey commissure with the
central canal); white matter of myelinated axons cut across around it; large multipolar
motor neurons with coarse Nissl substance, a pale nucleus and a dark nucleolus in the
ventral horns, smaller neurons elsewhere in the grey, glial nuclei everywhere."""

from __future__ import annotations

import numpy as np

from micro.core.genparams import SpinalCordParams
from micro.core.microscope.generators.histology import (
    F32,
    cells_at,
    grid,
    hypot,
    inside,
    layer_of,
    limited,
    noise_at,
    nuclei,
    put,
    scatter,
    section,
    stamp_grid,
    texture,
)
from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


def _segment(ax: np.ndarray, y: np.ndarray, a: tuple[float, float], b: tuple[float, float],
             ra: float, rb: float) -> np.ndarray:
    """Signed distance to a tapered capsule from a (radius ra) to b (radius rb)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = np.clip(((ax - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy), 0, 1)
    return hypot(ax - a[0] - t * dx, y - a[1] - t * dy) - (ra + (rb - ra) * t)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0, 1)
    return b + (a - b) * h - k * h * (1 - h)


def cord(x: np.ndarray, y: np.ndarray, seed: int, height_um: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """Signed distances (µm, negative inside) to the cord's surface and to its grey matter,
    at points x, y (dorsal up: −y; ventral down: +y; centre at the origin)."""
    R = height_um / 2
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ax = np.abs(x).astype(F32) / R
    yy = y.astype(F32) / R
    ph = np.arctan2(yy, ax)
    body = hypot(ax / 1.25, yy) - (1 + 0.03 * np.cos(3 * ph) - 0.04 * np.sin(ph))
    fissure = _segment(ax, yy, (0.0, 0.55), (0.0, 1.1), 0.006, 0.03)
    septum = _segment(ax, yy, (0.0, -0.12), (0.0, -1.1), 0.003, 0.012)
    outline = np.maximum(body, -fissure)
    outline = np.maximum(outline, -septum) * R
    k = 0.07
    g = _segment(ax, yy, (0.0, 0.0), (0.2, 0.0), 0.075, 0.09)
    g = _smin(g, _segment(ax, yy, (0.18, 0.0), (0.34, 0.08), 0.12, 0.15), k)
    g = _smin(g, _segment(ax, yy, (0.34, 0.12), (0.47, 0.42), 0.18, 0.17), k)
    g = _smin(g, _segment(ax, yy, (0.26, -0.05), (0.38, -0.45), 0.1, 0.085), k)
    g = _smin(g, _segment(ax, yy, (0.38, -0.45), (0.5, -0.74), 0.085, 0.05), k * 0.5)
    # |x| of a window's grid is still a grid (each column one value): noise_at's fast path
    absx = np.broadcast_to(np.abs(x[:1]), x.shape) if x.ndim == 2 and x.strides[0] == 0 \
        else np.abs(x)
    wob = (noise_at(absx, y, seed ^ 0x6E7, 0.12 * R) - 0.5) * 0.06
    grey = (g + wob) * R
    return outline, grey


@generator("spinal-cord")
def spinal_cord(canvas: Canvas, ctx: Ctx) -> None:
    """Spinal cord (cord_um = dorso-ventral height; size_um = motor neuron soma diameter,
    density_per_mm2 = motor neurons per mm² of ventral horn). Parts: neuropil, myelin, axon,
    neuron, nissl, nucleus, nucleolus. Labels: grey-matter, white-matter, central-canal,
    motor-neuron, neuron-nucleus, glia."""
    w = canvas.window
    layer, _z = layer_of(canvas, ctx)
    px = w.px_um
    H = ctx.params(SpinalCordParams).cord_um
    X, Y = grid(w)
    outline, grey = cord(X, Y, ctx.seed, H)
    tissue = inside(outline, px)
    canal_r = 0.006 * H
    canal = inside(hypot(X, Y) - canal_r, px)
    gm = inside(grey, px) * tissue * (1 - canal)
    wm = np.clip(tissue - gm - canal, 0, 1)
    put(canvas, layer, None, gm, "grey-matter")
    put(canvas, layer, None, wm, "white-matter")
    put(canvas, layer, None, canal, "central-canal")
    felt = 0.8 + 0.4 * texture(w, ctx.seed ^ 4, 3.0)
    put(canvas, layer, ctx.cls("neuropil"), gm * felt * 0.45)
    # white matter: myelin rings around axons 1–8 µm across (their area mean when the pixel
    # is larger), pale in Nissl stains, coarse blue-black in osmium
    if px < 2.5:
        fib = cells_at(X, Y, ctx.seed ^ 3, 4.5, 0.9, 3, second=False)
        ax_r = 0.6 + 1.6 * fib.u[..., 2].astype(F32)
        ring = inside(np.abs(fib.d1 - ax_r - 0.6) - 0.6, px)
        ring = limited(ring, 0.45, 1.2, px)
        axon = inside(fib.d1 - ax_r, px)
    else:
        ring, axon = np.full(X.shape, 0.45, F32), np.full(X.shape, 0.2, F32)
    put(canvas, layer, ctx.cls("myelin"), wm * ring * 1.3)
    put(canvas, layer, ctx.cls("axon"), wm * limited(axon, 0.2, 1.5, px) * 0.6)
    pia = inside(np.abs(outline + 3.0) - 3.0, px)
    put(canvas, layer, ctx.cls("neuropil"), pia * 0.8)
    _glia(canvas, ctx, layer, H)
    _neurons(canvas, ctx, layer, H)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _glia(canvas: Canvas, ctx: Ctx, layer: int, H: float) -> None:
    """Glial nuclei (denser in grey matter) and the ependymal ring of the central canal."""
    nuc = ctx.cls("nucleus")
    x, y, u = ctx.points(13.0, 5.0, 8)
    o, g = cord(x, y, ctx.seed, H)
    canal_r = 0.006 * H
    rr = hypot(x, y)
    keep = (o < -4) & (rr > canal_r + 3) & (u[:, 2] < np.where(g < 0, 0.75, 0.4))
    nuclei(canvas, layer, nuc, x[keep], y[keep], 2.5, 2.1, 6.3 * u[keep, 3], u[keep], 1.0,
           label="glia")
    n = int(2 * np.pi * (canal_r + 3.5) / 4.0)  # ependymal cells ~4 µm wide round the canal
    k = np.arange(n)
    u = uniforms(ctx.seed ^ 0xE9, k, np.zeros(n, np.int64), 8)
    ang = 2 * np.pi * (k + 0.3 * (u[:, 0] - 0.5)) / n
    rr = canal_r + 3.5 + 1.5 * (u[:, 1] - 0.5)
    ep = u[:, 2] < 0.8
    nuclei(canvas, layer, nuc, (rr * np.cos(ang))[ep], (rr * np.sin(ang))[ep], 3.0, 1.8,
           ang[ep], u[ep], 1.1)


def _neurons(canvas: Canvas, ctx: Ctx, layer: int, H: float) -> None:
    """Motor neurons in the ventral horns (size_um, at density_per_mm2) and smaller
    neurons in the dorsal horns and intermediate grey: a soma with 3–5 tapering dendrites,
    coarse Nissl granules in soma and proximal dendrites, a pale nucleus, dark nucleolus."""
    w = canvas.window
    R = H / 2
    spacing = ctx.spacing()
    x, y, u = ctx.points(spacing, 3 * ctx.pop.size_um[1], 14)
    _, g = cord(x, y, ctx.seed, H)
    motor = (g < -25) & (y > 0.12 * R) & (np.abs(x) > 0.22 * R) & (u[:, 2] < 0.8)
    D = np.where(motor, ctx.size(u[:, 3]), 0.0)
    x2, y2, u2 = ctx.points(spacing * 0.7, 60.0, 14)
    _, g2 = cord(x2, y2, ctx.seed, H)
    small = (g2 < -15) & ~((y2 > 0.12 * R) & (np.abs(x2) > 0.22 * R)) & (u2[:, 2] < 0.6)
    x = np.concatenate([x[motor], x2[small]])
    y = np.concatenate([y[motor], y2[small]])
    u = np.concatenate([u[motor], u2[small]])
    D = np.concatenate([D[motor], 15.0 + 12.0 * u2[small, 3]])
    is_motor = np.arange(x.size) < int(motor.sum())
    if x.size == 0:
        return
    reach = float(D.max()) * 1.6
    margin = reach + 2 * w.px_um
    vis = ((x > w.x0_um - margin) & (x < w.x0_um + w.width_um + margin)
           & (y > w.y0_um - margin) & (y < w.y0_um + w.height_um + margin))
    x, y, u, D, is_motor = x[vis], y[vis], u[vis], D[vis], is_motor[vis]
    if x.size == 0:
        return
    px = w.px_um
    n_stamp = (2 * int(np.ceil(reach / px)) + 3) ** 2
    chunk = max(1, 250_000 // n_stamp)
    acc = {k: np.zeros(canvas.npix, F32) for k in ("soma", "nissl", "nuc", "nucl")}
    f_nissl = float(np.clip(2.0 / px - 0.5, 0, 1)) if px < 1.5 else 0.0
    for s in range(0, x.size, chunk):
        sl = slice(s, s + chunk)
        uu, vv, idx, ok = stamp_grid(w, x[sl], y[sl], reach)
        g = u[sl].astype(F32)
        r = (D[sl] / 2).astype(F32)[:, None, None]
        rho = hypot(uu, vv)
        phi = np.arctan2(vv, uu)
        rs = r * (1 + 0.12 * np.cos(2 * phi + 6.3 * g[:, 4, None, None])
                  + 0.08 * np.cos(3 * phi + 6.3 * g[:, 5, None, None]))
        cell = inside(rho - rs, px)
        nd = 3 + (g[:, 6] * 2.99).astype(int)
        for k in range(5):
            th = (6.2832 * (g[:, 7] + k / nd + 0.08 * g[:, 8 + k % 5])).astype(F32)[:, None, None]
            along = uu * np.cos(th) + vv * np.sin(th)
            ln = r * (1.3 + 1.0 * g[:, 9 + k % 4, None, None])
            bend = (g[:, 8 + k % 5, None, None] - 0.5) * 0.6 * along ** 2 / ln
            perp = np.abs(vv * np.cos(th) - uu * np.sin(th) - bend)
            t = np.clip(along / ln, 0, 1)
            wid = r * 0.42 * (1 - t) ** 0.8 + 0.5
            den = inside(perp - wid, px) * (along > 0) * inside(along - ln, px)
            cell = np.maximum(cell, np.where((k < nd)[:, None, None], den, 0))
        rn = r * 0.3
        nx = r * 0.15 * (g[:, 10, None, None] - 0.5)
        ny = r * 0.15 * (g[:, 11, None, None] - 0.5)
        nrho = hypot(uu - nx, vv - ny)
        nucleus = inside(nrho - rn, px)
        nucleolus = inside(hypot(uu - nx - 0.3 * rn, vv - ny) - np.maximum(rn * 0.28, 1.2),
                           px)
        # Nissl bodies: coarse clumps (~1–2 µm) in the soma and proximal dendrites
        if f_nissl > 0:
            gx = x[sl, None, None] + uu
            gy = y[sl, None, None] + vv
            clumps = np.clip((noise_at(gx, gy, ctx.seed ^ 0x4155, 1.3) - 0.42) * 4, 0, 1)
            clumps = 0.45 + f_nissl * (clumps * 1.3 - 0.45)
        else:
            clumps = np.full(uu.shape, 0.45, F32)
        body = cell * (1 - nucleus)
        prox = np.exp(-np.clip(rho - r, 0, None) / (r * 0.8))
        amt = (0.85 + 0.3 * g[:, 13, None, None])
        acc["soma"] += scatter(canvas.npix, idx, ok, cell * amt * 0.5)
        acc["nissl"] += scatter(canvas.npix, idx, ok, body * clumps * prox * amt * 1.3)
        acc["nuc"] += scatter(canvas.npix, idx, ok, nucleus * 0.25 * cell)
        acc["nucl"] += scatter(canvas.npix, idx, ok, nucleolus * 1.3)
        mot = is_motor[sl][:, None, None]
        canvas.add_label("motor-neuron", scatter(canvas.npix, idx, ok, cell * mot))
        canvas.add_label("neuron-nucleus", scatter(canvas.npix, idx, ok, nucleus))
    for part, key in (("neuron", "soma"), ("nissl", "nissl"), ("nucleus", "nuc"),
                      ("nucleolus", "nucl")):
        put(canvas, layer, ctx.cls(part), acc[key])

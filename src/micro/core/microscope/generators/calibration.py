"""Calibration slides: fluorescent beads, the USAF 1951 target, a stage micrometer."""

from __future__ import annotations

from typing import Any

import numpy as np

from micro.core.genparams import BeadsParams, MicrometerParams, UsafParams
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator


def bead_pairs(params: dict[str, Any]) -> list[tuple[float, float, float]]:
    """The ladder of bead pairs: (x_um, y_um, separation_um) of each pair's midpoint.

    Pairs sit on a horizontal line at `ladder_y_um`, `ladder_pitch_um` apart, their
    separations running from `ladder_min_um` to `ladder_max_um` in `ladder_step_um` steps.
    """
    p = BeadsParams.model_validate(dict(params))
    lo, step, pitch, x0 = p.ladder_min_um, p.ladder_step_um, p.ladder_pitch_um, p.ladder_x0_um
    n = round((p.ladder_max_um - lo) / step) + 1
    return [(x0 + k * pitch, p.ladder_y_um, round(lo + k * step, 6)) for k in range(n)]


def bead_singles(params: dict[str, Any]) -> list[tuple[float, float]]:
    """Isolated beads on a square grid (`grid_pitch_um`) below the ladder, for PSF fits."""
    p = BeadsParams.model_validate(dict(params))
    pitch, n, y0, x0 = p.grid_pitch_um, p.grid_n, p.grid_y0_um, p.ladder_x0_um
    return [(x0 + i * pitch, y0 + j * pitch) for j in range(n) for i in range(n)]


@generator("beads")
def beads(canvas: Canvas, ctx: Ctx) -> None:
    """Sub-resolution beads: a sparse random field, a grid of singles and a ladder of pairs."""
    cls = ctx.cls("bead", "bead")
    assert cls is not None
    r = ctx.pop.size_um[0] / 2
    params: dict[str, Any] = dict(ctx.pop.params)
    prm = ctx.params(BeadsParams)
    band, amount, ly = prm.keep_clear_um, prm.amount, prm.ladder_y_um
    if ctx.pop.density_per_mm2 > 0:
        x, y, u = ctx.points(ctx.spacing(), 1.0, 4)
        keep = (np.abs(y - ly) > band) & (y < ly - band)
        draw(canvas, cls, x[keep], y[keep], r, r, z_um=ctx.z(u[keep, 2]), profile="dome",
             amount=amount, label=ctx.pop.label)
    pts = [(x - s / 2, y) for x, y, s in bead_pairs(params)]
    pts += [(x + s / 2, y) for x, y, s in bead_pairs(params)]
    pts += bead_singles(params)
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    draw(canvas, cls, xs, ys, r, r, z_um=ctx.pop.z_um[0], profile="dome", amount=amount,
         label=ctx.pop.label)


def usaf_bars(params: dict[str, Any]) -> list[tuple[int, int, float, float, float, float, float]]:
    """Every bar of a USAF 1951 target: (group, element, x, y, half_w, half_h, lp_per_mm).

    Element (g, e) has 2^(g + (e−1)/6) line pairs per mm; a bar is 1/(2·lp) mm wide and five
    times as long. Each element has three horizontal and three vertical bars. Groups are laid
    out as on the real target: each pair of groups half the size of the previous pair and
    nested towards the centre, even groups above the axis and odd ones below.
    """
    p = UsafParams.model_validate(dict(params))
    g_lo, g_hi = p.group_min, p.group_max
    out = []
    for g in range(g_lo, g_hi + 1):
        s = 1000.0 / (2 * 2.0**g)  # bar width (µm) of element 1
        x_left = 6.0 * s
        sign = -1.0 if g % 2 == 0 else 1.0
        y_cursor = 0.0
        for e in range(1, 7):
            lp = 2.0 ** (g + (e - 1) / 6)
            w = 1000.0 / (2 * lp)
            h = 5 * w
            y_top = y_cursor + w  # gap above the element
            cy = sign * (y_top + h / 2)
            for k in range(3):  # horizontal bars (measure vertical resolution)
                out.append((g, e, x_left + h / 2, sign * (y_top + w / 2 + 2 * w * k), h / 2,
                            w / 2, lp))
            for k in range(3):  # vertical bars (measure horizontal resolution)
                out.append((g, e, x_left + h + 2 * w + w / 2 + 2 * w * k, cy, w / 2, h / 2, lp))
            y_cursor = y_top + h
    return out


@generator("usaf-1951")
def usaf(canvas: Canvas, ctx: Ctx) -> None:
    cls = ctx.cls("bar", "chrome")
    assert cls is not None
    bars = np.array([b[2:6] for b in usaf_bars(ctx.pop.params)])
    w = canvas.window
    half = np.maximum(bars[:, 2], bars[:, 3])
    vis = ((bars[:, 0] + half > w.x0_um) & (bars[:, 0] - half < w.x0_um + w.width_um)
           & (bars[:, 1] + half > w.y0_um) & (bars[:, 1] - half < w.y0_um + w.height_um))
    b = bars[vis]
    draw(canvas, cls, b[:, 0], b[:, 1], b[:, 2], b[:, 3], z_um=ctx.pop.z_um[0], rect=True,
         label=ctx.pop.label)


def micrometer_lines(params: dict[str, Any]) -> list[tuple[float, float, float]]:
    """Stage micrometer rulings: (x_um, length_um, width_um) of each line; 1 mm in 10 µm
    divisions, every 5th line longer and every 10th longer still."""
    p = MicrometerParams.model_validate(dict(params))
    div, n, width, length = p.division_um, p.divisions, p.line_width_um, p.line_length_um
    x0 = -n * div / 2
    out = []
    for k in range(n + 1):
        scale = 1.6 if k % 10 == 0 else (1.3 if k % 5 == 0 else 1.0)
        out.append((x0 + k * div, length * scale, width))
    return out


@generator("micrometer")
def micrometer(canvas: Canvas, ctx: Ctx) -> None:
    cls = ctx.cls("line", "chrome")
    assert cls is not None
    lines = micrometer_lines(ctx.pop.params)
    base = ctx.params(MicrometerParams).base_y_um
    x = np.array([ln[0] for ln in lines])
    length = np.array([ln[1] for ln in lines])
    width = np.array([ln[2] for ln in lines])
    # the rulings stand on a common base line and rise upward (y grows downward on screen)
    y_bottom = base + length.max() / 2
    draw(canvas, cls, x, y_bottom - length / 2, width / 2, length / 2, z_um=ctx.pop.z_um[0],
         rect=True, label=ctx.pop.label)
    span = lines[-1][0] - lines[0][0]
    draw(canvas, cls, np.array([(lines[0][0] + lines[-1][0]) / 2]), np.array([y_bottom]),
         np.array([span / 2 + width[0] / 2]), np.array([width[0] / 2]), z_um=ctx.pop.z_um[0],
         rect=True, label=ctx.pop.label + "-base")

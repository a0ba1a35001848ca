"""What the microtome does to a section: its thickness varies smoothly (±10–15 %), a dull or
loose knife leaves chatter (bands of alternating thickness across the cutting direction),
and now and then the ribbon folds over on itself (a strip of double thickness). Tissue
generators multiply their amounts by `thickness`; the field is a pure function of the slide
seed and position, so it is the same at every objective."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.generators.layout import noise
from micro.core.microscope.lattice import Window, uniforms

FOLD_CELL_UM = 2500.0
"""Folds are drawn from a coarse lattice: at most one per cell of this size."""


def thickness(w: Window, seed: int, *, variation: float = 0.12, chatter: float = 0.12,
              chatter_period_um: float = 30.0, cut_angle: float = 0.3,
              fold_prob: float = 0.15) -> np.ndarray:
    """Relative section thickness (float32 (H, W), mean ≈ 1).

    variation: amplitude of the smooth thickness change over a few hundred µm; chatter:
    amplitude of knife chatter where it occurs (patches covering about a third of the
    slide), bands `chatter_period_um` apart running across the cutting direction
    `cut_angle` (radians); fold_prob: chance that a `FOLD_CELL_UM` square holds a fold.
    Periodic chatter finer than ~3 pixels fades to its mean instead of aliasing."""
    t = 1.0 + variation * (2.0 * noise(w, seed ^ 0x7A1, 350.0) - 1.0)
    if chatter > 0:
        fade = float(np.clip(chatter_period_um / (3.0 * w.px_um) - 0.5, 0.0, 1.0))
        if fade > 0:
            patch = np.clip((noise(w, seed ^ 0x3C5, 900.0) - 0.62) * 8.0, 0.0, 1.0)
            if patch.max() > 0:
                X, Y = w.grids()
                s = X * np.cos(cut_angle) + Y * np.sin(cut_angle)
                t = t + chatter * fade * patch * np.sin(2 * np.pi * s / chatter_period_um)
    if fold_prob > 0:
        t = t + _folds(w, seed, fold_prob)
    return np.asarray(t, dtype=np.float32)


def _folds(w: Window, seed: int, prob: float) -> np.ndarray | float:
    """Strips (20–70 µm wide, 0.6–2 mm long) where the section lies doubled: +1 thickness,
    a little more at the crease."""
    c = FOLD_CELL_UM
    i0 = int(np.floor((w.x0_um - c) / c))
    i1 = int(np.floor((w.x0_um + w.width_um + c) / c))
    j0 = int(np.floor((w.y0_um - c) / c))
    j1 = int(np.floor((w.y0_um + w.height_um + c) / c))
    gi, gj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="xy")
    u = uniforms(seed ^ 0xF01D, gi.ravel(), gj.ravel(), 6)
    out: np.ndarray | float = 0.0
    px = w.px_um
    xs = w.x0_um + (np.arange(w.width) + 0.5) * px
    ys = w.y0_um + (np.arange(w.height) + 0.5) * px
    for (i, j), r in zip(zip(gi.ravel(), gj.ravel(), strict=True), u, strict=True):
        if r[0] >= prob:
            continue
        x0, y0 = (i + r[1]) * c, (j + r[2]) * c
        ang = np.pi * r[3]
        half_len = 300.0 + 700.0 * r[4]
        width = 20.0 + 50.0 * r[5]
        # only the fold's bounding box is evaluated
        ex = abs(np.cos(ang)) * half_len + width
        ey = abs(np.sin(ang)) * half_len + width
        c0 = max(int((x0 - ex - w.x0_um) / px), 0)
        c1 = min(int((x0 + ex - w.x0_um) / px) + 2, w.width)
        r0 = max(int((y0 - ey - w.y0_um) / px), 0)
        r1 = min(int((y0 + ey - w.y0_um) / px) + 2, w.height)
        if c0 >= c1 or r0 >= r1:
            continue
        X = xs[None, c0:c1] - x0
        Y = ys[r0:r1, None] - y0
        along = X * np.cos(ang) + Y * np.sin(ang)
        across = -X * np.sin(ang) + Y * np.cos(ang)
        # the strip tapers at its ends; the crease (one edge) is the thickest part
        half_w = width / 2 * np.sqrt(np.clip(1.0 - (along / half_len) ** 2, 0.0, 1.0))
        inside = np.clip((half_w - np.abs(across)) / max(px, 0.5) + 0.5, 0.0, 1.0)
        crease = np.exp(-(((across - half_w) / 4.0) ** 2)) * (half_w > 1.0)
        if inside.any():
            if isinstance(out, float):
                out = np.zeros((w.height, w.width), dtype=np.float32)
            out[r0:r1, c0:c1] += (inside * (1.0 + 0.4 * crease)).astype(np.float32)
    return out

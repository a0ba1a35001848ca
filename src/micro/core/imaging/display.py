"""Shared display and measurement helpers for the imaging renderers."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from micro.core.imaging.phantom import Additive, Section, pure_masks
from micro.core.memory import IdentityCache


def window(values: np.ndarray, width: float, level: float) -> np.ndarray:
    """Window/level: (v − (L − W/2)) / W clipped to 0..1, float32."""
    return np.clip((values - (level - width / 2.0)) / width, 0.0, 1.0).astype(np.float32)


def auto_window(values: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    lo, hi = np.percentile(values, [lo_pct, hi_pct])
    return window(values, max(float(hi - lo), 1e-12), float(hi + lo) / 2.0)


def resize(img: np.ndarray, shape: tuple[int, int], order: int = 1) -> np.ndarray:
    """Resample a 2-D array to shape (bilinear by default), float32."""
    if img.shape == shape:
        return img.astype(np.float32, copy=False)
    zoom = (shape[0] / img.shape[0], shape[1] / img.shape[1])
    return ndimage.zoom(np.asarray(img, dtype=np.float32), zoom, order=order, mode="nearest",
                        grid_mode=True)


def tissue_means(raw: np.ndarray, add: Additive | Section, frac: np.ndarray, erode_px: int = 2,
                 min_px: int = 12) -> dict[str, float]:
    """Mean of `raw` over the pixels made wholly of each tissue (eroded), per tissue id."""
    masks = _masks(frac, erode_px)
    out: dict[str, float] = {}
    for t, m in zip(add.tissues, masks, strict=True):
        if m.sum() >= min_px:
            out[t] = round(float(raw[m].mean()), 4)
    return out


def largest_uniform(frac: np.ndarray, exclude: int, erode_px: int = 3) -> np.ndarray:
    """The biggest eroded single-tissue region (not the background), as a boolean mask."""
    masks = _masks(frac, erode_px)
    sizes = [(-1 if i == exclude else int(m.sum())) for i, m in enumerate(masks)]
    return masks[int(np.argmax(sizes))]


_MASKS: IdentityCache[np.ndarray] = IdentityCache("imaging.display.masks")


def _masks(frac: np.ndarray, erode_px: int) -> np.ndarray:
    return _MASKS.get(frac, (erode_px,), lambda: pure_masks(frac, erode_px))

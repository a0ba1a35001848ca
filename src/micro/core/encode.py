"""Encode a display image (float RGB or grey in 0..1) as JPEG, PNG, WebP or .npy bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 88
WEBP_QUALITY = 85


def to_uint8(display: np.ndarray) -> np.ndarray:
    """Quantize once, at the end: float 0..1 → uint8 (clipped)."""
    return (np.clip(display, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode(display: np.ndarray, fmt: str, raw: np.ndarray | None = None) -> bytes:
    """display: uint8, or float (H, W) / (H, W, 3) in 0..1 (quantized here).
    fmt: jpg|png|webp|npy (npy writes `raw`)."""
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, np.asarray(raw if raw is not None else display, dtype=np.float32),
                allow_pickle=False)
        return buf.getvalue()
    img = _image(display if display.dtype == np.uint8 else to_uint8(display))
    buf = io.BytesIO()
    if fmt == "jpg":
        img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=False)
    elif fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=WEBP_QUALITY, method=2)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buf.getvalue()


def _image(pixels: np.ndarray) -> Image.Image:
    """A Pillow image of uint8 (H, W) or (H, W, 3). Planar colour memory (a (3, H, W) array
    seen as (H, W, 3)) is merged plane by plane, several times faster than the transposing
    copy Pillow would make of it."""
    if pixels.ndim == 3 and not pixels.flags.c_contiguous:
        planes = [Image.fromarray(np.ascontiguousarray(pixels[..., c]))
                  for c in range(pixels.shape[2])]
        return Image.merge("RGB", planes)
    return Image.fromarray(pixels)

"""Stage 5 — display: detected signal → 8-bit RGB with brightness, contrast, gamma, the round
field stop of the eyepiece and an accurate scale bar. Work in float, quantize once."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from micro.core.memory import memoized
from micro.core.microscope.contrast import Signal
from micro.core.microscope.detector import Detected
from micro.core.microscope.flatfield import white_balance
from micro.core.microscope.setup import Setup

_SRGB_LUT_N = 4096
AFM_MIN_SPAN_NM = 1.0
"""Smallest height range of the AFM colour scale (nm): ~20× the 0.05 nm noise floor."""


@memoized("microscope.display.srgb_lut")
def _srgb_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, _SRGB_LUT_N)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return y.astype(np.float32)


@memoized("microscope.display.srgb_u8_lut")
def _srgb_u8_lut() -> np.ndarray:
    return (_srgb_lut() * 255.0 + 0.5).astype(np.uint8)


def srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light 0..1 → sRGB-encoded 0..1 (a lookup table: fast and exact to 1/4096)."""
    idx = (np.clip(linear, 0.0, 1.0) * (_SRGB_LUT_N - 1) + 0.5).astype(np.int32)
    return _srgb_lut()[idx]


def afm_colormap(t: np.ndarray) -> np.ndarray:
    """'afmhot': black → red → yellow → white."""
    t = np.clip(t, 0.0, 1.0)
    return np.moveaxis(np.stack([np.clip(2 * t, 0, 1), np.clip(2 * t - 0.5, 0, 1),
                                np.clip(2 * t - 1, 0, 1)]).astype(np.float32), 0, -1)


def to_linear_rgb(det: Detected, signal: Signal, s: Setup) -> np.ndarray:
    """(H, W, 3) linear display values, 1.0 = white. The memory is planar (channel by channel:
    a view of a (3, H, W) array) — every later pass runs on contiguous planes."""
    v = det.values
    if signal.kind == "height":
        # the height scale runs from just below the substrate to the tallest features, and
        # spans at least AFM_MIN_SPAN_NM, so a flat substrate's noise stays dark instead of
        # being stretched over the whole colour scale
        lo, hi = np.percentile(v[0], [1.0, 99.9])
        return afm_colormap((v[0] - lo) / max(hi - lo, AFM_MIN_SPAN_NM))
    if s.view == "camera" and signal.kind == "transmitted":
        # the camera's white balance, set for the lamp at its default level
        gains = white_balance(s.inst.light) / np.float32(0.8 * det.full_well_e)
        v = v * gains[:, None, None]
    elif s.view == "camera" and signal.kind != "electron":
        v = v * np.float32(1.0 / (0.8 * det.full_well_e))
    elif signal.kind == "electron":
        if s.req.mode == "tem":
            ref = float(np.percentile(v, 99.5))
            v = v / np.float32(max(ref, 1e-6) * 1.05)
        else:
            lo, hi = np.percentile(v, [0.5, 99.8])
            v = (v - np.float32(lo)) / np.float32(max(hi - lo, 1e-6)) * 0.9 + 0.05
    if signal.channels == ("R", "G", "B"):
        planes = v.astype(np.float32, copy=False)
    else:
        planes = np.zeros((3, *v.shape[1:]), dtype=np.float32)
        for c in range(v.shape[0]):
            for k in range(3):
                weight = float(signal.colors[c][k])
                if weight:
                    planes[k] += v[c] * np.float32(weight)
    return np.moveaxis(planes, 0, -1)


def finish(linear: np.ndarray, signal: Signal, s: Setup) -> np.ndarray:
    """Gamma, brightness/contrast, field stop → uint8 (H, W, 3), planar like `linear`."""
    req = s.req
    planes = np.moveaxis(linear, -1, 0)
    if signal.kind == "transmitted" and req.contrast == 1.0 and req.brightness == 0.0:
        # the common case in one lookup: linear light → sRGB → 8 bits
        idx = np.clip(planes, 0.0, 1.0)
        idx *= np.float32(_SRGB_LUT_N - 1)
        idx += np.float32(0.5)
        out = _srgb_u8_lut().take(idx.astype(np.uint16))
    else:
        disp = srgb(planes) if signal.kind == "transmitted" else np.clip(planes, 0.0, 1.0)
        if req.contrast != 1.0 or req.brightness != 0.0:
            disp = (disp - 0.5) * np.float32(req.contrast) + np.float32(0.5 + req.brightness)
        out = (np.clip(disp, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if s.view == "eyepiece":
        out = (out * field_stop(out.shape[1], out.shape[2])[None]).astype(np.uint8)
    return np.moveaxis(out, 0, -1)


@memoized("microscope.display.field_stop")
def field_stop(h: int, w: int) -> np.ndarray:
    """The eyepiece's round field stop (diameter = the image width), with a soft 1.5 px edge."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx + 0.5 - w / 2, yy + 0.5 - h / 2)
    return np.clip((w / 2 - r) / 1.5 + 0.5, 0.0, 1.0).astype(np.float32)


def nice_length_um(fov_um: float) -> float:
    """A 1-2-5 length near a fifth of the field of view."""
    target = fov_um / 5
    exp = 10 ** math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * exp <= target:
            return m * exp
    return exp


def format_length(um: float) -> str:
    if um >= 1000:
        return f"{um / 1000:g} mm"
    if um >= 1:
        return f"{um:g} µm"
    return f"{um * 1000:g} nm"


@memoized("microscope.display.font")
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support
        return ImageFont.load_default()


def scale_bar(img: np.ndarray, px_um: float, fov_um: float, eyepiece: bool) -> tuple[np.ndarray,
                                                                                     float]:
    """Burn in a scale bar whose length in pixels × pixel size is exactly its label."""
    h, w = img.shape[:2]
    length = nice_length_um(fov_um)
    n = max(1, round(length / px_um))
    thick = max(2, w // 128)
    margin = max(6, w // 32)
    x1 = w - margin - (w // 8 if eyepiece else 0)
    x0 = x1 - n
    y1 = h - margin - (h // 8 if eyepiece else 0)
    y0 = y1 - thick
    out = img if img.flags.writeable else img.copy()
    out[max(y0 - 1, 0):y1 + 1, max(x0 - 1, 0):x1 + 1] = 0  # black outline
    out[y0:y1, x0:x1] = 255  # the bar: exactly n pixels long
    font = _font(max(10, w // 40))
    text = format_length(length)
    stamp = _label_array(text, font)
    sh, sw = stamp.shape[:2]
    ty, tx = y0 - sh - 2, x1 - sw
    if ty >= 0 and tx >= 0:
        region = out[ty:ty + sh, tx:tx + sw].astype(np.float32)
        alpha = stamp[..., 3:4].astype(np.float32) / 255.0
        out[ty:ty + sh, tx:tx + sw] = (region * (1 - alpha) + stamp[..., :3] * alpha + 0.5
                                       ).astype(np.uint8)
    return out, length


@memoized("microscope.display.label_array")
def _label_array(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> np.ndarray:
    return np.asarray(_label_stamp(text, font))


def _label_size(d: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
                ) -> tuple[int, int]:
    tb = d.textbbox((0, 0), text.replace("µ", "u"), font=font)
    return int(tb[2] - tb[0]), int(tb[3] - tb[1])


@memoized("microscope.display.label_stamp")
def _label_stamp(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    """The label as an RGBA stamp. Pillow's built-in font has no 'µ', so it is drawn as a 'u'
    with a descender: the label reads correctly without any system font."""
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    tw, th = _label_size(probe, text, font)
    img = Image.new("RGBA", (tw + 16, th + 16), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x, y = 4, 2
    for i, part in enumerate(text.split("µ")):
        if i > 0:
            ub = d.textbbox((x, y), "u", font=font)
            d.text((x, y), "u", fill=(255, 255, 255, 255), font=font, stroke_width=2,
                   stroke_fill=(0, 0, 0, 255))
            left = ub[0] + 1
            tail = [(left, ub[1] + 1), (left, ub[3] + (ub[3] - ub[1]) // 2)]
            d.line(tail, fill=(0, 0, 0, 255), width=4)
            d.line(tail, fill=(255, 255, 255, 255), width=2)
            x = int(ub[2])
        if part:
            d.text((x, y), part, fill=(255, 255, 255, 255), font=font, stroke_width=2,
                   stroke_fill=(0, 0, 0, 255))
            x = int(d.textbbox((x, y), part, font=font)[2])
    return img

"""Stage 1, from a picture — an AI illustration as the specimen's scene.

A library view (`source=library`) is rendered by the one microscope pipeline: only its scene
differs. The illustration is the specimen's transmitted appearance (sRGB, decoded to linear
transmittance T per channel) over `width_um` × `height_um`, centred on the slide origin (x
right, y down, like the procedural scene); outside it the slide is clear mounting medium.
Bounded, not tiled: tiling would show the same cells again and again at low power, which no
slide does.

Its scene is one absorbance layer at the window's physical scale: three structure classes,
`illustration:r|g|b`, each a pure absorber of one colour channel, whose amount maps are the
illustration's absorbance A = −log10 T resampled to the window. Their coefficients carry no
optical path, scattering or height (a picture holds colour only), and no stain (the picture
already shows it). The contrast mode, optics (OTF, condenser, defocus, secondary spectrum),
slide artefacts, lamp and flatfield, detector, display and encoder are the pipeline's.

Where pictures come from is the caller's concern: anything with `find(specimen, stain)`
returning a `Picture` (`IllustrationStore`) will do; `micro.core.library` is the store over
the catalog's `images/` folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from micro.core import memory
from micro.core.microscope.quantities import BASE, Coefficients
from micro.core.microscope.scene import SCENES, Layer, Scene, layer_planes
from micro.core.microscope.setup import Setup
from micro.core.models import Specimen

PROVENANCE = "ai-illustration"
CLASSES = ("illustration:r", "illustration:g", "illustration:b")
"""The scene's structure classes: unit optical density in one colour channel each."""
MAX_OD = 4.0
"""Absorbance of a black pixel (T = 0 is clipped to 10⁻⁴; sRGB 1/255 is OD 3.5)."""


@dataclass(frozen=True)
class Picture:
    """A verified illustration, decoded."""

    key: str
    """How its store names it (`<specimen>/<stain>/<name>`)."""
    sha256: str
    width_um: float
    height_um: float
    transmittance: np.ndarray
    """(3, H, W) float32 linear transmittance, read-only."""
    about: Mapping[str, Any]
    """What the info shows of its provenance (model, created, depicts)."""

    @property
    def pixel_um(self) -> float:
        """Physical size of one illustration pixel: the finest detail it can hold, µm."""
        return self.width_um / self.transmittance.shape[2]


class IllustrationStore(Protocol):
    def find(self, specimen: str, stain: str) -> Picture:
        """The illustration of (specimen, stain) to render, else NotFound naming `source`."""
        ...


def plane_um(specimen: Specimen) -> float:
    """Depth the illustration sits at: the middle of the specimen's depth planes, the focus at
    which the procedural scene is sharp as a whole."""
    planes = layer_planes(specimen)
    return round((min(planes) + max(planes)) / 2, 3)


def build_illustration_scene(picture: Picture, s: Setup) -> Scene:
    """The picture's scene for the request's window (cached, like a procedural scene, so a
    focus stack or a change of light reuses it and its derived spectra)."""
    z = plane_um(s.specimen)
    key = ("illustration", picture.sha256, picture.width_um, picture.height_um, s.window, z)
    found, hit = memory.lookup(SCENES, key)
    if found:
        return hit
    t = resample(picture.transmittance, picture.width_um, picture.height_um, s)
    np.maximum(t, np.float32(10.0 ** -MAX_OD), out=t)
    stack = -np.log10(t).reshape(3, -1)
    h, w = s.shape
    layer = Layer(z, {c: stack[k].reshape(h, w) for k, c in enumerate(CLASSES)}, None,
                  (h, w), stack)
    scene = Scene(s.window, [layer], {}, s.specimen.medium_refractive_index)
    return memory.store(SCENES, key, scene, grows=scene.derived)


def coefficients(mode: str) -> Coefficients:
    """Per unit amount, optical density 1 in the class's channel. Reflected light on the
    stereo microscope passes the pigment twice (down and back up), so each pass holds half
    the absorbance the picture shows."""
    passes = 2 if mode == "stereo" else 1
    table = {}
    for k, c in enumerate(CLASSES):
        v = np.zeros(len(BASE))
        v[k] = 1.0 / passes
        v[BASE.index("cover")] = 1.0
        table[c] = v
    zero = np.zeros(len(BASE))
    return Coefficients(BASE, table, zero, zero, ())


def info(picture: Picture, s: Setup) -> dict[str, Any]:
    """What a library view adds to the render's info: its provenance, labelled."""
    return {
        "provenance": PROVENANCE,
        "illustration_pixel_um": round(picture.pixel_um, 6),  # its finest detail
        "illustration": {
            "image": picture.key + ".png",
            "sha256": picture.sha256,
            **picture.about,
            "width_um": picture.width_um,
            "height_um": picture.height_um,
            "pixel_size_um": round(picture.pixel_um, 6),
            "extent": "bounded: centred on the slide origin; clear glass outside it",
            "covered_fraction": round(covered_fraction(picture.width_um, picture.height_um,
                                                       s), 4),
            "note": "AI illustration — not a micrograph",
        },
    }


def resample(src: np.ndarray, width_um: float, height_um: float, s: Setup) -> np.ndarray:
    """The simulated window (margins included) of the slide: (3, H, W) float32 transmittance.

    The illustration spans [−width_um/2, width_um/2] × [−height_um/2, height_um/2]; outside it
    the slide is clear (1). Shrinking averages the illustration over each simulated pixel
    (a box filter: the area the pixel covers, as the procedural scene is rasterized);
    enlarging interpolates it (bicubic), since it holds no finer detail."""
    h, w = s.shape
    win = s.window
    px = s.px_um
    _, hs, ws = src.shape
    sx, sy = width_um / ws, height_um / hs  # µm per illustration pixel
    out = np.ones((3, h, w), dtype=np.float32)
    # output pixels that touch the illustration
    c0 = max(0, math.floor((-width_um / 2 - win.x0_um) / px))
    c1 = min(w, math.ceil((width_um / 2 - win.x0_um) / px))
    r0 = max(0, math.floor((-height_um / 2 - win.y0_um) / px))
    r1 = min(h, math.ceil((height_um / 2 - win.y0_um) / px))
    if c1 <= c0 or r1 <= r0:
        return out
    # pad with clear glass so the box (and the filter around it) stays inside the source
    pad = math.ceil(2 * max(px / sx, px / sy, 1.0)) + 2
    shrink = min(px / sx, px / sy) >= 1.0
    kernel = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
    box = ((win.x0_um + c0 * px + width_um / 2) / sx + pad,
           (win.y0_um + r0 * px + height_um / 2) / sy + pad,
           (win.x0_um + c1 * px + width_um / 2) / sx + pad,
           (win.y0_um + r1 * px + height_um / 2) / sy + pad)
    for c in range(3):
        padded = np.pad(src[c], pad, mode="constant", constant_values=1.0)
        im = Image.fromarray(padded)  # float32 (H, W) → mode "F"
        part = im.resize((c1 - c0, r1 - r0), kernel, box=box)
        out[c, r0:r1, c0:c1] = np.asarray(part, dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def covered_fraction(width_um: float, height_um: float, s: Setup) -> float:
    """Fraction of the image (margins excluded) that the illustration covers."""
    fw, fh = s.width * s.px_um, s.height * s.px_um
    x0, y0 = s.req.x_um - fw / 2, s.req.y_um - fh / 2
    ox = max(0.0, min(x0 + fw, width_um / 2) - max(x0, -width_um / 2))
    oy = max(0.0, min(y0 + fh, height_um / 2) - max(y0, -height_um / 2))
    return ox * oy / (fw * fh)

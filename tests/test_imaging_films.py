"""Plain films of the 3-D phantoms read as films: decoded default radiographs show the
landmarks a student looks for first (tolerances well inside what the anatomy gives).

* PA skull: the vault's rim, where the beam runs tangentially through centimetres of bone, is
  brighter than the brain seen through both tables.
* AP abdomen: the lung bases above the diaphragm are darker than the liver below it, on both
  sides.
"""

from __future__ import annotations

from io import BytesIO
from itertools import pairwise

import numpy as np
from PIL import Image

import micro
from micro.core.catalog import default_catalog

CAT = default_catalog()
N = 256


def _film(phantom: str) -> tuple[np.ndarray, float]:
    r = micro.render_imaging(catalog=CAT, instrument="digital-radiography", phantom=phantom,
                             size=N, format="png")
    img = np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0
    return img, float(r.info["fov_mm"]) / N


def test_skull_film_vault_rim_brighter_than_the_brain() -> None:
    img, px = _film("brain")
    row = img[int(N / 2 - 20 / px)]  # 20 mm above the ventricles: vault and brain only
    inside = np.nonzero(row > 0.05)[0]
    left, right = int(inside[0]), int(inside[-1])
    k = round(8 / px)
    quarter = (right - left) // 4
    brain = float(np.median(row[left + quarter:right - quarter]))
    for rim in (row[left:left + k].max(), row[right - k:right + 1].max()):
        assert rim > brain + 0.1, (rim, brain)
    assert 0.3 < brain < 0.9, "the brain behind the skull should be grey, not white or black"


def test_abdominal_film_lung_bases_darker_than_the_liver() -> None:
    img, px = _film("abdomen")

    def patch(x_mm: float, z_mm: float) -> float:
        i, j = int(N / 2 - z_mm / px), int(N / 2 + x_mm / px)
        return float(img[i - 4:i + 5, j - 4:j + 5].mean())

    liver = patch(-80, 40)  # the patient's right, under the right dome
    for x in (-95, 95):
        assert patch(x, 150) < liver - 0.15, (x, patch(x, 150), liver)


def test_line_pair_film_is_grey_and_bar_contrast_falls_with_frequency() -> None:
    """The line-pair test object on a plain film: the water slab is mid-grey (its dense
    aluminium bars must not stretch the window over it and leave it black), little of the
    inside is clipped, and the bars' contrast (bar centres minus gap centres, decoded)
    falls with spatial frequency: at 0.47 mm pixels the 10 lp/cm group (at the Nyquist
    limit) has blurred to a fraction of the 2 lp/cm group's contrast."""
    from scipy import ndimage

    img, px = _film("line-pairs")
    ph = CAT.phantoms["line-pairs"]
    x = (np.arange(N) + 0.5 - N / 2) * px
    v = img[np.hypot(x[None, :], x[:, None]) < 50.0]
    assert 0.15 < float(np.median(v)) < 0.6, np.median(v)
    assert v.std() > 0.04
    assert (v >= 0.995).mean() < 0.05 and (v <= 0.005).mean() < 0.01

    def mean_along(p: np.ndarray, w: np.ndarray) -> float:
        pts = p[None, :] + np.linspace(-4.0, 4.0, 9)[:, None] * w  # along the bar, ±4 mm
        rows, cols = N / 2 - pts[:, 1] / px - 0.5, N / 2 + pts[:, 0] / px - 0.5
        return float(ndimage.map_coordinates(img, [rows, cols], order=1).mean())

    bars = [s for s in ph.shapes if s.tissue == "aluminium"]
    freq, contrast = [], []
    for g in range(0, len(bars), 3):  # groups of three bars, bar width = gap = 1/(2f)
        c = np.array([b.center_mm for b in bars[g:g + 3]], dtype=float)
        u = (c[2] - c[0]) / np.linalg.norm(c[2] - c[0])
        w = np.array([-u[1], u[0]])
        bar = np.mean([mean_along(p, w) for p in c])
        gap = np.mean([mean_along(0.5 * (c[i] + c[i + 1]), w) for i in range(2)])
        freq.append(10.0 / (4.0 * bars[g].axes_mm[1]))  # lp/cm
        contrast.append(bar - gap)
    assert freq == sorted(freq)
    assert contrast[0] > 0.5, contrast
    assert all(b <= a + 0.01 for a, b in pairwise(contrast)), contrast
    assert contrast[-1] < 0.5 * contrast[0], contrast

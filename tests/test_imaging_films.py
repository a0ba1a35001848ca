"""Plain films of the 3-D phantoms read as films: decoded default radiographs show the
landmarks a student looks for first (tolerances well inside what the anatomy gives).

* PA skull: the vault's rim, where the beam runs tangentially through centimetres of bone, is
  brighter than the brain seen through both tables.
* AP abdomen: the lung bases above the diaphragm are darker than the liver below it, on both
  sides.
"""

from __future__ import annotations

from io import BytesIO

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

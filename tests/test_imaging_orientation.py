"""One orientation in every modality (radiological convention): the patient's right on the
image left, anterior at the top. A marker placed in the patient's right anterior quadrant
(x < 0 is the patient's right, +y anterior) must appear in the image's upper-left quadrant in
CT, MRI, PET, SPECT and the radiograph."""

from __future__ import annotations

import numpy as np
import pytest

from micro.core.catalog import default_catalog
from micro.core.imaging.render import _renderer
from micro.core.models import Phantom
from micro.core.requests import canonicalize_imaging

INSTRUMENTS = ("ct-64-slice", "mri-1-5t", "pet-ct", "spect-gamma-camera", "digital-radiography")


def _tissue(tid: str, mu: float, pd: float, t1: float, uptake: float) -> dict:
    mri = {"pd": pd, "t1_ms": t1, "t2_ms": 80, "t2s_ms": 40}
    return {"id": tid, "name": tid, "mu_per_cm_60kev": mu, "mu_per_cm_80kev": mu * 0.9,
            "mu_per_cm_100kev": mu * 0.84, "density_g_cm3": 1.0,
            "mri": {"1.5": mri, "3": mri, "7": mri}, "chemical_shift_ppm": 0.0,
            "speed_of_sound_m_s": 1540, "attenuation_db_cm_mhz": 0.5, "backscatter": 1.0,
            "scatterer_density": 1.0, "uptake": uptake}


def _marker_phantom(x_mm: float, y_mm: float) -> Phantom:
    disc = {"type": "ellipse", "angle_deg": 0.0, "mode": "replace"}
    return Phantom.model_validate({
        "id": "marker", "name": "marker", "description": "orientation marker",
        "fov_mm": 240, "background": "air", "modalities": ["ct", "mri", "pet", "spect", "xray"],
        "tissues": [_tissue("air", 0.0002, 0.0, 1000, 0.0),
                    _tissue("water", 0.206, 0.6, 2500, 1.0),
                    _tissue("marker", 0.6, 1.0, 250, 12.0)],
        "shapes": [{**disc, "tissue": "water", "center_mm": [0, 0], "axes_mm": [90, 70]},
                   {**disc, "tissue": "marker", "center_mm": [x_mm, y_mm],
                    "axes_mm": [12, 12]}],
    })


def _quadrant(img: np.ndarray) -> tuple[str, str]:
    """(up|down, left|right) of the brightest 0.5 % of the image's centroid."""
    thr = np.percentile(img, 99.5)
    rows, cols = np.nonzero(img >= thr)
    n = img.shape[0]
    return ("up" if rows.mean() < n / 2 else "down", "left" if cols.mean() < n / 2 else "right")


@pytest.mark.parametrize("x,y,where", [(-45, 30, ("up", "left")), (45, -30, ("down", "right"))])
def test_marker_in_same_quadrant_in_every_modality(x, y, where):
    cat = default_catalog()
    ph = _marker_phantom(x, y)
    for iid in INSTRUMENTS:
        req = canonicalize_imaging({"instrument": iid, "phantom": "abdomen"}, cat)
        inst = cat.instruments[iid]
        settings = dict(req.settings)
        if req.modality == "ct":
            settings.update(window=2000, level=400)  # the marker (bone-like) is brightest
        display, _, _ = _renderer(req.modality)(settings, ph, "default", inst, 128,
                                                np.random.default_rng(1))
        assert _quadrant(display) == where, iid

"""Defaults that show anatomy: every phantom in every modality it offers, rendered with the
default settings, is neither blank nor saturated inside the body."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.phantom import additive, fractions

INSTRUMENTS = {"ct": ("ct-64-slice",), "mri": ("mri-1-5t",), "pet": ("pet-ct",),
               "spect": ("spect-gamma-camera",), "xray": ("digital-radiography", "mammography"),
               "ultrasound": ("ultrasound-curvilinear",)}
N = 128
CAT = default_catalog()
CASES = [(pid, iid) for pid, ph in sorted(CAT.phantoms.items()) for m in ph.modalities
         for iid in INSTRUMENTS.get(m, ())]


def _interior(pid: str, modality: str, info: dict, display: np.ndarray) -> np.ndarray:
    if modality == "ultrasound":  # the scanned sector, below the first centimetre
        inside = display > 0
        inside[: N // 8] = False
        return ndimage.binary_erosion(inside, iterations=3)
    ph = CAT.phantoms[pid]
    add = additive(ph)
    fov = info["fov_mm"] if modality == "mri" else ph.fov_mm
    frac = fractions(add, N, fov)
    body = np.delete(frac, add.background, axis=0).sum(axis=0) > 0.99
    return ndimage.binary_erosion(body, iterations=2)


@pytest.mark.parametrize("pid,iid", CASES)
def test_default_render_shows_the_inside(pid, iid):
    r = micro.render_imaging(catalog=CAT, instrument=iid, phantom=pid, size=256, format="png")
    img = np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0
    display = img.reshape(N, 2, N, 2).mean(axis=(1, 3))
    inside = _interior(pid, r.info["modality"], r.info, display)
    assert inside.sum() > 200, "no interior found"
    v = display[inside]
    assert v.std() > 0.04, f"blank: interior std {v.std():.3f}"
    assert (v >= 0.995).mean() < 0.3, f"saturated white: {(v >= 0.995).mean():.2f}"
    assert (v <= 0.005).mean() < 0.3, f"black: {(v <= 0.005).mean():.2f}"


@pytest.mark.parametrize("pid", ["line-pairs", "derenzo", "water-cylinder"])
def test_mri_of_a_test_object_is_not_lost_in_noise(pid):
    """A water-filled test object (water: T1 ≈ 3 s) at the scanner's T1-weighted default
    (TR 500 ms) has SNR ≈ 2 and its bars and rods drown; QA protocols scan it long-TR with
    thick slices and averages: the default must give the water an SNR of at least 10."""
    r = micro.render_imaging(catalog=CAT, instrument="mri-1-5t", phantom=pid, size=256)
    assert min(r.info["snr"].values()) >= 10, r.info["snr"]

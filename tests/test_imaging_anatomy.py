"""3-D procedural phantoms: slices that move continuously, projections that agree with the
raster they come from, the published tissue values, and slice_mm in the key space."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import micro
from micro.core.catalog import default_catalog
from micro.core.errors import InvalidRequest
from micro.core.imaging.anatomy import SECTION_PX, section_labels
from micro.core.imaging.phantom import additive, chords, section_kspace, thickness
from micro.core.requests import canonicalize_imaging

CAT = default_catalog()


def test_slice_continuity():
    """Adjacent slices (2 mm apart) correlate strongly; slices 60 mm apart do not."""
    kw = {"catalog": CAT, "instrument": "ct-64-slice", "phantom": "abdomen", "size": 256}
    # smoothed over 2 px: the quantum noise of each render is independent
    a, b, c = (ndimage.gaussian_filter(micro.render_imaging(**kw, slice_mm=z).raw, 2)
               for z in (0, 2, 60))
    body = (a > -500) & (c > -500)
    near = np.corrcoef(a[body], b[body])[0, 1]
    far = np.corrcoef(a[body], c[body])[0, 1]
    assert near > 0.85, near
    assert far < near - 0.25, (near, far)


@pytest.mark.parametrize("pid", ["brain", "abdomen"])
def test_fourier_slice_projection_matches_the_raster(pid):
    """At 0° and 90° a projection is a column / row sum of the raster: the Fourier-slice
    projector (band-limited to the raster's Nyquist) agrees to 1 % RMS of the longest path,
    and 5 % at worst over 3 bins (a single-column spike such as the interhemispheric
    fissure rings)."""
    sec = additive(CAT.phantoms[pid], "default", 0.0)
    lab = section_labels(sec.anatomy, 0.0)
    px = sec.fov_mm / SECTION_PX
    s = (np.arange(SECTION_PX) + 0.5 - SECTION_PX / 2) * px
    p = chords(sec, np.array([0.0, np.pi / 2]), s)
    for t in range(len(sec.tissues)):
        if t == sec.background:
            continue
        m = (lab == t).astype(np.float64)
        cols = m.sum(axis=0) * px  # θ = 0: the line x = s
        rows = m[::-1].sum(axis=1) * px  # θ = 90°: y = s, y ascending
        scale = max(cols.max(), rows.max(), 20.0)
        for got, want in ((p[t, 0], cols), (p[t, 1], rows)):
            assert np.sqrt(np.mean((got - want) ** 2)) < 0.01 * scale, sec.tissues[t]
            smooth = [ndimage.uniform_filter1d(v, 3) for v in (got, want)]
            assert np.abs(smooth[0] - smooth[1]).max() < 0.05 * scale, sec.tissues[t]


def test_section_kspace_dc_is_the_tissue_area():
    sec = additive(CAT.phantoms["brain"], "default", 0.0)
    lab = section_labels(sec.anatomy, 0.0)
    px = sec.fov_mm / SECTION_PX
    k = section_kspace(sec, 128, 128, 240.0, 240.0)
    acq = (240.0 / 128) ** 2
    for t, name in enumerate(sec.tissues):
        if t == sec.background:
            continue
        area = (lab == t).sum() * px * px / acq
        assert k[t, 0, 0].real == pytest.approx(area, rel=1e-3, abs=1e-3), name


def test_radiograph_projects_the_whole_body_in_radiological_orientation():
    sec = additive(CAT.phantoms["abdomen"], "default", None)
    paths = thickness(sec, 128)
    liver = paths[sec.tissues.index("liver")]
    cols = np.nonzero(liver.sum(axis=0) > 0)[0]
    assert cols.mean() < 64  # the liver (patient's right) on the image left
    rows = np.nonzero(liver.sum(axis=1) > 0)[0]
    assert rows.mean() < 64 + 10  # upper abdomen: above the image centre (superior up)
    bone = paths[sec.tissues.index("cortical-bone")]
    assert bone[:, 60:68].mean() > 3 * bone[:, :20].mean()  # the spine down the midline


def test_head_tissue_hu_from_published_values():
    r = micro.render_imaging(catalog=CAT, instrument="ct-64-slice", phantom="brain",
                             size=256, mas=400)
    got, want = r.info["tissue_hu"], r.info["tissue_hu_expected"]
    for t in ("csf", "gray-matter", "white-matter"):
        assert abs(got[t] - want[t]) < 8, (t, got[t], want[t])
    assert got["gray-matter"] > got["white-matter"] > got["csf"]


def test_slice_mm_in_the_key_space():
    base = {"instrument": "ct-64-slice", "phantom": "abdomen"}
    assert canonicalize_imaging({**base, "slice_mm": 12.4}, CAT)["slice_mm"] == 12
    assert canonicalize_imaging(base, CAT).path().endswith("_z0.png")
    with pytest.raises(InvalidRequest) as e:
        canonicalize_imaging({**base, "slice_mm": 250}, CAT)
    assert e.value.field == "slice_mm"
    # a 2-D test object has one slice: the parameter collapses
    flat = canonicalize_imaging({"instrument": "ct-64-slice", "phantom": "water-cylinder",
                                 "slice_mm": 40}, CAT)
    assert flat["slice_mm"] == 0

"""The digital phantoms: ids, exact geometry, Shepp-Logan values, nesting."""

from __future__ import annotations

import numpy as np
import pytest

from micro.core.catalog import default_catalog
from micro.core.imaging.phantom import (
    Additive,
    Solid,
    additive,
    chords,
    fractions,
    kspace,
    pure_masks,
)

IDS = ("shepp-logan", "mr-shepp-logan", "water-cylinder", "line-pairs", "contrast-detail",
       "derenzo", "brain", "abdomen")


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


@pytest.mark.parametrize("pid", IDS)
def test_phantom_is_consistent(cat, pid):
    ph = cat.phantoms[pid]
    for variant in ("default", *ph.variants):
        add = additive(ph, variant)  # raises if a replace shape straddles tissues
        f = fractions(add, 128)
        assert f.min() >= -1e-6
        if all(s.mode == "replace" for s in ph.shapes):
            assert np.allclose(f.sum(axis=0), 1.0, atol=1e-5)


def test_shepp_logan_values(cat):
    ph = cat.phantoms["shepp-logan"]
    assert [s.value for s in ph.variants["modified"]] == [1.0, -0.8, -0.2, -0.2] + [0.1] * 6
    assert [s.value for s in ph.variants["original"]] == [2.0, -0.98, -0.02, -0.02] + [0.01] * 6
    # the default is CT-scaled: Shepp and Logan's skull and brain, Toft's inner contrasts
    assert [s.value for s in ph.shapes] == [2.0, -0.98, -0.2, -0.2] + [0.1] * 6
    f = fractions(additive(ph, "modified"), 256)[1]
    assert f.max() == pytest.approx(1.0, abs=1e-6)
    assert f[128, 128] == pytest.approx(0.2, abs=1e-6)  # brain region of the modified table
    assert fractions(additive(ph), 256)[1][128, 128] == pytest.approx(1.02, abs=1e-6)


def test_exact_line_integrals_and_fourier_transform():
    r = 30.0
    disk = Additive("d", "default", ("air", "m"), 0, (Solid("ellipse", 5, -3, r, r, 0.3,
                                                            (0.0, 1.0)),), 100.0)
    theta = np.array([0.0, 1.0])
    s = np.array([5.0 * np.cos(1.0) - 3 * np.sin(1.0) + 10.0, 100.0])
    p = chords(disk, theta, s)[1]
    assert p[1, 0] == pytest.approx(2 * np.sqrt(r ** 2 - 100.0))
    assert p[0, 1] == 0.0
    box = Additive("b", "default", ("air", "m"), 0, (Solid("rectangle", 0, 0, 10, 4, 0.0,
                                                           (0.0, 1.0)),), 100.0)
    q = chords(box, np.array([0.0, np.pi / 2]), np.array([0.0]))[1]
    assert q[0, 0] == pytest.approx(8.0) and q[1, 0] == pytest.approx(20.0)
    k0 = kspace(disk, np.zeros(1), np.zeros(1))[1, 0]
    assert k0.real == pytest.approx(np.pi * r ** 2)
    assert kspace(box, np.zeros(1), np.zeros(1))[1, 0].real == pytest.approx(160.0)


def test_derenzo_rod_spacing(cat):
    rods = [s for s in cat.phantoms["derenzo"].shapes if s.tissue == "hot-solution"]
    diameters = sorted({round(2 * s.axes_mm[0], 1) for s in rods})
    assert len(diameters) == 6
    for d in diameters:
        c = np.array([s.center_mm for s in rods if round(2 * s.axes_mm[0], 1) == d])
        dist = np.hypot(*(c[:, None, :] - c[None, :, :]).transpose(2, 0, 1))
        nearest = np.min(dist + np.eye(len(c)) * 1e9, axis=1)
        assert np.allclose(nearest, 2 * d, rtol=1e-3)


@pytest.mark.parametrize("pid", ["abdomen", "contrast-detail", "shepp-logan"])
def test_pure_masks_are_each_tissues_eroded_pure_pixels(cat, pid):
    """pure_masks erodes every tissue's pure pixels (> 0.999) by a (2e+1)² square, outside the
    image counting as no tissue: checked pixel by pixel against a plain erosion of each mask
    (the abdomen's and the test object's masks are disjoint and take the one-label-image
    path; the additive Shepp-Logan's overlap and take the per-tissue one)."""
    from scipy import ndimage

    frac = fractions(additive(cat.phantoms[pid]), 128)
    for e in (2, 3):
        got = pure_masks(frac, e)
        square = np.ones((2 * e + 1, 2 * e + 1), dtype=bool)
        for t in range(frac.shape[0]):
            want = ndimage.binary_erosion(frac[t] > 0.999, square, border_value=0)
            assert np.array_equal(got[t], want), (pid, e, t)

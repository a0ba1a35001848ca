"""MRI physics: Gach T1 values, spin-echo contrast orders, SNR scaling, Rician noise."""

from __future__ import annotations

import numpy as np
import pytest

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.mri import signal, snr_factor

GACH = {"scalp": (0.324, 0.137), "marrow": (0.533, 0.088), "gray-matter": (0.857, 0.376),
        "white-matter": (0.583, 0.382), "tumor": (0.926, 0.217)}


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def test_gach_t1_values_exact(cat):
    tissues = {t.id: t for t in cat.phantoms["mr-shepp-logan"].tissues}
    for tid, (a, c) in GACH.items():
        for key, b0 in (("1.5", 1.5), ("3", 3.0), ("7", 7.0)):
            assert abs(tissues[tid].mri[key].t1_ms - 1000 * a * b0 ** c) < 0.01
    for key in ("1.5", "3", "7"):
        assert tissues["csf"].mri[key].t1_ms == 4200 and tissues["csf"].mri[key].t2_ms == 1990


def _means(cat, **kw):
    r = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="brain", nex=16,
                             size=256, **kw)
    return r.info["tissue_signal"]


def test_spin_echo_contrast_orders_on_brain(cat):
    t1 = _means(cat, preset="t1w")
    assert t1["fat"] > t1["white-matter"] > t1["gray-matter"] > t1["csf"]
    t2 = _means(cat, preset="t2w")
    assert t2["csf"] > t2["gray-matter"] > t2["white-matter"]
    pd = _means(cat, preset="pdw")
    assert pd["gray-matter"] > pd["white-matter"] > pd["csf"]


def test_signal_equations(cat):
    wm = next(t for t in cat.phantoms["brain"].tissues if t.id == "white-matter")
    p = wm.mri["1.5"]
    se = signal(wm, 1.5, "spin-echo", 500, 15, 0, 90)
    assert se == pytest.approx(p.pd * (1 - np.exp(-500 / p.t1_ms)) * np.exp(-15 / p.t2_ms))
    ir = signal(wm, 1.5, "inversion-recovery", 4000, 20, p.t1_ms * np.log(2), 90)
    assert ir < 0.05 * p.pd  # inverted magnetisation near its null at TI = T1 ln 2


def test_noise_halves_when_nex_quadruples(cat):
    sig = []
    for nex in (1, 4):
        r = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="brain",
                                 nex=nex, size=256)
        corner = np.concatenate([r.raw[:40, :40].ravel(), r.raw[-40:, -40:].ravel()])
        sig.append(corner.std())
    assert sig[0] / sig[1] == pytest.approx(2.0, rel=0.1)
    assert snr_factor(1.5, 10, 4, 256, 256, 200) == pytest.approx(
        2 * snr_factor(1.5, 10, 1, 256, 256, 200))


def test_background_is_rayleigh(cat):
    r = micro.render_imaging(catalog=cat, instrument="mri-3t", phantom="brain", size=256,
                             matrix=256)
    corner = r.raw[:40, :40].ravel()
    # Rayleigh: mean/std = √(π/(4−π)) = 1.91
    assert corner.mean() / corner.std() == pytest.approx(1.91, rel=0.08)


def test_kspace_view_and_artifacts(cat):
    k = micro.render_imaging(catalog=cat, instrument="mri-3t", phantom="mr-shepp-logan",
                             view="kspace", matrix=128, size=256)
    assert k.raw.shape == (128, 128)
    assert np.unravel_index(np.argmax(k.raw), k.raw.shape) == (64, 64)  # DC at the centre
    base = micro.render_imaging(catalog=cat, instrument="mri-3t", phantom="brain", size=256)
    for art in ("motion", "wrap", "chemical-shift", "gibbs", "undersampling"):
        a = micro.render_imaging(catalog=cat, instrument="mri-3t", phantom="brain", size=256,
                                 artifact=art)
        assert a.image != base.image
        assert a.info["artifact"] == art


def _radius(r):
    fov = r.info["fov_mm"]
    c = (np.arange(256) + 0.5 - 128) * fov / 256
    return np.hypot(c[None, :], c[:, None])


def test_receive_coil_shading_brightens_the_periphery(cat):
    """Without normalisation (coil=array) an array of surface coils sees the edge of a
    uniform cylinder better than its centre; the receiver noise (outside the object) is not
    shaded."""
    r = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="water-cylinder",
                             nex=16, size=256, coil="array")
    assert r.info["coil"] == "array"
    fov = r.info["fov_mm"]
    c = (np.arange(256) + 0.5 - 128) * fov / 256
    rad = np.hypot(c[None, :], c[:, None])
    centre = r.raw[rad < 20].mean()
    rim = r.raw[(rad > 75) & (rad < 85)].mean()
    assert rim > 1.03 * centre
    corners = [r.raw[:30, :30].std(), r.raw[-30:, -30:].std()]
    assert corners[0] == pytest.approx(corners[1], rel=0.15)


def test_normalized_coil_image_obeys_the_signal_equation(cat):
    """coil=normalized (the default) divides the array's sensitivity out: at high SNR a
    uniform water cylinder reads the spin-echo equation at every radius (PHYSICS.md: ±5 %),
    and brain tissues' ROI means match the equation, as the info's measured signals say."""
    r = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="water-cylinder",
                             preset="pdw", nex=16, thickness_mm=10, size=256)
    assert r.info["coil"] == "normalized"
    water = next(t for t in cat.phantoms["water-cylinder"].tissues if t.id == "water")
    p = water.mri["1.5"]
    expected = p.pd * (1 - np.exp(-4000 / p.t1_ms)) * np.exp(-15 / p.t2_ms)
    rad = _radius(r)
    for lo, hi in ((0, 20), (20, 40), (40, 60), (60, 80), (80, 95)):
        ring = r.raw[(rad >= lo) & (rad < hi)].mean()
        assert ring == pytest.approx(expected, rel=0.05), (lo, hi)
    b = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="brain", preset="t1w",
                             nex=16, thickness_mm=10, bandwidth_hz_px=50, size=256)
    exp, got = b.info["tissue_signal_expected"], b.info["tissue_signal"]
    for tid in ("fat", "white-matter", "gray-matter", "csf"):
        assert got[tid] == pytest.approx(exp[tid], rel=0.05), tid
    shaded = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="brain",
                                  preset="t1w", nex=16, thickness_mm=10, bandwidth_hz_px=50,
                                  size=256, coil="array")
    assert max(abs(shaded.info["tissue_signal"][t] / exp[t] - 1)
               for t in ("fat", "white-matter", "gray-matter", "csf")) > 0.05


def test_normalisation_raises_the_noise_where_the_coils_see_least(cat):
    """Dividing by the sensitivity divides the receiver noise too: in a uniform cylinder the
    noise at the centre (low sensitivity) exceeds the rim's; unnormalised it is uniform."""
    def noise(coil):
        r = micro.render_imaging(catalog=cat, instrument="mri-1-5t", phantom="water-cylinder",
                                 preset="pdw", size=256, coil=coil, thickness_mm=5, nex=1)
        rad = _radius(r)  # (at this SNR the noise, not the array's shading, sets the spread)
        return r.raw[rad < 25].std(), r.raw[(rad > 75) & (rad < 88)].std()
    centre, rim = noise("normalized")
    assert centre > 1.25 * rim
    centre, rim = noise("array")
    assert centre == pytest.approx(rim, rel=0.15)


def test_coil_choice_is_checked_and_kspace_has_no_coil(cat):
    from micro.core.errors import InvalidRequest
    from micro.core.requests import canonicalize_imaging

    with pytest.raises(InvalidRequest) as e:
        canonicalize_imaging({"instrument": "mri-3t", "phantom": "brain", "coil": "body"}, cat)
    assert e.value.field == "coil"
    k = canonicalize_imaging({"instrument": "mri-3t", "phantom": "brain", "view": "kspace",
                              "coil": "array"}, cat)
    assert k["coil"] == "normalized"
    assert "_coilarray_" in canonicalize_imaging(
        {"instrument": "mri-3t", "phantom": "brain", "coil": "array"}, cat).path()

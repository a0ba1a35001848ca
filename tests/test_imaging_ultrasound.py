"""Ultrasound: fully developed speckle statistics, acoustic shadowing, anechoic cysts."""

from __future__ import annotations

import numpy as np
import pytest

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.phantom import additive
from micro.core.imaging.ultrasound import frame_fractions, geometry


@pytest.fixture(scope="module")
def scan():
    cat = default_catalog()
    r = micro.render_imaging(catalog=cat, instrument="ultrasound-curvilinear",
                             phantom="abdomen", size=512)
    add = additive(cat.phantoms["abdomen"])
    g = geometry(add, cat.instruments["ultrasound-curvilinear"].spec, r.info["depth_cm"], 512)
    frac = frame_fractions(add, g)
    fr = r.info["frame"]
    j, i = np.meshgrid(np.arange(512), np.arange(512))
    x = fr["x0_mm"] + j * fr["pixel_mm"]
    y = fr["y0_mm"] - i * fr["pixel_mm"]
    return r, add, frac, x, y


def _apex():
    cat = default_catalog()
    add = additive(cat.phantoms["abdomen"])
    g = geometry(add, cat.instruments["ultrasound-curvilinear"].spec, 16, 512)
    return np.array([g.x0_mm, g.y_skin_mm + g.radius_mm])


def test_speckle_mean_over_std_in_homogeneous_gel():
    """Fully developed speckle: the envelope is Rayleigh, mean/std = 1.91. Measured in the
    contrast-detail phantom's uniform gel above the discs with a linear array (rows are
    depths), each depth normalised by its mean (the beam and TGC change the mean with depth,
    not the statistics)."""
    cat = default_catalog()
    r = micro.render_imaging(catalog=cat, instrument="ultrasound-linear",
                             phantom="contrast-detail", size=512)
    px = r.info["pixel_mm"]
    band = r.raw[round(15 / px):round(43 / px)].astype(np.float64)  # 15–43 mm deep
    band = band[:, band.min(axis=0) > 0]  # the scan lines (inside the aperture)
    assert band.size > 50000
    z = band / band.mean(axis=1, keepdims=True)
    assert z.mean() / z.std() == pytest.approx(1.91, abs=0.08)


def test_shadow_behind_calcification(scan):
    r, add, frac, x, y = scan
    # beam line from the centre of curvature through the calcification at (−30, 8) mm
    apex = _apex()
    ang = np.arctan2(x - apex[0], apex[1] - y)
    rad = np.hypot(x - apex[0], apex[1] - y)
    a_calc = np.arctan2(-30 - apex[0], apex[1] - 8)
    r_calc = np.hypot(-30 - apex[0], apex[1] - 8)
    liver = frac[add.tissues.index("liver")] > 0.999
    band = liver & (rad > r_calc + 8) & (rad < r_calc + 30)
    behind = band & (np.abs(ang - a_calc) < 0.01)
    beside = band & (np.abs(ang - a_calc) > 0.05) & (np.abs(ang - a_calc) < 0.09)
    assert behind.sum() > 30 and beside.sum() > 100
    assert r.raw[behind].mean() < 0.5 * r.raw[beside].mean()


def test_cyst_is_anechoic_and_info(scan):
    r, add, frac, _x, _y = scan
    cyst = frac[add.tissues.index("cyst")] > 0.999
    liver = frac[add.tissues.index("liver")] > 0.999
    assert r.raw[cyst].mean() < 0.2 * r.raw[liver].mean()
    info = r.info
    assert info["axial_resolution_mm"] == pytest.approx(1.54 / info["frequency_mhz"], rel=0.01)
    assert info["provenance"] == "procedural"


def test_higher_frequency_penetrates_less():
    cat = default_catalog()
    lo = micro.render_imaging(catalog=cat, instrument="ultrasound-curvilinear",
                              phantom="abdomen", frequency_mhz=2.5, tgc=0, size=256)
    hi = micro.render_imaging(catalog=cat, instrument="ultrasound-curvilinear",
                              phantom="abdomen", frequency_mhz=5, tgc=0, size=256)
    deep = slice(200, 240)
    assert hi.raw[deep].mean() < lo.raw[deep].mean()
    assert hi.info["penetration_cm"] < lo.info["penetration_cm"]


def _acf_fwhm(sig: np.ndarray) -> float:
    """Full width at half maximum (samples) of the mean autocorrelation along axis 0."""
    sig = sig - sig.mean(axis=0)
    n = sig.shape[0]
    spec = np.fft.rfft(sig, 2 * n, axis=0)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=0)[:n].mean(axis=1)
    ac = ac / ac[0]
    k = int(np.argmax(ac < 0.5))
    return 2 * (k - 1 + (ac[k - 1] - 0.5) / (ac[k - 1] - ac[k]))


@pytest.mark.parametrize("f_mhz,depth_cm,focus_cm", [(2.5, 12, 8), (5.0, 6, 3)])
def test_speckle_size_is_the_resolution_cell(f_mhz, depth_cm, focus_cm):
    """Fully developed speckle is an image of the PSF: the intensity autocorrelation of the
    envelope is as wide as the resolution cell, axially λ (two-cycle pulse) and laterally
    the beam width at the focus (measured in the gel between the rows of discs)."""
    cat = default_catalog()
    r = micro.render_imaging(catalog=cat, instrument="ultrasound-curvilinear",
                             phantom="contrast-detail", frequency_mhz=f_mhz,
                             depth_cm=depth_cm, focus_cm=focus_cm, size=1024)
    px = r.info["pixel_mm"]
    inten = r.raw.astype(np.float64) ** 2
    g = geometry(additive(cat.phantoms["contrast-detail"]),
                 cat.instruments["ultrasound-curvilinear"].spec, depth_cm, 1024)
    row = round((g.frame[1] - (g.y_skin_mm - focus_cm * 10)) / px)
    half = round(6 / px)
    axial = _acf_fwhm(inten[row - half:row + half, 500:524]) * px
    assert axial == pytest.approx(r.info["axial_resolution_mm"], rel=0.25)
    lateral = _acf_fwhm(inten[row - 8:row + 8, 512 - half:512 + half].T) * px
    assert lateral == pytest.approx(r.info["lateral_resolution_mm_at_focus"], rel=0.3)


def test_lateral_speckle_follows_wavelength_times_f_number():
    """PHYSICS.md: lateral resolution ≈ λ·F#, F# = focal depth / the active sub-aperture that
    forms a line (64 of the L12-5's 256 elements: F/2 at 25 mm, not F/0.5 for the whole
    50 mm face). The info says so, and the envelope's lateral autocorrelation FWHM in the
    uniform gel within ±2 mm of the focus is ∝ λ·F# (±15 %) across the probe's band."""
    cat = default_catalog()
    spec = cat.instruments["ultrasound-linear"].spec
    ratios = []
    for f_mhz in (5.0, 7.5, 12.0):
        r = micro.render_imaging(catalog=cat, instrument="ultrasound-linear",
                                 phantom="contrast-detail", frequency_mhz=f_mhz, depth_cm=5,
                                 focus_cm=2.5, size=512)
        info, px = r.info, r.info["pixel_mm"]
        lam_f = 1.54 / f_mhz * 25.0 / spec.active_aperture_mm
        assert info["f_number"] == pytest.approx(25.0 / spec.active_aperture_mm, abs=0.01)
        assert 1 <= info["f_number"] <= 3
        assert info["lateral_resolution_mm_at_focus"] == pytest.approx(lam_f, rel=0.01)
        band = r.raw[round(23 / px):round(27 / px), 128:384].astype(np.float64)
        ratios.append(_acf_fwhm(band.T) * px / lam_f)
    assert max(ratios) / min(ratios) < 1.15 ** 2 and all(0.85 < q < 1.15 for q in ratios), ratios


def _profile_across_lines(scan, centre_mm, behind_mm, beside_mm):
    """Mean raw envelope in liver in a band `behind_mm` (near, far) beyond a structure centred
    at `centre_mm`, per two-line angular bin across it; normalised by the level beside it
    (`beside_mm` (from, to) away on both sides, at the structure's range). Returns (offsets in mm at the structure's range,
    profile, the structure's width in mm at its range)."""
    r, add, frac, x, y = scan
    apex = _apex()
    ang = np.arctan2(x - apex[0], apex[1] - y)
    rad = np.hypot(x - apex[0], apex[1] - y)
    a0 = np.arctan2(centre_mm[0] - apex[0], apex[1] - centre_mm[1])
    r0 = np.hypot(centre_mm[0] - apex[0], apex[1] - centre_mm[1])
    liver = frac[add.tissues.index("liver")] > 0.999
    band = liver & (rad > r0 + behind_mm[0]) & (rad < r0 + behind_mm[1])
    step = 2 * np.deg2rad(60) / 512  # two scan lines
    edges = a0 + np.arange(-beside_mm[1] / r0, (beside_mm[1] / r0) + step / 2, step)
    k = np.digitize(ang[band], edges) - 1
    inside = (k >= 0) & (k < len(edges) - 1)
    total = np.bincount(k[inside], r.raw[band][inside], len(edges) - 1)
    count = np.bincount(k[inside], minlength=len(edges) - 1)
    prof = total / np.maximum(count, 1)
    mid = (edges[:-1] + edges[1:]) / 2 - a0
    side = (np.abs(mid) > beside_mm[0] / r0) & (count > 0)
    return mid * r0, prof / prof[side].mean(), r0


def _fwhm(offsets, prof, level):
    """Width (mm) of the contiguous run around offset 0 where prof is below `level`."""
    c = int(np.argmin(np.abs(offsets)))
    lo = c
    while lo > 0 and prof[lo - 1] < level:
        lo -= 1
    hi = c
    while hi < len(prof) - 1 and prof[hi + 1] < level:
        hi += 1
    step = offsets[1] - offsets[0]
    # linear interpolation of the crossings at both ends
    left = (prof[lo - 1] - level) / (prof[lo - 1] - prof[lo]) if lo > 0 else 0.0
    right = (prof[hi + 1] - level) / (prof[hi + 1] - prof[hi]) if hi < len(prof) - 1 else 0.0
    return (hi - lo + left + right) * step


def test_shadow_is_as_wide_as_the_stone(scan):
    """The beam is blocked across the stone's full width: 10–30 mm behind the liver
    calcification (a 7 mm sphere cut 2 mm off its centre: 5.7 mm wide in the slice), the dip
    across the scan lines is ≥ 50 % deep and its full width at half depth is the stone's
    width (the beam, 1.5 mm at that depth, is narrower), at the stone's range: −20 %/+40 %, as
    the speckle, correlated over a beam width across the lines, moves the half-depth
    crossings by ±10 % from one realisation to another."""
    r, add, frac, _x, _y = scan
    stone = 2 * np.sqrt(3.5 ** 2 - 2 ** 2)
    off, prof, r0 = _profile_across_lines(scan, (-30, 8), (10, 30), (7, 13))
    dip = 1 - prof[np.abs(off) < 1.5].min()
    assert dip >= 0.5
    width = _fwhm(off, prof, 1 - dip / 2) * r0 / (r0 + 20)  # mm at the stone's range
    assert 0.8 * stone <= width <= 1.4 * stone, (width, stone)


def test_posterior_enhancement_behind_the_cyst(scan):
    """Fluid attenuates ~50× less than liver and the TGC is set for tissue, so the column
    behind the simple cyst (24 mm sphere cut 6 mm off centre: 20.8 mm wide) is brighter than
    the same depth beside it: ≥ 1.3× over 5–25 mm behind its back wall across its central
    half, and as wide as the cyst (the half level ≥ 75 % of its width)."""
    width = 2 * np.sqrt(12 ** 2 - 6 ** 2)
    off, prof, r0 = _profile_across_lines(scan, (-58, 30), (width / 2 + 5, width / 2 + 25),
                                         (16, 24))
    scale = r0 / (r0 + width / 2 + 15)
    assert prof[np.abs(off * scale) < width / 4].mean() >= 1.3
    gain = prof[np.abs(off * scale) < width / 4].mean()
    above = prof > 1 + (gain - 1) / 2
    assert above[np.abs(off * scale) < 0.375 * width].mean() > 0.8


def test_a_stone_narrower_than_the_beam_casts_a_fainter_beam_wide_shadow():
    """Beam-averaged transmission: one blocked ray (transmission 0) under a Gaussian beam of
    FWHM 10 lines leaves a dip whose full width at half depth is the beam's FWHM (±10 %) and
    whose depth is the fraction of the beam the ray covers (1/(σ√2π), ±5 %), not a
    one-line needle to zero; a stone 40 lines wide blocks its full width (the lines on its
    edges keep half: the shadow's half-depth width is 40 ± 1 lines, its centre fully dark)."""
    from micro.core.imaging.ultrasound import _beam_average
    loss = np.ones((4, 101), dtype=np.float32)
    loss[2:, 50] = 0.0
    sigma = np.full(4, 10 / 2.355)
    out = _beam_average(loss, sigma)
    assert np.allclose(out[:2], 1.0, atol=1e-4)
    dip = 1 - out[3]
    assert dip.max() == pytest.approx(1 / (sigma[0] * np.sqrt(2 * np.pi)), rel=0.05)
    above = np.nonzero(dip > dip.max() / 2)[0]
    assert above[-1] - above[0] + 1 == pytest.approx(10, rel=0.1)
    loss[2:, 30:70] = 0.0
    wide = 1 - _beam_average(loss, sigma)[3]
    assert wide[50] > 0.999
    half = np.nonzero(wide > 0.5)[0]
    assert half[-1] - half[0] + 1 == pytest.approx(40, abs=1)

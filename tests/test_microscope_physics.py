"""The microscope renderer against the laws and values of PHYSICS.md.

Optics are measured on the noise-free signal the objective delivers (`simulate`), detector
laws on the detected photoelectrons, colour on decoded images. A test-only instrument
(tests/fixtures/test-nyquist.json: a 4× relay onto a 512-pixel sCMOS) samples the PSF finely
enough (≥ 4 px per FWHM) to measure it."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from scipy import signal as ss

from micro.core.catalog import Catalog, default_data_dir
from micro.core.microscope import flatfield, optics
from micro.core.microscope.generators.calibration import bead_pairs
from micro.core.microscope.pipeline import render_microscope_request, simulate
from micro.core.microscope.quantities import is_cleared_section, mounted_index
from micro.core.requests import canonicalize_microscope

FIXTURE = Path(__file__).parent / "fixtures" / "test-nyquist.json"


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = tmp_path_factory.mktemp("catalog") / "data"
    shutil.copytree(default_data_dir(), root, ignore=shutil.ignore_patterns("images", "schema"))
    shutil.copy(FIXTURE, root / "instruments")
    return Catalog.load(root)


def run(cat: Catalog, **params: object):  # type: ignore[no-untyped-def]
    req = canonicalize_microscope(params, cat)
    return simulate(req, cat)


def fwhm_1d(profile: np.ndarray, px: float) -> float:
    """FWHM of a band-limited peak: Fourier-interpolate ×16, then find the half-max crossings."""
    up = 16
    q = ss.resample(profile, len(profile) * up)
    i = int(np.argmax(q))
    half = q[i] / 2
    left = i
    while q[left] > half:
        left -= 1
    right = i
    while q[right] > half:
        right += 1
    xl = left + (half - q[left]) / (q[left + 1] - q[left])
    xr = right - 1 + (q[right - 1] - half) / (q[right - 1] - q[right])
    return float((xr - xl) / up * px)


def _central_bead_fwhm(img: np.ndarray, px: float, n: int = 24) -> float:
    """FWHM (µm) of the brightest bead near the image centre, mean of its row and column."""
    h, w = img.shape
    win = img[h // 2 - 20:h // 2 + 20, w // 2 - 20:w // 2 + 20]
    cy, cx = np.unravel_index(np.argmax(win), win.shape)
    cy, cx = cy + h // 2 - 20, cx + w // 2 - 20
    return (fwhm_1d(img[cy, cx - n:cx + n + 1], px) + fwhm_1d(img[cy - n:cy + n + 1, cx], px)) / 2


@pytest.mark.parametrize("objective", [20, 40, 60])
def test_bead_fwhm_is_0514_lambda_over_na(cat: Catalog, objective: int) -> None:
    s, _, sig, _ = run(cat, instrument="test-nyquist", specimen="fluorescent-beads",
                       objective=objective, mode="fluorescence", x_um=0, y_um=20)
    expected = optics.fwhm_um(sig.wavelength_nm, s.na)
    assert expected / s.px_um >= 3  # sampled well enough to measure
    assert _central_bead_fwhm(sig.values[0], s.px_um) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("objective", [40, 60])
def test_confocal_bead_fwhm_is_051_lambda_over_na(cat: Catalog, objective: int) -> None:
    """PHYSICS.md: a confocal with a ~1 Airy-unit pinhole has a lateral FWHM ≈ 0.51 λ/NA.
    Measured on a sub-resolution bead sampled finely (≥ 6.5 px per FWHM): the bead's own
    size (100 nm: σ 22 nm) and its sub-pixel raster (2×2 pixels, σ = px/√6) add ~3 % in
    quadrature. (At 63×/1.4 with 0.10 µm pixels the same bead measures ~10 % wide: σ of
    the PSF is 0.78 px there, so the raster's σ of 0.042 µm is no longer negligible, and a
    Gaussian fitted to 0.78-px samples reads wide — a sampling effect, not the PSF.)"""
    s, _, sig, _ = run(cat, instrument="test-nyquist", specimen="fluorescent-beads",
                       objective=objective, mode="confocal", x_um=0, y_um=20)
    expected = 0.51 * sig.wavelength_nm / 1000.0 / s.na
    assert expected / s.px_um >= 6.5
    assert _central_bead_fwhm(sig.values[0], s.px_um) == pytest.approx(expected, rel=0.05)


def _pair_dip(cat: Catalog, instrument: str, objective: float, mode: str,
              factor: float) -> tuple[float, float]:
    inst = cat.instruments[instrument]
    o = inst.objective(objective)  # type: ignore[union-attr]
    spec = cat.specimens["fluorescent-beads"]
    target = factor * 0.520 / o.na
    x, y, sep = min(bead_pairs(spec.populations[0].params), key=lambda p: abs(p[2] - target))
    s, _, sig, _ = run(cat, instrument=instrument, specimen="fluorescent-beads",
                       objective=objective, mode=mode, x_um=x, y_um=y)
    row = sig.values[0][sig.values[0].shape[0] // 2]
    c = row.size // 2
    n = int(sep / s.px_um * 1.5) + 6
    seg = row[c - n:c + n + 1]
    peaks, _ = ss.find_peaks(seg)
    peaks = [p for p in peaks if seg[p] > 0.5 * seg.max()]
    if len(peaks) < 2:
        return 0.0, sep
    a, b = peaks[0], peaks[-1]
    return float(1 - seg[a:b + 1].min() / min(seg[a], seg[b])), sep


def test_rayleigh_pair_shows_the_classic_dip(cat: Catalog) -> None:
    dip, sep = _pair_dip(cat, "test-nyquist", 40, "fluorescence", 0.61)
    assert 0.20 <= dip <= 0.33, (dip, sep)


def test_pair_closer_than_rayleigh_is_one_blob(cat: Catalog) -> None:
    dip, sep = _pair_dip(cat, "test-nyquist", 40, "fluorescence", 0.40)
    assert dip < 0.02, (dip, sep)


def test_sted_resolves_what_confocal_barely_does(cat: Catalog) -> None:
    dip_sted, _ = _pair_dip(cat, "sted-nanoscope", 100, "sted", 0.61)
    dip_conf, _ = _pair_dip(cat, "sted-nanoscope", 100, "confocal", 0.61)
    assert dip_sted > 0.9 and dip_conf < 0.4


def test_stage_micrometer_divisions_measure_10_um(cat: Catalog) -> None:
    s, _, sig, det = run(cat, instrument="student-compound", specimen="stage-micrometer",
                         objective=40, x_um=0, y_um=0)
    img = sig.values[1]
    rows = np.nonzero(img.min(axis=1) < 0.5)[0]
    row = img[int(np.median(rows)) - 0]
    dark = row < 0.5 * (row.max() + row.min())
    lab, n = ndimage.label(dark)
    centres = np.array(ndimage.center_of_mass(1.0 - row, lab, range(1, n + 1)))[:, 0]
    slope = np.polyfit(np.arange(len(centres)), centres, 1)[0]
    assert n > 20
    assert slope * s.px_um == pytest.approx(10.0, rel=0.01)


def test_field_of_view_follows_field_number_and_sensor(cat: Catalog) -> None:
    inst = cat.instruments["student-compound"]
    for obj in (4, 10, 40, 100):
        req = canonicalize_microscope(dict(instrument="student-compound", specimen="gram-mixed",
                                           objective=obj, view="eyepiece", size=256), cat)
        info = render_microscope_request(req, cat).info
        assert info["fov_um"][0] == pytest.approx(inst.eyepiece.field_number_mm * 1000 / obj,  # type: ignore[union-attr]
                                                  rel=1e-6)
        req = req.replace(cat, view="camera")
        info = render_microscope_request(req, cat).info
        cam = inst.camera  # type: ignore[union-attr]
        assert info["fov_um"][0] == pytest.approx(
            cam.width_px * cam.pixel_size_um / (obj * cam.adapter_magnification), rel=1e-6)
        assert info["fov_um"][1] == pytest.approx(
            cam.height_px * cam.pixel_size_um / (obj * cam.adapter_magnification), rel=1e-6)
    info10 = render_microscope_request(canonicalize_microscope(
        dict(instrument="student-compound", specimen="gram-mixed", objective=10,
             view="eyepiece"), cat), cat).info
    assert info10["total_magnification"] == 100


@pytest.mark.parametrize("objective", [10, 20])
def test_sharpness_halves_near_half_the_depth_of_field(cat: Catalog, objective: int) -> None:
    """Gradient energy of the bead grid falls to half at DOF/2 (±30 %), DOF = λn/NA² +
    n·e/(M·NA) (paraxial: tested at NA ≤ 0.75, where the formula is meant to hold)."""
    def sharp(z: float) -> float:
        _, _, sig, _ = run(cat, instrument="test-nyquist", specimen="fluorescent-beads",
                           objective=objective, mode="fluorescence", x_um=0, y_um=120,
                           focus_um=z)
        gy, gx = np.gradient(sig.values[0])
        return float(np.mean(gx * gx + gy * gy))

    s, _, sig, _ = run(cat, instrument="test-nyquist", specimen="fluorescent-beads",
                       objective=objective, mode="fluorescence", x_um=0, y_um=120)
    dof = optics.dof_um(sig.wavelength_nm, s.n_immersion, s.na, s.px_um * s.mag_sensor,
                        s.mag_sensor)
    zs = np.linspace(0, dof * 1.2, 25)
    vals = np.array([sharp(z) for z in zs])
    vals /= vals[0]
    z_half = float(np.interp(0.5, vals[::-1], zs[::-1]))
    assert z_half == pytest.approx(dof / 2, rel=0.30)


def test_confocal_rejects_out_of_focus_light(cat: Catalog) -> None:
    """Focused 4 µm above a bead layer: widefield still collects the beads' light as haze,
    the confocal pinhole rejects it."""
    def total(mode: str, z: float) -> float:
        _, _, sig, _ = run(cat, instrument="test-nyquist", specimen="fluorescent-beads",
                           objective=60, mode=mode, x_um=0, y_um=120, focus_um=z)
        return float(sig.values[0].sum())

    assert total("fluorescence", 4.0) / total("fluorescence", 0.0) > 0.9  # light is conserved
    assert total("confocal", 4.0) / total("confocal", 0.0) < 0.05


def _central_mean(cat: Catalog, objective: float, fov_ref_um: float, exposure_ms: float,
                  **kw: object) -> float:
    s, _, _, det = run(cat, objective=objective, exposure_ms=exposure_ms, **kw)
    assert det.saturated_fraction == 0
    v = det.values.mean(axis=0)
    half = fov_ref_um / s.px_um / 2
    h, w = v.shape
    return float(v[int(h / 2 - half):int(h / 2 + half), int(w / 2 - half):int(w / 2 + half)].mean()
                 / (s.px_um**2))


def test_transmitted_brightness_scales_as_na_over_m_squared(cat: Catalog) -> None:
    """Same lamp, same exposure, same patch of an empty slide: photoelectrons per µm² of
    specimen → per sensor area, brightness ∝ (NA/M)² (per unit specimen area ∝ NA²)."""
    kw = dict(instrument="research-upright", specimen="stage-micrometer", mode="brightfield",
              x_um=0, y_um=-2000)
    a = _central_mean(cat, 10, 100, 2.0, **kw)
    b = _central_mean(cat, 20, 100, 2.0, **kw)
    c = _central_mean(cat, 40, 100, 2.0, **kw)
    # per specimen area the sensor-area law (NA/M)² becomes NA²: pixel area ∝ 1/M²
    assert b / a == pytest.approx((0.75 / 0.45) ** 2, rel=0.10)
    assert c / a == pytest.approx((0.95 / 0.45) ** 2, rel=0.10)


def test_epifluorescence_brightness_scales_as_na4_over_m2(cat: Catalog) -> None:
    kw = dict(instrument="test-nyquist", specimen="liver-he", mode="fluorescence",
              stain="he", x_um=300, y_um=200)
    a = _central_mean(cat, 20, 20, 2000.0, **kw)  # long enough for hundreds of e⁻ per pixel
    b = _central_mean(cat, 40, 20, 2000.0, **kw)
    # per specimen area: NA⁴/M² per sensor pixel → NA⁴ per µm² of specimen
    assert b / a == pytest.approx((0.95 / 0.75) ** 4, rel=0.10)


def test_flat_field_noise_is_poisson_through_the_gain(cat: Catalog) -> None:
    """On a flat field, variance/mean in ADU equals the conversion gain (ADU per e⁻).

    The temporal noise is measured as EMVA 1288 does, from the difference of two frames of
    the same field (halved): it cancels the fixed pattern a real flat field has (vignetting,
    dust shadows), which is not noise. The second frame is 10 % longer, so it is another
    request with its own noise, and is scaled back to the first one's mean."""
    kw = dict(instrument="research-upright", specimen="stage-micrometer", objective=20,
              x_um=0, y_um=-2000)
    s, _, _, det = run(cat, exposure_ms=1.0, **kw)
    _, _, _, det2 = run(cat, exposure_ms=1.1, **kw)
    a = det.values[1] * det.gain_adu_per_e
    b = det2.values[1] * det.gain_adu_per_e
    b *= a.mean() / b.mean()
    ratio = float((a - b).var() / 2 / a.mean())
    assert ratio == pytest.approx(det.gain_adu_per_e, rel=0.10)
    cam = s.inst.camera
    assert cam is not None  # the gain is the camera's: full scale over the full well
    assert det.gain_adu_per_e == pytest.approx((2**cam.bit_depth - 1) / cam.full_well_e)


def test_saturation_is_visible_and_reported(cat: Catalog) -> None:
    _, _, _, det = run(cat, instrument="research-upright", specimen="stage-micrometer",
                       objective=20, x_um=0, y_um=-2000, exposure_ms=5000.0)
    assert det.saturated_fraction > 0.9
    assert float(det.values.max()) <= det.full_well_e * 1.01


def test_he_decomposes_into_hematoxylin_and_eosin(cat: Catalog) -> None:
    from skimage.color import rgb2hed

    s, scene, sig, det = run(cat, instrument="student-compound", specimen="liver-he",
                             objective=40, stain="he")
    # flat-field correction, as a colour-deconvolution workflow does: divide by the image of
    # the empty slide (lamp colour, vignetting, sensor dust), then normalize to the white
    blank = flatfield.illuminate(np.ones((3, s.height, s.width), np.float32), s)
    rgb = np.moveaxis(det.values / blank, 0, -1)
    white = np.percentile(rgb.reshape(-1, 3), 99.5, axis=0)
    hed = rgb2hed(np.clip(rgb / white, 1e-3, 1.0))
    nuc = s.crop(scene.labels["hepatocyte-nucleus"]) > 1.0
    cyto = (s.crop(scene.labels["hepatocyte"]) > 0.8) & ~ndimage.binary_dilation(nuc, iterations=3)
    h_nuc, e_nuc, d_nuc = hed[nuc].mean(axis=0)
    h_cyt, e_cyt, d_cyt = hed[cyto].mean(axis=0)
    assert h_nuc > 2 * h_cyt  # hematoxylin in nuclei
    assert e_cyt > 0.02 and e_cyt > h_cyt  # eosin in cytoplasm
    assert abs(d_nuc) < 0.25 * h_nuc and abs(d_cyt) < 0.25 * e_cyt  # no DAB


def test_darkfield_background_is_black(cat: Catalog) -> None:
    s, scene, sig, det = run(cat, instrument="darkfield-microscope", specimen="gram-mixed",
                             objective=40, mode="darkfield", stain="none")
    cover = s.crop(sum(scene.labels.values()))
    empty = ~ndimage.binary_dilation(cover > 0.01, iterations=8)
    v = det.values.mean(axis=0)
    assert empty.mean() > 0.1
    assert v[empty].mean() < 0.05 * v.max()


def test_isotropic_specimen_is_dark_between_crossed_polars(cat: Catalog) -> None:
    kw = dict(instrument="research-upright", specimen="liver-he", objective=20, exposure_ms=20.0)
    _, _, _, pol = run(cat, mode="polarized", **kw)
    _, _, _, bf = run(cat, mode="brightfield", **kw)
    assert pol.values.mean() < 0.01 * bf.values.mean()


def test_interference_colours_follow_michel_levy() -> None:
    """Retardance at 45° between crossed polars: 550 nm (first-order red) is magenta, 250 nm
    first-order white/yellow is bright and neutral-to-yellow, 1000 nm second-order is green-blue."""
    from micro.core.microscope.contrast import POL_NM, POL_WEIGHTS

    def colour(delta: float) -> np.ndarray:
        spec = np.sin(np.pi * delta / POL_NM) ** 2
        return POL_WEIGHTS @ spec

    red = colour(550.0)
    assert red[1] < red[0] and red[1] < red[2]  # magenta: little green
    white = colour(250.0)
    assert white.min() > 0.3
    assert colour(0.0).max() < 1e-9


def test_closing_the_condenser_lowers_resolution_raises_depth(cat: Catalog) -> None:
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="usaf-1951",
                                       objective=40, aperture=0.9), cat)
    open_ = render_microscope_request(req, cat).info
    closed = render_microscope_request(req.replace(cat, aperture=0.3), cat).info
    assert closed["resolution_um"] > open_["resolution_um"]
    assert open_["resolution_um"] == pytest.approx(1.22 * 0.55 / (0.65 + 0.9 * 0.65), rel=1e-3)


def test_oil_objective_used_dry_loses_resolution_and_light(cat: Catalog) -> None:
    kw = dict(instrument="student-compound", specimen="stage-micrometer", objective=100,
              x_um=0, y_um=-2000, exposure_ms=5.0)
    s_oil, _, _, wet = run(cat, **kw)
    s_dry, _, _, dry = run(cat, oil="off", **kw)
    assert s_dry.na < s_oil.na
    assert dry.values.mean() < 0.8 * wet.values.mean()


def test_achromat_shows_colour_fringes_apochromat_does_not(cat: Catalog) -> None:
    """At best green focus an achromat leaves red and blue out of focus (secondary spectrum)."""
    def spread(objective: int) -> float:
        _, _, sig, _ = run(cat, instrument="test-nyquist", specimen="usaf-1951",
                           objective=objective, mode="brightfield", x_um=60, y_um=60)
        r, g, b = sig.values
        return float(np.abs(r - g).mean() + np.abs(b - g).mean())

    assert spread(100) > 3 * spread(60)  # 100× is an achromat, 60× a plan-apochromat


def test_same_request_same_bytes_other_position_other_image(cat: Catalog) -> None:
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="gram-mixed",
                                       objective=100), cat)
    a = render_microscope_request(req, cat).image
    b = render_microscope_request(req, cat).image
    c = render_microscope_request(req.replace(cat, x_um=50), cat).image
    assert a == b and a != c
    img = Image.open(io.BytesIO(a))
    assert img.format == "JPEG" and img.size[0] == 512


def test_scale_bar_length_matches_its_label(cat: Catalog) -> None:
    """Decode the PNG, find the white bar: its length × pixel size is the labelled length."""
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="usaf-1951",
                                       objective=40, x_um=-20000, y_um=-60000, format="png"),
                                  cat)
    res = render_microscope_request(req, cat)
    img = np.asarray(Image.open(io.BytesIO(res.image)).convert("L")).astype(int)
    white = img >= 250
    lab, n = ndimage.label(white)
    sizes = ndimage.find_objects(lab)
    bars = [(sl[1].stop - sl[1].start, sl[0].stop - sl[0].start) for sl in sizes
            if (sl[1].stop - sl[1].start) > 5 * (sl[0].stop - sl[0].start)]
    length_px = max(b[0] for b in bars)
    assert length_px * res.info["pixel_size_um"] == pytest.approx(res.info["scale_bar_um"],
                                                                  abs=res.info["pixel_size_um"])
    off = render_microscope_request(req.replace(cat, scale_bar="off"), cat)
    img_off = np.asarray(Image.open(io.BytesIO(off.image)).convert("L"))
    assert (img_off >= 250).sum() < white.sum() / 2


def test_reported_depth_of_field_is_the_instruments_not_the_renders(cat: Catalog) -> None:
    """DOF = λn/NA² + n·e/(M·NA) with e the camera's own pixel and M the magnification onto
    it (PHYSICS.md, Nikon's formula): rendering the same view smaller or larger must not
    change the depth of field the info reports."""
    inst = cat.instruments["student-compound"]
    cam = inst.camera  # type: ignore[union-attr]
    assert cam is not None
    dofs = []
    for size in (256, 1024):
        req = canonicalize_microscope(dict(instrument="student-compound", specimen="usaf-1951",
                                           objective=10, view="camera", size=size), cat)
        info = render_microscope_request(req, cat).info
        dofs.append(info["dof_um"])
    lam, na, m = info["wavelength_nm"] / 1000.0, 0.25, 10 * cam.adapter_magnification
    assert dofs[0] == dofs[1] == pytest.approx(lam / na**2 + cam.pixel_size_um / (m * na),
                                               rel=1e-3)

def test_a_cleared_section_holds_mountant_where_the_water_was(cat: Catalog) -> None:
    """Gladstone–Dale: a hydrated structure's index is its dry matter's (1.58) and water's
    (1.333) mixed by volume; in a paraffin section the water is replaced by the resin, so
    cytoplasm (1.36) moves to within 0.01 of a 1.515 mountant, and in water nothing moves.
    Sections cut by microtome are cleared, a 60 µm ground section of bone is not."""
    assert mounted_index(1.36, 1.333) == pytest.approx(1.36)
    assert mounted_index(1.36, 1.515) == pytest.approx(1.522, abs=0.001)
    assert mounted_index(1.58, 1.515) == pytest.approx(1.58)
    assert is_cleared_section(cat.specimens["liver-he"])
    assert not is_cleared_section(cat.specimens["compact-bone"])
    assert not is_cleared_section(cat.specimens["cheek-cells"])
    # unstained, the section's cells all but vanish: the contrast left is a few per cent
    s, scene, sig, _ = run(cat, instrument="student-compound", specimen="liver-he",
                           objective=40, stain="none", x_um=0, y_um=0)
    cells = s.crop(scene.labels["hepatocyte"]) > 0.5
    g = sig.values[1]
    assert cells.mean() > 0.2
    assert np.percentile(g[cells], 5) > 0.9 * np.median(g[cells])

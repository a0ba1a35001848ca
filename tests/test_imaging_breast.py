"""The breast phantom reads as a cranio-caudal mammogram: the chest wall at the image edge,
parenchyma that thins out towards the skin, a spiculated mass that stands out, micro-
calcifications that survive the display, a display neither burnt out nor dark; and the
microcalcifications' paths keep their volume however small the pixel is against them."""

from __future__ import annotations

import dataclasses
import itertools
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.anatomy import anatomy, frontal_paths, speck_paths

CAT = default_catalog()
PH = CAT.phantoms["breast"]
AN = anatomy(PH.anatomy, tuple(t.id for t in PH.tissues), PH.seed)
T = {t: i for i, t in enumerate(AN.tissues)}


def _display(size: int, **settings) -> tuple[np.ndarray, dict]:
    r = micro.render_imaging(catalog=CAT, instrument="mammography", phantom="breast",
                             size=size, format="png", **settings)
    img = np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0
    return img, r.info


@pytest.fixture(scope="module")
def mammo512() -> tuple[np.ndarray, dict]:
    return _display(512)


def _body(n: int) -> np.ndarray:
    """Path (cm) through the breast on the n-pixel frontal grid (the phantom's projection)."""
    p = frontal_paths(AN)
    body = p.sum(axis=0) - p[T["air"]]
    return ndimage.zoom(body, n / body.shape[0], order=1, grid_mode=True, mode="nearest")


def test_the_chest_wall_is_at_the_image_edge_and_the_breast_fills_the_field(mammo512):
    """CC view: the breast runs off the detector's chest-wall side (the image's left
    column shows tissue over most of the height) and is 12-16 cm deep to the nipple."""
    d, info = mammo512
    n = d.shape[0]
    assert info["fov_mm"] == 240.0
    edge = d[:, 0] > 0.05
    assert edge.mean() > 0.6, f"tissue along the left edge: {edge.mean():.2f} of the height"
    assert d[:, -1].max() < 0.02, "the side opposite the chest wall is air (black)"
    cols = np.nonzero(d[n // 2] > 0.05)[0]
    assert cols.min() == 0
    depth_mm = (cols.max() + 1) * info["fov_mm"] / n
    assert 120.0 <= depth_mm <= 160.0, depth_mm


def test_glandular_fraction_falls_from_the_centre_to_the_skin():
    """Fibroglandular volume fraction in bands of distance from the skin line, skin left
    out (voxels within ~2 mm of air): each band towards the skin is less glandular."""
    n = 128
    c = (np.arange(n) + 0.5 - n / 2) * (AN.fov_mm / n)
    ys = np.arange(-24.0, 24.1, 1.0)
    lab = AN.labels(c[None, :, None], ys[None, None, :], c[::-1][:, None, None])
    body = lab != T["air"]
    # the chest-wall side continues past the image edge: no skin there
    padded = np.pad(body, ((0, 0), (3, 0), (0, 0)), mode="edge")
    inner = ndimage.binary_erosion(padded, np.ones((3, 3, 5), bool))[:, 3:]
    outline = np.pad(body.any(axis=2), ((0, 0), (1, 0)), constant_values=True)
    dist = ndimage.distance_transform_edt(outline)[:, 1:] * (AN.fov_mm / n)
    frac = []
    for lo, hi in ((3, 12), (12, 25), (25, 45), (45, 1000)):
        band = ((dist >= lo) & (dist < hi))[:, :, None] & inner
        assert band.sum() > 1000
        frac.append(float((lab[band] == T["fibroglandular"]).mean()))
    assert all(a < b for a, b in itertools.pairwise(frac)), frac
    assert 0.1 < frac[-1] < 0.45, f"central glandular fraction {frac[-1]:.2f}"
    whole = float((lab[inner] == T["fibroglandular"]).mean())
    assert 0.08 < whole < 0.35, f"glandular volume fraction {whole:.2f} (scattered/heterogeneous)"


def test_the_spiculated_mass_stands_out(mammo512):
    """The mass's core is brighter on the display than the ring 14-22 mm from its centre
    (its spicules and the surrounding tissue): contrast-to-noise ≥ 2 (3.1 measured)."""
    d, info = mammo512
    n = d.shape[0]
    m = ndimage.zoom(frontal_paths(AN)[T["mass"]], n / AN.projection_px, order=1,
                     grid_mode=True, mode="nearest")
    core = m > 1.2
    assert core.sum() > 100
    ii, jj = np.nonzero(m > 0.3)
    yy, xx = np.mgrid[:n, :n]
    r_mm = np.hypot(yy - ii.mean(), xx - jj.mean()) * info["fov_mm"] / n
    ring = (r_mm > 14) & (r_mm < 22)
    cnr = (d[core].mean() - d[ring].mean()) / d[ring].std()
    assert cnr > 2.0, cnr
    # spicules: mass tissue reaches well beyond the core, in many directions
    far = (m > 0.02) & (r_mm > 12)
    ang = np.arctan2(yy[far] - ii.mean(), xx[far] - jj.mean())
    sectors = np.unique(np.floor((ang + np.pi) / (np.pi / 6)).astype(int))
    assert sectors.size >= 8, f"spicules in {sectors.size} of 12 directions"


def test_microcalcifications_are_bright_specks_at_1024():
    d, info = _display(1024)
    n = d.shape[0]
    px = info["fov_mm"] / n
    yy, xx = np.mgrid[-7:8, -7:8]
    ring = (np.hypot(yy, xx) >= 4)
    seen = []
    for _, cx, cz, rad in AN.specks:
        if rad < 0.1:
            continue
        i, j = int(n / 2 - cz / px), int(cx / px + n / 2)
        peak = d[i - 1:i + 2, j - 1:j + 2].max()
        around = d[i - 7:i + 8, j - 7:j + 8][ring]
        seen.append(peak > np.percentile(around, 90) and peak - np.median(around) > 0.04)
    assert len(seen) >= 12
    assert np.mean(seen) >= 0.8, f"{sum(seen)} of {len(seen)} specks seen"


def test_the_display_is_neither_burnt_out_nor_dark(mammo512):
    d, _ = mammo512
    n = d.shape[0]
    inside = ndimage.binary_erosion(_body(n) > 0.05, iterations=4)
    v = d[inside]
    assert v.std() > 0.08, f"flat: interior std {v.std():.3f}"
    assert (v >= 0.995).mean() < 0.02, f"saturated: {(v >= 0.995).mean():.3f}"
    assert (v <= 0.005).mean() < 0.02, f"black: {(v <= 0.005).mean():.3f}"
    assert 0.2 < v.mean() < 0.65, v.mean()


def test_skin_line_and_periphery_show(mammo512):
    """Thickness equalisation: the periphery (within 2 cm of the skin line, where the
    compressed breast thins) is not burnt out, and the skin line is brighter than the
    subcutaneous fat just inside it."""
    d, _ = mammo512
    n = d.shape[0]
    px = AN.fov_mm / n
    body = _body(n) > 0.05
    dist = ndimage.distance_transform_edt(np.pad(body, ((0, 0), (1, 0)),
                                                 constant_values=True))[:, 1:] * px
    rim = body & (dist > 3) & (dist < 20)
    assert np.median(d[rim]) > 0.12, np.median(d[rim])
    skin = body & (dist >= 1.0) & (dist < 2.0)  # the tangent through the 1.5 mm skin
    fat = body & (dist > 2.5) & (dist < 5)
    assert np.median(d[skin]) > np.median(d[fat]) + 0.04, (np.median(d[skin]),
                                                            np.median(d[fat]))


def test_speck_paths_keep_the_volume_of_a_subpixel_speck():
    """A speck far smaller than a pixel still adds its whole volume (area-averaged), at
    any pixel size; a large one is resolved with its chord profile."""
    for rad in (0.05, 0.12, 0.4):
        an = dataclasses.replace(AN, specks=(("calcification", 3.3, -7.1, rad),))
        vol = 4.0 / 3.0 * np.pi * rad ** 3  # mm³
        for n in (256, 512, 1024):
            px = an.fov_mm / n
            p = speck_paths(an, n)[T["calcification"]] * 10  # mm
            assert p.sum() * px * px == pytest.approx(vol, rel=1e-3), (rad, n)
            assert p.max() <= 2 * rad + 1e-6
    an = dataclasses.replace(AN, specks=(("calcification", 0.0, 0.0, 2.0),))
    p = speck_paths(an, 1024)[T["calcification"]] * 10
    assert p.max() == pytest.approx(4.0, rel=0.02)  # the diameter through the centre


def test_ultrasound_mass_is_hypoechoic_with_a_shadow():
    """Breast ultrasound (linear probe, the phantom's defaults): fat hypoechoic, glandular
    tissue echogenic, the carcinoma darker than fat; beneath it (its attenuation) the fat
    is darker than the fat beside it at the same depth."""
    from micro.core.imaging import ultrasound
    from micro.core.imaging.anatomy import section_labels
    from micro.core.imaging.phantom import additive

    n = 256
    r = micro.render_imaging(catalog=CAT, instrument="ultrasound-linear", phantom="breast",
                             size=n, format="png")
    d = np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0
    add = additive(PH, "default", 0.0)
    g = ultrasound.geometry(add, CAT.instruments["ultrasound-linear"].spec,
                            float(r.info["depth_cm"]), n)
    x0, y0, px = g.frame
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    lab = section_labels(add.anatomy, 0.0)
    m = lab.shape[0]
    col = np.clip(((x0 + jj * px) / (add.fov_mm / m) + m / 2).astype(int), 0, m - 1)
    row = np.clip((m / 2 - (y0 - ii * px) / (add.fov_mm / m)).astype(int), 0, m - 1)
    tissue = lab[row, col]
    mean = {t: float(d[ndimage.binary_erosion(tissue == T[t], iterations=2) & (d > 0)].mean())
            for t in ("fat", "fibroglandular", "mass")}
    assert mean["mass"] < mean["fat"] - 0.1 < mean["fibroglandular"] - 0.2, mean
    mass = tissue == T["mass"]
    cols = np.nonzero(mass.sum(axis=0) > 0.6 * mass.sum(axis=0).max())[0]
    below = np.zeros_like(mass)
    bottom = int(np.nonzero(mass.any(axis=1))[0].max())
    below[bottom + 2:, cols] = True
    beside = np.zeros_like(mass)
    beside[bottom + 2:, :] = True
    beside[:, max(cols.min() - 20, 0):cols.max() + 20] = False
    fat = (tissue == T["fat"]) & (d > 0)
    assert (below & fat).sum() > 50 and (beside & fat).sum() > 50
    assert d[below & fat].mean() < 0.85 * d[beside & fat].mean(), (
        d[below & fat].mean(), d[beside & fat].mean())


def test_automatic_exposure_of_a_breast_is_clinical(mammo512):
    """A 4.5 cm compressed breast at 28 kV Mo/Mo: clinical AEC ends at tens of mAs, with an
    entrance air kerma of a few mGy (EUREF: typical tube output 40–70 µGy/mAs at 1 m; dose
    surveys put a 4.5 cm breast's entrance kerma near 5 mGy) — well inside the tube's range,
    not at its 500 mAs limit."""
    _, info = mammo512
    lo, hi = CAT.instruments["mammography"].spec.mas_range  # type: ignore[union-attr]
    assert info["exposure"].startswith("automatic")
    assert 15 <= info["mas"] <= 150 and info["mas"] < hi
    assert 2.0 <= info["entrance_air_kerma_mgy"] <= 10.0

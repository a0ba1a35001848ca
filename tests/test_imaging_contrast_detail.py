"""The contrast-detail phantom's default images show its details: measured on the decoded
image, each disc's contrast-to-noise ratio against the gel around it is high for the
largest, most contrasted disc, falls from row to row as the contrast (attenuation step,
gadolinium concentration) falls, and the background is neither clipped white nor black."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

import micro
from micro.core.catalog import default_catalog

N = 256
ROWS = ("insert-high", "insert-mid", "insert-low")
CAT = default_catalog()
PH = CAT.phantoms["contrast-detail"]


def _grid(fov_mm: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(n) + 0.5 - n / 2) * (fov_mm / n)
    return np.meshgrid(c, -c)  # row 0 is +y


def _cnr(img: np.ndarray, fov_mm: float) -> dict[tuple[str, float], float]:
    """(row tissue, disc radius mm) → (disc mean − gel background) / gel σ, the disc read
    over its central 60 % radius, the gel over a ring 2.5–9 mm outside its edge. The gel's
    background is a plane fitted to the ring (the scatter field falls towards the slab's
    edge), σ the ring's scatter about that plane."""
    x, y = _grid(fov_mm, img.shape[0])
    out = {}
    for sh in PH.shapes:
        if sh.tissue not in ROWS:
            continue
        r = sh.axes_mm[0]
        dx, dy = x - sh.center_mm[0], y - sh.center_mm[1]
        d = np.hypot(dx, dy)
        disc, ring = d <= 0.6 * r, (d >= r + 2.5) & (d <= r + 9)
        a = np.stack([np.ones(ring.sum()), dx[ring], dy[ring]], axis=1)
        coef, *_ = np.linalg.lstsq(a, img[ring], rcond=None)
        resid = img[ring] - a @ coef
        base = coef[0] + coef[1] * dx[disc].mean() + coef[2] * dy[disc].mean()
        out[(sh.tissue, r)] = float((img[disc].mean() - base) / max(resid.std(), 1e-9))
    return out


def _gel(fov_mm: float, n: int) -> np.ndarray:
    """Pixels of the gel at least 3 mm from every disc and 10 mm inside the wall."""
    x, y = _grid(fov_mm, n)
    m = np.hypot(x, y) < 80
    for sh in PH.shapes:
        if sh.tissue in ROWS:
            m &= np.hypot(x - sh.center_mm[0], y - sh.center_mm[1]) > sh.axes_mm[0] + 3
    return m


def _decoded(r) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("instrument", ["digital-radiography", "mammography", "mri-1-5t"])
def test_default_image_shows_the_details(instrument):
    r = micro.render_imaging(catalog=CAT, instrument=instrument, phantom="contrast-detail",
                             size=N, format="png")
    img = _decoded(r)
    fov = r.info["fov_mm"] if r.info["modality"] == "mri" else PH.fov_mm
    cnr = _cnr(img, fov)
    radii = sorted({r_ for _, r_ in cnr}, reverse=True)
    # the largest, most contrasted disc stands out well above the Rose threshold per pixel
    assert cnr[("insert-high", radii[0])] > 3.0, cnr
    # contrast falls row by row (mean over the three largest discs, which partial volume
    # and blur leave whole)
    rows = [np.mean([cnr[(t, r_)] for r_ in radii[:3]]) for t in ROWS]
    assert rows[0] > rows[1] > rows[2] > 0.5, rows
    assert rows[0] > 1.4 * rows[2], rows
    # the gel background is grey, not clipped, and carries visible noise
    gel = img[_gel(fov, N)]
    assert (gel >= 254.5).mean() < 0.02 and (gel <= 0.5).mean() < 0.02
    assert gel.std() > 2.0, gel.std()
    assert 20 < gel.mean() < 235, gel.mean()


def test_radiograph_background_is_a_flat_slab():
    """Seen end-on, the slab's gel is flat: away from the wall, its transmitted fraction
    varies by less than a disc's contrast (only the broad scatter field and noise)."""
    r = micro.render_imaging(catalog=CAT, instrument="digital-radiography",
                             phantom="contrast-detail", size=N, mas=50)
    gel = r.raw[_gel(PH.fov_mm, N) & (np.hypot(*_grid(PH.fov_mm, N)) < 60)]
    spread = (np.percentile(gel, 95) - np.percentile(gel, 5)) / np.median(gel)
    # the high-contrast row attenuates 4 % more (Δμ · 5 cm), the gel varies by less
    assert spread < 0.04, spread


def test_radiograph_cnr_grows_as_root_mas():
    """Quantum noise: CNR ∝ √(mAs) — four times the exposure doubles it (raw image)."""
    kw = {"catalog": CAT, "instrument": "digital-radiography", "phantom": "contrast-detail",
          "size": N, "kvp": 80}
    lo = _cnr(micro.render_imaging(**kw, mas=0.5).raw, PH.fov_mm)
    hi = _cnr(micro.render_imaging(**kw, mas=2.0).raw, PH.fov_mm)
    key = ("insert-high", 7.5)
    # more attenuation → less transmitted: the discs are darker in the raw image
    assert lo[key] < 0 and hi[key] < 0
    assert hi[key] / lo[key] == pytest.approx(2.0, rel=0.3)


def test_gadolinium_shortens_t1_by_its_relaxivity():
    """The MRI inserts are gel with gadolinium: 1/T1 = 1/T1_gel + r1·C, with r1 ≈ 3.5–4.5
    /(mM·s) at 1.5 and 3 T, and C falling from row to row, so T1 rises along the rows."""
    gel = next(t for t in PH.tissues if t.id == "tissue-mimic").mri
    for field in ("1.5", "3"):
        r1 = []
        t1 = []
        for tid in ROWS:
            tis = next(t for t in PH.tissues if t.id == tid).mri[field]
            t1.append(tis.t1_ms)
            r1.append(1000 / tis.t1_ms - 1000 / gel[field].t1_ms)  # r1·C, 1/s
            assert tis.t2_ms < gel[field].t2_ms and tis.pd == gel[field].pd
        assert t1[0] < t1[1] < t1[2] < gel[field].t1_ms
        # r1·C halves row by row (1, 0.5, 0.25 mM)
        assert r1[0] / r1[1] == pytest.approx(2.0, rel=0.05)
        assert r1[1] / r1[2] == pytest.approx(2.0, rel=0.05)
        assert 3.5 < r1[0] < 4.5  # at 1 mM


def test_gadolinium_darkens_on_t2_weighting():
    """T2-weighted spin echo (TR 4000, TE 100): with TR ≫ T1 the T1 gain is gone and the
    r2 · C shortening of T2 leaves the most concentrated discs darker than the gel."""
    r = micro.render_imaging(catalog=CAT, instrument="mri-1-5t", phantom="contrast-detail",
                             size=N, format="png", tr_ms=4000, te_ms=100)
    cnr = _cnr(_decoded(r), r.info["fov_mm"])
    assert np.mean([cnr[("insert-high", r_)] for r_ in (7.5, 5.0, 3.5)]) < -1.5, cnr


@pytest.mark.parametrize("phantom,radius_mm", [("contrast-detail", 80), ("water-cylinder", 90),
                                               ("line-pairs", 20)])
@pytest.mark.parametrize("instrument", ["digital-radiography", "mammography"])
def test_test_objects_are_not_a_clipped_disc(phantom, radius_mm, instrument):
    """Seen end-on by radiography or mammography (automatic exposure), the water or gel
    inside a test object is displayed grey: neither clipped to white nor to black."""
    r = micro.render_imaging(catalog=CAT, instrument=instrument, phantom=phantom, size=N,
                             format="png")
    img = _decoded(r)
    x, y = _grid(CAT.phantoms[phantom].fov_mm, N)
    v = img[np.hypot(x, y) < radius_mm]
    assert (v >= 254.5).mean() < 0.02, (v >= 254.5).mean()
    assert (v <= 0.5).mean() < 0.02, (v <= 0.5).mean()

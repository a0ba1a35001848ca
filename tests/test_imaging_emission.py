"""PET and SPECT: MLEM stays non-negative and raises the likelihood; counts set the noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.emission import mlem, projector
from micro.core.imaging.phantom import additive, fractions


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def test_mlem_non_negative_and_likelihood_rises(cat):
    add = additive(cat.phantoms["derenzo"])
    n, views = 48, 36
    a = projector(n, add.fov_mm, views, np.pi)
    x_true = fractions(add, n)[add.tissues.index("hot-solution")].ravel().astype(float) * 50
    y = np.random.default_rng(3).poisson(a @ x_true).astype(float)
    hist: list[float] = []
    x = mlem(a, y, 12, 1, views=views, history=hist)
    assert x.min() >= 0
    assert all(b > a_ for a_, b in itertools.pairwise(hist))
    hist_os: list[float] = []
    x_os = mlem(a, y, 3, 4, views=views, history=hist_os)
    assert x_os.min() >= 0 and hist_os[-1] > hist_os[0]


@pytest.mark.parametrize("instrument", ["pet-ct", "spect-gamma-camera"])
def test_more_counts_less_noise(cat, instrument):
    spec = cat.instruments[instrument].spec
    kw = {"catalog": cat, "instrument": instrument, "phantom": "water-cylinder", "size": 256,
          "recon": "mlem", "iterations": 10}
    low = micro.render_imaging(**kw, scan_min=2, dose_mbq=spec.dose_mbq_range[0] * 2 + 10)
    high = micro.render_imaging(**kw, scan_min=30, dose_mbq=spec.dose_mbq_range[1])
    assert high.info["total_counts"] > 10 * low.info["total_counts"]
    assert high.info["noise_cv_pct"] < low.info["noise_cv_pct"]
    assert high.raw.min() >= 0 and high.info["raw_unit"].endswith("kBq/mL")


def test_fbp_osem_and_determinism(cat):
    kw = {"catalog": cat, "instrument": "pet-ct", "phantom": "brain", "size": 256}
    a = micro.render_imaging(**kw)
    assert a.image == micro.render_imaging(**kw).image
    tissue = a.info["tissue_kbq_ml"]
    assert tissue["gray-matter"] > tissue["white-matter"] > tissue["csf"]
    f = micro.render_imaging(**kw, recon="fbp")
    assert f.info["recon"] == "fbp" and f.image != a.image


def test_spect_count_statistics(cat):
    """Counts are Poisson with a mean ∝ dose × time (decay-corrected): doubling the scan
    time doubles the counts; the post-filter trades noise for resolution."""
    kw = {"catalog": cat, "instrument": "spect-gamma-camera", "phantom": "brain", "size": 256}
    a = micro.render_imaging(**kw, scan_min=10)
    b = micro.render_imaging(**kw, scan_min=20)
    decay = b.info["mean_decay_factor"] / a.info["mean_decay_factor"]
    na, nb = a.info["total_counts"], b.info["total_counts"]
    # the ratio of two Poisson totals scatters by √(1/Na + 1/Nb) (≈ 0.5 % here): allow 4σ
    assert nb / na == pytest.approx(2 * decay, rel=4 * np.sqrt(1 / na + 1 / nb))
    assert b.info["post_fwhm_mm"] == 8  # the SPECT default: a low-pass post-filter
    raw = micro.render_imaging(**kw, scan_min=20, post_fwhm_mm=0)
    assert raw.info["noise_cv_pct"] > 1.5 * b.info["noise_cv_pct"]


@pytest.mark.parametrize("instrument", ["pet-ct", "spect-gamma-camera"])
def test_reported_noise_rises_with_iterations_and_falls_as_root_counts(cat, instrument):
    """The info's noise_cv_pct measures noise, not edge blur or the unconverged bias of
    MLEM: it rises with every step of MLEM iterations (Shepp & Vardi: noise grows with
    iterations) and scales as counts^−0.5 (Poisson; log–log slope −0.5 ± 0.1)."""
    kw = {"catalog": cat, "instrument": instrument, "phantom": "water-cylinder", "size": 256,
          "post_fwhm_mm": 0}
    cv = [micro.render_imaging(**kw, recon="mlem", iterations=it).info["noise_cv_pct"]
          for it in (1, 3, 10, 30)]
    assert all(b > 1.3 * a for a, b in itertools.pairwise(cv)), cv
    for recon in ("fbp", "mlem"):
        runs = [micro.render_imaging(**kw, recon=recon, iterations=10, scan_min=t).info
                for t in (2.5, 10, 40)]
        counts = np.log([r["total_counts"] for r in runs])
        slope = np.polyfit(counts, np.log([r["noise_cv_pct"] for r in runs]), 1)[0]
        assert slope == pytest.approx(-0.5, abs=0.1), (recon, slope)

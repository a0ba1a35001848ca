"""PET and SPECT: MLEM stays non-negative and raises the likelihood; counts set the noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging import emission
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


def test_projector_is_linear_interpolation_onto_the_bins():
    """Each pixel centre, projected at each angle, lands at t bins; the projector splits the
    pixel between bins ⌊t⌋ and ⌊t⌋ + 1 by linear interpolation (weights summing to 1 on the
    detector), which a direct scatter of the same law reproduces."""
    n, views, span = 40, 30, 2 * np.pi
    a = projector(n, 200.0, views, span)
    x = np.random.default_rng(5).random(n * n)
    c = np.arange(n) + 0.5 - n / 2
    xx, yy = np.meshgrid(c, -c)
    want = np.zeros((views, n))
    for v in range(views):
        th = v * span / views
        t = xx.ravel() * np.cos(th) + yy.ravel() * np.sin(th) + n / 2 - 0.5
        i = np.floor(t).astype(int)
        w = t - i
        for b, wt in ((i, 1 - w), (i + 1, w)):
            ok = (b >= 0) & (b < n)
            np.add.at(want[v], b[ok], (wt * x)[ok])
    assert np.abs(a @ x - want.ravel()).max() < 1e-5 * want.max()
    inside = (xx ** 2 + yy ** 2).ravel() < (n / 2 - 1) ** 2  # on the detector at every angle
    sums = np.asarray(a.sum(axis=0)).ravel()
    assert np.allclose(sums[inside], views, rtol=1e-5)


@pytest.mark.parametrize("subsets", [1, 7, 8])
def test_osem_subsets_partition_the_projector(subsets):
    """The subsets (interleaved views, ragged when the views do not divide) hold every row
    of the projector once: their products assemble A x and Aᵀ y."""
    n, views, span = 32, 24, np.pi
    a = projector(n, 100.0, views, span)
    subs, sub_views = emission._geometry(n, views, span, subsets)
    assert sorted(np.concatenate(sub_views)) == list(range(views))
    rng = np.random.default_rng(2)
    x, y = rng.random(n * n), rng.random(views * n)
    ax, aty = np.empty(views * n), np.zeros(n * n)
    for sub, v in zip(subs, sub_views, strict=True):
        rows = (v[:, None] * n + np.arange(n)[None, :]).ravel()
        ax[rows] = sub @ x
        aty += sub.T @ y[rows]
    assert np.allclose(ax, a @ x, rtol=1e-6, atol=1e-9)
    assert np.allclose(aty, a.T @ y, rtol=1e-6, atol=1e-9)


def test_pixel_attenuation_is_the_rotated_path_integral():
    """SPECT attenuation from a pixel to the detector: the tables sample exactly as
    ndimage.rotate (order 1, zero outside) does, so the result matches integrating the
    rotated μ map view by view; and a uniform disc attenuates a centre pixel by e^{−μ r}."""
    from scipy import ndimage

    rng = np.random.default_rng(4)
    n, views, span, px = 64, 16, 2 * np.pi, 0.3
    mu = rng.random((n, n)) * 0.15
    got = emission._pixel_attenuation(mu, px, views, span)
    m = mu.reshape(n // 2, 2, n // 2, 2).mean(axis=(1, 3)).astype(np.float32)
    want = np.empty((views, n // 2, n // 2), dtype=np.float32)
    for v in range(views):
        deg = np.degrees(v * span / views)
        rot = ndimage.rotate(m, -deg, reshape=False, order=1, mode="constant")
        down = np.cumsum(rot[::-1], axis=0)[::-1] - rot / 2
        want[v] = np.exp(-ndimage.rotate(down, deg, reshape=False, order=1, mode="constant")
                         * px * 2)
    # back on the full grid by the same linear ×2 interpolation
    want = emission._upsample2(emission._upsample2(want, 1), 2).reshape(views, -1)
    assert np.abs(got - want).max() < 1e-5
    yy, xx = np.mgrid[:128, :128] - 63.5
    disc = np.where(xx ** 2 + yy ** 2 < 50 ** 2, 0.15, 0.0)  # μ 0.15/cm, radius 50 px
    att = emission._pixel_attenuation(disc, 0.1, 8, 2 * np.pi).reshape(8, 128, 128)
    centre = att[:, 63:65, 63:65].mean(axis=(1, 2))
    assert np.allclose(centre, np.exp(-0.15 * 50 * 0.1), rtol=0.03)


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

"""Emission tomography (PET and SPECT): activity from uptake, attenuation, Poisson counts,
detector blur, and FBP / MLEM / OSEM reconstruction.

Activity: each tissue's relative uptake × its fraction, scaled so the slice holds
SLICE_FRACTION of the injected dose. Expected counts per line of response:
    ȳ = S · t · d̄ / V · a ⊙ (A x)
with S the instrument's sensitivity (cps/MBq), t the scan time, d̄ the mean decay factor over
the scan (F-18 for PET, Tc-99m for SPECT), V the number of views, A a parallel-beam projector
(linear interpolation) and a the attenuation: PET multiplies each line by e^{−∫μ} (511 keV,
exact chords of the phantom); SPECT attenuates each pixel by e^{−∫μ} from the pixel to the
detector (140 keV, views over 360°). The measured sinogram is Poisson(ȳ) blurred by the
detector (Gaussian, FWHM = the instrument's spatial resolution).

MLEM (Shepp & Vardi 1982): x ← x / (Aᵀ1) · Aᵀ(y / Ax), with attenuation in the model; OSEM
runs it over interleaved subsets of views. FBP uses the conjugate-view mean for SPECT and no
attenuation correction. A Gaussian post-filter (FWHM post_fwhm_mm; PET 5 mm, SPECT 8 mm by
default) trades resolution for noise as clinical reconstructions do: count-poor SPECT is
unreadable without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage, sparse

from micro.core.imaging import fbp
from micro.core.imaging.attenuation import mu_at
from micro.core.imaging.display import largest_uniform, resize, tissue_means
from micro.core.imaging.phantom import Additive, Section, additive, chords, fractions
from micro.core.memory import IdentityCache, memoized
from micro.core.models import ImagingInstrument, NuclearSpec, Phantom

N_RECON = 128
VIEWS = {"pet": 96, "spect": 120}
SPAN = {"pet": np.pi, "spect": 2 * np.pi}
ENERGY_KEV = {"pet": 511.0, "spect": 140.5}
HALF_LIFE_MIN = {"pet": 109.77, "spect": 360.6}
ISOTOPE = {"pet": "F-18", "spect": "Tc-99m"}
SLICE_FRACTION = 0.005
"""Fraction of the injected activity in the imaged slice (≈ 4 mm of an 80 cm body)."""
SLICE_MM = 4.0


def projector(n: int, fov_mm: float, views: int, span: float) -> sparse.csr_matrix:
    """Parallel-beam projector (views·n × n²), linear interpolation onto n bins of fov/n.
    In pixel units it does not depend on the field of view, so it is built once per
    matrix size and angular sampling."""
    return _projector(n, views, span)


@memoized("imaging.emission.projector")
def _projector(n: int, views: int, span: float) -> sparse.csr_matrix:
    x = (np.arange(n) + 0.5 - n / 2).astype(np.float32)  # pixel centres in pixels
    xx, yy = np.meshgrid(x, -x)
    theta = np.arange(views) * span / views
    # Built column by column (pixel-major): each pixel has two entries per view, bins i and
    # i + 1, so rows ascend within a column and the transpose to CSR needs no sort. A bin
    # off the detector keeps a zero weight on the nearest bin and is dropped at the end.
    t = ((xx.ravel()[:, None] * np.cos(theta)[None, :] + yy.ravel()[:, None]
          * np.sin(theta)[None, :]) + n / 2 - 0.5)  # (n², views), in bins
    i = np.floor(t).astype(np.int32)
    w = (t - i).astype(np.float32)
    rows = np.empty((n * n, views, 2), dtype=np.int32)
    vals = np.empty((n * n, views, 2), dtype=np.float32)
    base = (np.arange(views) * n).astype(np.int32)[None, :]
    for k, (b, wt) in enumerate(((i, 1 - w), (i + 1, w))):
        ok = (b >= 0) & (b < n)
        rows[..., k] = base + np.clip(b, 0, n - 1)
        vals[..., k] = np.where(ok, wt, 0.0)
    indptr = np.arange(0, n * n * views * 2 + 1, views * 2, dtype=np.int32)
    a = sparse.csc_matrix((vals.ravel(), rows.ravel(), indptr), shape=(views * n, n * n))
    a = a.tocsr()
    a.sum_duplicates()
    a.eliminate_zeros()
    return a


def _pixel_attenuation(mu: np.ndarray, px_cm: float, views: int, span: float) -> np.ndarray:
    """e^{−∫μ} from each pixel to the detector for every view, float32 (views, n²).

    The path integrals are smooth (sums of μ along a line), so they are taken on a 2×
    coarser grid (μ area-averaged) and interpolated back; a view and the view opposite it
    (span 2π) share one rotation, integrated downwards and upwards."""
    n = mu.shape[0]
    c = 2 if n % 2 == 0 else 1
    m = mu.reshape(n // c, c, n // c, c).mean(axis=(1, 3)).astype(np.float32)
    step = px_cm * c
    ints = np.empty((views, n // c, n // c), dtype=np.float32)
    half = views // 2 if (views % 2 == 0 and abs(span - 2 * np.pi) < 1e-9) else 0
    for v in range(views - half):
        deg = np.degrees(v * span / views)
        # rotate so the detector of this view lies below the image; integrate downwards
        rot = ndimage.rotate(m, -deg, reshape=False, order=1, mode="constant")
        down = np.cumsum(rot[::-1], axis=0)[::-1] - rot / 2
        ints[v] = ndimage.rotate(down, deg, reshape=False, order=1, mode="constant")
        if half:  # the opposite view: its detector lies above this rotated image
            up = np.cumsum(rot, axis=0) - rot / 2
            ints[v + half] = ndimage.rotate(up, deg, reshape=False, order=1,
                                            mode="constant")
    att = np.exp(-ints * step)
    if c > 1:
        att = _upsample2(_upsample2(att, 1), 2)
    return att.reshape(views, -1).astype(np.float32)


def _upsample2(a: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation ×2 along an axis (pixel-area grids: output pixel 2k ± ½ lies a
    quarter of an input pixel from input pixel k), edges held."""
    a = np.moveaxis(a, axis, -1)
    prev = np.concatenate([a[..., :1], a[..., :-1]], axis=-1)
    nxt = np.concatenate([a[..., 1:], a[..., -1:]], axis=-1)
    out = np.empty((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
    out[..., 0::2] = 0.75 * a + 0.25 * prev
    out[..., 1::2] = 0.75 * a + 0.25 * nxt
    return np.moveaxis(out, -1, axis)


@memoized("imaging.emission.system")
def _system(add: Additive, modality: str, mu_key: tuple[float, ...]
            ) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(attenuated projector, activity basis per tissue (tissues, n²))."""
    n, views, span = N_RECON, VIEWS[modality], SPAN[modality]
    frac = fractions(add, n)
    a = projector(n, add.fov_mm, views, span)
    mu = np.tensordot(np.asarray(mu_key), frac, axes=1)
    if modality == "pet":
        if isinstance(add, Section):  # the raster's own projection (smooth: ample here)
            line = (a @ mu.ravel().astype(np.float32)) * (add.fov_mm / n / 10.0)
        else:
            theta = np.arange(views) * span / views
            s = (np.arange(n) + 0.5 - n / 2) * add.fov_mm / n
            line = np.tensordot(np.asarray(mu_key), chords(add, theta, s), axes=1) / 10.0
        att = np.exp(-line).ravel().astype(np.float32)  # per row (view, bin)
        scale = att[_row_of_entries(a)]
    else:
        pa = _pixel_attenuation(mu, add.fov_mm / n / 10.0, views, span)
        scale = pa[_row_of_entries(a) // n, a.indices]
    a_att = sparse.csr_matrix((a.data * scale, a.indices, a.indptr), shape=a.shape)
    return a_att, frac.reshape(frac.shape[0], -1)


def _row_of_entries(a: sparse.csr_matrix) -> np.ndarray:
    """The row of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))


def mlem(a: sparse.csr_matrix, y: np.ndarray, iterations: int, subsets: int = 1,
         x0: np.ndarray | None = None, views: int | None = None,
         history: list[float] | None = None) -> np.ndarray:
    """MLEM/OSEM estimate (non-negative) of x from counts y ≈ Poisson(A x). Subsets are
    interleaved views (rows grouped by view; `views` rows-blocks). If `history` is given, the
    Poisson log-likelihood Σ y log(Ax) − Ax is appended after every full iteration."""
    nrows = a.shape[0]
    views = views or 1
    nrows // views
    dt = a.dtype
    y = np.asarray(y, dtype=dt)
    x = (np.full(a.shape[1], max(float(y.sum()), 1.0) / max(float(a.sum()), 1e-12), dtype=dt)
         if x0 is None else x0.astype(dt).copy())
    blocks = _subset_blocks(a, views, subsets)
    for _ in range(iterations):
        for sub, subt, rows, sens in blocks:
            ys = y[rows]
            ax = sub @ x
            ratio = np.divide(ys, ax, out=np.zeros_like(ax), where=ax > 0)
            x = np.divide(x * (subt @ ratio), sens, out=np.zeros_like(x), where=sens > 0)
        if history is not None:
            ax = a @ x
            pos = ax > 0
            history.append(float(np.sum(y[pos] * np.log(ax[pos]), dtype=np.float64)
                                 - ax.sum(dtype=np.float64)))
    return x


_BLOCKS: IdentityCache[list[Any]] = IdentityCache("imaging.emission.subset_blocks")


def _subset_blocks(a: sparse.csr_matrix, views: int, subsets: int) -> list[Any]:
    """Per subset: (rows of A, its transpose, row indices, sensitivity Aᵀ1), cached per A."""
    def make() -> list[Any]:
        bins = a.shape[0] // views
        blocks = []
        for s in range(subsets):
            rows = (np.arange(s, views, subsets)[:, None] * bins
                    + np.arange(bins)[None, :]).ravel()
            sub = a[rows]
            # the transpose as a CSC view: its product costs as much, and it needs no copy
            blocks.append((sub, sub.T, rows, np.asarray(sub.sum(axis=0)).ravel()))
        return blocks

    return _BLOCKS.get(a, (views, subsets), make)


def render_emission(settings: dict[str, Any], phantom: Phantom, variant: str,
                    inst: ImagingInstrument, n: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    spec = inst.spec
    assert isinstance(spec, NuclearSpec)
    modality = spec.modality
    add = additive(phantom, variant, float(settings["slice_mm"]))
    dose, minutes = float(settings["dose_mbq"]), float(settings["scan_min"])
    recon, iters, subsets = settings["recon"], int(settings["iterations"]), \
        int(settings["subsets"])
    views, _span = VIEWS[modality], SPAN[modality]
    mu_key = tuple(round(mu_at(t, ENERGY_KEV[modality]), 6) for t in phantom.tissues)
    a_att, basis = _system(add, modality, mu_key)

    uptake = np.array([t.uptake for t in phantom.tissues])
    x_true = uptake @ basis  # relative activity per pixel
    slice_mbq = dose * SLICE_FRACTION
    x_true = x_true * (slice_mbq / max(float(x_true.sum()), 1e-12))  # MBq per pixel
    lam = np.log(2) / HALF_LIFE_MIN[modality]
    decay = (1 - np.exp(-lam * minutes)) / (lam * minutes)
    scale = spec.sensitivity_cps_per_mbq * minutes * 60.0 * decay / views
    ybar = scale * (a_att @ x_true)
    px = phantom.fov_mm / N_RECON
    sig_bins = spec.spatial_resolution_mm / 2.355 / px
    ybar = ndimage.gaussian_filter1d(ybar.reshape(views, N_RECON), sig_bins, axis=1).ravel()
    y = rng.poisson(np.maximum(ybar, 0)).astype(np.float64)

    if recon == "fbp":
        sino = y.reshape(views, N_RECON) / scale
        if modality == "spect":
            half = views // 2
            sino = 0.5 * (sino[:half] + sino[half:, ::-1])
        x = fbp.fbp(sino, px, N_RECON, phantom.fov_mm, "hann", footprint=False)
        x = (x * px).ravel()  # line integrals of MBq per pixel → MBq per pixel
    else:
        x = mlem(a_att, y / scale, iters, subsets if recon == "osem" else 1, views=views)
    voxel_ml = (px / 10.0) ** 2 * (SLICE_MM / 10.0)
    conc = (x.reshape(N_RECON, N_RECON) / voxel_ml * 1000.0).astype(np.float32)  # kBq/mL
    post = float(settings["post_fwhm_mm"])
    if post > 0:
        conc = ndimage.gaussian_filter(conc, post / 2.355 / px, mode="constant")
    img = resize(conc, (n, n))
    frac_n = fractions(add, n)
    body = frac_n[add.background] < 0.01
    means = tissue_means(img, add, frac_n)
    uniform_tissue = max(means, key=lambda t: int(np.sum(frac_n[add.tissues.index(t)] > 0.999))
                         ) if means else None
    info: dict[str, Any] = {
        "isotope": ISOTOPE[modality], "photon_energy_kev": ENERGY_KEV[modality],
        "dose_mbq": dose, "scan_min": minutes, "scan_time_s": minutes * 60.0,
        "recon": recon, "iterations": iters if recon != "fbp" else None,
        "post_fwhm_mm": post,
        "subsets": subsets if recon == "osem" else None,
        "views": views, "recon_matrix": N_RECON, "pixel_mm": round(px, 3),
        "thickness_mm": SLICE_MM, "slice_mm": float(settings["slice_mm"]),
        "voxel_mm3": round(px * px * SLICE_MM, 2),
        "detector_fwhm_mm": spec.spatial_resolution_mm,
        "sensitivity_cps_per_mbq": spec.sensitivity_cps_per_mbq,
        "total_counts": int(y.sum()), "mean_decay_factor": round(float(decay), 4),
        "activity_in_slice_mbq": round(slice_mbq, 4),
        "tissue_kbq_ml": means,
        "raw_unit": "activity concentration, kBq/mL",
    }
    if uniform_tissue is not None:
        # measured on the reconstruction's own pixels (the figure does not depend on the
        # output size, and the smooth trend costs little there)
        frac_r = fractions(add, N_RECON)
        m = noise_region(frac_r, add.background, float(np.hypot(spec.spatial_resolution_mm,
                                                                 post)) / px)
        if m is not None:
            uniform_tissue = add.tissues[int(np.argmax([(f[m]).mean() for f in frac_r]))]
            cv = local_cv(conc, m, float(np.hypot(spec.spatial_resolution_mm, post)) / px)
            info["noise_cv_pct"] = round(100 * cv, 2)
            info["snr"] = round(1 / max(cv, 1e-12), 2)
            info["uniform_region"] = uniform_tissue
    peak = float(np.percentile(img[body], 99.5)) if body.any() else float(img.max())
    display = np.clip(img / max(peak, 1e-12), 0, 1)
    return display, img, info


MIN_NOISE_PX = 50


def noise_region(frac: np.ndarray, background: int, blur_px: float) -> np.ndarray | None:
    """The largest single-tissue region eroded by one resolution FWHM (`blur_px`): its edge
    blur falls below 1 % of the contrast there, so what varies inside is noise and the
    smooth bias `local_cv` removes. A structure too small to keep MIN_NOISE_PX pixels is
    eroded less (halving, down to 2 px); None if even that leaves too few."""
    erode = max(int(np.ceil(blur_px)), 2)
    while True:
        m = largest_uniform(frac, background, erode)
        if m.sum() >= MIN_NOISE_PX:
            return m
        if erode <= 2:
            return None
        erode = max(erode // 2, 2)


TREND_FWHM = 2.0
"""Width of the smooth trend removed before measuring noise, in resolution FWHMs."""


def local_cv(img: np.ndarray, mask: np.ndarray, blur_px: float) -> float:
    """Noise as a fraction of the local mean in `mask`: the standard deviation of
    img / trend − 1, the trend being a Gaussian average over the mask TREND_FWHM resolution
    widths wide. It follows the slow bias of an unconverged MLEM or of a reconstruction
    without attenuation correction (the cupped profile of a water cylinder), which a plain
    standard deviation would count as noise."""
    sigma = TREND_FWHM * max(blur_px, 1.0) / 2.355
    m = mask.astype(np.float64)
    num = ndimage.gaussian_filter(img * m, sigma, mode="constant")
    den = ndimage.gaussian_filter(m, sigma, mode="constant")
    trend = num[mask] / np.maximum(den[mask], 1e-12)
    rel = img[mask] / np.maximum(trend, 1e-12) - 1.0
    return float(rel.std())

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

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage, sparse, special

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


def projector(n: int, fov_mm: float, views: int, span: float) -> sparse.csc_matrix:
    """Parallel-beam projector (views·n × n²), linear interpolation onto n bins of fov/n, as
    a CSC matrix (rows: view-major, bins within). In pixel units it does not depend on the
    field of view, so the tables behind it are built once per matrix size and sampling."""
    (sub,), _ = _geometry(n, views, span, 1)
    a = sub.copy()
    a.eliminate_zeros()  # weights off the detector (and their duplicate rows) are zeros
    return a


@memoized("imaging.emission.projector")
def _geometry(n: int, views: int, span: float, subsets: int
              ) -> tuple[tuple[sparse.csc_matrix, ...], tuple[np.ndarray, ...]]:
    """The projector split into OSEM subsets (interleaved views s, s + S, …), each a CSC
    matrix (its views·n rows × n²) built in place, and the views of each.

    Every pixel has exactly two entries per view, bins i and i + 1 of its linear
    interpolation, so every column holds 2·views entries in ascending row order and the
    matrix is written directly from (n², views, 2) arrays: no sort and no format conversion.
    A bin off the detector keeps a zero weight on the nearest bin (a zero entry, harmless in
    the products: it adds 0)."""
    x = (np.arange(n) + 0.5 - n / 2).astype(np.float32)  # pixel centres in pixels
    theta = np.arange(views) * span / views
    subs, sub_views = [], []
    for s in range(subsets):
        v = np.arange(s, views, subsets)
        j = v.size
        # t = x cos θ + y sin θ + n/2 − ½ in bins, y = −x down the rows: the sum of two 1-D
        # products per pixel (row, column), formed in the order of the full expression
        xc = x[:, None] * np.cos(theta[v])[None, :]
        ys = (-x)[:, None] * np.sin(theta[v])[None, :]
        t = (xc[None, :, :] + ys[:, None, :]).reshape(n * n, j)
        t += n / 2
        t -= 0.5
        i = np.floor(t)
        w = (t - i).astype(np.float32)
        b = i.astype(np.int32)
        vals = np.empty((n * n, j, 2), dtype=np.float32)
        np.subtract(1, w, out=vals[..., 0])
        vals[..., 1] = w
        vals[..., 0][(b < 0) | (b >= n)] = 0
        vals[..., 1][(b < -1) | (b >= n - 1)] = 0
        base = (np.arange(j) * n).astype(np.int32)[None, :]  # rows of this subset
        rows = np.empty((n * n, j, 2), dtype=np.int32)
        np.add(np.clip(b, 0, n - 1), base, out=rows[..., 0])
        b += 1
        np.add(np.clip(b, 0, n - 1), base, out=rows[..., 1])
        indptr = np.arange(0, 2 * j * n * n + 1, 2 * j, dtype=np.int32)
        sub = sparse.csc_matrix((vals.reshape(-1), rows.reshape(-1), indptr),
                                shape=(j * n, n * n))
        sub.has_sorted_indices = True
        subs.append(sub)
        sub_views.append(v)
    return tuple(subs), tuple(sub_views)


def _pixel_attenuation(mu: np.ndarray, px_cm: float, views: int, span: float) -> np.ndarray:
    """e^{−∫μ} from each pixel to the detector for every view, float32 (views, n²).

    The path integrals are smooth (sums of μ along a line), so they are taken on a 2×
    coarser grid (μ area-averaged) and interpolated back; a view and the view opposite it
    (span 2π) share one rotation, integrated downwards and upwards. The image is rotated so
    the detector of a view lies below it, integrated downwards, and rotated back (bilinear,
    zero outside: ndimage.rotate's order 1, mode "constant"), all views at once."""
    n = mu.shape[0]
    c = 2 if n % 2 == 0 else 1
    h = n // c
    m = mu.reshape(h, c, h, c).mean(axis=(1, 3)).astype(np.float32)
    step = px_cm * c
    half = views // 2 if (views % 2 == 0 and abs(span - 2 * np.pi) < 1e-9) else 0
    k = views - half
    turn, back = _rotations(h, views, span, k)
    rot = _rotate(m[None], turn)
    ints = np.empty((views, h, h), dtype=np.float32)
    ints[:k] = _rotate(np.cumsum(rot[:, ::-1], axis=1)[:, ::-1] - rot / 2, back)
    if half:  # the opposite views: their detectors lie above the rotated images
        ints[k:] = _rotate(np.cumsum(rot, axis=1) - rot / 2, back)
    np.multiply(ints, -step, out=ints)
    att = np.exp(ints, out=ints)
    if c > 1:
        att = _upsample2(_upsample2(att, 1), 2)
    return att.reshape(views, -1).astype(np.float32, copy=False)


Rotation = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Bilinear sampling table of a stack of rotations: (flat index of each output pixel's
top-left source pixel in an image padded by one row and column, row and column weights,
inside the source)."""


@memoized("imaging.emission.rotations")
def _rotations(h: int, views: int, span: float, k: int) -> tuple[Rotation, Rotation]:
    """Sampling tables of the first k views' rotations of an h × h image by −θ (detector
    below) and back by +θ, θ = v·span/views."""
    deg = np.degrees(np.arange(k) * span / views)
    return _rotation(h, -deg), _rotation(h, deg)


def _rotation(h: int, deg: np.ndarray) -> Rotation:
    """ndimage.rotate(·, deg, reshape=False, order=1) as a table, per angle: output pixel
    (r, q) samples the input at M (r, q) + offset about the image centre."""
    c, s = special.cosdg(deg)[:, None, None], special.sindg(deg)[:, None, None]
    r = np.arange(h, dtype=np.float64)[None, :, None]
    q = np.arange(h, dtype=np.float64)[None, None, :]
    mid = (h - 1) / 2
    rr = (mid - (c * mid + s * mid)) + c * r + s * q
    qq = (mid - (-s * mid + c * mid)) + -s * r + c * q
    inside = (rr >= 0) & (rr <= h - 1) & (qq >= 0) & (qq <= h - 1)
    r0 = np.clip(np.floor(rr), 0, h - 1)
    q0 = np.clip(np.floor(qq), 0, h - 1)
    idx = (r0 * (h + 1) + q0).astype(np.intp)
    idx += (np.arange(len(deg)) * (h + 1) ** 2)[:, None, None]  # each angle's own image
    return idx, (rr - r0).astype(np.float32), (qq - q0).astype(np.float32), ~inside


def _rotate(stack: np.ndarray, table: Rotation) -> np.ndarray:
    """Rotate each image of a stack (k, h, h), or one image (1, h, h) by every angle."""
    idx, fr, fq, outside = table
    k, h = idx.shape[0], idx.shape[1]
    pad = np.zeros((k, h + 1, h + 1), dtype=np.float32)
    pad[:, :h, :h] = stack
    f = pad.ravel()
    a, b = f[idx], f[idx + 1]
    top = a + fq * (b - a)
    a, b = f[idx + h + 1], f[idx + h + 2]
    out = top + fr * (a + fq * (b - a) - top)
    out[outside] = 0
    return out


def _upsample2(a: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation ×2 along an axis (pixel-area grids: output pixel 2k ± ½ lies a
    quarter of an input pixel from input pixel k), edges held."""
    def at(i: int | slice) -> tuple[slice | int, ...]:
        return (slice(None),) * axis + (i,)

    shape = list(a.shape)
    shape[axis] *= 2
    out = np.empty(shape, dtype=a.dtype)
    even, odd = out[at(slice(0, None, 2))], out[at(slice(1, None, 2))]
    near, far = 0.75 * a, 0.25 * a
    np.add(near[at(slice(1, None))], far[at(slice(None, -1))], out=even[at(slice(1, None))])
    np.add(near[at(0)], far[at(0)], out=even[at(0)])
    np.add(near[at(slice(None, -1))], far[at(slice(1, None))], out=odd[at(slice(None, -1))])
    np.add(near[at(-1)], far[at(-1)], out=odd[at(-1)])
    return out


Block = tuple[Any, Any, np.ndarray, np.ndarray]
"""One OSEM subset: (its rows of A, their transpose, their row numbers in A, Aᵀ1 over them)."""


@memoized("imaging.emission.system")
def _system(add: Additive, modality: str, mu_key: tuple[float, ...], subsets: int
            ) -> tuple[tuple[Block, ...], np.ndarray]:
    """(attenuated projector as OSEM subsets, activity basis per tissue (tissues, n²))."""
    n, views, span = N_RECON, VIEWS[modality], SPAN[modality]
    frac = fractions(add, n)
    subs, sub_views = _geometry(n, views, span, subsets)
    rows = [(v[:, None] * n + np.arange(n)[None, :]).ravel() for v in sub_views]
    mu = np.tensordot(np.asarray(mu_key), frac, axes=1)
    blocks = []
    if modality == "pet":
        if isinstance(add, Section):  # the raster's own projection (smooth: ample here)
            raster = np.empty(views * n, dtype=np.float32)
            for a, r in zip(subs, rows, strict=True):
                raster[r] = a @ mu.ravel().astype(np.float32)
            line = raster * (add.fov_mm / n / 10.0)
        else:
            theta = np.arange(views) * span / views
            s = (np.arange(n) + 0.5 - n / 2) * add.fov_mm / n
            line = np.tensordot(np.asarray(mu_key), chords(add, theta, s), axes=1) / 10.0
        att = np.exp(-line).ravel().astype(np.float32)  # per line of response (view, bin)
        for a, r in zip(subs, rows, strict=True):
            blocks.append(_block(a, a.data * att[r][a.indices], r))
    else:
        pa = _pixel_attenuation(mu, add.fov_mm / n / 10.0, views, span)
        for a, v, r in zip(subs, sub_views, rows, strict=True):
            # a column's entries run over its views, two each: scale them by that pixel's
            # attenuation seen from each view
            scale = pa[v].T[:, :, None]
            blocks.append(_block(a, (a.data.reshape(n * n, v.size, 2) * scale).ravel(), r))
    return tuple(blocks), frac.reshape(frac.shape[0], -1)


@memoized("imaging.emission.system")
def _per_mbq(add: Additive, modality: str, mu_key: tuple[float, ...], subsets: int,
             uptake: tuple[float, ...]) -> np.ndarray:
    """A x for 1 MBq in the slice spread as the uptakes have it (per line of response)."""
    blocks, basis = _system(add, modality, mu_key, subsets)
    x = np.asarray(uptake) @ basis  # relative activity per pixel
    return _forward(blocks, x / max(float(x.sum()), 1e-12))


def _block(a: sparse.csc_matrix, data: np.ndarray, rows: np.ndarray) -> Block:
    """A subset with new weights on a's pattern (its index arrays shared)."""
    sub = sparse.csc_matrix((data, a.indices, a.indptr), shape=a.shape)
    sub.has_sorted_indices = True
    return sub, sub.T, rows, np.asarray(sub.sum(axis=0)).ravel()


def _forward(blocks: Sequence[Block], x: np.ndarray) -> np.ndarray:
    """A x assembled from the subsets' products."""
    out = np.empty(sum(b[2].size for b in blocks),
                   dtype=np.result_type(blocks[0][0].dtype, x.dtype))
    for sub, _, rows, _ in blocks:
        out[rows] = sub @ x
    return out


def mlem(a: sparse.spmatrix, y: np.ndarray, iterations: int, subsets: int = 1,
         x0: np.ndarray | None = None, views: int | None = None,
         history: list[float] | None = None) -> np.ndarray:
    """MLEM/OSEM estimate (non-negative) of x from counts y ≈ Poisson(A x). Subsets are
    interleaved views (rows grouped by view; `views` rows-blocks). If `history` is given, the
    Poisson log-likelihood Σ y log(Ax) − Ax is appended after every full iteration."""
    return _em(_subset_blocks(a, views or 1, subsets), y, iterations, x0, history)


def _em(blocks: Sequence[Block], y: np.ndarray, iterations: int,
        x0: np.ndarray | None = None, history: list[float] | None = None) -> np.ndarray:
    """MLEM/OSEM over the given subsets (all of A's rows between them)."""
    dt = blocks[0][0].dtype
    y = np.asarray(y, dtype=dt)
    total = sum(float(sens.sum(dtype=np.float64)) for *_, sens in blocks)
    x = (np.full(blocks[0][0].shape[1], max(float(y.sum()), 1.0) / max(total, 1e-12),
                 dtype=dt) if x0 is None else x0.astype(dt).copy())
    for _ in range(iterations):
        for sub, subt, rows, sens in blocks:
            ys = y[rows]
            ax = sub @ x
            ratio = np.divide(ys, ax, out=np.zeros_like(ax), where=ax > 0)
            x = np.divide(x * (subt @ ratio), sens, out=np.zeros_like(x), where=sens > 0)
        if history is not None:
            ax = _forward(blocks, x)
            pos = ax > 0
            history.append(float(np.sum(y[pos] * np.log(ax[pos]), dtype=np.float64)
                                 - ax.sum(dtype=np.float64)))
    return x


_BLOCKS: IdentityCache[list[Block]] = IdentityCache("imaging.emission.subset_blocks")


def _subset_blocks(a: sparse.spmatrix, views: int, subsets: int) -> list[Block]:
    """Per subset of an explicit matrix: (rows of A, their transpose, row indices,
    sensitivity Aᵀ1), cached per A."""
    def make() -> list[Block]:
        csr = sparse.csr_matrix(a)
        bins = a.shape[0] // views
        blocks = []
        for s in range(subsets):
            rows = (np.arange(s, views, subsets)[:, None] * bins
                    + np.arange(bins)[None, :]).ravel()
            sub = csr[rows]
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
    sets = subsets if recon != "mlem" else 1
    blocks, _ = _system(add, modality, mu_key, sets)
    uptake = tuple(float(t.uptake) for t in phantom.tissues)
    slice_mbq = dose * SLICE_FRACTION
    lam = np.log(2) / HALF_LIFE_MIN[modality]
    decay = (1 - np.exp(-lam * minutes)) / (lam * minutes)
    scale = spec.sensitivity_cps_per_mbq * minutes * 60.0 * decay / views
    ybar = (scale * slice_mbq) * _per_mbq(add, modality, mu_key, sets, uptake)
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
        x = _em(blocks, y / scale, iters)
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

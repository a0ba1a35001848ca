"""Filtered back-projection for parallel-beam sinograms, and its noise propagation.

Geometry: view angles θ_v over [0, π), detector positions s_k (mm) centred on the rotation
axis; the ray (θ, s) is the line x cosθ + y sinθ = s. Image row 0 is +y (top).

Filtering is done in the frequency domain on zero-padded projections with the exact
band-limited ramp (the DFT of the Kak & Slaney spatial ramp, ch. 3 eq. 61) times a window
(Ram-Lak, Shepp-Logan, cosine, Hamming, Hann). Each view is weighted by the detector-element and
pixel footprints (distance-driven), then upsampled ×16 by zero-padding its spectrum, so the
nearest-sample back-projection is close to band-limited interpolation. Filters and interpolation tables are cached per geometry.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from micro.core.memory import memoized

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
UPSAMPLE = 16


@memoized("imaging.fbp.padded_len")
def _padded_len(bins: int) -> int:
    return max(64, int(2 ** np.ceil(np.log2(2 * bins))))


@memoized("imaging.fbp.filter_response")
def filter_response(bins: int, name: str) -> np.ndarray:
    """Frequency response (rfft layout, padded length) of the windowed ramp, dimensionless
    (multiply by 1/ds for units of 1/mm)."""
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; allowed: {', '.join(FILTERS)}")
    size = _padded_len(bins)
    n = np.concatenate([np.arange(1, size // 2 + 1, 2), np.arange(size // 2 - 1, 0, -2)])
    h = np.zeros(size)
    h[0] = 0.25
    h[1::2] = -1.0 / (np.pi * n) ** 2
    ramp = np.real(sfft.rfft(h))  # band-limited |ν| in units of 1/ds (peak 0.5 at Nyquist)
    f = np.fft.rfftfreq(size)  # cycles per sample, 0..0.5
    out = ramp * window(name, f / 0.5)
    out.setflags(write=False)
    return out


def window(name: str, w: np.ndarray) -> np.ndarray:
    """The apodisation window of filter `name` at w = frequency / the detector's Nyquist
    (0..1)."""
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; allowed: {', '.join(FILTERS)}")
    if name == "ramp":
        return np.ones_like(w)
    if name == "shepp-logan":
        return np.sinc(w / 2)
    if name == "cosine":
        return np.cos(np.pi * w / 2)
    if name == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * w)
    return 0.5 + 0.5 * np.cos(np.pi * w)


def many_view_limit(image: np.ndarray, pixel_mm: float, ds: float, name: str) -> np.ndarray:
    """FBP of the exact projections of `image` (a raster of pixel_mm) with infinitely many
    views: by the Fourier-slice theorem the ramp cancels the 1/|ν| density of the radial
    samples, leaving the image filtered by the window and the detector element's aperture,
    band-limited at the detector's Nyquist frequency 1/(2 ds):
        f̂_FBP(ν) = f̂(ν) · W(|ν| / ν_N) · sinc(|ν| ds)  for |ν| ≤ ν_N.
    The pixel footprint is left to the caller's area-averaging onto its matrix."""
    m = image.shape[0]
    f = sfft.fftfreq(m, d=pixel_mm)
    h = many_view_response(f[None, : m // 2 + 1], f[:, None], ds, name)
    out = sfft.irfft2(sfft.rfft2(image, workers=1) * h.astype(np.float32), s=image.shape,
                      workers=1)
    return out.astype(np.float32)


def many_view_response(fx: np.ndarray, fy: np.ndarray, ds: float, name: str,
                       pixel_mm: float = 0.0) -> np.ndarray:
    """The transfer function of FBP with infinitely many views at image frequency (fx, fy)
    (cycles/mm): W(|ν| / ν_N) · sinc(|ν| ds) inside the detector's Nyquist disc |ν| ≤ ν_N,
    0 outside; pixel_mm > 0 adds the square pixel's footprint sinc(fx px) · sinc(fy px)
    (filter_projections' distance-driven weighting, seen in 2-D)."""
    rho = np.hypot(fx, fy)
    nyq = 0.5 / ds
    h = np.where(rho <= nyq, window(name, np.minimum(rho / nyq, 1.0)) * np.sinc(rho * ds), 0.0)
    if pixel_mm > 0:
        h = h * (np.sinc(fx * pixel_mm) * np.sinc(fy * pixel_mm))
    return h


def filter_projections(sino: np.ndarray, name: str, ds: float, pixel_mm: float = 0.0,
                       theta: np.ndarray | None = None) -> np.ndarray:
    """Filtered projections upsampled ×UPSAMPLE, float32 (views, UPSAMPLE·bins); the value at
    fine index m sits at detector index m / UPSAMPLE. Units: sinogram units / mm.

    Distance-driven weighting: each view is averaged over the detector element (a box of ds)
    and, when pixel_mm > 0, over the footprint of a square image pixel (boxes of px|cosθ| and
    px|sinθ|), so the image holds pixel means like the partial-volume phantom."""
    views, bins = sino.shape
    size = _padded_len(bins)
    f = np.fft.rfftfreq(size, d=ds)[None, :]
    spec = sfft.rfft(sino, n=size, axis=1) * (filter_response(bins, name) * np.sinc(f * ds))
    if pixel_mm > 0:
        th = (np.arange(views) * np.pi / views if theta is None else theta)[:, None]
        spec = spec * (np.sinc(f * pixel_mm * np.cos(th)) * np.sinc(f * pixel_mm * np.sin(th)))
    # single precision for the ×16 interpolation: the image is float32 in the end anyway
    padded = np.zeros((views, size * UPSAMPLE // 2 + 1), dtype=np.complex64)
    padded[:, : spec.shape[1]] = spec * (UPSAMPLE / ds)
    padded[:, spec.shape[1] - 1] *= 0.5  # the old Nyquist bin, now an ordinary one
    q = sfft.irfft(padded, n=size * UPSAMPLE, axis=1, workers=1, overwrite_x=True)
    return q[:, : bins * UPSAMPLE]


@memoized("imaging.fbp.geometry")
def _geometry(n: int, fov_mm: float, views: int, bins: int, ds: float, s0: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = (np.arange(n) + 0.5 - n / 2) * (fov_mm / n)
    theta = np.arange(views) * np.pi / views
    return x, theta, np.cos(theta), np.sin(theta)


def backproject(q: np.ndarray, n: int, fov_mm: float, ds: float, s0: float,
                upsample: int = 1, center_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(π/V) Σ_v q_v(x cosθ_v + y sinθ_v), nearest sample; q is (views, samples) with sample m
    at detector position s0 + m·ds/upsample (upsample ≥ 4 makes nearest-sample lookup finer
    than linear interpolation of the original bins). center_mm: the rotation axis in image
    coordinates. Returns float64 (n, n), row 0 = +y."""
    views, samples = q.shape
    x, _, c, s = _geometry(n, fov_mm, views, samples, ds, s0)
    step = ds / upsample
    # one zero sample past each end catches rays that miss the detector
    qpad = np.zeros((views, samples + 2), dtype=np.float32)
    qpad[:, 1:-1] = q
    xs = ((x - center_mm[0]) / step).astype(np.float32)
    ys = ((-x - center_mm[1]) / step).astype(np.float32)
    out = np.zeros((n, n), dtype=np.float32)
    base = np.float32(-s0 / step + 1.5)  # +1 for the pad, +0.5 to round
    hi = np.float32(samples + 1)
    # View v + V/2 is view v turned by 90°: about a centred axis its sample index at pixel
    # (i, j) is view v's at (j, n−1−i), so one index map serves both and the second sum is
    # rotated into place at the end.
    half = views // 2 if views % 2 == 0 and center_mm == (0.0, 0.0) else 0
    turned = np.zeros((n, n), dtype=np.float32) if half else None
    t = np.empty((n, n), dtype=np.float32)
    idx = np.empty((n, n), dtype=np.int32)
    for v in range(views - half):
        np.add.outer(ys * np.float32(s[v]), xs * np.float32(c[v]), out=t)
        t += base
        np.clip(t, 0, hi, out=t)
        idx[...] = t  # truncation: t ≥ 0, so this is floor
        out += qpad[v].take(idx)
        if turned is not None:
            turned += qpad[v + half].take(idx)
    if turned is not None:
        out += np.rot90(turned)
    return (out * (np.pi / views)).astype(np.float64)


def fbp(sino: np.ndarray, ds: float, n: int, fov_mm: float, name: str = "ramp",
        s0: float | None = None, center_mm: tuple[float, float] = (0.0, 0.0),
        footprint: bool = True) -> np.ndarray:
    """Reconstruct μ (sinogram units per mm) on an n×n grid over fov_mm from a parallel-beam
    sinogram (views over [0, π), spacing ds mm; bin 0 at s0, default centred)."""
    _views, bins = sino.shape
    q = filter_projections(np.asarray(sino, dtype=np.float64), name, ds,
                           fov_mm / n if footprint else 0.0)
    if s0 is None:
        s0 = -(bins - 1) / 2 * ds
    return backproject(q, n, fov_mm, ds, s0, UPSAMPLE, center_mm)


@memoized("imaging.fbp.noise_gain")
def noise_gain(bins: int, name: str, pixel_ratio: float) -> float:
    """Mean over view angles and sub-sample positions of Σ_j g(t − j)², g the impulse response
    of filter + footprint + upsampling + nearest-sample lookup (dimensionless; × 1/ds² per
    unit-variance ray). pixel_ratio = image pixel / detector spacing."""
    delta = np.zeros((16, bins))
    delta[:, bins // 2] = 1.0
    theta = np.linspace(0, np.pi / 2, 16)
    g = filter_projections(delta, name, 1.0, pixel_ratio, theta)
    return float(np.mean([np.sum(g[:, r::UPSAMPLE] ** 2, axis=1).mean()
                          for r in range(UPSAMPLE)]))


def variance_map(p: np.ndarray, n0: float, ds: float, n: int, fov_mm: float, name: str,
                 coarse: int = 1) -> np.ndarray:
    """Variance (mm⁻²·sinogram units²) of the FBP image for Poisson rays: each ray's
    log-transmission p has variance e^p / N0, which the filter spreads with gain noise_gain/ds²
    and the back-projection sums over views: σ²(x) = (π/V)² Σ_v g e^{p_v(x)} / (N0 ds²).

    coarse > 1: the map is smooth (a sum of e^p over views), so the view mean is taken over
    every coarse-th view on an (n / coarse)² matrix and interpolated back (coarse must
    divide both n and the number of views; otherwise the full computation is done)."""
    views, bins = p.shape
    if coarse < 1 or n % coarse or views % coarse:
        coarse = 1
    var_p = np.exp(np.asarray(p[::coarse], dtype=np.float64)) / n0
    s0 = -(bins - 1) / 2 * ds
    bp = backproject(var_p, n // coarse, fov_mm, ds, s0, 1)  # (π/V) Σ_v var, from V/coarse
    if coarse > 1:
        from scipy import ndimage

        bp = np.maximum(ndimage.zoom(bp, coarse, order=1, mode="nearest", grid_mode=True), 0)
    return bp * (np.pi / views) * noise_gain(bins, name, round(fov_mm / n / ds, 4)) / ds ** 2


@memoized("imaging.fbp.nps_shape")
def _nps_shape(n: int, fov_mm: float, ds: float, name: str) -> np.ndarray:
    """sqrt of the normalized FBP noise power spectrum on the image's FFT grid: |ν|·W(ν)²
    up to the detector's Nyquist frequency (radial), unit mean power."""
    f = np.fft.fftfreq(n, d=fov_mm / n)  # cycles/mm
    fr = np.hypot(f[:, None], f[None, :])
    nyq = 0.5 / ds
    bins = 256
    resp = filter_response(bins, name)
    freq = np.fft.rfftfreq(_padded_len(bins)) / ds  # cycles/mm
    h = np.interp(fr, freq, resp / ds, right=0.0)
    nps = np.where(fr <= nyq, h ** 2 / np.maximum(fr, 1e-9), 0.0)  # ramp²/|ν| = |ν| W²
    nps[0, 0] = 0.0
    amp = np.sqrt(nps / nps.mean())
    amp.setflags(write=False)
    return amp


def correlated_noise(shape_n: int, fov_mm: float, ds: float, name: str,
                     rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian field with the FBP noise texture, float32 (n, n)."""
    amp = _nps_shape(shape_n, fov_mm, ds, name)
    white = rng.standard_normal((shape_n, shape_n), dtype=np.float32)
    field = np.real(sfft.ifft2(sfft.fft2(white, workers=1) * amp, workers=1))
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)

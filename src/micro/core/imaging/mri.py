"""Magnetic resonance imaging: signal equations, exact k-space, Rician magnitude noise.

Signal per tissue (PD, T1, T2, T2* at the instrument's field strength, nearest of 1.5/3/7 T):
  spin echo           S = PD (1 − e^(−TR/T1)) e^(−TE/T2)
  spoiled gradient    S = PD sin α (1 − E1)/(1 − cos α E1) e^(−TE/T2*),  E1 = e^(−TR/T1)
  inversion recovery  S = PD |1 − 2e^(−TI/T1) + e^(−TR/T1)| e^(−TE/T2)
The image is linear in the tissue fractions, so k-space is Σ_t S_t · FT(F_t), with FT(F_t) the
exact analytic transform of the phantom's ellipses and rectangles, sampled on the acquisition
grid (Δk = 1/FOV, matrix × matrix). Truncation (Gibbs), wrap-around and the chemical shift
of fat (a phase ramp along the read direction, shown with artifact=chemical-shift) are exact.

Receive coil: an 8-element array's sensitivity S (coil_shading, mean 1 over the body) weights
the signal, not the receiver noise. With coil=normalized (the default, as scanners apply
prescan normalize / CLEAR / PURE) the image is divided by S: tissue means follow the signal
equations everywhere and the noise rises where S is low (the centre). With coil=array the
uncorrected image keeps the receive-coil shading: a brighter periphery over uniform noise.

Noise: complex Gaussian in k-space, σ chosen from SNR ∝ B0 · voxel volume ·
√(NEX · N_phase · N_freq / BW_total) and normalized to a reference protocol; the magnitude
image is Rician (Rayleigh where there is no signal).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import fft as sfft

from micro.core.imaging.display import auto_window, resize, tissue_means, window
from micro.core.imaging.phantom import (
    Additive,
    Section,
    additive,
    fractions,
    kspace,
    section_kspace,
    weighted_sum,
)
from micro.core.memory import memoized
from micro.core.models import ImagingInstrument, MriSpec, Phantom, Tissue

GAMMA_MHZ_T = 42.577
REF_SNR = 40.0
"""SNR of a PD = 1 tissue for the reference protocol: 1.5 T, 1.5 × 1.5 × 5 mm voxel (FOV 384,
matrix 256), NEX 1, 256 × 256 samples, 200 Hz/px."""
REF_VOXEL_MM3 = 1.5 * 1.5 * 5.0
REF_FIELD_T = 1.5
REF_ROOT = np.sqrt(1 * 256 * 256 / (200.0 * 256))


def field_key(b0: float) -> str:
    """The tissue table's field strength nearest to b0."""
    return min(("1.5", "3", "7"), key=lambda k: abs(float(k) - b0))


def signal(t: Tissue, b0: float, seq: str, tr: float, te: float, ti: float, flip_deg: float
           ) -> float:
    """Steady-state signal of one tissue, in units of PD = 1 fully relaxed."""
    p = t.mri[field_key(b0)]  # type: ignore[index]
    e1 = np.exp(-tr / p.t1_ms)
    if seq == "spin-echo":
        return float(p.pd * (1 - e1) * np.exp(-te / p.t2_ms))
    if seq == "gradient-echo":
        a = np.deg2rad(flip_deg)
        return float(p.pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-te / p.t2s_ms))
    return float(p.pd * abs(1 - 2 * np.exp(-ti / p.t1_ms) + e1) * np.exp(-te / p.t2_ms))


@memoized("imaging.mri.kspace")
def _kspace(add: Additive, n_freq: int, n_phase: int, fov_freq: float, fov_phase: float
            ) -> np.ndarray:
    """Per-tissue k-space (tissues, n_phase, n_freq), complex128, normalized to pixel mean.

    Rows are sampled at −k_y, so the reconstruction's row index runs from the patient's
    anterior (top, +y) to posterior, as in every other modality."""
    if isinstance(add, Section):
        k = section_kspace(add, n_freq, n_phase, fov_freq, fov_phase)
        k.setflags(write=False)
        return k
    kx = np.fft.fftfreq(n_freq, d=fov_freq / n_freq)
    ky = np.fft.fftfreq(n_phase, d=fov_phase / n_phase)
    k = kspace(add, kx[None, :], -ky[:, None])
    k /= (fov_freq / n_freq) * (fov_phase / n_phase)  # → fraction units per pixel
    k.setflags(write=False)
    return k


def snr_factor(b0: float, voxel_mm3: float, nex: int, n_phase: int, n_freq: int,
               bw_hz_px: float) -> float:
    """Relative SNR: B0 · voxel volume · √(NEX · Np · Nf / BW_total) over the reference."""
    root = np.sqrt(nex * n_phase * n_freq / (bw_hz_px * n_freq))
    return (b0 / REF_FIELD_T) * (voxel_mm3 / REF_VOXEL_MM3) * (root / REF_ROOT)


def render_mri(settings: dict[str, Any], phantom: Phantom, variant: str,
               inst: ImagingInstrument, n: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    spec = inst.spec
    assert isinstance(spec, MriSpec)
    b0 = spec.field_strength_t
    add = additive(phantom, variant, float(settings["slice_mm"]))
    seq = settings["sequence"]
    tr, te, ti = float(settings["tr_ms"]), float(settings["te_ms"]), float(settings["ti_ms"])
    flip = float(settings["flip_deg"])
    fov = float(settings["fov_mm"])
    matrix = int(settings["matrix"])
    nex = int(settings["nex"])
    bw = float(settings["bandwidth_hz_px"])
    thick = float(settings["thickness_mm"])
    artifact = settings["artifact"]

    n_freq = matrix
    n_phase = matrix // 4 if artifact == "gibbs" else matrix
    fov_phase = fov * 0.6 if artifact == "wrap" else fov
    sig = np.array([signal(t, b0, seq, tr, te, ti, flip) for t in phantom.tissues])
    kt = _kspace(add, n_freq, n_phase, fov, fov_phase)
    k = weighted_sum(sig, kt)

    # chemical shift (opt-in, like the other artefacts): fat moves along the read (x) axis by
    # Δf / BW pixels
    shift_hz = np.array([t.chemical_shift_ppm for t in phantom.tissues]) * GAMMA_MHZ_T * b0
    shift_px = shift_hz / bw
    if artifact == "chemical-shift" and np.any(shift_px != 0):
        kx_idx = np.fft.fftfreq(n_freq)[None, :]
        for i in np.nonzero(shift_px)[0]:
            ramp = np.exp(-2j * np.pi * kx_idx * shift_px[i]) - 1.0
            k = k + sig[i] * kt[i] * ramp
    if artifact == "motion":  # a random phase error per phase-encode line (ghosts along y)
        k = k * np.exp(1j * rng.normal(0, 0.6, size=(n_phase, 1)))
    # the inverse DFT puts sample m at (m − N/2)·Δ; a half-pixel shift puts it on the centre of
    # output pixel m, where the phantom rasters sample (x + Δx/2 across, y − Δy/2 down)
    ny_out = max(round(n * fov_phase / fov), 8)
    kxs = np.fft.fftfreq(n_freq, d=fov / n_freq)[None, :]
    kys = np.fft.fftfreq(n_phase, d=fov_phase / n_phase)[:, None]
    k = k * (np.exp(1j * np.pi * kys * (fov_phase / ny_out))
             * np.exp(1j * np.pi * kxs * (fov / n)))
    sampled = np.ones((n_phase, 1))
    if artifact == "undersampling":  # every other line outside the central 8 %, zero-filled
        ky = np.fft.fftfreq(n_phase)
        sampled = ((np.abs(ky) < 0.04) | (np.arange(n_phase) % 2 == 0)).astype(float)[:, None]
        k = k * sampled

    voxel = (fov / n_freq) * (fov_phase / n_phase) * thick
    rel = snr_factor(b0, voxel, nex, n_phase, n_freq, bw)
    sigma = 1.0 / (REF_SNR * rel)  # image-domain σ per channel, PD units, where S = 1
    # (the body's mean sensitivity): normalised, it is σ / S at each pixel
    noise = (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) * (
        sigma * np.sqrt(n_freq * n_phase))
    k_noisy = k + noise * sampled

    # zero-fill to the output grid (n over the frequency FOV) and reconstruct; the receive
    # array weights the signal (not the receiver noise) by its sensitivity, which the
    # scanner's normalisation divides out again (taking the noise with it)
    coil = coil_shading(add, n, ny_out, fov, fov_phase)
    combined = (coil * _recon(k, n, ny_out, magnitude=False)
                + _recon(k_noisy - k, n, ny_out, magnitude=False))
    if settings["coil"] == "normalized":
        combined = combined / coil
    img = np.abs(combined).astype(np.float32)
    if ny_out != n:  # phase FOV smaller than frequency FOV: centre it in a square frame
        frame = np.zeros((n, n), dtype=np.float32)
        off = (n - ny_out) // 2
        frame[off:off + ny_out] = img
        img = frame
    clean = _recon(k, n, ny_out) if settings["view"] == "image" else None

    frac = fractions(add, n, fov) if ny_out == n else None
    info: dict[str, Any] = {
        "field_strength_t": b0, "sequence": seq, "tr_ms": tr, "te_ms": te, "ti_ms": ti,
        "flip_deg": flip, "fov_mm": fov, "matrix": [n_freq, n_phase], "nex": nex,
        "bandwidth_hz_px": bw, "thickness_mm": thick, "artifact": artifact,
        "coil": settings["coil"],
        "slice_mm": float(settings["slice_mm"]),
        "voxel_mm": [round(fov / n_freq, 3), round(fov_phase / n_phase, 3), thick],
        "voxel_mm3": round(voxel, 3),
        "scan_time_s": round(tr * n_phase * nex / 1000.0, 1),
        "noise_sigma": round(float(sigma), 5),
        "fat_shift_px": round(float(3.4 * GAMMA_MHZ_T * b0 / bw), 2),
        "tissue_signal_expected": {t.id: round(s, 4) for t, s in zip(phantom.tissues, sig,
                                                                      strict=True)},
        "snr": {t.id: round(s / sigma, 1) for t, s in zip(phantom.tissues, sig, strict=True)
                if s > 0},
    }
    if frac is not None and clean is not None:
        info["tissue_signal"] = tissue_means(img, add, frac)
    if settings["view"] == "kspace":
        mag = np.abs(np.fft.fftshift(k_noisy))
        info["raw_unit"] = "k-space magnitude (PD units × samples)"
        disp = resize(np.log1p(mag / max(float(np.median(mag)), 1e-12)), (n, n), order=0)
        return auto_window(disp, 1, 99.9), mag.astype(np.float32), info
    info["raw_unit"] = "signal magnitude (PD = 1 fully relaxed)"
    peak = float(np.percentile(img, 99.5))
    return window(img, max(peak, 1e-9), peak / 2), img.astype(np.float32), info


COIL_ELEMENTS = 8
COIL_GAP_MM = 25.0
LOOP_SOFTENING = 0.7
"""Fraction (in log) of the on-axis loop model's fall-off dropped from the array's
sensitivity: a lone loop's a²/(a² + d²)^{3/2} on its axis falls far faster than an array of
overlapping elements that also see off axis; the rest (exponent 0.3) leaves a uniform
head-sized cylinder's centre at ≈ 0.76 and its rim at ≈ 1.1 of the mean."""


@memoized("imaging.mri.coil_shading")
def coil_shading(add: Additive | Section, nx: int, ny: int, fov: float, fov_phase: float
                 ) -> np.ndarray:
    """Receive sensitivity of the coil array (ny, nx), float32, mean 1 over the body, smooth
    and positive everywhere: COIL_ELEMENTS loops on an ellipse COIL_GAP_MM outside the body,
    each with the on-axis loop sensitivity a²/(a² + d²)^{3/2}, combined as the root sum of
    squares and softened (LOOP_SOFTENING). The image is S·m + noise; coil=normalized
    divides by S."""
    frac = fractions(add, nx, fov)
    off = (nx - ny) // 2
    body = frac[add.background][off:off + ny] < 0.5
    if not body.any():
        return np.ones((ny, nx), dtype=np.float32)
    x = (np.arange(nx) + 0.5 - nx / 2) * (fov / nx)
    y = (ny / 2 - np.arange(ny) - 0.5) * (fov_phase / ny)
    big_a = float(np.abs(x[body.any(axis=0)]).max()) + COIL_GAP_MM
    big_b = float(np.abs(y[body.any(axis=1)]).max()) + COIL_GAP_MM
    loop = 0.35 * min(big_a, big_b)
    sos = np.zeros((ny, nx))
    for phi in np.arange(COIL_ELEMENTS) * 2 * np.pi / COIL_ELEMENTS + np.pi / COIL_ELEMENTS:
        d2 = (x[None, :] - big_a * np.cos(phi)) ** 2 + (y[:, None] - big_b * np.sin(phi)) ** 2
        sos += (loop ** 2 / (loop ** 2 + d2) ** 1.5) ** 2
    out = (np.sqrt(sos) / float(np.sqrt(sos)[body].mean())) ** (1 - LOOP_SOFTENING)
    out /= float(out[body].mean())
    res = out.astype(np.float32)
    res.setflags(write=False)
    return res


def _recon(k: np.ndarray, nx: int, ny: int, magnitude: bool = True) -> np.ndarray:
    """Zero-filled inverse FFT of a (n_phase, n_freq) k-space to (ny, nx), magnitude, float32
    (or the complex image). Pixel values keep the PD scale (fraction × signal)."""
    n_phase, n_freq = k.shape
    big = np.zeros((ny, nx), dtype=np.complex64)
    hy, hx = min(n_phase, ny) // 2, min(n_freq, nx) // 2
    ks = np.fft.fftshift(k)
    cy, cx = n_phase // 2, n_freq // 2
    oy, ox = ny // 2, nx // 2
    big[oy - hy:oy + hy, ox - hx:ox + hx] = ks[cy - hy:cy + hy, cx - hx:cx + hx]
    img = sfft.ifft2(np.fft.ifftshift(big), workers=1) * (nx * ny / (n_freq * n_phase))
    img = np.fft.fftshift(img)
    return np.abs(img).astype(np.float32) if magnitude else img

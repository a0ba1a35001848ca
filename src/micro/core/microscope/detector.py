"""Stage 4 — the detector: photon budget, quantum efficiency, shot noise, dark current, full
well, read noise, gain and bit depth; or the eye, which has neither read noise nor a full well.

Order matters (PHYSICS.md): QE is applied to the mean, *then* Poisson is drawn, so the noise
stays √signal. SNR = S / √(S + D + R²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from micro.core.memory import memoized
from micro.core.microscope.contrast import Signal
from micro.core.microscope.setup import Setup

K_TRANSMITTED = 1.6e5
"""Photons per ms reaching one output pixel per (NA_ill · pixel µm)² at full lamp power:
transmitted brightness ∝ (NA/M)² per detector pixel (Murphy)."""
K_FLUORESCENCE = 1.1e4
"""Emitted photons per ms per (NA² · pixel µm)² ... ∝ NA⁴/M² per detector pixel, per unit of
fluorophore with quantum yield 1, at full excitation power."""
K_ELECTRON = 400.0
"""Detected electrons per pixel per ms of dwell at full beam current (SEM/TEM)."""
EYE_REF_TRANSMITTED = 0.6 * (0.75 * 0.25 / 10.0) ** 2
"""Retinal illuminance the eye is adapted to: a 10×/0.25 view at 60 % lamp looks white."""
EYE_REF_FLUORESCENCE = 0.6 * 0.95**4 / 40.0**2
AUTO_TARGET = 0.7
"""Automatic exposure puts the brightest part of the image at 70 % of the full well..."""
AUTO_FLOOR = {"transmitted": 0.02, "emission": 0.01, "electron": 0.05}
"""...but never exposes longer than for a signal this fraction of the open-beam (transmitted)
or unit-fluorophore level, so a dark field of view stays dark instead of amplified noise."""
MAX_EXPOSURE_MS = 10_000.0
OFFSET_ADU = 100


@dataclass(frozen=True)
class Detected:
    values: np.ndarray
    """(C, H, W) float32: photoelectrons per output pixel (camera), eye-normalized
    intensity (eyepiece), or height in nm (AFM)."""
    unit: str
    exposure_ms: float
    saturated_fraction: float
    snr: float
    full_well_e: float
    gain_adu_per_e: float
    read_noise_e: float
    qe: float


def rate_per_ms(signal: Signal, s: Setup) -> np.ndarray:
    """Mean photons (or electrons) per output pixel per ms, before the quantum efficiency."""
    return signal.values * np.float32(unit_rate(signal, s))


def unit_rate(signal: Signal, s: Setup) -> float:
    """Photons per output pixel per ms for a signal of 1 (open beam, unit fluorophore)."""
    px = s.px_um
    if signal.kind == "transmitted":
        frac = s.na_condenser / s.na if s.na_condenser > 0 else 1.0
        k = K_TRANSMITTED * s.light * (s.na * frac * px) ** 2 * s.brightness_factor
    elif signal.kind == "emission":
        k = K_FLUORESCENCE * s.light * (s.na * s.na * px) ** 2 * s.brightness_factor
    else:
        k = K_ELECTRON * s.light
    return float(k)


def eye(signal: Signal, s: Setup) -> Detected:
    """The eye through the eyepieces: retinal illuminance ∝ (NA/M)² (transmitted) or NA⁴/M²
    (epi-fluorescence), relative to the level it is adapted to; no noise worth modelling."""
    mag = s.mag_sensor
    if signal.kind == "emission":
        level = s.light * s.na**4 / mag**2 / EYE_REF_FLUORESCENCE
    else:
        frac = s.na_condenser / s.na if s.na_condenser > 0 else 1.0
        level = s.light * (s.na * frac / mag) ** 2 / EYE_REF_TRANSMITTED
    values = signal.values * np.float32(level * s.brightness_factor)
    sat = float(np.mean(np.any(values >= 1.0, axis=0)))
    return Detected(values.astype(np.float32), "eye-normalized intensity", 0.0, sat,
                    float("inf"), 0.0, 0.0, 1.0, 1.0)


def camera(signal: Signal, s: Setup, rng: np.random.Generator) -> Detected:
    cam = s.camera
    assert cam is not None
    k_rate = unit_rate(signal, s)
    bin_area = (cam.width_px / s.width) ** 2
    full_well = cam.full_well_e * bin_area
    read = cam.read_noise_e * math.sqrt(bin_area)
    dark_per_ms = cam.dark_current_e_per_s / 1000.0 * bin_area
    qe = cam.qe
    if s.req.exposure_ms > 0:
        t = float(s.req.exposure_ms)
    else:
        floor = AUTO_FLOOR.get(signal.kind, 0.01) * unit_rate(signal, s)
        peak = max(float(signal.values.max()) * k_rate, floor) * qe
        t = AUTO_TARGET * full_well / peak if peak > 0 else MAX_EXPOSURE_MS
        t = float(np.clip(t, 0.01, MAX_EXPOSURE_MS))
        t = round(t, 2)
    mean = np.multiply(signal.values, np.float32(k_rate * qe * t))
    if dark_per_ms > 0:
        mean += np.float32(dark_per_ms * t)
    counts = _shot_and_read(mean, read, rng)
    saturated_fraction = 0.0
    if float(counts.max()) >= full_well:
        saturated_fraction = float(np.mean((counts >= full_well).any(axis=0)))
        np.minimum(counts, np.float32(full_well), out=counts)
    k = cam.full_well_e / (2**cam.bit_depth - 1)  # e⁻ per ADU at one sensor pixel
    # ADC: ADU = round(e⁻/k) + offset, floored at 0; back to e⁻ (the offset cancels)
    electrons = counts  # in place: the buffers of a render are large, passes are the cost
    electrons *= np.float32(1.0 / k)
    np.rint(electrons, out=electrons)
    np.maximum(electrons, np.float32(-OFFSET_ADU), out=electrons)
    electrons *= np.float32(k)
    pct = 99.0 if signal.kind != "transmitted" else 90.0
    sample = mean[..., ::4, ::4].ravel()  # a subsample is plenty (a copy: partition sorts it)
    rank = round(pct / 100.0 * (sample.size - 1))
    sig = float(np.partition(sample, rank)[rank])
    dark = dark_per_ms * t
    snr = sig / math.sqrt(sig + dark + read * read) if sig > 0 else 0.0
    return Detected(electrons, "photoelectrons", t, saturated_fraction, snr, full_well, 1.0 / k,
                    read, qe)


_POOL_SIZE = 1 << 23


@memoized("microscope.detector.normal_pool")
def _normal_pool() -> np.ndarray:
    """8 Mi standard normals, drawn once per process (~80 ms)."""
    return np.random.default_rng(0x6D6963726F).standard_normal(_POOL_SIZE, dtype=np.float32)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent N(0, 1) values for one image: a window of a per-process pool at an offset
    drawn from the request's generator — deterministic per request, different per request,
    and ten times cheaper than drawing half a million normals (read-only view)."""
    n = int(np.prod(shape))
    if n > _POOL_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    off = int(rng.integers(0, _POOL_SIZE - n))
    return _normal_pool()[off:off + n].reshape(shape)


def _shot_and_read(mean: np.ndarray, read: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson shot noise on the mean (photoelectrons), then Gaussian read noise.

    Above 50 e⁻ the two are drawn together as one normal of variance mean + read² (the
    normal approximation to Poisson is exact to well under 1 % there, and one draw is half
    the work); below, Poisson is drawn exactly and read noise added to it."""
    noise = standard_normal(rng, mean.shape)
    out = np.maximum(mean, np.float32(0.0))  # σ² = mean + read², one buffer, in place
    out += np.float32(read * read)
    np.sqrt(out, out=out)
    out *= noise
    out += mean
    if float(mean.min()) < 50.0:
        idx = np.flatnonzero(mean < 50.0)
        m = np.maximum(mean.ravel()[idx], 0.0)
        counts = np.zeros(m.shape, dtype=np.float32)
        # below 0.01 e⁻ two photoelectrons are 200× rarer than one: a Bernoulli draw is exact
        # to that order and far cheaper than Poisson on a dark background
        tiny = m < 0.01
        counts[tiny] = rng.random(int(tiny.sum()), dtype=np.float32) < m[tiny]
        counts[~tiny] = rng.poisson(m[~tiny])
        out.ravel()[idx] = counts + np.float32(read) * noise.ravel()[idx]
    return out


def afm_noise(signal: Signal, rng: np.random.Generator) -> Detected:
    """Height noise of an AFM scan — 0.05 nm rms per pixel and a 0.1 nm drift offset per scan
    line — then the usual first-order flattening (each line's median subtracted), which
    removes the line offsets as AFM software does."""
    h = signal.values.copy()
    h += standard_normal(rng, h.shape) * np.float32(0.05)
    h += rng.standard_normal((1, h.shape[1], 1), dtype=np.float32) * np.float32(0.1)
    h -= np.median(h, axis=2, keepdims=True)
    return Detected(h, "height nm", 0.0, 0.0, float("nan"), 0.0, 0.0, 0.0, 1.0)

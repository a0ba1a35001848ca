"""Stage 2b+3 — fluorescence: widefield, confocal, two-photon, light-sheet, TIRF, STED, SIM.

Emission is summed (never multiplied), channel by channel, each channel imaged with the PSF of
its emission wavelength. What differs between the modes is which depths are excited or
detected (the axial weight of each layer) and the lateral transfer function."""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from micro.core.microscope import optics
from micro.core.microscope.contrast import Signal
from micro.core.microscope.optics import gaussian_otf, otf, rfft2
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import AUTOFLUORESCENCE_NM, Setup

STED_SATURATION_MAX = 40.0
"""I/I_sat of the depletion beam at 100 % power (a typical commercial STED reaches 30–50 nm)."""
LIGHT_SHEET_FWHM_UM = 3.0
"""Thickness of a Gaussian light sheet at its waist (typical 2–6 µm)."""
AUTOFLUORESCENCE_COLOR = np.array([0.35, 1.0, 0.35], dtype=np.float32)


def channels(coef: Coefficients) -> list[tuple[str, str, float, np.ndarray, float]]:
    """(name, quantity, emission nm, display colour, brightness) per detection channel."""
    out = []
    for d in coef.fluorophores:
        color = np.asarray(d.pseudocolor_rgb or [1.0, 1.0, 1.0], dtype=np.float32)
        out.append((d.id, f"fl:{d.id}", float(d.emission_nm or 520.0), color,
                    float(d.quantum_yield or 0.5)))
    if not out:
        out.append(("autofluorescence", "autofl", AUTOFLUORESCENCE_NM, AUTOFLUORESCENCE_COLOR,
                    0.15))
    return out


def sted_fwhm_um(wavelength_nm: float, na: float, light: float) -> float:
    """STED: d = λ / (2 NA √(1 + I/I_sat)); the depletion power is the light setting."""
    return wavelength_nm / 1000.0 / (2 * na * math.sqrt(1 + STED_SATURATION_MAX * light))


def two_photon_widths_um(wavelength_nm: float, na: float, n: float) -> tuple[float, float]:
    """Lateral and axial FWHM of the two-photon excitation volume (Zipfel et al. 2003)."""
    lam = wavelength_nm / 1000.0
    w_xy = (0.320 * lam / (math.sqrt(2) * na) if na <= 0.7
            else 0.325 * lam / (math.sqrt(2) * na**0.91))
    w_z = 0.532 * lam / math.sqrt(2) / (n - math.sqrt(max(n * n - na * na, 0.0)))
    k = math.sqrt(2 * math.log(2))
    return w_xy * k, w_z * k


def tirf_depth_um(wavelength_nm: float, na: float, n1: float = 1.518, n2: float = 1.33) -> float:
    """Evanescent-field 1/e depth d = λ/(4π) (n1² sin²θ − n2²)^(−1/2), illumination at 97 %
    of the objective's NA."""
    sin_t = min(0.97 * na / n1, 0.999)
    arg = n1 * n1 * sin_t * sin_t - n2 * n2
    return wavelength_nm / 1000.0 / (4 * math.pi) / math.sqrt(max(arg, 1e-4))


def lateral_fwhm_um(s: Setup, emission_nm: float) -> float:
    """Lateral FWHM of the mode's PSF (what `resolution_um` reports, ×0.61/0.514)."""
    mode = s.req.mode
    if mode == "sted":
        return sted_fwhm_um(emission_nm, s.na, s.light)
    if mode == "two-photon":
        return two_photon_widths_um(s.wavelength_nm, s.na, s.n_immersion)[0]
    if mode == "confocal":
        return 0.51 * emission_nm / 1000.0 / s.na
    if mode == "sim":
        return optics.fwhm_um(emission_nm, s.na) / 2
    return optics.fwhm_um(emission_nm, s.na)


def fluorescence(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    h, w = s.shape
    mode = s.req.mode
    chans = channels(coef)
    z_cov = min(L.z_um for L in scene.layers)
    acc = np.zeros((len(chans), h, w // 2 + 1), dtype=np.complex64)
    term = np.empty(acc.shape[1:], dtype=np.complex64)
    n = s.n_immersion
    spectra = _emission_spectra(scene, s, coef, chans)
    for layer, spec in zip(scene.layers, spectra, strict=True):
        if spec is None:
            continue
        dz = s.focus_um - layer.z_um
        for ci, (_, _, em, _, _) in enumerate(chans):
            f = spec[ci]
            if f is None:
                continue
            weight, transfer = _layer_response(s, mode, em, dz, layer.z_um - z_cov, h, w, n)
            if weight < 1e-4:
                continue
            np.multiply(f, transfer, out=term)
            if weight != 1.0:
                term *= np.float32(weight)
            acc[ci] += term
    vals = sfft.irfft2(acc, s=(h, w), axes=(-2, -1), workers=1, overwrite_x=True)
    colors = np.stack([c[3] for c in chans])
    return Signal(np.clip(vals, 0.0, None, out=vals), tuple(c[0] for c in chans), colors,
                  "emission", chans[0][2])


def _emission_spectra(scene: Scene, s: Setup, coef: Coefficients,
                      chans: list[tuple[str, str, float, np.ndarray, float]]
                      ) -> list[list[np.ndarray | None] | None]:
    """Per layer and channel: the spectrum of the emitted light (fluorophore × quantum yield,
    plus the autofluorescence that leaks into the first channel) — independent of focus and
    mode, so kept on the cached scene."""
    key = ("emission", s.req.stain, s.specimen.id)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    want = tuple(c[1] for c in chans)
    out: list[list[np.ndarray | None] | None] = []
    for layer in scene.layers:
        if not layer.amounts:
            out.append(None)
            continue
        q = layer_quantities(layer, coef, (*want, "autofl"))
        if want[0] != "autofl":
            q[0] = q[0] + 0.15 * q[-1]  # tissue autofluorescence leaks into the first channel
        out.append([rfft2(q[ci] * np.float32(qy)).astype(np.complex64, copy=False)
                    if np.any(q[ci]) else None for ci, (_, _, _, _, qy) in enumerate(chans)])
    scene.derived[key] = out
    return out


def _layer_response(s: Setup, mode: str, em: float, dz: float, z_above_cover: float, h: int,
                    w: int, n: float) -> tuple[float, np.ndarray]:
    """(axial weight, lateral transfer function) of one depth layer for one channel."""
    px = s.px_um
    dzr = round(-dz, 3)
    if mode == "fluorescence":
        return 1.0, otf(h, w, px, s.na, em, n, dzr, s.extra_w20_um)
    if mode == "confocal":
        sec = optics.optical_section_um(em, n, s.na)
        wgt = math.exp(-4 * math.log(2) * (dz / sec) ** 2)
        return wgt, gaussian_otf(h, w, px, round(0.51 * em / 1000.0 / s.na, 5))
    if mode == "two-photon":
        fxy, fz = two_photon_widths_um(s.wavelength_nm, s.na, n)
        return math.exp(-4 * math.log(2) * (dz / fz) ** 2), gaussian_otf(h, w, px, round(fxy, 5))
    if mode == "light-sheet":
        wgt = math.exp(-4 * math.log(2) * (dz / LIGHT_SHEET_FWHM_UM) ** 2)
        return wgt, otf(h, w, px, s.na, em, n, dzr, s.extra_w20_um)
    if mode == "tirf":
        depth = tirf_depth_um(s.wavelength_nm, s.na)
        return math.exp(-max(z_above_cover, 0.0) / depth), otf(h, w, px, s.na, em, n, dzr,
                                                               s.extra_w20_um)
    if mode == "sted":
        sec = optics.optical_section_um(em, n, s.na)
        wgt = math.exp(-4 * math.log(2) * (dz / sec) ** 2)
        return wgt, gaussian_otf(h, w, px, round(sted_fwhm_um(em, s.na, s.light), 5))
    if mode == "sim":
        dof = em / 1000.0 * n / s.na**2
        wgt = math.exp(-((dz / (2 * dof)) ** 2))
        return wgt, otf(h, w, px, s.na, em, n, dzr, s.extra_w20_um, 2.0)
    raise ValueError(mode)

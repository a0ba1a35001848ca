"""Stage 2b+3 — transmitted light: brightfield, darkfield, phase contrast, DIC and polarized
light (the stereo microscope's reflected light is in stereo.py).

Each function returns a Signal: the light reaching the detector relative to the lamp's
(transmitted fraction per channel), already imaged through the objective (OTF per colour
channel and per depth layer, with defocus)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from micro.core.memory import memoized
from micro.core.microscope import optics, slide
from micro.core.microscope.optics import RGB_NM, apply, freq_grid, freq_xy, otf, rfft2
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import Setup

LN10 = np.float32(np.log(10.0))


@dataclass(frozen=True)
class Signal:
    values: np.ndarray
    """(C, H, W) float32, relative to the illumination (or to one unit of fluorophore)."""
    channels: tuple[str, ...]
    colors: np.ndarray
    """(C, 3) display colour of each channel."""
    kind: str
    """transmitted | emission | electron | height"""
    wavelength_nm: float


RGB = np.eye(3, dtype=np.float32)


def _otf_channel(s: Setup, na: float, dz: float, c: int) -> np.ndarray:
    """OTF of colour channel c at defocus dz, with the objective's chromatic focus shift."""
    h, w = s.shape
    return otf(h, w, s.px_um, na, RGB_NM[c], s.n_immersion, round(dz - s.chroma_um[c], 3),
               s.extra_w20_um)


def _otf_rgb(s: Setup, na: float, dz: float) -> np.ndarray:
    return np.stack([_otf_channel(s, na, dz, c) for c in range(3)])


def _grad_mag(a: np.ndarray, px: float) -> np.ndarray:
    gy, gx = np.gradient(a, px)
    return np.sqrt(gx * gx + gy * gy)


def brightfield(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Beer–Lambert absorption imaged with partial coherence: the condenser's working NA
    widens the passband to (NA_obj + NA_cond)/λ. Defocused phase objects show up through
    the transport-of-intensity term, I = I0(1 − Δz/n ∇²OPD), more strongly as the condenser
    closes; refraction at steep edges sends light outside a narrow illumination cone."""
    h, w = s.shape
    na_eff = (s.na + s.na_condenser) / 2
    coherence = float(np.clip(1.0 - 0.85 * s.aperture, 0.1, 1.0))
    n_med = s.specimen.medium_refractive_index
    # Layers are imaged each with its own defocus and summed as departures from the open
    # beam (T − 1): exact for one layer, and for several as long as absorbers at different
    # depths do not overlap strongly — one inverse FFT whatever the number of layers.
    spectra = _brightfield_spectra(scene, s, coef)
    z0 = float(np.mean([layer.z_um for layer in scene.layers]))
    if all(f_t is None for f_t, _ in spectra):
        blank = np.ones((3, h, w), dtype=np.float32)
        slide.apply(blank, s, z0)  # dust, debris, precipitate, bubbles
        return Signal(blank, ("R", "G", "B"), RGB, "transmitted", 550.0)
    # three buffers for the whole render, however many layers: fresh memory costs page
    # faults, which in a virtual machine cost more than the arithmetic
    acc = np.zeros((3, h, w // 2 + 1), dtype=np.complex64)
    F = np.empty_like(acc)
    tie = np.empty(acc.shape[1:], dtype=np.complex64)
    for layer, (f_t, f_opd) in zip(scene.layers, spectra, strict=True):
        if f_t is None:
            continue
        dz = s.focus_um - layer.z_um
        if abs(dz) > 1e-6 and f_opd is not None:
            np.multiply(f_opd, _nu2(h, w, s.px_um), out=tie)
            tie *= np.float32(dz / n_med * 4 * np.pi**2 * coherence)
            np.add(f_t, tie[None], out=F)
        else:
            F[...] = f_t
        for c in range(3):
            F[c] *= _otf_channel(s, na_eff, -dz, c)
        acc += F
    total = sfft.irfft2(acc, s=(h, w), axes=(-2, -1), workers=1, overwrite_x=True)
    total += np.float32(1.0)
    slide.apply(total, s, z0)  # dust, debris, precipitate, bubbles
    return Signal(np.clip(total, 0.0, None, out=total), ("R", "G", "B"), RGB, "transmitted",
                  550.0)


Spectra = list[tuple[np.ndarray | None, np.ndarray | None]]


def _brightfield_spectra(scene: Scene, s: Setup, coef: Coefficients) -> Spectra:
    """Per layer: F{T − 1} (3 channels) and F{OPD} — independent of focus, so a focus stack
    computes them once (kept on the cached scene)."""
    key = ("brightfield", s.req.stain, s.specimen.id, round(s.aperture, 3), round(s.na, 4))
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    out: Spectra = []
    for layer in scene.layers:
        if not layer.amounts:
            out.append((None, None))
            continue
        q = layer_quantities(layer, coef, ("od_r", "od_g", "od_b", "opd", "scatter"))
        collect = min(s.na / 0.9, 1.0)
        od = q[0:3] + (q[4] * (1.0 - collect) * 0.5)[None]
        T = np.exp(-LN10 * od)
        edge = _grad_mag(q[3], s.px_um) * (1.0 - s.aperture) * 2.0 / max(s.na, 0.05)
        T *= (1.0 - np.clip(edge, 0.0, 0.6))[None]
        f_opd = rfft2(q[3]).astype(np.complex64, copy=False) if np.any(q[3]) else None
        out.append((rfft2(T - 1.0).astype(np.complex64, copy=False), f_opd))
    scene.derived[key] = out
    return out


def _layer_spectra(scene: Scene, s: Setup, coef: Coefficients, mode: str) -> list[np.ndarray]:
    """Per layer, the spectra a mode images (focus-independent, kept on the cached scene):
    DIC — transmission T (R, G, B) and OPD; polarized — absorbance (R, G, B) and the
    retardance vector (Δ cos 2θ, Δ sin 2θ)."""
    key = (mode, s.req.stain, s.specimen.id)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    out = []
    for layer in scene.layers:
        if mode == "dic":
            q = layer_quantities(layer, coef, ("od_r", "od_g", "od_b", "opd"))
            stack = np.concatenate([np.exp(-LN10 * q[0:3]), q[3:4]])
        else:
            q = layer_quantities(layer, coef, ("od_r", "od_g", "od_b"))
            retard = (np.stack(layer.retard) if layer.retard is not None
                      else np.zeros((2, *q.shape[1:]), dtype=np.float32))
            stack = np.concatenate([q, retard])
        out.append(rfft2(stack).astype(np.complex64, copy=False))
    scene.derived[key] = out
    return out


@memoized("microscope.contrast.nu2")
def _nu2(h: int, w: int, px: float) -> np.ndarray:
    return (freq_grid(h, w, px) ** 2).astype(np.float32)


FIELD_QUANTITIES = ("od_r", "od_g", "od_b", "opd", "scatter")


def _field_matrix(coef: Coefficients, classes: list[str]) -> np.ndarray:
    """(6, C) float32: per class, the coefficients of the field's quantities — grey
    absorbance with 0.3 of the scattering, OPD, the three tint absorbances (each channel's
    OD minus the grey) and the scattering — so one product per layer gives them all."""
    idx = [coef.names.index(q) for q in FIELD_QUANTITIES]
    q = np.stack([coef.table[c][idx] for c in classes])  # (C, 5)
    grey = q[:, 0:3].mean(axis=1)
    rows = [grey + 0.3 * q[:, 4], q[:, 3], q[:, 0] - grey, q[:, 1] - grey, q[:, 2] - grey,
            q[:, 4]]
    return np.ascontiguousarray(np.stack(rows), dtype=np.float32)


def _field_parts(scene: Scene, s: Setup, coef: Coefficients) -> tuple[
        list[tuple[np.ndarray | None, np.ndarray] | None], np.ndarray, np.ndarray]:
    """Focus-independent parts of the field, kept on the cached scene: per layer the
    spectrum of the grey absorbance and the OPD (and, for a single layer, the maps
    themselves, so an in-focus view needs no inverse transform), and the stain's RGB tint
    and the scattering summed over layers."""
    key = ("field", s.req.stain, s.specimen.id)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    h, w = s.shape
    tint_od = np.zeros((3, h, w), dtype=np.float32)
    scatter = np.zeros((h, w), dtype=np.float32)
    per_layer: list[tuple[np.ndarray | None, np.ndarray] | None] = []
    bg = coef.background[[coef.names.index(q) for q in FIELD_QUANTITIES]]
    keep_maps = len(scene.layers) == 1
    buf: np.ndarray | None = None  # one product buffer for every layer
    for layer in scene.layers:
        if not layer.amounts:
            per_layer.append(None)
            continue
        if np.any(bg) or layer.stack is None:  # a negative stain's background: the general way
            q = layer_quantities(layer, coef, FIELD_QUANTITIES)
            grey = q[0:3].mean(axis=0)
            scatter += q[4]
            tint_od += q[0:3] - grey[None]
            pair = np.stack([grey + q[4] * 0.3, q[3]])
        else:
            mat = _field_matrix(coef, list(layer.amounts))
            if buf is None:
                buf = np.empty((6, h * w), dtype=np.float32)
            np.matmul(mat, layer.stack, out=buf)
            tint_od += buf[2:5].reshape(3, h, w)
            scatter += buf[5].reshape(h, w)
            pair = buf[0:2].reshape(2, h, w)
        spectrum = rfft2(pair).astype(np.complex64, copy=False)
        per_layer.append((pair.copy() if keep_maps else None, spectrum))
    parts = (per_layer, np.exp(-LN10 * tint_od), scatter)
    scene.derived[key] = parts
    return parts


def _field(scene: Scene, s: Setup,
           coef: Coefficients) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complex field at green (amplitude from absorption, phase from OPD) summed over layers,
    each layer's OPD and absorbance blurred by its defocus, and the RGB tint of the stain
    (transmission of each channel over the mean), and the scattering map."""
    h, w = s.shape
    lam = RGB_NM[1] / 1000.0
    per_layer, tint, scatter = _field_parts(scene, s, coef)
    opd = np.zeros((h, w), dtype=np.float32)
    od = np.zeros((h, w), dtype=np.float32)
    acc = F = None
    for layer, part in zip(scene.layers, per_layer, strict=True):
        if part is None:
            continue
        maps, spectrum = part
        dz = s.focus_um - layer.z_um
        if abs(dz) <= 1e-6 and maps is not None:
            od += maps[0]
            opd += maps[1]
            continue
        if acc is None:
            acc = np.zeros_like(spectrum)
            F = np.empty_like(spectrum)
        if abs(dz) > 1e-6:  # defocus blurs this layer's absorbance and phase
            o = otf(h, w, s.px_um, s.na, RGB_NM[1], s.n_immersion, round(-dz, 3),
                    s.extra_w20_um)
            np.multiply(spectrum, o, out=F)
            acc += F
        else:  # in focus: the layer as it is (its maps come back from the one inverse FFT)
            acc += spectrum
    if acc is not None:
        pair = sfft.irfft2(acc, s=(h, w), axes=(-2, -1), workers=1).astype(np.float32, copy=False)
        od += pair[0]
        opd += pair[1]
    amp = np.multiply(od, np.float32(-LN10 / 2), out=od)
    np.exp(amp, out=amp)
    phase = np.multiply(opd, np.float32(2 * np.pi / lam), out=opd)
    u = np.empty((h, w), dtype=np.complex64)
    np.cos(phase, out=u.real)
    u.real *= amp
    np.sin(phase, out=u.imag)
    u.imag *= amp
    return u, tint, scatter


def _power(z: np.ndarray) -> np.ndarray:
    """|z|² of a complex64 array as float32 (no square root, unlike np.abs(z) ** 2)."""
    out = np.square(z.real)
    out += np.square(z.imag)
    return out


def _annulus_fraction_above(lo: float, hi: float, nyquist: float) -> float:
    """Fraction of the collected annulus lo < ν ≤ hi that lies above the grid's Nyquist."""
    if hi <= lo:
        return 0.0
    cut = min(max(nyquist, lo), hi)
    return (hi * hi - cut * cut) / (hi * hi - lo * lo)


@memoized("microscope.contrast.full_nu")
def _full_nu(h: int, w: int, px: float) -> np.ndarray:
    return np.sqrt(sfft.fftfreq(h, d=px)[:, None] ** 2 + sfft.fftfreq(w, d=px)[None] ** 2)


@memoized("microscope.contrast.band")
def _band(h: int, w: int, px: float, lo: float, hi: float) -> np.ndarray:
    """Spatial frequencies a darkfield objective collects (complex-FFT layout)."""
    nu = _full_nu(h, w, px)
    return ((nu > max(lo, 1e-9)) & (nu <= hi)).astype(np.float32)


@memoized("microscope.contrast.ring")
def _ring(h: int, w: int, px: float, ring_nu: float) -> np.ndarray:
    """The frequencies that pass through the phase ring with the undiffracted light."""
    return np.exp(-((_full_nu(h, w, px) / ring_nu) ** 2)).astype(np.float32)


def darkfield(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Only light the specimen diffracts or scatters into the objective: spatial frequencies
    between (NA_cond − NA_obj)/λ and (NA_cond + NA_obj)/λ. A uniform background sends all its
    light outside the objective and stays black."""
    h, w = s.shape
    u, tint, scatter = _field(scene, s, coef)
    lam = RGB_NM[1] / 1000.0
    cond = s.inst.condenser.na if s.inst.condenser else s.na
    lo = max(cond - s.na, 0.0) / lam
    hi = (cond + s.na) / lam
    band = _band(h, w, s.px_um, lo, hi)
    leak = float(np.clip((s.na - cond) / s.na, 0.0, 1.0))  # objective NA above the condenser's
    direct = _power(u) * np.float32(leak) if leak > 0 else None
    spectrum = sfft.fft2(u, workers=1, overwrite_x=True)
    spectrum *= band
    intensity = _power(sfft.ifft2(spectrum, workers=1, overwrite_x=True))
    # Detail finer than the pixel grid still scatters into the objective: the part of the
    # collected band above the grid's Nyquist frequency comes from the structures' own
    # scattering, integrated over each pixel.
    nyq = 0.5 / s.px_um
    unresolved = _annulus_fraction_above(lo, hi, nyq)
    sub_pixel = scatter * np.float32(0.5 * unresolved * min(1.0, (s.na / cond) ** 2))
    intensity += sub_pixel
    if direct is not None:
        intensity += direct
    img = apply(intensity[None], _otf_channel(s, s.na, 0.0, 1)[None]) * tint
    return Signal(np.clip(img, 0.0, None, out=img), ("R", "G", "B"), RGB, "transmitted", 550.0)


def phase_contrast(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Zernike positive phase contrast: the phase ring retards the undiffracted light by
    π/2 and passes a quarter of it (t = 0.5 in amplitude); the ring also catches the lowest
    spatial frequencies of the object, which is what draws the bright halo and shade-off."""
    h, w = s.shape
    u, tint, _ = _field(scene, s, coef)
    lam = RGB_NM[1] / 1000.0
    lowpass = _ring(h, w, s.px_um, 0.08 * s.na / lam)
    spectrum = sfft.fft2(u, workers=1)
    spectrum *= lowpass
    zero = sfft.ifft2(spectrum, workers=1, overwrite_x=True)
    t = 0.5
    zero *= np.complex64(t * np.exp(-1j * np.pi / 2) - 1.0)
    zero += u  # the field: diffracted light plus the retarded, attenuated zero order
    intensity = _power(zero)
    intensity *= np.float32(0.3 / (t * t))
    img = apply(intensity[None], _otf_channel(s, s.na, 0.0, 1)[None]) * tint
    return Signal(np.clip(img, 0.0, None, out=img), ("R", "G", "B"), RGB, "transmitted", 550.0)


def dic(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Nomarski DIC: two beams sheared by about half the resolution along 45° interfere, so
    the image is I = T·sin²(π(ΔOPD + bias)/λ) with ΔOPD the optical-path difference across
    the shear — slopes facing one way bright, the other dark (the relief look)."""
    h, w = s.shape
    shear = 0.5 * optics.rayleigh_um(RGB_NM[1], s.na)
    fx, fy = freq_xy(h, w, s.px_um)
    nu_d = (fx + fy) / np.sqrt(2.0)
    shear_op = (2j * np.sin(np.pi * shear * nu_d)).astype(np.complex64)
    T = np.ones((3, h, w), dtype=np.float32)
    acc_g = np.zeros(fx.shape, dtype=np.complex64)
    for layer, F in zip(scene.layers, _layer_spectra(scene, s, coef, "dic"), strict=True):
        dz = s.focus_um - layer.z_um
        o = _otf_rgb(s, s.na, -dz)
        T *= sfft.irfft2(F[0:3] * o, s=(h, w), axes=(-2, -1), workers=1).astype(np.float32, copy=False)
        acc_g += F[3] * o[1] * shear_op
    delta = sfft.irfft2(acc_g, s=(h, w), workers=1).astype(np.float32, copy=False)
    lam = np.asarray(RGB_NM, dtype=np.float32)[:, None, None] / 1000.0
    bias = 0.12 * 0.55  # µm of bias retardation: a first-order grey background
    img = T * np.sin(np.pi * (delta[None] + bias) / lam) ** 2 / np.sin(np.pi * bias / lam) ** 2
    img *= 0.3
    return Signal(np.clip(img, 0.0, None, out=img), ("R", "G", "B"), RGB, "transmitted", 550.0)


# CIE 1931 colour-matching functions, multi-lobe Gaussian fit (Wyman, Sloan & Shirley 2013)
def _g(x: np.ndarray, mu: float, s1: float, s2: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / np.where(x < mu, s1, s2)) ** 2)


def _cmf(lam: np.ndarray) -> np.ndarray:
    x = (1.056 * _g(lam, 599.8, 37.9, 31.0) + 0.362 * _g(lam, 442.0, 16.0, 26.7)
         - 0.065 * _g(lam, 501.1, 20.4, 26.2))
    y = 0.821 * _g(lam, 568.8, 46.9, 40.5) + 0.286 * _g(lam, 530.9, 16.3, 31.1)
    z = 1.217 * _g(lam, 437.0, 11.8, 36.0) + 0.681 * _g(lam, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=1)


_XYZ_TO_RGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415],
                        [0.0557, -0.2040, 1.0570]])
POL_NM = np.linspace(400.0, 700.0, 61)
_W = (_XYZ_TO_RGB @ _cmf(POL_NM).T)  # (3, 16): linear sRGB of each spectral sample
POL_WEIGHTS = (_W / _W.sum(axis=1, keepdims=True)).astype(np.float32)
"""Spectral sample → linear RGB, normalized so a flat spectrum is white."""


ML_STEP_NM = 0.5
ML_MAX_NM = 8000.0


@memoized("microscope.contrast.michel_levy_table")
def michel_levy_table() -> np.ndarray:
    """RGB of retardance Δ between crossed polars at 45°, Σ_λ w(λ)·sin²(πΔ/λ), tabulated
    every 0.5 nm (the Michel-Lévy chart); (n, 3) float32."""
    delta = np.arange(0.0, ML_MAX_NM + ML_STEP_NM, ML_STEP_NM)
    spec = np.sin(np.pi * delta[None] / POL_NM[:, None]) ** 2  # (61, n)
    return (POL_WEIGHTS @ spec).T.astype(np.float32)


def polarized(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Crossed polars: I(λ) = T · sin²(2θ) · sin²(πΔ/λ), summed over the visible spectrum
    into RGB, so retardance Δ gives the Michel-Lévy interference colours and isotropic
    material (Δ = 0) stays dark. θ is the slow axis against the polarizer."""
    h, w = s.shape
    spectra = _layer_spectra(scene, s, coef, "polarized")
    acc = np.zeros_like(spectra[0])
    G = np.empty_like(acc)
    for layer, F in zip(scene.layers, spectra, strict=True):
        dz = s.focus_um - layer.z_um
        np.multiply(F, otf(h, w, s.px_um, s.na, RGB_NM[1], s.n_immersion, round(-dz, 3),
                           s.extra_w20_um), out=G)
        acc += G
    stack = sfft.irfft2(acc, s=(h, w), axes=(-2, -1), workers=1, overwrite_x=True)
    od, rc, rs = stack[0:3], stack[3], stack[4]
    delta = np.hypot(rc, rs)
    # sin²(2θ) = (Δ sin 2θ)² / Δ²; only birefringent pixels transmit
    lit = np.flatnonzero((rs * rs).ravel() > np.float32(1e-3) * delta.ravel())
    rgb = np.zeros((3, h * w), dtype=np.float32)
    if lit.size:
        d = delta.ravel()[lit]
        sin2 = np.square(rs.ravel()[lit] / d)
        i = np.minimum(np.rint(d * np.float32(1.0 / ML_STEP_NM)).astype(np.int32),
                       len(michel_levy_table()) - 1)
        for c, column in enumerate(_michel_levy_columns()):
            rgb[c, lit] = column.take(i) * sin2
    T = np.exp(np.multiply(od, -LN10, out=od), out=od)
    extinction = np.float32(1e-3)
    img = rgb.reshape(3, h, w)
    img += extinction
    img *= T
    return Signal(img, ("R", "G", "B"), RGB, "transmitted", 550.0)


@memoized("microscope.contrast.michel_levy_columns")
def _michel_levy_columns() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Michel-Lévy table's R, G and B as contiguous columns (cheap gathers)."""
    table = np.clip(michel_levy_table(), 0.0, None)
    return (np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1]),
            np.ascontiguousarray(table[:, 2]))

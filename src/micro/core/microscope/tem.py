"""Stage 2b+3 — bright-field transmission electron microscopy of a thin section.

The section is a complex transmission function ψ = A·e^{iφ}:
- amplitude (mass–thickness) contrast: electrons scattered by heavy atoms to angles
  beyond the objective aperture are lost, so A² = exp(−k·ρt) with k falling as 1/√kV;
- phase: the projected potential shifts the wave by φ = σ·V·t, with the relativistic
  interaction constant σ = 2π/(λV)·(m₀c² + eV)/(2m₀c² + eV); an amorphous resin or carbon
  film adds phase roughness at the atomic scale (what makes Thon rings).
The objective lens passes Ψ(k) = FFT(ψ) through its aperture (|k| ≤ α/λ) with the wave
aberration exp(−iχ(k)), χ(k) = π λ Δf k² − ½ π Cs λ³ k⁴ (Δf > 0 underfocus), damped by
the temporal- and spatial-coherence envelopes; the image is |IFFT|². Defocus thus turns
phase into intensity (sin χ transfer), draws Fresnel fringes along edges and rings in the
power spectrum whose zeros sit at χ = nπ.

Cs comes from the instrument's catalogued point resolution (Scherzer,
d = 0.66 Cs^¼ λ^¾, Williams & Carter ch. 28); defocus from the focus control: focusing
below the section (focus_um < 0) is underfocus.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from micro.core.memory import memoized
from micro.core.microscope.contrast import Signal
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import Setup

GREY = np.ones((1, 3), dtype=np.float32)
H_PLANCK = 6.62607015e-34
M_E = 9.1093837015e-31
E_CHARGE = 1.602176634e-19
C_LIGHT = 299792458.0
MC2_KEV = 510.99895
MASS_CONTRAST_100KV = 10.0
"""ln(I₀/I) per unit mass-thickness (relative density × µm) at 100 kV with a ~30 µm
objective aperture: the 'contrast thickness' of carbon-like matter is ≈ 0.1 µm."""
INNER_POTENTIAL_V = 1.0
"""Phase-contrast potential per unit of mass-thickness: what a structure adds over the resin
it displaces (mean inner potentials of protein and epoxy, ≈ 8–10 V, differ by ~1 V per
unit of density); the heavy-metal stain acts mostly through amplitude."""
AMORPHOUS_RAD_NM = 0.06
"""Phase roughness of the amorphous section: rms phase × pixel size (rad·nm), from the
random positions of its atoms (averaging over a pixel of side p leaves ∝ 1/p)."""
FOCAL_SPREAD_NM = 4.0
"""Δ of the temporal-coherence envelope (chromatic: energy spread × Cc)."""
ILLUMINATION_MRAD = 0.05
"""Semi-angle of the illumination (spatial-coherence envelope)."""


def electron_wavelength_nm(kv: float) -> float:
    """Relativistic de Broglie wavelength λ = h / √(2 m₀ e V (1 + eV / 2m₀c²)), nm."""
    v = kv * 1e3
    p = math.sqrt(2 * M_E * E_CHARGE * v * (1 + E_CHARGE * v / (2 * M_E * C_LIGHT**2)))
    return H_PLANCK / p * 1e9


def interaction_constant(kv: float) -> float:
    """σ (rad per V·nm) = 2π/(λV) · (m₀c² + eV)/(2m₀c² + eV)."""
    lam = electron_wavelength_nm(kv)
    return 2 * math.pi / (lam * kv * 1e3) * (MC2_KEV + kv) / (2 * MC2_KEV + kv)


def cs_nm(point_resolution_nm: float, wavelength_nm: float) -> float:
    """Spherical aberration from the Scherzer point resolution d = 0.66 Cs^¼ λ^¾."""
    return (point_resolution_nm / (0.66 * wavelength_nm**0.75)) ** 4


def chi(k: np.ndarray, wavelength_nm: float, defocus_nm: float, cs: float) -> np.ndarray:
    """Wave aberration χ(k) = π λ Δf k² − ½ π Cs λ³ k⁴ (k in 1/nm, Δf > 0 underfocus)."""
    k2 = k * k
    return (np.pi * wavelength_nm * defocus_nm * k2
            - 0.5 * np.pi * cs * wavelength_nm**3 * k2 * k2)


def first_zero_per_nm(wavelength_nm: float, defocus_nm: float, cs: float) -> float:
    """Spatial frequency (1/nm) of the first zero of sin χ away from k = 0 for an
    underfocus large enough that χ reaches π: ½Csλ³x² − λΔf x + 1 = 0, x = k²."""
    lam = wavelength_nm
    disc = (lam * defocus_nm) ** 2 - 2 * cs * lam**3
    if disc < 0:
        raise ValueError("χ never reaches π at this defocus")
    x = (lam * defocus_nm - math.sqrt(disc)) / (cs * lam**3)
    return math.sqrt(x)


@memoized("microscope.tem.k_grid")
def _k_grid(h: int, w: int, px_nm: float) -> np.ndarray:
    k = np.sqrt(sfft.fftfreq(h, d=px_nm)[:, None] ** 2 + sfft.fftfreq(w, d=px_nm)[None] ** 2)
    return k.astype(np.float32)


@memoized("microscope.tem.transfer")
def transfer(h: int, w: int, px_nm: float, wavelength_nm: float, defocus_nm: float,
             cs: float, aperture_mrad: float) -> np.ndarray:
    """Objective-lens transfer (complex64, complex-FFT layout): aperture × exp(−iχ) ×
    temporal and spatial coherence envelopes."""
    k = _k_grid(h, w, px_nm)  # float32: every factor below is computed in float32
    lam = wavelength_nm
    x = chi(k, lam, defocus_nm, cs)
    k2 = k * k
    grad = k * (defocus_nm * lam - cs * lam**3 * k2)  # ∂χ/∂k / 2π
    # temporal × spatial coherence envelopes in one exponential, zero outside the aperture
    env = np.exp(-0.5 * (np.pi * lam * FOCAL_SPREAD_NM) ** 2 * (k2 * k2)
                 - (np.pi * ILLUMINATION_MRAD * 1e-3 / lam) ** 2 * (grad * grad))
    env *= k <= aperture_mrad * 1e-3 / lam
    out = np.empty(k.shape, dtype=np.complex64)  # env · e^{−iχ}
    out.real = np.cos(x)
    out.real *= env
    out.imag = np.sin(x)
    out.imag *= -env
    return out


def _exit_wave_spectrum(scene: Scene, s: Setup, coef: Coefficients, kv: float) -> np.ndarray:
    """FFT of the exit wave (focus-independent, kept on the cached scene)."""
    key = ("tem", s.req.stain, s.specimen.id, kv)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    mass = np.zeros(s.shape, dtype=np.float32)
    for layer in scene.layers:
        mass += layer_quantities(layer, coef, ("mass",))[0]
    k_mt = MASS_CONTRAST_100KV * math.sqrt(100.0 / kv)
    amp = np.exp(np.float32(-0.5 * k_mt) * mass)
    phase = mass * np.float32(interaction_constant(kv) * INNER_POTENTIAL_V * 1000.0)
    px_nm = s.px_um * 1000.0
    rough = min(AMORPHOUS_RAD_NM / px_nm, 0.6)
    if rough > 1e-3:  # amorphous embedding: structure of the section, fixed per window
        w = s.window
        rng = np.random.default_rng([s.specimen.seed, round(w.cx_um * 1e4) & 0xFFFFFFFF,
                                     round(w.cy_um * 1e4) & 0xFFFFFFFF,
                                     round(px_nm * 1e4) & 0xFFFFFFFF])
        phase += rng.standard_normal(s.shape, dtype=np.float32) * np.float32(rough)
    # ψ = A e^{iφ}, written as A cos φ + i A sin φ in float32 (a complex exp is 4× dearer)
    psi = np.empty(s.shape, dtype=np.complex64)
    psi.real = np.cos(phase)
    psi.real *= amp
    psi.imag = np.sin(phase)
    psi.imag *= amp
    spec = sfft.fft2(psi, workers=1)
    scene.derived[key] = spec
    return spec


def tem(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Bright-field TEM image intensity relative to the open beam, float32 (1, H, W)."""
    kv = s.inst.light.accelerating_voltage_kv or 100.0
    lam = electron_wavelength_nm(kv)
    cs = cs_nm(s.obj.resolution_nm or 0.3, lam)
    defocus_nm = -s.focus_um * 1000.0
    spec = _exit_wave_spectrum(scene, s, coef, kv)
    h, w = s.shape
    T = transfer(h, w, round(s.px_um * 1000.0, 9), lam, round(defocus_nm, 3), cs,
                 s.na * 1000.0)
    wave = sfft.ifft2(spec * T, workers=1, overwrite_x=True)
    img = np.square(wave.real)
    img += np.square(wave.imag)
    return Signal(img[None].astype(np.float32, copy=False), ("e-",), GREY, "electron",
                  s.wavelength_nm)

"""Photon attenuation: effective beam energy from kVp and μ(E) of each tissue.

Tissues carry μ at 60, 80 and 100 keV (NIST XCOM). Between those energies μ is interpolated
log-log. Outside them each tissue is fitted with a two-term model,

    μ(E) = a · (60/E)³ + b · σ_KN(E)/σ_KN(60 keV)

(photoelectric ∝ E⁻³ plus Compton with the Klein-Nishina cross-section per electron), with a
and b ≥ 0 fitted to the 60 and 100 keV values. It serves the low energies of radiography and
mammography and the 140 keV (Tc-99m) and 511 keV (annihilation) photons of SPECT and PET.

Effective energy of a filtered tungsten spectrum: E_eff ≈ k · kVp with
k = 0.33 + 0.025 · (mm Al of total filtration), capped at 0.55 (2.5 mm Al at 80 kVp → 31 keV;
CT's heavy filtration and bowtie ≈ 8 mm Al → 0.52 · kVp, 62 keV at 120 kVp). Molybdenum and
rhodium anodes with their K-edge filters: E_eff ≈ 0.62 and 0.66 · kVp (28 kVp → 17–18 keV).
"""

from __future__ import annotations

import numpy as np

from micro.core.models import Tissue

ME_C2_KEV = 510.998950
CT_FILTRATION_MM_AL = 8.0
TABLE_KEV = (60.0, 80.0, 100.0)


def effective_energy_kev(kvp: float, anode: str = "tungsten",
                         filtration_mm_al: float = CT_FILTRATION_MM_AL) -> float:
    """Effective (monoenergetic-equivalent) energy of an X-ray beam, keV."""
    if anode == "molybdenum":
        return 0.62 * kvp
    if anode == "rhodium":
        return 0.66 * kvp
    return kvp * min(0.55, 0.33 + 0.025 * filtration_mm_al)


def klein_nishina(e_kev: float | np.ndarray) -> np.ndarray:
    """Total Klein-Nishina cross-section per electron, in units of the Thomson πr_e²·(8/3)."""
    k = np.asarray(e_kev, dtype=np.float64) / ME_C2_KEV
    a = (1 + k) / k ** 2 * (2 * (1 + k) / (1 + 2 * k) - np.log1p(2 * k) / k)
    b = np.log1p(2 * k) / (2 * k) - (1 + 3 * k) / (1 + 2 * k) ** 2
    return 0.75 * (a + b)


def _fit(mu60: float, mu100: float) -> tuple[float, float]:
    """Photoelectric (a) and Compton (b) amplitudes at 60 keV from μ(60) and μ(100)."""
    kn = float(klein_nishina(100.0) / klein_nishina(60.0))
    pe = (60.0 / 100.0) ** 3
    det = pe - kn  # [1 1; pe kn] [a b]ᵀ = [μ60 μ100]ᵀ
    a = (mu100 - kn * mu60) / det
    if a < 0:  # Compton alone (least squares over both points)
        b = (mu60 + kn * mu100) / (1 + kn ** 2)
        return 0.0, b
    return a, mu60 - a


def mu_at(tissue: Tissue, e_kev: float) -> float:
    """Linear attenuation coefficient (cm⁻¹) of a tissue at e_kev."""
    table = (tissue.mu_per_cm_60kev, tissue.mu_per_cm_80kev, tissue.mu_per_cm_100kev)
    if min(table) <= 0:
        return float(np.interp(e_kev, TABLE_KEV, table))
    return mu_table_at(table, e_kev)


def mu_vector(tissues: list[Tissue] | tuple[Tissue, ...], e_kev: float) -> np.ndarray:
    """μ (cm⁻¹) of each tissue at e_kev, float64 (tissues,)."""
    return np.array([mu_at(t, e_kev) for t in tissues])


def hounsfield(mu: float, mu_water: float) -> float:
    return 1000.0 * (mu - mu_water) / mu_water


WATER_MU = (0.2059, 0.1837, 0.1707)
"""Water μ (cm⁻¹) at 60, 80, 100 keV (NIST XCOM, ρ = 1.000)."""
IRON_MU = (1.205 * 7.874, 0.5952 * 7.874, 0.3717 * 7.874)
"""Iron/steel μ (cm⁻¹) at 60, 80, 100 keV (NIST XCOM μ/ρ × 7.874 g/cm³), for metal implants."""


def mu_table_at(table: tuple[float, float, float], e_kev: float) -> float:
    """μ at e_kev from a (60, 80, 100 keV) table, with the same model as `mu_at`."""
    if TABLE_KEV[0] <= e_kev <= TABLE_KEV[-1]:
        return float(np.exp(np.interp(np.log(e_kev), np.log(TABLE_KEV), np.log(table))))
    a, b = _fit(table[0], table[2])
    return float(a * (60.0 / e_kev) ** 3 + b * klein_nishina(e_kev) / klein_nishina(60.0))

"""Projection radiography (radiography, mammography, fluoroscopy).

The phantom is viewed face-on: a test-object module (contrast-detail, line pairs, water
cylinder) end-on as a uniform slab of phantom.MODULE_CM that its inserts run through, so the
background is flat and each insert's contrast is Δμ · MODULE_CM; a Shepp-Logan head as
ellipsoids whose third semi-axis is each ellipse's shorter one (phantom.thickness). Primary
transmission T = exp(−Σ_t μ_t(E_eff) L_t) at the beam's effective energy (attenuation.py).
Scatter: a broad (σ = 15 % of the field) blur of the primary, with scatter-to-primary ratio
SPR = 0.12 per cm of water-equivalent thickness (capped at 6); an anti-scatter grid passes
12 % of the scatter and 70 % of the primary. Quantum noise: Poisson photons per pixel,
N = Φ(kVp) · mAs · pixel area · DQE; the detector blurs by its pixel aperture (σ = 0.5 px,
image intensifier 1.5 px).

Automatic exposure control (mAs 0, the default): the exposure ends when the detector behind
the AEC field (the central third of the image, under the body) has received its target photon
fluence: 3.5·10⁴ /mm² for radiography (≈ 2.5 µGy at 30 keV, a speed-400 system) and
4.6·10⁵ /mm² for mammography (≈ 100 µGy at 18 keV), within the tube's mAs range. Mammography
compresses the object: path lengths are scaled so the thickest part is COMPRESSED_CM.
The display maps attenuation (−ln T) over the body's 0.5–99.5 percentiles (mammography: over
the uniformly compressed part, where the diagnosis is made): bone and dense tissue white, the
unattenuated beam black. A mammogram is shown "for presentation": the thinning periphery is
thickness-equalised and fat is dark grey, so the skin line and the subcutaneous fat show.
When a few small inserts far denser than the object (a line-pair
phantom's aluminium bars) would leave the object's median darker than MEDIAN_GREY, the window's
lower end moves down towards the open beam's attenuation until it is not: the bars keep their
Beer–Lambert contrast, the slab they lie in shows grey instead of black.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from micro.core.imaging.attenuation import WATER_MU, effective_energy_kev, mu_at, mu_table_at
from micro.core.imaging.display import largest_uniform, tissue_means
from micro.core.imaging.phantom import (
    Section,
    additive,
    body_path,
    fractions,
    line_integral,
)
from micro.core.models import ImagingInstrument, Phantom, XraySpec

TUBE_OUTPUT = {"tungsten": (80.0, 2.5e5, 0.05), "molybdenum": (28.0, 5.2e5, 0.146),
               "rhodium": (28.0, 5.2e5, 0.146)}
"""Per anode: (reference kVp, photons per mm² per mAs at the detector, entrance air kerma
mGy per mAs), both scaling as (kVp / reference)². Tungsten: 80 kVp, 2.5 mm Al, 1 m.
Molybdenum and rhodium (mammography, 0.5 mm Al equivalent): a tube output of 50 µGy/mAs at
1 m at 28 kV (EUREF European guidelines, 4th ed.: ≥ 30 µGy/mAs, typical systems 40–70), at the
detector 65 cm from the focus (× 2.37) and 4.35·10³ photons/mm² per µGy at the spectrum's
≈ 17.5 keV (μen/ρ of air 0.82 cm²/g, NIST) → 5.2·10⁵ /mm²/mAs; the entrance surface of a
4.5 cm breast 58.5 cm from the focus gets 0.146 mGy/mAs. A 4.5 cm breast then takes ≈ 50–100
mAs under AEC, as in clinical practice (it took the tube's 500 mAs limit with tungsten's
output scaled down to 28 kVp)."""
DQE = 0.65
SPR_PER_CM = 0.12
GRID_SCATTER, GRID_PRIMARY = 0.12, 0.70
AEC_TARGET_PER_MM2 = {"tungsten": 3.5e4, "molybdenum": 4.6e5, "rhodium": 4.6e5}
"""Detector photon fluence at which the AEC ends the exposure (air kerma / (E·μen/ρ of air))."""
DR_LATITUDE, DR_KERNEL_MM, DR_SKIN_MM, DR_GAMMA = 0.7, 35.0, 6.0, 1.5
"""Digital radiography display processing (not mammography): fraction of the log image's
large-scale trend removed, the trend's Gaussian σ, the skin margin left out of the
window's histogram, and the exponent of the tone curve applied to the windowed image."""
WINDOW_MARGIN = 0.08
MIN_WINDOW = 0.15
"""Narrowest display window, in attenuation (−ln T): the console's look-up table spans at
least a 16 % change of transmission, so a uniform slab shows its noise as fine grain and its
details (a few per cent) as grey steps instead of stretching the noise over black to white."""
MEDIAN_GREY = 0.3
"""Darkest grey (display fraction, after the tone curve) the object's median attenuation is
shown at: below it the window opens towards the open beam (see render_xray)."""
COMPRESSED_CM = 4.5
"""Compressed breast thickness (mammography), cm: the thickest path through the object."""
MAMMO_EQUALISE = 0.95
"""Mammography "for presentation" processing: the fraction of the periphery's attenuation
deficit (where the compressed breast rounds off towards the skin) added back."""
MAMMO_WINDOW_MARGIN = 0.3
"""A mammogram's window starts this fraction of its width below the fattiest tissue: fat
dark grey against the black of the unattenuated beam, so the skin line and the
subcutaneous fat read (a "for presentation" look-up table)."""


def _latitude_processing(att: np.ndarray, body: np.ndarray, sigma_px: float) -> np.ndarray:
    """Console processing of a digital radiograph (single-scale form of multiscale contrast
    equalisation): inside the body, DR_LATITUDE of the large-scale trend of the log image
    (a Gaussian of DR_KERNEL_MM, normalised over the body so the air outside does not pull it
    down) is taken away. What remains is local contrast (bone edges, air against soft
    tissue), so the skull's rim and the brain behind it, or the lung bases and the liver,
    share the display range instead of the thickest part filling the window with white."""
    n = att.shape[0]
    c = 8 if n % 8 == 0 and sigma_px >= 8 else 1  # the trend is smooth: blur it coarse
    w = body.astype(np.float32)
    aw = (att * w).reshape(n // c, c, n // c, c).mean(axis=(1, 3))
    wc = w.reshape(n // c, c, n // c, c).mean(axis=(1, 3))
    num = ndimage.gaussian_filter(aw, sigma_px / c, mode="constant")
    den = ndimage.gaussian_filter(wc, sigma_px / c, mode="constant")
    trend = num / np.maximum(den, 1e-3)
    if c > 1:
        trend = ndimage.zoom(trend, c, order=1, mode="nearest", grid_mode=True)
    ref = float(np.median(att[body]))
    out = att.copy()
    out[body] = att[body] - DR_LATITUDE * (trend[body] - ref)
    return out


def _thickness_equalisation(att: np.ndarray, body: np.ndarray, thick_cm: np.ndarray
                            ) -> np.ndarray:
    """Peripheral (thickness) equalisation of a mammogram's log image (Snoeren &
    Karssemeijer, IEEE Trans Med Imaging 23:799, 2004): towards the skin line the
    compressed breast rounds off, so the periphery is dark on the raw image and the skin
    line burns out. The console models the thickness profile from the distance to the skin
    line (here: the compressed thickness, thick_cm), fits the effective attenuation per cm
    of the thinning periphery from the image itself, and adds MAMMO_EQUALISE of the
    deficit back: the subcutaneous fat and the skin line show, the periphery a little
    darker than the centre, and every detail keeps its own contrast."""
    full = float(thick_cm.max())
    rim = body & (thick_cm > 0.2 * full) & (thick_cm < 0.9 * full)
    if rim.sum() < 16:
        return att
    t, a = thick_cm[rim].astype(np.float64), att[rim].astype(np.float64)
    t -= t.mean()
    slope = float(t @ (a - a.mean()) / max(float(t @ t), 1e-12))  # ≈ μ of the rim, /cm
    deficit = np.clip(full - thick_cm, 0, None) * body
    return (att + np.float32(MAMMO_EQUALISE * max(slope, 0.0)) * deficit).astype(np.float32)


def _poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Poisson counts, float32; above 1000 expected counts the normal limit N(λ, λ) is used
    (indistinguishable there, and far faster for the millions of photons of a radiograph)."""
    lam = lam.astype(np.float32)
    big = lam > 1000
    out = lam + np.sqrt(lam) * rng.standard_normal(lam.shape, dtype=np.float32)
    if not big.all():
        out[~big] = rng.poisson(lam[~big])
    return out


def render_xray(settings: dict[str, Any], phantom: Phantom, variant: str,
                inst: ImagingInstrument, n: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    spec = inst.spec
    assert isinstance(spec, XraySpec)
    add = additive(phantom, variant, None)  # a 3-D phantom: the whole volume
    kvp, mas = float(settings["kvp"]), float(settings["mas"])
    grid = settings["grid"] == "on"
    e = effective_energy_kev(kvp, spec.anode, spec.filtration_mm_al)
    mu = np.array([mu_at(t, e) for t in phantom.tissues])
    mu[add.background] = 0.0  # the background's path is the air gap, not the body
    body_cm = body_path(add, n)  # cm of body along each ray
    mammography = spec.anode in ("molybdenum", "rhodium")
    squeeze = 1.0
    if mammography:
        squeeze = min(1.0, COMPRESSED_CM / max(float(body_cm.max()), 1e-6))
        body_cm = body_cm * squeeze
    line = line_integral(add, mu.astype(np.float32), n) * np.float32(squeeze)
    primary = np.exp(-line)
    mu_w = mu_table_at(WATER_MU, e)
    water_cm = line / mu_w
    spr = np.clip(SPR_PER_CM * water_cm, 0, 6)
    # the scatter kernel is broad: blur on a ×8 coarser grid, then interpolate back
    coarse = (primary * spr).reshape(n // 8, 8, n // 8, 8).mean(axis=(1, 3))
    coarse = ndimage.gaussian_filter(coarse, sigma=0.15 * n / 8, mode="nearest")
    scatter = ndimage.zoom(coarse, 8, order=1, mode="nearest", grid_mode=True)
    if grid:
        primary_d, scatter_d = GRID_PRIMARY * primary, GRID_SCATTER * scatter
    else:
        primary_d, scatter_d = primary, scatter
    px = phantom.fov_mm / n
    if isinstance(add, Section):  # a projection has no tissue map: the body is its shadow
        body = body_cm > 0.05
        frac = None
    else:
        frac = fractions(add, n)
        body = frac[add.background] < 0.5
    kvp_ref, fluence_ref, kerma_ref = TUBE_OUTPUT[spec.anode]
    fluence = fluence_ref * (kvp / kvp_ref) ** 2  # photons / mm² / mAs at the detector
    aec = mas == 0
    if aec:
        third = np.zeros_like(body)
        third[n // 3:n - n // 3, n // 3:n - n // 3] = True
        field = third & body if (third & body).any() else third
        t_aec = float((primary_d + scatter_d)[field].mean())
        per_mas = fluence * max(t_aec, 1e-12)
        lo_mas, hi_mas = spec.mas_range
        mas = float(np.clip(round(AEC_TARGET_PER_MM2[spec.anode] / per_mas, 1), lo_mas, hi_mas))
    n0 = fluence * mas * px * px * DQE
    expected = n0 * (primary_d + scatter_d)
    counts = _poisson(rng, expected)
    blur = 1.5 if spec.detector == "image-intensifier" else 0.5
    blur *= max(spec.detector_pixel_mm / px, 1.0)
    counts = ndimage.gaussian_filter(counts, blur)
    raw = (counts / n0).astype(np.float32)  # transmitted fraction (with scatter)
    ideal = ndimage.gaussian_filter((primary_d + scatter_d).astype(np.float32), blur)

    region = (largest_uniform(frac, add.background) if frac is not None
              else ndimage.binary_erosion(body, iterations=max(n // 64, 2)))
    sigma = float((raw - ideal)[region].std()) if region.any() else 0.0
    mean = float(raw[region].mean()) if region.any() else 0.0
    sf = scatter_d / (primary_d + scatter_d)
    # a projection of a 3-D body has no pure-tissue pixels (only the air around it)
    means = (tissue_means(raw, add, frac) if frac is not None and not isinstance(add, Section)
             else {add.tissues[add.background]: round(float(raw[~body].mean()), 4)}
             if (~body).any() else {})
    bg = means.get(add.tissues[add.background], 1.0)
    info: dict[str, Any] = {
        "kvp": kvp, "mas": mas, "exposure": "automatic (AEC)" if aec else "manual",
        "grid": "on" if grid else "off", "anode": spec.anode,
        "effective_energy_kev": round(e, 1),
        "effective_energy_model": "E_eff = kVp·min(0.55, 0.33 + 0.025·mm Al) (W); 0.62·kVp (Mo)"
                                  ", 0.66·kVp (Rh)",
        "filtration_mm_al": spec.filtration_mm_al, "pixel_mm": round(px, 3),
        "detector_pixel_mm": spec.detector_pixel_mm, "photons_per_pixel": round(n0, 1),
        "scatter_fraction": round(float(sf[body].mean()) if body.any() else 0.0, 3),
        "noise_sigma": round(sigma, 5), "snr": round(mean / sigma, 1) if sigma > 0 else None,
        "tissue_transmission": means,
        "contrast": {t: round((bg - v) / bg, 4) for t, v in means.items() if bg > 0},
        "entrance_air_kerma_mgy": round(kerma_ref * (kvp / kvp_ref) ** 2 * mas, 3),
        "raw_unit": "transmitted fraction (primary + scatter, per unattenuated beam)",
    }
    if mammography:
        info["compressed_thickness_cm"] = round(float(
            body_cm.max()), 2)
    if spec.frame_rate_fps:
        info["frame_rate_fps"] = spec.frame_rate_fps
    # display: attenuation bright (as on a radiograph): −ln(T) windowed over the body
    att = -np.log(np.maximum(raw, 1e-4))
    region_w = body
    if mammography:  # window on the uniformly compressed breast, the periphery equalised
        region_w = body & (body_cm > 0.45 * float(body_cm.max()))
        att = _thickness_equalisation(att, body, body_cm)
    if not mammography and region_w.any():
        att = _latitude_processing(att, region_w, DR_KERNEL_MM / px)
    if region_w.any():
        # the console's histogram analysis leaves out the skin line (where the path falls
        # to nothing) and a test object's wall: the values of interest lie a few
        # millimetres inside the body
        k = 2 * max(round(DR_SKIN_MM / px), 1) + 1  # erosion by a square: separable, fast
        inner = ndimage.minimum_filter(region_w.view(np.uint8), size=k, mode="constant") > 0
        region_w = inner if inner.sum() > 16 else region_w
    lo, hi = np.percentile(att[region_w] if region_w.sum() > 16 else att, [0.5, 99.5])
    if hi - lo < MIN_WINDOW:  # a flat object: noise and the scatter field do not fill it
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5 * MIN_WINDOW, mid + 0.5 * MIN_WINDOW
    # the window keeps a margin (WINDOW_MARGIN of its width) below the values of interest,
    # so a uniform background (a test object's slab) is dark grey, not clipped to black
    lo -= (MAMMO_WINDOW_MARGIN if mammography else WINDOW_MARGIN) * (hi - lo)
    # a few small inserts far denser than the object (a line-pair phantom's metal bars)
    # would stretch the window over the slab they lie in and leave it black: the window then
    # opens downwards, towards the open beam's attenuation (the darkest a film can show),
    # until the object's median shows at least MEDIAN_GREY (the inserts' contrast is the
    # measured one, only mapped to grey differently)
    gamma = 1.0 if mammography else DR_GAMMA
    med = float(np.median(att[region_w])) if region_w.sum() > 16 else float(np.median(att))
    g = MEDIAN_GREY ** (1.0 / gamma)  # the median's place in the window before the tone curve
    if (med - lo) < g * (hi - lo):
        open_beam = -float(np.log(GRID_PRIMARY if grid else 1.0))
        lo = min(lo, max((med - g * hi) / (1.0 - g), open_beam))
    display = np.clip((att - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    if not mammography:  # the console's tone curve: soft tissue mid-grey, bone white
        display **= np.float32(gamma)
    return display, raw, info

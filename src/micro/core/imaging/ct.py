"""Computed tomography: exact sinogram of the phantom, Poisson noise per ray, FBP, HU.

Pipeline: per-tissue chord lengths (exact, cached per geometry) → line integrals p = Σ μ_t L_t
at the beam's effective energy (polychromatic for beam hardening and metal) → artefacts →
FBP → HU = 1000 (μ − μ_water)/μ_water → window/level.

Noise: each ray's transmitted count is Poisson with mean N0·e^{−p}, so p has variance e^p/N0.
FBP is linear, so the noise image is the FBP of that noise: its variance map is the
back-projection of e^p/N0 through the filter's gain (fbp.variance_map) and its texture the FBP
noise power spectrum |ν|·W(ν)² (fbp.correlated_noise). The noiseless reconstruction and the
variance map depend only on the phantom, the geometry, the energy and the artefact, and are
cached; a render then costs one FFT-filtered noise field. A test checks this against a full
Poisson-sinogram FBP.

Geometry: parallel beam over 180° (a fan-beam scanner's data rebinned), scan circle = the
phantom's field of view, nominal slice 5 mm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import fft as sfft

from micro.core.imaging import fbp
from micro.core.imaging.attenuation import (
    IRON_MU,
    WATER_MU,
    effective_energy_kev,
    mu_at,
    mu_table_at,
)
from micro.core.imaging.display import largest_uniform, resize, tissue_means, window
from micro.core.imaging.phantom import (
    Additive,
    Section,
    Solid,
    additive,
    chords,
    fractions,
    kspace,
    pixel_centres,
    raster_projections,
    weighted_sum,
)
from micro.core.memory import memoized
from micro.core.models import CtSpec, ImagingInstrument, Phantom

SLICE_MM = 5.0
FLUENCE_PER_MM2_PER_MAS = 2.0e6
"""Photons per mm² at the isocentre per mAs over one rotation at 120 kVp (after the bowtie
filter; scales as (kVp/120)^2.5). Calibrated so a 20 cm water cylinder at 200 mAs gives a
noise of about 10 HU in 0.5 mm pixels with the Shepp-Logan filter."""
CTDI_MGY_PER_MAS = 0.08
"""CTDIvol per mAs at 120 kVp for a 32 cm body phantom (typical 64-slice scanner)."""
FEW_VIEWS = 24
SPECTRUM = ((0.72, 0.30), (1.0, 0.45), (1.35, 0.25))
"""Three-bin polychromatic spectrum (energy / E_eff, weight) for beam hardening."""
RING_BIN_OFFSET = 1 / 7
RING_ERROR = 0.05
MOTION_MM = (6.0, 3.0)
MANY_VIEWS = 360
"""From this many views (the default), without an artefact, a slice is reconstructed in FBP's
many-view limit (no view-aliasing streaks: fewer views show them, as does `few-views`): a
3-D phantom's section from its raster, a 2-D test object from its exact Fourier transform.
The artefacts (and fewer views) keep the full FBP of the sinogram, which is their point."""
COARSE = 128
"""Views, bins and matrix of the coarse sinogram that gives a section's noise variance map."""


def _metal(add: Additive) -> tuple[list[tuple[float, float]], float]:
    fov = add.fov_mm
    return [(-0.16 * fov, -0.05 * fov), (0.16 * fov, -0.05 * fov)], 0.022 * fov


@memoized("imaging.ct.chords")
def _chords(add: Additive, views: int, bins: int, motion: bool) -> np.ndarray:
    fov = add.fov_mm
    ds = fov / bins
    theta = np.arange(views) * np.pi / views
    s = (np.arange(bins) - (bins - 1) / 2) * ds
    shift = None
    if motion:  # the patient drifts during the second half of the rotation
        ramp = np.clip((np.arange(views) / views - 0.5) * 2, 0, 1)[:, None]
        shift = ramp * np.array(MOTION_MM)[None, :]
    out = chords(add, theta, s, shift) / 10.0  # cm
    out.setflags(write=False)
    return out


@memoized("imaging.ct.metal_chords")
def _metal_chords(add: Additive, views: int, bins: int) -> np.ndarray:
    centres, r = _metal(add)
    solids = tuple(Solid("ellipse", x, y, r, r, 0.0, (1.0,)) for x, y in centres)
    metal = Additive("metal", "default", ("iron",), 0, solids, add.fov_mm)
    ds = add.fov_mm / bins
    theta = np.arange(views) * np.pi / views
    s = (np.arange(bins) - (bins - 1) / 2) * ds
    return chords(metal, theta, s)[0] / 10.0


def line_integrals(add: Additive | Section, mu_of_e: Any, e_kev: float, views: int, bins: int,
                   artifact: str) -> np.ndarray:
    """Sinogram p (dimensionless, views × bins): −ln(I/I0) without noise."""
    L = _chords(add, views, bins, artifact == "motion")
    if artifact in ("beam-hardening", "metal"):
        metal = _metal_chords(add, views, bins) if artifact == "metal" else None
        trans = np.zeros(L.shape[1:])
        for ratio, weight in SPECTRUM:
            mu = mu_of_e(e_kev * ratio)
            p_e = weighted_sum(mu, L)
            if metal is not None:
                p_e = p_e + (mu_table_at(IRON_MU, e_kev * ratio)
                             - mu_table_at(WATER_MU, e_kev * ratio)) * metal
            trans += weight * np.exp(-p_e)
        p = -np.log(trans)
    else:
        p = weighted_sum(mu_of_e(e_kev), L)
    if artifact == "ring":
        p = p.copy()
        p[:, bins // 2 + int(bins * RING_BIN_OFFSET)] += RING_ERROR
    return p


@memoized("imaging.ct.reconstruct")
def _reconstruct(add: Additive, mu_key: tuple[tuple[float, tuple[float, ...]], ...],
                 e_kev: float, n: int,
                 views: int, bins: int, filt: str, artifact: str, n0_floor: float
                 ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """((μ image cm⁻¹ without background, variance per unit N0 (cm⁻²·photons)), sinogram);
    the sinogram is None for a section reconstructed in the many-view limit."""
    table: dict[float, tuple[float, ...]] = dict(mu_key)

    def mu_of_e(e: float) -> np.ndarray:
        return np.array(table[round(e, 3)])

    if artifact == "none" and views >= MANY_VIEWS:
        if isinstance(add, Section):
            return _reconstruct_section(add, np.array(table[round(e_kev, 3)]), n, views, bins,
                                        filt), None
        return _reconstruct_shapes(add, np.array(table[round(e_kev, 3)]), n, views, bins,
                                   filt), None
    p = line_integrals(add, mu_of_e, e_kev, views, bins, artifact)
    if artifact == "metal":  # photon starvation: fewer than ~1 photon reads as 1
        p = np.minimum(p, np.log(n0_floor))
    ds = add.fov_mm / bins
    mu = fbp.fbp(p, ds, n, add.fov_mm, filt) * 10.0
    coarse = _coarse_factor(views, n)
    var = fbp.variance_map(p, 1.0, ds, n, add.fov_mm, filt, coarse) * 100.0
    for a in (mu, var, p):
        a.setflags(write=False)
    return (mu, var), p


def _coarse_factor(views: int, n: int) -> int:
    """The step of the views (and the matrix reduction) for a variance map: the map is smooth,
    so every k-th view on an (n / k)² matrix, interpolated back, is enough."""
    return next((k for k in (4, 3, 2) if views % k == 0 and views // k >= 32 and n % k == 0
                 and n // k >= 64), 1)


def shapes_limit(add: Additive, mu_t: np.ndarray, n: int, bins: int, filt: str
                 ) -> np.ndarray:
    """FBP's many-view limit of a 2-D test object, float32 (n, n): μ(x) − μ_background in the
    units of mu_t (per tissue; like the sinogram, the additive form leaves out only the
    background's own constant, so the shapes' −1 weights on it count): the inverse Fourier
    transform of the object's exact transform (phantom.kspace, no raster, so no aliasing
    however small its rods and bars) times FBP's transfer function with the pixel footprint
    (fbp.many_view_response), sampled at the pixel centres. The response is 0 beyond the
    detector's Nyquist frequency, so a grid of u·n points per field of view (u·n ≥ bins)
    holds the whole band and its every u-th sample is the pixel value, exactly up to the
    wrap-around of ringing one field of view away."""
    fov = add.fov_mm
    u = max(1, -(-bins // n))
    m = u * n
    px, fine = fov / n, fov / m
    # the first pixel's centre (top left) becomes the origin: the inverse DFT's sample 0
    x0, y0 = (0.5 - n / 2) * px, (n / 2 - 0.5) * px
    one = Additive(add.phantom_id, add.variant, ("mu",), 0,
                   tuple(Solid(s.kind, s.x0 - x0, s.y0 - y0, s.a, s.b, s.phi,
                               (float(np.dot(s.weights, mu_t)),)) for s in add.solids),
                   fov)
    fx = sfft.rfftfreq(m, d=fine)[None, :]
    fy = sfft.fftfreq(m, d=fine)[:, None]
    # rows run down (−y): the transform is taken at (fx, −fy)
    spec = kspace(one, fx, -fy)[0] * fbp.many_view_response(fx, fy, fov / bins, filt, px)
    img = sfft.irfft2(spec, s=(m, m), workers=1) / fine ** 2
    return np.ascontiguousarray(img[::u, ::u], dtype=np.float32)


def _reconstruct_shapes(add: Additive, mu_t: np.ndarray, n: int, views: int, bins: int,
                        filt: str) -> tuple[np.ndarray, np.ndarray]:
    """(μ image, variance per unit N0) of a 2-D test object at MANY_VIEWS or more: the
    noiseless image is FBP's many-view limit (shapes_limit; the back-projection of ~400
    views at 512² was most of a cold render). The full FBP of the point-sampled exact
    sinogram differs from it only by aliasing: faint view-aliasing streaks, and streaks along
    sharp high-contrast edges (the aluminium bars: tens of HU) where the sampled projections
    fold energy above the detector's Nyquist frequency back, which a scanner's integrating
    detector elements and ~1000 views largely avoid (test_imaging_ct checks the agreement;
    `few-views` shows view aliasing). The variance map is the full path's (fbp.variance_map
    over every k-th view on an (n / k)² matrix), from the exact sinogram of those views."""
    from scipy import ndimage

    mu = shapes_limit(add, np.asarray(mu_t, dtype=np.float64), n, bins, filt)
    k = _coarse_factor(views, n)
    ds = add.fov_mm / bins
    s = (np.arange(bins) - (bins - 1) / 2) * ds
    theta = np.arange(0, views, k) * np.pi / views
    p = weighted_sum(mu_t, chords(add, theta, s)) / 10.0
    # (π/(V/k)) Σ over the V/k views, as fbp.variance_map forms it from p[::k]
    mean_bp = fbp.backproject(np.exp(p), n // k, add.fov_mm, ds, float(s[0]), 1)
    var = mean_bp * (np.pi / views) * fbp.noise_gain(bins, filt, round(add.fov_mm / n / ds, 4)) \
        / ds ** 2 * 100.0
    if k > 1:
        var = ndimage.zoom(var, k, order=1, mode="nearest", grid_mode=True)
    var = np.maximum(var, 0).astype(np.float32)
    for a in (mu, var):  # cached
        a.setflags(write=False)
    return mu, var


def _reconstruct_section(sec: Section, mu_t: np.ndarray, n: int, views: int, bins: int,
                         filt: str) -> tuple[np.ndarray, np.ndarray]:
    """(μ image, variance per unit N0) of a 3-D phantom's section at MANY_VIEWS or more.

    The noiseless image is FBP's many-view limit (fbp.many_view_limit) of the section's μ
    raster, area-averaged onto the matrix: at these view counts view aliasing lies below the
    quantum noise, and the sinogram of a 512² raster plus its back-projection would cost ten
    times more. The variance map is smooth (a back-projection of e^p), so it is computed from
    a coarse sinogram (COARSE views × bins of the section) on a COARSE² matrix and
    interpolated: σ²(x) = (π/V) · ⟨e^p⟩_views(x) · π · gain / ds², with V the true number of
    views and ds the true detector spacing (fbp.variance_map); the coarse sinogram is the
    projection of the μ raster area-averaged to COARSE² (one transform, not one per
    tissue)."""
    from scipy import ndimage

    from micro.core.imaging.anatomy import SECTION_PX, resample, section_fractions

    an = sec.anatomy
    z = sec.z_mm or 0.0
    frac = section_fractions(an, z, SECTION_PX, sec.fov_mm)
    mu_rel = np.array(mu_t, dtype=np.float32)
    mu_rel[sec.background] = 0.0  # the background's path is left out, as in `chords`
    raster = np.tensordot(mu_rel, frac, axes=1)  # cm⁻¹, background excluded
    ds = sec.fov_mm / bins
    img = fbp.many_view_limit(raster, sec.fov_mm / SECTION_PX, ds, filt)
    mu = img if n == SECTION_PX else resample(img[None], sec.fov_mm, n, sec.fov_mm)[0]
    c = COARSE
    theta = np.arange(c) * np.pi / c
    ds_c = sec.fov_mm / c
    s = (np.arange(c) - (c - 1) / 2) * ds_c
    q = SECTION_PX // c if SECTION_PX % c == 0 else 1  # the μ raster area-averaged to c²
    coarse_mu = raster.reshape(c, q, c, q).mean(axis=(1, 3)) if q > 1 else raster
    p = raster_projections(coarse_mu[None], sec.fov_mm / coarse_mu.shape[0], theta, s)[0] / 10.0
    mean_bp = fbp.backproject(np.exp(p), c, sec.fov_mm, ds_c, float(s[0]), 1)
    var = (mean_bp * (np.pi / views)
           * fbp.noise_gain(bins, filt, round(sec.fov_mm / n / ds, 4)) / ds ** 2) * 100.0
    if n != c:
        var = ndimage.zoom(var, n / c, order=1, mode="nearest", grid_mode=True)
    return mu.astype(np.float32), np.maximum(var, 0).astype(np.float32)


def render_ct(settings: dict[str, Any], phantom: Phantom, variant: str,
              inst: ImagingInstrument, n: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Returns (display 0..1 float32 (n, n), raw float32, info). Raw: HU, or the sinogram."""
    spec = inst.spec
    assert isinstance(spec, CtSpec)
    add = additive(phantom, variant, float(settings["slice_mm"]))
    kvp, mas = float(settings["kvp"]), float(settings["mas"])
    artifact, filt = settings["artifact"], settings["filter"]
    views = int(settings["views"]) if artifact != "few-views" else min(int(settings["views"]),
                                                                       FEW_VIEWS)
    bins = int(settings["detector_bins"])
    e = effective_energy_kev(kvp)
    tissues = phantom.tissues
    energies = sorted({round(e * r, 3) for r, _ in SPECTRUM} | {round(e, 3)})
    mu_key = tuple((en, tuple(mu_at(t, en) for t in tissues)) for en in energies)
    mu_w = mu_table_at(WATER_MU, e)
    mu_bg = mu_at(tissues[add.background], e)
    ds = phantom.fov_mm / bins
    n0 = (FLUENCE_PER_MM2_PER_MAS * (kvp / 120.0) ** 2.5 * mas * ds * SLICE_MM / views)
    (mu, var_unit), p = _reconstruct(add, mu_key, e, n, views, bins, filt, artifact,
                                     n0 if artifact == "metal" else 0.0)

    sigma_mu = np.sqrt(var_unit / n0)
    noise = fbp.correlated_noise(n, phantom.fov_mm, ds, filt, rng) * sigma_mu
    hu_clean = 1000.0 * (mu + mu_bg - mu_w) / mu_w
    hu = hu_clean + 1000.0 * noise / mu_w
    x = pixel_centres(n, phantom.fov_mm)
    r = np.hypot(x[None, :], x[:, None])
    outside = r > phantom.fov_mm / 2
    hu[outside] = -1000.0
    hu_clean = np.where(outside, -1000.0, hu_clean)
    frac = fractions(add, n)
    uniform = largest_uniform(frac, add.background) & ~outside
    sigma_hu = float((1000.0 * sigma_mu / mu_w)[uniform].mean()) if uniform.any() else 0.0
    measured = float((hu - hu_clean)[uniform].std()) if uniform.any() else 0.0

    info: dict[str, Any] = {
        "kvp": kvp, "mas": mas, "effective_energy_kev": round(e, 1),
        "effective_energy_model": "E_eff = 0.52·kVp (tungsten, ~8 mm Al equivalent with bowtie)",
        "mu_water_per_cm": round(mu_w, 4),
        "views": views, "detector_bins": bins, "filter": filt, "artifact": artifact,
        "geometry": "parallel beam over 180° (rebinned fan beam)",
        "pixel_mm": round(phantom.fov_mm / n, 3), "thickness_mm": SLICE_MM,
        "slice_mm": float(settings["slice_mm"]),
        "voxel_mm3": round((phantom.fov_mm / n) ** 2 * SLICE_MM, 3),
        "photons_per_ray": round(n0, 1),
        "noise_sigma_hu": round(sigma_hu, 2), "noise_sigma_hu_measured": round(measured, 2),
        "ctdi_vol_mgy": round(CTDI_MGY_PER_MAS * mas * (kvp / 120.0) ** 2.5, 2),
        "scan_time_s": spec.rotation_time_s,
        "tissue_hu_expected": {t.id: round(1000 * (mu_at(t, e) - mu_w) / mu_w, 1)
                               for t in tissues},
        "tissue_hu": tissue_means(hu_clean, add, frac),
        "window": settings["window"], "level": settings["level"],
    }
    if sigma_hu > 0:
        info["snr"] = {t: round(abs(v + 1000.0) / sigma_hu, 1)
                       for t, v in info["tissue_hu"].items()}
    if settings["view"] == "sinogram":
        if p is None:  # reconstructed in the many-view limit: the sinogram itself is made now
            table = dict(mu_key)
            p = line_integrals(add, lambda en: np.array(table[round(en, 3)]), e, views, bins,
                               artifact)
        noisy = p + rng.standard_normal(p.shape) * np.sqrt(np.exp(p) / n0)
        info["raw_unit"] = "line integral −ln(I/I0) (views × detector bins)"
        disp = resize(noisy / max(float(noisy.max()), 1e-9), (n, n))
        return np.clip(disp, 0, 1), noisy.astype(np.float32), info
    info["raw_unit"] = "HU"
    return window(hu, float(settings["window"]), float(settings["level"])), \
        hu.astype(np.float32), info


def noiseless_hu(phantom: Phantom, variant: str, kvp: float, n: int, views: int, bins: int,
                 filt: str, artifact: str = "none") -> np.ndarray:
    """The reconstruction without quantum noise, in HU, float64 (n, n) (for tests and QA)."""
    add = additive(phantom, variant)
    e = effective_energy_kev(kvp)
    energies = sorted({round(e * r, 3) for r, _ in SPECTRUM} | {round(e, 3)})
    mu_key = tuple((en, tuple(mu_at(t, en) for t in phantom.tissues)) for en in energies)
    (mu, _), _ = _reconstruct(add, mu_key, e, n, views, bins, filt, artifact, 1e6)
    mu_w = mu_table_at(WATER_MU, e)
    mu_bg = mu_at(phantom.tissues[add.background], e)
    return 1000.0 * (mu + mu_bg - mu_w) / mu_w

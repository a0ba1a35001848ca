"""Stage 2b+3 — the scanning electron microscope: secondary electrons from a surface.

The specimen is a height map h(x, y) (µm above the mount) with a material map (SE yield,
coverage). Per pixel the detected signal is

    S = δ_material · sec θ · (1 + edge) · collection(detector) · charging

- sec θ: the secondary-electron yield rises with the local tilt θ of the surface to the beam
  (δ = δ₀ sec θ; Goldstein et al., *Scanning Electron Microscopy and X-Ray Microanalysis*,
  4th ed., ch. 2), so slopes and the rims of rounded objects are bright;
- edge: where the beam's diffusion cloud reaches a second surface (rims, spines, ridges)
  more SEs escape, while from pits and crevices fewer do (the walls catch them). The
  cloud scales with the Kanaya–Okayama range, R = 0.0276 A E^1.67 /
  (Z^0.889 ρ) µm (E in keV), so higher beam energy gives wider, softer edge glow;
- collection: an Everhart–Thornley detector on one side of the chamber collects more from
  faces turned towards it and less from those turned away or hidden behind relief (a
  shadow cast along its line of sight, partly filled by its bias field); an in-lens
  detector above the specimen sees every side alike; a gaseous detector (ESEM) nearly so;
- charging: an uncoated insulator in high vacuum stores the beam's charge, which glows,
  and streaks along the scan lines after it; a conductive coating or chamber gas prevents it.

The image is then blurred by the probe and by defocus, 2α|h − z_focus| with α the
convergence semi-angle: the SEM's famous depth of field. α = aperture radius / working
distance, so doubling the working distance halves α and doubles the depth of field
(resolution / α); the side detector's view of the specimen changes with it too.

Backscattered electrons (detector "bse"): beam electrons scattered back out of the
specimen, counted by an annular solid-state detector on the pole piece above it. Their
coefficient η rises with the mean atomic number Z̄ of the material (Reuter's fit, below),
so the image maps composition: a 15 nm gold coat brightens an organic surface, most at low
kV where it holds more of the beam's range. They come from the whole interaction volume
(a halo ∝ the Kanaya–Okayama range, wider at higher kV) and the symmetric detector sees
every side alike, so topography is weaker than in the SE image, and an insulator's charge
(a few volts) hardly deflects them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft
from scipy import signal as sps

from micro.core.microscope.contrast import Signal
from micro.core.microscope.generators.relief import blur_px
from micro.core.microscope.optics import gaussian_otf, rfft2
from micro.core.microscope.quantities import Coefficients, layer_quantities
from micro.core.microscope.scene import Scene
from micro.core.microscope.setup import Setup
from micro.core.microscope.stereo import hat, slab_heights

GREY = np.ones((1, 3), dtype=np.float32)
SUBSTRATE_SE_YIELD = 0.12
"""Bare carbon tab between objects (uncoated mounts)."""
COATING_SE_YIELD = 0.9
MAX_SEC = 5.0
"""Yield of a near-vertical wall saturates (the beam then passes through thin edges)."""
DETECTOR_AZIMUTH = (0.0, -1.0)
"""Everhart–Thornley detector towards the top of the image (x, y; y down)."""
DETECTOR_ELEVATION_DEG = 40.0
"""Elevation of the ET collector seen from the specimen at the reference working distance
(ET_OFFSET_MM off axis at the height of the pole piece: atan(10 / 12) = 39.8°)."""
WD_REF_MM = 10.0
"""Working distance at which the catalog's convergence semi-angle (the objective's `na`)
holds: α = aperture radius / WD = 50 µm / 10 mm = 5 mrad (Goldstein et al., ch. 2)."""
ET_OFFSET_MM = 12.0
"""Horizontal distance of the Everhart–Thornley collector grid from the beam axis; it sits
at the height of the pole piece, so it looks down on the specimen at atan(WD / 12 mm)."""
ET_SCREEN_MM = 4.0
"""Modelled: the collector's +300 V field reaches the specimen through the gap between the
pole piece and the specimen; a narrow gap screens it, so the ET collects WD / (WD + 4 mm)
of the SEs (relative to its collection at WD_REF_MM)."""
INLENS_REACH_MM = 6.0
"""Modelled: an in-lens detector collects the SEs the lens field pulls up the bore, a
fraction 1 / (1 + (WD / 6 mm)²) that falls fast with the working distance (why in-lens
imaging is done at a few millimetres)."""
BSE_ANNULUS_MM = (1.5, 10.0)
"""Inner and outer radius of the annular solid-state BSE detector under the pole piece;
with BSEs leaving a flat surface in a cosine distribution it collects
sin²β₂ − sin²β₁ of them, tan β = r / WD (Goldstein et al., ch. 3: BSE detectors)."""
REUTER = (-0.0254, 0.016, -1.86e-4, 8.3e-7)
"""Backscatter coefficient at normal incidence, η(Z) = −0.0254 + 0.016 Z − 1.86·10⁻⁴ Z²
+ 8.3·10⁻⁷ Z³, nearly independent of beam energy from 5 to 50 keV (Reuter, Proc. 6th Int.
Conf. on X-Ray Optics and Microanalysis, Univ. Tokyo Press 1972, p. 121; quoted by
Goldstein et al., ch. 3). Carbon 0.06, silica 0.12, gold 0.49."""
CARBON_TAB_Z = 6.0
"""The carbon adhesive tab between objects (Z̄ of carbon)."""
CARBON_TAB_DENSITY = 1.4
ORGANIC_Z = 6.5
"""Z̄ of dried biological matter (C–H–O–N, mass-weighted) for a class without its own
`mean_atomic_number`."""
COATING_NM = 15.0
"""Sputtered coat thickness, mid-range of the stains' 10–20 nm."""
FILM_DEPTH = 0.3
"""BSEs come from the top ≈ 0.3 of the electron range (Goldstein et al., ch. 3): a film of
thickness t backscatters a fraction 1 − exp(−t / (0.3 R_film)) of its bulk excess over the
substrate (modelled saturation)."""
BSE_HALO = (0.5, 0.15)
"""Half of the BSEs leave near the beam's entry point, half from a Gaussian halo of σ =
0.15 R (modelled radial distribution, FWHM ≈ 0.35 R of the interaction volume)."""
BSE_CHARGING = 0.05
"""BSEs (keV) are deflected far less than SEs (a few eV) by an insulator's charge: the
fraction of the SE image's charging contrast left in the BSE image."""
SHADOW_FILL = 0.55
"""Fraction of SEs still collected from a face the ET detector cannot see (its +300 V
collector bends their paths round the relief)."""
SHADOW_SOFT_UM = 3.0
"""Depth of relief (µm) across which a shadow darkens: SEs from just behind an edge are
still pulled round it by the collector field."""
PENUMBRA_UM = 0.6
"""Blur of the shadow's edge (the ET collector grid subtends a few degrees)."""
CHARGE_DECAY_UM = 25.0
"""Distance along a scan line over which stored charge relaxes on the conductive mount."""
EDGE_FRACTION = 0.08
"""Edge-glow width as a fraction of the Kanaya–Okayama range."""
ORGANIC = (12.0, 6.0, 1.2)
"""(A, Z, ρ g/cm³) of dried organic matter under a thin metal coat (the bulk the beam
diffuses in)."""


def ko_range_um(kv: float, a: float = ORGANIC[0], z: float = ORGANIC[1],
                rho: float = ORGANIC[2]) -> float:
    """Kanaya–Okayama electron range (µm) for beam energy kv (keV)."""
    return 0.0276 * a * kv**1.67 / (z**0.889 * rho)


def atomic_weight(z: float | np.ndarray) -> float | np.ndarray:
    """Atomic weight from the atomic number, A ≈ 2Z + 0.006 Z² (within ≈ 5 % from carbon to
    gold: C 12.2 / 12.0, Si 29.2 / 28.1, Fe 56.1 / 55.8, Au 195 / 197)."""
    return 2.0 * z + 0.006 * z * z


def detector_kind(s: Setup) -> str:
    """backscatter when the request asks for BSEs, else the instrument's secondary-electron
    detector: everhart-thornley | in-lens | gaseous."""
    if s.req.detector == "bse":
        return "backscatter"
    name = (s.camera.name if s.camera else "").lower()
    if "in-lens" in name:
        return "in-lens"
    if "gaseous" in name:
        return "gaseous"
    return "everhart-thornley"


def convergence(s: Setup) -> float:
    """Beam convergence semi-angle α (rad) at the request's working distance: the catalog
    gives it at WD_REF_MM, and α = aperture radius / WD."""
    return s.na * WD_REF_MM / s.req.wd_mm


def et_elevation_deg(wd_mm: float) -> float:
    """Elevation of the ET collector seen from the specimen: atan(WD / ET_OFFSET_MM)."""
    return math.degrees(math.atan2(wd_mm, ET_OFFSET_MM))


def collection(detector: str, wd_mm: float) -> float:
    """Fraction of the emitted electrons a detector collects at working distance wd_mm,
    relative to its collection at WD_REF_MM (see the constants above)."""
    def raw(wd: float) -> float:
        if detector == "everhart-thornley":
            return wd / (wd + ET_SCREEN_MM)
        if detector == "in-lens":
            return 1.0 / (1.0 + (wd / INLENS_REACH_MM) ** 2)
        if detector == "backscatter":
            r1, r2 = BSE_ANNULUS_MM
            return r2 * r2 / (r2 * r2 + wd * wd) - r1 * r1 / (r1 * r1 + wd * wd)
        return 1.0  # gaseous: the cascade fills the chamber
    return raw(wd_mm) / raw(WD_REF_MM)


def eta(z: float | np.ndarray) -> float | np.ndarray:
    """Backscatter coefficient at normal incidence (Reuter's fit, REUTER)."""
    c0, c1, c2, c3 = REUTER
    return c0 + z * (c1 + z * (c2 + z * c3))


def film_eta(z_sub: float | np.ndarray, z_film: float, rho_film: float, t_um: float,
             kv: float) -> float | np.ndarray:
    """η of a substrate under a film of thickness t_um: the film's excess over the substrate
    grows as 1 − exp(−t / (FILM_DEPTH · R_film)), R the Kanaya–Okayama range in the film —
    a 15 nm gold coat holds more of a 5 kV beam's range than of a 30 kV one's."""
    r = ko_range_um(kv, float(atomic_weight(z_film)), z_film, rho_film)
    f = 1.0 - math.exp(-t_um / (FILM_DEPTH * r))
    return eta(z_sub) + (eta(z_film) - eta(z_sub)) * f


def surface(scene: Scene, coef: Coefficients
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Height (µm), summed SE yield of the material, its coverage (0–1), and the material's
    own mean atomic number Z̄ and density (g/cm³; 0 where there is none), float32 (H, W)."""
    h = np.zeros(scene.layers[0].shape, dtype=np.float32)
    y = np.zeros_like(h)
    w = np.zeros_like(h)
    z = np.zeros_like(h)
    rho = np.zeros_like(h)
    for layer in scene.layers:
        q = layer_quantities(layer, coef, ("height", "se", "z", "density"))
        h += q[0]
        y += q[1]
        z += q[2]
        rho += q[3]
        for c, a in layer.amounts.items():
            if c != "relief":
                w += a.reshape(h.shape)
    inv = np.where(w > 0, 1.0 / np.maximum(w, 1e-6), 0.0).astype(np.float32)
    return h, y, np.clip(w, 0.0, 1.0), z * inv, rho * inv


def backscatter(h: np.ndarray, z_bar: np.ndarray, eta0: np.ndarray, px: float,
                range_um: float) -> np.ndarray:
    """BSE signal of a surface before the probe blur (float32 (H, W)). Pure: tests feed it
    known maps. eta0: η at normal incidence (material and coat); z_bar: the material's mean
    atomic number, which sets how fast η rises with the tilt θ, η(θ) = η₀ (2 / (1 + cos θ))^
    (9/√Z) (Arnal, Verdier & Vincensini 1969); the annular detector above the specimen
    sees a tilted face's cosine distribution along its axis, × cos θ, the same from every
    side. The signal spreads over the interaction volume: half from a halo of σ =
    0.15 R (range_um, Kanaya–Okayama)."""
    gy, gx = np.gradient(h.astype(np.float32), px)
    cos_t = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    expo = 9.0 / np.sqrt(np.maximum(z_bar, 1.0))
    tilt = np.minimum(eta0 * (2.0 / (1.0 + cos_t)) ** expo, 0.95)
    sig = (tilt * cos_t).astype(np.float32)
    f, k = BSE_HALO
    return ((1.0 - f) * sig + f * blur_px(sig, k * range_um / px)).astype(np.float32)


def bse_maps(h: np.ndarray, cover: np.ndarray, z_mat: np.ndarray, rho_mat: np.ndarray,
             s: Setup, kv: float) -> tuple[np.ndarray, np.ndarray, float]:
    """η at normal incidence per pixel (material under its coat, the carbon tab between
    objects, mixed by coverage as Castaing's rule mixes η by mass), the Z̄ map and the
    electron range (µm) in the field's bulk."""
    z_obj = np.where(cover > 0, z_mat, CARBON_TAB_Z)
    film = next((d for d in s.stain.dyes if d.mean_atomic_number), None)
    if s.stain.type == "coating" and film is not None:
        z_f, rho_f = float(film.mean_atomic_number or 0.0), float(film.electron_density or 1.0)
        t = COATING_NM / 1000.0
        e_obj = film_eta(z_obj, z_f, rho_f, t, kv)
        e_tab = film_eta(CARBON_TAB_Z, z_f, rho_f, t, kv)
    else:
        e_obj, e_tab = eta(z_obj), eta(CARBON_TAB_Z)
    eta0 = (cover * e_obj + (1.0 - cover) * e_tab).astype(np.float32)
    z_bar = (cover * z_obj + (1.0 - cover) * CARBON_TAB_Z).astype(np.float32)
    # one range for the field: its mean material (the halo is a single FFT blur)
    c = float(cover.mean())
    zm = c * float((z_obj * cover).sum() / max(cover.sum(), 1e-6)) + (1 - c) * CARBON_TAB_Z
    rm = c * float((np.where(cover > 0, rho_mat, CARBON_TAB_DENSITY) * cover).sum()
                   / max(cover.sum(), 1e-6)) + (1 - c) * CARBON_TAB_DENSITY
    return eta0, z_bar, ko_range_um(kv, float(atomic_weight(zm)), zm, max(rm, 0.1))


def _shadow(h: np.ndarray, px: float, elevation_deg: float) -> np.ndarray:
    """How far (µm) the relief between each pixel and the detector rises above the
    detector's line of sight (0 = in view). The detector lies towards the top of the image:
    along each column the horizon is a running maximum of h + s·tan(elevation), with s the
    distance from the top edge."""
    tan_el = math.tan(math.radians(elevation_deg))
    ramp = (np.arange(h.shape[0], dtype=np.float32) * np.float32(px * tan_el))[:, None]
    lifted = h + ramp
    horizon = np.maximum.accumulate(lifted, axis=0)
    return np.maximum(horizon - lifted, 0.0)


def topography(h: np.ndarray, material: np.ndarray, px: float, kv: float,
               detector: str, wd_mm: float = WD_REF_MM) -> np.ndarray:
    """SE signal of a surface before the probe blur (float32 (H, W)); see the module
    docstring. Pure: tests feed it a known step. The ET collector's elevation follows the
    working distance (et_elevation_deg)."""
    h = h.astype(np.float32, copy=False)  # float32 throughout (µm heights)
    gy, gx = np.gradient(h, px)
    sec_t = np.sqrt(1.0 + gx * gx + gy * gy)  # sec θ of the local tilt
    sec = np.minimum(sec_t, MAX_SEC)
    sigma_um = max(EDGE_FRACTION * ko_range_um(kv), 0.5 * px)
    smooth = blur_px(h, sigma_um / px)
    edge = np.clip((h - smooth) / sigma_um, 0.0, 1.5)
    hollow = np.clip((smooth - h) / sigma_um, 0.0, 1.0)  # SEs from pits hit the walls
    sig = material * sec * (1.0 + 0.9 * edge) * (1.0 - 0.6 * hollow)
    if detector == "in-lens":
        return sig.astype(np.float32)
    dx, dy = DETECTOR_AZIMUTH
    el_deg = et_elevation_deg(wd_mm) if detector == "everhart-thornley" else \
        DETECTOR_ELEVATION_DEG
    el = math.radians(el_deg)
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm * math.cos(el), dy / norm * math.cos(el)
    facing = (-gx * ux - gy * uy + math.sin(el)) / sec_t
    if detector == "gaseous":
        return (sig * (0.85 + 0.15 * np.clip(facing, 0.0, 1.0) / math.sin(el))).astype(
            np.float32)
    depth = _shadow(h, px, el_deg)
    # the detector's face is large (a penumbra), not a point: soften the shadow's edge
    depth = blur_px(depth, max(PENUMBRA_UM / px, 0.5))
    seen = np.exp(-depth / (SHADOW_SOFT_UM + 2 * px))
    collect = SHADOW_FILL + (1 - SHADOW_FILL) * seen * np.clip(0.35 + facing, 0.0, 1.2)
    return (sig * collect).astype(np.float32)


def charging(cover: np.ndarray, px: float) -> np.ndarray:
    """Charge stored on an uncoated insulator (0–~1.5) scanned line by line left to right:
    it builds over each insulating object, spreads over large ones, and trails along the
    scan line after it while it drains into the mount."""
    a = math.exp(-px / CHARGE_DECAY_UM)
    trail = sps.lfilter([1 - a], [1, -a], cover.astype(np.float64), axis=1)
    bulk = blur_px(cover.astype(np.float64), max(20.0 / px, 0.5))
    return (0.6 * trail + 0.9 * bulk * cover).astype(np.float32)


def operator_contrast(sig: np.ndarray) -> np.ndarray:
    """The operator's contrast setting: the amplifier's soft knee at twice the typical
    signal puts rims, spines and charging into saturation so that faces fill the
    mid-tones, as SEM micrographs are recorded."""
    knee = 2.0 * float(np.median(sig[::3, ::3])) if sig.size else 1.0  # every 9th pixel
    knee = max(knee, 1e-6)
    return (knee * (1.0 - np.exp(-sig / knee))).astype(np.float32)


def _maps(scene: Scene, s: Setup, coef: Coefficients) -> tuple[np.ndarray, np.ndarray, float]:
    """Focus-independent part, kept on the cached scene: the SE signal, the height map and
    the height the microscope autofocuses on (the upper surface's 90th percentile)."""
    kv = s.inst.light.accelerating_voltage_kv or 15.0
    det = detector_kind(s)
    key = ("sem", s.req.stain, s.specimen.id, kv, det, s.req.wd_mm)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    h, yld, cover, z_mat, rho_mat = surface(scene, coef)
    coated = s.stain.type == "coating"
    gaseous = "gaseous" in (s.camera.name if s.camera else "").lower()
    if det == "backscatter":
        eta0, z_bar, r_um = bse_maps(h, cover, z_mat, rho_mat, s, kv)
        sig = backscatter(h, z_bar, eta0, s.px_um, r_um)
        charge = BSE_CHARGING
    else:
        if coated:  # the sputtered metal covers objects and mount alike
            material = np.full_like(h, COATING_SE_YIELD)
        else:
            material = yld + (1.0 - cover) * SUBSTRATE_SE_YIELD
        sig = topography(h, material, s.px_um, kv, det, s.req.wd_mm)
        charge = 1.0
    sig *= np.float32(collection(det, s.req.wd_mm))
    if not coated and not gaseous:
        sig *= 1.0 + 2.5 * charge * charging(cover, s.px_um)
    z_ref = float(np.percentile(h[::3, ::3], 90)) if h.size else 0.0  # every 9th pixel
    out = (operator_contrast(sig), h, z_ref)
    scene.derived[key] = out
    return out


def sem(scene: Scene, s: Setup, coef: Coefficients) -> Signal:
    """Secondary-electron image (relative yield, float32 (1, H, W)): the focused probe
    (resolution_nm) and defocus blur 2α|h − z_focus|, where the focus is set on the upper
    surface and moved by focus_um. Depth of field: the surface is imaged at the focal
    plane and at 1, 3 and 9 depths of field (blur of one pixel) either side of it, and the
    planes are blended by height."""
    sig, h, z_ref = _maps(scene, s, coef)
    probe = (s.obj.resolution_nm or 3.0) / 1000.0
    z_f = z_ref + s.focus_um
    lo, hi = float(h.min()), float(h.max())
    alpha = convergence(s)
    dof = s.px_um / (2 * max(alpha, 1e-6))
    zs = slab_heights(lo, hi, z_f, dof)
    out = np.zeros_like(sig)
    F: np.ndarray | None = None
    for i, z in enumerate(zs):
        fwhm = math.hypot(probe, 2 * alpha * abs(float(z) - z_f))
        steps = round(fwhm / (0.25 * s.px_um))  # blur quantized to a quarter pixel
        if steps <= 2:
            img = sig
        else:
            if F is None:
                F = _spectrum(scene, s, coef, sig)
            img = _blur(F, s, steps * 0.25 * s.px_um)
        if len(zs) == 1:
            out = img.copy()
        else:
            out += img * hat(h, zs, i)
    channel = "BSE" if s.req.detector == "bse" else "SE"
    return Signal(np.clip(out, 0.0, None)[None], (channel,), GREY, "electron", s.wavelength_nm)


def _spectrum(scene: Scene, s: Setup, coef: Coefficients, sig: np.ndarray) -> np.ndarray:
    kv = s.inst.light.accelerating_voltage_kv or 15.0
    key = ("sem-spectrum", s.req.stain, s.specimen.id, kv, detector_kind(s), s.req.wd_mm)
    hit = scene.derived.get(key)
    if hit is None:
        hit = rfft2(sig[None].astype(np.float32)).astype(np.complex64)
        scene.derived[key] = hit
    return hit  # type: ignore[return-value]


def _blur(F: np.ndarray, s: Setup, fwhm_um: float) -> np.ndarray:
    """One plane of the spectrum F (1, H, W//2+1) blurred by a Gaussian probe, as an image."""
    G = F[0] * gaussian_otf(*s.shape, s.px_um, round(fwhm_um, 6))
    return sfft.irfft2(G, s=s.shape, workers=1).astype(np.float32, copy=False)


DETECTOR_NAMES = {
    "everhart-thornley": "Everhart–Thornley (secondary electrons)",
    "in-lens": "in-lens (secondary electrons)",
    "gaseous": "gaseous (secondary electrons)",
    "backscatter": "annular solid-state (backscattered electrons)",
}


def sem_info(s: Setup) -> dict[str, object]:
    """The SEM's figures for the info panel: detector, working distance, convergence
    semi-angle, the detector's collection relative to WD_REF_MM, and the Kanaya–Okayama
    range of the beam in dried organic matter (what sets the edge glow and the BSE halo)."""
    kv = s.inst.light.accelerating_voltage_kv or 15.0
    det = detector_kind(s)
    return {
        "detector": DETECTOR_NAMES[det],
        "beam_kv": kv,
        "working_distance_mm": s.req.wd_mm,
        "convergence_mrad": round(convergence(s) * 1000.0, 4),
        "collection_relative": round(collection(det, s.req.wd_mm), 4),
        "electron_range_um": round(ko_range_um(kv), 3),
    }

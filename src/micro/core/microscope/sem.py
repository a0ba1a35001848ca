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
convergence semi-angle: the SEM's famous depth of field.
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


def detector_kind(s: Setup) -> str:
    """everhart-thornley | in-lens | gaseous, from the instrument's detector."""
    name = (s.camera.name if s.camera else "").lower()
    if "in-lens" in name:
        return "in-lens"
    if "gaseous" in name:
        return "gaseous"
    return "everhart-thornley"


def surface(scene: Scene, coef: Coefficients) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height (µm), summed SE yield of the material and its coverage (0–1), float32 (H, W)."""
    h = np.zeros(scene.layers[0].shape, dtype=np.float32)
    y = np.zeros_like(h)
    w = np.zeros_like(h)
    for layer in scene.layers:
        q = layer_quantities(layer, coef, ("height", "se"))
        h += q[0]
        y += q[1]
        for c, a in layer.amounts.items():
            if c != "relief":
                w += a
    return h, y, np.clip(w, 0.0, 1.0)


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
               detector: str) -> np.ndarray:
    """SE signal of a surface before the probe blur (float32 (H, W)); see the module
    docstring. Pure: tests feed it a known step."""
    gy, gx = np.gradient(h.astype(np.float64), px)
    sec = np.minimum(np.sqrt(1.0 + gx * gx + gy * gy), MAX_SEC)
    sigma_um = max(EDGE_FRACTION * ko_range_um(kv), 0.5 * px)
    smooth = blur_px(h.astype(np.float64), sigma_um / px)
    edge = np.clip((h - smooth) / sigma_um, 0.0, 1.5)
    hollow = np.clip((smooth - h) / sigma_um, 0.0, 1.0)  # SEs from pits hit the walls
    sig = material * sec * (1.0 + 0.9 * edge) * (1.0 - 0.6 * hollow)
    if detector == "in-lens":
        return sig.astype(np.float32)
    dx, dy = DETECTOR_AZIMUTH
    el = math.radians(DETECTOR_ELEVATION_DEG)
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm * math.cos(el), dy / norm * math.cos(el)
    facing = (-gx * ux - gy * uy + math.sin(el)) / np.sqrt(1.0 + gx * gx + gy * gy)
    if detector == "gaseous":
        return (sig * (0.85 + 0.15 * np.clip(facing, 0.0, 1.0) / math.sin(el))).astype(
            np.float32)
    depth = _shadow(h.astype(np.float32), px, DETECTOR_ELEVATION_DEG)
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
    knee = 2.0 * float(np.median(sig)) if sig.size else 1.0
    knee = max(knee, 1e-6)
    return (knee * (1.0 - np.exp(-sig / knee))).astype(np.float32)


def _maps(scene: Scene, s: Setup, coef: Coefficients) -> tuple[np.ndarray, np.ndarray, float]:
    """Focus-independent part, kept on the cached scene: the SE signal, the height map and
    the height the microscope autofocuses on (the upper surface's 90th percentile)."""
    kv = s.inst.light.accelerating_voltage_kv or 15.0
    det = detector_kind(s)
    key = ("sem", s.req.stain, s.specimen.id, kv, det)
    hit = scene.derived.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    h, yld, cover = surface(scene, coef)
    coated = s.stain.type == "coating"
    if coated:  # the sputtered metal covers objects and mount alike
        material = np.full_like(h, COATING_SE_YIELD)
    else:
        material = yld + (1.0 - cover) * SUBSTRATE_SE_YIELD
    sig = topography(h, material, s.px_um, kv, det)
    if not coated and det != "gaseous":
        sig *= 1.0 + 2.5 * charging(cover, s.px_um)
    z_ref = float(np.percentile(h, 90)) if h.size else 0.0
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
    dof = s.px_um / (2 * max(s.na, 1e-6))
    zs = slab_heights(lo, hi, z_f, dof)
    out = np.zeros_like(sig)
    F: np.ndarray | None = None
    for i, z in enumerate(zs):
        fwhm = math.hypot(probe, 2 * s.na * abs(float(z) - z_f))
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
    return Signal(np.clip(out, 0.0, None)[None], ("SE",), GREY, "electron", s.wavelength_nm)


def _spectrum(scene: Scene, s: Setup, coef: Coefficients, sig: np.ndarray) -> np.ndarray:
    kv = s.inst.light.accelerating_voltage_kv or 15.0
    key = ("sem-spectrum", s.req.stain, s.specimen.id, kv, detector_kind(s))
    hit = scene.derived.get(key)
    if hit is None:
        hit = rfft2(sig[None].astype(np.float32)).astype(np.complex64)
        scene.derived[key] = hit
    return hit  # type: ignore[return-value]


def _blur(F: np.ndarray, s: Setup, fwhm_um: float) -> np.ndarray:
    """One plane of the spectrum F (1, H, W//2+1) blurred by a Gaussian probe, as an image."""
    G = F[0] * gaussian_otf(*s.shape, s.px_um, round(fwhm_um, 6))
    return sfft.irfft2(G, s=s.shape, workers=1).astype(np.float32, copy=False)

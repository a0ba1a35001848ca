"""B-mode ultrasound: speckle from scatterers, PSF from frequency and aperture, attenuation,
TGC, envelope, log compression and scan conversion.

Work is done in the beam domain (depth × scan lines) in complex baseband (IQ):
  scatterers  complex Gaussian per sample × backscatter amplitude × √(scatterer density):
              fully developed speckle, so the envelope is Rayleigh (mean/std = 1.91)
  specular    echoes ∝ the reflection coefficient R = (Z2 − Z1)/(Z2 + Z1) between samples
  losses      round trip e^{−2αfz} (α in dB/cm/MHz, each tissue its own: fluid ≈ 0, so the
              soft-tissue TGC over-compensates behind it) and Π(1 − R²) through every
              interface (each interpolated impedance ramp one interface), per ray, then
              averaged across each line's beam profile at each depth: shadows as wide as
              the stone (or, for a stone narrower than the beam, as wide as the beam and
              fainter) behind calcification and bone, enhancement behind fluid
  reverberation  copies of the first strong interface echo at 2× and 3× its depth
  PSF         axial Gaussian, FWHM = spatial pulse length / 2 = λ (two-cycle pulse);
              lateral Gaussian, FWHM = √((λ·max(z/A, 1))² + (0.1·A·(1 − z/z_f))²), A the
              active sub-aperture that forms a line (not the whole array): dynamic receive
              focusing (F/1 minimum) with a fixed transmit focus, λ·F# at the focus
              (F# = z_f/A); both unit-energy, so speckle brightness does not depend on the
              beam width
  TGC         gain e^{+2·tgc·0.5 dB/cm/MHz·f·z} (tgc = 1 compensates soft tissue)
Probes: linear (parallel lines across the aperture), curvilinear (lines radiating from the
centre of curvature) and phased (a sector from the skin). Scan conversion is nearest-sample so
the raw envelope keeps its statistics. c = 1540 m/s for the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from micro.core.imaging.phantom import Additive, Section, additive, fractions
from micro.core.memory import memoized
from micro.core.models import ImagingInstrument, Phantom, UltrasoundSpec

C_MM_US = 1.54  # mm per µs
SOFT_TISSUE_DB_CM_MHZ = 0.5
SPECULAR_GAIN = 6.0
CURVILINEAR_RADIUS_MM = 50.0
REVERB_THRESHOLD = 0.25
RASTER = 512  # phantom raster used to sample tissue properties
F_NUMBER_MIN = 1.0  # dynamic receive aperture grows with depth down to F/1
TX_DEFOCUS = 0.1
"""Widening of the two-way beam away from the transmit focus, × active aperture × |1 − z/z_f|:
a quarter of a Gaussian beam's one-way divergence (waist λF#: |Δz|/(2.3 F#) = 0.44 A|Δz|/z_f),
because the dynamically focused receive beam narrows the two-way product (3 mm at the skin
for the convex probe's 30 mm sub-aperture)."""


@dataclass(frozen=True)
class Geometry:
    probe: str
    width_mm: float  # linear: aperture; sector probes: sector angle in degrees
    radius_mm: float
    depth_mm: float
    x0_mm: float
    y_skin_mm: float
    n: int

    @property
    def frame(self) -> tuple[float, float, float]:
        """(x of column 0 centre, y of row 0 centre, pixel mm) of the square output frame."""
        if self.probe == "linear":
            side = max(self.width_mm, self.depth_mm)
            px = side / self.n
            return (self.x0_mm - side / 2 + px / 2, self.y_skin_mm - px / 2, px)
        half = np.deg2rad(self.width_mm) / 2
        r1 = self.radius_mm + self.depth_mm
        top = self.y_skin_mm + self.radius_mm - self.radius_mm * np.cos(half)
        side = max(2 * r1 * np.sin(half), r1 - self.radius_mm * np.cos(half))
        px = side / self.n
        return (self.x0_mm - side / 2 + px / 2, float(top) - px / 2, px)


def _skin(add: Additive | Section) -> tuple[float, float]:
    """Probe position: the top (anterior surface) of the body above x = the phantom's
    acoustic window (the midline for test objects; over the liver for the abdomen)."""
    frac = fractions(add, RASTER)
    px = add.fov_mm / RASTER
    x0 = float(getattr(add, "probe_x_mm", 0.0))
    j = int(np.clip(round(x0 / px + RASTER / 2 - 0.5), 0, RASTER - 1))
    col = frac[add.background][:, j]
    i = int(np.argmax(col < 0.5))
    return x0, add.fov_mm / 2 - i * px


def geometry(add: Additive | Section, spec: UltrasoundSpec, depth_cm: float, n: int) -> Geometry:
    x0, y = _skin(add)
    if spec.probe == "linear":
        return Geometry("linear", spec.aperture_mm, 0.0, depth_cm * 10, x0, y, n)
    radius = CURVILINEAR_RADIUS_MM if spec.probe == "curvilinear" else 0.0
    return Geometry(spec.probe, spec.sector_deg or 60.0, radius, depth_cm * 10, x0, y, n)


@memoized("imaging.ultrasound.beam_grid")
def _beam_grid(g: Geometry) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Phantom coordinates (mm) of every beam sample, (depth, lines); depth step (mm); and the
    lateral sample spacing (mm) per depth."""
    nz = g.n
    z = (np.arange(nz) + 0.5) * g.depth_mm / nz
    if g.probe == "linear":
        nl = g.n
        u = (np.arange(nl) + 0.5 - nl / 2) * g.width_mm / nl
        x = g.x0_mm + np.broadcast_to(u[None, :], (nz, nl))
        y = g.y_skin_mm - np.broadcast_to(z[:, None], (nz, nl))
        return x, y, g.depth_mm / nz, np.full(nz, g.width_mm / nl)
    nl = g.n
    half = np.deg2rad(g.width_mm) / 2
    th = (np.arange(nl) + 0.5 - nl / 2) * (2 * half / nl)
    r = g.radius_mm + z
    x = g.x0_mm + r[:, None] * np.sin(th)[None, :]
    y = g.y_skin_mm + g.radius_mm - r[:, None] * np.cos(th)[None, :]
    return x, y, g.depth_mm / nz, r * (2 * half / nl)


def _sample(img: np.ndarray, fov: float, x: np.ndarray, y: np.ndarray, order: int = 1
            ) -> np.ndarray:
    n = img.shape[-1]
    col = x / (fov / n) + n / 2 - 0.5
    row = n / 2 - y / (fov / n) - 0.5
    return ndimage.map_coordinates(img, [row, col], order=order, mode="nearest")


@memoized("imaging.ultrasound.properties")
def _properties(add: Additive, g: Geometry, props: tuple[tuple[float, ...], ...]
                ) -> tuple[np.ndarray, ...]:
    """Impedance, attenuation (dB/cm/MHz), amplitude (backscatter·√density) in the beam grid."""
    frac = fractions(add, RASTER)
    x, y, _, _ = _beam_grid(g)
    out = []
    for values in props:
        m = np.tensordot(np.asarray(values, dtype=np.float32), frac, axes=1)
        out.append(_sample(m, add.fov_mm, x, y).astype(np.float32))
    return tuple(out)


@memoized("imaging.ultrasound.scan_index")
def _scan_index(g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel: flat beam-sample index (or −1 outside the image)."""
    x0, y0, px = g.frame
    j, i = np.meshgrid(np.arange(g.n), np.arange(g.n))
    x = x0 + j * px
    y = y0 - i * px
    if g.probe == "linear":
        col = np.floor((x - g.x0_mm + g.width_mm / 2) / (g.width_mm / g.n)).astype(int)
        row = np.floor((g.y_skin_mm - y) / (g.depth_mm / g.n)).astype(int)
    else:
        half = np.deg2rad(g.width_mm) / 2
        dx, dy = x - g.x0_mm, (g.y_skin_mm + g.radius_mm) - y
        r = np.hypot(dx, dy)
        th = np.arctan2(dx, dy)
        row = np.floor((r - g.radius_mm) / (g.depth_mm / g.n)).astype(int)
        col = np.floor((th + half) / (2 * half / g.n)).astype(int)
    ok = (row >= 0) & (row < g.n) & (col >= 0) & (col < g.n)
    return np.where(ok, row * g.n + col, -1), ok


def frame_fractions(add: Additive, g: Geometry) -> np.ndarray:
    """Tissue fractions at the output pixels (tissues, n, n), for masks and measurements."""
    x0, y0, px = g.frame
    j, i = np.meshgrid(np.arange(g.n), np.arange(g.n))
    frac = fractions(add, RASTER)
    return np.stack([_sample(f, add.fov_mm, x0 + j * px, y0 - i * px, order=0) for f in frac])


@memoized("imaging.ultrasound.interfaces")
def _interfaces(add: Additive, g: Geometry, props: tuple[tuple[float, ...], ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Reflection coefficient R = (Z2 − Z1)/(Z2 + Z1) between successive samples of each line
    and the round-trip interface transmission above each sample (depend on the scene only)."""
    z_imp = _properties(add, g, props)[0]
    refl = np.zeros_like(z_imp)
    refl[1:] = (z_imp[1:] - z_imp[:-1]) / np.maximum(z_imp[1:] + z_imp[:-1], 1e-6)
    return refl, _interface_transmission(z_imp)


def _interface_transmission(z_imp: np.ndarray) -> np.ndarray:
    """Round-trip amplitude transmission Π(1 − R²) through the interfaces above each sample.

    The phantom is sampled with interpolation, so a sharp interface arrives as a ramp over a
    few samples, and Π(1 − R_i²) over the ramp's small steps loses far less than the single
    step it stands for (liver → calcification: 1 − R² = 0.62; over three samples
    Π ≈ 0.87). Each monotonic run of impedance is therefore one interface with
    R = tanh(ln(Z2/Z1)/2) = (Z2 − Z1)/(Z2 + Z1) over the whole run, whatever the sampling;
    the loss is spent along the run as it accrues, so the transmission never rises."""
    lz = np.log(np.maximum(z_imp, 1e-3).astype(np.float64))
    d = np.zeros_like(lz)
    d[1:] = lz[1:] - lz[:-1]
    sgn = np.sign(d)
    start = np.ones(d.shape, dtype=bool)
    start[1:] = sgn[1:] != sgn[:-1]
    rows = np.arange(d.shape[0])[:, None]
    first = np.maximum.accumulate(np.where(start, rows, 0), axis=0)
    cum = np.cumsum(d, axis=0)
    run = cum - np.take_along_axis(cum - d, first, axis=0)  # ln(Z/Z at the run's start)
    log_t = -2 * np.log(np.cosh(run / 2))  # ln(1 − tanh²) of the run so far
    inc = log_t.copy()
    inc[1:] -= np.where(start[1:], 0.0, log_t[:-1])
    return np.exp(np.cumsum(inc, axis=0)).astype(np.float32)


def _beam_average(loss: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Round-trip transmission of each line's beam, not of its central ray: the ray losses
    (depth, lines) averaged across the beam's intensity profile at each depth (a Gaussian
    as wide (FWHM) as the two-way amplitude PSF, σ in lines per depth, summing to 1). A
    stone wider than the beam blocks the lines across its whole width (a line on its edge
    keeps half its energy each way: amplitude 0.5, the half level of the shadow); one
    narrower than the beam dims every line whose beam it sits in, by the fraction of the
    beam it covers: a fainter shadow as wide as the beam at that depth, widening past the
    focus. Edges are padded by reflection (the beam does not wrap round the sector)."""
    nz, nl = loss.shape
    pad = min(int(np.ceil(3 * float(np.max(sigma)))) + 1, nl)
    ext = np.pad(loss.astype(np.float32), ((0, 0), (pad, pad)), mode="reflect")
    m = nl + 2 * pad
    f = np.fft.rfftfreq(m).astype(np.float32)[None, :]
    s = np.asarray(sigma, dtype=np.float32)[:, None]
    h = np.exp(np.float32(-2 * np.pi ** 2) * s ** 2 * f ** 2)
    out = sfft.irfft(sfft.rfft(ext, axis=1, workers=1) * h, m, axis=1, workers=1)
    return np.maximum(out[:, pad:pad + nl], 0.0).astype(np.float32)


def _unit_energy_gauss(sigma: np.ndarray, n: int) -> np.ndarray:
    """Frequency response of unit-energy Gaussians (σ in samples, per row) on an n-point FFT."""
    f = np.fft.fftfreq(n)[None, :]
    s = np.maximum(np.asarray(sigma, dtype=np.float64), 0.3)[:, None]
    return (np.exp(-2 * np.pi ** 2 * s ** 2 * f ** 2) * np.sqrt(2 * np.sqrt(np.pi) * s)).astype(
        np.float32)


def _burn_marks(display: np.ndarray, g: Geometry, focus_cm: float) -> None:
    """Burn the scanner's overlay into the display (not the raw envelope): depth marks down
    the right edge every centimetre (longer every 5 cm) and the transmit-focus marker (a
    small triangle pointing at the focal depth) at the left edge."""
    x0, y0, px = g.frame
    n = display.shape[0]
    top = (y0 - g.y_skin_mm) / px  # row of the skin on the central line
    tick = max(n // 128, 1)
    for cm in range(0, int(g.depth_mm // 10) + 1):
        row = round(float(top) + cm * 10 / px)
        if 0 <= row < n:
            length = 6 * tick if cm % 5 == 0 else 3 * tick
            display[max(row - tick // 2, 0):row + tick // 2 + 1, n - length - tick:n - tick] = 1.0
    row = round(float(top) + focus_cm * 10 / px)
    for k in range(4 * tick):
        r0, r1 = row - (4 * tick - k) // 2, row + (4 * tick - k) // 2 + 1
        if 0 <= r0 and r1 <= n:
            display[r0:r1, tick + k] = 1.0


def render_ultrasound(settings: dict[str, Any], phantom: Phantom, variant: str,
                      inst: ImagingInstrument, n: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    spec = inst.spec
    assert isinstance(spec, UltrasoundSpec)
    add = additive(phantom, variant)
    f_mhz = float(settings["frequency_mhz"])
    depth_cm, focus_cm = float(settings["depth_cm"]), float(settings["focus_cm"])
    gain_db, dr_db, tgc = float(settings["gain_db"]), float(settings["dynamic_range_db"]), \
        float(settings["tgc"])
    g = geometry(add, spec, depth_cm, n)
    ts = phantom.tissues
    bg = add.background  # outside the body the probe is coupled by gel (water-like, anechoic)
    props = (tuple(1480.0 if i == bg else t.density_g_cm3 * t.speed_of_sound_m_s
                   for i, t in enumerate(ts)),
             tuple(0.0 if i == bg else t.attenuation_db_cm_mhz for i, t in enumerate(ts)),
             tuple(0.0 if i == bg else t.backscatter * np.sqrt(t.scatterer_density)
                   for i, t in enumerate(ts)))
    z_imp, alpha, amp = _properties(add, g, props)
    _, _, dz, lateral_step = _beam_grid(g)
    nz, nl = z_imp.shape
    depth = (np.arange(nz) + 0.5) * dz  # mm

    # reflections and round-trip losses
    refl, trans = _interfaces(add, g, props)
    att_db = 2 * f_mhz * np.cumsum(alpha, axis=0) * (dz / 10.0)
    loss = trans * 10 ** (-att_db / 20)

    scat = (rng.standard_normal((nz, nl), dtype=np.float32)
            + 1j * rng.standard_normal((nz, nl), dtype=np.float32)) * (amp / np.sqrt(2))
    echo = scat + SPECULAR_GAIN * refl
    # reverberation between the probe and the first strong interface of each line
    strong = np.abs(refl) > REVERB_THRESHOLD
    first = np.where(strong.any(axis=0), np.argmax(strong, axis=0), -1)
    cols = np.nonzero(first > 0)[0]
    for k in (2, 3):
        rows = first[cols] * k
        keep = rows < nz
        r0 = refl[first[cols[keep]], cols[keep]]
        echo[rows[keep], cols[keep]] += SPECULAR_GAIN * r0 * np.abs(r0) ** (k - 1) * 0.5

    lam = C_MM_US / f_mhz  # mm
    sigma_ax = lam / 2.355 / dz
    d_ap = spec.active_aperture_mm
    zf = focus_cm * 10
    fwhm_lat = np.sqrt((lam * np.maximum(depth / d_ap, F_NUMBER_MIN)) ** 2
                       + (TX_DEFOCUS * d_ap * (1 - depth / zf)) ** 2)
    sigma_lat = fwhm_lat / 2.355 / lateral_step
    spec_l = sfft.fft(echo, axis=1, workers=1) * _unit_energy_gauss(sigma_lat, nl)
    iq = sfft.ifft(spec_l, axis=1, workers=1) * _beam_average(loss, sigma_lat)
    h_ax = _unit_energy_gauss(np.array([sigma_ax]), nz)[0][:, None]
    iq = sfft.ifft(sfft.fft(iq, axis=0, workers=1) * h_ax, axis=0, workers=1)
    envelope = np.abs(iq).astype(np.float32)
    tgc_gain = 10 ** ((2 * tgc * SOFT_TISSUE_DB_CM_MHZ * f_mhz * depth / 10.0 + gain_db) / 20)
    envelope *= tgc_gain[:, None].astype(np.float32)

    idx, ok = _scan_index(g)
    raw = np.where(ok, envelope.ravel()[np.maximum(idx, 0)], 0.0).astype(np.float32)
    ref_db = 20 * np.log10(np.sqrt(np.pi) / 2) + 12.0  # b = 1 speckle sits 12 dB below the top
    db = 20 * np.log10(np.maximum(raw, 1e-6)) - ref_db
    display = np.where(ok, np.clip((db + dr_db) / dr_db, 0, 1), 0).astype(np.float32)
    _burn_marks(display, g, focus_cm)

    x0, y0, px = g.frame
    f_number = zf / d_ap
    info: dict[str, Any] = {
        "probe": spec.probe, "frequency_mhz": f_mhz, "wavelength_mm": round(lam, 3),
        "depth_cm": depth_cm, "focus_cm": focus_cm, "gain_db": gain_db,
        "dynamic_range_db": dr_db, "tgc": tgc, "aperture_mm": spec.aperture_mm,
        "active_aperture_mm": round(d_ap, 2),
        "f_number": round(f_number, 2),
        "axial_resolution_mm": round(lam, 3),
        "lateral_resolution_mm_at_focus": round(lam * max(f_number, F_NUMBER_MIN), 3),
        "penetration_cm": round(60.0 / (2 * SOFT_TISSUE_DB_CM_MHZ * f_mhz), 1),
        "frame_rate_hz": round(1e6 / (nl * 2 * g.depth_mm / C_MM_US), 1),
        "pixel_mm": round(px, 3),
        "frame": {"x0_mm": round(x0, 4), "y0_mm": round(y0, 4), "pixel_mm": round(px, 6)},
        "raw_unit": "linear envelope (after gain and TGC, before log compression)",
        "tissue_echo_db": {t.id: round(20 * np.log10(t.backscatter), 1)
                           for t in ts if t.backscatter > 0},
    }
    return display, raw, info

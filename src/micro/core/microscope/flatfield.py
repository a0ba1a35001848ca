"""Stage 3b — the flat field: what an empty slide sends to each detector pixel, per colour.

Three things real camera images show that the specimen does not cause:

- the lamp's colour. A halogen filament is a near-black body whose temperature follows the
  supply voltage, T ∝ V^0.42, while its light output follows Φ ∝ V^3.4 (tungsten lamp data),
  so T ∝ Φ^0.124: 3200 K at full power, ~3000 K at the default 60 %, ~2400 K at 10 % — dimming
  warms the light. A white (phosphor) LED keeps its colour when dimmed. Each camera channel
  collects the lamp's photon spectrum through its own spectral sensitivity;
- the camera's white balance, set once for the lamp at its default level (as a user clicks
  "white balance" on the empty slide), so the default view is neutral and a dimmed halogen
  lamp turns the image warm;
- vignetting (the relay optics pass less light towards the corners: cos⁴ fall-off, ~8 % at
  the corners) and dust on the sensor's cover glass, whose soft shadows are fixed in the
  sensor frame: they do not move with the stage and do not change with focus.

All are multiplicative on the light (before the photons are counted, so the noise stays
Poisson)."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from micro.core.memory import memoized
from micro.core.microscope.contrast import Signal
from micro.core.microscope.optics import RGB_NM
from micro.core.microscope.setup import Setup
from micro.core.models import LightSource

HALOGEN_T_EXPONENT = 0.42 / 3.4
"""T ∝ V^0.42 and Φ ∝ V^3.4 for a tungsten filament → T ∝ Φ^0.124."""
DEFAULT_LEVEL = 0.6
"""Lamp level the camera's white balance is set at (the request's default light, 60 %)."""
CHANNEL_FWHM_NM = 90.0
"""Spectral width of each camera colour channel (Bayer dyes: ~80–100 nm)."""
CORNER_FALLOFF = 0.08
"""Relative loss of light in the image corners (camera relay vignetting)."""
SENSOR_DUST_SPECKS = 5
COVER_GLASS_MM = 2.0
"""Distance from the camera's front window (cover glass and IR-cut filter, where dust sits)
to the pixels."""

_H, _C, _K = 6.62607015e-34, 2.99792458e8, 1.380649e-23
_NM = np.arange(380.0, 731.0, 5.0)


def color_temperature_k(light: LightSource, level: float) -> float | None:
    """The lamp's colour temperature at this level (0..1); None for a lamp without one."""
    if light.color_temperature_k is None:
        return None
    if light.type in ("halogen", "tungsten-filament", "xenon-arc"):
        return light.color_temperature_k * max(level, 0.01) ** HALOGEN_T_EXPONENT
    return light.color_temperature_k


@memoized("microscope.flatfield.planck_weights")
def _planck_weights(t_k: float) -> tuple[float, float, float]:
    """Photon flux of a black body at t_k through each camera channel, G = 1."""
    lam = _NM * 1e-9
    photons = lam**-4 / np.expm1(_H * _C / (lam * _K * t_k))  # ∝ spectral photon radiance
    sens = np.exp(-4 * np.log(2) * ((_NM[None] - np.asarray(RGB_NM)[:, None])
                                    / CHANNEL_FWHM_NM) ** 2)
    w = sens @ photons
    return (float(w[0] / w[1]), 1.0, float(w[2] / w[1]))


def lamp_weights(light: LightSource, level: float) -> np.ndarray:
    """(3,) relative photon flux per colour channel (G = 1) of this lamp at this level."""
    t = color_temperature_k(light, level)
    if t is None:
        return np.ones(3, dtype=np.float32)
    return np.asarray(_planck_weights(round(t, 1)), dtype=np.float32)


def white_balance(light: LightSource) -> np.ndarray:
    """(3,) channel gains that make the empty slide neutral at the default lamp level; the
    largest channel keeps gain 1 (the one auto-exposure sets)."""
    w = lamp_weights(light, DEFAULT_LEVEL)
    return (w.max() / w).astype(np.float32)


def illuminate(values: np.ndarray, s: Setup) -> np.ndarray:
    """(3, H, W) transmitted signal (relative to the lamp) → relative light at the detector:
    × the lamp's channel flux; for the camera also × vignetting × sensor-dust shadows. The eye
    adapts to the lamp at its default level (von Kries), so there only the change from it
    remains."""
    w = lamp_weights(s.inst.light, s.light)
    if s.view != "camera":
        w = w / lamp_weights(s.inst.light, DEFAULT_LEVEL)
        return values * w[:, None, None]
    cam = s.camera
    sensor_w_um = cam.sensor_width_mm * 1000.0 if cam is not None else 6000.0
    field = _coloured_field(s.height, s.width, s.inst.id, sensor_w_um, _image_side_na(s),
                            tuple(float(x) for x in w))
    return np.multiply(values, field)


@memoized("microscope.flatfield.coloured_field")
def _coloured_field(h: int, w: int, camera_key: str, sensor_w_um: float, na_image: float,
                    weights: tuple[float, float, float]) -> np.ndarray:
    """(3, H, W) float32: the sensor field times the lamp's flux per channel (one pass per
    render instead of two)."""
    field = sensor_field(h, w, camera_key, sensor_w_um, na_image)
    out = field[None] * np.asarray(weights, dtype=np.float32)[:, None, None]
    out.flags.writeable = False
    return out


def lit(signal: Signal, s: Setup) -> Signal:
    """The signal as light at the detector: transmitted light gets the flat field (lamp
    colour, vignetting, sensor dust); emission, electrons and heights pass unchanged."""
    if signal.kind != "transmitted":
        return signal
    return Signal(illuminate(signal.values, s), signal.channels, signal.colors, signal.kind,
                  signal.wavelength_nm)


def _image_side_na(s: Setup) -> float:
    """Half-angle of the illumination cone at the sensor: the condenser's working NA over
    the magnification to the sensor (it sets how soft dust shadows are)."""
    na_ill = s.na_condenser if s.na_condenser > 0 else s.na
    return round(max(na_ill, 0.02) / s.mag_sensor, 5)


@memoized("microscope.flatfield.sensor_field")
def sensor_field(h: int, w: int, camera_key: str, sensor_w_um: float,
                 na_image: float) -> np.ndarray:
    """(H, W) float32 flat field of the camera: cos⁴ vignetting × the shadows of dust on the
    sensor's cover glass. Dust is seeded by the instrument, placed in sensor coordinates (the
    same pixels at every stage position, objective and focus), and its shadow is blurred by
    the illumination cone: a geometric blur radius of COVER_GLASS_MM · tan(asin(NA_image))."""
    yy = (np.arange(h, dtype=np.float64) + 0.5 - h / 2)[:, None]
    xx = (np.arange(w, dtype=np.float64) + 0.5 - w / 2)[None, :]
    r2 = (xx * xx + yy * yy) / ((w / 2) ** 2 + (h / 2) ** 2)  # 1 at the corners
    # cos⁴θ with tan²θ = a·r²: 1/(1 + a r²)² = 1 − CORNER_FALLOFF at the corners
    a = (1.0 - CORNER_FALLOFF) ** -0.5 - 1.0
    field = 1.0 / (1.0 + a * r2) ** 2
    rng = np.random.default_rng(int.from_bytes(
        hashlib.sha256(f"sensor-dust:{camera_key}".encode()).digest()[:8], "little"))
    u = rng.random((SENSOR_DUST_SPECKS, 4))
    px_um = sensor_w_um / w
    blur_um = COVER_GLASS_MM * 1000.0 * math.tan(math.asin(min(na_image, 0.5)))
    for cx, cy, su, ou in u:
        size_um = 20.0 + 60.0 * su  # dust grain on the window, 20–80 µm
        sigma = math.hypot(size_um / 2.5, blur_um / 2.0) / px_um
        sigma = max(sigma, 0.7)
        depth = (0.15 + 0.35 * ou) * (size_um / 2.5 / px_um / sigma) ** 2
        gx = np.exp(-0.5 * ((xx - (cx - 0.5) * w) / sigma) ** 2)
        gy = np.exp(-0.5 * ((yy - (cy - 0.5) * h) / sigma) ** 2)
        field *= 1.0 - depth * (gy * gx)
    return field.astype(np.float32)

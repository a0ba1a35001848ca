"""Parameter specs of the key space: bounds, steps, defaults and path tags.

The same specs are exported as JSON (`micro.core.rules.quantization_spec()`, with the request
rules) so the browser canonicalizes a request exactly as Python does. Numbers are
quantized on an integer grid and written from the integer, so Python and JavaScript produce the
same text without float formatting.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from micro.core.errors import InvalidRequest

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Number:
    name: str
    tag: str
    lo: float
    hi: float
    step: float
    default: float | None
    unit: str
    doc: str

    @property
    def decimals(self) -> int:
        text = f"{self.step:.6f}".rstrip("0")
        return len(text.split(".")[1]) if "." in text else 0

    def quantize(self, raw: Any) -> float | int:
        """Bound and quantize a value to this parameter's grid; errors name the field."""
        value = to_number(raw, self.name)
        # Strict: the bounds lie on the grid, so a value past one (even by an ulp, such as
        # 500.00000000000006) is out of range rather than rounded back onto the bound.
        if value < self.lo or value > self.hi:
            raise InvalidRequest(f"{fmt_plain(value)} is out of range", field=self.name,
                                 allowed=f"{fmt_plain(self.lo)} to {fmt_plain(self.hi)} "
                                         f"{self.unit}, step {fmt_plain(self.step)}".strip())
        k = math.floor(value / self.step + 0.5)
        return self.from_units(k)

    def units(self, value: float) -> int:
        return math.floor(value / self.step + 0.5)

    def from_units(self, k: int) -> float | int:
        scale = 10 ** self.decimals
        step_units = round(self.step * scale)
        if self.decimals == 0:
            return int(k * step_units)
        return (k * step_units) / scale

    def text(self, value: float) -> str:
        """Canonical text of a quantized value, built from its integer (JS does the same)."""
        scale = 10 ** self.decimals
        n = self.units(value) * round(self.step * scale)
        sign = "-" if n < 0 else ""
        n = abs(n)
        whole, frac = divmod(n, scale)
        if self.decimals == 0 or frac == 0:
            return f"{sign}{whole}" if (whole or frac) else "0"
        frac_text = str(frac).rjust(self.decimals, "0").rstrip("0")
        return f"{sign}{whole}.{frac_text}"

    def spec(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = "number"
        d["decimals"] = self.decimals
        return d


@dataclass(frozen=True)
class Choice:
    name: str
    tag: str
    choices: tuple[str, ...]
    default: str | None
    doc: str

    def check(self, raw: Any) -> str:
        if isinstance(raw, bool):
            raw = "on" if raw else "off"
        value = str(raw).strip().lower()
        if value not in self.choices:
            raise InvalidRequest(f"unknown value {str(raw)[:40]!r}", field=self.name,
                                 allowed=list(self.choices))
        return value

    def text(self, value: str) -> str:
        return value

    def spec(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = "choice"
        d["choices"] = list(self.choices)
        return d


Param = Number | Choice


def to_number(raw: Any, field: str) -> float:
    """A finite float from a number or a decimal string; anything else names the field."""
    if isinstance(raw, bool) or raw is None:
        raise InvalidRequest("must be a number", field=field, allowed="a finite number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > 32:
            raise InvalidRequest("must be a number", field=field, allowed="a finite number")
        try:
            value = float(text)
        except ValueError:
            raise InvalidRequest(f"{text[:32]!r} is not a number", field=field,
                                 allowed="a finite number") from None
    else:
        raise InvalidRequest("must be a number", field=field, allowed="a finite number")
    if not math.isfinite(value):
        raise InvalidRequest("must be finite", field=field, allowed="a finite number")
    return value


def fmt_plain(value: float) -> str:
    """A number as short text for messages and objective magnifications (no exponent
    below 1e15)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e15:  # 1e308 as "1e+308", not 309 digits in an error message
        return f"{value:.6g}"
    return f"{value:.4f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- microscope

FORMATS = ("jpg", "png", "webp", "npy")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "npy": "application/octet-stream"}

MICROSCOPE_PARAMS: tuple[Param, ...] = (
    Number("focus_um", "z", -2000, 2000, 0.05, 0.0, "µm",
           "Focus position relative to the slide's reference plane (+ moves the focal plane up)."),
    Number("x_um", "x", -100000, 100000, 0.05, 0.0, "µm", "Stage x position (slide centre = 0)."),
    Number("y_um", "y", -100000, 100000, 0.05, 0.0, "µm", "Stage y position (slide centre = 0)."),
    Number("light_pct", "l", 0, 100, 1, 60, "%", "Lamp, laser or beam intensity."),
    Number("aperture", "a", 0.1, 1.0, 0.05, 0.75, "× NA_obj",
           "Condenser aperture as a fraction of the objective NA (transmitted modes)."),
    Choice("oil", "oil", ("on", "off"), "on",
           "Immersion oil between slide and objective (oil objectives only)."),
    Number("exposure_ms", "e", 0, 10000, 0.1, 0.0, "ms",
           "Camera exposure; 0 = automatic (mid-range of the detector)."),
    Choice("detector", "d", ("se", "bse"), "se",
           "SEM signal: se = the instrument's secondary-electron detector (topography); "
           "bse = the solid-state backscattered-electron detector above the specimen "
           "(atomic-number contrast)."),
    Number("wd_mm", "wd", 3, 40, 0.5, 10.0, "mm",
           "SEM working distance (objective pole piece to specimen): longer → smaller beam "
           "convergence angle, deeper depth of field."),
    Choice("view", "", ("camera", "eyepiece"), None,
           "camera: rectangular sensor with its noise; eyepiece: round field stop, the eye."),
    Choice("size", "s", ("256", "512", "1024"), "512", "Output image width in pixels."),
    Number("brightness", "b", -1, 1, 0.01, 0.0, "", "Display brightness offset."),
    Number("contrast", "c", 0.1, 5, 0.01, 1.0, "×", "Display contrast gain."),
    Choice("scale_bar", "bar", ("on", "off"), "on", "Burn a scale bar into the image."),
    Choice("source", "", ("procedural", "library"), "procedural",
           "procedural: computed scene; library: an AI illustration through the same optics."),
)

# Modes where the condenser aperture acts; elsewhere it is fixed to its default.
TRANSMITTED_MODES = ("brightfield", "darkfield", "phase-contrast", "dic", "polarized")
LIBRARY_MODES = ("brightfield", "stereo")
"""Modes an AI illustration (a colour picture of the specimen) can be viewed in."""
PROBE_MODES = ("afm",)
"""Scanned-probe modes: the tip follows the surface, so there is no focus, no lamp and no
exposure — those parameters take their defaults (one key per image)."""
SEM_MODES = ("sem",)
"""Modes with a detector choice and a working distance (detector, wd_mm); elsewhere those
take their defaults (one key per image)."""

# --------------------------------------------------------------------------- imaging

IMAGING_COMMON: tuple[Param, ...] = (
    Choice("size", "s", ("256", "512", "1024"), "512", "Output image width in pixels."),
)

SLICE = Number("slice_mm", "z", -300, 300, 1, 0, "mm",
               "Axial slice position (superior +) in a 3-D phantom; 2-D test objects have "
               "only z = 0.")
SLICED_MODALITIES = ("ct", "mri", "pet", "spect")

IMAGING_PARAMS: dict[str, tuple[Param, ...]] = {
    "xray": (
        Number("kvp", "kv", 20, 150, 1, None, "kVp", "Tube voltage: sets the beam energy."),
        Number("mas", "mas", 0, 1000, 0.1, 0, "mAs",
               "Tube current × time: photon count; 0 = automatic exposure control."),
        Choice("grid", "grid", ("on", "off"), None, "Anti-scatter grid."),
    ),
    "ct": (
        Number("kvp", "kv", 70, 150, 10, None, "kVp", "Tube voltage."),
        Number("mas", "mas", 1, 1000, 1, None, "mAs", "Tube current × rotation time."),
        Number("views", "v", 8, 1440, 1, 360, "", "Projections over 180°."),
        Number("detector_bins", "d", 64, 1024, 1, 512, "", "Detector channels."),
        Choice("filter", "f", ("ramp", "shepp-logan", "cosine", "hamming", "hann"),
               "shepp-logan", "Reconstruction filter."),
        Number("window", "w", 1, 5000, 1, 400, "HU", "Display window width."),
        Number("level", "L", -1000, 3000, 1, 40, "HU", "Display window centre."),
        Choice("artifact", "a", ("none", "beam-hardening", "metal", "ring", "motion",
                                 "few-views"), "none", "Simulated artefact."),
        Choice("view", "", ("image", "sinogram"), "image", "Reconstruction or sinogram."),
        SLICE,
    ),
    "mri": (
        Choice("sequence", "", ("spin-echo", "gradient-echo", "inversion-recovery"),
               "spin-echo", "Pulse sequence."),
        Number("tr_ms", "tr", 2, 15000, 1, 500, "ms", "Repetition time."),
        Number("te_ms", "te", 1, 500, 1, 15, "ms", "Echo time."),
        Number("ti_ms", "ti", 0, 5000, 1, 0, "ms", "Inversion time (inversion recovery)."),
        Number("flip_deg", "fa", 1, 90, 1, 90, "°", "Flip angle (gradient echo)."),
        Number("fov_mm", "fov", 100, 500, 1, 240, "mm", "Field of view."),
        Number("matrix", "m", 64, 512, 32, 256, "", "Acquisition matrix."),
        Number("thickness_mm", "th", 1, 10, 0.5, 5, "mm", "Slice thickness."),
        Number("nex", "nex", 1, 16, 1, 1, "", "Number of excitations (averages)."),
        Number("bandwidth_hz_px", "bw", 50, 1000, 10, 200, "Hz/px", "Receiver bandwidth."),
        Choice("artifact", "a", ("none", "motion", "wrap", "chemical-shift", "gibbs",
                                 "undersampling"), "none", "Simulated artefact."),
        Choice("coil", "coil", ("normalized", "array"), "normalized",
               "Receive coil: normalized = the array's sensitivity divided out (prescan "
               "normalize, as scanners do by default); array = uncorrected, brighter near "
               "the coils (receive-coil shading)."),
        Choice("view", "", ("image", "kspace"), "image", "Image or k-space."),
        SLICE,
    ),
    "ultrasound": (
        Number("frequency_mhz", "fr", 1, 20, 0.5, None, "MHz", "Transmit frequency."),
        Number("gain_db", "g", -20, 40, 1, 0, "dB", "Overall receive gain."),
        Number("dynamic_range_db", "dr", 20, 100, 1, 60, "dB", "Log-compression range."),
        Number("depth_cm", "dp", 1, 30, 0.5, None, "cm", "Imaging depth."),
        Number("focus_cm", "fc", 0.5, 30, 0.5, None, "cm", "Transmit focus depth."),
        Number("tgc", "tgc", 0, 1.5, 0.05, 1.0, "×",
               "Time-gain compensation as a fraction of the expected tissue attenuation."),
    ),
    "pet": (
        Number("dose_mbq", "dose", 1, 1000, 1, None, "MBq", "Injected activity."),
        Number("scan_min", "t", 0.5, 60, 0.5, 10, "min", "Acquisition time."),
        Choice("recon", "r", ("fbp", "mlem", "osem"), "osem", "Reconstruction."),
        Number("iterations", "it", 1, 100, 1, 4, "", "Iterations (MLEM/OSEM)."),
        Number("subsets", "ss", 1, 32, 1, 8, "", "Subsets (OSEM)."),
        Number("post_fwhm_mm", "pf", 0, 20, 0.5, None, "mm",
               "Gaussian post-filter (FWHM) of the reconstruction; 0 = none."),
        SLICE,
    ),
}
IMAGING_PARAMS["spect"] = IMAGING_PARAMS["pet"]
RENDERED_MODALITIES = tuple(IMAGING_PARAMS)

CT_PRESETS = {  # window, level in HU (radiology conventions)
    "brain": (80, 40), "subdural": (200, 75), "lung": (1500, -600), "bone": (2000, 400),
    "abdomen": (400, 50), "liver": (150, 60), "mediastinum": (350, 50),
}
MRI_PRESETS = {  # sequence, TR, TE, TI, flip
    "t1w": ("spin-echo", 500, 15, 0, 90), "t2w": ("spin-echo", 4000, 100, 0, 90),
    "pdw": ("spin-echo", 4000, 15, 0, 90), "flair": ("inversion-recovery", 9000, 120, 2500, 90),
    "stir": ("inversion-recovery", 4000, 40, 150, 90), "gre-t1": ("gradient-echo", 30, 5, 0, 40),
    "gre-t2star": ("gradient-echo", 500, 20, 0, 20),
}


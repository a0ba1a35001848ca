"""Pydantic models of the catalog: instruments, stains, structure classes, specimens, phantoms.

Strict: unknown fields are errors, units are in the field names, constraints are in the types.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MODES: tuple[str, ...] = (
    "brightfield", "darkfield", "phase-contrast", "dic", "polarized", "fluorescence",
    "confocal", "two-photon", "light-sheet", "tirf", "sted", "sim", "stereo", "sem", "tem", "afm",
)
MODALITIES: tuple[str, ...] = ("xray", "ct", "mri", "ultrasound", "pet", "spect", "oct")

Mode = Literal[
    "brightfield", "darkfield", "phase-contrast", "dic", "polarized", "fluorescence",
    "confocal", "two-photon", "light-sheet", "tirf", "sted", "sim", "stereo", "sem", "tem", "afm",
]
Modality = Literal["xray", "ct", "mri", "ultrasound", "pet", "spect", "oct"]

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --------------------------------------------------------------------------- microscopes

class Objective(Strict):
    magnification: Annotated[float, Field(gt=0, le=2_000_000)]
    na: Annotated[float, Field(gt=0, le=1.7)]
    immersion: Literal["air", "oil", "water", "glycerol", "silicone", "vacuum"] = "air"
    correction: Literal[
        "achromat", "plan-achromat", "fluorite", "plan-fluor", "apochromat", "plan-apochromat",
        "stereo-zoom", "electron", "probe",
    ] = "achromat"
    working_distance_mm: Annotated[float, Field(gt=0, le=100)] | None = None
    phase_ring: Literal["Ph1", "Ph2", "Ph3"] | None = None
    resolution_nm: Positive | None = Field(
        default=None,
        description="Resolution set by something other than diffraction of light: the SEM "
        "probe diameter, the TEM point resolution or the AFM tip radius.",
    )
    color_ring: str | None = None

    @model_validator(mode="after")
    def _immersion_fits_na(self) -> Objective:
        limits = {"air": 0.95, "water": 1.33, "glycerol": 1.47, "silicone": 1.406, "oil": 1.45,
                  "vacuum": 1.7}
        if self.na > limits[self.immersion] + 1e-9:
            raise ValueError(
                f"na {self.na} is above the practical maximum {limits[self.immersion]} for "
                f"{self.immersion} immersion")
        return self


class Eyepiece(Strict):
    magnification: Annotated[float, Field(gt=0, le=40)]
    field_number_mm: Annotated[float, Field(gt=0, le=30)]


class Condenser(Strict):
    type: Literal["abbe", "aplanatic-achromatic", "darkfield", "phase-turret", "dic",
                  "strain-free", "epi", "none"]
    na: Annotated[float, Field(ge=0, le=1.4)]


class LightSource(Strict):
    type: Literal["halogen", "led-white", "led", "mercury-arc", "xenon-arc", "metal-halide",
                  "laser", "pulsed-laser", "tungsten-filament", "field-emission", "lab6",
                  "schottky", "cantilever-laser"]
    wavelength_nm: Annotated[float, Field(gt=0, le=2000)] = Field(
        description="Centre wavelength used for resolution figures (electrons: de Broglie "
        "wavelength in nm).")
    power_mw: Positive | None = None
    lines_nm: list[Annotated[float, Field(gt=0, le=2000)]] = []
    color_temperature_k: Annotated[float, Field(gt=1000, le=10000)] | None = None
    accelerating_voltage_kv: Annotated[float, Field(gt=0, le=3000)] | None = None


class Camera(Strict):
    name: Text
    sensor: Literal["ccd", "emccd", "cmos", "scmos", "pmt", "gaasp", "hyd", "apd",
                    "direct-electron", "scintillator-cmos", "everhart-thornley", "photodiode"]
    pixel_size_um: Annotated[float, Field(gt=0, le=100)]
    width_px: Annotated[int, Field(gt=0, le=20000)]
    height_px: Annotated[int, Field(gt=0, le=20000)]
    qe: Annotated[float, Field(gt=0, le=1)]
    read_noise_e: Annotated[float, Field(ge=0, le=100)]
    full_well_e: Annotated[float, Field(gt=0, le=10_000_000)]
    bit_depth: Annotated[int, Field(ge=8, le=16)]
    dark_current_e_per_s: Annotated[float, Field(ge=0, le=1000)] = 0.0
    adapter_magnification: Annotated[float, Field(gt=0, le=10)] = 1.0

    @property
    def sensor_width_mm(self) -> float:
        return self.width_px * self.pixel_size_um / 1000.0

    @property
    def sensor_height_mm(self) -> float:
        return self.height_px * self.pixel_size_um / 1000.0


class InstrumentBase(Strict):
    id: Id
    name: Text
    category: Literal[
        "student-brightfield", "research-brightfield", "stereo", "darkfield", "phase-contrast",
        "dic", "polarizing", "fluorescence", "confocal", "spinning-disk", "two-photon",
        "light-sheet", "tirf", "super-resolution", "digital", "electron", "probe",
        "radiography", "mammography", "fluoroscopy", "ct", "cone-beam-ct", "mri", "ultrasound",
        "pet", "spect", "oct",
    ]
    description: Text = Field(description="What the instrument is for.")
    contrast: Text = Field(description="How its contrast arises.")
    limits: Text = Field(description="What it cannot do.")
    examples: list[Text] = Field(default=[], description="Real models with these specs.")
    sources: list[Text] = Field(min_length=1)


class MicroscopeInstrument(InstrumentBase):
    kind: Literal["microscope"] = "microscope"
    modes: list[Mode] = Field(min_length=1)
    default_mode: Mode
    objectives: list[Objective] = Field(min_length=1)
    default_objective: float
    eyepiece: Eyepiece | None = None
    condenser: Condenser | None = None
    light: LightSource
    camera: Camera | None = None
    tube_factor: Annotated[float, Field(gt=0, le=5)] = 1.0

    def objective(self, magnification: float) -> Objective:
        for o in self.objectives:
            if abs(o.magnification - magnification) < 1e-9:
                return o
        raise KeyError(magnification)


# --------------------------------------------------------------------------- imaging specs

Range = Annotated[list[float], Field(min_length=2, max_length=2)]


class XraySpec(Strict):
    modality: Literal["xray"] = "xray"
    kvp_range: Range
    mas_range: Range
    default_kvp: Positive
    default_mas: Positive
    anode: Literal["tungsten", "molybdenum", "rhodium"] = "tungsten"
    filtration_mm_al: Annotated[float, Field(ge=0, le=20)]
    detector_pixel_mm: Annotated[float, Field(gt=0, le=2)]
    detector: Literal["csi-flat-panel", "a-se-flat-panel", "image-intensifier", "cr-plate",
                      "film-screen"]
    grid_ratio: Annotated[float, Field(ge=0, le=20)] = 0.0
    frame_rate_fps: Annotated[float, Field(gt=0, le=60)] | None = None


class CtSpec(Strict):
    modality: Literal["ct"] = "ct"
    kvp_options: list[Positive] = Field(min_length=1)
    mas_range: Range
    default_kvp: Positive
    default_mas: Positive
    detector_rows: Annotated[int, Field(ge=1, le=2048)]
    detector_bins: Annotated[int, Field(ge=64, le=4096)]
    views_per_rotation: Annotated[int, Field(ge=8, le=10000)]
    rotation_time_s: Annotated[float, Field(gt=0, le=60)]
    geometry: Literal["fan-beam", "cone-beam"]


class MriSpec(Strict):
    modality: Literal["mri"] = "mri"
    field_strength_t: Annotated[float, Field(gt=0, le=12)]
    bore_cm: Annotated[float, Field(gt=0, le=100)]
    gradient_mt_per_m: Annotated[float, Field(gt=0, le=300)]
    slew_rate_t_per_m_s: Annotated[float, Field(gt=0, le=500)]
    receive_channels: Annotated[int, Field(ge=1, le=256)]


class UltrasoundSpec(Strict):
    modality: Literal["ultrasound"] = "ultrasound"
    probe: Literal["linear", "curvilinear", "phased"]
    frequency_mhz_range: Range
    default_frequency_mhz: Positive
    elements: Annotated[int, Field(ge=16, le=4096)]
    aperture_mm: Annotated[float, Field(gt=0, le=100)]
    max_depth_cm: Annotated[float, Field(gt=0, le=40)]
    sector_deg: Annotated[float, Field(ge=0, le=120)] = 0.0
    active_elements: Annotated[int, Field(ge=8, le=4096)] | None = None
    """Elements of the sub-aperture that forms one scan line (None: all of them, as a
    phased array fires); the F-number is the focal depth over their width."""

    @property
    def active_aperture_mm(self) -> float:
        used = self.elements if self.active_elements is None else min(self.active_elements,
                                                                      self.elements)
        return self.aperture_mm * used / self.elements


class NuclearSpec(Strict):
    modality: Literal["pet", "spect"]
    detector: Text
    ring_diameter_cm: Annotated[float, Field(gt=0, le=200)] | None = None
    spatial_resolution_mm: Annotated[float, Field(gt=0, le=30)]
    sensitivity_cps_per_mbq: Annotated[float, Field(gt=0, le=1_000_000)]
    default_dose_mbq: Positive
    dose_mbq_range: Range
    tracer: Text
    collimator: Text | None = None


class OctSpec(Strict):
    modality: Literal["oct"] = "oct"
    center_wavelength_nm: Annotated[float, Field(gt=0, le=2000)]
    bandwidth_nm: Annotated[float, Field(gt=0, le=500)]
    axial_resolution_um: Annotated[float, Field(gt=0, le=100)]
    lateral_resolution_um: Annotated[float, Field(gt=0, le=100)]
    a_scan_rate_khz: Annotated[float, Field(gt=0, le=10000)]


ImagingSpec = Annotated[
    XraySpec | CtSpec | MriSpec | UltrasoundSpec | NuclearSpec | OctSpec,
    Field(discriminator="modality"),
]


class ImagingInstrument(InstrumentBase):
    kind: Literal["imaging"] = "imaging"
    modality: Modality
    spec: ImagingSpec

    @model_validator(mode="after")
    def _spec_matches(self) -> ImagingInstrument:
        if self.spec.modality != self.modality:
            raise ValueError(f"spec.modality {self.spec.modality!r} differs from modality "
                             f"{self.modality!r}")
        return self


Instrument = Annotated[MicroscopeInstrument | ImagingInstrument, Field(discriminator="kind")]


# --------------------------------------------------------------------------- structure classes

class StructureClass(Strict):
    """Intrinsic optical properties of one kind of structure, before any stain."""

    id: Id
    name: Text
    refractive_index: Annotated[float, Field(ge=1.0, le=4.5)] = Field(
        description="Refractive index; the mounting medium (1.515) gives no phase.")
    thickness_um: Annotated[float, Field(ge=0, le=500)] = Field(
        description="Typical thickness for the optical path difference.")
    intrinsic_od_rgb: Annotated[list[Annotated[float, Field(ge=0, le=5)]],
                                Field(min_length=3, max_length=3)] = [0.0, 0.0, 0.0]
    scattering: Fraction = Field(description="Fraction of light scattered out of the beam.")
    birefringence_retardance_nm: Annotated[float, Field(ge=0, le=5000)] = 0.0
    slow_axis: Literal["radial", "tangential", "along", "across", "random", "fixed"] = "fixed"
    autofluorescence: Fraction = 0.0
    height_um: Annotated[float, Field(ge=0, le=500)] = 0.0
    electron_density: Annotated[float, Field(ge=0, le=25)] = Field(
        description="Relative mass-thickness per µm thickness (water = 1).")
    secondary_electron_yield: Fraction = 0.3
    mean_atomic_number: Annotated[float, Field(gt=0, le=100)] | None = Field(
        default=None,
        description="Mass-weighted mean atomic number Z̄ = Σ wᵢZᵢ of the material, for "
                    "backscattered-electron (atomic-number) contrast in the SEM; "
                    "null where no SEM specimen uses the class.")


# --------------------------------------------------------------------------- stains

class Dye(Strict):
    id: Id
    name: Text
    od_rgb: Annotated[list[Annotated[float, Field(ge=0, le=5)]],
                      Field(min_length=3, max_length=3)] | None = None
    absorption_peak_nm: Annotated[float, Field(gt=200, le=1000)] | None = None
    excitation_nm: Annotated[float, Field(gt=200, le=1300)] | None = None
    emission_nm: Annotated[float, Field(gt=200, le=1300)] | None = None
    pseudocolor_rgb: Annotated[list[Fraction], Field(min_length=3, max_length=3)] | None = None
    quantum_yield: Fraction | None = None
    electron_density: Annotated[float, Field(ge=0, le=25)] | None = None
    mean_atomic_number: Annotated[float, Field(gt=0, le=100)] | None = Field(
        default=None,
        description="Mass-weighted mean atomic number of a metal coating (SEM backscatter).")

    @model_validator(mode="after")
    def _has_optics(self) -> Dye:
        if (self.od_rgb is None and self.emission_nm is None
                and self.electron_density is None):
            raise ValueError("a dye needs od_rgb (absorbing), excitation_nm + emission_nm "
                             "(fluorophore) or electron_density (heavy metal / coating)")
        if self.emission_nm is not None and self.excitation_nm is None:
            raise ValueError("a fluorophore needs excitation_nm as well as emission_nm")
        return self


class Affinity(Strict):
    structure: Id = Field(description="A structure-class id.")
    dye: Id = Field(description="One of this stain's dye ids.")
    amount: Annotated[float, Field(ge=0, le=3)] = Field(
        description="Dye taken up, in units of the dye's OD vector (1 = one full OD).")


class Stain(Strict):
    id: Id
    name: Text
    type: Literal["none", "absorbing", "differential", "fluorophore", "heavy-metal", "coating",
                  "negative", "metallic-impregnation"]
    description: Text
    derivation: Text = Field(description="Where the optical numbers come from.")
    sources: list[Text] = []
    dyes: list[Dye] = []
    affinities: list[Affinity] = []
    background: list[Affinity] = Field(
        default=[], description="Dye left in the background, on structure 'all' (negative stains: where no "
        "structure is; coatings: everywhere).")

    @model_validator(mode="after")
    def _dyes_referenced(self) -> Stain:
        ids = {d.id for d in self.dyes}
        for a in [*self.affinities, *self.background]:
            if a.dye not in ids:
                raise ValueError(f"affinity names dye {a.dye!r}, not one of {sorted(ids)}")
        if self.type != "none" and not self.dyes:
            raise ValueError("a stain other than 'none' needs at least one dye")
        return self


# --------------------------------------------------------------------------- specimens

class SizeRef(Strict):
    structure: Text
    min_um: Annotated[float, Field(gt=0)]
    max_um: Annotated[float, Field(gt=0)]
    source: Text


class Population(Strict):
    """One kind of structure the scene generator scatters over the slide."""

    generator: Id = Field(description="Name of a scene generator in micro.core.microscope.scene.")
    label: Id = Field(description="Name of this population, used for masks in tests.")
    density_per_mm2: Annotated[float, Field(ge=0, le=1e7)] = 0.0
    size_um: Annotated[list[Positive], Field(min_length=2, max_length=2)] = [1.0, 1.0]
    z_um: Annotated[list[float], Field(min_length=2, max_length=2)] = [0.0, 0.0]
    classes: dict[str, Id] = Field(
        default={}, description="Part of the structure → structure-class id.")
    params: dict[str, float | str | bool | list[float]] = {}


class Recommended(Strict):
    instrument: Id
    objective: float
    modes: list[Mode] = Field(min_length=1)


class Specimen(Strict):
    id: Id
    name: Text
    category: Literal["calibration", "hematology", "microbiology", "histology", "botany",
                      "cells", "zoology", "materials", "ultrastructure", "cytology",
                      "pathology"]
    description: Text
    look_for: list[Text] = Field(min_length=1)
    mistakes: list[Text] = Field(min_length=1)
    sizes: list[SizeRef] = []
    stains: list[Id] = Field(min_length=1)
    default_stain: Id
    recommended: Recommended
    slide_width_um: Annotated[float, Field(gt=0, le=200_000)]
    slide_height_um: Annotated[float, Field(gt=0, le=200_000)]
    thickness_um: Annotated[float, Field(gt=0, le=5000)]
    medium_refractive_index: Annotated[float, Field(ge=1.0, le=2.0)] = 1.515
    seed: Annotated[int, Field(ge=0, lt=2**31)]
    populations: list[Population] = Field(min_length=1)

    @model_validator(mode="after")
    def _defaults(self) -> Specimen:
        if "none" not in self.stains:
            raise ValueError("stains must include 'none' (an unstained view is always allowed)")
        if self.default_stain not in self.stains:
            raise ValueError(f"default_stain {self.default_stain!r} is not in stains")
        return self


# --------------------------------------------------------------------------- phantoms

class TissueMri(Strict):
    pd: Fraction
    t1_ms: Positive
    t2_ms: Positive
    t2s_ms: Positive


class Tissue(Strict):
    """One tissue label with its properties for every modality."""

    id: Id
    name: Text
    mu_per_cm_60kev: Annotated[float, Field(ge=0, le=50)] = Field(
        description="Linear attenuation at 60 keV (NIST XCOM).")
    mu_per_cm_80kev: Annotated[float, Field(ge=0, le=50)]
    mu_per_cm_100kev: Annotated[float, Field(ge=0, le=50)]
    density_g_cm3: Annotated[float, Field(ge=0, le=25)]
    mri: dict[Literal["1.5", "3", "7"], TissueMri]
    chemical_shift_ppm: float = 0.0
    speed_of_sound_m_s: Annotated[float, Field(ge=300, le=5000)]
    attenuation_db_cm_mhz: Annotated[float, Field(ge=0, le=50)]
    backscatter: Annotated[float, Field(ge=0, le=10)] = Field(
        description="Scatterer amplitude relative to liver (1).")
    scatterer_density: Fraction = 1.0
    uptake: Annotated[float, Field(ge=0, le=100)] = Field(
        description="Tracer uptake relative to background (1).")


class Shape(Strict):
    type: Literal["ellipse", "rectangle"]
    tissue: Id
    center_mm: Annotated[list[float], Field(min_length=2, max_length=2)]
    axes_mm: Annotated[list[Positive], Field(min_length=2, max_length=2)] = Field(
        description="Semi-axes (ellipse) or half-widths (rectangle).")
    angle_deg: float = 0.0
    mode: Literal["replace", "add"] = Field(
        default="replace",
        description="replace: the shape's tissue wins; add: Shepp-Logan style additive value.")
    value: float | None = Field(default=None, description="Additive value (mode 'add').")


class Phantom(Strict):
    id: Id
    name: Text
    description: Text
    look_for: list[Text] = []
    fov_mm: Annotated[float, Field(gt=0, le=1000)]
    background: Id = Field(description="Tissue outside every shape (usually air).")
    tissues: list[Tissue] = Field(min_length=1)
    shapes: list[Shape] = Field(
        default=[], description="2-D test object: ellipses and rectangles (axial plane).")
    anatomy: Literal["head", "abdomen", "breast"] | None = Field(
        default=None, description="3-D procedural anatomy generator (instead of shapes).")
    slice_range_mm: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        default=[0.0, 0.0], description="Axial slice positions (z, superior +) a 3-D phantom "
        "offers; 2-D test objects have one slice, z = 0.")
    seed: int = Field(default=1, ge=0, description="Seed of the procedural anatomy.")
    probe_x_mm: float = Field(default=0.0, description="Ultrasound acoustic window: the probe "
                              "sits on the anterior surface above this x (mm, patient's left +).")
    variants: dict[Id, list[Shape]] = Field(
        default={}, description="Named alternative shape tables (e.g. original Shepp-Logan).")
    modalities: list[Modality] = Field(min_length=1)
    defaults: dict[Modality, dict[str, float | str]] = Field(
        default={}, description="Per-modality setting defaults that show this phantom's anatomy "
        "(window and level, MRI field of view, ...); a request's own values win.")
    sources: list[Text] = []

    @model_validator(mode="after")
    def _tissues_known(self) -> Phantom:
        ids = {t.id for t in self.tissues}
        for s in [*self.shapes, *(s for v in self.variants.values() for s in v)]:
            if s.tissue not in ids:
                raise ValueError(f"shape tissue {s.tissue!r} is not one of {sorted(ids)}")
        if not self.shapes and self.anatomy is None:
            raise ValueError("a phantom needs shapes (2-D) or an anatomy generator (3-D)")
        if self.slice_range_mm[0] > self.slice_range_mm[1]:
            raise ValueError("slice_range_mm must be [lowest, highest]")
        if self.background not in ids:
            raise ValueError(f"background {self.background!r} is not one of {sorted(ids)}")
        return self


MODEL_FILES: dict[str, type[BaseModel]] = {
    "specimen": Specimen,
    "stain": Stain,
    "phantom": Phantom,
    "structure-class": StructureClass,
    "microscope-instrument": MicroscopeInstrument,
    "imaging-instrument": ImagingInstrument,
}

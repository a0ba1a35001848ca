"""Everything the stages need to know about one request: geometry, optics and light.

Derived once from the canonical request and the catalog; every number carries its unit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from micro.core.catalog import Catalog
from micro.core.microscope import optics
from micro.core.microscope.lattice import Window
from micro.core.models import Camera, MicroscopeInstrument, Objective, Specimen, Stain
from micro.core.requests import MicroscopeRequest

FLUORESCENCE_MODES = ("fluorescence", "confocal", "two-photon", "light-sheet", "tirf", "sted",
                      "sim")
ELECTRON_MODES = ("sem", "tem", "afm")
POINT_SCANNING = ("confocal", "two-photon", "sted")
AUTOFLUORESCENCE_NM = 520.0
DRY_OIL_NA = 0.9
"""An oil objective used without oil: rays above NA 1 are totally reflected at the coverslip
and spherical aberration takes the rest; ~0.9 is what is left in practice."""


@dataclass(frozen=True)
class Setup:
    req: MicroscopeRequest
    inst: MicroscopeInstrument
    obj: Objective
    specimen: Specimen
    stain: Stain
    camera: Camera | None
    view: str
    na: float
    """Working NA of the objective (less than nominal for an oil objective used dry)."""
    n_immersion: float
    wavelength_nm: float
    """Design wavelength (illumination centre, or the emission peak in fluorescence)."""
    mag_sensor: float
    """Magnification from the specimen to the detector (objective × tube × adapter)."""
    fov_um: tuple[float, float]
    width: int
    height: int
    margin_x: int
    margin_y: int
    """Extra pixels simulated on each side so FFT wrap-around never reaches the image; chosen
    so the simulated size is a fast FFT length."""
    px_um: float
    focus_um: float
    light: float
    """Light level 0..1."""
    aperture: float
    na_condenser: float
    """Working condenser NA (transmitted modes)."""
    extra_w20_um: float
    chroma_um: tuple[float, float, float]
    """Axial focus offsets of the R, G, B channels (achromat secondary spectrum)."""
    brightness_factor: float
    """Transmission of the optics relative to a perfect objective (dry oil loses light)."""

    @property
    def window(self) -> Window:
        return Window(self.req.x_um, self.req.y_um, self.px_um, self.width + 2 * self.margin_x,
                      self.height + 2 * self.margin_y)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height + 2 * self.margin_y, self.width + 2 * self.margin_x)

    def crop(self, a: np.ndarray) -> np.ndarray:
        """The image part of a simulated (…, H, W) array."""
        my, mx = self.margin_y, self.margin_x
        return a[..., my:my + self.height, mx:mx + self.width]

    @property
    def electron(self) -> bool:
        return self.req.mode in ELECTRON_MODES

    @property
    def fluorescence(self) -> bool:
        return self.req.mode in FLUORESCENCE_MODES


def _chroma(obj: Objective, na: float) -> tuple[float, float, float]:
    """Secondary spectrum: an achromat brings red and blue (C, F) to one focus and green (e)
    nearer, by about f/2000 for ordinary crown/flint glass (f ≈ 180 mm / M); a fluorite
    leaves a third of that; an apochromat corrects three colours."""
    k = {"achromat": 1 / 2000, "plan-achromat": 1 / 2000, "fluorite": 1 / 6000,
         "plan-fluor": 1 / 6000, "stereo-zoom": 1 / 4000}.get(obj.correction, 0.0)
    shift = 180_000.0 / obj.magnification * k  # µm
    return (shift, 0.0, shift * 0.8)


def make_setup(req: MicroscopeRequest, catalog: Catalog) -> Setup:
    inst = catalog.instruments[req.instrument]
    assert isinstance(inst, MicroscopeInstrument)
    obj = inst.objective(req.objective)
    specimen = catalog.specimens[req.specimen]
    stain = catalog.stains[req.stain]
    view = req.view
    n_imm = optics.medium_index(obj.immersion)
    na = obj.na
    extra_w20 = 0.0
    brightness = 1.0
    if obj.immersion == "oil" and not specimen_has_oil(req):
        na = min(na, DRY_OIL_NA)
        n_imm = 1.0
        extra_w20 = 0.5 * inst.light.wavelength_nm / 1000.0
        brightness = 0.85 * (na / obj.na) ** 2
    wavelength = inst.light.wavelength_nm
    mag_obj = obj.magnification * inst.tube_factor
    cam = inst.camera
    if view == "camera":
        assert cam is not None
        mag_sensor = mag_obj * cam.adapter_magnification
        fov = (cam.sensor_width_mm * 1000.0 / mag_sensor,
               cam.sensor_height_mm * 1000.0 / mag_sensor)
        width = req.size
        height = max(2, round(req.size * cam.height_px / cam.width_px))
    else:
        assert inst.eyepiece is not None
        mag_sensor = mag_obj
        d = inst.eyepiece.field_number_mm * 1000.0 / mag_obj
        fov = (d, d)
        width = height = req.size
    px = fov[0] / width
    if req.mode in ("brightfield", "darkfield", "phase-contrast", "dic", "polarized"):
        cond = inst.condenser.na if inst.condenser else na
        na_cond = min(req.aperture * na, cond)
    else:
        na_cond = 0.0
    # margin: room for the widest blur across the specimen's depth (not the focus, so the
    # cached scene is shared by every focus step)
    planes = _planes(specimen)
    depth = (max(planes) - min(planes)) + 5.0
    blur_um = 2.0 * optics.rayleigh_um(wavelength, max(na, 1e-3)) + depth * min(na, 1.0)
    if obj.resolution_nm:
        blur_um = 3 * obj.resolution_nm / 1000.0
    margin = int(min(96, math.ceil(blur_um / px) + 4))
    margin_x, margin_y = _fast_margin(width, margin), _fast_margin(height, margin)
    return Setup(
        req=req, inst=inst, obj=obj, specimen=specimen, stain=stain, camera=cam, view=view,
        na=na, n_immersion=n_imm, wavelength_nm=wavelength, mag_sensor=mag_sensor, fov_um=fov,
        width=width, height=height, margin_x=margin_x, margin_y=margin_y, px_um=px, focus_um=req.focus_um,
        light=req.light_pct / 100.0, aperture=req.aperture, na_condenser=na_cond,
        extra_w20_um=extra_w20, chroma_um=_chroma(obj, na), brightness_factor=brightness,
    )


def specimen_has_oil(req: MicroscopeRequest) -> bool:
    return req.oil == "on"


def _planes(specimen: Specimen) -> list[float]:
    from micro.core.microscope.scene import layer_planes

    return layer_planes(specimen)


def _fast_margin(n: int, m: int) -> int:
    """The smallest margin ≥ m that makes n + 2·margin a fast FFT length (5-smooth)."""
    k = m
    while sfft.next_fast_len(n + 2 * k, real=True) != n + 2 * k:
        k += 1
    return k

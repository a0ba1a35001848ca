"""The one key space: canonical render requests and their paths.

    r/<version>/m/<instrument>/<objective>/<specimen>/<stain>/<mode>/<rest>.<format>
    r/<version>/i/<modality>/<instrument>/<phantom>/<variant>/<rest>.<format>

`<rest>` is every other parameter in spec order, each written as tag + canonical value and
joined by "_" (e.g. `z0_x0_y0_l60_a0.75_oilon_e0_dse_wd10_camera_s512_b0_c1_baron_procedural`). A request has
exactly one canonical form: defaults filled from the catalog, numbers bounded and quantized,
ids checked, combinations checked. The path is the static file name, the S3 key, the CDN URL
and the API route.

The info of a render (its physical figures) lives beside it at the same stem:
`<stem>.<format>` → `<stem>.json`. The stem, not the format, names the render: the noise is
seeded from it, so every format of a stem shows the same image and has the same info.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import InvalidRequest, NotFound
from micro.core.models import MODES, ImagingInstrument, MicroscopeInstrument
from micro.core.params import (
    CONTENT_TYPES,
    CT_PRESETS,
    FORMATS,
    IMAGING_COMMON,
    IMAGING_PARAMS,
    LIBRARY_MODES,
    MICROSCOPE_PARAMS,
    MRI_PRESETS,
    PROBE_MODES,
    SEM_MODES,
    TRANSMITTED_MODES,
    Choice,
    Number,
    Param,
    fmt_plain,
    to_number,
)
from micro.core.version import render_version

_MP = {p.name: p for p in MICROSCOPE_PARAMS}
MICROSCOPE_KEYS = ("instrument", "objective", "specimen", "stain", "mode", "format",
                   *(p.name for p in MICROSCOPE_PARAMS))
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
INFO_EXT = "json"
"""The extension of a render's info document (`<stem>.json`)."""
INFO_RENDER_FORMAT = {"m": "jpg", "i": "png"}
"""The image format rendered (and cached) when a stem's info is asked for first: each kind's
default, the one the site shows."""


def _check_id(raw: Any, field: str, allowed: list[str]) -> str:
    if raw is None or raw == "":
        raise InvalidRequest("is required", field=field, allowed=allowed)
    value = str(raw)
    if not _ID.match(value) or value not in allowed:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InvalidRequest(f"unknown id {shown!r}", field=field, allowed=allowed)
    return value


def _value(p: Param, raw: Any) -> Any:
    if isinstance(p, Number):
        return p.quantize(raw)
    return p.check(raw)


def _reject_unknown(params: Mapping[str, Any], known: tuple[str, ...] | set[str]) -> None:
    for k in params:
        if k not in known:
            raise InvalidRequest("unknown parameter", field=str(k)[:40], allowed=sorted(known))


# --------------------------------------------------------------------------- microscope

@dataclass(frozen=True)
class MicroscopeRequest:
    instrument: str
    objective: float
    specimen: str
    stain: str
    mode: str
    focus_um: float
    x_um: float
    y_um: float
    light_pct: int
    aperture: float
    oil: str
    exposure_ms: float
    detector: str
    wd_mm: float
    view: str
    size: int
    brightness: float
    contrast: float
    scale_bar: bool
    source: str
    format: str
    version: str = field(default="", compare=False)

    kind = "microscope"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def params(self) -> dict[str, Any]:
        """Keyword form (the inverse of `canonicalize_microscope`)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in MICROSCOPE_KEYS}
        out["size"] = self.size
        out["scale_bar"] = "on" if self.scale_bar else "off"
        return out

    def rest(self) -> str:
        parts = []
        for p in MICROSCOPE_PARAMS:
            v = self.params()[p.name]
            parts.append(p.tag + (p.text(v) if isinstance(p, Number) else str(v)))
        return "_".join(parts)

    def stem(self) -> str:
        return (f"r/{self.version}/m/{self.instrument}/{fmt_plain(self.objective)}/"
                f"{self.specimen}/{self.stain}/{self.mode}/{self.rest()}")

    def path(self) -> str:
        return f"{self.stem()}.{self.format}"

    def info_path(self) -> str:
        return f"{self.stem()}.{INFO_EXT}"

    def seed(self) -> int:
        """Noise seed: a hash of the canonical stem (same stem → same image in any format)."""
        return int.from_bytes(hashlib.sha256(self.stem().encode()).digest()[:8], "little")

    def replace(self, catalog: Catalog | None = None, **changes: Any) -> MicroscopeRequest:
        return canonicalize_microscope({**self.params(), **changes}, catalog)


def canonicalize_microscope(params: Mapping[str, Any],
                            catalog: Catalog | None = None) -> MicroscopeRequest:
    """Fill defaults, check ids and combinations, bound and quantize every number."""
    cat = catalog or default_catalog()
    _reject_unknown(params, set(MICROSCOPE_KEYS))
    iid = _check_id(params.get("instrument"), "instrument", cat.microscope_ids())
    inst = cat.instruments[iid]
    assert isinstance(inst, MicroscopeInstrument)
    sid = _check_id(params.get("specimen"), "specimen", sorted(cat.specimens))
    spec = cat.specimens[sid]

    mags = [o.magnification for o in inst.objectives]
    raw_obj = params.get("objective")
    if raw_obj is None or raw_obj == "":
        objective = inst.default_objective
    else:
        value = to_number(raw_obj, "objective")
        match = [m for m in mags if abs(m - value) <= 1e-6 * max(1.0, m)]
        if not match:
            raise InvalidRequest(f"no {fmt_plain(value)}× objective on {iid}",
                                 field="objective", allowed=[fmt_plain(m) for m in mags])
        objective = match[0]

    stain = params.get("stain")
    stain = spec.default_stain if stain in (None, "") else stain
    if stain not in cat.stains:
        _check_id(stain, "stain", sorted(cat.stains))
    if stain not in spec.stains:
        raise InvalidRequest(f"stain {stain!r} is not used on {sid}", field="stain",
                             allowed=list(spec.stains))

    mode = params.get("mode")
    mode = inst.default_mode if mode in (None, "") else mode
    if mode not in MODES:
        raise InvalidRequest(f"unknown mode {str(mode)[:40]!r}", field="mode", allowed=MODES)
    if mode not in inst.modes:
        raise InvalidRequest(f"{iid} has no {mode} mode", field="mode", allowed=inst.modes)

    fmt = params.get("format")
    fmt = "jpg" if fmt in (None, "") else str(fmt).lower()
    if fmt == "jpeg":
        fmt = "jpg"
    if fmt not in FORMATS:
        raise InvalidRequest(f"unknown format {fmt[:20]!r}", field="format", allowed=FORMATS)

    values: dict[str, Any] = {}
    for p in MICROSCOPE_PARAMS:
        raw = params.get(p.name)
        if raw is None or raw == "":
            if p.name == "view":
                raw = "camera" if inst.camera is not None else "eyepiece"
            else:
                raw = p.default
        values[p.name] = _value(p, raw)

    if values["view"] == "camera" and inst.camera is None:
        raise InvalidRequest(f"{iid} has no camera", field="view", allowed=["eyepiece"])
    if values["view"] == "eyepiece" and inst.eyepiece is None:
        raise InvalidRequest(f"{iid} has no eyepiece", field="view", allowed=["camera"])
    for axis, extent in (("x_um", spec.slide_width_um), ("y_um", spec.slide_height_um)):
        half = extent / 2
        if abs(values[axis]) > half + 1e-9:
            raise InvalidRequest(f"{fmt_plain(values[axis])} µm is off the slide", field=axis,
                                 allowed=f"-{fmt_plain(half)} to {fmt_plain(half)} µm")
    if values["source"] == "library" and mode not in LIBRARY_MODES:
        raise InvalidRequest(f"an AI illustration cannot be viewed in {mode}", field="mode",
                             allowed=[m for m in LIBRARY_MODES if m in inst.modes])
    # Parameters that do nothing in this configuration take their default (one key per image).
    if mode not in TRANSMITTED_MODES:
        values["aperture"] = _MP["aperture"].default
    if inst.objective(objective).immersion != "oil":
        values["oil"] = _MP["oil"].default
    if values["view"] == "eyepiece":
        values["exposure_ms"] = 0.0
    if mode in PROBE_MODES:
        for name in ("focus_um", "light_pct", "exposure_ms"):
            values[name] = _MP[name].default
    # SEM only: the detector choice and the working distance act on nothing else.
    if mode not in SEM_MODES:
        for name in ("detector", "wd_mm"):
            values[name] = _MP[name].default

    return MicroscopeRequest(
        instrument=iid, objective=objective, specimen=sid, stain=str(stain), mode=str(mode),
        focus_um=values["focus_um"], x_um=values["x_um"], y_um=values["y_um"],
        light_pct=int(values["light_pct"]), aperture=values["aperture"], oil=values["oil"],
        exposure_ms=values["exposure_ms"], detector=values["detector"],
        wd_mm=values["wd_mm"], view=values["view"], size=int(values["size"]),
        brightness=values["brightness"], contrast=values["contrast"],
        scale_bar=values["scale_bar"] == "on", source=values["source"], format=fmt,
        version=render_version(cat),
    )


# --------------------------------------------------------------------------- imaging

@dataclass(frozen=True)
class ImagingRequest:
    modality: str
    instrument: str
    phantom: str
    variant: str
    size: int
    format: str
    settings: tuple[tuple[str, Any], ...]
    version: str = field(default="", compare=False)

    kind = "imaging"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def __getitem__(self, name: str) -> Any:
        for k, v in self.settings:
            if k == name:
                return v
        raise KeyError(name)

    def params(self) -> dict[str, Any]:
        return {"instrument": self.instrument, "phantom": self.phantom,
                "variant": self.variant, "size": self.size, "format": self.format,
                **dict(self.settings)}

    def rest(self) -> str:
        specs = {p.name: p for p in IMAGING_PARAMS[self.modality]}
        parts = [f"s{self.size}"]
        for name, v in self.settings:
            p = specs[name]
            parts.append(p.tag + (p.text(v) if isinstance(p, Number) else str(v)))
        return "_".join(parts)

    def stem(self) -> str:
        return (f"r/{self.version}/i/{self.modality}/{self.instrument}/{self.phantom}/"
                f"{self.variant}/{self.rest()}")

    def path(self) -> str:
        return f"{self.stem()}.{self.format}"

    def info_path(self) -> str:
        return f"{self.stem()}.{INFO_EXT}"

    def seed(self) -> int:
        return int.from_bytes(hashlib.sha256(self.stem().encode()).digest()[:8], "little")

    def replace(self, catalog: Catalog | None = None, **changes: Any) -> ImagingRequest:
        return canonicalize_imaging({**self.params(), **changes}, catalog)


def _imaging_defaults(inst: ImagingInstrument) -> dict[str, Any]:
    s: Any = inst.spec
    m = inst.modality
    if m == "xray":  # mAs 0: automatic exposure control
        return {"kvp": s.default_kvp, "mas": 0, "grid": "on" if s.grid_ratio > 0 else "off"}
    if m == "ct":
        return {"kvp": s.default_kvp, "mas": s.default_mas}
    if m == "ultrasound":
        depth = min(s.max_depth_cm, 16.0 if s.probe != "linear" else 5.0)
        return {"frequency_mhz": s.default_frequency_mhz, "depth_cm": depth,
                "focus_cm": round(depth * 0.5 * 2) / 2}
    if m == "pet":  # OSEM with a 5 mm Gaussian post-filter, as scanners ship
        return {"dose_mbq": s.default_dose_mbq, "post_fwhm_mm": 5}
    if m == "spect":  # a 20 min tomographic acquisition, low-pass filtered (count-poor)
        return {"dose_mbq": s.default_dose_mbq, "scan_min": 20, "post_fwhm_mm": 8}
    return {}


def _instrument_bounds(inst: ImagingInstrument, name: str, value: float) -> None:
    s: Any = inst.spec
    rng: tuple[float, float] | None = None
    if name == "kvp" and inst.modality == "xray":
        rng = tuple(s.kvp_range)
    elif name == "kvp" and inst.modality == "ct":
        if value not in s.kvp_options:
            raise InvalidRequest(f"{fmt_plain(value)} kVp is not offered by {inst.id}",
                                 field="kvp", allowed=[fmt_plain(k) for k in s.kvp_options])
    elif name == "mas" and inst.modality in ("xray", "ct") and not (
            inst.modality == "xray" and value == 0):  # 0 = automatic exposure control
        rng = tuple(s.mas_range)
    elif name == "frequency_mhz" and inst.modality == "ultrasound":
        rng = tuple(s.frequency_mhz_range)
    elif name == "depth_cm" and inst.modality == "ultrasound":
        rng = (1.0, s.max_depth_cm)
    elif name == "dose_mbq" and inst.modality in ("pet", "spect"):
        rng = tuple(s.dose_mbq_range)
    if rng is not None and not (rng[0] - 1e-9 <= value <= rng[1] + 1e-9):
        raise InvalidRequest(f"{fmt_plain(value)} is out of range for {inst.id}", field=name,
                             allowed=f"{fmt_plain(rng[0])} to {fmt_plain(rng[1])}")


def canonicalize_imaging(params: Mapping[str, Any],
                         catalog: Catalog | None = None) -> ImagingRequest:
    cat = catalog or default_catalog()
    params = dict(params)
    preset = params.pop("preset", None)
    simulated = [i for i in cat.imaging_ids()
                 if getattr(cat.instruments[i], "modality", None) in IMAGING_PARAMS]
    catalogued = cat.instruments.get(str(params.get("instrument")))
    if isinstance(catalogued, ImagingInstrument) and catalogued.modality not in IMAGING_PARAMS:
        raise InvalidRequest(f"{catalogued.id} is in the catalog for reference only: MICRO does "
                             f"not simulate {catalogued.modality} images yet",
                             field="instrument", allowed=simulated)
    iid = _check_id(params.get("instrument"), "instrument", simulated)
    inst = cat.instruments[iid]
    assert isinstance(inst, ImagingInstrument)
    modality = inst.modality
    specs = IMAGING_PARAMS[modality]
    known = {"instrument", "phantom", "variant", "format", "modality",
             *(p.name for p in IMAGING_COMMON), *(p.name for p in specs)}
    _reject_unknown(params, known)
    if params.get("modality") not in (None, "", modality):
        raise InvalidRequest(f"{iid} is a {modality} instrument", field="modality",
                             allowed=[modality])
    if preset not in (None, ""):
        table: dict[str, dict[str, Any]] = {"ct": CT_PRESETS, "mri": MRI_PRESETS}
        presets = table.get(modality, {})
        if preset not in presets:
            raise InvalidRequest(f"unknown preset {str(preset)[:40]!r}", field="preset",
                                 allowed=sorted(presets))
        if modality == "ct":
            params.setdefault("window", presets[preset][0])
            params.setdefault("level", presets[preset][1])
        else:
            for k, v in zip(("sequence", "tr_ms", "te_ms", "ti_ms", "flip_deg"),
                            presets[preset], strict=True):
                params.setdefault(k, v)

    pid = _check_id(params.get("phantom"), "phantom",
                    sorted(p for p, ph in cat.phantoms.items() if modality in ph.modalities))
    phantom = cat.phantoms[pid]
    variants = ["default", *phantom.variants]
    variant = params.get("variant") or "default"
    if variant not in variants:
        raise InvalidRequest(f"unknown variant {str(variant)[:40]!r}", field="variant",
                             allowed=variants)
    fmt = params.get("format") or "png"
    fmt = "jpg" if fmt == "jpeg" else str(fmt).lower()
    if fmt not in FORMATS:
        raise InvalidRequest(f"unknown format {fmt[:20]!r}", field="format", allowed=FORMATS)
    size_p = IMAGING_COMMON[0]
    assert isinstance(size_p, Choice)
    size = int(size_p.check(params.get("size") or size_p.default))

    defaults = {**_imaging_defaults(inst), **phantom.defaults.get(modality, {})}
    settings: list[tuple[str, Any]] = []
    for p in specs:
        raw = params.get(p.name)
        if raw is None or raw == "":
            raw = defaults.get(p.name, p.default)
        value = _value(p, raw)
        if isinstance(p, Number):
            _instrument_bounds(inst, p.name, value)
        settings.append((p.name, value))
    s = dict(settings)
    # Parameters that do nothing in this configuration take their default.
    if modality == "mri":
        if s["sequence"] != "inversion-recovery":
            s["ti_ms"] = 0
        elif s["ti_ms"] <= 0:
            raise InvalidRequest("inversion recovery needs an inversion time", field="ti_ms",
                                 allowed="1 to 5000 ms")
        if s["sequence"] != "gradient-echo":
            s["flip_deg"] = 90
        if s["te_ms"] >= s["tr_ms"]:
            raise InvalidRequest("TE must be shorter than TR", field="te_ms",
                                 allowed=f"1 to {fmt_plain(s['tr_ms'] - 1)} ms")
    if modality in ("pet", "spect"):
        if s["recon"] == "fbp":
            s["iterations"], s["subsets"] = 4, 8
        elif s["recon"] == "mlem":
            s["subsets"] = 1
    if "slice_mm" in s:
        lo, hi = phantom.slice_range_mm
        if phantom.anatomy is None:  # a 2-D test object: one slice
            s["slice_mm"] = 0
        elif not lo - 1e-9 <= s["slice_mm"] <= hi + 1e-9:
            raise InvalidRequest(f"{fmt_plain(s['slice_mm'])} mm is outside {pid}",
                                 field="slice_mm",
                                 allowed=f"{fmt_plain(lo)} to {fmt_plain(hi)} mm")
    if modality == "ultrasound" and s["focus_cm"] > s["depth_cm"]:
        raise InvalidRequest("focus is deeper than the image", field="focus_cm",
                             allowed=f"0.5 to {fmt_plain(s['depth_cm'])} cm")
    settings = [(k, s[k]) for k, _ in settings]
    return ImagingRequest(modality=modality, instrument=iid, phantom=pid, variant=str(variant),
                          size=size, format=fmt, settings=tuple(settings),
                          version=render_version(cat))


# --------------------------------------------------------------------------- paths

def _split_rest(rest: str, specs: tuple[Param, ...], what: str) -> dict[str, str]:
    parts = rest.split("_")
    if len(parts) != len(specs):
        raise NotFound(f"{what} path needs {len(specs)} settings, found {len(parts)}",
                       field="path", allowed="_".join(p.tag + "<" + p.name + ">" for p in specs))
    out = {}
    for p, part in zip(specs, parts, strict=True):
        if not part.startswith(p.tag):
            raise NotFound(f"setting {part[:40]!r} should start with {p.tag!r} ({p.name})",
                           field=p.name)
        out[p.name] = part[len(p.tag):]
    return out


def parse_path(path: str, catalog: Catalog | None = None) -> MicroscopeRequest | ImagingRequest:
    """The request a path names, canonicalized. Its `.path()` may differ from `path` (then the
    caller redirects); a path that does not parse raises NotFound, bad values InvalidRequest."""
    p = path.lstrip("/")
    if len(p) > 1024:
        raise NotFound("path too long", field="path", allowed="at most 1024 characters")
    parts = p.split("/")
    if len(parts) < 3 or parts[0] != "r" or any(x in ("", ".", "..") for x in parts):
        raise NotFound("not a render path", field="path",
                       allowed="r/<version>/m/... or r/<version>/i/...")
    if "." not in parts[-1]:
        raise NotFound("the file name needs a format extension", field="format",
                       allowed=FORMATS)
    last, fmt = parts[-1].rsplit(".", 1)
    kind = parts[2]
    if kind == "m":
        if len(parts) != 9:
            raise NotFound("a microscope path has 9 parts", field="path",
                           allowed="r/<version>/m/<instrument>/<objective>/<specimen>/<stain>/"
                                   "<mode>/<settings>.<format>")
        _, _, _, inst, obj, spec, stain, mode, _ = parts
        raw = _split_rest(last, MICROSCOPE_PARAMS, "microscope")
        return canonicalize_microscope(
            {"instrument": inst, "objective": obj, "specimen": spec, "stain": stain,
             "mode": mode, "format": fmt, **raw}, catalog)
    if kind == "i":
        if len(parts) != 8:
            raise NotFound("an imaging path has 8 parts", field="path",
                           allowed="r/<version>/i/<modality>/<instrument>/<phantom>/<variant>/"
                                   "<settings>.<format>")
        _, _, _, modality, inst, phantom, variant, _ = parts
        if modality not in IMAGING_PARAMS:
            raise NotFound(f"unknown modality {modality[:20]!r}", field="modality",
                           allowed=list(IMAGING_PARAMS))
        raw = _split_rest(last, (*IMAGING_COMMON, *IMAGING_PARAMS[modality]), "imaging")
        return canonicalize_imaging(
            {"instrument": inst, "phantom": phantom, "variant": variant, "format": fmt,
             "modality": modality, **raw}, catalog)
    raise NotFound(f"unknown render kind {kind[:10]!r}", field="path", allowed=["m", "i"])


def is_info_path(path: str) -> bool:
    return path.endswith("." + INFO_EXT)


def parse_info_path(path: str,
                    catalog: Catalog | None = None) -> MicroscopeRequest | ImagingRequest:
    """The request whose info `<stem>.json` names, in its kind's default image format. Its
    `.info_path()` is the canonical form of `path` (may differ: then the caller redirects)."""
    p = path.lstrip("/")
    if not is_info_path(p):
        raise NotFound("not an info path", field="path", allowed=f"<stem>.{INFO_EXT}")
    parts = p.split("/")
    fmt = INFO_RENDER_FORMAT.get(parts[2] if len(parts) > 2 else "", "png")
    return parse_path(f"{p.removesuffix('.' + INFO_EXT)}.{fmt}", catalog)

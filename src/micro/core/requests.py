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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from micro.core.canon import run
from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import NotFound
from micro.core.params import (
    CONTENT_TYPES,
    FORMATS,
    IMAGING_COMMON,
    IMAGING_PARAMS,
    MICROSCOPE_PARAMS,
    Number,
    Param,
    fmt_plain,
)
from micro.core.rules import spec
from micro.core.version import render_version

MICROSCOPE_KEYS = ("instrument", "objective", "specimen", "stain", "mode", "format",
                   *(p.name for p in MICROSCOPE_PARAMS))
INFO_EXT = "json"
"""The extension of a render's info document (`<stem>.json`)."""
INFO_RENDER_FORMAT = {"m": "jpg", "i": "png"}
"""The image format rendered (and cached) when a stem's info is asked for first: each kind's
default, the one the site shows."""


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
    """Fill defaults, check ids and combinations, bound and quantize every number (the steps
    and rules of `micro.core.rules`)."""
    cat = catalog or default_catalog()
    v = run("microscope", params, spec(cat))
    fields = {k: v[k] for k in MICROSCOPE_KEYS}
    fields.update(stain=str(v["stain"]), mode=str(v["mode"]), light_pct=int(v["light_pct"]),
                  size=int(v["size"]), scale_bar=v["scale_bar"] == "on")
    return MicroscopeRequest(**fields, version=render_version(cat))


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


def canonicalize_imaging(params: Mapping[str, Any],
                         catalog: Catalog | None = None) -> ImagingRequest:
    """Fill defaults (instrument's, then phantom's), apply a preset, check ids and
    combinations, bound and quantize every setting (the steps of `micro.core.rules`)."""
    cat = catalog or default_catalog()
    v = run("imaging", params, spec(cat))
    modality = v["modality"]
    settings = tuple((p.name, v[p.name]) for p in IMAGING_PARAMS[modality])
    return ImagingRequest(modality=modality, instrument=v["instrument"], phantom=v["phantom"],
                          variant=str(v["variant"]), size=int(v["size"]), format=v["format"],
                          settings=settings, version=render_version(cat))


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


def _parse_microscope(parts: list[str], last: str, fmt: str,
                      catalog: Catalog | None) -> MicroscopeRequest:
    if len(parts) != 9:
        raise NotFound("a microscope path has 9 parts", field="path",
                       allowed="r/<version>/m/<instrument>/<objective>/<specimen>/<stain>/"
                               "<mode>/<settings>.<format>")
    _, _, _, inst, obj, spec, stain, mode, _ = parts
    raw = _split_rest(last, MICROSCOPE_PARAMS, "microscope")
    return canonicalize_microscope(
        {"instrument": inst, "objective": obj, "specimen": spec, "stain": stain,
         "mode": mode, "format": fmt, **raw}, catalog)


def _parse_imaging(parts: list[str], last: str, fmt: str,
                   catalog: Catalog | None) -> ImagingRequest:
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
        return _parse_microscope(parts, last, fmt, catalog)
    if kind == "i":
        return _parse_imaging(parts, last, fmt, catalog)
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

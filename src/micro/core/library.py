"""The AI illustration library: the folder of illustrations and the store over it.

    <data dir>/images/<specimen>/<stain>/<name>.png    the illustration (sRGB PNG)
    <data dir>/images/<specimen>/<stain>/<name>.json   its sidecar (`Illustration`)

An entry is usable only when its sidecar is valid, names the folder's specimen and stain, and
the PNG's SHA-256 and pixel size match it; anything else (a partial download, a hand-edited
file, an orphan) is treated as absent and reported with the reason.

`DirectoryStore` hands the newest verified entry to the microscope pipeline as a `Picture`
(linear transmittance per channel, decoded from sRGB); the pipeline makes it the scene of a
`source=library` request (`micro.core.microscope.illustration`) and renders it with the same
optics, detector and display as a procedural scene. This module knows files, not optics.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field, ValidationError

from micro.core.catalog import Catalog
from micro.core.errors import InvalidRequest, NotFound
from micro.core.memory import memoized
from micro.core.microscope.illustration import Picture
from micro.core.microscope.setup import make_setup
from micro.core.models import Id, MicroscopeInstrument, Positive, Specimen, Strict
from micro.core.params import LIBRARY_MODES
from micro.core.requests import MicroscopeRequest, canonicalize_microscope

# LIBRARY_MODES (params.py): the modes that make sense for a colour illustration of
# transmitted (or, on a stereo microscope, reflected) light. Phase contrast, DIC and polarized
# light need optical path and retardance, which a picture does not hold; darkfield needs the
# light scattered by detail finer than the illustration's pixels; fluorescence and electron
# modes need other physics.
DEPICTED_MODES = LIBRARY_MODES
"""The lighting an illustration is drawn in: transmitted brightfield, or reflected light on a
stereo microscope."""
ILLUSTRATION_STAIN_TYPES = ("none", "absorbing", "differential", "negative",
                            "metallic-impregnation")
"""Stains whose look is colour in transmitted light (not fluorophores, coatings, heavy metals)."""
IMAGES_DIR = "images"
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Illustration(Strict):
    """The sidecar JSON of one library image."""

    provenance: Literal["ai-illustration"]
    specimen: Id
    stain: Id
    image: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.png$")]
    sha256: Sha256 = Field(description="SHA-256 of the PNG file's bytes.")
    width_px: Annotated[int, Field(gt=0, le=16384)]
    height_px: Annotated[int, Field(gt=0, le=16384)]
    width_um: Positive = Field(description="Physical width the illustration depicts.")
    height_um: Positive
    depicts: str = Field(description="The view whose field of view set the scale.")
    prompt: Annotated[str, Field(min_length=1, max_length=32000)]
    revised_prompt: str | None = None
    model: Annotated[str, Field(min_length=1, max_length=100)]
    size: Annotated[str, Field(min_length=1, max_length=20)]
    created: datetime


@dataclass(frozen=True)
class LibraryEntry:
    """One library image: its files, its sidecar and whether it can be used."""

    specimen: str
    stain: str
    name: str
    png: Path
    sidecar: Path
    meta: Illustration | None
    problem: str | None
    """Why the entry cannot be used (None: verified)."""

    @property
    def ok(self) -> bool:
        return self.problem is None and self.meta is not None

    @property
    def key(self) -> str:
        """`<specimen>/<stain>/<name>`: how the CLI names an entry."""
        return f"{self.specimen}/{self.stain}/{self.name}"


# --------------------------------------------------------------------------- the library

def library_root(data_dir: Path) -> Path:
    return Path(data_dir) / IMAGES_DIR


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(specimen: str, stain: str, name: str, png: Path, sidecar: Path,
           verify: bool) -> LibraryEntry:
    def bad(problem: str, meta: Illustration | None = None) -> LibraryEntry:
        return LibraryEntry(specimen, stain, name, png, sidecar, meta, problem)

    if not sidecar.is_file():
        return bad("no sidecar JSON (incomplete entry)")
    try:
        meta = Illustration.model_validate_json(sidecar.read_bytes())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "sidecar"
        return bad(f"invalid sidecar: {where}: {err['msg']}")
    except OSError as exc:
        return bad(f"cannot read the sidecar: {exc.__class__.__name__}")
    if (meta.specimen, meta.stain, meta.image) != (specimen, stain, png.name):
        return bad(f"sidecar names {meta.specimen}/{meta.stain}/{meta.image}, not the file "
                   "beside it", meta)
    if not png.is_file():
        return bad("image file missing", meta)
    if verify:
        if sha256_file(png) != meta.sha256:
            return bad("SHA-256 mismatch (corrupt or partial file)", meta)
        try:
            with Image.open(png) as im:
                size = im.size
        except Exception as exc:  # Pillow raises several types for a bad header
            return bad(f"not a readable image ({exc.__class__.__name__})", meta)
        if size != (meta.width_px, meta.height_px):
            return bad(f"image is {size[0]}×{size[1]} px, sidecar says "
                       f"{meta.width_px}×{meta.height_px}", meta)
    return LibraryEntry(specimen, stain, name, png, sidecar, meta, None)


def entries(data_dir: Path, specimen: str | None = None, stain: str | None = None, *,
            verify: bool = True) -> list[LibraryEntry]:
    """Every library entry (usable or not), by specimen, stain, then newest first."""
    root = library_root(data_dir)
    out: list[LibraryEntry] = []
    if not root.is_dir():
        return out
    for sp_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if specimen is not None and sp_dir.name != specimen:
            continue
        for st_dir in sorted(p for p in sp_dir.iterdir() if p.is_dir()):
            if stain is not None and st_dir.name != stain:
                continue
            names = sorted({p.stem for p in st_dir.glob("*.png") if not p.name.startswith(".")}
                           | {p.stem for p in st_dir.glob("*.json")
                              if not p.name.startswith(".")})
            found = [_check(sp_dir.name, st_dir.name, n, st_dir / f"{n}.png",
                            st_dir / f"{n}.json", verify) for n in names]
            found.sort(key=lambda e: (e.meta.created.timestamp() if e.meta else 0.0, e.name),
                       reverse=True)
            out.extend(found)
    return out


def select(data_dir: Path, specimen: str, stain: str) -> LibraryEntry:
    """The newest verified illustration of (specimen, stain), else NotFound with the reasons."""
    found = entries(data_dir, specimen, stain)
    for e in found:
        if e.ok:
            return e
    hint = (f"generate one with `micro images generate --specimen {specimen} --stain {stain}` "
            "or use source=procedural")
    if found:
        why = "; ".join(f"{e.name}: {e.problem}" for e in found[:4])
        msg = (f"no usable AI illustration of {specimen} with stain {stain}: "
               f"{len(found)} library file(s) failed verification ({why}); {hint}")
    else:
        msg = f"no AI illustration of {specimen} with stain {stain} in the library; {hint}"
    raise NotFound(msg, field="source", allowed=["procedural"])


def usable_stains(catalog: Catalog, specimen: Specimen) -> list[str]:
    """The specimen's stains that have a verified illustration."""
    have = {e.stain for e in entries(catalog.data_dir, specimen.id) if e.ok}
    return [st for st in specimen.stains if st in have]


# --------------------------------------------------------------------------- scale

def depicted_view(catalog: Catalog, specimen_id: str, stain: str | None = None
                  ) -> MicroscopeRequest:
    """The view an illustration depicts: the specimen's recommended instrument and objective,
    in brightfield (or reflected light on a stereo microscope). Its field-of-view width is
    the illustration's physical width."""
    spec = catalog.specimens[specimen_id]
    rec = spec.recommended
    inst = catalog.instruments[rec.instrument]
    assert isinstance(inst, MicroscopeInstrument)
    mode = next((m for m in DEPICTED_MODES if m in inst.modes), None)
    if mode is None:
        raise InvalidRequest(
            f"{specimen_id} is imaged by {', '.join(rec.modes)} on {inst.id}; library "
            "illustrations show transmitted or reflected light", field="specimen",
            allowed="specimens whose recommended microscope has brightfield or stereo")
    params: dict[str, Any] = {"instrument": inst.id, "objective": rec.objective,
                              "specimen": specimen_id, "mode": mode}
    if stain is not None:
        params["stain"] = stain
    return canonicalize_microscope(params, catalog)


def depicted_width_um(catalog: Catalog, specimen_id: str) -> tuple[float, str]:
    """(width in µm, description) of the field an illustration of the specimen depicts."""
    req = depicted_view(catalog, specimen_id)
    s = make_setup(req, catalog)
    what = (f"{req.view} field of view of the {req.objective:g}× objective "
            f"(NA {s.obj.na:g}) on {req.instrument}, {req.mode}")
    return s.fov_um[0], what


def library_mode(catalog: Catalog, specimen: Specimen) -> str | None:
    """The first of the specimen's recommended modes a library view can render, if any."""
    inst = catalog.instruments[specimen.recommended.instrument]
    assert isinstance(inst, MicroscopeInstrument)
    modes = [*specimen.recommended.modes, *inst.modes]
    return next((m for m in modes if m in LIBRARY_MODES and m in inst.modes), None)


# --------------------------------------------------------------------------- pixels

MAX_SIDE_PX = 4096
"""Largest side of a library image that is decoded (`micro images` accepts no larger)."""


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0..1 → linear light 0..1 (IEC 61966-2-1)."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def decode_transmittance(data: bytes) -> np.ndarray:
    """PNG bytes → (3, H, W) float32 linear transmittance; transparency is clear glass."""
    with Image.open(io.BytesIO(data)) as im:
        if max(im.size) > MAX_SIDE_PX:  # checked from the header, before decoding
            raise InvalidRequest(f"library image is {im.size[0]}×{im.size[1]} px",
                                 field="source", allowed=f"at most {MAX_SIDE_PX} px a side")
        im.load()
        rgba = im.convert("RGBA") if im.mode != "RGBA" else im
        arr = np.asarray(rgba, dtype=np.float32) / np.float32(255.0)
    lin = srgb_to_linear(arr[..., :3])
    alpha = arr[..., 3:4]
    t = lin * alpha + (1.0 - alpha)
    return np.ascontiguousarray(np.moveaxis(t, -1, 0), dtype=np.float32)


@memoized("library.load")
def _load(path: str, sha256: str, mtime_ns: int, size: int) -> np.ndarray:
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NotFound(f"library image {Path(path).name} changed while reading (SHA-256 "
                       "mismatch)", field="source", allowed=["procedural"])
    arr = decode_transmittance(data)
    arr.setflags(write=False)
    return arr


def load_transmittance(entry: LibraryEntry) -> np.ndarray:
    """The verified illustration as linear transmittance (3, H, W), cached per file version."""
    assert entry.meta is not None
    st = entry.png.stat()
    return _load(str(entry.png), entry.meta.sha256, st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------- the store

class DirectoryStore:
    """The pipeline's `IllustrationStore` over `<data dir>/images/`: the newest verified entry
    of (specimen, stain), decoded (cached per file version)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def find(self, specimen: str, stain: str) -> Picture:
        entry = select(self.data_dir, specimen, stain)
        meta = entry.meta
        assert meta is not None
        return Picture(entry.key, meta.sha256, meta.width_um, meta.height_um,
                       load_transmittance(entry),
                       {"model": meta.model, "created": meta.created.isoformat(),
                        "depicts": meta.depicts})

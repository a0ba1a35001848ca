"""Load and cross-check the catalog: one JSON file per entry under data/.

    data/instruments/<id>.json   MicroscopeInstrument | ImagingInstrument (by "kind")
    data/stains/<id>.json        Stain
    data/specimens/<id>.json     Specimen
    data/phantoms/<id>.json      Phantom
    data/structures.json         [StructureClass, ...]

Every error names the file, the entry and the field, and says what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from micro.core import genparams
from micro.core.errors import CatalogError, CatalogErrors
from micro.core.models import (
    MODES,
    ImagingInstrument,
    Instrument,
    MicroscopeInstrument,
    Phantom,
    Specimen,
    Stain,
    StructureClass,
)
from micro.core.resources import package_folder

M = TypeVar("M", bound=BaseModel)
_INSTRUMENT: TypeAdapter[MicroscopeInstrument | ImagingInstrument] = TypeAdapter(Instrument)  # type: ignore[arg-type, unused-ignore]
_STRUCTURES = TypeAdapter(list[StructureClass])
KINDS = ("instruments", "stains", "specimens", "phantoms")


def default_data_dir() -> Path:
    """`MICRO_DATA_DIR`, else the catalog shipped in the package (`micro/data/` of a wheel or
    the Lambda zip), else the repo's `data/` (a checkout or an editable install)."""
    env = os.environ.get("MICRO_DATA_DIR")
    if env:
        return Path(env)
    return package_folder("data")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(root.name) / path.relative_to(root))
    except ValueError:
        return str(path)


def _pydantic_errors(exc: ValidationError, file: str, entry: str) -> list[CatalogError]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        ctx = err.get("ctx") or {}
        allowed = ctx.get("expected")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append(CatalogError(msg, file=file, entry=entry, field=loc or None, allowed=allowed))
    return out


@dataclass(frozen=True, eq=False)
class Catalog:
    data_dir: Path
    instruments: Mapping[str, MicroscopeInstrument | ImagingInstrument]
    stains: Mapping[str, Stain]
    specimens: Mapping[str, Specimen]
    phantoms: Mapping[str, Phantom]
    structures: Mapping[str, StructureClass]
    digest: str = field(repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> Catalog:
        root = Path(data_dir) if data_dir is not None else default_data_dir()
        errors: list[CatalogError] = []
        if not root.is_dir():
            raise CatalogErrors([CatalogError("data directory not found", file=str(root))])

        def read(path: Path) -> tuple[Any, str] | None:
            rel = _rel(path, root)
            try:
                return json.loads(path.read_text(encoding="utf-8")), rel
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(CatalogError(f"cannot read: {exc.__class__.__name__}", file=rel))
            except json.JSONDecodeError as exc:
                errors.append(CatalogError(f"invalid JSON at line {exc.lineno} column "
                                           f"{exc.colno}: {exc.msg}", file=rel))
            return None

        def load_dir(sub: str, parse: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            folder = root / sub
            if not folder.is_dir():
                errors.append(CatalogError("folder missing", file=f"{root.name}/{sub}"))
                return out
            for path in sorted(folder.glob("*.json")):
                got = read(path)
                if got is None:
                    continue
                raw, rel = got
                entry = raw.get("id") if isinstance(raw, dict) else None
                entry = entry if isinstance(entry, str) else path.stem
                try:
                    obj = parse(raw)
                except ValidationError as exc:
                    errors.extend(_pydantic_errors(exc, rel, entry))
                    continue
                if obj.id != path.stem:
                    errors.append(CatalogError(f"id {obj.id!r} differs from the file name",
                                               file=rel, entry=entry, field="id",
                                               allowed=path.stem))
                    continue
                out[obj.id] = obj
            return out

        instruments = load_dir("instruments", _INSTRUMENT.validate_python)
        stains = load_dir("stains", Stain.model_validate)
        specimens = load_dir("specimens", Specimen.model_validate)
        phantoms = load_dir("phantoms", Phantom.model_validate)

        structures: dict[str, StructureClass] = {}
        spath = root / "structures.json"
        got = read(spath) if spath.is_file() else None
        if not spath.is_file():
            errors.append(CatalogError("file missing", file=f"{root.name}/structures.json"))
        elif got is not None:
            raw, rel = got
            try:
                for s in _STRUCTURES.validate_python(raw):
                    if s.id in structures:
                        errors.append(CatalogError("duplicate id", file=rel, entry=s.id,
                                                   field="id"))
                    structures[s.id] = s
            except ValidationError as exc:
                errors.extend(_pydantic_errors(exc, rel, "structures"))

        catalog = cls(
            data_dir=root,
            instruments=MappingProxyType(instruments),
            stains=MappingProxyType(stains),
            specimens=MappingProxyType(specimens),
            phantoms=MappingProxyType(phantoms),
            structures=MappingProxyType(structures),
            digest=data_digest(root),
        )
        errors.extend(catalog._cross_check())
        if errors:
            raise CatalogErrors(errors)
        return catalog

    # ------------------------------------------------------------------ cross checks
    def _cross_check(self) -> Iterator[CatalogError]:
        root = self.data_dir.name
        for iid, inst in self.instruments.items():
            f = f"{root}/instruments/{iid}.json"
            if isinstance(inst, MicroscopeInstrument):
                if inst.default_mode not in inst.modes:
                    yield CatalogError("default mode is not one of the instrument's modes",
                                       file=f, entry=iid, field="default_mode",
                                       allowed=inst.modes)
                mags = [o.magnification for o in inst.objectives]
                if len(set(mags)) != len(mags):
                    yield CatalogError("objective magnifications must be unique", file=f,
                                       entry=iid, field="objectives")
                if inst.default_objective not in mags:
                    yield CatalogError("default objective is not on the nosepiece", file=f,
                                       entry=iid, field="default_objective", allowed=mags)
                if inst.eyepiece is None and inst.camera is None:
                    yield CatalogError("a microscope needs an eyepiece or a camera", file=f,
                                       entry=iid, field="camera")
        for sid, stain in self.stains.items():
            f = f"{root}/stains/{sid}.json"
            for i, a in enumerate(stain.affinities):
                if a.structure not in self.structures:
                    yield CatalogError(f"unknown structure class {a.structure!r}", file=f,
                                       entry=sid, field=f"affinities.{i}.structure",
                                       allowed=sorted(self.structures))
        for pid, spec in self.specimens.items():
            f = f"{root}/specimens/{pid}.json"
            for i, st in enumerate(spec.stains):
                if st not in self.stains:
                    yield CatalogError(f"unknown stain {st!r}", file=f, entry=pid,
                                       field=f"stains.{i}", allowed=sorted(self.stains))
            rec = spec.recommended
            rec_inst = self.instruments.get(rec.instrument)
            if not isinstance(rec_inst, MicroscopeInstrument):
                yield CatalogError(f"unknown microscope {rec.instrument!r}", file=f, entry=pid,
                                   field="recommended.instrument",
                                   allowed=self.microscope_ids())
            else:
                mags = [o.magnification for o in rec_inst.objectives]
                if rec.objective not in mags:
                    yield CatalogError("objective not on the recommended instrument", file=f,
                                       entry=pid, field="recommended.objective", allowed=mags)
                for m in rec.modes:
                    if m not in rec_inst.modes:
                        yield CatalogError(f"mode {m!r} not offered by {rec_inst.id}", file=f,
                                           entry=pid, field="recommended.modes",
                                           allowed=rec_inst.modes)
            for i, pop in enumerate(spec.populations):
                if pop.generator not in genparams.GENERATORS:
                    yield CatalogError(f"unknown generator {pop.generator!r}", file=f,
                                       entry=pid, field=f"populations.{i}.generator",
                                       allowed=sorted(genparams.GENERATORS))
                for name, msg, allowed in genparams.problems(pop.generator, pop.params):
                    yield CatalogError(msg, file=f, entry=pid,
                                       field=f"populations.{i}.params.{name}", allowed=allowed)
                for part, cls_id in pop.classes.items():
                    if cls_id not in self.structures:
                        yield CatalogError(f"unknown structure class {cls_id!r}", file=f,
                                           entry=pid, field=f"populations.{i}.classes.{part}",
                                           allowed=sorted(self.structures))

    # ------------------------------------------------------------------ queries
    def microscope_ids(self) -> list[str]:
        return sorted(k for k, v in self.instruments.items()
                      if isinstance(v, MicroscopeInstrument))

    def imaging_ids(self, modality: str | None = None) -> list[str]:
        return sorted(k for k, v in self.instruments.items()
                      if isinstance(v, ImagingInstrument)
                      and (modality is None or v.modality == modality))

    def counts(self) -> dict[str, int]:
        return {"instruments": len(self.instruments), "stains": len(self.stains),
                "specimens": len(self.specimens), "phantoms": len(self.phantoms)}

    def entries(self, kind: str) -> Mapping[str, BaseModel]:
        if kind not in KINDS:
            raise KeyError(kind)
        entries: Mapping[str, BaseModel] = getattr(self, kind)
        return entries


def data_digest(root: Path) -> str:
    """SHA-256 over the catalog's data files (names and bytes), in a stable order. The AI
    illustration library counts through its sidecars (each holds its image's SHA-256)."""
    h = hashlib.sha256()
    files = [root / "structures.json", *(p for k in KINDS for p in (root / k).glob("*.json")),
             *(root / "images").glob("*/*/*.json")]
    for p in sorted(f for f in files if f.is_file()):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> Catalog:
    return Catalog.load(path)


def default_catalog() -> Catalog:
    """The catalog of `default_data_dir()`, loaded once per process."""
    return _load_cached(str(default_data_dir()))


__all__ = ["MODES", "Catalog", "data_digest", "default_catalog", "default_data_dir"]

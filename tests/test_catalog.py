"""The catalog: counts, cross-checks, error messages that name file, entry and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from micro.core.catalog import Catalog, default_data_dir
from micro.core.errors import CatalogErrors
from micro.core.models import MODES, ImagingInstrument, MicroscopeInstrument
from micro.core.schema import schema_text, schemas

REQUIRED_CATEGORIES = {
    "student-brightfield", "research-brightfield", "stereo", "darkfield", "phase-contrast", "dic",
    "polarizing", "fluorescence", "confocal", "spinning-disk", "two-photon", "light-sheet",
    "tirf", "super-resolution", "digital", "electron", "probe", "radiography", "mammography",
    "fluoroscopy", "ct", "cone-beam-ct", "mri", "ultrasound", "pet", "spect", "oct",
}
REQUIRED_STAINS = {
    "none", "he", "gram", "wright", "giemsa", "methylene-blue", "crystal-violet", "safranin",
    "iodine", "ziehl-neelsen", "endospore", "nigrosin", "trypan-blue", "pas", "masson-trichrome",
    "sudan-black", "silver", "dapi", "hoechst", "fitc-gfp", "tritc-mcherry", "phalloidin",
    "acridine-orange", "uranyl-lead", "gold-coating",
}


def test_counts(catalog: Catalog) -> None:
    assert len(catalog.instruments) >= 58
    assert len(catalog.stains) >= 24
    assert REQUIRED_STAINS <= set(catalog.stains)


def test_every_kind_of_instrument(catalog: Catalog) -> None:
    assert {i.category for i in catalog.instruments.values()} >= REQUIRED_CATEGORIES
    modes = {m for i in catalog.instruments.values() if isinstance(i, MicroscopeInstrument)
             for m in i.modes}
    assert modes == set(MODES)
    mri = sorted(i.spec.field_strength_t for i in catalog.instruments.values()  # type: ignore[union-attr]
                 if isinstance(i, ImagingInstrument) and i.modality == "mri")
    assert {1.5, 3.0, 7.0} <= set(mri)
    probes = {i.spec.probe for i in catalog.instruments.values()  # type: ignore[union-attr]
              if isinstance(i, ImagingInstrument) and i.modality == "ultrasound"}
    assert probes == {"linear", "curvilinear", "phased"}


def test_objectives_are_believable(catalog: Catalog) -> None:
    """Dry objectives stay at or below NA 0.95 and oil ones at or below 1.45, the practical maxima in PHYSICS.md (an iris oil
    objective for darkfield may be stopped down below 1)."""
    for inst in catalog.instruments.values():
        if not isinstance(inst, MicroscopeInstrument):
            continue
        for o in inst.objectives:
            if o.immersion == "air" and o.correction not in ("electron", "probe"):
                assert o.na <= 0.95, (inst.id, o)
            if o.immersion == "oil":
                assert o.na <= 1.45, (inst.id, o)


def test_student_scope_matches_physics_table(catalog: Catalog) -> None:
    inst = catalog.instruments["student-compound"]
    assert isinstance(inst, MicroscopeInstrument)
    got = {(o.magnification, o.na, o.immersion) for o in inst.objectives}
    assert got == {(4, 0.10, "air"), (10, 0.25, "air"), (40, 0.65, "air"), (100, 1.25, "oil")}


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(default_data_dir(), dst, ignore=shutil.ignore_patterns("images", "schema"))
    return dst


def _errors(root: Path) -> list[str]:
    with pytest.raises(CatalogErrors) as exc:
        Catalog.load(root)
    return [e.one_line() for e in exc.value.errors]


def test_unknown_field_names_file_entry_field(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "stains" / "gram.json"
    d = json.loads(p.read_text())
    d["colour"] = "purple"
    p.write_text(json.dumps(d))
    errs = _errors(root)
    assert any("stains/gram.json" in e and "[gram]" in e and "colour" in e and "unknown field"
               in e for e in errs), errs


def test_bad_default_stain_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "specimens" / "gram-mixed.json"
    d = json.loads(p.read_text())
    d["stains"].append("no-such-stain")
    p.write_text(json.dumps(d))
    errs = _errors(root)
    assert any("specimens/gram-mixed.json" in e and "stains." in e and "no-such-stain" in e
               and "allowed" in e for e in errs), errs


def test_duplicate_objective_and_bad_mode(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "instruments" / "student-compound.json"
    d = json.loads(p.read_text())
    d["objectives"].append(dict(d["objectives"][0]))
    d["modes"] = ["brightfield", "x-ray-vision"]
    p.write_text(json.dumps(d))
    errs = _errors(root)
    assert any("student-compound" in e and "modes" in e and "brightfield" in e for e in errs), errs


def test_invalid_json_reports_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "phantoms" / "shepp-logan.json").write_text('{"id": "shepp-logan",\n  oops}')
    errs = _errors(root)
    assert any("phantoms/shepp-logan.json" in e and "line 2" in e for e in errs), errs


def test_every_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for name in ("he.json", "gram.json"):
        p = root / "stains" / name
        d = json.loads(p.read_text())
        d["type"] = "glitter"
        p.write_text(json.dumps(d))
    errs = _errors(root)
    assert sum("type" in e and ("he.json" in e or "gram.json" in e) for e in errs) >= 2


def test_schema_files_are_fresh() -> None:
    """data/schema/ must match the models (regenerate with `micro catalog schema`)."""
    folder = default_data_dir() / "schema"
    for name, schema in schemas().items():
        path = folder / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == schema_text(schema), (
            f"{path} is stale: run `micro catalog schema`")

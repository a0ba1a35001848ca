"""The one key space: canonical requests, paths and their round trip."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import InvalidRequest, NotFound
from micro.core.models import MicroscopeInstrument
from micro.core.params import (
    IMAGING_PARAMS,
    LIBRARY_MODES,
    MICROSCOPE_PARAMS,
    Number,
)
from micro.core.render import render
from micro.core.requests import (
    canonicalize_imaging,
    canonicalize_microscope,
    parse_info_path,
    parse_path,
)
from micro.core.rules import quantization_spec

CAT = default_catalog()
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def microscope_params(draw: st.DrawFn) -> dict[str, object]:
    sid = draw(st.sampled_from(sorted(CAT.specimens)))
    spec = CAT.specimens[sid]
    iid = draw(st.sampled_from(CAT.microscope_ids()))
    inst = CAT.instruments[iid]
    assert isinstance(inst, MicroscopeInstrument)
    p: dict[str, object] = {"instrument": iid, "specimen": sid}
    p["objective"] = draw(st.sampled_from([o.magnification for o in inst.objectives]))
    p["stain"] = draw(st.sampled_from(spec.stains))
    p["mode"] = draw(st.sampled_from(inst.modes))
    for prm in MICROSCOPE_PARAMS:
        if draw(st.booleans()):
            continue
        if isinstance(prm, Number):
            lo, hi = prm.lo, prm.hi
            if prm.name == "x_um":
                lo, hi = -spec.slide_width_um / 2, spec.slide_width_um / 2
            if prm.name == "y_um":
                lo, hi = -spec.slide_height_um / 2, spec.slide_height_um / 2
            p[prm.name] = draw(st.floats(lo, hi, allow_nan=False))
        elif prm.name == "view":
            views = [v for v, ok in (("camera", inst.camera), ("eyepiece", inst.eyepiece)) if ok]
            p["view"] = draw(st.sampled_from(views))
        else:
            p[prm.name] = draw(st.sampled_from(prm.choices))
    p["format"] = draw(st.sampled_from(["jpg", "png", "webp", "npy"]))
    if p.get("source") == "library" and p["mode"] not in LIBRARY_MODES:
        p["source"] = "procedural"  # an illustration has colour, not phase or emission
    return p


@SETTINGS
@given(microscope_params())
def test_microscope_round_trip_and_idempotence(params: dict[str, object]) -> None:
    r = canonicalize_microscope(params, CAT)
    assert parse_path(r.path(), CAT) == r
    assert parse_path(r.path(), CAT).path() == r.path()
    assert canonicalize_microscope(r.params(), CAT) == r
    assert r.path().startswith(f"r/{r.version}/m/{r.instrument}/")
    # the info of the image: the same stem, .json; it names the same render
    assert r.info_path() == r.path().removesuffix("." + r.format) + ".json"
    assert parse_info_path(r.info_path(), CAT).replace(CAT, format=r.format) == r


@st.composite
def imaging_params(draw: st.DrawFn) -> dict[str, object]:
    iid = draw(st.sampled_from(sorted(i for i in CAT.imaging_ids()
                                      if CAT.instruments[i].modality in IMAGING_PARAMS)))  # type: ignore[union-attr]
    inst = CAT.instruments[iid]
    modality = inst.modality  # type: ignore[union-attr]
    phantoms = sorted(p for p, ph in CAT.phantoms.items() if modality in ph.modalities)
    p: dict[str, object] = {"instrument": iid, "phantom": draw(st.sampled_from(phantoms))}
    p["format"] = draw(st.sampled_from(["png", "jpg", "npy"]))
    p["size"] = draw(st.sampled_from(["256", "512"]))
    return p


@SETTINGS
@given(imaging_params())
def test_imaging_round_trip(params: dict[str, object]) -> None:
    r = canonicalize_imaging(params, CAT)
    assert parse_path(r.path(), CAT) == r
    assert canonicalize_imaging(r.params(), CAT) == r
    assert parse_info_path(r.info_path(), CAT).info_path() == r.info_path()


def test_the_stem_names_the_render_whatever_the_format() -> None:
    """Noise is seeded from the stem: a PET image (counting noise everywhere) has the same
    measured figures and the same pixels in PNG and in lossless NumPy, so `<stem>.json` is
    the info of every format."""
    png = canonicalize_imaging({"instrument": "pet-ct", "phantom": "brain", "size": "256"}, CAT)
    npy = png.replace(CAT, format="npy")
    a, b = render(png, CAT), render(npy, CAT)
    assert a.info_document() == b.info_document()
    assert a.info["noise_cv_pct"] == b.info["noise_cv_pct"]
    assert (a.raw == b.raw).all()
    other = png.replace(CAT, dose_mbq=200)
    assert render(other, CAT).info["noise_cv_pct"] != a.info["noise_cv_pct"]


@SETTINGS
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_numbers_quantize_onto_their_grid(value: float) -> None:
    p = next(x for x in MICROSCOPE_PARAMS if x.name == "focus_um")
    assert isinstance(p, Number)
    if not (p.lo <= value <= p.hi):
        with pytest.raises(InvalidRequest) as exc:
            p.quantize(value)
        assert exc.value.field == "focus_um" and "-2000" in exc.value.allowed_text
        return
    q = p.quantize(value)
    assert abs(q - value) <= p.step / 2 + 1e-9
    assert p.quantize(q) == q
    assert float(p.text(q)) == pytest.approx(q)


BASE = {"instrument": "student-compound", "specimen": "gram-mixed"}


@pytest.mark.parametrize(("change", "field", "allowed_part"), [
    ({"instrument": "hubble"}, "instrument", "student-compound"),
    ({"specimen": "../etc/passwd"}, "specimen", "gram-mixed"),
    ({"objective": 63}, "objective", "100"),
    ({"stain": "he"}, "stain", "gram"),
    ({"mode": "confocal"}, "mode", "brightfield"),
    ({"mode": "x-ray"}, "mode", "brightfield"),
    ({"focus_um": "nan"}, "focus_um", "finite"),
    ({"focus_um": float("inf")}, "focus_um", "finite"),
    ({"light_pct": 101}, "light_pct", "0 to 100"),
    ({"aperture": 0}, "aperture", "0.1 to 1"),
    ({"size": 333}, "size", "512"),
    ({"format": "gif"}, "format", "png"),
    ({"x_um": 1e6}, "x_um", "µm"),
    ({"view": "periscope"}, "view", "eyepiece"),
    ({"zoom": 3}, "zoom", "focus_um"),
])
def test_bad_input_names_field_and_allowed(change: dict[str, object], field: str,
                                           allowed_part: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        canonicalize_microscope({**BASE, **change}, CAT)
    assert exc.value.field == field
    allowed = exc.value.allowed
    full = " ".join(map(str, allowed)) if isinstance(allowed, (list, tuple)) else str(allowed)
    assert allowed_part in full


def test_defaults_come_from_the_catalog() -> None:
    r = canonicalize_microscope(BASE, CAT)
    inst = CAT.instruments["student-compound"]
    assert isinstance(inst, MicroscopeInstrument)
    assert r.objective == inst.default_objective
    assert r.stain == CAT.specimens["gram-mixed"].default_stain
    assert r.mode == inst.default_mode and r.format == "jpg" and r.size == 512


def test_irrelevant_settings_collapse_to_one_key() -> None:
    a = canonicalize_microscope({**BASE, "objective": 40, "oil": "off"}, CAT)
    b = canonicalize_microscope({**BASE, "objective": 40}, CAT)
    assert a.path() == b.path()  # a dry 40× ignores the oil setting
    c = canonicalize_microscope({**BASE, "objective": 100, "oil": "off"}, CAT)
    d = canonicalize_microscope({**BASE, "objective": 100}, CAT)
    assert c.path() != d.path()


def test_a_scanned_probe_has_no_focus_lamp_or_exposure() -> None:
    afm = {"instrument": "afm", "specimen": "dna-afm", "stain": "none", "mode": "afm"}
    a = canonicalize_microscope({**afm, "focus_um": 1.5, "light_pct": 20,
                                 "exposure_ms": 40}, CAT)
    b = canonicalize_microscope(afm, CAT)
    assert a.path() == b.path() and a.focus_um == 0.0
    sem = {"instrument": "sem-tungsten", "specimen": "pollen-sem", "stain": "none",
           "mode": "sem"}
    assert (canonicalize_microscope({**sem, "focus_um": 1.5}, CAT).path()
            != canonicalize_microscope(sem, CAT).path())  # an electron beam does focus


def test_a_catalogued_but_unsimulated_imager_says_so() -> None:
    with pytest.raises(InvalidRequest) as err:
        canonicalize_imaging({"instrument": "oct-retinal", "phantom": "brain"}, CAT)
    assert err.value.field == "instrument" and "not simulate oct" in str(err.value)


def test_non_canonical_path_parses_to_the_canonical_one() -> None:
    r = canonicalize_microscope({**BASE, "focus_um": 1.5}, CAT)
    messy = r.path().replace("/z1.5_", "/z1.50000_").replace("/10/", "/10.0/")
    assert messy != r.path()
    assert parse_path(messy, CAT).path() == r.path()


@pytest.mark.parametrize("path", [
    "r/x/m/student-compound/100/gram-mixed/gram/brightfield/z0.jpg",
    "r/x/q/a/b.jpg", "r/x/m/../../etc/passwd", "static/x.jpg", "r/x/m/a/b/c/d/e/f",
    "r/x/i/telepathy/a/b/c/s512.png",
])
def test_unparseable_paths_are_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        parse_path(path, CAT)


def test_ct_preset_is_an_input_alias() -> None:
    a = canonicalize_imaging({"instrument": "ct-64-slice", "phantom": "shepp-logan",
                              "preset": "lung"}, CAT)
    b = canonicalize_imaging({"instrument": "ct-64-slice", "phantom": "shepp-logan",
                              "window": 1500, "level": -600}, CAT)
    assert a == b and a.path() == b.path()


def test_version_changes_with_the_data(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    from micro.core.catalog import default_data_dir

    root = Path(str(tmp_path)) / "data"
    shutil.copytree(default_data_dir(), root, ignore=shutil.ignore_patterns("images"))
    p = root / "stains" / "gram.json"
    d = json.loads(p.read_text())
    d["description"] += " (edited)"
    p.write_text(json.dumps(d))
    other = Catalog.load(root)
    a = canonicalize_microscope(BASE, CAT)
    b = canonicalize_microscope(BASE, other)
    assert a.version != b.version and len(a.version) == 10


def test_quantization_spec_is_json_and_complete() -> None:
    spec = json.loads(json.dumps(quantization_spec()))
    names = [p["name"] for p in spec["microscope"]]
    assert names == [p.name for p in MICROSCOPE_PARAMS]
    for p in spec["microscope"]:
        if p["kind"] == "number":
            assert p["step"] > 0 and p["lo"] < p["hi"] and isinstance(p["decimals"], int)
    assert set(spec["imaging"]) >= {"xray", "ct", "mri", "ultrasound", "pet", "spect"}
    assert math.isclose(spec["ct_presets"]["brain"][0], 80)

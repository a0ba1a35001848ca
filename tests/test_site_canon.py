"""The browser's canonicalizer (site_src/static/js/canon.js) under Node agrees with Python's
canonicalize_microscope / canonicalize_imaging on thousands of random requests: the same path
for every valid request, the same offending field, message and allowed values for every invalid
one. Both interpret the same rules (micro.core.rules), served to the browser in
quantization.json."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from micro.core.catalog import default_catalog
from micro.core.errors import MicroError
from micro.core.models import MODES, ImagingInstrument, MicroscopeInstrument
from micro.core.params import (
    CT_PRESETS,
    IMAGING_PARAMS,
    MICROSCOPE_PARAMS,
    MRI_PRESETS,
    Choice,
    Number,
    fmt_plain,
)
from micro.core.requests import canonicalize_imaging, canonicalize_microscope
from micro.core.rules import quantization_spec
from micro.core.version import render_version
from micro.site.build import catalog_json

CANON_JS = Path(__file__).resolve().parents[1] / "site_src" / "static" / "js" / "canon.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

RUNNER = """
import { readFileSync } from "node:fs";
import * as canon from "./canon.mjs";
const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ctx = { spec: input.spec, catalog: input.catalog, version: input.version };
const out = input.cases.map(([kind, params]) => {
  try {
    const r = kind === "m" ? canon.canonicalizeMicroscope(params, ctx) : canon.canonicalizeImaging(params, ctx);
    return ["ok", r.path];
  } catch (e) {
    if (e instanceof canon.CanonError) return ["err", e.field, e.message, e.allowed];
    return ["crash", String(e && e.stack || e)];
  }
});
const plain = input.plain.map((v) => canon.fmtPlain(v));
const texts = input.texts.map(([i, v]) => canon.numberText(input.spec.microscope[i], v));
process.stdout.write(JSON.stringify({ out, plain, texts }));
"""


def _number_raw(rng: random.Random, p: Number, lo: float | None = None,
                hi: float | None = None) -> Any:
    lo = p.lo if lo is None else lo
    hi = p.hi if hi is None else hi
    span = hi - lo
    r = rng.random()
    if r < 0.02:
        return rng.choice(["abc", "1_0", "nan", "-inf", " ", "0x10", "1e400", "--1"])
    value = rng.uniform(lo - 0.02 * span, hi + 0.02 * span)
    if r < 0.25:  # on or near the grid
        value = round(value / p.step) * p.step + rng.choice([0, 0, p.step / 2, -p.step / 2,
                                                              1e-12])
    if r < 0.35:
        value = float(round(value))
    shape = rng.random()
    if shape < 0.4:
        return value
    if shape < 0.55:
        return int(value)
    if shape < 0.7:
        return f" {value:.3f} "
    if shape < 0.85:
        return repr(value)
    return f"{value:.2e}"


def _choice_raw(rng: random.Random, p: Choice) -> Any:
    r = rng.random()
    if r < 0.08:
        return "bogus"
    if r < 0.2:
        return rng.choice(p.choices).upper()
    if p.name == "size" and r < 0.3:
        return int(rng.choice(p.choices))
    return rng.choice(p.choices)


def _maybe(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def microscope_case(rng: random.Random, cat: Any) -> dict[str, Any]:
    ids = cat.microscope_ids()
    params: dict[str, Any] = {}
    inst_id = rng.choice(ids)
    r = rng.random()
    if r < 0.9:
        params["instrument"] = inst_id
    elif r < 0.95:
        params["instrument"] = rng.choice(["", "nope", "Student-Compound"])
    inst = cat.instruments[inst_id]
    spec_id = rng.choice(sorted(cat.specimens))
    spec = cat.specimens[spec_id]
    r = rng.random()
    if r < 0.93:
        params["specimen"] = spec_id
    elif r < 0.97:
        params["specimen"] = "no-such-slide"
    mags = [o.magnification for o in inst.objectives]
    r = rng.random()
    if r < 0.6:
        m = rng.choice(mags)
        params["objective"] = rng.choice([m, fmt_plain(m), f"{m:.1f}", m + 1e-9])
    elif r < 0.75:
        params["objective"] = rng.choice([3.0, "7", "x"])
    r = rng.random()
    if r < 0.6:
        params["stain"] = rng.choice(spec.stains)
    elif r < 0.75:
        params["stain"] = rng.choice(sorted(cat.stains))
    elif r < 0.8:
        params["stain"] = "bad stain"
    r = rng.random()
    if r < 0.55:
        params["mode"] = rng.choice(inst.modes)
    elif r < 0.65:
        params["mode"] = rng.choice(MODES)
    elif r < 0.68:
        params["mode"] = "xray"
    if _maybe(rng, 0.1):
        params["format"] = rng.choice(["jpeg", "PNG", "webp", "gif", "npy"])
    for p in MICROSCOPE_PARAMS:
        if not _maybe(rng, 0.35):
            continue
        if isinstance(p, Number):
            if p.name in ("x_um", "y_um"):
                half = (spec.slide_width_um if p.name == "x_um" else spec.slide_height_um) / 2
                params[p.name] = _number_raw(rng, p, -half * 1.05, half * 1.05)
            elif p.name == "focus_um":
                params[p.name] = _number_raw(rng, p, -60, 60) if _maybe(rng, 0.8) else \
                    _number_raw(rng, p)
            else:
                params[p.name] = _number_raw(rng, p)
        else:
            params[p.name] = _choice_raw(rng, p)
    if _maybe(rng, 0.02):
        params["zoom"] = 2
    return params


def imaging_case(rng: random.Random, cat: Any) -> dict[str, Any]:
    all_imaging = cat.imaging_ids()
    rendered = [i for i in all_imaging if cat.instruments[i].modality in IMAGING_PARAMS]
    params: dict[str, Any] = {}
    r = rng.random()
    inst_id = rng.choice(rendered)
    if r < 0.92:
        params["instrument"] = inst_id
    elif r < 0.96 and len(rendered) < len(all_imaging):
        params["instrument"] = rng.choice(sorted(set(all_imaging) - set(rendered)))
    else:
        params["instrument"] = "nope"
    inst = cat.instruments[inst_id]
    assert isinstance(inst, ImagingInstrument)
    modality = inst.modality
    fits = sorted(p for p, ph in cat.phantoms.items() if modality in ph.modalities)
    r = rng.random()
    if r < 0.85 and fits:
        params["phantom"] = rng.choice(fits)
    elif r < 0.95:
        params["phantom"] = rng.choice(sorted(cat.phantoms))
    ph = cat.phantoms.get(params.get("phantom", ""))
    if ph is not None and _maybe(rng, 0.3):
        params["variant"] = rng.choice(["default", "nope", *ph.variants])
    if _maybe(rng, 0.3):
        presets = {"ct": CT_PRESETS, "mri": MRI_PRESETS}.get(modality, {})
        params["preset"] = rng.choice([*presets, "bogus"]) if presets else "brain"
    if _maybe(rng, 0.1):
        params["format"] = rng.choice(["jpeg", "jpg", "PNG", "webp", "tiff"])
    if _maybe(rng, 0.2):
        params["size"] = rng.choice(["256", "512", 1024, "300"])
    if _maybe(rng, 0.05):
        params["modality"] = rng.choice([modality, "ct", "mri"])
    s: Any = inst.spec
    for p in IMAGING_PARAMS[modality]:
        if not _maybe(rng, 0.5):
            continue
        if isinstance(p, Choice):
            params[p.name] = _choice_raw(rng, p)
            continue
        lo, hi = p.lo, p.hi
        if p.name == "kvp" and modality == "ct" and _maybe(rng, 0.7):
            params[p.name] = rng.choice(s.kvp_options)
            continue
        if p.name == "kvp" and modality == "xray":
            lo, hi = s.kvp_range
        if p.name == "mas" and modality in ("xray", "ct"):
            lo, hi = s.mas_range
        if p.name == "dose_mbq" and modality in ("pet", "spect"):
            lo, hi = s.dose_mbq_range
        if p.name == "frequency_mhz" and modality == "ultrasound":
            lo, hi = s.frequency_mhz_range
        if p.name == "depth_cm" and modality == "ultrasound":
            lo, hi = 1.0, s.max_depth_cm
        params[p.name] = _number_raw(rng, p, lo, hi)
    return params


def python_result(kind: str, params: dict[str, Any], cat: Any) -> list[Any]:
    try:
        req = (canonicalize_microscope if kind == "m" else canonicalize_imaging)(params, cat)
    except MicroError as exc:
        allowed = exc.allowed
        if allowed is not None and not isinstance(allowed, str):
            allowed = list(allowed)
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return ["err", exc.field, message, allowed]
    return ["ok", req.path()]


def test_js_canonicalizer_matches_python(tmp_path: Path) -> None:
    cat = default_catalog()
    assert cat.specimens and cat.phantoms, "the catalog needs specimens and phantoms"
    rng = random.Random(20240607)
    cases: list[tuple[str, dict[str, Any]]] = []
    for _ in range(2500):
        cases.append(("m", microscope_case(rng, cat)))
    for _ in range(1500):
        cases.append(("i", imaging_case(rng, cat)))
    expected = [python_result(k, p, cat) for k, p in cases]
    # Every objective magnification in the catalog, and numbers around each grid.
    plain = sorted({o.magnification for i in cat.microscope_ids()
                    for o in cat.instruments[i].objectives  # type: ignore[union-attr]
                    if isinstance(cat.instruments[i], MicroscopeInstrument)})
    texts: list[tuple[int, float]] = []
    for i, p in enumerate(MICROSCOPE_PARAMS):
        if isinstance(p, Number):
            for _ in range(200):
                texts.append((i, p.quantize(rng.uniform(p.lo, p.hi))))
    doc = {"spec": quantization_spec(), "catalog": catalog_json(cat, render_version(cat)),
           "version": render_version(cat), "cases": cases, "plain": plain, "texts": texts}
    (tmp_path / "input.json").write_text(json.dumps(doc))
    shutil.copy(CANON_JS, tmp_path / "canon.mjs")
    (tmp_path / "runner.mjs").write_text(RUNNER)
    proc = subprocess.run([NODE, str(tmp_path / "runner.mjs"), str(tmp_path / "input.json")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    crashes = [(c, g) for c, g in zip(cases, got["out"], strict=True) if g[0] == "crash"]
    assert not crashes, crashes[:3]
    mismatches = [(c, e, g) for c, e, g in zip(cases, expected, got["out"], strict=True)
                  if e != g]
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"
    # The random cases exercise both outcomes of both kinds.
    kinds = {(k, e[0]) for (k, _), e in zip(cases, expected, strict=True)}
    assert kinds == {("m", "ok"), ("m", "err"), ("i", "ok"), ("i", "err")}
    ok = sum(1 for e in expected if e[0] == "ok")
    assert ok > len(cases) // 4
    assert got["plain"] == [fmt_plain(v) for v in plain]
    numbers = list(MICROSCOPE_PARAMS)
    assert got["texts"] == [numbers[i].text(v) for i, v in texts]  # type: ignore[union-attr]


RULE_RUNNER = """
import { readFileSync } from "node:fs";
import * as canon from "./canon.mjs";
const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = input.cases.map((params) => {
  try {
    return canon.run("microscope", params, input.spec).light_pct;
  } catch (e) {
    return e instanceof canon.CanonError ? "err" : String(e && e.stack || e);
  }
});
process.stdout.write(JSON.stringify(out));
"""


def test_js_follows_a_rule_added_as_data(tmp_path: Path) -> None:
    """One more collapse rule in the spec (as em's "detector and working distance take their
    defaults unless the mode is sem" would be) changes both canonicalizers alike, no code."""
    import copy

    from micro.core import canon
    from micro.core.rules import spec

    cat = default_catalog()
    rule = {"when": {"mode": {"ne": "fluorescence"}}, "set": {"light_pct": 60}}
    py_spec = dict(spec(cat))
    steps = copy.deepcopy(py_spec["requests"]["microscope"])
    steps[-1]["rules"].append(rule)
    py_spec["requests"] = {**py_spec["requests"], "microscope": steps}
    js_spec = quantization_spec(cat)
    js_spec["requests"]["microscope"][-1]["rules"].append(rule)
    rng = random.Random(7)
    cases = [microscope_case(rng, cat) for _ in range(400)]
    expected = []
    for params in cases:
        try:
            expected.append(canon.run("microscope", params, py_spec)["light_pct"])
        except MicroError:
            expected.append("err")
    (tmp_path / "input.json").write_text(json.dumps({"spec": js_spec, "cases": cases}))
    shutil.copy(CANON_JS, tmp_path / "canon.mjs")
    (tmp_path / "runner.mjs").write_text(RULE_RUNNER)
    proc = subprocess.run([NODE, str(tmp_path / "runner.mjs"), str(tmp_path / "input.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    lit = [v for v in expected if v not in ("err", 60)]
    assert lit, "some valid cases keep their own light (fluorescence)"

"""The request rules as data (micro.core.rules): the spec is JSON, covers the catalog, names
only parameters that exist, and a rule added as one data entry changes canonicalization with
no code (the Python interpreter here; tests/test_site_canon.py runs the JS one on the same
spec)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from micro.core import canon
from micro.core.catalog import default_catalog
from micro.core.errors import InvalidRequest
from micro.core.models import MicroscopeInstrument
from micro.core.params import IMAGING_PARAMS, MICROSCOPE_PARAMS
from micro.core.requests import canonicalize_microscope
from micro.core.rules import quantization_spec, spec

CAT = default_catalog()
BASE = {"instrument": "student-compound", "specimen": "cheek-cells", "objective": 40}


def _rules(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rule of a kind's steps, including the per-instrument setting checks."""
    out = [r for s in steps if s["op"] == "rules" for r in s["rules"]]
    for entry in spec(CAT)["tables"]["imagers"].values():
        out += [r for rules in entry["checks"].values() for r in rules]
    return out


def test_the_spec_is_json_and_every_step_is_known() -> None:
    doc = json.loads(json.dumps(quantization_spec(CAT)))
    assert set(doc["requests"]) == {"microscope", "imaging"}
    for steps in doc["requests"].values():
        assert {s["op"] for s in steps} <= set(canon.OPS)
    assert doc["microscope"] == [p.spec() for p in MICROSCOPE_PARAMS]


def test_rules_name_only_real_parameters_and_tests() -> None:
    ids = {"instrument", "objective", "specimen", "stain", "mode", "modality", "phantom"}
    names = ids | {p.name for p in MICROSCOPE_PARAMS} | {p.name for ps in IMAGING_PARAMS.values()
                                                         for p in ps}
    for kind, steps in spec(CAT)["requests"].items():
        for rule in _rules(steps):
            assert set(rule) in ({"when", "set"}, {"when", "error"}), (kind, rule)
            for test in rule["when"].values():
                assert set(test) <= set(canon._TESTS), (kind, rule)
            assert set(rule.get("set", {})) <= names, (kind, rule)
            assert rule.get("error", {}).get("field", "view") in names, (kind, rule)
            refs = [r for r in rule["when"] if "." not in r]  # values the rule reads
            assert set(refs) <= names, (kind, rule)


def test_tables_cover_the_catalog() -> None:
    t = spec(CAT)["tables"]
    assert list(t["microscopes"]) == CAT.microscope_ids()
    assert sorted([*t["imagers"], *t["reference_only"]]) == CAT.imaging_ids()
    assert list(t["specimens"]) == sorted(CAT.specimens)
    for iid, entry in t["microscopes"].items():
        inst = CAT.instruments[iid]
        assert isinstance(inst, MicroscopeInstrument)
        assert [o["magnification"] for o in entry["objectives"]] == \
            [o.magnification for o in inst.objectives]
        assert entry["defaults"]["view"] in entry["views"]
    for sid, entry in t["specimens"].items():
        assert entry["x_um"][1] * 2 == pytest.approx(CAT.specimens[sid].slide_width_um)


def test_a_collapse_rule_is_one_data_entry() -> None:
    """Such as "detector and working distance take their defaults unless the mode is sem":
    one entry in the microscope rules, no code."""
    rules_spec = dict(spec(CAT))
    steps = copy.deepcopy(rules_spec["requests"]["microscope"])
    steps[-1]["rules"].append({"when": {"mode": {"ne": "fluorescence"}},
                               "set": {"light_pct": 60}})
    rules_spec["requests"] = {**rules_spec["requests"], "microscope": steps}
    dim = {**BASE, "instrument": "digital-inverted", "mode": "brightfield", "light_pct": 25}
    assert canonicalize_microscope(dim, CAT).light_pct == 25  # the shipped rules keep it
    assert canon.run("microscope", dim, rules_spec)["light_pct"] == 60
    got = canon.run("microscope", {**dim, "mode": "fluorescence"}, rules_spec)
    assert got["light_pct"] == 25


def test_an_error_rule_fills_its_message_from_the_request() -> None:
    with pytest.raises(InvalidRequest) as exc:
        canonicalize_microscope({**BASE, "x_um": 10**5}, CAT)
    half = CAT.specimens["cheek-cells"].slide_width_um / 2
    assert exc.value.field == "x_um"
    assert exc.value.message == "100000 µm is off the slide"
    assert exc.value.allowed == f"-{half:g} to {half:g} µm"

"""The render queries are typed models generated from the parameter specs: the OpenAPI
document lists exactly the canonicalizer's keys with the specs' bounds and choices, and a bad
value still gets the canonicalizer's own error (field and allowed values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgi_client import call

from micro.api import Settings, create_app
from micro.api.queries import imaging_query, microscope_query
from micro.core.catalog import default_catalog
from micro.core.errors import InvalidRequest
from micro.core.params import IMAGING_PARAMS, MICROSCOPE_PARAMS, Choice, Number
from micro.core.requests import MICROSCOPE_KEYS, canonicalize_microscope

MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("api")
    app = create_app(Settings(site_dir=tmp / "site", cache=str(tmp / "c")))
    out: dict[str, Any] = call(app, "GET", "/api/openapi.json").json()
    return out


def _params(doc: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}


def _schema(param: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional parameter's schema."""
    s = param["schema"]
    branches = [b for b in s.get("anyOf", [s]) if b.get("type") != "null"]
    assert len(branches) == 1
    return branches[0]


def test_microscope_query_parameters_are_the_specs(doc: dict[str, Any]) -> None:
    params = _params(doc, "/api/render/microscope")
    assert set(params) == set(MICROSCOPE_KEYS)
    assert all(p["in"] == "query" for p in params.values())
    assert {n for n, p in params.items() if p["required"]} == {"instrument", "specimen"}
    for spec in MICROSCOPE_PARAMS:
        s = _schema(params[spec.name])
        if isinstance(spec, Number):
            assert (s["type"], s["minimum"], s["maximum"]) == ("number", spec.lo, spec.hi)
        else:
            assert s["enum"] == list(spec.choices)
    cat = default_catalog()
    assert _schema(params["stain"])["enum"] == sorted(cat.stains)


def test_imaging_query_widens_bounds_across_modalities(doc: dict[str, Any]) -> None:
    params = _params(doc, "/api/render/imaging")
    kvp = [p for ps in IMAGING_PARAMS.values() for p in ps if p.name == "kvp"]
    s = _schema(params["kvp"])
    assert s["minimum"] == min(p.lo for p in kvp if isinstance(p, Number))
    assert s["maximum"] == max(p.hi for p in kvp if isinstance(p, Number))
    views = {c for ps in IMAGING_PARAMS.values() for p in ps
             if p.name == "view" and isinstance(p, Choice) for c in p.choices}
    assert set(_schema(params["view"])["enum"]) == views


def test_path_route_documents_its_signature_query(doc: dict[str, Any]) -> None:
    params = _params(doc, "/r/{path}")
    assert params["sig"]["in"] == "query" and not params["sig"]["required"]


def test_the_model_holds_the_canonical_request() -> None:
    cat = default_catalog()
    model = microscope_query(cat)
    q = model.model_validate({**MICRO, "objective": "40.0", "focus_um": "1.234",
                              "scale_bar": "OFF"})
    want = canonicalize_microscope({**MICRO, "objective": "40.0", "focus_um": "1.234",
                                    "scale_bar": "OFF"}, cat)
    assert q.request == want
    assert q.objective == 40.0 and q.focus_um == pytest.approx(1.25)  # type: ignore[attr-defined]
    assert q.size == "256" and q.scale_bar == "off"  # type: ignore[attr-defined]
    # the canonicalizer's error, not pydantic's: the field and the allowed range
    with pytest.raises(InvalidRequest) as err:
        model.model_validate({**MICRO, "light_pct": "101"})
    assert err.value.field == "light_pct" and "0 to 100" in str(err.value.allowed)
    with pytest.raises(InvalidRequest) as err:
        imaging_query(cat).model_validate({"instrument": "ct-64-slice",
                                           "phantom": "shepp-logan", "kvp": "5"})
    assert err.value.field == "kvp"


def test_bad_query_answers_as_before(tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "c")))
    r = call(app, "GET", "/api/render/microscope", params={**MICRO, "aperture": "2"})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "aperture" and body["allowed"] == "0.1 to 1 × NA_obj, step 0.05"
    r = call(app, "GET", "/api/render/microscope", params={**MICRO, "oil": "maybe"})
    assert r.status_code == 422 and r.json()["allowed"] == ["on", "off"]
    r = call(app, "GET", "/api/render/microscope", params={**MICRO, "focus_um": ""},
             follow_redirects=False)
    assert r.status_code == 308 and "/z0_" in r.headers["location"]

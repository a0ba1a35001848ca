"""Hardening under abuse (issue 19): each test reproduces an attack that worked before.

Work budget: a valid request that would draw tens of millions of structures (the dna-afm
plasmids on a 10× brightfield: 4–5 GB and 5–14 s before) is refused up front with a 422
naming the parameter to change, before any scene is built.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from asgi_client import call

from micro.api import Settings, create_app
from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import TooMuchWork
from micro.core.microscope import budget
from micro.core.microscope.setup import make_setup
from micro.core.render import render
from micro.core.requests import canonicalize_microscope


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def _dense(catalog: Catalog, specimen: str, copies: int) -> Catalog:
    """The catalog with one specimen's populations repeated `copies` times, 100× denser
    (a slide that asks for more structures than any real one: each population is capped
    by the lattice, so only many of them can exceed the budget)."""
    spec = catalog.specimens[specimen]
    pops = [p.model_copy(update={"density_per_mm2": p.density_per_mm2 * 100,
                                 "label": f"{p.label}-{k}"})
            for k in range(copies) for p in spec.populations]
    specimens = {**catalog.specimens, specimen: spec.model_copy(update={"populations": pops})}
    return dataclasses.replace(catalog, specimens=specimens, digest=catalog.digest + "-dense")


def test_budget_counts_what_generators_draw(catalog: Catalog) -> None:
    """The estimate grows with the field: 4× sees ~ (100/4)² times the structures of 100×."""
    counts = {}
    for obj in (4, 100):
        req = canonicalize_microscope({"instrument": "student-compound",
                                       "specimen": "gram-mixed", "objective": obj,
                                       "size": 512}, catalog)
        s = make_setup(req, catalog)
        counts[obj] = budget.estimate(s.specimen, s.window).stamps
    assert 200 < counts[4] / counts[100] < 1000


def test_over_budget_request_is_refused_before_rendering(catalog: Catalog) -> None:
    dense = _dense(catalog, "gram-mixed", 40)
    req = canonicalize_microscope({"instrument": "student-compound", "specimen": "gram-mixed",
                                   "objective": 4, "size": 1024}, dense)
    with pytest.raises(TooMuchWork) as err:
        render(req, dense)
    assert err.value.field == "objective"
    # the same slide at the top objective is within budget
    ok = canonicalize_microscope({"instrument": "student-compound", "specimen": "gram-mixed",
                                  "objective": 100, "size": 256}, dense)
    s = make_setup(ok, dense)
    assert budget.check(s).stamps < budget.MAX_STAMPS


def test_api_answers_422_naming_the_parameter(catalog: Catalog, tmp_path: Path) -> None:
    dense = _dense(catalog, "gram-mixed", 40)
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")),
                     catalog=dense)
    path = canonicalize_microscope({"instrument": "student-compound", "specimen": "gram-mixed",
                                    "objective": 4, "size": 1024}, dense).path()
    r = call(app, "GET", "/" + path)
    assert r.status_code == 422, r.text[:300]
    body: dict[str, Any] = json.loads(r.text)
    assert body["field"] == "objective" and "million" in body["error"]
    assert body["allowed"]
    assert not list((tmp_path / "cache").rglob("*.jpg"))


def test_dna_plasmids_on_a_10x_brightfield_are_refused(catalog: Catalog, tmp_path: Path
                                                       ) -> None:
    """The request that took 4–5 GB: ~300,000 plasmids × 64 segments in one 10× field."""
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")),
                     catalog=catalog)
    path = canonicalize_microscope({"instrument": "student-compound", "specimen": "dna-afm",
                                    "objective": 10, "size": 1024}, catalog).path()
    r = call(app, "GET", "/" + path)
    assert r.status_code == 422, r.text[:300]
    assert json.loads(r.text)["field"] == "objective"

"""Projection radiography: energy, scatter and quantum noise."""

from __future__ import annotations

import numpy as np
import pytest

import micro
from micro.core.catalog import default_catalog


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def _water(r):
    return r.info["tissue_transmission"]["water"]


def test_higher_kvp_transmits_more(cat):
    lo = micro.render_imaging(catalog=cat, instrument="digital-radiography",
                              phantom="water-cylinder", kvp=60, size=256)
    hi = micro.render_imaging(catalog=cat, instrument="digital-radiography",
                              phantom="water-cylinder", kvp=120, size=256)
    assert hi.info["effective_energy_kev"] > lo.info["effective_energy_kev"]
    assert _water(hi) > _water(lo)


def test_grid_removes_scatter(cat):
    kw = {"catalog": cat, "instrument": "digital-radiography", "phantom": "abdomen",
          "size": 256}
    on = micro.render_imaging(**kw, grid="on")
    off = micro.render_imaging(**kw, grid="off")
    # SF = 0.12 S / (0.7 P + 0.12 S): a 10:1 grid cuts the scatter fraction by a third or more
    assert on.info["scatter_fraction"] < 0.7 * off.info["scatter_fraction"]


def test_quantum_noise_scales_with_mas(cat):
    kw = {"catalog": cat, "instrument": "digital-radiography", "phantom": "water-cylinder",
          "size": 256, "kvp": 80}
    a = micro.render_imaging(**kw, mas=2)
    b = micro.render_imaging(**kw, mas=8)
    rel_a = a.info["noise_sigma"] / _water(a)
    rel_b = b.info["noise_sigma"] / _water(b)
    assert rel_a / rel_b == pytest.approx(2.0, rel=0.15)
    assert a.raw.dtype == np.float32 and a.info["raw_unit"].startswith("transmitted")

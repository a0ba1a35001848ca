"""Caches change speed, never pixels: a view rendered with every cache cold is byte-identical
to the same view rendered after its neighbours (stage moved a quarter field either way, the
next objective, another focus) filled the caches, and again from the scene cache."""

from __future__ import annotations

import numpy as np
import pytest
from views import recommended_request

from micro.core import memory
from micro.core.catalog import Catalog
from micro.core.microscope.pipeline import render_microscope_request, simulate
from micro.core.requests import MicroscopeRequest

SPECIMENS = ["skin-thick", "pond-water", "compact-bone", "crystals-polarized", "liver-he",
             "adipose"]


def _scene_arrays(req: MicroscopeRequest, catalog: Catalog) -> list[np.ndarray]:
    _, scene, _, _ = simulate(req, catalog)
    out: list[np.ndarray] = []
    for layer in scene.layers:
        out += [layer.amounts[c] for c in sorted(layer.amounts)]
        if layer.retard is not None:
            out += list(layer.retard)
    return out + [scene.labels[k] for k in sorted(scene.labels)]


@pytest.mark.parametrize("specimen", SPECIMENS)
def test_render_is_identical_cold_and_after_neighbours(catalog: Catalog, specimen: str
                                                       ) -> None:
    req = recommended_request(catalog, specimen, size=256)
    memory.clear()
    cold = render_microscope_request(req, catalog)
    cold_scene = _scene_arrays(req, catalog)
    memory.clear()
    fov_x, fov_y = cold.info["fov_um"]
    objectives = sorted(o.magnification for o in
                        catalog.instruments[req.instrument].objectives)  # type: ignore[union-attr]
    higher = [m for m in objectives if m > req.objective]
    neighbours = [req.replace(catalog, x_um=round(req.x_um + fov_x / 4, 1)),
                  req.replace(catalog, x_um=round(req.x_um - fov_x / 4, 1),
                              y_um=round(req.y_um + fov_y / 4, 1)),
                  req.replace(catalog, focus_um=1.0)]
    if higher:
        neighbours.append(req.replace(catalog, objective=higher[0]))
    for n in neighbours:
        render_microscope_request(n, catalog)
    warm = render_microscope_request(req, catalog)
    again = render_microscope_request(req, catalog)  # the scene now comes from the cache
    assert warm.image == cold.image
    assert again.image == cold.image
    for a, b in zip(cold_scene, _scene_arrays(req, catalog), strict=True):
        assert a.tobytes() == b.tobytes()

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


@pytest.mark.parametrize("rect", [False, True])
def test_thin_structures_by_rows_equal_square_stamps(catalog: Catalog, rect: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Needles, rods and bars are drawn row by row on their oriented bounding rectangle:
    the same amounts and retardance as square stamps (within float32 rounding), including
    small ones whose amount is conserved and ones cut by the image edge."""
    from micro.core.microscope import raster
    from micro.core.microscope.lattice import Window

    rng = np.random.default_rng(7)
    n = 300
    w = Window(0.0, 0.0, 0.25, 200, 160)
    args = dict(x_um=rng.uniform(-30, 30, n), y_um=rng.uniform(-25, 25, n),
                a_um=rng.uniform(0.05, 1.5, n), b_um=rng.uniform(0.05, 0.6, n),
                theta=rng.uniform(0, np.pi, n), half_len_um=rng.uniform(0.5, 20, n),
                amount=rng.uniform(0.3, 1.2, n))
    if rect:
        args["a_um"] = args["a_um"] + args.pop("half_len_um")

    def drawn(thin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        monkeypatch.setattr(raster, "THIN", thin)
        canvas = raster.Canvas(w, [0.0], catalog.structures)
        raster.draw(canvas, "crystal", rect=rect, orient="along", **args)  # type: ignore[arg-type]
        c2, s2 = canvas.retard[0]
        return canvas.amounts[(0, "crystal")], c2, s2

    by_rows, by_stamps = drawn(raster.THIN), drawn(1e9)
    assert by_rows[0].max() > 1.0  # the needles are there
    for a, b in zip(by_rows, by_stamps, strict=True):
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(b).max(), 1.0)

"""The shipped frontal projections of the 3-D phantoms are current and equal to the generator.

Projection radiography of a 3-D phantom uses a projection stored in the catalog
(data/phantoms/projections, written by `python -m micro.core.imaging.projections`); these tests
fail when anatomy.py changed and the files were not regenerated, or when a file's contents
differ from what the generator computes now.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from micro.core.catalog import default_catalog
from micro.core.imaging.anatomy import (
    anatomy,
    compute_frontal_paths,
    projection_file,
    stored_frontal_paths,
)

CAT = default_catalog()
THREE_D = sorted(p.id for p in CAT.phantoms.values() if p.anatomy is not None)


def _anatomy(pid: str):
    ph = CAT.phantoms[pid]
    return anatomy(ph.anatomy, tuple(t.id for t in ph.tissues), ph.seed)


@pytest.mark.parametrize("pid", THREE_D)
def test_stored_projection_is_current_and_matches_the_generator(pid: str) -> None:
    an = _anatomy(pid)
    assert projection_file(an).is_file(), "run python -m micro.core.imaging.projections"
    stored = stored_frontal_paths(an)
    assert stored is not None, ("stored projection is stale (anatomy.py changed): run "
                                "python -m micro.core.imaging.projections")
    fresh = compute_frontal_paths(an)
    assert stored.shape == fresh.shape == (len(an.tissues), an.projection_px, an.projection_px)
    np.testing.assert_allclose(stored, fresh, rtol=0, atol=1e-5)
    # path lengths are lengths: non-negative, and no ray crosses more than the body's extent
    assert stored.min() >= 0
    body = stored.sum(axis=0) - stored[an.tissues.index("air")]
    assert body.max() <= 2 * an.ap_extent_mm / 10 + 1e-3


def test_a_stored_projection_is_ignored_for_another_tissue_list() -> None:
    an = _anatomy(THREE_D[0])
    other = dataclasses.replace(an, tissues=(*an.tissues, "extra"))
    assert stored_frontal_paths(other) is None

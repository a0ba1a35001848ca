"""A build worker's renders: the same bytes whatever the BLAS thread count of the process (a
Dask worker runs one thread, a local worker or the API as many as there are cores), and a
shard's scene built once for the whole shard, even the thickest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from micro.core.catalog import Catalog
from micro.core.microscope import scene as scene_mod
from micro.core.render import render
from micro.core.requests import canonicalize_microscope, parse_path
from micro.core.version import render_version
from micro.site.plan import focus_stack
from micro.site.shards import DirectorySink, render_shard

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Views whose class amounts are summed into physical quantities by many classes at once; the
# TEM ones differed in their last bits between 1 and 2 BLAS threads when that sum was a BLAS
# matmul.
VIEWS = (
    dict(instrument="tem-120kv", objective=2000, specimen="tem-cell-ultrastructure",
         stain="uranyl-lead", mode="tem", focus_um=0.5),
    dict(instrument="tem-120kv", objective=10000, specimen="tem-cell-ultrastructure",
         stain="uranyl-lead", mode="tem", focus_um=-0.2),
    dict(instrument="student-compound", objective=40, specimen="liver-he", stain="he",
         mode="brightfield"),
)

SCRIPT = """
import hashlib, json, sys
from micro.core.render import render_microscope
for params in json.loads(sys.argv[1]):
    print(hashlib.sha256(render_microscope(**params).image).hexdigest())
"""


def _digests(threads: int) -> list[str]:
    import json

    env = {**os.environ, **dict.fromkeys(THREAD_VARS, str(threads))}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(VIEWS)], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two BLAS threads")
def test_renders_do_not_depend_on_the_blas_thread_count() -> None:
    one, two = _digests(1), _digests(2)
    assert len(one) == len(VIEWS)
    assert one == two


def test_a_worker_builds_the_thickest_scene_once_per_shard(catalog: Catalog,
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Pond water (nine layers) with its phase spectra outgrew the worker's scene cache and
    was rebuilt at every focus step; a shard now builds it once."""
    from micro.core import memory

    base = canonicalize_microscope(dict(instrument="research-upright", objective=10,
                                        specimen="pond-water", mode="phase-contrast"), catalog)
    shard = [r.path() for r in focus_stack(catalog, base, 1)]
    assert len(shard) == 3
    builds = []
    real = scene_mod._build

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scene_mod, "_build", counted)
    memory.clear(scene_mod.SCENES)
    from micro.site import shards

    shards._CATALOGS.clear()
    try:
        # catalog=None: the worker's own catalog and scene budget, as in a build
        result = render_shard(shard, DirectorySink(tmp_path), render_version(catalog))
    finally:
        scene_mod.set_cache_budget(None)
        shards._CATALOGS.clear()
    assert [p for p, _ in result.rendered] == shard
    assert len(builds) == 1
    for p in shard:  # what the API serves for the same key
        assert (tmp_path / p).read_bytes() == render(parse_path(p, catalog), catalog).image

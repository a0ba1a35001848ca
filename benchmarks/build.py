"""Build benchmark: where the CPU time of a `micro build` goes, image by image.

Renders a profile's shards in this one process (as one build worker would, in manifest order,
into a throw-away directory) and charges the CPU time (`time.process_time`) of every render
to its stages: scene generation, the contrast mode with its optics, lamp and detector, the
display mapping, encode, the info document, the file writes, and the rest of the shard loop
(parsing the path, the version check). Prints the breakdown per kind and overall, the slowest
shards and the first images (a cold worker), so a change to the build is measured in CPU
milliseconds per image, which a machine shared with other work does not distort as wall time
would.

    python -m benchmarks.build [--profile quick|default|full] [--every N] [--shards K]

`--every N` renders every N-th shard only (a quicker sample with the same mix).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGES = ("scene", "mode+optics", "lamp+detector", "display", "info", "encode",
          "imaging physics", "info json", "write", "other")


class Clock:
    """CPU seconds per stage; stages nest (an inner stage's time is not charged outside)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(stage)
            t = time.process_time()
            inner = dict(self.spent)
            try:
                return fn(*args, **kwargs)
            finally:
                own = time.process_time() - t
                nested = sum(self.spent[k] - inner.get(k, 0.0) for k in self.spent)
                self.spent[stage] += own - nested
                self.stack.pop()
        return timed

    def take(self) -> dict[str, float]:
        out = dict(self.spent)
        self.spent.clear()
        return out


def instrument(clock: Clock) -> None:
    """Wrap the stages where the pipeline looks them up (module globals)."""
    from micro.core import result as result_mod
    from micro.core.imaging import render as imaging_render
    from micro.core.microscope import pipeline
    from micro.site import shards

    pipeline.build_scene = clock.wrap("scene", pipeline.build_scene)  # type: ignore[assignment]
    for name, fn in list(pipeline.MODES.items()):
        pipeline.MODES[name] = clock.wrap("mode+optics", fn)
    pipeline.flatfield = _Proxy(pipeline.flatfield, {"lit": clock.wrap("lamp+detector",
                                                                      pipeline.flatfield.lit)})
    pipeline.camera = clock.wrap("lamp+detector", pipeline.camera)  # type: ignore[assignment]
    pipeline.eye = clock.wrap("lamp+detector", pipeline.eye)  # type: ignore[assignment]
    pipeline.afm_noise = clock.wrap("lamp+detector", pipeline.afm_noise)  # type: ignore[assignment]
    for name in ("finish", "to_linear_rgb", "scale_bar"):
        setattr(pipeline, name, clock.wrap("display", getattr(pipeline, name)))
    pipeline.microscope_info = clock.wrap("info", pipeline.microscope_info)  # type: ignore[assignment]
    pipeline.encode = clock.wrap("encode", pipeline.encode)  # type: ignore[assignment]
    imaging_render.encode = clock.wrap("encode", imaging_render.encode)  # type: ignore[assignment]
    original = imaging_render._renderer

    def renderer(modality: str) -> Any:
        return clock.wrap("imaging physics", original(modality))

    imaging_render._renderer = renderer  # type: ignore[assignment]
    result_mod.RenderResult.info_document = clock.wrap(  # type: ignore[method-assign]
        "info json", result_mod.RenderResult.info_document)
    shards.DirectorySink.put = clock.wrap("write", shards.DirectorySink.put)  # type: ignore[method-assign]
    shards.DirectorySink.get = clock.wrap("write", shards.DirectorySink.get)  # type: ignore[method-assign]


class _Proxy:
    def __init__(self, module: Any, overrides: dict[str, Any]) -> None:
        self._module = module
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._module, name)


def run(profile: str = "default", every: int = 1, limit: int | None = None) -> None:
    from micro.core.catalog import default_catalog
    from micro.core.version import render_version
    from micro.site.build import BuildConfig, plan_site
    from micro.site.shards import DirectorySink, render_shard, scene_groups, worker_catalog

    t_start = time.process_time()
    catalog = default_catalog()
    cfg = BuildConfig(profile=profile)
    plan, _, _ = plan_site(cfg, catalog)
    groups = scene_groups(list(plan.requests.values()))
    t_plan = time.process_time() - t_start
    picked = groups[::every][:limit]
    shards = [[r.path() for r in g] for g in picked]
    worker_catalog(None)
    version = render_version(catalog)
    clock = Clock()
    instrument(clock)
    total: dict[str, float] = defaultdict(float)
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    count: dict[str, int] = defaultdict(int)
    per_shard: list[tuple[float, int, str]] = []
    first: list[float] = []
    with tempfile.TemporaryDirectory(prefix="micro-bench-build-") as tmp:
        sink = DirectorySink(Path(tmp))
        t0, w0 = time.process_time(), time.perf_counter()
        for shard in shards:
            kind = "imaging" if "/i/" in shard[0] else "microscope"
            s0 = time.process_time()
            render_shard(shard, sink, version, None)
            spent = time.process_time() - s0
            stages = clock.take()
            stages["other"] = spent - sum(stages.values())
            for k, v in stages.items():
                total[k] += v
                by_kind[kind][k] += v
            count[kind] += len(shard)
            if len(first) < 100:
                first.extend([spent / len(shard)] * len(shard))
            per_shard.append((spent, len(shard), shard[0]))
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    n = sum(count.values())
    print(f"build: {profile} profile, {len(shards)} of {len(groups)} shards, {n} images "
          f"(plan {t_plan:.1f} s CPU)")
    print(f"  render CPU {cpu:.1f} s = {cpu / n * 1000:.1f} ms/image "
          f"(wall {wall:.1f} s, one process)")
    print(f"  first {len(first)} images: {sum(first) / max(1, len(first)) * 1000:.1f} ms/image")
    header = "".join(f"{k:>10}" for k in ("all", *count))
    print(f"  {'ms per image':<16}{header}")
    for stage in STAGES:
        row = [total[stage] / n] + [by_kind[k][stage] / count[k] for k in count]
        if any(v > 0 for v in row):
            print(f"  {stage:<16}" + "".join(f"{v * 1000:10.2f}" for v in row))
    print(f"  {'images':<16}{n:>10}" + "".join(f"{count[k]:>10}" for k in count))
    print("  slowest shards (CPU s, images, first path):")
    for s, k, p in sorted(per_shard, reverse=True)[:8]:
        print(f"    {s:6.2f} {k:3d} {p}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--shards", type=int, default=None)
    args = ap.parse_args()
    run(args.profile, args.every, args.shards)


if __name__ == "__main__":
    main()

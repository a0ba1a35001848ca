"""Microscope benchmark: median time of a 512² render (physics + encode) for every mode, the
same with the scene cache cold, and the peak memory of a 1024² render."""

from __future__ import annotations

import statistics
import time
import tracemalloc

from micro.core import memory
from micro.core.catalog import default_catalog
from micro.core.microscope import scene as scene_mod
from micro.core.microscope.pipeline import render_microscope_request
from micro.core.requests import canonicalize_microscope

CASES = [  # (mode, instrument, objective, specimen, stain)
    ("brightfield", "student-compound", 40, "liver-he", "he"),
    ("darkfield", "darkfield-microscope", 40, "gram-mixed", "none"),
    ("phase-contrast", "research-upright", 40, "cheek-cells", "none"),
    ("dic", "research-upright", 40, "cheek-cells", "none"),
    ("polarized", "research-upright", 20, "liver-he", "he"),
    ("fluorescence", "widefield-fluorescence", 40, "fluorescent-beads", "none"),
    ("confocal", "confocal-lsm", 63, "fluorescent-beads", "none"),
    ("two-photon", "two-photon", 25, "fluorescent-beads", "none"),
    ("light-sheet", "light-sheet", 20, "fluorescent-beads", "none"),
    ("tirf", "tirf", 100, "fluorescent-beads", "none"),
    ("sted", "sted-nanoscope", 100, "fluorescent-beads", "none"),
    ("sim", "sim-superres", 100, "fluorescent-beads", "none"),
    ("stereo", "stereo-zoom", 4, "usaf-1951", "none"),
    ("sem", "sem-tungsten", 10000, "gram-mixed", "none"),
    ("tem", "tem-120kv", 5000, "liver-he", "none"),
    ("afm", "afm", 10000, "gram-mixed", "none"),
]
REPEATS = 9


def _median_ms(fn, n: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run() -> None:
    cat = default_catalog()
    print("microscope: 512² render, physics + JPEG encode, median of "
          f"{REPEATS} (focus varies: scene cached, optics/noise/encode recomputed)")
    print(f"  {'mode':<15} {'instrument':<24} {'warm ms':>8} {'cold ms':>8}")
    for mode, inst, obj, spec, stain in CASES:
        base = canonicalize_microscope(dict(instrument=inst, objective=obj, specimen=spec,
                                            stain=stain, mode=mode, size=512), cat)
        if spec in cat.specimens and mode in cat.instruments[inst].modes:  # type: ignore[union-attr]
            render_microscope_request(base, cat)  # warm the OTF and scene caches
            warm = _median_ms(lambda i, b=base: render_microscope_request(
                b.replace(cat, focus_um=0.05 * (i + 1)), cat))

            def cold(i: int, b=base) -> None:  # type: ignore[no-untyped-def]
                memory.clear(scene_mod.SCENES)
                render_microscope_request(b.replace(cat, x_um=3.0 * (i + 1)), cat)

            cold_ms = _median_ms(cold, 5)
            print(f"  {mode:<15} {inst:<24} {warm:8.1f} {cold_ms:8.1f}")
    req = canonicalize_microscope(dict(instrument="student-compound", objective=40,
                                       specimen="liver-he", size=1024), cat)
    memory.clear(scene_mod.SCENES)
    tracemalloc.start()
    render_microscope_request(req, cat)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak memory of a 1024² brightfield render (cold scene): {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    run()

"""Child process of tests/test_work_bound.py: renders a list of microscope views in this
process and prints, per view, its wall time and the process's peak resident memory so far.

Run as `python -m` with a JSON list of request parameter dicts on stdin; prints one JSON
line per view: {"params": ..., "seconds": wall, "cpu_seconds": this process's CPU time
(what the render costs, whatever else the machine is doing), "peak_mb": ...}."""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    from micro.core.catalog import default_catalog
    from micro.core.microscope import scene
    from micro.core.microscope.pipeline import render_microscope_request
    from micro.core.requests import canonicalize_microscope

    scene.set_cache_budget(0)  # each view builds its own scene, as on a cold server
    cat = default_catalog()
    for params in json.loads(sys.stdin.read()):
        req = canonicalize_microscope(params, cat)
        t0, c0 = time.perf_counter(), time.process_time()
        render_microscope_request(req, cat)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"params": params, "seconds": round(dt, 3),
                          "cpu_seconds": round(cpu, 3), "peak_mb": round(peak, 1)}),
              flush=True)


if __name__ == "__main__":
    main()

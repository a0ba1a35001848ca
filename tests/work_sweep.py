"""Child process of tests/test_work_bound.py: renders a list of microscope views in this
process and prints, per view, its wall time and the process's peak resident memory so far.

Run as `python -m` with a JSON list of request parameter dicts on stdin; prints one JSON
line per view: {"params": ..., "seconds": wall, "cpu_seconds": this process's CPU time
(what the render costs, whatever else the machine is doing), "peak_mb": ...}."""

from __future__ import annotations

import json
import sys
import time


def peak_mb() -> float:
    """This process's own high-water resident memory (VmHWM). Not getrusage's ru_maxrss:
    Linux carries the parent's high-water mark across fork and exec into it, so a child of a
    large test process would report the parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    from micro.core.catalog import default_catalog
    from micro.core.errors import TooMuchWork
    from micro.core.microscope import scene
    from micro.core.microscope.pipeline import render_microscope_request
    from micro.core.requests import canonicalize_microscope

    scene.set_cache_budget(0)  # each view builds its own scene, as on a cold server
    cat = default_catalog()
    for params in json.loads(sys.stdin.read()):
        req = canonicalize_microscope(params, cat)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            render_microscope_request(req, cat)
        except TooMuchWork as exc:  # refused cleanly (a 422 naming the parameter): in bound
            print(json.dumps({"params": params, "refused": exc.field,
                              "cpu_seconds": round(time.process_time() - c0, 3),
                              "peak_mb": round(peak_mb(), 1)}), flush=True)
            continue
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = peak_mb()
        print(json.dumps({"params": params, "seconds": round(dt, 3),
                          "cpu_seconds": round(cpu, 3), "peak_mb": round(peak, 1)}),
              flush=True)


if __name__ == "__main__":
    main()

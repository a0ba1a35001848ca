"""Stage-pan benchmark: what a student dragging the slide waits for.

For every specimen's recommended view (instrument, objective, first mode, default stain) at
512² JPEG (the format the lab viewer fetches), after one warm render, the stage moves by about a quarter field at a time (a new x
or y each step, as a drag does), so every render needs a new scene. Reported per specimen:
median wall ms and median CPU ms (`time.process_time`) of the pan renders, and a warm focus
step (scene reused); then the medians across slides. The machine may be shared: CPU ms is
the figure to compare between runs (the floor is a 60 ms pan, 12 ms focus step).
"""

from __future__ import annotations

import statistics
import sys
import time

from micro.core.catalog import Catalog, default_catalog
from micro.core.microscope.pipeline import render_microscope_request
from micro.core.requests import MicroscopeRequest, canonicalize_microscope

STEPS = 6
"""Pan renders per specimen."""
MOVES = ((1, 0), (1, 0), (0, 1), (1, 0), (0, 1), (-1, 0), (0, 1), (1, 0))
"""The drag: quarter-field moves right, right, down, right, down, left, ..."""


def recommended(cat: Catalog, specimen: str) -> MicroscopeRequest:
    spec = cat.specimens[specimen]
    return canonicalize_microscope(
        {"instrument": spec.recommended.instrument, "specimen": specimen,
         "objective": spec.recommended.objective, "mode": spec.recommended.modes[0],
         "stain": spec.default_stain, "size": 512, "format": "jpg", "scale_bar": "off"}, cat)


def _timed(req: MicroscopeRequest, cat: Catalog) -> tuple[float, float, dict]:  # type: ignore[type-arg]
    w, c = time.perf_counter(), time.process_time()
    res = render_microscope_request(req, cat)
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000, res.info


def pan(cat: Catalog, specimen: str, steps: int = STEPS) -> tuple[float, float, float, float]:
    """(median wall ms, median CPU ms) of `steps` pan renders, and of 3 warm focus steps."""
    req = recommended(cat, specimen)
    _, _, info = _timed(req, cat)
    focus = [_timed(req.replace(cat, focus_um=0.2 * (k + 1)), cat)[:2] for k in range(3)]
    fov_x, fov_y = info["fov_um"]
    x, y = req.x_um, req.y_um
    walls, cpus = [], []
    for k in range(steps):
        dx, dy = MOVES[k % len(MOVES)]
        x, y = x + dx * fov_x / 4, y + dy * fov_y / 4
        wall, cpu, _ = _timed(req.replace(cat, x_um=round(x, 1), y_um=round(y, 1)), cat)
        walls.append(wall)
        cpus.append(cpu)
    return (statistics.median(walls), statistics.median(cpus),
            statistics.median(f[0] for f in focus), statistics.median(f[1] for f in focus))


def run(only: list[str] | None = None) -> None:
    cat = default_catalog()
    ids = only or sorted(cat.specimens)
    print(f"pan: recommended view of each specimen, 512² JPEG, {STEPS} quarter-field stage moves "
          "(new scene each); median ms")
    print(f"  {'specimen':<28} {'mode':<15} {'pan wall':>8} {'pan cpu':>8} "
          f"{'focus wall':>10} {'focus cpu':>9}")
    rows = []
    for sid in ids:
        spec = cat.specimens[sid]
        if spec.recommended.modes[0] not in cat.instruments[spec.recommended.instrument].modes:  # type: ignore[union-attr]
            continue
        wall, cpu, fwall, fcpu = pan(cat, sid)
        rows.append((wall, cpu, fwall, fcpu))
        print(f"  {sid:<28} {spec.recommended.modes[0]:<15} {wall:8.1f} {cpu:8.1f} "
              f"{fwall:10.1f} {fcpu:9.1f}", flush=True)
    if rows:
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        print(f"  {'median of ' + str(len(rows)) + ' slides':<44} {med[0]:8.1f} {med[1]:8.1f} "
              f"{med[2]:10.1f} {med[3]:9.1f}")


if __name__ == "__main__":
    run(sys.argv[1:] or None)

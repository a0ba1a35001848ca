"""`make bench` (`python -m benchmarks` from the repo root): every benchmark, one after another
(microscope, stage pan, imaging, API, load)."""

from __future__ import annotations

import importlib


def main() -> None:
    for name in ("benchmarks.microscope", "benchmarks.pan", "benchmarks.imaging",
                 "benchmarks.api", "benchmarks.load"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            print(f"{name}: not available")
            continue
        mod.run()
        print()


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark, one after another (microscope, imaging, API, load)."""

from __future__ import annotations

import importlib


def main() -> None:
    for name in ("micro.bench_microscope", "micro.bench_imaging", "micro.bench_api",
                 "micro.bench_load"):
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

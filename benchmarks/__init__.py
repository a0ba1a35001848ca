"""MICRO's benchmarks, run from the repo root: `make bench` (`python -m benchmarks`, all of them)
and `make loadtest` (`python -m benchmarks.load`). Not part of the installed package.

`harness` (servers on loopback) and `fakes` (remote services that fail) also serve the
reliability tests (pytest puts the repo root on `sys.path`: `pythonpath` in pyproject.toml)."""

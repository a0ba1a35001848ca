"""Shared by the site tests: one quick-profile build per test session (imported by each file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from micro.site.build import BuildConfig, BuildResult, build

_BUILT: dict[str, tuple[Path, BuildResult]] = {}


@pytest.fixture(scope="session")
def quick_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    """A quick-profile site (render API: same origin), built once however many files use it."""
    if "quick" not in _BUILT:
        out = tmp_path_factory.mktemp("site") / "site"
        _BUILT["quick"] = (out, build(BuildConfig(out=out, profile="quick", jobs=2)))
    return _BUILT["quick"]

"""Shared fixtures: the real catalog, loaded once."""

from __future__ import annotations

import pytest

from micro.core.catalog import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()

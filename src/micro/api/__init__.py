"""The render API (FastAPI): `create_app(settings)` serves the site, the cache and renders."""

from micro.api.app import create_app
from micro.api.settings import Settings

__all__ = ["Settings", "create_app"]

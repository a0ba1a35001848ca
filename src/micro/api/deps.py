"""FastAPI dependencies: what a route needs of its app (the service, the settings, the
catalog), read from `app.state` where `create_app` put them — no route closes over them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from micro.api.service import RenderService
from micro.api.settings import Settings
from micro.core.catalog import Catalog


def get_service(request: Request) -> RenderService:
    service: RenderService = request.app.state.service
    return service


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


ServiceDep = Annotated[RenderService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

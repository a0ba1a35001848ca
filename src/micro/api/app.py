"""The render API: `create_app(settings)` — static site first, then the cache, then render.

    GET  /r/<canonical path>            image bytes (site | cache hit | render on miss)
    GET  /r/<canonical stem>.json       the same render's info document (likewise)
    GET  /api/render/{microscope,imaging}?…   308 → the canonical /r/ path
    POST /api/render/{microscope,imaging}     {"image": "data:image/png;base64,…", "info"}
    GET  /api/{instruments,specimens,stains,phantoms}[/{id}], /api/health, /api/openapi.json
    GET  /docs                                Swagger UI (assets from a local package)
    *    /api/<anything else>                 404 JSON naming the API's routes
    GET  everything else                      the static site directory

The routes are in `micro.api.routes` (renders, catalog, meta), the error handlers in
`micro.api.handlers`; this module assembles one app. The same app runs under uvicorn
(`micro serve`) and in Lambda (Mangum). Settings are injected; nothing is read from the
environment here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from micro.api.docs import add_docs_routes
from micro.api.handlers import add_error_handlers, route_methods
from micro.api.middleware import EdgeMiddleware
from micro.api.routes import catalog as catalog_routes
from micro.api.routes import meta, renders
from micro.api.service import Renderer, RenderService, SiteFiles, default_renderer
from micro.api.settings import Settings
from micro.cache import Cache, GuardedCache, open_cache
from micro.core.catalog import Catalog, default_catalog
from micro.core.version import package_version

log = logging.getLogger("micro.api")

def _service(settings: Settings, renderer: Renderer | None, catalog: Catalog | None,
             cache: Cache | None) -> RenderService:
    cat = catalog or (Catalog.load(settings.data_dir) if settings.data_dir is not None
                      else default_catalog())
    max_bytes = settings.cache_max_mb * 2**20 if settings.cache_max_mb else None
    store = GuardedCache(cache if cache is not None else open_cache(settings.cache, max_bytes),
                         settings.cache_cooldown_s)
    return RenderService(settings, cat, store, renderer or default_renderer)


def create_app(settings: Settings, renderer: Renderer | None = None, *,
               catalog: Catalog | None = None, cache: Cache | None = None) -> FastAPI:
    """The render API over `settings` (site dir, cache, limits). `renderer` replaces the
    core renderer (tests of the plumbing); `catalog`/`cache` replace the loaded ones."""
    service = _service(settings, renderer, catalog, cache)
    cat = service.catalog

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.pool.start()  # a no-op the first time; reopens the pool after a shutdown
        yield
        service.pool.shutdown()

    app = FastAPI(title="MICRO render API", version=package_version(),
                  description="Physics-based microscope and medical-imaging renders. "
                              "Every image has one canonical URL under /r/.",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.catalog = cat
    app.state.service = service
    app.state.parse_path = renders.path_parser(cat)
    add_error_handlers(app)
    routers = [renders.router(cat), catalog_routes.router(cat), meta.router()]
    for router in routers:
        app.include_router(router)
    add_docs_routes(app)
    app.state.routes = [*app.router.routes, *(r for router in routers for r in router.routes)]
    _add_site_and_middleware(app, settings)
    return app


def _add_site_and_middleware(app: FastAPI, settings: Settings) -> None:
    """The static site under everything the routes did not take (JSON 404s for unknown
    /api/ paths), CORS when origins are allowed, and the edge middleware outermost."""
    routes = app.state.routes
    api_paths = sorted({r.path for r in routes
                        if isinstance(r, APIRoute) and r.path.startswith("/api/")})
    app.mount("/", SiteFiles(directory=settings.site_dir, html=True, check_dir=False,
                             api_paths=api_paths,
                             api_methods=functools.partial(route_methods, routes)), name="site")
    if settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                           allow_methods=["GET", "HEAD", "POST"],
                           allow_headers=["Content-Type", "If-None-Match"],
                           expose_headers=["ETag", "X-Micro-Cache", "X-Request-ID"],
                           max_age=600)
    # pages, scripts, styles and JSON (catalog.json is most of a page's weight) go out
    # compressed to clients that accept it; images and raw arrays are compressed already
    # or do not shrink, and are never touched
    app.add_middleware(GZipMiddleware, minimum_size=1024,
                       exclude_content_types=("image/jpeg", "image/png", "image/webp",
                                              "application/octet-stream",
                                              "text/event-stream"))
    app.add_middleware(EdgeMiddleware, settings=settings)

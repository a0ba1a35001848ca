"""The render API: `create_app(settings)` — static site first, then the cache, then render.

    GET  /r/<canonical path>            image bytes (site | cache hit | render on miss)
    GET  /r/<canonical stem>.json       the same render's info document (likewise)
    GET  /api/render/{microscope,imaging}?…   308 → the canonical /r/ path
    POST /api/render/{microscope,imaging}     {"image": "data:image/png;base64,…", "info"}
    GET  /api/{instruments,specimens,stains,phantoms}[/{id}], /api/health, /api/openapi.json
    GET  /docs                                Swagger UI (assets from a local package)
    *    /api/<anything else>                 404 JSON naming the API's routes
    GET  everything else                      the static site directory

The same app runs under uvicorn (`micro serve`) and in Lambda (Mangum). Settings are
injected; nothing is read from the environment here.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Match

from micro.api import schema
from micro.api.docs import add_docs_routes
from micro.api.errors import (
    RenderTimeout,
    UnsupportedMediaType,
    body_for,
    error_body,
    headers_for,
    status_for,
)
from micro.api.middleware import EdgeMiddleware
from micro.api.service import (
    Client,
    Renderer,
    RenderRequest,
    RenderService,
    Served,
    SiteFiles,
    default_renderer,
)
from micro.api.settings import Settings
from micro.cache import CACHE_CONTROL, Cache, GuardedCache, open_cache
from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import InvalidRequest, LimitExceeded, MicroError
from micro.core.models import MicroscopeInstrument
from micro.core.params import fmt_plain, to_number
from micro.core.requests import (
    canonicalize_imaging,
    canonicalize_microscope,
    is_info_path,
    parse_info_path,
    parse_path,
)
from micro.core.result import json_safe
from micro.core.version import package_version, render_version

log = logging.getLogger("micro.api")

REDIRECT_CACHE_CONTROL = "public, max-age=300"


# --------------------------------------------------------------------------- helpers

def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def image_response(request: Request, served: Served) -> Response:
    etag = '"' + hashlib.sha256(served.data).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Micro-Cache": served.state}
    inm = request.headers.get("if-none-match")
    if inm and _etag_matches(inm, etag):
        return Response(status_code=304, headers=headers)
    return Response(served.data, media_type=served.content_type, headers=headers)


def oversize_redirect(canonical: str, served: Served) -> Response:
    """An image too large for this platform's response (Lambda: 6 MB after base64) is
    answered from the cache: a redirect to its own canonical path, which the CDN's first
    origin (the bucket the render was just stored in) now serves. Not cached by the CDN, so
    it cannot loop; without a stored copy it is a 503 to retry, never a 502."""
    if served.state not in ("hit", "miss", "site"):
        raise RenderTimeout("this image is larger than a function response may be and the "
                            "cache could not store it; retry later", retry_after_s=5)
    return RedirectResponse("/" + canonical, status_code=307,
                            headers={"Cache-Control": "no-store",
                                     "X-Micro-Cache": served.state})


def check_time_left(request: Request, service: RenderService) -> None:
    """On Lambda: refuse up front a render that would outlast the invocation (a 503 with
    Retry-After, instead of a timeout that returns nothing and caches nothing)."""
    ctx = request.scope.get("aws.context")
    remaining = getattr(ctx, "get_remaining_time_in_millis", None)
    if remaining is None:
        return
    need_s = 1.0 + 2.0 * service.pool.stats()["avg_render_s"]
    left_s = remaining() / 1000.0
    if left_s < need_s:
        raise RenderTimeout(f"{left_s:.1f} s left in this invocation, a render takes about "
                            f"{need_s:.1f} s; retry", retry_after_s=1)


def single_query(request: Request) -> dict[str, str]:
    """Query parameters as a dict; a parameter given twice is an error naming it."""
    out: dict[str, str] = {}
    for k, v in request.query_params.multi_items():
        if k in out:
            raise InvalidRequest("given more than once", field=k[:40], allowed="one value")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


async def json_object(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaType("the body must be JSON", field="content-type",
                                   allowed=["application/json"])
    raw = await request.body()
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON", field="body",
                             allowed="a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object", field="body",
                             allowed="a JSON object") from None
    return data


def objective_for(magnification: Any, instrument: Any, cat: Catalog) -> float | None:
    """The objective an original-API `magnification` names: an objective's own
    magnification, or the total (objective × eyepiece × tube factor). None when the
    instrument is not a valid microscope (canonicalization then names that error)."""
    inst = cat.instruments.get(str(instrument)) if isinstance(instrument, str) else None
    if not isinstance(inst, MicroscopeInstrument):
        return None
    value = to_number(magnification, "magnification")

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))

    for o in inst.objectives:
        if close(value, o.magnification):
            return o.magnification
    totals = []
    if inst.eyepiece is not None:
        factor = inst.eyepiece.magnification * inst.tube_factor
        for o in inst.objectives:
            total = o.magnification * factor
            totals.append(total)
            if close(value, total):
                return o.magnification
    allowed = [fmt_plain(o.magnification) for o in inst.objectives]
    allowed += [fmt_plain(t) + " (total)" for t in totals]
    raise InvalidRequest(f"no {fmt_plain(value)}× objective or total magnification on "
                         f"{inst.id}", field="magnification", allowed=allowed)


def client_of(request: Request) -> Client:
    """Who asks (their address; behind a trusted proxy with `--proxy-headers`, the
    forwarded one) and a coroutine that returns once they have disconnected."""
    receive = request.receive

    async def gone() -> None:
        while True:  # the request's own (empty) body first, then a disconnect, if ever
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    return (request.client.host if request.client else None), gone


def _request_id(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


# --------------------------------------------------------------------------- the app

def create_app(settings: Settings, renderer: Renderer | None = None, *,
               catalog: Catalog | None = None, cache: Cache | None = None) -> FastAPI:
    """The render API over `settings` (site dir, cache, limits). `renderer` replaces the
    core renderer (tests of the plumbing); `catalog`/`cache` replace the loaded ones."""
    cat = catalog or (Catalog.load(settings.data_dir) if settings.data_dir is not None
                      else default_catalog())
    max_bytes = settings.cache_max_mb * 2**20 if settings.cache_max_mb else None
    store = GuardedCache(cache if cache is not None else open_cache(settings.cache, max_bytes),
                         settings.cache_cooldown_s)
    service = RenderService(settings, cat, store, renderer or default_renderer)

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

    # ------------------------------------------------------------------ errors
    async def micro_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MicroError)
        return Response(body_for(exc, _request_id(request)), status_code=status_for(exc),
                        media_type="application/json", headers=headers_for(exc))

    def route_methods(scope: Any) -> list[str]:
        """The methods of every route whose path matches (the site mount has none)."""
        return sorted({m for r in app.router.routes
                       if isinstance(r, BaseRoute) and r.matches(scope)[0] != Match.NONE
                       for m in (getattr(r, "methods", None) or ())})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        text = {404: "not found", 405: "method not allowed"}.get(exc.status_code,
                                                                    str(exc.detail)[:200])
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every route on this path, not only the first match
            methods = route_methods(request.scope)
            if methods:
                headers["Allow"] = ", ".join(methods)
        allowed = headers.get("Allow")
        return Response(error_body(text, None, allowed, _request_id(request)),
                        status_code=exc.status_code, media_type="application/json",
                        headers=headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(p) for p in first.get("loc", ())]
        field = loc[-1] if loc else None
        allowed: Any = (first.get("ctx") or {}).get("expected")
        if first.get("type") == "enum" and isinstance(allowed, str):
            allowed = re.findall(r"'([^']*)'", allowed)
        body = error_body(str(first.get("msg", "invalid request")), field, allowed,
                          _request_id(request))
        return Response(body, status_code=422, media_type="application/json")

    app.add_exception_handler(MicroError, micro_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    # ------------------------------------------------------------------ renders
    @functools.lru_cache(maxsize=4096)
    def parse(path: str) -> tuple[RenderRequest, str]:
        """Parsed request and canonical path; memoized (the catalog is immutable, so the
        answer for a path never changes; errors are not cached)."""
        if is_info_path(path):
            req = parse_info_path(path, cat)
            return req, req.info_path()
        req = parse_path(path, cat)
        return req, req.path()

    image_types: dict[str, dict[str, Any]] = {t: {} for t in (
        "image/jpeg", "image/png", "image/webp", "application/octet-stream",
        "application/json")}

    @app.get("/r/{path:path}", tags=["render"],
                   summary="An image by its canonical path, or its info at <stem>.json "
                           "(site, cache, or rendered)",
                   response_class=Response,
                   responses={200: {"content": image_types}, 304: {"description": "Not "
                              "modified"}, 308: {"description": "Non-canonical path"},
                              **schema.RENDER_ERRORS})
    async def get_render(path: str, request: Request) -> Response:
        req, canonical = parse("r/" + path)
        if canonical != "r/" + path:
            return RedirectResponse("/" + canonical, status_code=308,
                                    headers={"Cache-Control": REDIRECT_CACHE_CONTROL})
        service.check_limits(req)
        check_time_left(request, service)
        client = client_of(request)
        sig = request.query_params.get("sig")
        if canonical == req.info_path():
            return image_response(request, await service.serve_info(req, canonical, client,
                                                                    sig))
        served = await service.serve(req, canonical, client, sig)
        limit = settings.max_response_bytes
        if limit is not None and len(served.data) > limit:
            return oversize_redirect(canonical, served)
        return image_response(request, served)

    app.add_api_route("/r/{path:path}", get_render, methods=["HEAD"], include_in_schema=False)

    def redirect_to(req: RenderRequest) -> Response:
        service.check_limits(req)
        return RedirectResponse("/" + req.path(), status_code=308,
                                headers={"Cache-Control": REDIRECT_CACHE_CONTROL})

    mic_fields = schema.microscope_fields(cat)
    img_fields = schema.imaging_fields(cat)
    redirect_responses: dict[int | str, dict[str, Any]] = {
        308: {"description": "Redirect to the canonical /r/ path"}, **schema.REDIRECT_ERRORS}

    @app.get("/api/render/microscope", tags=["render"], response_class=Response,
             status_code=308, responses=redirect_responses,
             summary="Redirect a microscope query to its canonical image URL",
             openapi_extra={"parameters": schema.query_parameters(mic_fields)})
    async def microscope_query(request: Request) -> Response:
        return redirect_to(canonicalize_microscope(single_query(request), cat))

    @app.get("/api/render/imaging", tags=["render"], response_class=Response,
             status_code=308, responses=redirect_responses,
             summary="Redirect an imaging query to its canonical image URL",
             openapi_extra={"parameters": schema.query_parameters(img_fields)})
    async def imaging_query(request: Request) -> Response:
        return redirect_to(canonicalize_imaging(single_query(request), cat))

    def render_json(served: Served, req: RenderRequest) -> Response:
        limit = settings.max_response_bytes
        if limit is not None and len(served.data) * 4 // 3 > limit:
            raise LimitExceeded("the rendered PNG is larger than a response may be here",
                                field="size", allowed="a smaller size, or GET the "
                                f"canonical path /{req.path()}")
        body = {"image": "data:image/png;base64," + base64.b64encode(served.data).decode(),
                "info": json_safe(served.info or {}), "path": "/" + req.path()}
        return Response(json.dumps(body, ensure_ascii=False, allow_nan=False),
                        media_type="application/json",
                        headers={"X-Micro-Cache": served.state})

    post_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": schema.RenderJSON}, **schema.POST_ERRORS}

    @app.post("/api/render/microscope", tags=["render"], response_class=Response,
              responses=post_responses, summary="Render a microscope view (original API)",
              openapi_extra={"requestBody": schema.body_schema(
                  mic_fields, schema.magnification_field(cat))})
    async def microscope_post(request: Request) -> Response:
        params = await json_object(request)
        if "magnification" in params:
            mag = params.pop("magnification")
            if params.get("objective") not in (None, ""):
                raise InvalidRequest("give magnification or objective, not both",
                                     field="magnification", allowed="one of them")
            objective = objective_for(mag, params.get("instrument"), cat)
            if objective is not None:
                params["objective"] = objective
        params["format"] = "png"
        req = canonicalize_microscope(params, cat)
        service.check_limits(req)
        return render_json(await service.render_with_info(req, client_of(request)), req)

    @app.post("/api/render/imaging", tags=["render"], response_class=Response,
              responses=post_responses, summary="Render a medical image (original API)",
              openapi_extra={"requestBody": schema.body_schema(img_fields)})
    async def imaging_post(request: Request) -> Response:
        params = await json_object(request)
        params["format"] = "png"
        req = canonicalize_imaging(params, cat)
        service.check_limits(req)
        return render_json(await service.render_with_info(req, client_of(request)), req)

    # ------------------------------------------------------------------ catalog, health
    schema.add_catalog_routes(app, cat)

    @app.get("/api/health", tags=["meta"], response_model=schema.Health,
             responses=schema.errors())
    async def health() -> dict[str, Any]:
        reachable = await anyio.to_thread.run_sync(store.ping)
        return {"status": "ok", "version": package_version(),
                "render_version": render_version(cat), "catalog": cat.counts(),
                "cache": {"backend": store.name, "reachable": reachable, **store.health()},
                "renders": service.pool.stats()}

    add_docs_routes(app)

    # ------------------------------------------------------------------ site, middleware
    api_paths = sorted({r.path for r in app.routes
                        if isinstance(r, APIRoute) and r.path.startswith("/api/")})
    app.mount("/", SiteFiles(directory=settings.site_dir, html=True, check_dir=False,
                             api_paths=api_paths, api_methods=route_methods), name="site")
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
    return app

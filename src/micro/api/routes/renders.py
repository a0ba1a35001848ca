"""Render routes: GET /r/<canonical path> (image or info document, site → cache → render),
GET /api/render/{microscope,imaging}?… (308 to the canonical path), and the original POST
API answering a PNG data URL with its info.

(No `from __future__ import annotations`: FastAPI reads these annotations at runtime.)
"""

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from micro.api import queries, schema
from micro.api.deps import CatalogDep, ServiceDep, SettingsDep
from micro.api.errors import RenderTimeout, UnsupportedMediaType
from micro.api.queries import CanonicalQuery, PathQuery
from micro.api.service import Client, RenderRequest, RenderService, Served
from micro.cache import CACHE_CONTROL
from micro.core.catalog import Catalog
from micro.core.errors import InvalidRequest, LimitExceeded
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

REDIRECT_CACHE_CONTROL = "public, max-age=300"

PathParser = Callable[[str], tuple[RenderRequest, str]]


# --------------------------------------------------------------------------- helpers

def path_parser(cat: Catalog) -> PathParser:
    """`parse(path) -> (request, canonical path)` over `cat`, memoized (the catalog is
    immutable, so the answer for a path never changes; errors are not cached)."""

    @functools.lru_cache(maxsize=4096)
    def parse(path: str) -> tuple[RenderRequest, str]:
        if is_info_path(path):
            req = parse_info_path(path, cat)
            return req, req.info_path()
        req = parse_path(path, cat)
        return req, req.path()

    return parse


def get_parser(request: Request) -> PathParser:
    parser: PathParser = request.app.state.parse_path
    return parser


ParserDep = Annotated[PathParser, Depends(get_parser)]


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


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def objective_for(magnification: Any, instrument: Any, cat: Catalog) -> float | None:
    """The objective an original-API `magnification` names: an objective's own
    magnification, or the total (objective × eyepiece × tube factor). None when the
    instrument is not a valid microscope (canonicalization then names that error)."""
    inst = cat.instruments.get(str(instrument)) if isinstance(instrument, str) else None
    if not isinstance(inst, MicroscopeInstrument):
        return None
    value = to_number(magnification, "magnification")
    for o in inst.objectives:
        if _close(value, o.magnification):
            return o.magnification
    factor = (inst.eyepiece.magnification * inst.tube_factor
              if inst.eyepiece is not None else None)
    totals = [o.magnification * factor for o in inst.objectives] if factor else []
    for o, total in zip(inst.objectives, totals, strict=False):
        if _close(value, total):
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


def redirect_to(req: RenderRequest, service: RenderService) -> Response:
    service.check_limits(req)
    return RedirectResponse("/" + req.path(), status_code=308,
                            headers={"Cache-Control": REDIRECT_CACHE_CONTROL})


def render_json(served: Served, req: RenderRequest, limit: int | None) -> Response:
    if limit is not None and len(served.data) * 4 // 3 > limit:
        raise LimitExceeded("the rendered PNG is larger than a response may be here",
                            field="size", allowed="a smaller size, or GET the "
                            f"canonical path /{req.path()}")
    body = {"image": "data:image/png;base64," + base64.b64encode(served.data).decode(),
            "info": json_safe(served.info or {}), "path": "/" + req.path()}
    return Response(json.dumps(body, ensure_ascii=False, allow_nan=False),
                    media_type="application/json",
                    headers={"X-Micro-Cache": served.state})


# --------------------------------------------------------------------------- handlers

async def get_render(path: str, query: Annotated[PathQuery, Query()], request: Request,
                     service: ServiceDep, settings: SettingsDep, parse: ParserDep) -> Response:
    req, canonical = parse("r/" + path)
    if canonical != "r/" + path:
        return RedirectResponse("/" + canonical, status_code=308,
                                headers={"Cache-Control": REDIRECT_CACHE_CONTROL})
    service.check_limits(req)
    check_time_left(request, service)
    client = client_of(request)
    if canonical == req.info_path():
        return image_response(request, await service.serve_info(req, canonical, client,
                                                                query.sig))
    served = await service.serve(req, canonical, client, query.sig)
    limit = settings.max_response_bytes
    if limit is not None and len(served.data) > limit:
        return oversize_redirect(canonical, served)
    return image_response(request, served)


def query_endpoint(model: type[CanonicalQuery]) -> Any:
    """GET /api/render/<kind>?…: the query, canonicalized by its typed model, redirected to
    its canonical path. (The route's dependency `single_query` refuses a repeated parameter
    first: FastAPI solves dependencies before it validates the query.)"""

    async def render_query(query: Annotated[model, Query()],  # type: ignore[valid-type]
                           service: ServiceDep) -> Response:
        canonical: CanonicalQuery = query
        return redirect_to(canonical.request, service)

    return render_query


async def microscope_post(request: Request, service: ServiceDep, settings: SettingsDep,
                          cat: CatalogDep) -> Response:
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
    served = await service.render_with_info(req, client_of(request))
    return render_json(served, req, settings.max_response_bytes)


async def imaging_post(request: Request, service: ServiceDep, settings: SettingsDep,
                       cat: CatalogDep) -> Response:
    params = await json_object(request)
    params["format"] = "png"
    req = canonicalize_imaging(params, cat)
    service.check_limits(req)
    served = await service.render_with_info(req, client_of(request))
    return render_json(served, req, settings.max_response_bytes)


# --------------------------------------------------------------------------- the router

IMAGE_TYPES: dict[str, dict[str, Any]] = {t: {} for t in (
    "image/jpeg", "image/png", "image/webp", "application/octet-stream", "application/json")}
REDIRECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    308: {"description": "Redirect to the canonical /r/ path"}, **schema.REDIRECT_ERRORS}
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": schema.RenderJSON}, **schema.POST_ERRORS}


def router(cat: Catalog) -> APIRouter:
    """The render routes; their query parameters and bodies are documented from `cat` and the
    parameter specs (`micro.api.queries`)."""
    r = APIRouter(tags=["render"])
    r.add_api_route("/r/{path:path}", get_render, methods=["GET"],
                    summary="An image by its canonical path, or its info at <stem>.json "
                            "(site, cache, or rendered)",
                    response_class=Response,
                    responses={200: {"content": IMAGE_TYPES},
                               304: {"description": "Not modified"},
                               308: {"description": "Non-canonical path"},
                               **schema.RENDER_ERRORS})
    r.add_api_route("/r/{path:path}", get_render, methods=["HEAD"], include_in_schema=False)
    mic, img = queries.microscope_fields(cat), queries.imaging_fields(cat)
    r.add_api_route("/api/render/microscope", query_endpoint(queries.microscope_query(cat)),
                    methods=["GET"], response_class=Response, status_code=308,
                    responses=REDIRECT_RESPONSES, dependencies=[Depends(single_query)],
                    summary="Redirect a microscope query to its canonical image URL")
    r.add_api_route("/api/render/imaging", query_endpoint(queries.imaging_query(cat)),
                    methods=["GET"], response_class=Response, status_code=308,
                    responses=REDIRECT_RESPONSES, dependencies=[Depends(single_query)],
                    summary="Redirect an imaging query to its canonical image URL")
    mic_body = queries.body_model("MicroscopeBody",
                                  {**mic, "magnification": queries.MAGNIFICATION})
    r.add_api_route("/api/render/microscope", microscope_post, methods=["POST"],
                    response_class=Response, responses=POST_RESPONSES,
                    summary="Render a microscope view (original API)",
                    openapi_extra={"requestBody": json_body(mic_body)})
    r.add_api_route("/api/render/imaging", imaging_post, methods=["POST"],
                    response_class=Response, responses=POST_RESPONSES,
                    summary="Render a medical image (original API)",
                    openapi_extra={"requestBody": json_body(
                        queries.body_model("ImagingBody", img))})
    return r


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body of a route that reads its JSON itself, described by `model`."""
    return {"required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}}}

"""The app's exception handlers: every error, whatever raised it, answers with the same JSON
body (`micro.api.errors`): MicroErrors by the error table, Starlette's 404/405 (405 listing
every method of the path), and FastAPI's own validation errors (422)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from micro.api.errors import body_for, error_body, headers_for, status_for
from micro.core.errors import MicroError


def request_id(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def route_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of every route in `routes` whose path matches (the site mount has none).
    `create_app` keeps the app's routes, the included routers' among them, in
    `app.state.routes` (FastAPI may wrap an included router in one route of its own)."""
    return sorted({m for r in routes if getattr(r, "methods", None)
                   and r.matches(scope)[0] != Match.NONE for m in r.methods})  # type: ignore[attr-defined]


async def micro_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MicroError)
    return Response(body_for(exc, request_id(request)), status_code=status_for(exc),
                    media_type="application/json", headers=headers_for(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    text = {404: "not found", 405: "method not allowed"}.get(exc.status_code,
                                                                str(exc.detail)[:200])
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every route on this path, not only the first match
        methods = route_methods(request.app.state.routes, request.scope)
        if methods:
            headers["Allow"] = ", ".join(methods)
    allowed = headers.get("Allow")
    return Response(error_body(text, None, allowed, request_id(request)),
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
                      request_id(request))
    return Response(body, status_code=422, media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MicroError, micro_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)

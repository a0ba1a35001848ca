"""The edge of every request (pure ASGI, no per-request task overhead):

- a request id (Lambda's request id, else a safe incoming `X-Request-ID`, else a new one),
  echoed in `X-Request-ID` and in every error body;
- limits: path and query length (414), body size by Content-Length and while streaming (413);
  a path with a control character (NUL, line break...) is a 404 before any routing;
- security headers on every response (nosniff, Referrer-Policy, frame denial, a CSP chosen
  by path, never by content type — a 304 has none, and a browser applies the 304's headers
  to the page it cached: `default-src 'none'` for renders (/r/) and the API (/api/), the
  site's policy — no inline script — for everything else: pages, scripts, styles, data);
- the last line of defence: an unhandled exception is logged with its traceback and the
  request id, and the client gets a 500 JSON body with the id and nothing else.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from micro.api.errors import (
    BodyTooLarge,
    UriTooLong,
    body_for,
    error_body,
    headers_for,
    status_for,
)
from micro.api.pool import ClientGone
from micro.api.settings import Settings
from micro.core.errors import MicroError, NotFound

log = logging.getLogger("micro.api")

_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH_CHARS = 2048


def site_csp(api_origins: tuple[str, ...] = ()) -> str:
    extra = "".join(" " + o for o in api_origins)
    return ("default-src 'self'; "
            f"img-src 'self' data: blob:{extra}; "
            f"connect-src 'self'{extra}; "
            "script-src 'self'; style-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


API_CSP = "default-src 'none'; frame-ancestors 'none'"
API_PREFIXES = ("/r/", "/api/")
"""Paths whose answers are data, never a document: they get API_CSP on every status."""


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def request_id(scope: Scope) -> str:
    """The platform's request id (Lambda's) when there is one: a client never replaces it;
    else a client's `X-Request-ID` if it matches a short safe pattern; else a new one."""
    ctx = scope.get("aws.context")
    aws_id = getattr(ctx, "aws_request_id", None)
    if isinstance(aws_id, str) and _RID.match(aws_id):
        return aws_id
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _RID.match(text):
                return text
            break
    return uuid.uuid4().hex


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_query = settings.max_query_chars
        self.html_csp = site_csp(settings.api_origins).encode()
        self.common = [(b"x-content-type-options", b"nosniff"),
                       (b"referrer-policy", b"strict-origin-when-cross-origin"),
                       (b"x-frame-options", b"DENY")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        sender = _HeaderSender(send, self._headers(scope, rid))
        refused = self._refusal(scope)
        if refused is not None:
            await self._error(sender, refused, rid)
            return
        try:
            await self.app(scope, self._limited(receive), sender)
        except (ClientGone, ClientDisconnect):
            # the client left mid-request (mid-POST body, or before its render started):
            # one line, no traceback, nothing to send
            log.info("client went away, request %s: %s %s", rid, scope.get("method"),
                     scope.get("path", "")[:200])
        except MicroError as exc:
            if not sender.started:
                await self._error(sender, exc, rid)
        except Exception:
            log.exception("unhandled error, request %s: %s %s", rid, scope.get("method"),
                          scope.get("path", "")[:200])
            if not sender.started:
                await _send_json(sender, 500, error_body(
                    "internal error; the server logged it under this request id",
                    request_id=rid))

    def _headers(self, scope: Scope, rid: str) -> Callable[[MutableHeaders], None]:
        """What every response of this request gets: the common security headers, its
        request id, the CSP of an API answer or of a site page, and no-cache on HTML."""
        api = is_api_path(scope.get("path", ""))

        def add(headers: MutableHeaders) -> None:
            for k, v in self.common:
                headers.raw.append((k, v))
            headers.raw.append((b"x-request-id", rid.encode()))
            headers.raw.append((b"content-security-policy",
                                API_CSP.encode() if api else self.html_csp))
            if (not api and headers.get("content-type", "").startswith("text/html")
                    and "cache-control" not in headers):
                headers.raw.append((b"cache-control", b"no-cache"))

        return add

    def _refusal(self, scope: Scope) -> MicroError | None:
        """The error a request gets before the app sees it (too long a query or path, a
        control character in the path, a declared body over the limit), or None."""
        if len(scope.get("query_string", b"")) > self.max_query:
            return UriTooLong("query string too long", field="query",
                              allowed=f"at most {self.max_query} characters")
        if len(scope.get("path", "")) > MAX_PATH_CHARS:
            return UriTooLong("path too long", field="path",
                              allowed=f"at most {MAX_PATH_CHARS} characters")
        if _CONTROL.search(scope.get("path", "")):  # no route, file or id holds one
            return NotFound("control character in the path", field="path",
                            allowed="printable characters")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    return self._too_large()
                break
        return None

    def _limited(self, receive: Receive) -> Receive:
        """`receive` that raises BodyTooLarge once the body read exceeds the limit (a body
        sent without a content-length, or longer than it said)."""
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise self._too_large()
            return message

        return receive_limited

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge("request body too large", field="body",
                            allowed=f"at most {self.max_body} bytes")

    async def _error(self, send: Send, exc: MicroError, rid: str) -> None:
        extra = [(k.lower().encode(), v.encode()) for k, v in headers_for(exc).items()]
        await _send_json(send, status_for(exc), body_for(exc, rid), extra)


class _HeaderSender:
    """`send` that adds a request's headers to its response start, and remembers whether
    the response has started (after that, an error can only be logged)."""

    def __init__(self, send: Send, add: Callable[[MutableHeaders], None]):
        self.send = send
        self.add = add
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            message["headers"] = list(message.get("headers") or ())
            self.add(MutableHeaders(scope=message))
        await self.send(message)


async def _send_json(send: Send, status: int, body: bytes,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    raw: list[Any] = [(b"content-type", b"application/json"),
                      (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

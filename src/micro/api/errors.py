"""One table from domain errors to HTTP statuses, and the JSON error body.

Every error body is `{"error", "field", "allowed", "request_id"}`; no traceback, exception
class or file path ever reaches a client (they go to the server log with the request id).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from micro.core.errors import InvalidRequest, LimitExceeded, MicroError, NotFound, TooMuchWork

log = logging.getLogger("micro.api")


# --------------------------------------------------------------------------- edge errors

class BodyTooLarge(LimitExceeded):
    """Request body over the configured limit."""


class UriTooLong(LimitExceeded):
    """Path or query string over the configured limit."""


class QueueFull(LimitExceeded):
    """Every render worker is busy and the queue is full."""

    def __init__(self, message: str, *, retry_after_s: int, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class RenderTimeout(MicroError):
    """The render took longer than the configured timeout."""

    def __init__(self, message: str, *, retry_after_s: int, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class Forbidden(MicroError):
    """A render this deployment does not make for anyone who asks (unsigned)."""


class UnsupportedMediaType(InvalidRequest):
    """A body that is not JSON."""


STATUS: dict[type[MicroError], int] = {
    InvalidRequest: 422,
    UnsupportedMediaType: 415,
    NotFound: 404,
    Forbidden: 403,
    LimitExceeded: 413,
    TooMuchWork: 422,
    BodyTooLarge: 413,
    UriTooLong: 414,
    QueueFull: 429,
    RenderTimeout: 503,
}
"""The one table. Lookup walks the exception's MRO, so subclasses map by their nearest base."""


def status_for(exc: MicroError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(error: str, field: str | None = None, allowed: Any = None,
               request_id: str | None = None) -> bytes:
    return json.dumps({"error": error, "field": field, "allowed": allowed,
                       "request_id": request_id}, ensure_ascii=False).encode()


def body_for(exc: MicroError, request_id: str | None) -> bytes:
    d = exc.to_dict()
    return error_body(d["error"], d["field"], d["allowed"], request_id)


def headers_for(exc: MicroError) -> dict[str, str]:
    retry = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(int(retry))} if retry is not None else {}

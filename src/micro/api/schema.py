"""OpenAPI parts shared by the routes: the response models, the documented error responses
of every route (`errors`) and catalog ids as enums (an unknown id is a 422 by itself). The
render parameters are typed query models (`micro.api.queries`); the routes themselves are in
`micro.api.routes`.
"""

import enum
from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    field: str | None = None
    allowed: Any = None
    request_id: str | None = None


class RenderJSON(BaseModel):
    image: str
    """`data:image/png;base64,...`"""
    info: dict[str, Any]
    path: str
    """The canonical `/r/...` URL of the same image (as JPEG, PNG... per its extension)."""


class Health(BaseModel):
    status: str
    version: str
    render_version: str
    catalog: dict[str, int]
    cache: dict[str, Any]
    renders: dict[str, Any]


ERROR_TEXT = {
    404: "Not found (the body says which field and what exists)",
    413: "Request too large or too costly (body, or an image size over this server's limit)",
    414: "Path or query too long",
    415: "Body is not JSON",
    422: "Invalid value (the body names the field and what is allowed)",
    429: "Render queue full; see Retry-After",
    500: "Internal error (the body has the request id the server logged it under)",
    503: "Render timed out; see Retry-After",
}
EDGE_ERRORS = (413, 414, 500)
"""What the edge middleware may answer on any route: body too large, URI too long, and the
last-resort 500."""


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a route: `codes` (what the route itself returns)
    and the edge's, each with the JSON error body."""
    return {code: {"model": ErrorBody, "description": ERROR_TEXT[code]}
            for code in sorted({*codes, *EDGE_ERRORS})}


RENDER_ERRORS = errors(404, 422, 429, 503)
"""A render: a path that names nothing or a library image that is missing (404), a bad
value (422), a size over the limit (413), a full queue (429), a timeout (503)."""
REDIRECT_ERRORS = errors(422)
POST_ERRORS = errors(404, 415, 422, 429, 503)


def id_enum(name: str, ids: list[str]) -> Any:
    """A str Enum of catalog ids (plain str when there are none yet)."""
    if not ids:
        return str
    return enum.Enum(name, {i.replace("-", "_"): i for i in ids}, type=str)

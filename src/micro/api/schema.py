"""OpenAPI from the loaded catalog: ids become enums (an unknown id is a 422 by itself), the
render parameters are documented with their bounds from `micro.core.params`; the response
models and the documented error responses of every route (`errors`). The routes themselves
are in `micro.api.routes`.
"""

import enum
from typing import Any

from pydantic import BaseModel

from micro.core.catalog import Catalog
from micro.core.models import MODES
from micro.core.params import (
    CT_PRESETS,
    FORMATS,
    IMAGING_COMMON,
    IMAGING_PARAMS,
    MICROSCOPE_PARAMS,
    MRI_PRESETS,
    Number,
    Param,
)


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


def _param_schema(p: Param) -> dict[str, Any]:
    if isinstance(p, Number):
        return {"type": "number", "minimum": p.lo, "maximum": p.hi,
                "description": f"{p.doc} ({p.unit}, step {p.step:g})".replace(" (, ", " (")}
    return {"type": "string", "enum": list(p.choices), "description": p.doc}


def _merge(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """One schema for a parameter that differs by modality (bounds widened, choices joined)."""
    first = dict(schemas[0])
    for s in schemas[1:]:
        if first.get("type") != s.get("type"):
            return {"description": first.get("description", "")}
        if "enum" in s:
            first["enum"] = list(dict.fromkeys([*first["enum"], *s["enum"]]))
        else:
            first["minimum"] = min(first["minimum"], s["minimum"])
            first["maximum"] = max(first["maximum"], s["maximum"])
    return first


def microscope_fields(cat: Catalog) -> tuple[dict[str, dict[str, Any]], list[str]]:
    mags = sorted({o.magnification for i in cat.microscope_ids()
                   for o in cat.instruments[i].objectives})  # type: ignore[union-attr]
    props: dict[str, dict[str, Any]] = {
        "instrument": {"type": "string", "enum": cat.microscope_ids()},
        "specimen": {"type": "string", "enum": sorted(cat.specimens)},
        "objective": {"type": "number", "enum": mags,
                      "description": "Objective magnification (one on the instrument)."},
        "stain": {"type": "string", "enum": sorted(cat.stains)},
        "mode": {"type": "string", "enum": list(MODES)},
        "format": {"type": "string", "enum": list(FORMATS)},
    }
    for p in MICROSCOPE_PARAMS:
        props[p.name] = _param_schema(p)
    return props, ["instrument", "specimen"]


def imaging_fields(cat: Catalog) -> tuple[dict[str, dict[str, Any]], list[str]]:
    ids = [i for i in cat.imaging_ids()
           if cat.instruments[i].modality in IMAGING_PARAMS]  # type: ignore[union-attr]
    props: dict[str, dict[str, Any]] = {
        "instrument": {"type": "string", "enum": ids},
        "phantom": {"type": "string", "enum": sorted(cat.phantoms)},
        "variant": {"type": "string", "description": "'default' or one of the phantom's "
                    "variants."},
        "modality": {"type": "string", "enum": list(IMAGING_PARAMS)},
        "preset": {"type": "string", "enum": sorted({*CT_PRESETS, *MRI_PRESETS}),
                   "description": "CT window preset or MRI contrast preset."},
        "format": {"type": "string", "enum": list(FORMATS)},
    }
    for p in IMAGING_COMMON:
        props[p.name] = _param_schema(p)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for specs in IMAGING_PARAMS.values():
        for p in specs:
            by_name.setdefault(p.name, []).append(_param_schema(p))
    for name, schemas in by_name.items():
        props[name] = _merge(schemas)
    return props, ["instrument", "phantom"]


def query_parameters(fields: tuple[dict[str, dict[str, Any]], list[str]]) -> list[dict[str, Any]]:
    """Query parameters; an optional one given empty (`?focus_um=`, as HTML forms send it)
    takes its default, which `allowEmptyValue` says."""
    props, required = fields
    return [{"name": name, "in": "query", "required": name in required,
             **({} if name in required else {"allowEmptyValue": True}),
             "schema": {k: v for k, v in schema.items() if k != "description"},
             "description": schema.get("description", "")}
            for name, schema in props.items()]


def body_schema(fields: tuple[dict[str, dict[str, Any]], list[str]],
                extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    props, required = fields
    props = {**props, **(extra or {})}
    props.pop("format", None)  # POST always answers PNG
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": props,
        "additionalProperties": False}}}}


def magnification_field(cat: Catalog) -> dict[str, dict[str, Any]]:
    return {"magnification": {
        "type": "number", "exclusiveMinimum": 0,
        "description": "An objective's magnification or the total magnification "
                       "(objective × eyepiece × tube factor); instead of `objective`."}}

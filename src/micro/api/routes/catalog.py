"""Catalog routes: GET /api/<kind> (all entries) and /api/<kind>/{id} (one), for every kind
of `micro.core.catalog.KINDS`; precomputed JSON. The ids are an enum in the OpenAPI document
(an unknown id is a 422 by itself).

(No `from __future__ import annotations`: FastAPI reads these annotations at runtime, and
the enum types are created per app.)
"""

import enum
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from micro.api.schema import errors, id_enum
from micro.core.catalog import KINDS, Catalog
from micro.core.errors import NotFound

JSON_200: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}}}}


def router(cat: Catalog) -> APIRouter:
    r = APIRouter(tags=["catalog"])
    for kind in KINDS:
        entries = cat.entries(kind)
        dumped = {k: json.dumps(v.model_dump(mode="json"), ensure_ascii=False).encode()
                  for k, v in sorted(entries.items())}
        listing = b"[" + b",".join(dumped.values()) + b"]"
        id_type = id_enum(f"{kind.capitalize()[:-1]}Id", list(dumped))
        r.add_api_route(f"/api/{kind}", _list_endpoint(listing), methods=["GET"],
                        summary=f"All {kind}", response_class=Response,
                        responses={**JSON_200, **errors()})
        r.add_api_route(f"/api/{kind}/{{item_id}}", _one_endpoint(kind, dumped, id_type),
                        methods=["GET"], summary=f"One of the {kind}",
                        response_class=Response, responses={**JSON_200, **errors(404, 422)})
    return r


def _list_endpoint(listing: bytes) -> Any:
    async def list_entries() -> Response:
        return Response(listing, media_type="application/json")

    return list_entries


def _one_endpoint(kind: str, dumped: dict[str, bytes], id_type: Any) -> Any:
    async def one_entry(
            item_id: Annotated[id_type, Path(description="Catalog id")]) -> Response:
        key = item_id.value if isinstance(item_id, enum.Enum) else str(item_id)
        if key not in dumped:
            raise NotFound(f"no such {kind[:-1]}", field="id", allowed=list(dumped))
        return Response(dumped[key], media_type="application/json")

    return one_entry

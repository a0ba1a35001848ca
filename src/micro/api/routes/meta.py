"""Meta routes: GET /api/health (version, catalog counts, cache reachability, render pool).

(No `from __future__ import annotations`: FastAPI reads these annotations at runtime.)
"""

from typing import Any

import anyio
from fastapi import APIRouter

from micro.api import schema
from micro.api.deps import CatalogDep, ServiceDep
from micro.core.version import package_version, render_version


async def health(service: ServiceDep, cat: CatalogDep) -> dict[str, Any]:
    store = service.cache
    reachable = await anyio.to_thread.run_sync(store.ping)
    return {"status": "ok", "version": package_version(),
            "render_version": render_version(cat), "catalog": cat.counts(),
            "cache": {"backend": store.name, "reachable": reachable, **store.health()},
            "renders": service.pool.stats()}


def router() -> APIRouter:
    r = APIRouter(tags=["meta"])
    r.add_api_route("/api/health", health, methods=["GET"], response_model=schema.Health,
                    responses=schema.errors())
    return r

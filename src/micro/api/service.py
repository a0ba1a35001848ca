"""Site → cache → render, for one app: where an image's bytes come from.

Order: the static site directory (pre-rendered files), then the cache, then a render in the
bounded, single-flight pool (stored back in the cache). Cache failures never fail a render;
they only mark it `bypass`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.staticfiles import StaticFiles

from micro.api import signing
from micro.api.errors import Forbidden
from micro.api.pool import RenderPool
from micro.api.settings import Settings
from micro.cache import CacheUnavailable, GuardedCache
from micro.core.catalog import Catalog
from micro.core.errors import LimitExceeded
from micro.core.requests import ImagingRequest, MicroscopeRequest
from micro.core.result import RenderResult

RenderRequest = MicroscopeRequest | ImagingRequest
Renderer = Callable[[RenderRequest, Catalog], RenderResult]
Client = tuple[str | None, Callable[[], Awaitable[None]] | None]
"""Who asks for a render: their address (None: unknown) and a coroutine function that
returns when they disconnect."""


def default_renderer(req: RenderRequest, catalog: Catalog) -> RenderResult:
    from micro.core.render import render  # the renderers (NumPy/SciPy) load on first use

    return render(req, catalog)


@dataclass(frozen=True)
class Served:
    data: bytes
    content_type: str
    state: str  # site | hit | miss | bypass
    info: dict[str, Any] | None = None


class SiteFiles(StaticFiles):
    """StaticFiles that tolerates a site directory built after the server started."""

    async def check_config(self) -> None:
        return None


class RenderService:
    """Site → cache → single-flight render, for one app."""

    def __init__(self, settings: Settings, catalog: Catalog, cache: GuardedCache,
                 renderer: Renderer):
        self.settings = settings
        self.catalog = catalog
        self.cache = cache
        self.renderer = renderer
        self.site_root = Path(settings.site_dir).resolve()
        self.pool = RenderPool(settings.render_workers, settings.render_queue,
                               settings.render_timeout_s,
                               per_client=settings.render_per_client,
                               rate_per_s=settings.render_rate_per_client,
                               burst=settings.render_burst_per_client)

    def check_limits(self, req: RenderRequest) -> None:
        if req.size > self.settings.max_size_px:
            raise LimitExceeded(f"{req.size} px is over this server's limit", field="size",
                                allowed=f"at most {self.settings.max_size_px} px")
        raw_max = self.settings.max_raw_size_px
        if raw_max is not None and req.format == "npy" and req.size > raw_max:
            raise LimitExceeded(f"a {req.size} px raw array is over this server's limit",
                                field="size", allowed=f"at most {raw_max} px for .npy "
                                "(or an image format at any allowed size)")

    def _site_bytes(self, key: str) -> bytes | None:
        path = (self.site_root / key).resolve()
        if not path.is_relative_to(self.site_root) or not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _lookup(self, key: str) -> tuple[bytes | None, str]:
        """(bytes, 'site'|'hit') or (None, 'miss'|'bypass'). Blocking I/O: inline for a
        local directory cache, in a thread otherwise."""
        data = self._site_bytes(key)
        if data is not None:
            return data, "site"
        try:
            data = self.cache.get(key)
        except CacheUnavailable:
            return None, "bypass"
        return (data, "hit") if data is not None else (None, "miss")

    def _render_job(self, req: RenderRequest, use_cache: bool, key: str) -> Served:
        """Runs in a worker thread: re-check the cache (a job that just finished may have
        stored it), render, store. Cache failures only change the state to 'bypass'."""
        if use_cache:
            try:
                data = self.cache.get(key)
                if data is not None:
                    return Served(data, req.content_type, "hit")
            except CacheUnavailable:
                use_cache = False
        result = self.renderer(req, self.catalog)
        return Served(result.image, result.content_type, self._store(key, result, use_cache),
                      result.info)

    def _post_job(self, req: RenderRequest, key: str) -> Served:
        result = self.renderer(req, self.catalog)
        return Served(result.image, result.content_type, self._store(key, result, True),
                      result.info)

    def _store(self, key: str, result: RenderResult, use_cache: bool) -> str:
        if not use_cache:
            return "bypass"
        try:
            self.cache.put(key, result.image, result.content_type)
            return "miss"
        except CacheUnavailable:
            return "bypass"

    async def serve(self, req: RenderRequest, key: str, client: Client | None = None,
                    sig: str | None = None) -> Served:
        """`key` is `req.path()` (the caller has it already); `client` names who asks
        (fair share of the pool) and tells when they have gone (their job is dropped)."""
        if self.cache.local:  # a page-cache read: cheaper inline than a thread hop
            data, state = self._lookup(key)
        else:
            data, state = await anyio.to_thread.run_sync(self._lookup, key)
        if data is not None:
            return Served(data, req.content_type, state)
        if self.settings.render_signing_key is not None and not signing.valid(
                self.settings.render_signing_key, key, sig):
            raise Forbidden("this server renders on demand only signed views",
                            field="sig", allowed="the signature `micro build` or "
                            "`micro sign` made for this path")
        return await self.pool.run(key, lambda: self._render_job(req, state != "bypass", key),
                                   *(client or (None, None)))

    async def render_with_info(self, req: RenderRequest, client: Client | None = None
                               ) -> Served:
        key = req.path()
        if self.settings.render_signing_key is not None:
            raise Forbidden("this server renders on demand only signed views; GET the "
                            "canonical path with its signature", field="sig",
                            allowed=f"GET /{key}?sig=…")
        return await self.pool.run("info:" + key, lambda: self._post_job(req, key),
                                   *(client or (None, None)))

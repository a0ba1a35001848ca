"""Site → cache → render, for one app: where an image's bytes come from.

Order: the static site directory (pre-rendered files), then the cache, then a render in the
bounded, single-flight pool (stored back in the cache). Cache failures never fail a render;
they only mark it `bypass`.

A render's info document (`<stem>.json`) is served the same way. Every render stores both its
image and its info, so the info of an image just rendered is a cache hit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from micro.api import signing
from micro.api.errors import Forbidden
from micro.api.pool import RenderPool
from micro.api.settings import Settings
from micro.cache import CacheUnavailable, GuardedCache
from micro.core.catalog import Catalog
from micro.core.errors import LimitExceeded, NotFound
from micro.core.requests import ImagingRequest, MicroscopeRequest
from micro.core.result import INFO_CONTENT_TYPE, RenderResult, info_document

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
    """StaticFiles that tolerates a site directory built after the server started, and
    answers any path under /api/ that no route took with a JSON 404 (not the site's 404
    page), whatever the method."""

    def __init__(self, *args: Any, api_paths: list[str] | None = None,
                 api_methods: Callable[[Scope], list[str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api_paths = api_paths or []
        self.api_methods = api_methods

    async def check_config(self) -> None:
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            if self.api_methods is not None and self.api_methods(scope):
                raise HTTPException(405)  # a route has this path, not this method
            raise NotFound("no such API route", field="path", allowed=self.api_paths)
        await super().__call__(scope, receive, send)


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
        return Served(result.image, result.content_type, self._store(req, result, use_cache),
                      result.info)

    def _info_job(self, req: RenderRequest, use_cache: bool, key: str) -> Served:
        """Like `_render_job`, for the info document at `key` (`req.info_path()`)."""
        if use_cache:
            try:
                data = self.cache.get(key)
                if data is not None:
                    return Served(data, INFO_CONTENT_TYPE, "hit")
            except CacheUnavailable:
                use_cache = False
        result = self.renderer(req, self.catalog)
        return Served(result.info_document(), INFO_CONTENT_TYPE,
                      self._store(req, result, use_cache), result.info)

    def _post_job(self, req: RenderRequest, key: str) -> Served:
        result = self.renderer(req, self.catalog)
        return Served(result.image, result.content_type, self._store(req, result, True),
                      result.info)

    def _store(self, req: RenderRequest, result: RenderResult, use_cache: bool) -> str:
        """Store the image and its info document (the info second: its presence means the
        image is there too)."""
        if not use_cache:
            return "bypass"
        try:
            self.cache.put(req.path(), result.image, result.content_type)
            self.cache.put(req.info_path(), result.info_document(), INFO_CONTENT_TYPE)
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
        self._check_signature(key, sig)
        return await self.pool.run(key, lambda: self._render_job(req, state != "bypass", key),
                                   *(client or (None, None)))

    def _check_signature(self, key: str, sig: str | None) -> None:
        if self.settings.render_signing_key is not None and not signing.valid(
                self.settings.render_signing_key, key, sig):
            raise Forbidden("this server renders on demand only signed views",
                            field="sig", allowed="the signature `micro build` or "
                            "`micro sign` made for this path")

    async def serve_info(self, req: RenderRequest, key: str, client: Client | None = None,
                         sig: str | None = None) -> Served:
        """The info document of `req` (`key` is `req.info_path()`): site, cache, or render."""
        if self.cache.local:
            data, state = self._lookup(key)
        else:
            data, state = await anyio.to_thread.run_sync(self._lookup, key)
        if data is not None:
            return Served(data, INFO_CONTENT_TYPE, state)
        self._check_signature(key, sig)
        return await self.pool.run(key, lambda: self._info_job(req, state != "bypass", key),
                                   *(client or (None, None)))

    async def _lookup_async(self, key: str) -> tuple[bytes | None, str]:
        if self.cache.local:
            return self._lookup(key)
        return await anyio.to_thread.run_sync(self._lookup, key)

    async def render_with_info(self, req: RenderRequest, client: Client | None = None
                               ) -> Served:
        """The image and its info (the info document, as a dict) for the POST API: the same
        site → cache → render as GET, the same keys, and the same single flight."""
        key = req.path()
        who = client or (None, None)
        data, state = await self._lookup_async(key)
        if data is not None:
            info, _ = await self._lookup_async(req.info_path())
            if info is not None:
                return Served(data, req.content_type, state, json.loads(info))
        if self.settings.render_signing_key is not None:
            raise Forbidden("this server renders on demand only signed views; GET the "
                            "canonical path with its signature", field="sig",
                            allowed=f"GET /{key}?sig=…")
        served = await self.pool.run(key, lambda: self._render_job(req, state != "bypass", key),
                                     *who)
        if served.info is None:  # the image was in the cache by now, its info was not
            served = await self.pool.run("info:" + key, lambda: self._post_job(req, key), *who)
        assert served.info is not None
        return replace(served, info=json.loads(info_document(served.info)))

"""Call an ASGI app in-process (no server, no sockets), for tests that drive the API."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


def call(app: Any, method: str, url: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://micro.test") as client:
            return await client.request(method, url, **kw)

    return asyncio.run(go())

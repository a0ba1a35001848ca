"""Load and concurrency against real servers on loopback (issue 10), bounded in count and
time: `micro serve` in a subprocess for the single-flight burst and the mixed run, uvicorn in
a thread (with a renderer held on a gate) for the full queue.

The figures (p50/p99, peak RSS) are printed (`pytest -s` shows them) and asserted only where
they are properties: no 5xx, no connection error, every answer the right one, one render per
key, the server's memory under a bound. Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from benchmarks.harness import ServeProcess, mpath, serve_in_thread
from benchmarks.load import MANY_USERS, mixed_run, same_key_burst
from micro.api import Settings, create_app
from micro.cache import DirectoryCache
from micro.core.encode import encode
from micro.core.result import RenderResult

RSS_BOUND_MIB = 768
"""Peak RSS bound for the server after the burst and the mixed run. Measured about 230 MiB
on the 2-core reference machine (interpreter, NumPy/SciPy, the catalog, two render threads,
one 1024² render in flight); unbounded growth — renders or responses kept, a queue that
never drains — crosses it."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # Queue ≥ client concurrency: the mixed run can never fill it, so a 429 there is a bug.
    srv = ServeProcess(tmp_path_factory.mktemp("load"), env={"MICRO_RENDER_QUEUE": "32", **MANY_USERS})
    with srv:
        yield srv


def test_100_concurrent_requests_for_one_uncached_key_render_it_once(
        server: ServeProcess) -> None:
    path = mpath(focus_um=-5, size="1024")  # a render long enough for all 100 to join it
    before = server.health()["renders"]["jobs_started"]
    responses = asyncio.run(same_key_burst(server.url, path, 100))
    assert [r.status_code for r in responses] == [200] * 100
    assert len({r.content for r in responses}) == 1  # identical bytes for all
    assert {r.headers["etag"] for r in responses} == {responses[0].headers["etag"]}
    states = Counter(r.headers["x-micro-cache"] for r in responses)
    assert set(states) <= {"miss", "hit"} and states["miss"] >= 1, states
    assert server.health()["renders"]["jobs_started"] - before == 1  # exactly one render
    img = Image.open(io.BytesIO(responses[0].content))
    img.load()
    assert img.format == "JPEG" and img.width == 1024
    key = path.lstrip("/")
    entry_dir = Path(server.cache) / key
    # the image and its info document, and no temp file left
    info = entry_dir.name.rsplit(".", 1)[0] + ".json"
    assert sorted(p.name for p in entry_dir.parent.iterdir()) == sorted([entry_dir.name, info])
    assert DirectoryCache(server.cache).get(key) == responses[0].content
    print(f"\nsingle-flight: 100 concurrent GETs, 1 render, states {dict(states)}")


def test_mixed_load_has_no_5xx_no_connection_errors_and_bounded_memory(
        server: ServeProcess) -> None:
    load = mixed_run(server, total=2000, concurrency=32, hit_keys=16, miss_keys=100)
    print(f"\nmixed run: {load.requests} requests at concurrency {load.concurrency}: "
          f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, {load.rps:.0f} req/s, "
          f"statuses {dict(sorted(load.statuses.items()))}, "
          f"5xx {load.server_errors}, connection errors {load.connection_errors} "
          f"({load.retried} GETs retried), "
          f"server peak RSS {server.peak_rss_mib():.0f} MiB")
    assert load.requests >= 2000 and load.concurrency == 32
    assert load.connection_errors == 0
    assert load.retried <= 2  # a keep-alive race now and then, never a pattern
    assert load.server_errors == 0
    assert load.wrong == [], load.wrong[:10]  # right status, bytes, location, field, state
    assert len(load.latencies_ms) == load.requests
    kinds = load.by_kind
    assert kinds["miss"] == 100 and kinds["hit"] > 1000  # the plan's mix really ran
    assert {"bad-value", "bad-path", "too-long", "wrong-type", "redirect"} <= set(kinds)
    assert 429 not in load.statuses  # the queue (32) holds every concurrent request
    assert server.peak_rss_mib() < RSS_BOUND_MIB
    log = server.log_text()
    assert "Traceback" not in log and "unhandled error" not in log


# --------------------------------------------------------------------------- queue full

class Gate:
    """An injected renderer that counts its calls and holds them until released; it
    encodes a real (tiny) image."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, req: Any, catalog: Any) -> RenderResult:
        with self.lock:
            self.calls.append(req.path())
        self.release.wait(60)
        img = np.full((8, 8), 0.5, dtype=np.float32)
        return RenderResult(encode(img, req.format, img), req.content_type, {}, img)


async def wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def test_full_queue_answers_429_with_retry_after_then_recovers(tmp_path: Path) -> None:
    gate = Gate()
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache"),
                              render_workers=1, render_queue=2, render_timeout_s=120,
                              render_per_client=3, render_burst_per_client=1000),
                     # one client fills the whole pool here (fairness has its own tests)
                     renderer=gate)
    pool = app.state.service.pool
    held = [mpath(focus_um=60 + i) for i in range(3)]  # 1 running + 2 queued = the limit
    refused = [mpath(focus_um=70 + i) for i in range(40)]

    async def scenario(url: str) -> tuple[list[Any], list[Any], list[Any]]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            first = [asyncio.create_task(client.get(p)) for p in held]
            await wait_until(lambda: pool.stats()["inflight"] == 3, "a full queue")
            burst = list(await asyncio.gather(*(client.get(p) for p in refused),
                                              return_exceptions=True))
            joiner = asyncio.create_task(client.get(held[0]))  # same key: joins, not refused
            await wait_until(lambda: pool.waiting_on(held[0][1:]) == 2,
                             "a second waiter on a held key")
            gate.release.set()  # load drops
            done = list(await asyncio.gather(*first, joiner, return_exceptions=True))
            slots = asyncio.Semaphore(3)

            async def polite(p: str) -> httpx.Response:
                async with slots:
                    return await client.get(p)

            later = list(await asyncio.gather(*(polite(p) for p in refused),
                                              return_exceptions=True))
            return burst, done, later

    with serve_in_thread(app) as url:
        burst, done, later = asyncio.run(scenario(url))
    for r in (*burst, *done, *later):
        assert isinstance(r, httpx.Response), r  # no connection error anywhere
    assert [r.status_code for r in burst] == [429] * len(refused)
    for r in burst:
        assert int(r.headers["retry-after"]) >= 1
        body = r.json()
        assert body["error"] and body["request_id"] == r.headers["x-request-id"]
    assert [r.status_code for r in done] == [200] * 4
    assert [r.status_code for r in later] == [200] * len(refused)
    assert {r.headers["x-micro-cache"] for r in later} == {"miss"}
    assert sorted(gate.calls) == sorted(p[1:] for p in held + refused)  # each key once
    assert pool.stats()["inflight"] == 0

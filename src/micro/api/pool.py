"""Render pool: a bounded thread pool with single-flight per key.

- Renders run in worker threads, never on the event loop.
- Single-flight: concurrent callers with the same key share one job and its result.
- Bounded: at most `workers + queue` distinct keys in flight (running or waiting); beyond
  that `QueueFull` (429, with a Retry-After estimated from recent render times).
- Timeout: a caller waits at most `timeout_s` (`RenderTimeout`, 503). The job itself keeps
  its slot until it ends (a thread cannot be killed), so the bound stays honest, and its
  result still lands in the cache for the next request.
- Fair: one client (address) may have at most `per_client` distinct jobs in flight, and
  starts new ones at a bounded rate (a token bucket: `rate_per_s`, burst `burst`); beyond
  either, `QueueFull` (429) for that client while everyone else is served.
- Abandoned work is dropped: when every caller of a job that has not started yet has gone
  (disconnected), the job is cancelled and its slot freed.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from micro.api.errors import QueueFull, RenderTimeout

T = TypeVar("T")


class ClientGone(Exception):
    """Every caller of a job went away before it started; it was dropped."""


class TokenBuckets:
    """One token bucket per client: `rate_per_s` tokens a second up to `burst`. Bounded
    memory: the least recently seen clients are forgotten past `max_clients` (a forgotten
    client starts again with a full bucket, which only ever errs towards serving)."""

    def __init__(self, rate_per_s: float, burst: float, max_clients: int = 10_000):
        self.rate = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


class RenderPool:
    def __init__(self, workers: int, queue: int, timeout_s: float, *,
                 per_client: int | None = None, rate_per_s: float = 4.0,
                 burst: float = 40.0):
        self.workers = workers
        self.limit = workers + queue
        self.per_client = per_client if per_client is not None else max(1, self.limit // 2)
        self._buckets = TokenBuckets(rate_per_s, burst)
        self._owner: dict[str, str] = {}
        self._owned: dict[str, int] = {}
        self.timeout_s = timeout_s
        self._executor = self._new_executor()
        self._closed = False
        self._inflight: dict[str, Future[Any]] = {}
        self._waiters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._avg_s = 1.0  # exponentially weighted mean render time, for Retry-After
        self.jobs_started = 0

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="micro-render")

    def start(self) -> None:
        """Reopen after `shutdown`: an app may live through more than one ASGI lifespan
        (test clients, schemathesis, reloads), and must render in each."""
        with self._lock:
            if self._closed:
                self._executor = self._new_executor()
                self._closed = False

    # ------------------------------------------------------------------ introspection
    def stats(self) -> dict[str, Any]:
        with self._lock:
            # counts only: which paths others are rendering is nobody else's business
            return {"workers": self.workers, "limit": self.limit,
                    "per_client": self.per_client, "inflight": len(self._inflight),
                    "waiting": sum(self._waiters.values()),
                    "clients": len(self._owned),
                    "jobs_started": self.jobs_started, "avg_render_s": round(self._avg_s, 3)}

    def waiting_on(self, key: str) -> int:
        """Callers waiting for `key` (for tests and the operator, never served)."""
        with self._lock:
            return self._waiters.get(key, 0)

    def retry_after_s(self) -> int:
        with self._lock:
            backlog = len(self._inflight)
        return max(1, min(120, math.ceil(self._avg_s * backlog / self.workers)))

    # ------------------------------------------------------------------ work
    def _timed(self, fn: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            dt = time.perf_counter() - t0
            self._avg_s = 0.8 * self._avg_s + 0.2 * dt

    def _done(self, key: str, fut: Future[Any]) -> None:
        with self._lock:
            if self._inflight.get(key) is fut:
                del self._inflight[key]
                owner = self._owner.pop(key, None)
                if owner is not None:
                    n = self._owned.get(owner, 1) - 1
                    if n <= 0:
                        self._owned.pop(owner, None)
                    else:
                        self._owned[owner] = n

    def submit(self, key: str, fn: Callable[[], T], client: str | None = None) -> Future[T]:
        """Join the job for `key`, or start one; QueueFull when the pool is saturated or
        this client is over its share."""
        with self._lock:
            fut = self._inflight.get(key)
            if fut is None:
                if len(self._inflight) >= self.limit:
                    backlog = len(self._inflight)
                    retry = max(1, min(120, math.ceil(self._avg_s * backlog / self.workers)))
                    raise QueueFull("the render queue is full; retry later", field=None,
                                    allowed=f"{self.limit} renders in flight",
                                    retry_after_s=retry)
                if client is not None:
                    self._check_client(client)
                fut = self._executor.submit(self._timed, fn)
                self.jobs_started += 1
                self._inflight[key] = fut
                if client is not None:
                    self._owner[key] = client
                    self._owned[client] = self._owned.get(client, 0) + 1
                started = True
            else:
                started = False
        if started:  # outside the lock: a job already done runs the callback right here
            fut.add_done_callback(functools.partial(self._done, key))
        return fut

    def _check_client(self, client: str) -> None:
        """Under the lock: this client's share of the pool and its rate of new jobs."""
        if self._owned.get(client, 0) >= self.per_client:
            raise QueueFull("too many renders in flight from this client; retry when one "
                            "is done", field=None,
                            allowed=f"{self.per_client} renders in flight per client",
                            retry_after_s=max(1, math.ceil(self._avg_s)))
        wait = self._buckets.take(client)
        if wait > 0:
            raise QueueFull("this client is starting renders too fast; retry later",
                            field=None,
                            allowed=f"{self._buckets.rate:g} new renders a second per "
                                    f"client (bursts of {self._buckets.burst:g})",
                            retry_after_s=max(1, math.ceil(wait)))

    def _abandon(self, key: str, fut: Future[Any]) -> bool:
        """The last caller of `key` has gone: drop the job if it has not started."""
        with self._lock:
            if self._waiters.get(key, 0) > 0:
                return False
        # outside the lock: cancel() runs the done-callbacks (`_done` frees the slot) here
        return fut.cancel()

    async def run(self, key: str, fn: Callable[[], T], client: str | None = None,
                  gone: Callable[[], Awaitable[None]] | None = None) -> T:
        """Render `fn` under `key` (shared with concurrent callers) and wait for it.
        `gone()` returns when the caller has disconnected: a job nobody waits for any more
        is dropped if it has not started (ClientGone)."""
        fut = self.submit(key, fn, client)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: Future[Any]) -> None:
            try:
                loop.call_soon_threadsafe(_settle, waiter)
            except RuntimeError:  # loop already closed: nobody is waiting any more
                pass

        with self._lock:
            self._waiters[key] = self._waiters.get(key, 0) + 1
        watcher = asyncio.ensure_future(gone()) if gone is not None else None
        left = False
        try:
            fut.add_done_callback(wake)
            waits: set[asyncio.Future[Any]] = {waiter} if watcher is None else {waiter,
                                                                                 watcher}
            done, _ = await asyncio.wait(waits, timeout=self.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                if watcher is not None and watcher in done:
                    left = True
                else:
                    raise RenderTimeout(
                        f"the render took longer than {self.timeout_s:g} s; it continues in "
                        f"the background, retry later", retry_after_s=self.retry_after_s())
        finally:
            if watcher is not None:
                watcher.cancel()
            with self._lock:
                n = self._waiters.get(key, 1) - 1
                if n <= 0:
                    self._waiters.pop(key, None)
                else:
                    self._waiters[key] = n
        if left:
            self._abandon(key, fut)
            raise ClientGone(key)
        return fut.result()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=False, cancel_futures=True)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

"""Render pool: a bounded thread pool with single-flight per key.

- Renders run in worker threads, never on the event loop.
- Single-flight: concurrent callers with the same key share one job and its result.
- Bounded: at most `workers + queue` distinct keys in flight (running or waiting); beyond
  that `QueueFull` (429, with a Retry-After estimated from recent render times).
- Timeout: a caller waits at most `timeout_s` (`RenderTimeout`, 503). The job itself keeps
  its slot until it ends (a thread cannot be killed), so the bound stays honest, and its
  result still lands in the cache for the next request.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from micro.api.errors import QueueFull, RenderTimeout

T = TypeVar("T")


class RenderPool:
    def __init__(self, workers: int, queue: int, timeout_s: float):
        self.workers = workers
        self.limit = workers + queue
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
            return {"workers": self.workers, "limit": self.limit,
                    "inflight": len(self._inflight), "waiters": dict(self._waiters),
                    "jobs_started": self.jobs_started, "avg_render_s": round(self._avg_s, 3)}

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

    def submit(self, key: str, fn: Callable[[], T]) -> Future[T]:
        """Join the job for `key`, or start one; QueueFull when the pool is saturated."""
        with self._lock:
            fut = self._inflight.get(key)
            if fut is None:
                if len(self._inflight) >= self.limit:
                    backlog = len(self._inflight)
                    retry = max(1, min(120, math.ceil(self._avg_s * backlog / self.workers)))
                    raise QueueFull("the render queue is full; retry later", field=None,
                                    allowed=f"{self.limit} renders in flight",
                                    retry_after_s=retry)
                fut = self._executor.submit(self._timed, fn)
                self.jobs_started += 1
                self._inflight[key] = fut
                started = True
            else:
                started = False
        if started:  # outside the lock: a job already done runs the callback right here
            fut.add_done_callback(functools.partial(self._done, key))
        return fut

    async def run(self, key: str, fn: Callable[[], T]) -> T:
        """Render `fn` under `key` (shared with concurrent callers) and wait for it."""
        fut = self.submit(key, fn)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: Future[Any]) -> None:
            try:
                loop.call_soon_threadsafe(_settle, waiter)
            except RuntimeError:  # loop already closed: nobody is waiting any more
                pass

        with self._lock:
            self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            fut.add_done_callback(wake)
            try:
                await asyncio.wait_for(waiter, self.timeout_s)
            except TimeoutError:
                raise RenderTimeout(
                    f"the render took longer than {self.timeout_s:g} s; it continues in the "
                    f"background, retry later", retry_after_s=self.retry_after_s()) from None
        finally:
            with self._lock:
                n = self._waiters.get(key, 1) - 1
                if n <= 0:
                    self._waiters.pop(key, None)
                else:
                    self._waiters[key] = n
        return fut.result()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=False, cancel_futures=True)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

"""What `micro serve` adds to uvicorn against slow and idle connections, and log floods.

uvicorn (h11) times out a connection only between requests (keep-alive); a client that
connects and sends nothing, or trickles its headers or its body a byte at a time
(slowloris), holds a connection and a file descriptor for ever. `GuardedH11Protocol` gives
each request `header_timeout_s` to arrive whole from the moment its connection is idle,
and its body `body_timeout_s` more; past either the connection is closed. Production runs
behind nginx, whose `client_header_timeout`/`client_body_timeout` do the same (see
`infra/nginx/micro.conf`).

`RepeatFilter` keeps a log from filling a disk: a message repeated within `window_s` (say,
one traceback per failed `accept()` when file descriptors run out) is logged once, then
counted, and the count is reported with the next one that gets through.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = ""

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _watch(self) -> None:
        """Arm the deadline that fits where the client is in its request."""
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._phase != "headers":
                self._arm("headers", self.header_timeout_s)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.body_timeout_s)
        else:  # the request is in: the app and keep-alive take it from here
            self._disarm()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.transport.is_closing():
            self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    """The protocol class with these timeouts (uvicorn's `http=` takes a class)."""
    return type("GuardedH11", (GuardedH11Protocol,),
                {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s})


class RepeatFilter(logging.Filter):
    """Pass a (logger, message template) once per `window_s`; count the rest."""

    def __init__(self, window_s: float = 10.0, max_keys: int = 1024) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_keys = max_keys
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        with self._lock:
            last, dropped = self._seen.get(key, (-1e18, 0))
            if now - last < self.window_s:
                self._seen[key] = (last, dropped + 1)
                return False
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} [{dropped} more like this in the last " \
                         f"{self.window_s:g} s were not logged]"
        return True


def install_repeat_filter(window_s: float = 10.0) -> RepeatFilter:
    """On the handlers of the root logger and the loggers that can flood (asyncio's accept
    errors, uvicorn's, ours)."""
    flt = RepeatFilter(window_s)
    for name in ("", "asyncio", "uvicorn", "uvicorn.error", "uvicorn.access", "micro"):
        lg = logging.getLogger(name)
        lg.addFilter(flt)
        for h in lg.handlers:
            h.addFilter(flt)
    return flt

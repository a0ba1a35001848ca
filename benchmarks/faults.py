"""Faults thrown at real `micro serve` processes (issue 10), for `benchmarks.load`: a
truncated cache entry, a SIGKILL mid-render, S3 down, failing or hanging, a full render
queue, a render over the timeout, clients that hang up. Each returns whether the server
survived (kept answering, served whole images, no 5xx) and how. FakeS3 and the helpers
around it also serve tests/test_reliability_faults.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.fakes import FakeS3, closed_port_url, s3_env
from benchmarks.harness import HOST, IMAGE_MAGIC, ServeProcess, mpath


@dataclass
class Fault:
    name: str
    survived: bool
    detail: str


def _image_ok(r: httpx.Response) -> bool:
    return r.status_code == 200 and r.content.startswith(IMAGE_MAGIC)


def fault_corrupt_entry(root: Path) -> Fault:
    with ServeProcess(root) as srv:
        path = mpath(focus_um=7)
        first = httpx.get(srv.url + path, timeout=120)
        entry = Path(srv.cache) / path.lstrip("/")
        whole = entry.read_bytes()
        entry.write_bytes(whole[: len(whole) // 3])
        again = httpx.get(srv.url + path, timeout=120)
        ok = (_image_ok(again) and again.content == first.content
              and again.headers.get("x-micro-cache") == "miss" and entry.read_bytes() == whole)
        return Fault("truncated cache entry", ok,
                     f"re-rendered ({again.headers.get('x-micro-cache')}), entry replaced")


def fault_kill_mid_render(root: Path) -> Fault:
    path = mpath(focus_um=8, size="1024")
    srv = ServeProcess(root).start()
    try:
        def hit() -> None:
            try:
                httpx.get(srv.url + path, timeout=120)
            except httpx.TransportError:
                pass

        t = threading.Thread(target=hit, daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while srv.health()["renders"]["inflight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.kill()
        t.join(timeout=30)
    finally:
        srv.stop()
    from micro.cache import DirectoryCache

    key = path.lstrip("/")
    left = Path(srv.cache) / key
    whole_or_none = not left.exists() or DirectoryCache(srv.cache).get(key) is not None
    with ServeProcess(root) as again:
        r = httpx.get(again.url + path, timeout=120)
        r2 = httpx.get(again.url + path, timeout=120)
    ok = _image_ok(r) and whole_or_none and r2.content == r.content
    return Fault("server SIGKILLed mid-render", ok,
                 f"no partial entry; after restart: {r.headers.get('x-micro-cache')}, whole "
                 f"image")


def _s3_fault(root: Path, name: str, endpoint: str) -> Fault:
    with ServeProcess(root, cache="s3://micro-bench/renders",
                      env=s3_env(endpoint, root)) as srv:
        t0 = time.perf_counter()
        r = httpx.get(srv.url + mpath(focus_um=9), timeout=120)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        r2 = httpx.get(srv.url + mpath(focus_um=9.5), timeout=120)
        second_s = time.perf_counter() - t0
        logged = "cache read failed" in srv.log_text() or "cache write failed" in srv.log_text()
        t0 = time.perf_counter()
        health = srv.health()
        health_s = time.perf_counter() - t0
    ok = (_image_ok(r) and _image_ok(r2) and logged and health["cache"]["reachable"] is False
          and {r.headers.get("x-micro-cache"), r2.headers.get("x-micro-cache")} == {"bypass"})
    return Fault(name, ok, f"bypass in {first_s:.1f} s, then {second_s:.2f} s (cool-down); "
                           f"logged; /api/health {health_s:.1f} s")


def fault_s3_down(root: Path) -> Fault:
    return _s3_fault(root, "S3 down (connection refused)", closed_port_url())


def fault_s3_500(root: Path) -> Fault:
    with FakeS3("error") as fake:
        return _s3_fault(root, "S3 answering 500", fake.url)


def fault_s3_hang(root: Path) -> Fault:
    with FakeS3("hang") as fake:
        return _s3_fault(root, "S3 hanging (timeouts)", fake.url)


def fault_queue_full(root: Path, n: int = 8) -> Fault:
    paths = [mpath(focus_um=20 + i, size="1024") for i in range(n)]
    env = {"MICRO_RENDER_WORKERS": "1", "MICRO_RENDER_QUEUE": "1"}
    with ServeProcess(root, env=env) as srv:
        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as client:
                return list(await asyncio.gather(*(client.get(p) for p in paths)))

        first = asyncio.run(burst())
        refused = [p for p, r in zip(paths, first, strict=True) if r.status_code == 429]
        retry_ok = all(int(r.headers.get("retry-after", "0")) >= 1
                       for r in first if r.status_code == 429)
        with httpx.Client(base_url=srv.url, timeout=120) as client:
            later = [client.get(p) for p in refused]
    ok = (bool(refused) and retry_ok and all(r.status_code in (200, 429) for r in first)
          and all(_image_ok(r) for r in later))
    return Fault("render queue full", ok, f"{len(refused)}/{n} refused with 429 + "
                                          f"Retry-After; all served once load dropped")


def fault_timeout(root: Path) -> Fault:
    path = mpath(focus_um=30, size="1024")
    with ServeProcess(root, env={"MICRO_RENDER_TIMEOUT_S": "0.05"}) as srv:
        r = httpx.get(srv.url + path, timeout=120)
        deadline = time.monotonic() + 120
        while srv.health()["renders"]["inflight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        later = httpx.get(srv.url + path, timeout=120)
    ok = (r.status_code == 503 and int(r.headers.get("retry-after", "0")) >= 1
          and _image_ok(later) and later.headers.get("x-micro-cache") == "hit")
    return Fault("render over the timeout", ok, "503 + Retry-After; the render landed in "
                                                 "the cache for the next request")


def fault_client_aborts(root: Path, n: int = 6) -> Fault:
    with ServeProcess(root) as srv:
        for i in range(n):
            with socket.create_connection((HOST, srv.port)) as s:
                s.sendall(f"GET {mpath(focus_um=40 + i, size='512')} HTTP/1.1\r\n"
                          f"Host: x\r\n\r\n".encode())
        with socket.create_connection((HOST, srv.port)) as s:  # half a request line
            s.sendall(b"GET /r/abc")
        r = httpx.get(srv.url + mpath(focus_um=50), timeout=120)
        alive = srv.proc is not None and srv.proc.poll() is None
    return Fault("clients hanging up mid-render", _image_ok(r) and alive,
                 f"{n} aborted renders + 1 torn request; next request served")


FAULTS: tuple[Callable[[Path], Fault], ...] = (
    fault_corrupt_entry, fault_kill_mid_render, fault_s3_down, fault_s3_500, fault_s3_hang,
    fault_queue_full, fault_timeout, fault_client_aborts)


def run_faults(root: Path) -> Iterator[Fault]:
    for i, fn in enumerate(FAULTS):
        try:
            yield fn(root / f"fault-{i}")
        except Exception as exc:  # a fault that breaks the harness is a fault not survived
            yield Fault(fn.__name__.removeprefix("fault_"), False,
                        f"{type(exc).__name__}: {str(exc)[:200]}")

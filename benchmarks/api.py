"""Benchmark of the render API (issue 6): a real uvicorn server on loopback, a concurrent
keep-alive client, and the Lambda handler's cold import in a fresh interpreter.

    python -m benchmarks.api             (or `run()` from `make bench`)

Prints cache-hit GET p50/p99 and requests/s, render-on-miss p50, and the import time of
lambda/handler.py. Floors on the 2-core reference machine: hit p50 ≤ 5 ms, ≥ 500 req/s,
handler import ≤ 1.5 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer"}
MISS_KEYS = 8
HIT_REQUESTS = 4000
HIT_CONCURRENCY = 8
FLOORS = {"hit_p50_ms": 5.0, "hit_rps": 500.0, "import_s": 1.5}

_SERVER = (
    "import sys, uvicorn\n"
    "from micro.api import Settings, create_app\n"
    "uvicorn.run(create_app(Settings.from_env()), host=sys.argv[1], port=int(sys.argv[2]),\n"
    "            log_level='warning', access_log=False)\n"
)
_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
_CACHE_STATE = re.compile(rb"(?i)\r\nx-micro-cache: *([a-z]+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def _client(port: int, paths: list[str], count: int, offset: int,
                  latencies: list[float], states: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for i in range(count):
            path = paths[(offset + i) % len(paths)]
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            m = _CONTENT_LENGTH.search(head)
            await reader.readexactly(int(m.group(1)) if m else 0)
            latencies.append(time.perf_counter() - t0)
            status = head[9:12].decode()
            s = _CACHE_STATE.search(head)
            key = f"{status} {s.group(1).decode() if s else '-'}"
            states[key] = states.get(key, 0) + 1
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(port: int, paths: list[str], total: int,
                concurrency: int) -> tuple[list[float], float, dict[str, int]]:
    latencies: list[float] = []
    states: dict[str, int] = {}
    per = total // concurrency
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(port, paths, per, i, latencies, states)
                           for i in range(concurrency)))
    return latencies, time.perf_counter() - t0, states


def _get(url: str, timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            _get(f"http://{HOST}:{port}/api/health", timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start within 60 s")


def measure_server() -> dict[str, Any]:
    from micro.core.requests import canonicalize_microscope

    paths = ["/" + canonicalize_microscope({**MICRO, "focus_um": 0.5 * i}).path()
             for i in range(MISS_KEYS)]
    with tempfile.TemporaryDirectory(prefix="micro-bench-") as tmp:
        port = _free_port()
        env = {**os.environ, "MICRO_SITE_DIR": str(Path(tmp) / "site"),
               "MICRO_CACHE": str(Path(tmp) / "cache")}
        proc = subprocess.Popen([sys.executable, "-c", _SERVER, HOST, str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_up(port, proc)
            miss_s = []
            for p in paths:  # render on miss, one at a time (the server's real work)
                t0 = time.perf_counter()
                status, headers, _ = _get(f"http://{HOST}:{port}{p}")
                miss_s.append(time.perf_counter() - t0)
                if status != 200 or headers.get("x-micro-cache") != "miss":
                    raise RuntimeError(f"expected a miss, got {status} "
                                       f"{headers.get('x-micro-cache')}")
            asyncio.run(_load(port, paths, 400, HIT_CONCURRENCY))  # warm-up
            lat1, _, _ = asyncio.run(_load(port, paths, 1000, 1))
            lat, wall, states = asyncio.run(_load(port, paths, HIT_REQUESTS, HIT_CONCURRENCY))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "miss_p50_ms": statistics.median(miss_s) * 1000, "miss_n": len(miss_s),
        "hit_c1_p50_ms": _percentile(lat1, 50) * 1000,
        "hit_p50_ms": _percentile(lat, 50) * 1000, "hit_p99_ms": _percentile(lat, 99) * 1000,
        "hit_rps": len(lat) / wall, "hit_n": len(lat), "hit_states": states,
        "concurrency": HIT_CONCURRENCY,
    }


def measure_import(repeats: int = 3) -> dict[str, float]:
    """Cold import of lambda/handler.py (module exec incl. create_app) in fresh interpreters,
    configured as in Lambda (S3 cache; boto3 client created on first use)."""
    handler = Path(__file__).resolve().parents[1] / "lambda" / "handler.py"
    code = (
        "import time, importlib.util, json\n"
        "t0 = time.perf_counter()\n"
        f"spec = importlib.util.spec_from_file_location('handler', {str(handler)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(json.dumps({'import_s': time.perf_counter() - t0}))\n"
    )
    env = {**os.environ, "MICRO_CACHE": "s3://micro-bench/renders",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1"}
    inner, outer = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, timeout=120)
        outer.append(time.perf_counter() - t0)
        inner.append(json.loads(out.stdout.strip().splitlines()[-1])["import_s"])
    return {"import_s": statistics.median(inner), "process_s": statistics.median(outer)}


def run() -> None:
    server = measure_server()
    imp = measure_import()

    def verdict(ok: bool) -> str:
        return "ok" if ok else "BELOW FLOOR"

    print("render API (uvicorn on loopback, 1 process; keep-alive client in the same machine)")
    print(f"  render on miss   p50 {server['miss_p50_ms']:8.1f} ms   "
          f"({server['miss_n']} distinct 512-px stage-micrometer views, sequential)")
    print(f"  cache hit        p50 {server['hit_p50_ms']:8.2f} ms   "
          f"p99 {server['hit_p99_ms']:.2f} ms   {server['hit_rps']:.0f} req/s   "
          f"({server['hit_n']} GETs, concurrency {server['concurrency']}; "
          f"{verdict(server['hit_p50_ms'] <= FLOORS['hit_p50_ms'])} p50, "
          f"{verdict(server['hit_rps'] >= FLOORS['hit_rps'])} req/s)")
    print(f"  cache hit        p50 {server['hit_c1_p50_ms']:8.2f} ms   (concurrency 1)")
    print(f"  responses        {json.dumps(server['hit_states'], sort_keys=True)}")
    print(f"  lambda/handler.py import {imp['import_s']:.2f} s "
          f"(fresh interpreter total {imp['process_s']:.2f} s; "
          f"{verdict(imp['import_s'] <= FLOORS['import_s'])})")


if __name__ == "__main__":
    run()

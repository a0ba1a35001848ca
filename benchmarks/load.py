"""Load and fault figures of the render API (issue 10): real `micro serve` processes on
loopback, a concurrent keep-alive client, and faults thrown at them (`benchmarks.faults`).

    python -m benchmarks.load            (or `make loadtest`; `run()` from `make bench`)

Prints one table: requests, concurrency, p50/p99, 5xx, connection errors, the server's peak
RSS, a 1024² render's peak memory, then each fault tried and whether the server survived it
(kept answering, served a whole image, no 5xx). The same machinery drives
tests/test_reliability_load.py, which asserts on the figures instead of printing them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.faults import run_faults
from benchmarks.harness import IMAGE_MAGIC, MICRO, ServeProcess, mpath, percentile

BIG = {"instrument": "research-upright", "specimen": "liver-he", "objective": "40",
       "size": "1024"}
"""A 1024 × 1024 render (a camera on a 40× objective over H&E liver)."""
MANY_USERS = {"MICRO_RENDER_PER_CLIENT": "48", "MICRO_RENDER_RATE_PER_CLIENT": "1000",
              "MICRO_RENDER_BURST_PER_CLIENT": "10000"}
"""The mixed load stands for a classroom behind one address (loopback): per-client limits
opened up, so what is measured is the server, not the fairness rule."""


# --------------------------------------------------------------------------- load

@dataclass(frozen=True)
class Probe:
    """One request of a load plan and what a correct answer is."""

    kind: str
    method: str
    url: str
    status: int
    location: str | None = None
    sha256: str | None = None
    cache_state: str | None = None
    error_field: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    wall_s: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    by_kind: dict[str, int]
    connection_errors: int
    wrong: list[str]
    """Answers that were not the expected status, location, bytes or cache state."""
    retried: int = 0
    """GETs sent again after the server closed a kept-alive connection before answering
    (RFC 9112 §9.3.1: a client may retry an idempotent request then, as browsers do)."""

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s else float("nan")


def _check(probe: Probe, r: httpx.Response) -> str | None:
    """Why an answer is wrong for its probe, or None."""
    if r.status_code != probe.status:
        return f"{probe.kind} {probe.url[:80]}: status {r.status_code}, expected {probe.status}"
    if probe.location is not None and r.headers.get("location") != probe.location:
        return f"{probe.kind}: location {r.headers.get('location')!r}"
    if probe.sha256 is not None and hashlib.sha256(r.content).hexdigest() != probe.sha256:
        return f"{probe.kind} {probe.url[:80]}: other bytes than the first render"
    if probe.cache_state is not None and r.headers.get("x-micro-cache") != probe.cache_state:
        return f"{probe.kind}: X-Micro-Cache {r.headers.get('x-micro-cache')!r}"
    if probe.status == 200 and probe.kind in ("hit", "miss") and not r.content.startswith(
            IMAGE_MAGIC):
        return f"{probe.kind}: not an image"
    if probe.error_field is not None:
        try:
            got = r.json().get("field")
        except ValueError:
            got = "<not JSON>"
        if got != probe.error_field:
            return f"{probe.kind}: field {got!r}, expected {probe.error_field!r}"
    return None


async def run_load(base_url: str, probes: list[Probe], concurrency: int,
                   timeout_s: float = 120) -> LoadResult:
    """Send every probe with `concurrency` workers over keep-alive connections."""
    queue: asyncio.Queue[Probe] = asyncio.Queue()
    for p in probes:
        queue.put_nowait(p)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    by_kind: dict[str, int] = {}
    wrong: list[str] = []
    errors = retried = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, retried
        while True:
            try:
                probe = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            try:
                try:
                    r = await client.request(probe.method, probe.url, headers=probe.headers,
                                             content=probe.body)
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # a kept-alive connection closed as the request went out: once, for GET
                    if probe.method != "GET":
                        raise
                    retried += 1
                    r = await client.request(probe.method, probe.url, headers=probe.headers,
                                             content=probe.body)
            except httpx.TransportError as exc:
                errors += 1
                wrong.append(f"{probe.kind}: {type(exc).__name__}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            by_kind[probe.kind] = by_kind.get(probe.kind, 0) + 1
            why = _check(probe, r)
            if why:
                wrong.append(why)

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s,
                                 follow_redirects=False) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return LoadResult(len(probes), concurrency, time.perf_counter() - t0, latencies, statuses,
                      by_kind, errors, wrong, retried)


def mixed_plan(hits: dict[str, str], misses: list[str], total: int,
               seed: int = 10) -> list[Probe]:
    """`total` probes: every path of `misses` once (uncached renders), the rest drawn from
    cache hits of `hits` (path → SHA-256), conditional GETs, query redirects, non-canonical
    paths, and bad requests of every kind — shuffled with a fixed seed."""
    rng = random.Random(seed)
    hit_paths = sorted(hits)
    etags = {p: f'"{h}"' for p, h in hits.items()}
    bad_query = [("focus_um", "NaN"), ("focus_um", "1e308"), ("size", "-256"),
                 ("instrument", "../../etc/passwd"), ("warp", "9"), ("objective", "37")]

    def one(kind: str) -> Probe:
        p = rng.choice(hit_paths)
        if kind == "hit":
            return Probe(kind, "GET", p, 200, sha256=hits[p], cache_state="hit")
        if kind == "not-modified":
            return Probe(kind, "GET", p, 304, headers={"If-None-Match": etags[p]})
        if kind == "redirect":
            z = rng.choice([0, 0.5, 1, 1.5, 2.25])
            query = urllib.parse.urlencode({**MICRO, "focus_um": f"{z:.4f}"})
            return Probe(kind, "GET", "/api/render/microscope?" + query, 308,
                         location=mpath(focus_um=z))
        if kind == "non-canonical":
            loose = p.replace("_c1_", "_c1.000_")
            return Probe(kind, "GET", loose, 308, location=p)
        if kind == "bad-value":
            name, value = rng.choice(bad_query)
            query = urllib.parse.urlencode({**MICRO, name: value})
            return Probe(kind, "GET", "/api/render/microscope?" + query, 422, error_field=name)
        if kind == "bad-path":
            return Probe(kind, "GET", "/r/abc/q/" + rng.choice(["x.jpg", "%2e%2e/%2e%2e/etc/passwd"]),
                         404, error_field="path")
        if kind == "too-long":
            return Probe(kind, "GET", "/api/render/microscope?x=" + "a" * 3000, 414,
                         error_field="query")
        if kind == "wrong-type":
            return Probe(kind, "POST", "/api/render/microscope", 415, error_field="content-type",
                         headers={"content-type": "text/plain"}, body=b"instrument=x")
        return Probe(kind, "GET", "/api/instruments", 200)

    weights = {"hit": 60, "not-modified": 5, "redirect": 8, "non-canonical": 5,
               "bad-value": 8, "bad-path": 5, "too-long": 3, "wrong-type": 3, "catalog": 3}
    kinds = rng.choices(list(weights), weights=list(weights.values()),
                        k=max(0, total - len(misses)))
    probes = [one(k) for k in kinds]
    probes += [Probe("miss", "GET", m, 200, cache_state="miss") for m in misses]
    rng.shuffle(probes)
    return probes


def warm(base_url: str, paths: list[str]) -> dict[str, str]:
    """Render each path once (sequentially); path → SHA-256 of its bytes."""
    out = {}
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for p in paths:
            r = client.get(p)
            if r.status_code != 200:
                raise RuntimeError(f"warming {p}: {r.status_code} {r.text[:200]}")
            out[p] = hashlib.sha256(r.content).hexdigest()
    return out


async def same_key_burst(base_url: str, path: str, n: int) -> list[httpx.Response]:
    """`n` concurrent GETs of one path, each on its own connection."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        return list(await asyncio.gather(*(client.get(path) for _ in range(n))))


def mixed_run(server: ServeProcess, total: int = 2000, concurrency: int = 32,
              hit_keys: int = 16, miss_keys: int = 100) -> LoadResult:
    """Warm `hit_keys` renders, then `total` mixed requests (of which `miss_keys` uncached
    renders) at `concurrency`."""
    hits = warm(server.url, [mpath(focus_um=0.25 * i) for i in range(hit_keys)])
    misses = [mpath(focus_um=100 + 0.25 * i) for i in range(miss_keys)]
    return asyncio.run(run_load(server.url, mixed_plan(hits, misses, total), concurrency))


# --------------------------------------------------------------------------- memory

_RENDER_MEMORY = """
import json, sys, tracemalloc
from micro.core.catalog import default_catalog
from micro.core.render import render
from micro.core.requests import canonicalize_microscope
cat = default_catalog()
params = json.loads(sys.argv[1])
render(canonicalize_microscope({**params, "size": "256", "focus_um": 3}, cat), cat)  # imports
def proc_status_kib(name):  # benchmarks.harness.proc_status_kib, for this process
    for line in open("/proc/self/status").read().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)
before = proc_status_kib("VmRSS")
tracemalloc.start()
result = render(canonicalize_microscope(params, cat), cat)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
from PIL import Image
import io
w, h = Image.open(io.BytesIO(result.image)).size
print(json.dumps({"traced_peak_mib": peak / 2**20, "rss_before_mib": before / 1024,
                  "process_peak_mib": proc_status_kib("VmHWM") / 1024,
                  "width": w, "height": h}))
"""


def render_peak_memory(params: dict[str, str] | None = None) -> dict[str, float]:
    """Peak memory of one render in a fresh interpreter: Python/NumPy allocations traced by
    tracemalloc during the render, and the process's peak RSS (VmHWM) after it."""
    out = subprocess.run([sys.executable, "-c", _RENDER_MEMORY, json.dumps(params or BIG)],
                         capture_output=True, text=True, check=True, timeout=300)
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


# --------------------------------------------------------------------------- report

def run() -> None:
    with tempfile.TemporaryDirectory(prefix="micro-loadtest-") as tmp:
        root = Path(tmp)
        with ServeProcess(root / "mixed", env={"MICRO_RENDER_QUEUE": "32", **MANY_USERS}) as srv:
            burst_path = mpath(focus_um=-5, size="1024")
            before = srv.health()["renders"]["jobs_started"]
            burst = asyncio.run(same_key_burst(srv.url, burst_path, 100))
            renders = srv.health()["renders"]["jobs_started"] - before
            same = len({r.content for r in burst}) == 1
            load = mixed_run(srv)
            peak_rss = srv.peak_rss_mib()
            tracebacks = srv.log_text().count("Traceback")
        mem = render_peak_memory()
        faults = list(run_faults(root))

    rows = [
        ("requests (mixed run)", f"{load.requests}"),
        ("concurrency", f"{load.concurrency}"),
        ("kinds", ", ".join(f"{k} {n}" for k, n in sorted(load.by_kind.items()))),
        ("latency p50 / p99", f"{load.p50_ms:.1f} ms / {load.p99_ms:.1f} ms"),
        ("throughput", f"{load.rps:.0f} req/s over {load.wall_s:.1f} s"),
        ("5xx", f"{load.server_errors}"),
        ("connection errors", f"{load.connection_errors}"),
        ("wrong answers", f"{len(load.wrong)}" + (f" (first: {load.wrong[0]})"
                                                   if load.wrong else "")),
        ("server tracebacks logged", f"{tracebacks}"),
        ("server peak RSS (VmHWM)", f"{peak_rss:.0f} MiB"),
        ("100 GETs of one uncached key", f"{renders} render(s), "
                                         f"{'identical' if same else 'DIFFERENT'} bytes, "
                                         f"statuses {sorted({r.status_code for r in burst})}"),
        (f"{mem['width']:.0f}×{mem['height']:.0f} render peak memory",
         f"{mem['traced_peak_mib']:.0f} MiB traced (process peak RSS "
         f"{mem['process_peak_mib']:.0f} MiB, {mem['rss_before_mib']:.0f} MiB before)"),
        ("faults survived", f"{sum(f.survived for f in faults)}/{len(faults)}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("render API under load (micro serve on loopback, 1 process, default workers)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for f in faults:
        print(f"    {'ok  ' if f.survived else 'FAIL'} {f.name:<32} {f.detail}")


if __name__ == "__main__":
    run()

"""Faults (issue 10): S3 down, slow or failing; corrupt cache entries; a crash during a cache
write; renders that raise; a server that restarts. Each time the image is still served
whole (or a clean 5xx JSON for a render that cannot be made), the failure is logged, and the
server keeps serving.

What test_cache.py and test_api.py already show is not repeated here: S3 stopped under the
app, a truncated directory entry, SIGKILL between write and rename at the cache level, one
RuntimeError from the renderer over ASGI.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
from asgi_client import call
from moto.server import ThreadedMotoServer
from PIL import Image

from benchmarks.fakes import FakeS3, closed_port_url, s3_env
from benchmarks.harness import mpath, serve_in_thread
from micro.api import Settings, create_app
from micro.cache import DirectoryCache, S3Cache
from micro.core.catalog import default_catalog
from micro.core.encode import encode
from micro.core.errors import InvalidRequest
from micro.core.render import render
from micro.core.requests import canonicalize_microscope
from micro.core.result import RenderResult

MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}
BUCKET = "micro-faults"


def decoded(r: httpx.Response) -> Image.Image:
    assert r.status_code == 200, r.text[:300]
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


def reference(**over: Any) -> bytes:
    """The bytes the core renders for the request (renders are deterministic)."""
    cat = default_catalog()
    return render(canonicalize_microscope({**MICRO, **over}, cat), cat).image


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Dummy credentials and no AWS config: nothing can reach real AWS."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    for k, v in s3_env(closed_port_url(), tmp_path).items():
        monkeypatch.setenv(k, v)
    yield


def s3_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str,
           cooldown_s: float = 3600) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # Short timeouts and one attempt, so a hanging S3 costs the test a second, not four.
    cache = S3Cache(BUCKET, "renders", connect_timeout_s=0.5, read_timeout_s=0.5,
                    max_attempts=1)
    return create_app(Settings(site_dir=tmp_path / "site", cache=f"s3://{BUCKET}/renders",
                               cache_cooldown_s=cooldown_s), cache=cache)


# --------------------------------------------------------------------------- S3 faults

def settled(methods: list[str], quiet_s: float = 0.3, limit_s: float = 5.0) -> list[str]:
    """The requests the fake S3 has seen, once it has seen no new one for `quiet_s` (a
    request the client sent before timing out may reach the fake's thread late on a busy
    machine). A synchronisation, not a timed assertion."""
    deadline = time.monotonic() + limit_s
    seen = len(methods)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        if len(methods) == seen:
            break
        seen = len(methods)
    return list(methods)


@pytest.mark.parametrize("mode", ["down", "error", "hang", "read-only"])
def test_s3_faults_bypass_the_cache_log_it_and_still_serve(
        mode: str, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="micro.cache")
    fake = None if mode == "down" else FakeS3(mode)
    try:
        app = s3_app(tmp_path, monkeypatch, fake.url if fake else closed_port_url())
        first = call(app, "GET", mpath(focus_um=1))
        assert first.headers["x-micro-cache"] == "bypass"
        assert first.content == reference(focus_um=1)
        assert decoded(first).width == 256
        what = "write" if mode == "read-only" else "read"
        assert f"cache {what} failed (s3)" in caplog.text, caplog.text
        asked = settled(fake.methods) if fake else []
        if mode == "read-only":
            # looked (twice: before queueing and in the worker), rendered, tried to store
            assert asked[0] == "GET" and asked[-1] == "PUT" and set(asked) == {"GET", "PUT"}
        elif fake:
            assert asked and set(asked) == {"GET"}  # failed on the read: no write tried
        # During the cool-down a second render does not wait on S3 again for what failed:
        # after a failed read nothing; after a failed write it still reads (cached entries
        # stay served) but does not write.
        second = call(app, "GET", mpath(focus_um=2))
        assert second.headers["x-micro-cache"] == "bypass" and decoded(second).width == 256
        after = settled(fake.methods)[len(asked):] if fake else []
        if mode == "read-only":
            assert after and set(after) == {"GET"}, after
        else:
            assert after == []
        assert call(app, "GET", "/api/health").json()["cache"]["reachable"] is False
    finally:
        if fake:
            fake.close()


class MotoS3:
    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{self.port}")
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.client = boto3.session.Session().client("s3")
        self.client.create_bucket(Bucket=BUCKET)


@pytest.fixture
def moto_s3(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoS3]:
    s3 = MotoS3(monkeypatch)
    try:
        yield s3
    finally:
        s3.server.stop()


def test_truncated_s3_object_is_detected_rerendered_and_replaced(
        moto_s3: MotoS3, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="micro.cache")
    app = create_app(Settings(site_dir=tmp_path / "site", cache=f"s3://{BUCKET}/renders"))
    url = mpath(focus_um=3)
    okey = "renders/" + url.lstrip("/")
    first = call(app, "GET", url)
    assert first.headers["x-micro-cache"] == "miss"
    stored = moto_s3.client.get_object(Bucket=BUCKET, Key=okey)
    meta = stored["Metadata"]
    assert stored["Body"].read() == first.content
    # A torn upload: the same key and metadata (its SHA-256), a third of the bytes.
    moto_s3.client.put_object(Bucket=BUCKET, Key=okey, Body=first.content[: len(first.content)
                                                                          // 3],
                              Metadata=meta, ContentType="image/jpeg")
    again = call(app, "GET", url)
    assert again.headers["x-micro-cache"] == "miss"  # detected on read: re-rendered
    assert again.content == first.content and decoded(again).format == "JPEG"
    assert "truncated or corrupt" in caplog.text
    replaced = moto_s3.client.get_object(Bucket=BUCKET, Key=okey)["Body"].read()
    assert replaced == first.content  # replaced by the whole render
    assert hashlib.sha256(replaced).hexdigest() == meta["sha256"]
    assert call(app, "GET", url).headers["x-micro-cache"] == "hit"


# --------------------------------------------------------------------------- directory

def test_bit_flipped_directory_entry_is_detected_rerendered_and_replaced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="micro.cache")
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")))
    url = mpath(focus_um=4)
    first = call(app, "GET", url)
    entry = tmp_path / "cache" / url.lstrip("/")
    whole = entry.read_bytes()
    rotten = bytearray(whole)
    rotten[len(first.content) // 2] ^= 0x01  # one bit of the image: same length, same trailer
    entry.write_bytes(bytes(rotten))
    again = call(app, "GET", url)
    assert again.headers["x-micro-cache"] == "miss" and again.content == first.content
    assert "truncated or corrupt" in caplog.text
    assert entry.read_bytes() == whole


_CRASH = """
import asyncio, os, signal, sys
import httpx
import micro.cache
from micro.api import Settings, create_app

def crash(src, dst):  # the temp file is written and closed; die before the rename
    sys.stdout.write(open(src, "rb").read()[:4].hex() + "\\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

micro.cache.os.replace = crash
app = create_app(Settings(site_dir=sys.argv[1], cache=sys.argv[2]))

async def go():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://micro.test") as client:
        r = await client.get(sys.argv[3])
        print("not killed:", r.status_code, r.text[:300])  # only if it never got to rename

asyncio.run(go())
"""


def test_server_killed_between_cache_write_and_rename_never_serves_a_partial_file(
        tmp_path: Path) -> None:
    url = mpath(focus_um=5)
    site, cache = tmp_path / "site", tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(site), str(cache), url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -9, (proc.stdout[-500:], proc.stderr[-2000:])
    assert proc.stdout.startswith("ffd8ff")  # the temp file held the JPEG when it died
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)
    # A new server on the same directories: the temp file is never served.
    app = create_app(Settings(site_dir=site, cache=str(cache)))
    r = call(app, "GET", url)
    assert r.headers["x-micro-cache"] == "miss"
    assert r.content == reference(focus_um=5) and decoded(r).format == "JPEG"
    assert DirectoryCache(cache).get(url.lstrip("/")) == r.content
    assert call(app, "GET", url).headers["x-micro-cache"] == "hit"


def test_failed_rename_serves_the_render_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="micro.cache")
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache"),
                              cache_cooldown_s=0))

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("micro.cache.os.replace", disk_full)
        r = call(app, "GET", mpath(focus_um=6))
    assert r.headers["x-micro-cache"] == "bypass" and r.content == reference(focus_um=6)
    assert "cache write failed" in caplog.text and "No space left" in caplog.text
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    again = call(app, "GET", mpath(focus_um=6))  # the disk has room again
    assert again.headers["x-micro-cache"] == "miss" and again.content == r.content


# --------------------------------------------------------------------------- renders that raise

class Faulty:
    """An injected renderer that raises for chosen keys and renders a tiny real image
    otherwise; `fixed` makes every key render."""

    def __init__(self, failures: dict[str, BaseException]):
        self.failures = failures
        self.fixed = False
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, req: Any, catalog: Any) -> RenderResult:
        with self.lock:
            self.calls.append(req.path())
        exc = None if self.fixed else self.failures.get(req.path())
        if exc is not None:
            raise exc
        img = np.full((8, 8), 0.25, dtype=np.float32)
        return RenderResult(encode(img, req.format, img), req.content_type, {"ok": 1}, img)


FAILURES: list[BaseException] = [
    RuntimeError("boom in /home/micro/src/micro/core/secret_module.py line 42"),
    MemoryError("Unable to allocate 37.3 GiB for an array with shape (100000, 100000)"),
    KeyError("/srv/micro/data/stains/he.json"),
    ZeroDivisionError("float division by zero"),
    FloatingPointError("overflow encountered in exp"),
    RecursionError("maximum recursion depth exceeded"),
    OSError(5, "Input/output error", "/var/lib/micro/scratch.npy"),
]
LEAKS = ("Traceback", "/home/", "/srv/", "/var/", ".py", ".json", "secret", "GiB", "Error",
         "recursion", "division")


def test_renders_that_raise_give_500_json_and_the_server_keeps_serving(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = [mpath(focus_um=10 + i) for i in range(len(FAILURES))]
    good = [mpath(focus_um=30 + i) for i in range(20)]
    faulty = Faulty({p.lstrip("/"): exc for p, exc in zip(bad, FAILURES, strict=True)})
    post_key = canonicalize_microscope({**MICRO, "focus_um": 10, "format": "png"}).path()
    faulty.failures[post_key] = RuntimeError("boom in /home/micro/src/micro/api/post.py")
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache"),
                              render_workers=2, render_queue=32), renderer=faulty)

    async def run(url: str) -> tuple[list[httpx.Response], list[httpx.Response],
                                     list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            mixed = await asyncio.gather(*(client.get(p) for p in [*bad, *good]))
            post = await client.post("/api/render/microscope", json={**MICRO, "focus_um": 10})
            faulty.fixed = True
            again = await asyncio.gather(*(client.get(p) for p in bad))
            return list(mixed[: len(bad)]), list(mixed[len(bad):]), list(again), post

    with serve_in_thread(app) as url:  # a real server: the process and its loop survive
        failed, served, again, post = asyncio.run(run(url))
    for r in [*failed, post]:
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert set(body) == {"error", "field", "allowed", "request_id"}
        assert body["request_id"] == r.headers["x-request-id"]
        assert body["field"] is None and body["allowed"] is None
        for leak in LEAKS:
            assert leak not in r.text, (leak, r.text)
        assert body["request_id"] in caplog.text  # logged with its traceback, server-side
    assert all(r.status_code == 200 and r.headers["x-micro-cache"] == "miss" for r in served)
    # Failures are neither cached nor stuck in the single-flight table: retried, they render.
    assert [r.status_code for r in again] == [200] * len(bad)
    assert {r.headers["x-micro-cache"] for r in again} == {"miss"}
    assert sorted(faulty.calls).count(bad[0].lstrip("/")) == 2
    assert app.state.service.pool.stats()["inflight"] == 0
    for exc in FAILURES:
        assert str(exc.args[0] if exc.args else exc)[:20] in caplog.text


def test_a_domain_error_from_the_renderer_maps_through_the_status_table(
        tmp_path: Path) -> None:
    url = mpath(focus_um=40)
    faulty = Faulty({url.lstrip("/"): InvalidRequest("not in this mode", field="mode",
                                                     allowed=["brightfield"])})
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")),
                     renderer=faulty)
    r = call(app, "GET", url)
    assert r.status_code == 422
    assert r.json()["field"] == "mode" and r.json()["allowed"] == ["brightfield"]


def test_an_app_restarted_in_process_still_renders(tmp_path: Path) -> None:
    """A second ASGI lifespan on the same app (a test client reused, a reload) reopens the
    render pool that the first one's shutdown closed."""
    faulty = Faulty({})
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")),
                     renderer=faulty)
    for i in range(2):
        with serve_in_thread(app) as url:
            r = httpx.get(url + mpath(focus_um=50 + i), timeout=60)
            assert r.status_code == 200, r.text
            assert r.headers["x-micro-cache"] == "miss"
            post = httpx.post(url + "/api/render/microscope", json=MICRO, timeout=60)
            assert post.status_code == 200
            png = base64.b64decode(post.json()["image"].split(",", 1)[1])
            assert Image.open(io.BytesIO(png)).format == "PNG"

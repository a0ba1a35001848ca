"""The render cache: directory backend (atomic, self-checking) and S3 backend, the latter
against a real S3-protocol server on loopback (moto's ThreadedMotoServer, boto3 over HTTP)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from asgi_client import call
from moto.server import ThreadedMotoServer
from PIL import Image

from micro.api import Settings, create_app
from micro.cache import (
    CACHE_CONTROL,
    CacheUnavailable,
    DirectoryCache,
    GuardedCache,
    S3Cache,
    open_cache,
)
from micro.core.requests import canonicalize_microscope

KEY = "r/0123456789/m/student-compound/10/stage-micrometer/none/brightfield/z0.jpg"
DATA = bytes(range(256)) * 40
BUCKET = "micro-test"


# --------------------------------------------------------------------------- directory

def test_directory_roundtrip_uses_the_key_as_path(tmp_path: Path) -> None:
    cache = DirectoryCache(tmp_path)
    assert cache.get(KEY) is None
    cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) == DATA
    stored = (tmp_path / KEY).read_bytes()
    assert stored.startswith(DATA)  # the payload first: the file still opens as an image
    assert [p.name for p in (tmp_path / KEY).parent.iterdir()] == [Path(KEY).name]
    assert cache.ping()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "trailer-only"])
def test_damaged_entries_are_a_miss_and_removed(tmp_path: Path, damage: str) -> None:
    cache = DirectoryCache(tmp_path)
    cache.put(KEY, DATA, "image/jpeg")
    path = tmp_path / KEY
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) - 100]
    elif damage == "flip":
        blob[10] ^= 0xFF
    elif damage == "empty":
        blob = bytearray()
    else:
        blob = blob[len(DATA):]
    path.write_bytes(bytes(blob))
    assert cache.get(KEY) is None
    assert not path.exists()
    cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) == DATA


def test_a_plain_file_without_trailer_is_a_miss(tmp_path: Path) -> None:
    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(DATA)
    assert DirectoryCache(tmp_path).get(KEY) is None


def test_failed_rename_leaves_no_entry_and_no_temp_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = DirectoryCache(tmp_path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("micro.cache.os.replace", broken_replace)
    with pytest.raises(CacheUnavailable):
        cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) is None
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_process_killed_between_write_and_rename_never_leaves_a_served_entry(
        tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "import micro.cache as c\n"
        "def die(src, dst):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "c.os.replace = die\n"
        f"c.DirectoryCache(sys.argv[1]).put({KEY!r}, b'x' * 100000, 'image/jpeg')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False,
                          capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers and all(p.name.startswith(".tmp-") for p in leftovers)  # it did write
    cache = DirectoryCache(tmp_path)
    assert cache.get(KEY) is None
    cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) == DATA


def test_concurrent_writers_of_one_key_leave_a_whole_entry(tmp_path: Path) -> None:
    cache = DirectoryCache(tmp_path)
    payloads = [bytes([i]) * (50_000 + i) for i in range(8)]
    threads = [threading.Thread(target=cache.put, args=(KEY, p, "image/jpeg"))
               for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get(KEY) in payloads


@pytest.mark.parametrize("key", ["../x.jpg", "/etc/passwd", "r/../../x", "r/./x", "r//x",
                                 "r\\..\\x", "", "r/x\0.jpg", "r/" + "a" * 1100])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    cache = DirectoryCache(tmp_path / "cache")
    with pytest.raises(ValueError):
        cache.put(key, DATA, "image/jpeg")
    with pytest.raises(ValueError):
        cache.get(key)


def test_ping_is_false_when_the_directory_cannot_exist(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = DirectoryCache(blocker / "cache")
    assert not cache.ping()
    with pytest.raises(CacheUnavailable):
        cache.put(KEY, DATA, "image/jpeg")


def test_open_cache_parses_the_spec(tmp_path: Path) -> None:
    assert isinstance(open_cache(tmp_path), DirectoryCache)
    s3 = open_cache("s3://my-bucket/some/prefix/")
    assert isinstance(s3, S3Cache)
    assert (s3.bucket, s3.prefix) == ("my-bucket", "some/prefix")
    assert s3.object_key(KEY) == "some/prefix/" + KEY
    with pytest.raises(ValueError):
        open_cache("ftp://host/x")
    with pytest.raises(ValueError):
        open_cache("s3://Bad_Bucket/x")


class Flaky:
    name = "flaky"
    local = False

    def __init__(self) -> None:
        self.calls = 0
        self.up = False

    def get(self, key: str) -> bytes | None:
        self.calls += 1
        if not self.up:
            raise CacheUnavailable("down")
        return None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.calls += 1
        if not self.up:
            raise CacheUnavailable("down")

    def ping(self) -> bool:
        return self.up


def test_guard_skips_a_failed_backend_during_the_cooldown() -> None:
    inner = Flaky()
    guard = GuardedCache(inner, cooldown_s=3600)
    with pytest.raises(CacheUnavailable):
        guard.get(KEY)
    assert inner.calls == 1
    for _ in range(5):
        with pytest.raises(CacheUnavailable):
            guard.get(KEY)
        with pytest.raises(CacheUnavailable):
            guard.put(KEY, DATA, "image/jpeg")
    # each direction was tried once (a failed read does not stop the first write)
    assert inner.calls == 2  # not asked again while cooling down
    assert guard.health()["write_failures"] == 1
    inner.up = True
    assert guard.ping()  # a successful ping closes the read breaker
    assert guard.get(KEY) is None and inner.calls == 3


class ReadOnly:
    """A backend that serves what it holds but refuses writes (a full or read-only disk)."""

    name = "read-only"

    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return DATA

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.writes += 1
        raise OSError(28, "No space left on device")

    def ping(self) -> bool:
        return True


def test_a_failed_write_still_serves_cached_entries() -> None:
    """Before, one failed write made the guard skip reads for 15 s: every cached image was
    rendered again while health said the cache was fine."""
    inner = ReadOnly()
    guard = GuardedCache(inner, cooldown_s=3600)
    with pytest.raises(CacheUnavailable):
        guard.put(KEY, DATA, "image/jpeg")
    for _ in range(3):
        assert guard.get(KEY) == DATA
        with pytest.raises(CacheUnavailable):
            guard.put(KEY, DATA, "image/jpeg")
    assert inner.reads == 3 and inner.writes == 1
    health = guard.health()
    assert health["write_failures"] == 1 and health["writable"] is False
    assert "No space left" in health["last_write_error"]


def test_directory_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    """Bounded by max_bytes: past it the least recently used entries go (a hit counts as a
    use), down to 80 % of the bound; what stays is whole."""
    blob = b"x" * 10_000
    cache = DirectoryCache(tmp_path, max_bytes=100_000)
    keys = [f"r/v/m/img{i:02d}.jpg" for i in range(30)]
    for i, key in enumerate(keys):
        cache.put(key, blob, "image/jpeg")
        if i >= 1:
            # keep the first entry in use: it must survive every eviction
            now = time.time() + i
            os.utime(tmp_path / keys[0], (now, now))
    assert cache.usage() <= 100_000
    assert cache.get(keys[0]) == blob
    assert cache.get(keys[-1]) == blob
    assert cache.get(keys[1]) is None  # the oldest unused one went
    survivors = [k for k in keys if (tmp_path / k).exists()]
    assert 5 <= len(survivors) <= 10
    assert all(cache.get(k) == blob for k in survivors)


def test_eviction_removes_temp_files_a_crash_left(tmp_path: Path) -> None:
    cache = DirectoryCache(tmp_path, max_bytes=30_000)
    stale = tmp_path / "r" / ".tmp-dead.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"y" * 50_000)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    for i in range(5):
        cache.put(f"r/k{i}.jpg", b"z" * 10_000, "image/jpeg")
    assert not stale.exists()
    assert cache.usage() <= 30_000


# --------------------------------------------------------------------------- S3 (moto)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
        self.port = _free_port()
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-creds"))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{self.port}")
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.running = True
        self.client = boto3.session.Session().client("s3")
        self.client.create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(monkeypatch, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_s3_roundtrip_with_metadata_and_tag(s3: S3Server) -> None:
    cache = S3Cache(BUCKET, "renders")
    assert cache.ping()
    assert cache.get(KEY) is None
    cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) == DATA
    head = s3.client.head_object(Bucket=BUCKET, Key="renders/" + KEY)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == CACHE_CONTROL
    assert head["Metadata"]["sha256"] == hashlib.sha256(DATA).hexdigest()
    tags = s3.client.get_object_tagging(Bucket=BUCKET, Key="renders/" + KEY)["TagSet"]
    assert {"Key": "micro-origin", "Value": "on-demand"} in tags


def test_s3_corrupt_object_is_a_miss(s3: S3Server) -> None:
    cache = S3Cache(BUCKET, "")
    s3.client.put_object(Bucket=BUCKET, Key=KEY, Body=DATA[:100],
                         Metadata={"sha256": hashlib.sha256(DATA).hexdigest()})
    assert cache.get(KEY) is None
    cache.put(KEY, DATA, "image/jpeg")
    assert cache.get(KEY) == DATA


def test_s3_down_raises_cache_unavailable(s3: S3Server) -> None:
    cache = S3Cache(BUCKET, "renders")
    cache.put(KEY, DATA, "image/jpeg")
    s3.stop()
    assert not cache.ping()
    with pytest.raises(CacheUnavailable):
        cache.get(KEY)
    with pytest.raises(CacheUnavailable):
        cache.put(KEY, DATA, "image/jpeg")


def test_s3_missing_bucket_refuses_writes(s3: S3Server) -> None:
    cache = S3Cache("no-such-bucket", "")
    assert not cache.ping()
    with pytest.raises(CacheUnavailable):
        cache.put(KEY, DATA, "image/jpeg")


def test_app_renders_on_miss_stores_in_s3_then_hits_and_survives_s3_down(
        s3: S3Server, tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path / "site", cache=f"s3://{BUCKET}/renders"))
    req = canonicalize_microscope({"instrument": "student-compound",
                                   "specimen": "stage-micrometer", "size": "256"})
    first = call(app, "GET", "/" + req.path())
    assert first.status_code == 200, first.text
    assert first.headers["x-micro-cache"] == "miss"
    img = Image.open(io.BytesIO(first.content))
    assert img.format == "JPEG" and img.width == 256
    head = s3.client.head_object(Bucket=BUCKET, Key="renders/" + req.path())
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == CACHE_CONTROL
    obj = s3.client.get_object(Bucket=BUCKET, Key="renders/" + req.path())
    assert obj["Body"].read() == first.content

    second = call(app, "GET", "/" + req.path())
    assert second.headers["x-micro-cache"] == "hit"
    assert second.content == first.content
    # the render's info document went to S3 beside it (the viewer's next request)
    info = call(app, "GET", "/" + req.info_path())
    assert info.headers["x-micro-cache"] == "hit" and info.json()["pixel_size_um"] > 0
    head = s3.client.head_object(Bucket=BUCKET, Key="renders/" + req.info_path())
    assert head["ContentType"] == "application/json"
    assert call(app, "GET", "/api/health").json()["cache"] == {
        "backend": "s3", "reachable": True, "writable": True, "write_failures": 0}

    s3.stop()
    other = req.replace(focus_um=1.5)
    down = call(app, "GET", "/" + other.path())
    assert down.status_code == 200
    assert down.headers["x-micro-cache"] == "bypass"
    assert Image.open(io.BytesIO(down.content)).width == 256
    again = call(app, "GET", "/" + req.path())  # cached before, S3 gone: rendered again
    assert again.status_code == 200 and again.headers["x-micro-cache"] == "bypass"
    assert again.content == first.content  # deterministic
    assert call(app, "GET", "/api/health").json()["cache"]["reachable"] is False


def test_cache_setting_defaults_and_lambda_tmp() -> None:
    env = {"AWS_LAMBDA_FUNCTION_NAME": "micro-render"}
    assert Settings.from_env(env).cache == "/tmp/micro-renders"
    assert Settings.from_env({}).cache == ".cache/renders"
    assert Settings.from_env({**env, "MICRO_CACHE": "s3://b-1/p"}).cache == "s3://b-1/p"

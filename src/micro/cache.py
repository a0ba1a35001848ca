"""Render cache: one small interface, a directory backend and an S3 backend.

    get(key) -> bytes | None      None = miss (absent, truncated or corrupt entry)
    put(key, data, content_type)  atomic: a reader sees the whole entry or none
    ping() -> bool                backend reachable and writable

A directory cache can be bounded (`max_bytes`, `micro serve --cache-max-mb`): past the bound
the least recently used entries are deleted (a hit refreshes an entry's modification time).

Keys are canonical render paths (`r/<version>/...`), the same layout in a directory and in
S3. A backend that fails (down, slow, refusing writes) raises `CacheUnavailable`; the API
logs it and still serves the render (`X-Micro-Cache: bypass`). `GuardedCache` adds a short
cool-down after a failure so a dead backend costs one timeout, not one per request.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("micro.cache")

CACHE_CONTROL = "public, max-age=31536000, immutable"
ORIGIN_TAG = "micro-origin=on-demand"
"""S3 object tag of on-demand renders; the bucket's lifecycle rule expires them by it."""

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1023}$")


class CacheUnavailable(Exception):
    """The backend failed (down, timed out, refused the write)."""


class Cache(Protocol):
    name: str
    local: bool
    """True when reads are local file reads (cheap enough to do inline)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def ping(self) -> bool: ...


def check_key(key: str) -> str:
    """A relative key with no `.`/`..` segments, no backslashes, no NUL; else ValueError."""
    if not _KEY.match(key) or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"invalid cache key {key[:80]!r}")
    return key


# --------------------------------------------------------------------------- directory

_MAGIC = b"MICROC01"
_TRAILER = struct.Struct(">8sQ32s")  # magic, payload length, sha256 of payload


class DirectoryCache:
    """Files under `root` at the key's path. Each file is the payload followed by a 48-byte
    trailer (magic, length, SHA-256), written to a temp file and renamed into place, so a
    crash never leaves a partial entry and a damaged one is detected and treated as a miss.
    (Image decoders ignore bytes after the end of the image, so entries still open.)"""

    name = "directory"
    local = True

    def __init__(self, root: Path | str, max_bytes: int | None = None):
        self.root = Path(root)
        self.max_bytes = max_bytes
        """Bytes the directory may hold; beyond them the least recently used entries go."""
        self._used: int | None = None  # counted on the first put, then kept up to date
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise CacheUnavailable(f"cannot read {key}: {exc.strerror}") from exc
        payload = _unwrap(blob)
        if payload is None:
            log.warning("cache entry %s is truncated or corrupt; treating it as a miss", key)
            try:
                path.unlink()
            except OSError:
                pass
        elif self.max_bytes is not None:
            try:  # a hit is a use: the modification time is the recency eviction reads
                os.utime(path)
            except OSError:
                pass
        return payload

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.write(_TRAILER.pack(_MAGIC, len(data), hashlib.sha256(data).digest()))
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise CacheUnavailable(f"cannot write {key}: {exc.strerror or exc}") from exc
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        if self.max_bytes is not None:
            self._account(len(data) + _TRAILER.size)

    # ------------------------------------------------------------------ size bound
    def _entries(self) -> list[tuple[float, int, str]]:
        """(mtime, bytes, path) of every entry; temp files a crash left behind (older than a
        minute) are removed on the way."""
        out: list[tuple[float, int, str]] = []
        now = time.time()
        stack = [str(self.root)]
        while stack:
            try:
                it = os.scandir(stack.pop())
            except OSError:
                continue
            with it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                            continue
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if e.name.startswith(".tmp-"):
                        if now - st.st_mtime > 60:
                            _unlink(e.path)
                        continue
                    out.append((st.st_mtime, st.st_size, e.path))
        return out

    def usage(self) -> int:
        """Bytes held now (a directory walk)."""
        return sum(size for _, size, _ in self._entries())

    def _account(self, added: int) -> None:
        assert self.max_bytes is not None
        with self._lock:
            if self._used is None:
                self._used = self.usage()
            else:
                self._used += added
            if self._used <= self.max_bytes:
                return
            # over: walk once and drop the least recently used down to 80 % of the bound,
            # so a steady stream of new renders walks the tree once per ~20 % of turnover
            entries = sorted(self._entries())
            used = sum(size for _, size, _ in entries)
            target = int(self.max_bytes * 0.8)
            for _, size, path in entries:
                if used <= target:
                    break
                if _unlink(path):  # unlink is atomic: a reader sees the entry or a miss
                    used -= size
            self._used = used

    def ping(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.access(self.root, os.W_OK)
        except OSError:
            return False

    def __repr__(self) -> str:
        return f"DirectoryCache({str(self.root)!r})"


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _unwrap(blob: bytes) -> bytes | None:
    if len(blob) < _TRAILER.size:
        return None
    magic, length, digest = _TRAILER.unpack(blob[-_TRAILER.size:])
    payload = blob[:-_TRAILER.size]
    if magic != _MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


# --------------------------------------------------------------------------- S3

class S3Cache:
    """Objects in `bucket` under `prefix`. Stored with their Content-Type, the immutable
    Cache-Control, the `micro-origin=on-demand` tag and a SHA-256 in the metadata (checked on
    read when present). boto3 is imported on first use; `AWS_ENDPOINT_URL` is honoured.
    Timeouts are short and retries few, so a dead S3 costs a render about a second."""

    name = "s3"
    local = False

    def __init__(self, bucket: str, prefix: str = "", *, connect_timeout_s: float = 1.0,
                 read_timeout_s: float = 2.0, max_attempts: int = 2):
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise ValueError(f"invalid S3 bucket name {bucket[:80]!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._timeouts = (connect_timeout_s, read_timeout_s, max_attempts)
        self._client: Any = None
        self._probe_client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3Cache:
        rest = url[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        return cls(bucket, prefix, **kwargs)

    def _s3(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    connect, read, attempts = self._timeouts
                    self._client = self._make_client(connect, read, attempts, 32)
        return self._client

    def _probe(self) -> Any:
        """A client for health checks: one attempt, a short read timeout, so a hanging S3
        is reported in about a second instead of after the render path's retries."""
        if self._probe_client is None:
            with self._lock:
                if self._probe_client is None:
                    connect, read, _ = self._timeouts
                    self._probe_client = self._make_client(connect, min(read, 1.0), 1, 2)
        return self._probe_client

    @staticmethod
    def _make_client(connect: float, read: float, attempts: int, pool: int) -> Any:
        import boto3
        from botocore.config import Config

        endpoint = (os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL") or None)
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint,
            config=Config(connect_timeout=connect, read_timeout=read,
                          retries={"total_max_attempts": attempts, "mode": "standard"},
                          max_pool_connections=pool))

    def object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        okey = self.object_key(key)
        try:
            obj = self._s3().get_object(Bucket=self.bucket, Key=okey)
            data: bytes = obj["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code in ("AccessDenied", "403"):
                # Without s3:ListBucket, S3 answers a missing key with 403: a miss. (Bad
                # credentials fail the put that follows, which does bypass the cache.)
                log.debug("S3 get %s: access denied, treated as a miss", okey)
                return None
            raise CacheUnavailable(f"S3 get {okey}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise CacheUnavailable(f"S3 get {okey}: {exc}") from exc
        expected = (obj.get("Metadata") or {}).get("sha256")
        length = obj.get("ContentLength")
        if (length is not None and length != len(data)) or (
                expected and hashlib.sha256(data).hexdigest() != expected):
            log.warning("S3 object %s is truncated or corrupt; treating it as a miss", okey)
            return None
        return data

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        okey = self.object_key(key)
        try:
            self._s3().put_object(
                Bucket=self.bucket, Key=okey, Body=data, ContentType=content_type,
                CacheControl=CACHE_CONTROL, Tagging=ORIGIN_TAG,
                Metadata={"sha256": hashlib.sha256(data).hexdigest()})
        except (ClientError, BotoCoreError) as exc:
            raise CacheUnavailable(f"S3 put {okey}: {exc}") from exc

    def ping(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._probe().head_bucket(Bucket=self.bucket)
            return True
        except (ClientError, BotoCoreError):
            return False

    def __repr__(self) -> str:
        return f"S3Cache('s3://{self.bucket}/{self.prefix}')"


# --------------------------------------------------------------------------- guard

class GuardedCache:
    """Wraps a backend: any failure raises `CacheUnavailable`, is logged once, and opens a
    cool-down for that direction only: after a failed read the backend is not read for a
    while (a dead S3 costs one timeout), after a failed write it is not written, but
    cached entries are still served. Write failures are counted for `/api/health`."""

    def __init__(self, inner: Cache, cooldown_s: float = 15.0):
        self.inner = inner
        self.name = inner.name
        self.local = getattr(inner, "local", False)
        self.cooldown_s = cooldown_s
        self._read_open_until = 0.0
        self._write_open_until = 0.0
        self.write_failures = 0
        self.last_write_error: str | None = None
        self._last_write_failure = 0.0

    def _fail(self, what: str, exc: Exception) -> CacheUnavailable:
        until = time.monotonic() + self.cooldown_s
        if what == "read":
            self._read_open_until = until
        else:
            self._write_open_until = until
            self.write_failures += 1
            self.last_write_error = str(exc)[:200]
            self._last_write_failure = time.monotonic()
        log.warning("cache %s failed (%s): %s; not %s it for %.0f s", what, self.name,
                    exc, "reading" if what == "read" else "writing", self.cooldown_s)
        return CacheUnavailable(str(exc))

    def get(self, key: str) -> bytes | None:
        if time.monotonic() < self._read_open_until:
            raise CacheUnavailable(f"{self.name} cache cooling down after a failed read")
        try:
            return self.inner.get(key)
        except ValueError:
            raise
        except Exception as exc:
            raise self._fail("read", exc) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if time.monotonic() < self._write_open_until:
            raise CacheUnavailable(f"{self.name} cache cooling down after a failed write")
        try:
            self.inner.put(key, data, content_type)
        except ValueError:
            raise
        except Exception as exc:
            raise self._fail("write", exc) from exc

    def ping(self) -> bool:
        try:
            ok = self.inner.ping()
        except Exception:
            ok = False
        if ok:
            self._read_open_until = 0.0
        return ok

    def health(self) -> dict[str, Any]:
        """What `/api/health` reports of the cache (besides reachability)."""
        out: dict[str, Any] = {"write_failures": self.write_failures,
                               "writable": time.monotonic() >= self._write_open_until}
        if self.last_write_error is not None:
            out["last_write_error"] = self.last_write_error
            out["last_write_failure_s_ago"] = round(
                time.monotonic() - self._last_write_failure, 1)
        max_bytes = getattr(self.inner, "max_bytes", None)
        if max_bytes is not None:
            out["max_mb"] = round(max_bytes / 2**20, 1)
        return out

    def __repr__(self) -> str:
        return f"GuardedCache({self.inner!r})"


def open_cache(spec: str | Path, max_bytes: int | None = None) -> Cache:
    """`s3://bucket/prefix` → S3Cache (its size is the bucket lifecycle's business);
    anything else is a directory, bounded to `max_bytes` when given."""
    text = str(spec)
    if text.startswith("s3://"):
        try:
            boto3 = importlib.util.find_spec("boto3")
        except (ImportError, ValueError):
            boto3 = None
        if boto3 is None:
            raise ValueError(f"cache {text[:80]!r}: an S3 cache needs the 'aws' extra "
                             f"(missing: boto3): pip install 'micro[aws]'")
        return S3Cache.from_url(text)
    if "://" in text:
        raise ValueError(f"cache {text[:80]!r}: use a directory or s3://bucket/prefix")
    return DirectoryCache(Path(text), max_bytes)

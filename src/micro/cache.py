"""Render cache: one small interface, a directory backend and an S3 backend.

    get(key) -> bytes | None      None = miss (absent, truncated or corrupt entry)
    put(key, data, content_type)  atomic: a reader sees the whole entry or none
    ping() -> bool                backend reachable and writable

Keys are canonical render paths (`r/<version>/...`), the same layout in a directory and in
S3. A backend that fails (down, slow, refusing writes) raises `CacheUnavailable`; the API
logs it and still serves the render (`X-Micro-Cache: bypass`). `GuardedCache` adds a short
cool-down after a failure so a dead backend costs one timeout, not one per request.
"""

from __future__ import annotations

import hashlib
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

    def __init__(self, root: Path | str):
        self.root = Path(root)

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

    def ping(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return os.access(self.root, os.W_OK)
        except OSError:
            return False

    def __repr__(self) -> str:
        return f"DirectoryCache({str(self.root)!r})"


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
    cool-down during which the backend is not asked at all (a dead S3 costs one timeout)."""

    def __init__(self, inner: Cache, cooldown_s: float = 15.0):
        self.inner = inner
        self.name = inner.name
        self.local = getattr(inner, "local", False)
        self.cooldown_s = cooldown_s
        self._open_until = 0.0

    def _check(self) -> None:
        if time.monotonic() < self._open_until:
            raise CacheUnavailable(f"{self.name} cache cooling down after a failure")

    def _fail(self, what: str, exc: Exception) -> CacheUnavailable:
        self._open_until = time.monotonic() + self.cooldown_s
        log.warning("cache %s failed (%s): %s; bypassing it for %.0f s", what, self.name,
                    exc, self.cooldown_s)
        return CacheUnavailable(str(exc))

    def get(self, key: str) -> bytes | None:
        self._check()
        try:
            return self.inner.get(key)
        except ValueError:
            raise
        except Exception as exc:
            raise self._fail("read", exc) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._check()
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
            self._open_until = 0.0
        return ok

    def __repr__(self) -> str:
        return f"GuardedCache({self.inner!r})"


def open_cache(spec: str | Path) -> Cache:
    """`s3://bucket/prefix` → S3Cache; anything else is a directory."""
    text = str(spec)
    if text.startswith("s3://"):
        return S3Cache.from_url(text)
    if "://" in text:
        raise ValueError(f"cache {text[:80]!r}: use a directory or s3://bucket/prefix")
    return DirectoryCache(Path(text))

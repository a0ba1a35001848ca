"""The build's unit of work: plan → a manifest of shards → render one shard, on an executor,
into a sink.

A *shard* is a list of canonical render paths that share a scene (a focus stack and the modes
of one field of one slide; every modality of one phantom), rendered by one worker in one go so
the scene is generated once and reused from that worker's cache. The shard manifest is JSON
and deterministic: the same catalog, code and profile give the same bytes.

Executors run `render_shard` over the shards and yield each as it finishes:
`LocalExecutor` (a process pool on this machine, the default) or `DaskExecutor` (a
dask.distributed cluster, `micro[cluster]`). Sinks are where the files go: `DirectorySink`
(atomic file writes) or `S3Sink` (`s3://bucket/prefix`; a PutObject is atomic: a reader sees
the whole object or none). Both list what is already there, so a build resumes where it
stopped.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import multiprocessing
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from micro.cache import check_key
from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import MicroError
from micro.site.plan import Plan, Request

Shard = list[str]
"""Canonical render paths that share a scene, rendered together by one worker."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""Cache-Control of renders and their info: a canonical path names its bytes forever."""
SHORT_LIVED = "public, max-age=300, must-revalidate"
"""Cache-Control of pages and the site's JSON data, which name the render version (as
`make publish` sets them, infra/config HTML_MAX_AGE_S)."""
ASSET = "public, max-age=3600"
"""Cache-Control of static assets (infra/config ASSET_MAX_AGE_S)."""

WORKER_SCENE_CACHE_BYTES = 256 << 20
"""A build worker renders one scene's group at a time, so it needs few cached scenes, but it
must keep the largest one whole with the spectra its renders derive from it: pond water's
nine layers hold ~145 MB at 512² once its phase spectra are added. Under a 96 MB cap that
scene was dropped as soon as it grew and rebuilt at every focus step of its group (38 scene
builds of ~0.2 s instead of 4 in the default profile)."""


class ShardError(Exception):
    """A render in a shard failed; the message is one line naming the path."""


# --------------------------------------------------------------------------- plan → shards

def _scene_key(req: Request) -> tuple[object, ...]:
    p = req.params()
    # a microscope scene is one field of view of one slide; an imaging "scene" is one
    # phantom, whose rasters every modality shares
    names = (("phantom", "variant", "size") if req.kind == "imaging" else
             ("instrument", "objective", "specimen", "x_um", "y_um", "size", "view"))
    return (req.kind, *(p.get(k) for k in names))


def _group_cost(group: Sequence[Request]) -> float:
    """A rough relative cost: imaging groups build a system matrix or reconstruction first."""
    return len(group) * (4.0 if group[0].kind == "imaging" else 1.0)


def _group_order(group: Sequence[Request]) -> tuple[float, str, float, str]:
    first = group[0]
    return (-_group_cost(group), first.instrument, float(getattr(first, "objective", 0.0)),
            first.path())


def scene_groups(requests: Sequence[Request]) -> list[list[Request]]:
    """Requests grouped by scene, biggest group first (so a pool does not end on one long
    group while the other workers idle); among equals, one instrument and objective after
    another, so their transfer functions are reused; then by first path (a total order)."""
    groups: dict[tuple[object, ...], list[Request]] = {}
    for r in requests:
        groups.setdefault(_scene_key(r), []).append(r)
    return sorted(groups.values(), key=_group_order)


def shard_manifest(plan: Plan, *, version: str, profile: str) -> dict[str, Any]:
    """The plan as shards: `{"version", "profile", "images", "shards": [[path, ...], ...]}`.
    Every planned path is in exactly one shard; the order is the render order."""
    shards = [[r.path() for r in g] for g in scene_groups(list(plan.requests.values()))]
    return {"version": version, "profile": profile, "images": len(plan), "shards": shards}


# --------------------------------------------------------------------------- sinks

class Sink(Protocol):
    @property
    def url(self) -> str: ...

    def sizes(self) -> dict[str, int]:
        """Every key under the sink and its size in bytes."""
        ...

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def clear(self) -> None:
        """Delete everything under the sink (the caller has checked it is a MICRO site)."""
        ...


def cache_control(key: str) -> str:
    if key.startswith("r/"):
        return IMMUTABLE
    return SHORT_LIVED if key.endswith((".html", ".json")) else ASSET


CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".json": "application/json",
                 ".txt": "text/plain; charset=utf-8", ".xml": "application/xml",
                 ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
                 ".webp": "image/webp", ".woff2": "font/woff2", ".npy": "application/octet-stream"}
"""As `make publish` sets them (infra/publish.py); other suffixes are guessed."""


def content_type(key: str) -> str:
    kind = CONTENT_TYPES.get(Path(key).suffix.lower())
    return kind or mimetypes.guess_type(key)[0] or "application/octet-stream"


def write_atomic(path: Path, data: bytes) -> None:
    try:  # the folder usually exists (a focus stack shares one): no mkdir for each file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class DirectorySink:
    root: Path

    @property
    def url(self) -> str:
        return str(self.root)

    def sizes(self) -> dict[str, int]:
        if not self.root.is_dir():
            return {}
        return {p.relative_to(self.root).as_posix(): p.stat().st_size
                for p in self.root.rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")}

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / check_key(key)).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: str, data: bytes) -> None:
        write_atomic(self.root / check_key(key), data)

    def clear(self) -> None:
        import shutil

        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class S3Sink:
    """Objects under `s3://bucket/prefix`, each with its Content-Type, Cache-Control (renders
    immutable, pages and data five minutes, assets an hour, as `make publish` sets them) and a SHA-256 in the metadata. Unlike the render cache's
    on-demand objects they carry no expiry tag: a built site stays. The endpoint is
    `endpoint_url`, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else AWS."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        if not _BUCKET.match(bucket):
            raise ValueError(f"out: invalid S3 bucket name {bucket[:80]!r} — allowed: 3-63 "
                             "lower-case letters, digits, dots and hyphens")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = (endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                             or os.environ.get("AWS_ENDPOINT_URL") or None)
        self._client: Any = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def __getstate__(self) -> dict[str, Any]:  # a worker makes its own client
        return {**self.__dict__, "_client": None}

    def _s3(self) -> Any:
        if self._client is None:
            self._client = _s3_client(self.endpoint_url, os.getpid())
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _keys(self) -> Iterator[tuple[str, int]]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                     Prefix=start)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"][len(start):], int(obj["Size"])

    def sizes(self) -> dict[str, int]:
        return dict(self._keys())

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            obj = self._s3().get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        data: bytes = obj["Body"].read()
        return data

    def put(self, key: str, data: bytes) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                              ContentType=content_type(key), CacheControl=cache_control(key),
                              Metadata={"sha256": hashlib.sha256(data).hexdigest()})

    def clear(self) -> None:
        keys = [self._key(k) for k, _ in self._keys()]
        for i in range(0, len(keys), 1000):
            self._s3().delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


@functools.lru_cache(maxsize=4)
def _s3_client(endpoint_url: str | None, pid: int) -> Any:
    """One client per endpoint and process (making one costs ~0.1 s; a worker renders many
    shards; a forked child must not share its parent's connections, hence the pid). A batch
    job: patient timeouts and retries, unlike the render path's cache."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url,
        config=Config(connect_timeout=5, read_timeout=30,
                      retries={"total_max_attempts": 5, "mode": "standard"},
                      max_pool_connections=8))


def open_sink(out: str | Path) -> DirectorySink | S3Sink:
    """`s3://bucket/prefix` → S3Sink; anything else is a directory."""
    text = str(out)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        return S3Sink(bucket, prefix)
    if "://" in text:
        raise ValueError(f"out: {text[:80]!r} — allowed: a directory or s3://bucket/prefix")
    return DirectorySink(Path(text))


# --------------------------------------------------------------------------- render a shard

_CATALOGS: dict[str | None, tuple[Catalog, str]] = {}


def worker_catalog(data_dir: str | None) -> tuple[Catalog, str]:
    """This process's catalog and render version (loaded once per process)."""
    if data_dir not in _CATALOGS:
        from micro.core.microscope.scene import set_cache_budget
        from micro.core.version import render_version

        cat = Catalog.load(data_dir) if data_dir else default_catalog()
        _CATALOGS[data_dir] = (cat, render_version(cat))
        set_cache_budget(WORKER_SCENE_CACHE_BYTES)
    return _CATALOGS[data_dir]


@dataclass(frozen=True)
class ShardResult:
    rendered: list[tuple[str, int]]  # (path, image bytes)
    pid: int
    host: str


def render_shard(paths: Sequence[str], sink: Sink, version: str, data_dir: str | None = None,
                 catalog: Catalog | None = None) -> ShardResult:
    """Render one shard into `sink`: each image and, beside it at the same stem, its info
    document (`<stem>.json`, the one the API serves). The image is written before the info,
    and a build skips a view only when both exist, so an interrupted shard is redone."""
    from micro.core.render import render
    from micro.core.requests import parse_path

    if catalog is None:
        catalog, have = worker_catalog(data_dir)
    else:
        from micro.core.version import render_version

        have = render_version(catalog)
    if have != version:
        raise ShardError(f"this worker renders version {have}, the plan is for {version}: "
                         "install the same micro (code and catalog) on every worker")
    done: list[tuple[str, int]] = []
    infos: set[str] = set()
    kind = None
    for path in paths:
        try:
            req = parse_path(path, catalog)
            if req.path() != path:
                raise ShardError(f"{path} is not canonical (canonical: {req.path()})")
            kind = req.kind
            result = render(req, catalog)
            sink.put(path, result.image)
            info = req.info_path()
            if info not in infos:  # once per stem, whatever the formats
                doc = result.info_document()
                if sink.get(info) != doc:
                    sink.put(info, doc)
                infos.add(info)
        except ShardError:
            raise
        except Exception as exc:
            what = (exc.one_line() if isinstance(exc, MicroError)
                    else f"{type(exc).__name__}: {exc}")
            raise ShardError(f"render failed for {path}: {what}") from None
        done.append((path, len(result.image)))
    if kind == "imaging":
        # a phantom's group is rendered in one go: its rasters and reconstructions will not
        # be asked for again, and keeping them would only grow the worker
        from micro.core.imaging.render import clear_caches

        clear_caches()
    import socket

    return ShardResult(rendered=done, pid=os.getpid(), host=socket.gethostname())


# --------------------------------------------------------------------------- executors

ShardFn = Callable[[Shard], ShardResult]


class Executor(Protocol):
    description: str

    def run(self, fn: ShardFn, shards: Sequence[Shard]) -> Iterator[tuple[Shard, ShardResult]]:
        """Run `fn` on every shard, yielding each as it finishes; the first failure raises
        (ShardError or the worker's exception) and cancels the rest."""
        ...


def _warm(data_dir: str | None) -> None:
    worker_catalog(data_dir)


PRELOAD = ("PIL.JpegImagePlugin", "PIL.PngImagePlugin", "micro.core.microscope.pipeline",
           "micro.core.library", "micro.core.imaging.render", "micro.core.imaging.ct",
           "micro.core.imaging.xray", "micro.core.imaging.mri", "micro.core.imaging.ultrasound",
           "micro.core.imaging.emission")


def preload(data_dir: str | None) -> None:
    """Load what every render needs (the catalog, the renderers and their generators, the
    image codecs) in this process: workers forked from it start with all of it in place
    (their copy-on-write pages) instead of importing it once each (~0.9 s of CPU a worker)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    worker_catalog(data_dir)


def _pool_context() -> multiprocessing.context.BaseContext | None:
    """Fork on Linux (a worker inherits the preloaded parent); elsewhere the default."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None


class LocalExecutor:
    """A process pool on this machine (`jobs` processes; 1 renders in this process)."""

    def __init__(self, jobs: int, data_dir: str | None = None):
        self.jobs = max(1, jobs)
        self.data_dir = data_dir
        self.description = f"{self.jobs} local process{'es' if self.jobs > 1 else ''}"

    def run(self, fn: ShardFn, shards: Sequence[Shard]) -> Iterator[tuple[Shard, ShardResult]]:
        if self.jobs == 1:
            for shard in shards:
                yield shard, fn(shard)
            return
        preload(self.data_dir)
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=_pool_context(),
                                 initializer=_warm, initargs=(self.data_dir,)) as pool:
            queue = iter(shards)
            running: dict[Future[ShardResult], Shard] = {}

            def submit(n: int) -> None:
                for shard in queue:
                    running[pool.submit(fn, shard)] = shard
                    if len(running) >= n:
                        break

            submit(self.jobs * 3)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    shard = running.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        for other in running:
                            other.cancel()
                        raise exc
                    yield shard, fut.result()
                submit(self.jobs * 3)


class DaskExecutor:
    """A dask.distributed cluster at `scheduler` (`tcp://host:8786`). Every shard is
    submitted at once with a priority in manifest order (biggest first); the scheduler
    balances them over the workers and reruns a shard whose worker died."""

    def __init__(self, scheduler: str, *, connect_timeout_s: float = 30.0):
        self.scheduler = scheduler
        self.connect_timeout_s = connect_timeout_s
        self.description = f"Dask cluster {scheduler}"

    def run(self, fn: ShardFn, shards: Sequence[Shard]) -> Iterator[tuple[Shard, ShardResult]]:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise ShardError("--scheduler needs dask.distributed: pip install "
                             "'micro[cluster]'") from None
        try:
            client = Client(self.scheduler, timeout=self.connect_timeout_s)
        except OSError as exc:
            raise ShardError(f"scheduler: cannot reach {self.scheduler}: {exc}") from None
        with client:
            client.wait_for_workers(1, timeout=self.connect_timeout_s)
            n = len(client.nthreads())
            self.description = f"Dask cluster {self.scheduler} ({n} workers)"
            token = uuid.uuid4().hex[:12]
            futures = {client.submit(fn, shard, key=f"micro-shard-{token}-{i}", pure=False,
                                     priority=len(shards) - i): shard
                       for i, shard in enumerate(shards)}
            try:
                for fut in as_completed(futures):
                    if fut.status == "error":
                        fut.result()  # raises the worker's exception here
                    yield futures[fut], fut.result()
            finally:
                client.cancel(list(futures))


def render_fn(sink: Sink, version: str, data_dir: str | None,
              catalog: Catalog | None = None) -> ShardFn:
    """`render_shard` bound to its sink and version (picklable unless a catalog is bound)."""
    return functools.partial(render_shard, sink=sink, version=version, data_dir=data_dir,
                             catalog=catalog)

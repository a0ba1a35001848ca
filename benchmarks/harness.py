"""Plumbing shared by the load and fault benchmarks and the reliability tests: a free loopback
port, `micro serve` in a subprocess (`ServeProcess`) or an app served from a thread
(`serve_in_thread`), the request path of a microscope view, percentiles and /proc figures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"\x93NUMPY")

_SERVE = "import sys; from micro.cli import main; sys.argv[0] = 'micro'; main()"


# --------------------------------------------------------------------------- plumbing

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0–100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def proc_status_kib(pid: int | str, name: str) -> int:
    """A `Vm*` line of /proc/<pid>/status in KiB (VmHWM = peak resident set)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def mpath(**over: Any) -> str:
    from micro.core.requests import canonicalize_microscope

    return "/" + canonicalize_microscope({**MICRO, **over}).path()


class ServeProcess:
    """`micro serve` in a subprocess on a free loopback port, its log in `root/serve.log`.

    `env` adds MICRO_* settings (or AWS_* for an S3 cache); `cache` is the --cache value."""

    def __init__(self, root: Path, *, env: dict[str, str] | None = None,
                 cache: str | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.site = self.root / "site"
        self.cache = cache if cache is not None else str(self.root / "cache")
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = self.root / "serve.log"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> ServeProcess:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, "serve", "--site", str(self.site), "--cache",
                 self.cache, "--host", HOST, "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"micro serve exited with {self.proc.returncode}: "
                                   f"{self.log_text()[-2000:]}")
            try:  # the catalog, not /api/health: health asks the cache, which may hang
                if httpx.get(self.url + "/api/instruments", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"micro serve did not answer within {timeout_s:g} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def peak_rss_mib(self) -> float:
        return proc_status_kib(self.pid, "VmHWM") / 1024

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.url + "/api/health", timeout=30).json()
        return data

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """uvicorn serving `app` (already built: an injected renderer, a custom cache) from a
    thread of this process on a free loopback port; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host=HOST, port=free_port(), log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

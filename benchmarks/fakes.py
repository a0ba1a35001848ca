"""Stand-ins for remote services on loopback, for the fault benchmark and the reliability
tests: `LoopbackFake` (a threaded HTTP server), `FakeS3` (an S3 endpoint that fails), the
environment of a server whose cache is such an endpoint, and an endpoint nobody listens on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from benchmarks.harness import HOST, free_port


class LoopbackFake:
    """A stand-in for a remote service: a threaded HTTP server on a free loopback port.
    Subclasses build their request handler and call `serve`; `released` lets a handler
    that hangs return when the fake closes."""

    released: threading.Event

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer((HOST, 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeS3(LoopbackFake):
    """Just enough of an S3 endpoint to fail: `mode` 'error' answers every request 500
    (InternalError), 'hang' accepts and never answers until closed, 'read-only' answers
    reads 404 (NoSuchKey) and writes 500. Records each request's method."""

    def __init__(self, mode: str):
        assert mode in ("error", "hang", "read-only")
        self.mode = mode
        self.methods: list[str] = []
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                fake.methods.append(self.command)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if fake.mode == "hang":
                    fake.released.wait(60)
                    return
                status, code = 500, b"InternalError"
                if fake.mode == "read-only" and self.command in ("GET", "HEAD"):
                    status, code = 404, b"NoSuchKey"
                body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>" + code +
                        b"</Code><Message>We encountered an internal error.</Message></Error>")
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def s3_env(endpoint: str, root: Path) -> dict[str, str]:
    """Environment of a server whose cache is S3 at `endpoint` (dummy credentials, no AWS
    config files: nothing can reach real AWS)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true"}


def closed_port_url() -> str:
    """An endpoint nobody listens on (a port just bound and released)."""
    return f"http://{HOST}:{free_port()}"

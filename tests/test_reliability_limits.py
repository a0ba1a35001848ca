"""Limits and headers (issue 10): every limit set from its environment variable holds at its
boundary (the limit itself passes, one past it is refused naming the field); security headers
on every kind of response; CORS only for configured origins, never with credentials; no debug
surface; and the OpenAI key never reaches a log, a response or the CLI's output.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from asgi_client import call
from click.testing import CliRunner
from PIL import Image

from benchmarks.fakes import LoopbackFake, closed_port_url
from micro.api import Settings, create_app
from micro.core.catalog import default_data_dir
from micro.core.encode import encode
from micro.core.requests import canonicalize_imaging, canonicalize_microscope
from micro.core.result import RenderResult

MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}
SENTINEL = "sk-proj-SENTINEL0123456789abcdefDO-NOT-LEAK"


def mpath(**over: Any) -> str:
    return "/" + canonicalize_microscope({**MICRO, **over}).path()


def decoded(r: httpx.Response) -> Image.Image:
    assert r.status_code == 200, r.text[:300]
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


class Gate:
    """An injected renderer held until released (a slow render); a tiny real image."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, req: Any, catalog: Any) -> RenderResult:
        if self.fail is not None:
            raise self.fail
        self.release.wait(30)
        img = np.full((8, 8), 0.5, dtype=np.float32)
        return RenderResult(encode(img, req.format, img), req.content_type, {}, img)


# --------------------------------------------------------------------------- limits

def test_largest_output_is_1024_px_and_larger_sizes_are_refused(tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")))
    for params in ({**MICRO, "size": "2048"}, {**MICRO, "size": "1e9"}):
        r = call(app, "GET", "/api/render/microscope", params=params)
        assert r.status_code == 422 and r.json()["field"] == "size"
        assert r.json()["allowed"] == ["256", "512", "1024"]
    micro = decoded(call(app, "GET", mpath(size="1024", view="eyepiece")))
    xray = decoded(call(app, "GET", "/" + canonicalize_imaging(
        {"instrument": "digital-radiography", "phantom": "abdomen", "size": "1024"}).path()))
    for img in (micro, xray):  # the largest image the API makes: 1024 × 1024 at most
        assert img.width == 1024 and img.height <= 1024


def test_every_limit_from_the_environment_holds_at_its_boundary(tmp_path: Path) -> None:
    env = {"MICRO_SITE_DIR": str(tmp_path / "site"), "MICRO_CACHE": str(tmp_path / "cache"),
           "MICRO_MAX_SIZE_PX": "512", "MICRO_MAX_QUERY_CHARS": "100",
           "MICRO_MAX_BODY_BYTES": "1000", "MICRO_RENDER_TIMEOUT_S": "0.2",
           "MICRO_RENDER_WORKERS": "1", "MICRO_RENDER_QUEUE": "0"}
    gate = Gate()
    app = create_app(Settings.from_env(env), renderer=gate)

    # Output size: 512 passes (a redirect), 1024 is refused.
    assert call(app, "GET", "/api/render/microscope",
                params={**MICRO, "size": "512"}).status_code == 308
    r = call(app, "GET", "/api/render/microscope", params={**MICRO, "size": "1024"})
    assert r.status_code == 413 and r.json()["field"] == "size"
    assert r.json()["allowed"] == "at most 512 px"

    # Query length: exactly 100 characters passes the edge, 101 does not.
    base = "instrument=student-compound&specimen=stage-micrometer&focus_um="
    at = base + "0" * (100 - len(base))
    assert call(app, "GET", "/api/render/microscope?" + at).status_code == 422  # 100 zeros…
    r = call(app, "GET", "/api/render/microscope?" + at + "0")
    assert r.status_code == 414 and r.json()["field"] == "query"
    assert r.json()["allowed"] == "at most 100 characters"

    # Body size: exactly 1000 bytes is read (and judged), 1001 is refused unread.
    def body(n: int) -> bytes:
        head = json.dumps({**MICRO, "pad": ""}).encode()
        return head[:-2] + b"x" * (n - len(head)) + b'"}'

    assert len(body(1000)) == 1000
    r = call(app, "POST", "/api/render/microscope", content=body(1000),
             headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "pad"
    r = call(app, "POST", "/api/render/microscope", content=body(1001),
             headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"
    assert r.json()["allowed"] == "at most 1000 bytes"

    # Path length: 2048 characters is looked at (an unparseable path), 2049 is refused.
    prefix = "/r/abc/"
    assert call(app, "GET", prefix + "p" * (2048 - len(prefix))).status_code == 404
    r = call(app, "GET", prefix + "p" * (2049 - len(prefix)))
    assert r.status_code == 414 and r.json()["field"] == "path"

    # Render time and queue: one worker, no queue; a render over 0.2 s is a 503, and while
    # it holds the only slot another key is a 429. Both say when to come back.
    slow = call(app, "GET", mpath(focus_um=1))
    assert slow.status_code == 503 and int(slow.headers["retry-after"]) >= 1
    busy = call(app, "GET", mpath(focus_um=2))
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
    gate.release.set()
    pool = app.state.service.pool
    deadline = time.monotonic() + 30
    while pool.stats()["inflight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert call(app, "GET", mpath(focus_um=1)).headers["x-micro-cache"] == "hit"
    assert call(app, "GET", mpath(focus_um=2)).status_code == 200


# --------------------------------------------------------------------------- headers

def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>MICRO</title>")
    (site / "404.html").write_text("<!doctype html><title>Not found</title>")
    return site


ResponseMaker = Callable[[Any], httpx.Response]
CASES: dict[str, tuple[str, ResponseMaker]] = {
    "html page": ("text/html", lambda app: call(app, "GET", "/")),
    "html 404 page": ("text/html", lambda app: call(app, "GET", "/no/such/page.html")),
    "image": ("image/jpeg", lambda app: call(app, "GET", mpath(focus_um=3))),
    "not modified": ("", lambda app: call(app, "GET", mpath(focus_um=3), headers={
        "If-None-Match": call(app, "GET", mpath(focus_um=3)).headers["etag"]})),
    "redirect": ("", lambda app: call(app, "GET", "/api/render/microscope", params=MICRO)),
    "catalog json": ("application/json", lambda app: call(app, "GET", "/api/stains")),
    "openapi": ("application/json", lambda app: call(app, "GET", "/api/openapi.json")),
    "422": ("application/json", lambda app: call(app, "GET", "/api/render/microscope")),
    "404 json": ("application/json", lambda app: call(app, "GET", "/r/x")),
    "405": ("application/json", lambda app: call(app, "DELETE", "/api/health")),
    "413": ("application/json", lambda app: call(
        app, "POST", "/api/render/microscope", content=b"{" + b" " * 70000 + b"}",
        headers={"content-type": "application/json"})),
    "414": ("application/json", lambda app: call(app, "GET", "/api/health?q=" + "a" * 3000)),
    "415": ("application/json", lambda app: call(app, "POST", "/api/render/microscope",
                                                     content=b"x")),
    "500": ("application/json", lambda app: call(app, "GET", mpath(focus_um=66))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_security_headers_on_every_kind_of_response(tmp_path: Path, case: str) -> None:
    ctype, make = CASES[case]

    def renderer(req: Any, catalog: Any) -> RenderResult:
        if req.focus_um == 66:
            raise RuntimeError("render failed")
        img = np.full((8, 8), 0.5, dtype=np.float32)
        return RenderResult(encode(img, req.format, img), req.content_type, {}, img)

    app = create_app(Settings(site_dir=_site(tmp_path), cache=str(tmp_path / "cache")),
                     renderer=renderer)
    r = make(app)
    assert r.headers.get("content-type", "").startswith(ctype)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert len(r.headers["x-request-id"]) >= 8
    assert "server" not in r.headers and "x-powered-by" not in r.headers
    csp = {d.split()[0]: d.split()[1:] for d in
           r.headers["content-security-policy"].split("; ")}
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in str(csp) and "'unsafe-eval'" not in str(csp)
    if ctype == "text/html":  # the site: own scripts only, no inline script, no plugins
        assert csp["script-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'self'"] and csp["default-src"] == ["'self'"]
    else:  # API responses load nothing at all
        assert csp["default-src"] == ["'none'"]
    if case.isdigit() and int(case) >= 400:
        body = r.json()
        assert body["request_id"] == r.headers["x-request-id"]
        assert "Traceback" not in r.text and "render failed" not in r.text


def test_cors_preflight_only_for_configured_origins_and_never_with_credentials(
        tmp_path: Path) -> None:
    ok_origin, other = "https://micro.example.org", "https://evil.example"
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache"),
                              allowed_origins=(ok_origin,)))
    pre = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    ok = call(app, "OPTIONS", "/api/render/microscope", headers={"Origin": ok_origin, **pre})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ok_origin
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in ok.headers
    bad = call(app, "OPTIONS", "/api/render/microscope", headers={"Origin": other, **pre})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    put = call(app, "OPTIONS", "/api/render/microscope", headers={
        "Origin": ok_origin, "Access-Control-Request-Method": "PUT"})
    assert put.status_code == 400  # only GET, HEAD, POST
    img = call(app, "GET", "/api/render/microscope", params=MICRO, headers={"Origin": ok_origin})
    assert img.headers["access-control-allow-origin"] == ok_origin  # not "*"
    assert "origin" in img.headers["vary"].lower()
    assert "x-micro-cache" in img.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in img.headers
    closed = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache")))
    r = call(closed, "OPTIONS", "/api/render/microscope", headers={"Origin": ok_origin, **pre})
    assert "access-control-allow-origin" not in r.headers and r.status_code == 405


def test_no_debug_surface_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings.from_env({"MICRO_CACHE": str(tmp_path / "cache")}))
    assert app.debug is False
    for path in ("/redoc", "/docs/oauth2-redirect", "/openapi.json"):
        assert call(app, "GET", path).status_code == 404, path
    docs = call(app, "GET", "/docs")  # Swagger UI from local files, started by a script file
    assert docs.status_code == 200 and "<script>" not in docs.text and "//" not in "".join(
        re.findall(r'(?:src|href)="([^"]+)"', docs.text))
    # `micro serve` runs uvicorn without reload or debug, hides the server header, and
    # trusts forwarded headers only from the local proxy.
    import uvicorn

    from micro.api import protocol
    from micro.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(config=self.config))
    # the log-flood filter is process-wide: keep it out of this test process's loggers
    monkeypatch.setattr(protocol, "install_repeat_filter", lambda: seen.update(filtered=True))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.host == "127.0.0.1" and config.server_header is False
    assert config.proxy_headers is False  # forwarded headers only with --proxy-headers
    assert not config.reload and config.log_level == "info"
    assert config.app.debug is False and seen["filtered"]
    # slow and idle connections are bounded (issue 19)
    assert config.limit_concurrency == 1024 and config.timeout_keep_alive == 5
    assert config.http.header_timeout_s == 10 and config.http.body_timeout_s == 30
    result = CliRunner().invoke(main, ["serve", "--cache", str(tmp_path / "cache"),
                                       "--proxy-headers", "--cache-max-mb", "64"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.proxy_headers is True and config.forwarded_allow_ips == "127.0.0.1"
    assert "at most 64 MiB" in result.output


# --------------------------------------------------------------------------- secrets

def test_openai_key_never_reaches_a_response_or_a_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("MICRO_SITE_DIR", str(_site(tmp_path)))
    monkeypatch.setenv("MICRO_CACHE", str(tmp_path / "cache"))
    app = create_app(Settings.from_env(), renderer=Gate(fail=RuntimeError("boom")))
    plain = create_app(Settings.from_env())
    responses = [
        call(app, "GET", "/"), call(app, "GET", "/api/health"),
        call(app, "GET", "/api/openapi.json"), call(app, "GET", "/api/specimens/liver-he"),
        call(app, "GET", "/api/render/microscope", params={**MICRO, "source": "library"}),
        call(app, "GET", mpath()),  # the renderer raises: 500, logged with its traceback
        call(plain, "GET", mpath(source="library")),  # no illustration: 404 naming source
        call(plain, "POST", "/api/render/microscope", json={**MICRO, "source": "library"}),
        call(app, "GET", "/api/render/microscope?" + "x" * 5000),
    ]
    assert {r.status_code for r in responses} >= {200, 308, 404, 414, 500}
    for r in responses:
        assert SENTINEL not in r.text and SENTINEL not in str(r.headers)
        assert "OPENAI" not in r.text
    assert "boom" in caplog.text  # the log did capture the failure…
    assert SENTINEL not in caplog.text  # …and never the key


class FakeOpenAI(LoopbackFake):
    """A local stand-in for the images API that answers from `script` (status, JSON) and can
    hang; records the Authorization header it was sent."""

    def __init__(self, status: int, payload: dict[str, Any], hang: bool = False) -> None:
        self.auth: list[str] = []
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.auth.append(self.headers.get("Authorization", ""))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hang:
                    fake.released.wait(30)
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.serve(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _err(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


MASKED = SENTINEL[:8] + "*" * 20 + SENTINEL[-4:]
OPENAI_FAILURES = {
    "bad key": (401, _err(f"Incorrect API key provided: {MASKED}. You can find your API key "
                          "at https://platform.openai.com/account/api-keys.", "invalid_api_key")),
    "server error": (500, _err("The server had an error while processing your request.")),
    "rate limit": (429, _err("Rate limit reached for images", "rate_limit_exceeded")),
    "refusal": (400, _err("Your request was rejected as a result of our safety system.",
                          "content_policy_violation")),
    "timeout": (0, {}),
    "unreachable": (0, {}),
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(default_data_dir(), root, ignore=shutil.ignore_patterns("images"))
    return root


@pytest.mark.parametrize("failure", list(OPENAI_FAILURES))
def test_images_cli_errors_never_print_or_log_the_key(
        failure: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from micro.cli import main

    caplog.set_level(logging.DEBUG)
    status, payload = OPENAI_FAILURES[failure]
    fake = None if failure == "unreachable" else FakeOpenAI(status, payload,
                                                            hang=failure == "timeout")
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url if fake else closed_port_url() + "/v1")
    monkeypatch.setenv("OPENAI_LOG", "debug")  # the SDK's own debug logging on, too
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        result = CliRunner().invoke(main, [
            "images", "generate", "--specimen", "cheek-cells", "--retries", "0",
            "--timeout", "1", "--data-dir", str(data_dir)])
    finally:
        if fake:
            fake.close()
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    if fake:
        assert fake.auth == [f"Bearer {SENTINEL}"]  # it was sent where it belongs, only
    assert SENTINEL not in result.output
    assert SENTINEL not in caplog.text
    assert not (data_dir / "images").exists() or not any((data_dir / "images").rglob("*.png"))



def test_readme_documents_every_limit_with_its_default() -> None:
    from micro.api.settings import ENV

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Limits and reliability", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip()
            for line in section.splitlines() if line.startswith("| `MICRO_")}
    defaults = Settings()
    for var, name in ENV.items():
        if name.startswith(("max_", "render_", "cache_cooldown")):
            assert var in rows, var
            value = getattr(defaults, name)
            if name not in ("render_workers", "render_per_client", "max_response_bytes",
                            "max_raw_size_px", "render_signing_key"):
                # the others' defaults depend on the machine or the platform
                assert rows[var] == f"{value:g}", (var, rows[var], value)

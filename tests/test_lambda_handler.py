"""lambda/handler.py: the same app behind Mangum, driven with the three event shapes AWS
sends (Function URL, API Gateway HTTP API — both payload 2.0 — and REST API v1)."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from PIL import Image

from micro.cache import DirectoryCache
from micro.core.requests import canonicalize_microscope

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "lambda" / "handler.py"
AWS_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def load_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("MICRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MICRO_SITE_DIR", str(tmp_path / "site"))
    spec = importlib.util.spec_from_file_location("micro_lambda_handler", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def context() -> Any:
    return SimpleNamespace(aws_request_id=AWS_ID, function_name="micro-render",
                           memory_limit_in_mb=2048, invoked_function_arn="arn:aws:lambda:"
                           "us-east-1:123456789012:function:micro-render",
                           get_remaining_time_in_millis=lambda: 30000)


def v2_event(method: str, path: str, query: str = "", body: bytes | None = None,
             headers: dict[str, str] | None = None, *, function_url: bool) -> dict[str, Any]:
    domain = ("abcdefghij.lambda-url.us-east-1.on.aws" if function_url
              else "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": domain, "x-forwarded-proto": "https", "user-agent": "pytest",
                    "accept": "*/*", **(headers or {})},
        "requestContext": {
            "accountId": "anonymous" if function_url else "123456789012",
            "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "pytest"},
            "requestId": "req-1", "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2025:08:00:00 +0000", "timeEpoch": 1764230400000,
        },
        "isBase64Encoded": False,
    }
    if not function_url:
        event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} /{{proxy+}}"
        event["pathParameters"] = {"proxy": path.lstrip("/")}
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query))
    if body is not None:
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
    return event


def rest_event(method: str, path: str, query: str = "", body: bytes | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    hdrs = {"Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "X-Forwarded-Proto": "https", "User-Agent": "pytest", **(headers or {})}
    pairs = parse_qsl(query)
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": hdrs, "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": ({k: [v for kk, v in pairs if kk == k]
                                             for k, _ in pairs} or None),
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method,
                           "path": "/prod" + path, "stage": "prod", "requestId": "req-2",
                           "identity": {"sourceIp": "203.0.113.9"},
                           "accountId": "123456789012", "apiId": "a1b2c3d4e5"},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def image_path() -> str:
    return "/" + canonicalize_microscope({"instrument": "student-compound",
                                          "specimen": "stage-micrometer",
                                          "size": "256"}).path()


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    out = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for k, vs in (response.get("multiValueHeaders") or {}).items():
        out.setdefault(k.lower(), vs[0])
    return out


def check_image(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200, response.get("body")
    assert response["isBase64Encoded"] is True
    h = headers_of(response)
    assert h["content-type"] == "image/jpeg"
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert h["x-micro-cache"] in ("miss", "hit")
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-request-id"] == AWS_ID
    img = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    img.load()
    assert img.format == "JPEG" and img.width == 256


EVENTS = {
    "function-url": lambda *a, **k: v2_event(*a, **k, function_url=True),
    "http-api": lambda *a, **k: v2_event(*a, **k, function_url=False),
    "rest-api": rest_event,
}


@pytest.mark.parametrize("kind", list(EVENTS))
def test_image_comes_back_base64_encoded(kind: str, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    handler = load_handler(monkeypatch, tmp_path).handler
    first = handler(EVENTS[kind]("GET", image_path()), context())
    check_image(first)
    again = handler(EVENTS[kind]("GET", image_path()), context())
    check_image(again)
    assert headers_of(again)["x-micro-cache"] == "hit"
    assert again["body"] == first["body"]


@pytest.mark.parametrize("kind", list(EVENTS))
def test_query_redirects_and_bad_requests_are_json(kind: str, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    handler = load_handler(monkeypatch, tmp_path).handler
    q = "instrument=student-compound&specimen=stage-micrometer&size=256"
    r = handler(EVENTS[kind]("GET", "/api/render/microscope", q), context())
    assert r["statusCode"] == 308
    assert headers_of(r)["location"] == image_path()

    bad = handler(EVENTS[kind]("GET", "/api/render/microscope",
                               "instrument=student-compound&specimen=stage-micrometer"
                               "&objective=37"), context())
    assert bad["statusCode"] == 422 and bad["isBase64Encoded"] is False
    assert headers_of(bad)["content-type"] == "application/json"
    body = json.loads(bad["body"])
    assert body["field"] == "objective" and "40" in body["allowed"]
    assert body["request_id"] == AWS_ID

    missing = handler(EVENTS[kind]("GET", "/r/nothing-here.jpg"), context())
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["field"] == "path"


@pytest.mark.parametrize("kind", list(EVENTS))
def test_post_with_a_base64_body(kind: str, monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
    handler = load_handler(monkeypatch, tmp_path).handler
    payload = json.dumps({"instrument": "student-compound", "specimen": "stage-micrometer",
                          "magnification": 400, "size": 256}).encode()
    r = handler(EVENTS[kind]("POST", "/api/render/microscope", body=payload,
                             headers={"content-type": "application/json"}), context())
    assert r["statusCode"] == 200, r["body"]
    assert r["isBase64Encoded"] is False
    out = json.loads(r["body"])
    data = base64.b64decode(out["image"].removeprefix("data:image/png;base64,"))
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.width == 256
    assert "/student-compound/40/" in out["path"]  # 400× total = 40× objective × 10×


def test_handler_import_is_light() -> None:
    """Importing the handler (cold start) loads neither boto3 nor the renderers."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(HANDLER)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = ['boto3', 'botocore', 'uvicorn', 'micro.core.microscope.pipeline',\n"
        "         'micro.core.imaging.render', 'openai', 'jinja2']\n"
        "print(json.dumps({'loaded': [h for h in heavy if h in sys.modules],\n"
        "                  'handler': callable(m.handler)}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "MICRO_CACHE": "s3://micro-renders/r",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"loaded": [], "handler": True}


def test_a_response_over_lambdas_limit_is_redirected_never_a_502(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A 1024² microscope `.npy` is ~16.8 MB base64: Lambda answered 502 before. Now the
    function stores it and redirects to its canonical path (the bucket serves it next)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "micro-render")
    handler = load_handler(monkeypatch, tmp_path).handler
    path = "/" + canonicalize_microscope({"instrument": "student-compound",
                                          "specimen": "stage-micrometer", "size": "1024",
                                          "format": "npy"}).path()
    r = handler(EVENTS["function-url"]("GET", path), context())
    assert r["statusCode"] == 307, (r["statusCode"], str(r.get("body"))[:200])
    h = headers_of(r)
    assert h["location"] == path and h["cache-control"] == "no-store"
    assert len(r.get("body") or "") < 1000
    stored = DirectoryCache(tmp_path / "cache").get(path.lstrip("/"))
    assert stored is not None and len(stored) > 4_500_000
    assert stored[:6] == b"\x93NUMPY"
    # a small image still comes back in the response itself
    check_image(handler(EVENTS["function-url"]("GET", image_path()), context()))


def test_a_render_that_would_outlast_the_invocation_is_refused_up_front(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    handler = load_handler(monkeypatch, tmp_path).handler
    ctx = context()
    ctx.get_remaining_time_in_millis = lambda: 300
    r = handler(EVENTS["function-url"]("GET", image_path()), ctx)
    assert r["statusCode"] == 503
    assert headers_of(r)["retry-after"] == "1"
    assert "left in this invocation" in json.loads(r["body"])["error"]
    assert not list((tmp_path / "cache").rglob("*.jpg"))  # nothing half-done

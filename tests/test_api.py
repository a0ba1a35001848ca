"""The render API in-process (httpx over ASGI): site → cache → render, redirects, the original
POST contract, catalog, errors, limits, headers, single-flight and the bounded queue.

Tests about images use the real renderer and decode what comes back. Tests of the plumbing
(single-flight counting, a full queue, a renderer that raises or hangs) inject a renderer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from asgi_client import call
from PIL import Image

from micro.api import Settings, create_app
from micro.core.catalog import default_catalog
from micro.core.encode import encode
from micro.core.render import render
from micro.core.requests import canonicalize_imaging, canonicalize_microscope
from micro.core.result import RenderResult

MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}
CT = {"instrument": "ct-64-slice", "phantom": "shepp-logan", "size": "256"}


# --------------------------------------------------------------------------- helpers

def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def mpath(**over: Any) -> str:
    return "/" + canonicalize_microscope({**MICRO, **over}).path()


def ipath(**over: Any) -> str:
    return "/" + canonicalize_imaging({**CT, **over}).path()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "cache"),
                    render_workers=2, render_queue=4, render_timeout_s=120)


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


def cache_files(settings: Settings) -> list[Path]:
    root = Path(settings.cache)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class Gate:
    """An injected renderer that counts calls and can hold them until released. It encodes
    a real (tiny) image so the plumbing has bytes to carry."""

    def __init__(self, block: bool = False, fail: Exception | None = None):
        self.calls: list[str] = []
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, req: Any, catalog: Any) -> RenderResult:
        with self.lock:
            self.calls.append(req.path())
        if self.fail is not None:
            raise self.fail
        self.release.wait(60)
        img = np.full((8, 8), 0.5, dtype=np.float32)
        return RenderResult(encode(img, req.format, img), req.content_type, {"n": 1}, img)


async def wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- /r/ images

def test_render_on_miss_then_cache_hit_then_not_modified(app: Any, settings: Settings) -> None:
    url = mpath()
    first = call(app, "GET", url)
    assert first.status_code == 200, first.text
    assert first.headers["x-micro-cache"] == "miss"
    assert first.headers["content-type"] == "image/jpeg"
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["etag"] == '"' + hashlib.sha256(first.content).hexdigest() + '"'
    img = decode(first.content)
    assert img.format == "JPEG" and img.width == 256
    # The API serves exactly what the core renderer produces for the canonical request.
    direct = render(canonicalize_microscope(MICRO), default_catalog())
    assert direct.image == first.content
    req = canonicalize_microscope(MICRO)  # stored: the image and its info document
    assert cache_files(settings) == sorted(Path(settings.cache) / p
                                           for p in (req.path(), req.info_path()))

    second = call(app, "GET", url)
    assert second.status_code == 200
    assert second.headers["x-micro-cache"] == "hit"
    assert second.content == first.content

    again = call(app, "GET", url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = call(app, "GET", url, headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200

    head = call(app, "HEAD", url)
    assert head.status_code == 200 and head.headers["etag"] == first.headers["etag"]


def test_site_file_wins_over_cache_and_renderer(settings: Settings) -> None:
    req = canonicalize_microscope(MICRO)
    data = render(req, default_catalog()).image
    target = Path(settings.site_dir) / req.path()
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    app = create_app(settings)
    r = call(app, "GET", "/" + req.path())
    assert r.status_code == 200
    assert r.headers["x-micro-cache"] == "site"
    assert r.content == data and decode(r.content).format == "JPEG"
    assert cache_files(settings) == []  # nothing was rendered or stored


def test_info_of_a_render_lives_at_its_stem_json(app: Any, settings: Settings) -> None:
    """`<stem>.json` is the render's own info, format-independent: site → cache → render
    like images. An image rendered on demand stores its info too (the viewer's next fetch
    is a hit); info asked first renders the image in its kind's default format as well."""
    cat = default_catalog()
    req = canonicalize_microscope({**MICRO, "aperture": 0.3})
    image = call(app, "GET", "/" + req.path())
    assert image.headers["x-micro-cache"] == "miss"
    info = call(app, "GET", "/" + req.info_path())
    assert info.status_code == 200, info.text
    assert info.headers["content-type"] == "application/json"
    assert info.headers["x-micro-cache"] == "hit"
    assert info.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert info.headers["content-security-policy"].startswith("default-src 'none'")
    own = render(req.replace(cat, format="png"), cat)  # another format of the same stem
    assert info.content == own.info_document()
    doc = info.json()
    assert "path" not in doc
    assert doc["condenser_na"] == pytest.approx(0.3 * doc["objective"]["na"], rel=1e-3)
    again = call(app, "GET", "/" + req.info_path(), headers={"If-None-Match": info.headers["etag"]})
    assert again.status_code == 304

    ct = canonicalize_imaging({**CT, "mas": "20"})
    first = call(app, "GET", "/" + ct.info_path())
    assert first.status_code == 200 and first.headers["x-micro-cache"] == "miss"
    assert first.json()["mas"] == 20
    assert first.content == render(ct, cat).info_document()
    assert call(app, "GET", "/" + ct.path()).headers["x-micro-cache"] == "hit"
    assert (Path(settings.cache) / ct.info_path()).is_file()


def test_info_paths_are_canonical_and_checked(app: Any) -> None:
    req = canonicalize_microscope({**MICRO, "focus_um": "2.5"})
    loose = req.info_path().replace("/z2.5_", "/z2.50_")
    r = call(app, "GET", "/" + loose, follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/" + req.info_path()
    bad = call(app, "GET", "/" + req.info_path().replace("/z2.5_", "/z9999_"))
    assert bad.status_code == 422 and bad.json()["field"] == "focus_um"
    assert call(app, "GET", "/r/x/m/nope.json").status_code == 404


def test_site_info_wins_over_the_renderer(settings: Settings) -> None:
    req = canonicalize_imaging(CT)
    target = Path(settings.site_dir) / req.info_path()
    target.parent.mkdir(parents=True)
    target.write_bytes(b'{"kvp":120}')
    r = call(create_app(settings), "GET", "/" + req.info_path())
    assert r.status_code == 200 and r.headers["x-micro-cache"] == "site"
    assert r.json() == {"kvp": 120} and cache_files(settings) == []


def test_imaging_render_decodes_as_png(app: Any) -> None:
    r = call(app, "GET", ipath(preset="brain"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    img = decode(r.content)
    assert img.format == "PNG" and img.width == 256
    pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 0  # a phantom, not a blank frame


def test_corrupt_cache_entry_is_rerendered_and_replaced(app: Any, settings: Settings) -> None:
    url = mpath(focus_um=1)
    good = call(app, "GET", url)
    assert good.headers["x-micro-cache"] == "miss"
    (entry,) = [f for f in cache_files(settings) if f.suffix == ".jpg"]
    blob = entry.read_bytes()
    entry.write_bytes(blob[: len(blob) // 2])  # a torn write
    again = call(app, "GET", url)
    assert again.status_code == 200
    assert again.headers["x-micro-cache"] == "miss"
    assert again.content == good.content
    decode(again.content)
    assert entry.read_bytes() == blob  # replaced by a whole entry
    assert call(app, "GET", url).headers["x-micro-cache"] == "hit"


def test_cache_that_refuses_writes_still_serves_the_render(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(blocker)))
    r = call(app, "GET", mpath(focus_um=2))
    assert r.status_code == 200
    assert r.headers["x-micro-cache"] == "bypass"
    assert decode(r.content).width == 256


def test_non_canonical_paths_redirect_to_the_canonical_one(app: Any) -> None:
    canonical = mpath()
    loose = canonical.replace("/z0_", "/z0.00_").replace("_c1_", "_c1.0_")
    assert loose != canonical
    r = call(app, "GET", loose)
    assert r.status_code == 308 and r.headers["location"] == canonical
    parts = canonical.split("/")
    parts[2] = "0000000000"  # an older render version
    r = call(app, "GET", "/".join(parts))
    assert r.status_code == 308 and r.headers["location"] == canonical


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/r/abc/m/student-compound/10/stage-micrometer/none/brightfield/x.jpg", 404, "path"),
    ("/r/abc/q/whatever.jpg", 404, "path"),
    ("/r/abc/m/a/b/c/d/e/f", 404, "format"),
])
def test_unparseable_paths_are_404_json(app: Any, path: str, status: int, field: str) -> None:
    r = call(app, "GET", path)
    assert r.status_code == status
    body = r.json()
    assert body["field"] == field and body["error"]
    assert set(body) == {"error", "field", "allowed", "request_id"}


def test_invalid_values_in_a_path_name_the_field(app: Any) -> None:
    bad = mpath().replace("/student-compound/10/", "/student-compound/37/")
    r = call(app, "GET", bad)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "objective"
    assert "40" in body["allowed"]


def test_size_over_the_server_limit_is_413(tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c"), max_size_px=256))
    r = call(app, "GET", mpath(size="512"))
    assert r.status_code == 413 and r.json()["field"] == "size"


# --------------------------------------------------------------------------- query → 308

def test_query_redirects_to_the_canonical_microscope_path(app: Any) -> None:
    r = call(app, "GET", "/api/render/microscope", params={**MICRO, "objective": "40.0"})
    assert r.status_code == 308
    assert r.headers["location"] == mpath(objective=40)
    img = call(app, "GET", r.headers["location"])
    assert img.status_code == 200 and decode(img.content).format == "JPEG"


def test_query_redirects_to_the_canonical_imaging_path(app: Any) -> None:
    r = call(app, "GET", "/api/render/imaging", params={**CT, "preset": "lung"})
    assert r.status_code == 308
    assert r.headers["location"] == ipath(window=1500, level=-600)


@pytest.mark.parametrize(("params", "field"), [
    ({**MICRO, "instrument": "hubble"}, "instrument"),
    ({**MICRO, "objective": "NaN"}, "objective"),
    ({**MICRO, "focus_um": "1e308"}, "focus_um"),
    ({**MICRO, "size": "-1"}, "size"),
    ({**MICRO, "warp": "9"}, "warp"),
])
def test_bad_query_values_are_422_naming_the_field(app: Any, params: dict[str, str],
                                                     field: str) -> None:
    r = call(app, "GET", "/api/render/microscope", params=params)
    assert r.status_code == 422
    assert r.json()["field"] == field


def test_duplicated_query_parameter_is_rejected(app: Any) -> None:
    q = "instrument=student-compound&specimen=stage-micrometer&focus_um=1&focus_um=2"
    r = call(app, "GET", "/api/render/microscope?" + q)
    assert r.status_code == 422 and r.json()["field"] == "focus_um"


def test_overlong_query_is_414(app: Any) -> None:
    r = call(app, "GET", "/api/render/microscope?x=" + "a" * 5000)
    assert r.status_code == 414 and r.json()["field"] == "query"


# --------------------------------------------------------------------------- POST contract

def test_post_microscope_accepts_objective_or_total_magnification(app: Any) -> None:
    body = {"instrument": "student-compound", "specimen": "stage-micrometer", "stain": "none",
            "size": 256}
    by_objective = call(app, "POST", "/api/render/microscope", json={**body,
                                                                      "magnification": 40})
    by_total = call(app, "POST", "/api/render/microscope", json={**body, "magnification": 400})
    assert by_objective.status_code == 200, by_objective.text
    a, b = by_objective.json(), by_total.json()
    assert a["image"] == b["image"]
    assert a["image"].startswith("data:image/png;base64,")
    img = decode(base64.b64decode(a["image"].split(",", 1)[1]))
    assert img.format == "PNG" and img.width == 256
    assert isinstance(a["info"], dict) and a["info"]
    assert a["path"] == mpath(objective=40, stain="none", format="png")


def test_post_imaging_answers_a_png_data_url(app: Any) -> None:
    r = call(app, "POST", "/api/render/imaging", json={**CT, "size": 256, "preset": "brain"})
    assert r.status_code == 200, r.text
    data = base64.b64decode(r.json()["image"].removeprefix("data:image/png;base64,"))
    assert decode(data).format == "PNG"


def test_post_reads_and_fills_the_same_cache_as_get(app: Any, settings: Settings) -> None:
    body = {**CT, "size": 256, "mas": 50}
    first = call(app, "POST", "/api/render/imaging", json=body)
    assert first.status_code == 200 and first.headers["x-micro-cache"] == "miss"
    doc = first.json()
    image = base64.b64decode(doc["image"].removeprefix("data:image/png;base64,"))
    got = call(app, "GET", doc["path"])  # the canonical PNG of the same request
    assert got.headers["x-micro-cache"] == "hit" and got.content == image
    info = call(app, "GET", doc["path"].removesuffix(".png") + ".json")
    assert info.headers["x-micro-cache"] == "hit" and info.json() == doc["info"]
    assert doc["info"]["mas"] == 50 and "path" not in doc["info"]

    req = canonicalize_imaging({**CT, "mas": "60", "format": "png"})
    assert call(app, "GET", "/" + req.path()).headers["x-micro-cache"] == "miss"
    again = call(app, "POST", "/api/render/imaging", json={**CT, "size": 256, "mas": 60})
    assert again.headers["x-micro-cache"] == "hit"
    assert again.json()["info"] == call(app, "GET", "/" + req.info_path()).json()
    assert len(cache_files(settings)) == 4  # two renders, each an image and its info


@pytest.mark.parametrize(("kwargs", "status", "field"), [
    ({"json": {"instrument": "student-compound", "specimen": "stage-micrometer",
               "magnification": 37}}, 422, "magnification"),
    ({"json": {"instrument": "student-compound", "specimen": "stage-micrometer",
               "magnification": 40, "objective": 40}}, 422, "magnification"),
    ({"json": {"instrument": "nope", "specimen": "stage-micrometer"}}, 422, "instrument"),
    ({"json": ["not", "an", "object"]}, 422, "body"),
    ({"content": b'{"instrument": NaN}', "headers": {"content-type": "application/json"}},
     422, "body"),
    ({"content": b"instrument=student-compound",
      "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415, "content-type"),
    ({"content": b"[" * 20000 + b"]" * 20000, "headers": {"content-type": "application/json"}},
     422, "body"),
])
def test_post_bad_bodies(app: Any, kwargs: dict[str, Any], status: int, field: str) -> None:
    r = call(app, "POST", "/api/render/microscope", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field


def test_bodies_over_64_kib_are_413(app: Any) -> None:
    big = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    r = call(app, "POST", "/api/render/microscope", content=big,
             headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"

    def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(80):
            yield b"x" * 1024

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://micro.test") as client:
            async def agen() -> Any:
                for c in chunks():
                    yield c
            return await client.post("/api/render/microscope", content=agen(),
                                     headers={"content-type": "application/json"})

    r = asyncio.run(go())
    assert r.status_code == 413 and r.json()["field"] == "body"


# --------------------------------------------------------------------------- catalog, meta

def test_catalog_endpoints(app: Any) -> None:
    cat = default_catalog()
    for kind in ("instruments", "specimens", "stains", "phantoms"):
        r = call(app, "GET", f"/api/{kind}")
        assert r.status_code == 200
        assert sorted(e["id"] for e in r.json()) == sorted(cat.entries(kind))
    one = call(app, "GET", "/api/instruments/student-compound").json()
    assert one["objectives"][2]["na"] == 0.65
    assert call(app, "GET", "/api/phantoms/shepp-logan").json()["id"] == "shepp-logan"
    r = call(app, "GET", "/api/stains/..%2F..%2Fetc%2Fpasswd")
    assert r.status_code in (404, 422)
    r = call(app, "GET", "/api/specimens/unicorn")
    assert r.status_code == 422
    assert "stage-micrometer" in r.json()["allowed"]


def test_health_reports_version_counts_and_cache(app: Any) -> None:
    h = call(app, "GET", "/api/health").json()
    assert h["status"] == "ok"
    assert h["catalog"] == default_catalog().counts()
    assert h["cache"] == {"backend": "directory", "reachable": True, "writable": True,
                          "write_failures": 0}
    # counts only: nobody learns which paths other users are rendering
    assert set(h["renders"]) == {"workers", "limit", "per_client", "inflight", "waiting",
                                 "clients", "jobs_started", "avg_render_s"}
    assert len(h["render_version"]) == 10


def test_openapi_lists_catalog_ids_as_enums(app: Any) -> None:
    doc = call(app, "GET", "/api/openapi.json").json()
    cat = default_catalog()
    params = {p["name"]: p for p in doc["paths"]["/api/render/microscope"]["get"]["parameters"]}
    assert params["instrument"]["schema"]["enum"] == cat.microscope_ids()
    assert "stage-micrometer" in params["specimen"]["schema"]["enum"]
    body = doc["paths"]["/api/render/imaging"]["post"]["requestBody"]["content"]
    assert "shepp-logan" in body["application/json"]["schema"]["properties"]["phantom"]["enum"]
    item = doc["paths"]["/api/instruments/{item_id}"]["get"]["parameters"][0]["schema"]
    ref = item["$ref"].rsplit("/", 1)[1]
    assert sorted(doc["components"]["schemas"][ref]["enum"]) == sorted(cat.instruments)


# What each operation documents is what it can answer: its own errors, plus the edge's
# (413 body too large, 414 URI too long, 500) on every route.
DOCUMENTED = {
    ("get", "/r/{path}"): {200, 304, 308, 404, 413, 414, 422, 429, 500, 503},
    ("get", "/api/render/microscope"): {308, 413, 414, 422, 500},
    ("get", "/api/render/imaging"): {308, 413, 414, 422, 500},
    ("post", "/api/render/microscope"): {200, 404, 413, 414, 415, 422, 429, 500, 503},
    ("post", "/api/render/imaging"): {200, 404, 413, 414, 415, 422, 429, 500, 503},
    ("get", "/api/health"): {200, 413, 414, 500},
    ("get", "/api/instruments"): {200, 413, 414, 500},
    ("get", "/api/instruments/{item_id}"): {200, 404, 413, 414, 422, 500},
}


def test_openapi_lists_the_statuses_each_route_returns(tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path / "site", cache=str(tmp_path / "c"),
                              max_size_px=512))
    doc = call(app, "GET", "/api/openapi.json").json()
    for (method, path), codes in DOCUMENTED.items():
        op = doc["paths"][path][method]
        assert {int(c) for c in op["responses"]} == codes, (method, path)
        for code in codes - {200, 304, 308}:
            schema = op["responses"][str(code)]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorBody")
    # and they are what the server answers
    seen = {
        ("get", "/r/{path}"): [call(app, "GET", "/r/x").status_code,
                               call(app, "GET", mpath().replace("/z0_", "/z9999_")).status_code,
                               call(app, "GET", mpath(size=1024)).status_code],
        ("get", "/api/render/microscope"): [
            call(app, "GET", "/api/render/microscope", params={**MICRO, "focus_um": "x"},
                 follow_redirects=False).status_code,
            call(app, "GET", "/api/render/microscope", params={**MICRO, "size": "1024"},
                 follow_redirects=False).status_code],
        ("post", "/api/render/imaging"): [
            call(app, "POST", "/api/render/imaging", content=b"x").status_code,
            call(app, "POST", "/api/render/imaging", json={**CT, "kvp": 1}).status_code],
        ("get", "/api/instruments/{item_id}"): [
            call(app, "GET", "/api/instruments/nope").status_code],
        ("get", "/api/health"): [
            call(app, "GET", "/api/health?q=" + "a" * 3000).status_code],
    }
    assert seen == {
        ("get", "/r/{path}"): [404, 422, 413],
        ("get", "/api/render/microscope"): [422, 413],
        ("post", "/api/render/imaging"): [415, 422],
        ("get", "/api/instruments/{item_id}"): [422],
        ("get", "/api/health"): [414],
    }
    for (method, path), statuses in seen.items():
        assert set(statuses) <= DOCUMENTED[(method, path)]


def test_unknown_api_routes_are_json_404s_whatever_the_method(app: Any) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        r = call(app, method, "/api/no/such/route")
        assert r.status_code == 404, method
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["field"] == "path" and "/api/health" in body["allowed"]
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    wrong = call(app, "DELETE", "/api/health")  # a route, another method
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"


def test_docs_are_swagger_ui_served_from_this_host(app: Any) -> None:
    page = call(app, "GET", "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text  # the CSP forbids inline script
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    assets = [r for r in refs if r.startswith("/docs/")]
    assert len(assets) == 3, refs  # the stylesheet, Swagger UI, and the script starting it
    for ref in assets:
        r = call(app, "GET", ref)
        assert r.status_code == 200 and len(r.content) > 30, ref
        assert r.headers["content-type"].startswith(
            "text/css" if ref.endswith(".css") else "text/javascript"), ref
    assert b"SwaggerUIBundle" in call(app, "GET", "/docs/swagger-ui-bundle.js").content
    init = call(app, "GET", "/docs/init.js").text
    assert '"/api/openapi.json"' in init and "validatorUrl: null" in init
    assert call(app, "GET", "/docs/other.js").status_code == 404


# --------------------------------------------------------------------------- site, headers

def test_site_pages_get_security_headers_and_a_strict_csp(settings: Settings) -> None:
    site = Path(settings.site_dir)
    site.mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>MICRO</title>")
    app = create_app(settings)
    r = call(app, "GET", "/")
    assert r.status_code == 200 and "MICRO" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "img-src 'self' data: blob:" in csp
    for resp in (r, call(app, "GET", "/api/health"), call(app, "GET", "/nope")):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"]
        assert resp.headers["x-request-id"]
    assert call(app, "GET", "/nope").json()["error"] == "not found"


def test_revalidated_site_files_keep_the_site_csp(settings: Settings) -> None:
    """A 304 has no content type; the policy follows the path, so a page, script or style
    revalidated by the browser keeps the site's policy (the browser applies a 304's headers
    to what it cached), while renders and API answers keep `default-src 'none'`."""
    site = Path(settings.site_dir)
    (site / "static" / "js").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>MICRO</title>")
    (site / "static" / "js" / "main.js").write_text("export {};")
    (site / "static" / "site.css").write_text("body { margin: 0; }")
    app = create_app(settings)
    for path in ("/index.html", "/static/js/main.js", "/static/site.css"):
        first = call(app, "GET", path)
        again = call(app, "GET", path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path
        for r in (first, again):
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "style-src 'self'" in csp, (path, csp)
    image = call(app, "GET", mpath())
    again = call(app, "GET", mpath(), headers={"If-None-Match": image.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-security-policy"].startswith("default-src 'none'")
    assert call(app, "GET", "/api/health").headers["content-security-policy"].startswith(
        "default-src 'none'")


def test_api_origins_extend_the_csp(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html>")
    app = create_app(Settings(site_dir=site, cache=str(tmp_path / "c"),
                              api_origins=("https://render.example.org",)))
    csp = call(app, "GET", "/").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://render.example.org" in csp


def test_path_traversal_never_leaves_the_site(settings: Settings, tmp_path: Path) -> None:
    site = Path(settings.site_dir)
    site.mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html>ok")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    app = create_app(settings)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                 "/r/../../secret.txt", "/r/%2e%2e/%2e%2e/secret.txt", "//etc/passwd",
                 "/r/abc/m/..%2f..%2f..%2fsecret.txt/1/2/3/4/5.jpg", "/%00", "/.%2e/%2e%2e/"):
        r = call(app, "GET", path)
        assert "TOP-SECRET" not in r.text, path
        assert r.status_code in (308, 404, 422), (path, r.status_code)


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    app = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c"),
                              allowed_origins=("https://micro.example.org",)))
    ok = call(app, "GET", "/api/health", headers={"Origin": "https://micro.example.org"})
    assert ok.headers["access-control-allow-origin"] == "https://micro.example.org"
    bad = call(app, "GET", "/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers
    closed = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c")))
    r = call(closed, "GET", "/api/health", headers={"Origin": "https://micro.example.org"})
    assert "access-control-allow-origin" not in r.headers


def test_incoming_request_id_is_echoed_only_when_safe(app: Any) -> None:
    r = call(app, "GET", "/api/health", headers={"X-Request-ID": "abcdef0123456789"})
    assert r.headers["x-request-id"] == "abcdef0123456789"
    r = call(app, "GET", "/api/health", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert "<" not in r.headers["x-request-id"]


# --------------------------------------------------------------------------- mechanics

def test_single_flight_renders_once_for_concurrent_requests(settings: Settings) -> None:
    gate = Gate(block=True)
    app = create_app(settings, renderer=gate)
    service = app.state.service
    url = mpath(focus_um=3)
    key = url.lstrip("/")

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://micro.test") as client:
            tasks = [asyncio.create_task(client.get(url)) for _ in range(30)]
            await wait_until(lambda: service.pool.waiting_on(key) == 30,
                             "30 waiters")
            gate.release.set()
            return list(await asyncio.gather(*tasks))

    responses = asyncio.run(go())
    assert gate.calls == [key]
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert {r.headers["x-micro-cache"] for r in responses} == {"miss"}


def test_full_queue_answers_429_with_retry_after_and_recovers(tmp_path: Path) -> None:
    gate = Gate(block=True)
    app = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c"), render_workers=1,
                              render_queue=1, render_per_client=3), renderer=gate)
    pool = app.state.service.pool
    urls = [mpath(focus_um=z) for z in (10, 11, 12)]

    async def go() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://micro.test") as client:
            held = [asyncio.create_task(client.get(u)) for u in urls[:2]]
            await wait_until(lambda: pool.stats()["inflight"] == 2, "2 renders in flight")
            refused = await client.get(urls[2])
            gate.release.set()
            done = list(await asyncio.gather(*held))
            later = await client.get(urls[2])
            return done, refused, later

    done, refused, later = asyncio.run(go())
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"] and refused.json()["request_id"]
    assert [r.status_code for r in done] == [200, 200]
    assert later.status_code == 200 and later.headers["x-micro-cache"] == "miss"


def test_a_renderer_that_raises_gives_500_json_with_request_id(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    boom = Gate(fail=RuntimeError("secret internal detail /home/x/renderer.py"))
    app = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c")), renderer=boom)
    r = call(app, "GET", mpath())
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"error", "field", "allowed", "request_id"}
    assert body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text and "secret" not in r.text and ".py" not in r.text
    assert body["request_id"] in caplog.text  # the server log has it, with the traceback
    assert "secret internal detail" in caplog.text
    # The server keeps serving.
    assert call(app, "GET", "/api/health").status_code == 200
    boom.fail = None
    assert call(app, "GET", mpath()).status_code == 200


def test_a_slow_render_times_out_with_503_and_lands_in_the_cache(tmp_path: Path) -> None:
    gate = Gate(block=True)
    app = create_app(Settings(site_dir=tmp_path, cache=str(tmp_path / "c"),
                              render_timeout_s=0.2), renderer=gate)
    url = mpath(focus_um=4)
    r = call(app, "GET", url)
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]
    gate.release.set()
    pool = app.state.service.pool
    deadline = time.monotonic() + 30
    while pool.stats()["inflight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    again = call(app, "GET", url)
    assert again.status_code == 200 and again.headers["x-micro-cache"] == "hit"
    assert len(gate.calls) == 1


# --------------------------------------------------------------------------- settings

def test_settings_from_env() -> None:
    s = Settings.from_env({"MICRO_SITE_DIR": "/srv/site", "MICRO_RENDER_WORKERS": "3",
                           "MICRO_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
                           "MICRO_RENDER_TIMEOUT_S": "2.5", "MICRO_DATA_DIR": "/d"})
    assert s.site_dir == Path("/srv/site") and s.render_workers == 3
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.render_timeout_s == 2.5 and s.data_dir == Path("/d")


@pytest.mark.parametrize(("env", "var"), [
    ({"MICRO_RENDER_WORKERS": "many"}, "MICRO_RENDER_WORKERS"),
    ({"MICRO_RENDER_WORKERS": "0"}, "MICRO_RENDER_WORKERS"),
    ({"MICRO_RENDER_TIMEOUT_S": "soon"}, "MICRO_RENDER_TIMEOUT_S"),
    ({"MICRO_ALLOWED_ORIGINS": "*"}, "origin"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], var: str) -> None:
    from micro.api.settings import SettingsError

    with pytest.raises(SettingsError, match=var):
        Settings.from_env(env)


def test_wrong_method_lists_every_allowed_method(app: Any) -> None:
    r = call(app, "PUT", "/api/render/microscope")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.json()["allowed"] == "GET, POST"


def test_serve_command_reports_bad_settings_in_one_line(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from micro.cli import main

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["serve", "--cache", "ftp://host/x"])
    assert r.exit_code == 2
    assert "s3://bucket/prefix" in r.output and "Traceback" not in r.output
    monkeypatch.setenv("MICRO_RENDER_WORKERS", "lots")
    r = CliRunner().invoke(main, ["serve"])
    assert r.exit_code == 2 and "MICRO_RENDER_WORKERS" in r.output


def test_text_is_compressed_images_are_not(app: Any) -> None:
    """Page weight: JSON, pages and scripts go out gzipped to clients that accept it
    (catalog.json shrinks ~4×); images are sent as they are."""
    r = call(app, "GET", "/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.json()["openapi"]  # httpx decodes it: the body is valid gzip
    img = call(app, "GET", mpath(focus_um=7), headers={"Accept-Encoding": "gzip"})
    assert img.status_code == 200 and "content-encoding" not in img.headers
    plain = call(app, "GET", "/api/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


@pytest.mark.parametrize(("args", "names"), [
    (["render", "microscope", "--view", "side", "--instrument", "student-compound",
      "--specimen", "blood-smear", "-o", "x.png"], ["view", "camera", "eyepiece"]),
    (["render", "microscope", "--specimen", "blood-smear", "-o", "x.png"], ["--instrument"]),
    (["render", "imaging", "--instrument", "mri-1-5t", "--phantom", "shepp-logan", "-o",
      "x.png"], ["phantom", "mr-shepp-logan"]),
])
def test_cli_usage_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       args: list[str], names: list[str]) -> None:
    """A bad or missing option is one line naming the option (and what is allowed), exit 2:
    not Click's usage block, and not "unknown id" for a phantom that exists elsewhere."""
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    r = subprocess.run([sys.executable, "-m", "micro", *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert all(n in lines[0] for n in names), lines[0]
    assert "unknown id" not in lines[0]
    assert not (tmp_path / "x.png").exists()

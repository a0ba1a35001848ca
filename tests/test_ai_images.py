"""`micro images generate|list|remove` against a local stand-in for the OpenAI images API.

Tests never reach OpenAI: a ThreadingHTTPServer on 127.0.0.1 speaks
`POST /v1/images/generations` and the real `openai` SDK is pointed at it through
OPENAI_BASE_URL with a fake OPENAI_API_KEY. Retry delays come from `retry-after-ms` headers
(the SDK honours them), so the retry tests take milliseconds."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from micro.cli import main
from micro.core.catalog import Catalog, default_data_dir
from micro.core.errors import NotFound
from micro.core.render import render
from micro.core.requests import canonicalize_microscope

SPECIMEN, STAIN = "cheek-cells", "methylene-blue"
REFUSAL = {"error": {"message": "Your request was rejected as a result of our safety system. "
                                "Your prompt may contain text that is not allowed.",
                     "type": "image_generation_user_error", "param": None,
                     "code": "content_policy_violation"}}


def png_bytes(seed: int = 0, size: int = 1024) -> bytes:
    """A real 1024² PNG: pale background with a few stained blobs (no text)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.full((size, size, 3), 245, np.uint8)
    for _ in range(6):
        cx, cy = rng.integers(100, size - 100, 2).tolist()
        r = int(rng.integers(30, 90))
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (70, 110, 200)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def ok_body(*images: bytes) -> dict[str, Any]:
    return {"created": 1735689600,
            "data": [{"b64_json": base64.b64encode(b).decode()} for b in images]}


class FakeImagesAPI:
    """Answers POST /v1/images/generations from a script of (status, body, headers); the last
    entry repeats. Records every request (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append((self.path, dict(self.headers), body))
                if self.path != "/v1/images/generations":
                    status, payload, headers = 404, {"error": {"message": "no route"}}, {}
                else:
                    i = min(len(api.requests) - 1, len(api.script) - 1)
                    status, payload, headers = api.script[i]
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture()
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImagesAPI]:
    fake = FakeImagesAPI()
    fake.thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join(timeout=5)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(default_data_dir(), root, ignore=shutil.ignore_patterns("images"))
    return root


def run(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["images", *args, "--data-dir", str(data_dir)])


def generate(data_dir: Path, *extra: str) -> Any:
    return run(data_dir, "generate", "--specimen", SPECIMEN, "--stain", STAIN,
               "--retries", "2", "--timeout", "20", *extra)


def library_files(data_dir: Path) -> list[Path]:
    root = data_dir / "images"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def one_error_line(result: Any) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


# --------------------------------------------------------------------------- success

def test_generate_writes_png_and_sidecar(api: FakeImagesAPI, data_dir: Path) -> None:
    images = (png_bytes(1), png_bytes(2))
    api.script = [(200, ok_body(*images), {})]
    result = generate(data_dir, "--count", "2")
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 1
    path, headers, body = api.requests[0]
    assert headers["Authorization"] == "Bearer sk-test-not-a-real-key"
    assert body["model"] == "gpt-image-1" and body["n"] == 2 and body["size"] == "1024x1024"
    prompt = body["prompt"]
    assert "Human cheek cells" in prompt and "Methylene blue" in prompt
    assert "No labels or text" in prompt
    # camera FOV of the recommended 40× objective: 3072 px × 2.4 µm / (40 × 0.5 adapter)
    width_um = 3072 * 2.4 / (40 * 0.5)
    assert f"{width_um:.0f} µm wide" in prompt

    files = library_files(data_dir)
    pngs = [p for p in files if p.suffix == ".png"]
    assert len(pngs) == 2 and len(files) == 4  # no temp files left behind
    assert {p.read_bytes() for p in pngs} == set(images)
    for png in pngs:
        assert png.parent == data_dir / "images" / SPECIMEN / STAIN
        meta = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
        assert meta["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
        assert meta["provenance"] == "ai-illustration"
        assert meta["width_um"] == pytest.approx(width_um, rel=1e-4)
        assert meta["height_um"] == pytest.approx(width_um, rel=1e-4)  # square image
        assert (meta["width_px"], meta["height_px"]) == (1024, 1024)
        assert meta["prompt"] == prompt and meta["model"] == "gpt-image-1"
        assert meta["size"] == "1024x1024" and meta["created"].startswith("2025-01-01T00:00:00")
        assert png.stem in result.output

    listed = run(data_dir, "list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert len(rows) == 2 and all(r["ok"] for r in rows)

    cat = Catalog.load(data_dir)
    req = canonicalize_microscope({"instrument": "student-compound", "specimen": SPECIMEN,
                                   "stain": STAIN, "source": "library", "size": 256}, cat)
    info = render(req, cat).info
    assert info["provenance"] == "ai-illustration"
    assert info["illustration"]["sha256"] in {r["sha256"] for r in rows}

    removed = run(data_dir, "remove", *(r["entry"] for r in rows))
    assert removed.exit_code == 0, removed.output
    assert library_files(data_dir) == []
    assert "empty" in run(data_dir, "list").output
    with pytest.raises(NotFound):
        render(req, Catalog.load(data_dir))


def test_rate_limit_then_success(api: FakeImagesAPI, data_dir: Path) -> None:
    api.script = [(429, {"error": {"message": "Rate limit reached for images",
                                   "type": "requests", "code": "rate_limit_exceeded"}},
                   {"retry-after-ms": "5"}),
                  (200, ok_body(png_bytes(3)), {})]
    result = generate(data_dir)
    assert result.exit_code == 0, result.output
    assert len(api.requests) == 2  # the SDK retried
    assert api.requests[1][1].get("x-stainless-retry-count") == "1"
    assert len([p for p in library_files(data_dir) if p.suffix == ".png"]) == 1


# --------------------------------------------------------------------------- failures

def test_content_policy_refusal_gives_its_reason(api: FakeImagesAPI, data_dir: Path) -> None:
    api.script = [(400, REFUSAL, {})]
    line = one_error_line(generate(data_dir))
    assert "refused" in line and "content_policy_violation" in line
    assert "rejected as a result of our safety system" in line
    assert len(api.requests) == 1  # a refusal is not retried
    assert library_files(data_dir) == []


def test_server_error_every_time(api: FakeImagesAPI, data_dir: Path) -> None:
    api.script = [(500, {"error": {"message": "The server had an error while processing your "
                                              "request.", "type": "server_error"}},
                   {"retry-after-ms": "5"})]
    line = one_error_line(generate(data_dir))
    assert "server error" in line and "500" in line and "after 2 retries" in line
    assert len(api.requests) == 3  # one try and two retries
    assert library_files(data_dir) == []


def test_truncated_image_writes_nothing(api: FakeImagesAPI, data_dir: Path) -> None:
    whole = png_bytes(4)
    api.script = [(200, ok_body(png_bytes(5), whole[: len(whole) // 2]), {})]
    line = one_error_line(generate(data_dir, "--count", "2"))
    assert "image 2" in line and "truncated or corrupt" in line and "nothing was written" in line
    assert library_files(data_dir) == []  # not even the good first image


def _bomb(side: int) -> bytes:
    """A PNG of side × side black pixels: a few kB that inflate to side² × 3 bytes."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    row = b"\x00" + b"\x00" * (3 * side)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding(api: FakeImagesAPI,
                                                      data_dir: Path) -> None:
    """PNGs that inflate to gigabytes from a few MB are refused from their header: a 30000²
    one over Pillow's pixel limit, a 5000² one (75 MB of pixels) over the largest side."""
    for side, words in ((30000, "decompression bomb"), (5000, "5000×5000")):
        bomb = _bomb(side)
        assert len(bomb) < 4_000_000
        api.script = [(200, ok_body(bomb), {})]
        line = one_error_line(generate(data_dir, "--size", f"{side}x{side}"))
        assert words in line and "nothing was written" in line, line
        assert library_files(data_dir) == []


def test_image_of_another_size_is_refused(api: FakeImagesAPI, data_dir: Path) -> None:
    api.script = [(200, ok_body(png_bytes(6, size=512)), {})]
    line = one_error_line(generate(data_dir))
    assert "512×512" in line and "1024×1024" in line
    assert library_files(data_dir) == []


def test_missing_key_says_how_to_set_it(api: FakeImagesAPI, data_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    line = one_error_line(generate(data_dir))
    assert "OPENAI_API_KEY is not set" in line and "export OPENAI_API_KEY=" in line
    assert api.requests == []
    assert library_files(data_dir) == []


def test_bad_arguments_name_the_field(api: FakeImagesAPI, data_dir: Path) -> None:
    line = one_error_line(run(data_dir, "generate", "--specimen", "no-such-thing"))
    assert line.startswith("Error: specimen:") and "cheek-cells" in line
    line = one_error_line(run(data_dir, "generate", "--specimen", SPECIMEN, "--stain", "he"))
    assert "stain:" in line and "methylene-blue" in line
    line = one_error_line(run(data_dir, "generate", "--specimen", "pollen-sem"))
    assert "specimen:" in line and "sem" in line
    line = one_error_line(run(data_dir, "generate", "--specimen", SPECIMEN, "--size", "big"))
    assert "size:" in line
    line = one_error_line(run(data_dir, "remove", "cheek-cells/none/nothing"))
    assert "entry:" in line
    assert api.requests == []


def test_list_reports_a_corrupt_entry(api: FakeImagesAPI, data_dir: Path) -> None:
    api.script = [(200, ok_body(png_bytes(6)), {})]
    assert generate(data_dir).exit_code == 0
    png = next(p for p in library_files(data_dir) if p.suffix == ".png")
    png.write_bytes(png.read_bytes()[:-100])
    out = run(data_dir, "list").output
    assert "UNUSABLE" in out and "SHA-256 mismatch" in out

"""Bad input through the app (issue 10): hypothesis over the request models and the path
parser, schemathesis over the app's own OpenAPI, and a fixed list of hostile inputs.

Every input is either served (2xx/3xx; a 200 decodes as an image) or refused with a 4xx JSON
body naming the field — never a 5xx — and nothing is read or written outside the site and
cache directories (a Python audit hook records every file the process opens meanwhile).

Requests go in-process: httpx over ASGI for queries and bodies, and a raw ASGI call for
paths, because httpx removes literal `..` segments that a real client (curl --path-as-is)
can send and uvicorn passes on.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import io
import json
import logging
import mimetypes
import os
import shutil
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from asgi_client import call
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.specs.openapi.checks import positive_data_acceptance

from micro.api import Settings, create_app
from micro.core.catalog import default_catalog
from micro.core.models import MicroscopeInstrument
from micro.core.params import IMAGING_PARAMS, MICROSCOPE_PARAMS, Choice, Number
from micro.core.requests import MICROSCOPE_KEYS, canonicalize_imaging, canonicalize_microscope

ROOT = Path(__file__).resolve().parents[1]
CAT = default_catalog()
MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}
CT = {"instrument": "ct-64-slice", "phantom": "shepp-logan", "size": "256"}
SECRET = "TOP-SECRET-7f3a"
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# A dense specimen under a wide field of view (a blood smear at 0.25×, DNA on mica at 4×)
# used to overflow the scene lattice (500) or render for a minute; the lattice now
# subsamples such populations and sub-pixel molecules are drawn as dots. The fuzzers draw
# every specimen, and test_dense_lattice_view_is_not_a_server_error pins the fix.


class ErrorLog(logging.Handler):
    """The app's logged errors (the 500 fallback logs the request id and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


ERRORS = ErrorLog()


@pytest.fixture(scope="module", autouse=True)
def _error_log() -> Iterator[ErrorLog]:
    logger = logging.getLogger("micro.api")
    logger.addHandler(ERRORS)
    try:
        yield ERRORS
    finally:
        logger.removeHandler(ERRORS)


# --------------------------------------------------------------------------- the app

def _make_root() -> Path:
    base = Path(tempfile.mkdtemp(prefix="micro-reliability-input-"))
    (base / "site").mkdir()
    (base / "site" / "index.html").write_text("<!doctype html><title>MICRO</title>")
    (base / "secret.txt").write_text(SECRET)  # beside the site and cache: never to be read
    return base


# Sizes are capped at 256 px so fuzzed renders stay cheap: a larger size is a 413 naming
# `size`, one of the allowed outcomes.
ROOT_DIR = _make_root()
atexit.register(shutil.rmtree, ROOT_DIR, True)
SETTINGS = Settings(site_dir=ROOT_DIR / "site", cache=str(ROOT_DIR / "cache"),
                    render_workers=2, render_queue=64, render_timeout_s=120, max_size_px=256,
                    # thousands of fuzzed renders from one address: fairness has its own tests
                    render_rate_per_client=1e5, render_burst_per_client=1e5)
# Schemathesis loads its schema at import (its lazy fixture loader does not run under this
# pytest) and runs the app's lifespan, ending it after every test item; it gets its own app
# so the one the other tests share is never shut down under them.
SCHEMA_APP = create_app(SETTINGS)


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    try:
        yield ROOT_DIR
    finally:
        shutil.rmtree(ROOT_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def app(root: Path) -> Any:
    return create_app(SETTINGS)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    reads: int = 0
    """Body chunks the app pulled from the client."""

    def json(self) -> Any:
        return json.loads(self.body)


def asgi(app: Any, method: str, raw_path: str, query: str = "", *,
         headers: dict[str, str] | None = None, chunks: list[bytes] | None = None) -> Reply:
    """One request straight into the ASGI app, the scope built as uvicorn builds it: the
    raw target kept, the path percent-decoded, nothing normalized."""
    raw = raw_path.encode("ascii")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": urllib.parse.unquote(raw_path),
             "raw_path": raw, "query_string": query.encode("ascii"), "root_path": "",
             "headers": [(b"host", b"micro.test"),
                         *((k.lower().encode("latin-1"), v.encode("latin-1"))
                           for k, v in (headers or {}).items())],
             "client": ("127.0.0.1", 50000), "server": ("micro.test", 80), "state": {}}
    pending = list(chunks or [b""])
    reply = Reply(0, {}, b"")
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.sleep(3600)  # a client that sent everything and waits
        reply.reads += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode().lower(): v.decode("latin-1")
                             for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    asyncio.run(app(scope, receive, send))
    reply.body = b"".join(parts)
    return reply


def decode(content_type: str, data: bytes) -> tuple[int, ...]:
    """Decode a served render; its pixel shape."""
    if content_type == "application/octet-stream":
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        assert arr.ndim in (2, 3) and arr.size and np.isfinite(arr).all()
        return tuple(arr.shape)
    assert content_type.startswith("image/"), content_type
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format in ("JPEG", "PNG", "WEBP")
    return (img.height, img.width)


def assert_refusal(status: int, body: bytes, sent: dict[str, str] | None = None) -> str:
    """A 4xx JSON error body naming a field; returns the field. The message quotes at most
    the start of what was sent."""
    assert 400 <= status < 500, status
    err = json.loads(body)
    assert set(err) == {"error", "field", "allowed", "request_id"}, err
    assert isinstance(err["error"], str) and err["error"], err
    assert isinstance(err["field"], str) and err["field"], err
    assert len(err["error"]) <= 400, err
    for value in (sent or {}).values():
        assert len(value) <= 40 or value not in err["error"], err
    if sent is not None and status == 422:
        known = {*MICROSCOPE_KEYS, "phantom", "variant", "modality", "preset", "magnification",
                 "body", *(p.name for ps in IMAGING_PARAMS.values() for p in ps)}
        assert err["field"] in known or any(k[:40] == err["field"] for k in sent), err
    return str(err["field"])


def no_server_error(status: int, body: bytes) -> None:
    """Inside a fuzzer: a 5xx fails."""
    assert status < 500, body[:300]


def assert_served_or_refused(app: Any, reply: Reply | httpx.Response,
                             sent: dict[str, str] | None = None) -> int:
    """The property: never a 5xx; a redirect leads to a served image; a 200 decodes; a
    4xx names the field. Returns the final status."""
    status = reply.status if isinstance(reply, Reply) else reply.status_code
    body = reply.body if isinstance(reply, Reply) else reply.content
    headers = reply.headers
    no_server_error(status, body)
    event(f"status {status}")  # --hypothesis-show-statistics: how often each outcome came
    if status == 308:
        location = headers["location"]
        assert location.startswith("/r/") and "\x00" not in location
        follow = asgi(app, "GET", urllib.parse.quote(location, safe="/%"))
        no_server_error(follow.status, follow.body)
        event(f"redirect followed: {follow.status}")
        if follow.status == 200:
            decode(follow.headers["content-type"], follow.body)
        else:
            # A canonical path is canonical (no second redirect). It may still be refused at
            # render time: `source=library` needs an illustration in the library (404, field
            # `source`) and a brightfield or stereo mode (422, field `mode`); a view over
            # the work budget is a 422 naming `objective` or `size`.
            field = assert_refusal(follow.status, follow.body)
            if field in ("objective", "size"):
                assert follow.status == 422 and b"budget" in follow.body, follow.body[:300]
            else:
                assert field in ("source", "mode"), (location, follow.status,
                                                     follow.body[:300])
                assert "_library." in location
        return 308
    if status == 200:
        decode(headers["content-type"], body)
        return 200
    assert_refusal(status, body, sent)
    return status


# --------------------------------------------------------------------------- file system

_WATCH = threading.Event()
_SEEN: list[tuple[str, str, bool]] = []
_PATH_ARGS = {"open": (0,), "os.remove": (0,), "os.rename": (0, 1), "os.mkdir": (0,),
              "os.rmdir": (0,), "os.listdir": (0,), "os.scandir": (0,), "os.truncate": (0,),
              "os.chmod": (0,), "shutil.rmtree": (0,), "os.symlink": (0, 1), "os.link": (0, 1)}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCH.is_set() or event not in _PATH_ARGS:
        return
    if event == "open":
        writes = any(c in str(args[1] or "") for c in "wax+") or (
            isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    else:
        writes = event not in ("os.listdir", "os.scandir")
    for i in _PATH_ARGS[event]:
        p = args[i] if i < len(args) else None
        if isinstance(p, (str, bytes, os.PathLike)):
            _SEEN.append((event, os.path.abspath(os.fsdecode(p)), bool(writes)))


_HOOKED: list[bool] = []


@contextmanager
def file_system_watch(root: Path) -> Iterator[list[tuple[str, str, bool]]]:
    """Record every path the process opens, lists, writes or removes; afterwards assert that
    writes stayed in the cache, reads in the site, cache, code and data, and the secret
    beside them was never touched."""
    if not _HOOKED:
        sys.addaudithook(_audit)  # permanent, but inert while the watch is off
        _HOOKED.append(True)
    readable = [root / "site", root / "cache", ROOT / "src", ROOT / "data",
                Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    readable += [Path(f) for f in mimetypes.knownfiles]  # the MIME table static files read
    readable = [p.resolve() for p in readable]
    before = sorted(p for p in root.rglob("*") if "cache" not in p.relative_to(root).parts)
    _SEEN.clear()
    _WATCH.set()
    try:
        yield _SEEN
    finally:
        _WATCH.clear()
    seen = list(_SEEN)
    for what, path, writes in seen:
        real = Path(path).resolve()
        assert "secret" not in real.name and "passwd" not in path, (what, path)
        if writes:
            assert real.is_relative_to((root / "cache").resolve()), (what, path)
        else:
            assert any(real.is_relative_to(r) for r in readable), (what, path)
    after = sorted(p for p in root.rglob("*") if "cache" not in p.relative_to(root).parts)
    assert after == before  # nothing created or removed outside the cache


def test_the_file_system_watch_catches_a_stray_read_or_write(app: Any, root: Path) -> None:
    with pytest.raises(AssertionError, match="secret"):
        with file_system_watch(root):
            (root / "secret.txt").read_text()
    with pytest.raises(AssertionError, match="stray"):
        with file_system_watch(root):
            (root / "site" / "stray.txt").write_text("x")
    (root / "site" / "stray.txt").unlink()
    with file_system_watch(root) as seen:  # and it does see what the app opens
        assert asgi(app, "GET", "/index.html").status == 200
    assert any(p.endswith("index.html") for _, p, _ in seen)


# --------------------------------------------------------------------------- strategies

def _float_text(value: float) -> st.SearchStrategy[str]:
    """The same number written the many ways a client might."""
    return st.sampled_from([repr(value), f"{value:.4f}", f"{value:e}", f"+{value}",
                            f"{value:.2f}".rstrip("0"), f" {value} "])


@st.composite
def valid_microscope(draw: st.DrawFn) -> dict[str, str]:
    """A request the catalog accepts (size 256), numbers written in any format."""
    sid = draw(st.sampled_from(sorted(CAT.specimens)))
    spec = CAT.specimens[sid]
    iid = draw(st.sampled_from(CAT.microscope_ids()))
    inst = CAT.instruments[iid]
    assert isinstance(inst, MicroscopeInstrument)
    p = {"instrument": iid, "specimen": sid, "size": "256",
         "objective": str(draw(st.sampled_from([o.magnification for o in inst.objectives]))),
         "stain": draw(st.sampled_from(spec.stains)), "mode": draw(st.sampled_from(inst.modes))}
    for prm in MICROSCOPE_PARAMS:
        if prm.name == "size" or draw(st.integers(0, 3)):
            continue
        if isinstance(prm, Number):
            lo, hi = prm.lo, prm.hi
            if prm.name in ("x_um", "y_um"):
                half = (spec.slide_width_um if prm.name == "x_um" else spec.slide_height_um) / 2
                lo, hi = -half, half
            p[prm.name] = draw(st.floats(lo, hi).flatmap(_float_text))
        elif prm.name == "view":
            p["view"] = draw(st.sampled_from(
                [v for v, ok in (("camera", inst.camera), ("eyepiece", inst.eyepiece)) if ok]))
        else:
            p[prm.name] = draw(st.sampled_from(prm.choices))
    p["format"] = draw(st.sampled_from(["jpg", "png", "webp", "npy", "JPEG", ""]))
    return p


IMAGING_IDS = sorted(i for i in CAT.imaging_ids()
                     if CAT.instruments[i].modality in IMAGING_PARAMS)  # type: ignore[union-attr]


@st.composite
def valid_imaging(draw: st.DrawFn) -> dict[str, str]:
    iid = draw(st.sampled_from(IMAGING_IDS))
    modality = CAT.instruments[iid].modality  # type: ignore[union-attr]
    phantoms = sorted(p for p, ph in CAT.phantoms.items() if modality in ph.modalities)
    p = {"instrument": iid, "phantom": draw(st.sampled_from(phantoms)), "size": "256",
         "format": draw(st.sampled_from(["png", "jpg", "npy", ""]))}
    for prm in IMAGING_PARAMS[modality]:
        if draw(st.integers(0, 4)):
            continue  # mostly defaults: instrument ranges are narrower than the params'
        if isinstance(prm, Number):
            p[prm.name] = draw(st.floats(prm.lo, prm.hi).flatmap(_float_text))
        else:
            assert isinstance(prm, Choice)
            p[prm.name] = draw(st.sampled_from(prm.choices))
    return p


HOSTILE_TEXT = st.sampled_from([
    "NaN", "nan", "Infinity", "-inf", "1e308", "-1e308", "1e-320", "-0", "0x10", "1_0", "",
    " ", "../../etc/passwd", "..\\..\\secret.txt", "/etc/passwd", "%2e%2e%2f", "\x00",
    "a\x00b", "true", "null", "[]", "{}", "1,5", "ＳＴＵＤＥＮＴ", "stüdent", "🦠", "\u202e",
    "9" * 40, "a" * 300])
JUNK = st.one_of(HOSTILE_TEXT, st.text(max_size=30),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-10**30, 10**30).map(str))
KEYS = st.one_of(st.sampled_from([*MICROSCOPE_KEYS, "phantom", "variant", "preset", "kvp",
                                  "tr_ms", "Instrument", "instrument ", "warp"]),
                 st.text(min_size=1, max_size=12))


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, str]]) -> dict[str, str]:
    """A valid request, then up to three changes: a hostile value, a dropped or unknown
    parameter, a value borrowed from another parameter."""
    p = dict(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["junk", "drop", "extra", "swap"]))
        names = sorted(p)
        if what == "junk":
            p[draw(st.sampled_from(names))] = draw(JUNK)
        elif what == "drop":
            p.pop(draw(st.sampled_from(names)), None)
        elif what == "extra":
            p[draw(KEYS)] = draw(JUNK)
        else:
            a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            p[a], p[b] = p[b], p[a]
    return p


# --------------------------------------------------------------------------- properties

@FUZZ
@given(params=mutated(valid_microscope()))
def test_fuzzed_microscope_queries_are_served_or_refused(app: Any,
                                                         params: dict[str, str]) -> None:
    r = call(app, "GET", "/api/render/microscope", params=params)
    assert_served_or_refused(app, r, params)


@FUZZ
@given(params=mutated(valid_imaging()))
def test_fuzzed_imaging_queries_are_served_or_refused(app: Any, params: dict[str, str]) -> None:
    r = call(app, "GET", "/api/render/imaging", params=params)
    assert_served_or_refused(app, r, params)


@FUZZ
@given(params=mutated(valid_microscope()), kind=st.sampled_from(["json", "text", "bytes"]))
def test_fuzzed_post_bodies_are_served_or_refused(app: Any, params: dict[str, str],
                                                  kind: str) -> None:
    params.pop("format", None)  # POST always answers PNG
    if kind == "json":
        r = call(app, "POST", "/api/render/microscope", json=params)
    else:
        raw = (json.dumps(params)[: len(json.dumps(params)) // 2] if kind == "text"
               else urllib.parse.urlencode(params))
        r = call(app, "POST", "/api/render/microscope", content=raw.encode(),
                 headers={"content-type": "application/json"})
    no_server_error(r.status_code, r.content)
    if r.status_code == 200:
        body = r.json()
        data = body["image"].removeprefix("data:image/png;base64,")
        decode("image/png", base64.b64decode(data))
        assert body["path"].startswith("/r/") and body["path"].endswith(".png")
    else:
        assert_refusal(r.status_code, r.content)


def _segments(path: str) -> list[str]:
    return path.split("/")


@st.composite
def mutated_path(draw: st.DrawFn) -> tuple[str, str, str]:
    """(path sent, canonical path it came from, mutation)."""
    if draw(st.booleans()):
        params = draw(valid_microscope())
        try:
            canonical = "/" + canonicalize_microscope(params, CAT).path()
        except Exception:
            canonical = "/" + canonicalize_microscope(MICRO, CAT).path()
    else:
        params = draw(valid_imaging())
        try:
            canonical = "/" + canonicalize_imaging(params, CAT).path()
        except Exception:
            canonical = "/" + canonicalize_imaging(CT, CAT).path()
    parts = _segments(canonical)
    what = draw(st.sampled_from(["none", "number", "version", "segment", "insert", "delete",
                                 "extension", "encode", "tokens", "raw"]))
    if what == "number":  # a canonical number rewritten: 1 → 1.0, +1, 1e0, 01
        stem, ext = parts[-1].rsplit(".", 1)
        tokens = stem.split("_")
        i = draw(st.integers(0, len(tokens) - 1))
        tok = tokens[i]
        cut = next((k for k, c in enumerate(tok) if c.isdigit() or c == "-"), len(tok))
        if cut < len(tok):
            num = tok[cut:]
            tokens[i] = tok[:cut] + draw(st.sampled_from(
                [num + ".0", num + ".000", num + "e0", "+" + num.lstrip("+"), "0" + num]
                if not num.startswith("-") else [num + ".0", num + "e0"]))
        parts[-1] = "_".join(tokens) + "." + ext
    elif what == "version":
        parts[2] = draw(st.sampled_from(["0000000000", "latest", "x" * 40, "v%20"]))
    elif what == "segment":
        i = draw(st.integers(3, len(parts) - 1))
        parts[i] = urllib.parse.quote(draw(JUNK), safe="")
    elif what == "insert":
        i = draw(st.integers(2, len(parts)))
        parts.insert(i, draw(st.sampled_from(["..", ".", "", "%2e%2e", "x", "%2f"])))
    elif what == "delete":
        del parts[draw(st.integers(2, len(parts) - 1))]
    elif what == "extension":
        parts[-1] = parts[-1].rsplit(".", 1)[0] + "." + draw(
            st.sampled_from(["jpg", "JPG", "jpeg", "png", "webp", "npy", "gif", "", "..",
                             "jpg%00.png"]))
    elif what == "encode":  # percent-encode some characters: the same path once decoded
        text = "/".join(parts)
        idx = draw(st.sets(st.integers(0, len(text) - 1), max_size=6))
        parts = _segments("".join(f"%{ord(c):02X}" if k in idx and c != "/" else c
                                  for k, c in enumerate(text)))
    elif what == "tokens":  # settings out of order or one missing
        stem, ext = parts[-1].rsplit(".", 1)
        tokens = stem.split("_")
        tokens = draw(st.permutations(tokens)) if draw(st.booleans()) else tokens[:-1]
        parts[-1] = "_".join(tokens) + "." + ext
    elif what == "raw":
        tail = draw(st.text(st.characters(codec="utf-8", exclude_characters="?#"),
                            max_size=80))
        return "/r/" + urllib.parse.quote(tail, safe="/%._-\\"), canonical, what
    return urllib.parse.quote("/".join(parts), safe="/%"), canonical, what


@FUZZ
@given(case=mutated_path())
def test_fuzzed_paths_are_served_redirected_or_refused(app: Any,
                                                       case: tuple[str, str, str]) -> None:
    sent, canonical, what = case
    reply = asgi(app, "GET", sent)
    status = assert_served_or_refused(app, reply)
    if what == "none":  # a canonical path is served as it is, never redirected
        assert status == 200 or (status in (404, 422) and "_library." in sent), reply.body
    if what in ("number", "version") and status == 308:
        assert reply.headers["location"] == canonical
    if what == "version":  # the version segment is ignored: any value leads to the current
        assert status == 308


# --------------------------------------------------------------------------- schemathesis

# A request refused by a server limit (413: a size over MICRO_MAX_SIZE_PX; 414) is refused
# too, as far as negative_data_rejection is concerned.
SCHEMA = schemathesis.openapi.from_asgi(
    "/api/openapi.json", SCHEMA_APP, config=schemathesis.Config.from_dict({"checks": {
        "negative_data_rejection": {"expected-statuses": [
            400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429]}}}))


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_openapi_contract(root: Path, case: Any) -> None:
    """Every operation of /api/openapi.json, positive and negative examples: every default
    check — no 5xx, status, content type, headers and body schema as documented, invalid
    data rejected — except `positive_data_acceptance`: the schema lists each id and bound on
    its own, but the catalog's cross-field rules (which objectives an instrument has, which
    stains a specimen takes, per-instrument kVp and dose ranges, TE < TR) cannot be written
    in OpenAPI, so a schema-valid request may rightly be a 422 naming the field."""
    response = case.call()
    no_server_error(response.status_code, response.content)
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


# --------------------------------------------------------------------------- hostile inputs

BASE = "/" + canonicalize_microscope(MICRO, CAT).path()
IBASE = "/" + canonicalize_imaging(CT, CAT).path()
BP = BASE.split("/")  # ['', 'r', ver, 'm', inst, obj, spec, stain, mode, rest.jpg]
IP = IBASE.split("/")  # ['', 'r', ver, 'i', 'ct', inst, phantom, variant, rest.png]


def with_part(parts: list[str], i: int, value: str) -> str:
    out = list(parts)
    out[i] = value
    return "/".join(out)


@dataclass(frozen=True)
class Hostile:
    id: str
    status: int
    field: str | None
    path: str
    query: dict[str, str] | str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"


JSON = {"content-type": "application/json"}
HOSTILE = [
    # path traversal, in the /r/ path and in ids of queries and bodies
    Hostile("dotdot-literal", 404, "path", "/r/../../secret.txt"),
    Hostile("dotdot-literal-deep", 404, "path", "/r/../../../../../../etc/passwd"),
    Hostile("dotdot-encoded", 404, "path", "/r/%2e%2e/%2e%2e/secret.txt"),
    Hostile("dotdot-encoded-upper", 404, "path", "/r/%2E%2E/%2E%2E/etc/passwd"),
    Hostile("dotdot-slash-encoded-in-id", 404, "path",
            with_part(BP, 6, "..%2f..%2f..%2fsecret.txt")),
    Hostile("dotdot-as-id", 404, "path", with_part(BP, 6, "..")),
    Hostile("dotdot-as-variant", 404, "path", with_part(IP, 7, "%2e%2e")),
    Hostile("absolute-path", 404, "path", "/r//etc/passwd"),
    Hostile("absolute-path-encoded", 404, "path", "/r/%2fetc%2fpasswd"),
    Hostile("backslash-in-id", 422, "specimen", with_part(BP, 6, "..\\..\\secret.txt")),
    Hostile("backslash-encoded-in-id", 422, "specimen", with_part(BP, 6, "..%5c..%5csecret")),
    Hostile("backslash-variant", 422, "variant", with_part(IP, 7, "..%5csecret.txt")),
    Hostile("query-id-traversal", 422, "specimen", "/api/render/microscope",
            {**MICRO, "specimen": "../../../secret.txt"}),
    Hostile("query-id-absolute", 422, "stain", "/api/render/microscope",
            {**MICRO, "stain": "/etc/passwd"}),
    Hostile("query-phantom-traversal", 422, "phantom", "/api/render/imaging",
            {**CT, "phantom": "..\\..\\secret.txt"}),
    Hostile("body-id-traversal", 422, "specimen", "/api/render/microscope",
            body={**MICRO, "specimen": "../../etc/passwd"}, method="POST"),
    Hostile("body-variant-traversal", 422, "variant", "/api/render/imaging",
            body={**CT, "variant": "../../../secret.txt"}, method="POST"),
    # unicode and overlong ids
    Hostile("unicode-umlaut-id", 422, "instrument", "/api/render/microscope",
            {**MICRO, "instrument": "stüdent-compound"}),
    Hostile("unicode-fullwidth-id", 422, "instrument", "/api/render/microscope",
            {**MICRO, "instrument": "ｓｔｕｄｅｎｔ-compound"}),
    Hostile("unicode-hyphen-id", 422, "instrument", "/api/render/microscope",
            {**MICRO, "instrument": "student\u2010compound"}),
    Hostile("unicode-rtl-override", 422, "specimen", "/api/render/microscope",
            {**MICRO, "specimen": "stage-micrometer\u202e"}),
    Hostile("unicode-emoji-in-path", 422, "instrument",
            with_part(BP, 4, urllib.parse.quote("🦠"))),
    Hostile("overlong-id", 422, "instrument", "/api/render/microscope",
            {**MICRO, "instrument": "a" * 1500}),
    Hostile("overlong-id-in-path", 404, "path", with_part(BP, 6, "b" * 1500)),
    Hostile("overlong-query", 414, "query", "/api/render/microscope",
            {**MICRO, "instrument": "a" * 3000}),
    Hostile("overlong-path", 414, "path", "/r/" + "c/" * 1500),
    # NaN, infinities, huge and negative zero
    Hostile("nan-in-path", 422, "focus_um", BASE.replace("/z0_", "/znan_")),
    Hostile("inf-in-path", 422, "focus_um", BASE.replace("/z0_", "/zinf_")),
    Hostile("minus-infinity-in-path", 422, "light_pct", BASE.replace("_l60_", "_l-Infinity_")),
    Hostile("1e308-in-path", 422, "contrast", BASE.replace("_c1_", "_c1e308_")),
    Hostile("infinity-in-query", 422, "focus_um", "/api/render/microscope",
            {**MICRO, "focus_um": "Infinity"}),
    Hostile("nan-in-imaging-query", 422, "kvp", "/api/render/imaging", {**CT, "kvp": "nan"}),
    Hostile("1e400-in-json", 422, "focus_um", "/api/render/microscope",
            body=b'{"instrument": "student-compound", "specimen": "stage-micrometer", '
                 b'"focus_um": 1e400}', headers=JSON, method="POST"),
    Hostile("infinity-literal-in-json", 422, "body", "/api/render/microscope",
            body=b'{"instrument": "student-compound", "focus_um": Infinity}', headers=JSON,
            method="POST"),
    Hostile("nan-string-in-json", 422, "brightness", "/api/render/microscope",
            body={**MICRO, "brightness": "NaN"}, method="POST"),
    # negative and odd sizes
    Hostile("negative-size-in-path", 422, "size", BASE.replace("_s256_", "_s-256_")),
    Hostile("zero-size-in-path", 422, "size", BASE.replace("_s256_", "_s0_")),
    Hostile("negative-size-imaging-query", 422, "size", "/api/render/imaging",
            {**CT, "size": "-512"}),
    Hostile("negative-size-in-json", 422, "size", "/api/render/imaging",
            body={**CT, "size": -256}, method="POST"),
    Hostile("huge-size-in-json", 422, "size", "/api/render/microscope",
            body={**MICRO, "size": 10**12}, method="POST"),
    Hostile("size-over-limit", 413, "size", "/api/render/microscope", {**MICRO, "size": "1024"}),
    # wrong content types
    Hostile("text-plain-body", 415, "content-type", "/api/render/microscope",
            body=json.dumps(MICRO).encode(), headers={"content-type": "text/plain"},
            method="POST"),
    Hostile("xml-body", 415, "content-type", "/api/render/imaging",
            body=b"<render instrument='ct-64-slice'/>",
            headers={"content-type": "application/xml"}, method="POST"),
    Hostile("multipart-body", 415, "content-type", "/api/render/microscope",
            body=b"--x\r\nContent-Disposition: form-data; name=instrument\r\n\r\nafm\r\n--x--",
            headers={"content-type": "multipart/form-data; boundary=x"}, method="POST"),
    Hostile("no-content-type", 415, "content-type", "/api/render/microscope",
            body=json.dumps(MICRO).encode(), method="POST"),
    Hostile("json-lookalike-type", 415, "content-type", "/api/render/microscope",
            body=json.dumps(MICRO).encode(),
            headers={"content-type": "application/json-patch+json"}, method="POST"),
    Hostile("non-utf8-json", 422, "body", "/api/render/microscope", body=b'{"a": "\xff\xfe"}',
            headers=JSON, method="POST"),
    # duplicated and look-alike query parameters
    Hostile("duplicate-instrument", 422, "instrument", "/api/render/imaging",
            "instrument=ct-64-slice&instrument=mri-3t&phantom=shepp-logan"),
    Hostile("duplicate-same-value", 422, "size", "/api/render/imaging",
            "instrument=ct-64-slice&phantom=shepp-logan&size=256&size=256"),
    Hostile("case-variant-key", 422, "Instrument", "/api/render/microscope",
            "Instrument=afm&instrument=student-compound&specimen=stage-micrometer"),
    # null bytes
    Hostile("nul-in-id-path", 404, "path", with_part(BP, 4, "student-compound%00")),
    Hostile("nul-in-number", 404, "path", BASE.replace("/z0_", "/z0%00_")),
    Hostile("line-break-in-path", 404, "path", with_part(BP, 6, "stage%0Amicrometer")),
    Hostile("nul-in-path-root", 404, "path", "/r/%00/%00/secret.txt"),
    Hostile("nul-in-query-id", 422, "specimen", "/api/render/microscope",
            {**MICRO, "specimen": "stage-micrometer\x00.jpg"}),
    Hostile("nul-in-json-id", 422, "instrument", "/api/render/microscope",
            body={**MICRO, "instrument": "student-compound\u0000"}, method="POST"),
]


def send(app: Any, h: Hostile) -> Reply:
    query = h.query if isinstance(h.query, str) else urllib.parse.urlencode(h.query or {})
    headers = dict(h.headers)
    body = b""
    if isinstance(h.body, bytes):
        body = h.body
    elif h.body is not None:
        body = json.dumps(h.body).encode()
        headers.setdefault("content-type", "application/json")
    if h.method == "POST":
        headers["content-length"] = str(len(body))
    raw = h.path if h.path.isascii() else urllib.parse.quote(h.path, safe="/%")
    return asgi(app, h.method, raw, query, headers=headers, chunks=[body])


@pytest.mark.parametrize("h", HOSTILE, ids=[h.id for h in HOSTILE])
def test_hostile_input_is_refused_naming_the_field(app: Any, root: Path, h: Hostile) -> None:
    with file_system_watch(root):
        reply = send(app, h)
    assert reply.status == h.status, (reply.status, reply.body[:300])
    sent = {k: str(v) for part in (h.query, h.body) if isinstance(part, dict)
            for k, v in part.items()}
    if isinstance(h.query, str):
        sent.update(urllib.parse.parse_qsl(h.query))
    assert assert_refusal(reply.status, reply.body, sent) == h.field
    assert len(reply.json()["error"]) <= 200  # e.g. 1e308 is "1e+308", not 309 digits
    assert SECRET.encode() not in reply.body and b"root:" not in reply.body
    assert b"Traceback" not in reply.body and str(ROOT).encode() not in reply.body


NON_CANONICAL = [
    ("trailing-zeros", BASE.replace("/z0_", "/z0.000_")),
    ("plus-sign", BASE.replace("_l60_", "_l+60_")),
    ("exponent", BASE.replace("_c1_", "_c1e0_")),
    ("leading-zero", BASE.replace("_l60_", "_l060_")),
    ("no-leading-digit", BASE.replace("_a0.75_", "_a.75_")),
    ("negative-zero", BASE.replace("/z0_", "/z-0_")),
    ("denormal", BASE.replace("_b0_", "_b1e-320_")),
    ("off-grid", BASE.replace("/z0_", "/z0.0100000001_")),
    ("objective-decimal", with_part(BP, 5, "10.0")),
    ("format-jpeg", BASE.replace(".jpg", ".jpeg")),
    ("format-upper", BASE.replace(".jpg", ".JPG")),
    ("old-version", with_part(BP, 2, "0123456789")),
    ("imaging-level-float", IBASE.replace("_L40_", "_L40.0_")),
]


@pytest.mark.parametrize(("name", "path"), NON_CANONICAL, ids=[n for n, _ in NON_CANONICAL])
def test_non_canonical_formatting_redirects_to_the_canonical_path(app: Any, root: Path,
                                                                  name: str, path: str) -> None:
    with file_system_watch(root):
        reply = asgi(app, "GET", path)
    assert reply.status == 308, (reply.status, reply.body[:300])
    location = reply.headers["location"]
    canonical = IBASE if "/i/" in path else BASE
    assert location == canonical, (name, location)
    assert reply.headers["cache-control"] == "public, max-age=300"
    served = asgi(app, "GET", location)
    assert served.status == 200
    decode(served.headers["content-type"], served.body)


def test_ten_megabyte_body_is_refused_before_it_is_read(app: Any, root: Path) -> None:
    ten_mb = [b"x" * 65536] * 160
    declared = asgi(app, "POST", "/api/render/microscope", chunks=ten_mb,
                    headers={"content-type": "application/json",
                             "content-length": str(160 * 65536)})
    assert declared.status == 413 and assert_refusal(413, declared.body) == "body"
    assert declared.reads == 0  # refused on the header alone
    for headers in ({"content-type": "application/json"},  # streamed, no length
                    {"content-type": "application/json", "content-length": "10"}):  # a lie
        with file_system_watch(root):
            streamed = asgi(app, "POST", "/api/render/microscope", chunks=list(ten_mb),
                            headers=headers)
        assert streamed.status == 413 and assert_refusal(413, streamed.body) == "body"
        assert streamed.reads <= 2, streamed.reads  # stops at 64 KiB, not 10 MB


@pytest.mark.parametrize(("instrument", "objective", "mode", "specimen"), [
    ("usb-digital", 0.25, "brightfield", "blood-smear"),
    ("stereo-zoom", 0.8, "stereo", "bacillus-endospores"),
    ("darkfield-microscope", 4, "darkfield", "dna-afm"),
    ("fluorescence-macro-zoom", 0.7, "fluorescence", "budding-yeast"),
])
def test_dense_lattice_view_is_not_a_server_error(app: Any, instrument: str, objective: float,
                                                  mode: str, specimen: str) -> None:
    params = {"instrument": instrument, "objective": str(objective), "mode": mode,
              "specimen": specimen, "size": "256"}
    r = call(app, "GET", "/api/render/microscope", params=params)
    assert r.status_code == 308
    served = call(app, "GET", r.headers["location"])
    assert served.status_code < 500, served.text[:200]

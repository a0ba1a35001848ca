"""Self-hosting: the real nginx with infra/nginx/micro.conf in front of `micro serve`.

nginx must be installed (`apt-get install -y nginx`; .ci/run installs it). If it is missing
this test fails and says so: it is never skipped silently.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from micro.core.catalog import default_catalog
from micro.core.render import render
from micro.core.requests import canonicalize_microscope

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "infra" / "nginx" / "micro.conf"
MICRO = {"instrument": "student-compound", "specimen": "stage-micrometer", "size": "256"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None)
    if not found:
        pytest.fail("nginx is not installed: run `apt-get install -y nginx` "
                    "(.ci/run installs it); this test does not skip")
    return found


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited {proc.returncode}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def derive_conf(listen: int, site: Path, app_port: int) -> str:
    """micro.conf with the three deployment-specific lines pointed at the test's ports."""
    text = CONF.read_text()
    for old, new in (("listen 80;", f"listen 127.0.0.1:{listen};"),
                     ("root /srv/micro/site;", f"root {site};"),
                     ("server 127.0.0.1:5001;", f"server 127.0.0.1:{app_port};")):
        assert text.count(old) == 1, f"micro.conf should contain {old!r} exactly once"
        text = text.replace(old, new)
    return text


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    nginx = nginx_binary()
    site = tmp_path / "site"
    site.mkdir()
    app_port, web_port = free_port(), free_port()
    app_log = tmp_path / "app.log"
    with app_log.open("wb") as out:
        app = subprocess.Popen(
            [sys.executable, "-c", "from micro.cli import main; main()", "serve",
             "--site", str(site), "--cache", str(tmp_path / "cache"),
             "--host", "127.0.0.1", "--port", str(app_port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "micro.conf").write_text(derive_conf(web_port, site, app_port))
    temp = "\n".join(f"    {k}_temp_path {prefix / k};"
                     for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read tmp_path
    (prefix / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} info;
events {{ worker_connections 128; }}
http {{
    types {{ text/html html; text/css css; application/javascript js;
            application/json json; image/jpeg jpg; image/png png; image/webp webp; }}
    default_type application/octet-stream;
    access_log {prefix / 'access.log'};
{temp}
    include {prefix / 'micro.conf'};
}}
""")
    base = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30,
                           check=False)
    web = None
    try:
        assert check.returncode == 0, check.stderr
        web = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(f"http://127.0.0.1:{app_port}/api/health", app, app_log)
        wait_for(f"http://127.0.0.1:{web_port}/", web, prefix / "error.log")
        yield f"http://127.0.0.1:{web_port}", site
    finally:
        if web is not None:
            stop(web, signal.SIGQUIT)
        stop(app)


def test_nginx_serves_the_site_and_renders_on_miss(stack: tuple[str, Path]) -> None:
    base, site = stack
    (site / "index.html").write_text("<!doctype html><title>MICRO</title>")
    pre = canonicalize_microscope(MICRO)
    pre_bytes = render(pre, default_catalog()).image
    (site / pre.path()).parent.mkdir(parents=True)
    (site / pre.path()).write_bytes(pre_bytes)

    with httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/")
        assert page.status_code == 200 and "MICRO" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"

        static = client.get("/" + pre.path())
        assert static.status_code == 200
        assert static.headers["x-micro-cache"] == "site"
        assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert static.headers["content-type"] == "image/jpeg"
        assert static.content == pre_bytes
        # nginx itself answered (its ETag is mtime-size; the app's is the SHA-256).
        assert "last-modified" in static.headers
        assert static.headers["etag"] != '"' + hashlib.sha256(pre_bytes).hexdigest() + '"'

        miss = pre.replace(focus_um=2.5)
        rendered = client.get("/" + miss.path())
        assert rendered.status_code == 200, rendered.text
        assert rendered.headers["x-micro-cache"] == "miss"
        assert rendered.headers["cache-control"] == "public, max-age=31536000, immutable"
        img = Image.open(io.BytesIO(rendered.content))
        assert img.format == "JPEG" and img.width == 256
        assert rendered.headers["etag"] == ('"' + hashlib.sha256(rendered.content).hexdigest()
                                            + '"')
        assert client.get("/" + miss.path()).headers["x-micro-cache"] == "hit"

        # A render's info document (<stem>.json): a pre-rendered one is nginx's file, the
        # one of a render on demand was stored with it by the app.
        (site / pre.info_path()).write_bytes(b'{"na":0.25}')
        info = client.get("/" + pre.info_path())
        assert info.status_code == 200 and info.json() == {"na": 0.25}
        assert info.headers["content-type"] == "application/json"
        assert info.headers["x-micro-cache"] == "site"
        assert info.headers["content-security-policy"].startswith("default-src 'none'")
        info = client.get("/" + miss.info_path())
        assert info.status_code == 200 and info.headers["x-micro-cache"] == "hit"
        assert info.json()["focus_um"] == 2.5

        redirect = client.get("/api/render/microscope", params={**MICRO, "focus_um": "2.50"},
                              follow_redirects=False)
        assert redirect.status_code == 308
        assert redirect.headers["location"] == "/" + miss.path()

        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"

        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["error"] == "not found"

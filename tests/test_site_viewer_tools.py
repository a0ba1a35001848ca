"""The viewer handled like an instrument, in a real Chromium: the lab stage (the image follows
the pointer, wheel and pinch step through the objectives, slide overview, full screen), the
scan viewer (window/level from raw values with no request, probe, ROI, distance, PET colour
map and fusion, zoom and pan) and the phone layout (sticky image, controls drawer, touch)."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from site_fixtures import quick_site  # noqa: F401
from test_site_browser import CHROMIUM, Recorder, _wait_loaded, browser, page, server  # noqa: F401

from micro.core.catalog import default_catalog

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]

PHONE = {"width": 390, "height": 844}


def _query(pg: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


def _info(site: Path, path: str) -> dict[str, Any]:
    """The info the build wrote beside a pre-rendered image (either layout of the key space)."""
    stem = path.rsplit(".", 1)[0]
    for p in (site / "info" / f"{path}.json", site / f"{stem}.json"):
        if p.exists():
            return dict(json.loads(p.read_text()))
    # not pre-rendered: the render's own info, as the API would serve it
    from micro.core.render import render
    from micro.core.requests import parse_path

    return dict(json.loads(render(parse_path(path.lstrip("/"))).info_document()))


def _grey(pg: Any) -> np.ndarray:
    """The live canvas as a grey float array (H, W) and its RGB channels (H, W, 3)."""
    data = pg.evaluate("""() => {
      const c = document.getElementById('view-a');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return {w: c.width, h: c.height, px: Array.from(d)};
    }""")
    return np.array(data["px"], dtype=np.float64).reshape(data["h"], data["w"], 4)[..., :3]


def _centre(pg: Any, sel: str = "#view-a") -> tuple[float, float, dict[str, float]]:
    box = pg.locator(sel).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box


def _transform(pg: Any) -> str:
    return str(pg.eval_on_selector("#view-a", "c => c.style.transform"))


def _lab(pg: Any, server: str, query: str) -> None:  # noqa: F811
    pg.goto(server + "lab.html?" + query)
    pg.wait_for_function("() => /^(Pre-rendered view|Rendered on demand)/"
                         ".test(document.getElementById('status').textContent)", timeout=60000)


# ------------------------------------------------------------------ lab stage

# a pre-rendered field (its info is its own) with texture everywhere
TEXTURED = ("instrument=student-compound&objective=4&specimen=small-intestine&stain=he"
            "&mode=brightfield&focus_um=0&x_um=0&y_um=0&view=camera")


def _settled(pg: Any) -> None:
    pg.wait_for_function("() => !document.getElementById('view-a').style.transform"
                         " && !document.getElementById('view-a').hasAttribute('aria-busy')",
                         timeout=60000)


def test_drag_moves_the_image_at_once_and_the_stage_by_as_much(page: Any, server: str,  # noqa: F811
                                                               quick_site: Any) -> None:  # noqa: F811
    pg, rec = page
    site, _ = quick_site
    _lab(pg, server, TEXTURED)
    _settled(pg)
    assert "Pre-rendered view" in pg.text_content("#status")
    q = _query(pg)
    px_um = _info(site, pg.get_attribute("#view-a", "data-path"))["pixel_size_um"]
    before = _grey(pg).mean(axis=2)
    cx, cy, box = _centre(pg)
    scale = before.shape[1] / box["width"]
    pg.mouse.move(cx, cy)
    pg.mouse.down()
    renders = len(rec.requests)
    pg.mouse.move(cx + 60, cy + 30, steps=3)
    # the shown image is moved in the same event: no render has been asked for yet
    assert _transform(pg) == "matrix(1, 0, 0, 1, 60, 30)"
    assert len(rec.requests) == renders  # nothing asked of the server while dragging
    pg.mouse.up()
    pg.wait_for_function("() => !location.search.includes('x_um=0&')")
    _settled(pg)
    moved = _query(pg)
    dx = float(moved["x_um"]) - float(q["x_um"])
    dy = float(moved["y_um"]) - float(q["y_um"])
    # dragging the image right and down moves the stage to show what was up and left
    assert dx == pytest.approx(-60 * scale * px_um, abs=0.06)
    assert dy == pytest.approx(-30 * scale * px_um, abs=0.06)
    after = _grey(pg).mean(axis=2)
    # the new render shows the old field shifted by the drag: compare the overlap
    sx, sy = round(60 * scale), round(30 * scale)
    old = before[: before.shape[0] - sy, : before.shape[1] - sx]
    new = after[sy:, sx:]
    same = np.corrcoef(old.ravel(), new.ravel())[0, 1]
    unshifted = np.corrcoef(before.ravel(), after.ravel())[0, 1]
    assert same > 0.6 and same > unshifted + 0.2, (same, unshifted)


def test_wheel_steps_through_the_objectives_about_the_pointer(page: Any, server: str) -> None:  # noqa: F811
    pg, _ = page
    _lab(pg, server, TEXTURED.replace("objective=4", "objective=10"))
    _settled(pg)
    cat = default_catalog()
    mags = sorted(o.magnification for o in cat.instruments["student-compound"].objectives)
    cx, cy, box = _centre(pg)
    pg.mouse.move(cx + 100, cy - 50)
    pg.mouse.wheel(0, -120)
    pg.wait_for_function("() => !location.search.includes('objective=10&')")
    q = _query(pg)
    up = mags[mags.index(10) + 1]
    assert float(q["objective"]) == up
    assert pg.get_attribute("#nosepiece [aria-checked=true]", "data-mag") == f"{up:g}"
    # the specimen point under the pointer stays there: centre' = centre + d·k·(1 − 1/ratio)
    _settled(pg)
    canvas_w = pg.eval_on_selector("#view-a", "c => c.width")
    assert float(q["x_um"]) > 0 and float(q["y_um"]) < 0
    ratio_x = float(q["x_um"]) / (100 * (canvas_w / box["width"]) * (1 - 10 / up))
    ratio_y = float(q["y_um"]) / (-50 * (canvas_w / box["width"]) * (1 - 10 / up))
    assert ratio_x == pytest.approx(ratio_y, rel=0.05)  # both scaled by the same µm per pixel
    # the stage takes one objective step per wheel burst: events within 250 ms of the last
    # step are part of that burst (stage.js WHEEL_PAUSE_MS), so the way back is a new burst
    pg.wait_for_timeout(400)
    pg.mouse.wheel(0, 120)
    pg.wait_for_function("() => location.search.includes('objective=10&')", timeout=30000)
    _settled(pg)


def test_the_sem_caption_names_the_detector_and_working_distance(page: Any, server: str) -> None:  # noqa: F811
    pg, _ = page
    _lab(pg, server, "instrument=sem-tungsten&specimen=pollen-sem&detector=bse&wd_mm=20")
    status = pg.text_content("#status")
    assert "backscattered electrons" in status and "secondary electrons" not in status
    assert "working distance 20 mm" in status
    _lab(pg, server, "instrument=sem-tungsten&specimen=pollen-sem&detector=se")
    status = pg.text_content("#status")
    assert "secondary electrons" in status and "working distance 10 mm" in status


def test_overview_shows_the_field_and_goes_where_clicked(page: Any, server: str) -> None:  # noqa: F811
    pg, _ = page
    _lab(pg, server, TEXTURED)
    _settled(pg)
    label = pg.get_attribute("#overview", "aria-label")
    assert "Slide overview" in label and "x 0 µm, y 0 µm" in label
    cat = default_catalog()
    spec = cat.specimens["small-intestine"]
    # the lowest-power field was painted at the centre: not bare glass there
    pg.wait_for_function("""() => {
      const c = document.getElementById('overview');
      const d = c.getContext('2d').getImageData(c.width / 2 - 2, c.height / 2 + 6, 4, 4).data;
      return Math.abs(d[0] - 0xd9) + Math.abs(d[1] - 0xdc) + Math.abs(d[2] - 0xd6) > 30;
    }""", timeout=30000)
    w, h = pg.eval_on_selector("#overview", "c => [c.clientWidth, c.clientHeight]")
    pg.click("#overview", position={"x": 0.75 * w, "y": 0.25 * h})
    pg.wait_for_function("() => !location.search.includes('x_um=0&')")
    q = _query(pg)
    tol = 1.5 * spec.slide_width_um / w  # within a pixel and a half of the overview
    assert float(q["x_um"]) == pytest.approx(0.25 * spec.slide_width_um, abs=tol)
    assert float(q["y_um"]) == pytest.approx(-0.25 * spec.slide_height_um, abs=tol)
    _settled(pg)
    assert f"x {float(q['x_um']) / 1000:.2f} mm" in pg.get_attribute("#overview", "aria-label")


def test_keyboard_and_full_screen(page: Any, server: str) -> None:  # noqa: F811
    pg, _ = page
    _lab(pg, server, TEXTURED)
    _settled(pg)
    pg.focus("#view-a")
    pg.keyboard.press("ArrowRight")
    pg.wait_for_function("() => !location.search.includes('x_um=0&')")
    assert float(_query(pg)["x_um"]) > 0
    _settled(pg)
    pg.click("#fullscreen")
    pg.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.id === 'pane-a'")
    # the button follows the `fullscreenchange` event, which fires after the element is set,
    # and the canvas grows once the full-screen layout is applied: wait for both
    pg.wait_for_function("() => document.getElementById('fullscreen')"
                         ".getAttribute('aria-pressed') === 'true'")
    pg.wait_for_function("() => document.getElementById('view-a')"
                         ".getBoundingClientRect().width > 700")
    pg.evaluate("() => document.exitFullscreen()")
    pg.wait_for_function("() => !document.fullscreenElement && document.getElementById('fullscreen')"
                         ".getAttribute('aria-pressed') === 'false'")


# ------------------------------------------------------------------ scan viewer

CT_WATER = ("instrument=ct-64-slice&phantom=water-cylinder&variant=default&kvp=120&mas=200"
            "&views=360&detector_bins=512&filter=shepp-logan&window=80&level=40&artifact=none"
            "&view=image")


def _scan(pg: Any, server: str, query: str) -> None:  # noqa: F811
    pg.goto(server + "imaging.html?" + query)
    pg.wait_for_function("() => document.getElementById('view-a').dataset.scan === 'raw'",
                         timeout=60000)


def _raw(server: str, pg: Any) -> np.ndarray:  # noqa: F811
    """The raw values the viewer windows: the .npy at the shown PNG's canonical stem."""
    path = pg.get_attribute("#view-a", "data-path").rsplit(".", 1)[0] + ".npy"
    with urllib.request.urlopen(server + path) as r:
        return np.load(io.BytesIO(r.read()), allow_pickle=False)


def _renders(rec: Recorder) -> list[str]:
    """Requests for images or raw values (the key space), not pages or icons."""
    return [u for u in rec.requests if "/r/" in u]


def _next_frame(pg: Any) -> None:
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _readout_mm(pg: Any) -> tuple[float, float]:
    m = re.match(r"x (-?[\d.]+) mm, y (-?[\d.]+) mm", pg.text_content("#scan-readout"))
    assert m, pg.text_content("#scan-readout")
    return float(m[1]), float(m[2])


def test_window_level_is_computed_in_the_browser_from_raw_hu(page: Any, server: str) -> None:  # noqa: F811
    pg, rec = page
    _scan(pg, server, CT_WATER)
    raw = _raw(server, pg).astype(np.float64)
    assert any(u.endswith(".npy") and "/i/ct/" in u for u in rec.requests)
    requests = len(_renders(rec))
    for name, (w, level) in (("Lung", (1500, -600)), ("Bone", (2000, 400)), ("Brain", (80, 40))):
        pg.click(f"#scan-presets button:text-is('{name}')")
        _next_frame(pg)
        expected = np.clip(np.floor((raw - (level - w / 2)) * 255 / w), 0, 255)
        shown = _grey(pg)
        assert np.abs(shown[..., 0] - expected).max() <= 1, name
        assert (shown[..., 0] == shown[..., 2]).all()  # grey map
    # right-drag: wider to the right, higher level downwards; still no request
    pg.evaluate("() => window.scrollTo(0, 0)")
    cx, cy, _box = _centre(pg)
    pg.mouse.move(cx, cy)
    pg.mouse.down(button="right")
    pg.mouse.move(cx + 100, cy + 40, steps=5)
    pg.mouse.up(button="right")
    _next_frame(pg)
    q = _query(pg)
    ww, wl = float(q["ww"]), float(q["wl"])
    assert ww > 80 * 1.5 and wl > 40
    expected = np.clip(np.floor((raw - (wl - ww / 2)) * 255 / ww), 0, 255)
    assert np.abs(_grey(pg)[..., 0] - expected).max() <= 1
    assert len(_renders(rec)) == requests, _renders(rec)[requests:]
    # a shared link restores the window
    pg.goto(pg.url)
    pg.wait_for_function("() => document.getElementById('view-a').dataset.scan === 'raw'")
    assert float(pg.input_value("#scan-ww")) == pytest.approx(ww, abs=1)


def test_probe_roi_and_distance_report_hu_and_mm(page: Any, server: str,  # noqa: F811
                                                 quick_site: Any) -> None:  # noqa: F811
    pg, _ = page
    site, _ = quick_site
    _scan(pg, server, CT_WATER)
    raw = _raw(server, pg).astype(np.float64)
    info = _info(site, pg.get_attribute("#view-a", "data-path"))
    fov = info["fov_mm"]
    sigma = info["noise_sigma_hu"]
    cx, cy, box = _centre(pg)
    k = raw.shape[1] / box["width"]  # image pixels per CSS pixel
    pg.mouse.move(cx + 10, cy + 10)
    value = float(pg.get_attribute("#scan-readout", "data-value"))
    assert "HU" in pg.text_content("#scan-readout")
    assert abs(value) < 5 * sigma  # water
    iy, ix = int((10 * k) + raw.shape[0] / 2), int((10 * k) + raw.shape[1] / 2)
    assert value == pytest.approx(raw[iy, ix], abs=0.01)
    pg.mouse.move(box["x"] + 3, box["y"] + 3)
    assert float(pg.get_attribute("#scan-readout", "data-value")) == pytest.approx(-1000, abs=5 * sigma)
    # an elliptical ROI inside the water: mean ≈ 0 HU, SD ≈ the noise, area = π·a·b
    pg.click("button[data-tool=roi]")
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.mouse.move(cx - 80, cy - 50)
    pg.mouse.down()
    pg.mouse.move(cx + 80, cy + 50, steps=4)
    pg.mouse.up()
    li = pg.locator("#scan-measures li").first
    mean, sd = float(li.get_attribute("data-mean")), float(li.get_attribute("data-sd"))
    area, n = float(li.get_attribute("data-area")), int(li.get_attribute("data-n"))
    px_mm = fov / raw.shape[1]
    a_mm, b_mm = 80 * k * px_mm, 50 * k * px_mm
    assert area == pytest.approx(np.pi * a_mm * b_mm, rel=0.03)
    assert n == pytest.approx(np.pi * 80 * 50 * k * k, rel=0.03)
    assert abs(mean) < 5 and sd == pytest.approx(sigma, rel=0.25)
    assert "HU" in li.text_content() and ("mm²" in li.text_content() or "cm²" in li.text_content())
    # distance in mm: CSS pixels × (FOV / displayed width)
    pg.click("button[data-tool=distance]")
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.mouse.move(cx - 150, cy + 100)
    pg.mouse.down()
    pg.mouse.move(cx + 150, cy + 140, steps=4)
    pg.mouse.up()
    d = pg.locator("#scan-measures li").nth(1)
    assert float(d.get_attribute("data-mm")) == pytest.approx(np.hypot(300, 40) * fov / box["width"], rel=0.01)
    assert d.text_content().endswith(" mm")


def test_zoom_and_pan_keep_the_probe_in_mm(page: Any, server: str) -> None:  # noqa: F811
    pg, rec = page
    _scan(pg, server, CT_WATER)
    requests = len(_renders(rec))
    cx, cy, _box = _centre(pg)
    pg.mouse.move(cx + 100, cy)
    x0, _ = _readout_mm(pg)
    pg.mouse.move(cx, cy)
    pg.keyboard.down("Control")  # Ctrl+wheel zooms whether or not the scan has slices
    pg.mouse.wheel(0, -300)
    pg.keyboard.up("Control")
    _next_frame(pg)
    pg.mouse.move(cx + 100, cy)
    x1, _ = _readout_mm(pg)
    assert x0 / x1 == pytest.approx(np.e, rel=0.03)  # exp(300/300): zoomed in about the pointer
    pg.mouse.move(cx, cy)
    pg.mouse.down()
    pg.mouse.move(cx - 50, cy, steps=3)
    pg.mouse.up()
    _next_frame(pg)
    pg.mouse.move(cx + 100, cy)
    x2, _ = _readout_mm(pg)
    assert x2 - x1 == pytest.approx(x1 / 2, rel=0.05)  # 50 px further into the image
    pg.dblclick("#view-a")
    _next_frame(pg)
    pg.mouse.move(cx + 100, cy)
    assert _readout_mm(pg)[0] == pytest.approx(x0, abs=0.5)
    assert len(_renders(rec)) == requests


def test_wheel_scrolls_slices_when_the_request_has_them(page: Any, server: str) -> None:  # noqa: F811
    pg, rec = page
    _scan(pg, server, CT_WATER.replace("water-cylinder", "brain"))  # a 3-D phantom
    spec = json.loads(urllib.request.urlopen(server + "quantization.json").read())
    slice_param = next((p for p in spec["imaging"]["ct"] if p["name"] == "slice_mm"
                        and "thick" not in p["doc"].lower()), None)
    cx, cy, _box = _centre(pg)
    pg.mouse.move(cx + 100, cy)
    x0, _ = _readout_mm(pg)
    pg.mouse.move(cx, cy)
    pg.mouse.wheel(0, 100)
    if slice_param:
        pg.wait_for_function("() => location.search.includes('slice_mm=')")
        assert float(_query(pg)["slice_mm"]) != float(slice_param["default"])
    else:  # no slices yet: the wheel zooms (out) instead, with no request
        requests = len(_renders(rec))
        _next_frame(pg)
        pg.mouse.move(cx + 100, cy)
        assert _readout_mm(pg)[0] > x0 * 1.2
        assert "slice_mm" not in pg.url and len(_renders(rec)) == requests


def test_pet_colour_map_and_pet_ct_fusion(page: Any, server: str) -> None:  # noqa: F811
    pg, rec = page
    _scan(pg, server, "instrument=pet-ct&phantom=brain")
    assert pg.input_value("#scan-cmap") == "hot"
    rgb = _grey(pg)
    hot = (rgb[..., 0] - rgb[..., 2] > 60).mean()
    assert hot > 0.05, hot  # red-to-yellow where there is activity
    assert "kBq/mL" in pg.text_content("#scan-unit")
    pg.select_option("#scan-cmap", "grey")
    _next_frame(pg)
    rgb = _grey(pg)
    assert (rgb[..., 0] == rgb[..., 2]).all()
    # CT of the same phantom with the PET overlaid
    _scan(pg, server, CT_WATER.replace("water-cylinder", "brain"))
    assert (_grey(pg)[..., 0] == _grey(pg)[..., 2]).all()
    pg.check("#scan-fuse")
    pg.wait_for_function("() => document.getElementById('scan-readout').textContent.includes('overlaid')",
                         timeout=60000)
    _next_frame(pg)
    assert any("/i/pet/pet-ct/brain/" in u and u.endswith(".npy") for u in rec.requests)
    rgb = _grey(pg)
    coloured = (rgb[..., 0] - rgb[..., 2] > 40).mean()
    assert coloured > 0.05, coloured
    # the colour sits where the PET has activity: the grey-matter ring, not the air around
    corner = rgb[:40, :40]
    assert (corner[..., 0] == corner[..., 2]).all()
    pg.evaluate("() => window.scrollTo(0, 0)")
    cx, cy, _box = _centre(pg)
    pg.mouse.move(cx, cy)
    assert "PET" in pg.text_content("#scan-readout") and "kBq/mL" in pg.text_content("#scan-readout")
    assert _query(pg).get("fuse") == "1"


# ------------------------------------------------------------------ phone

@pytest.fixture()
def phone(browser: Any, server: str) -> Iterator[tuple[Any, Recorder, Any]]:  # noqa: F811
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    rec = Recorder()

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("http://127.0.0.1:", "blob:", "data:")):
            r.continue_()
        else:
            rec.outside.append(url)
            r.abort()

    ctx.route("**/*", route)
    pg = ctx.new_page()
    pg.on("request", lambda req: rec.requests.append(req.url))
    pg.on("console", lambda m: rec.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: rec.errors.append(str(e)))
    cdp = ctx.new_cdp_session(pg)
    yield pg, rec, cdp
    ctx.close()
    assert not rec.errors, f"console errors: {rec.errors}"
    assert not rec.outside, f"requests left 127.0.0.1: {rec.outside}"


def _touch(cdp: Any, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send("Input.dispatchTouchEvent", {
        "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})


def _swipe(cdp: Any, start: list[tuple[float, float]], end: list[tuple[float, float]]) -> None:
    _touch(cdp, "touchStart", start)
    for t in (0.25, 0.5, 0.75, 1.0):
        _touch(cdp, "touchMove", [(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
                                  for a, b in zip(start, end, strict=True)])
    _touch(cdp, "touchEnd", [])


def _in_view(pg: Any, sel: str) -> bool:
    return bool(pg.evaluate("""s => { const r = document.querySelector(s).getBoundingClientRect();
      return r.top >= 0 && r.bottom <= innerHeight + 1 && r.width > 0; }""", sel))


def test_phone_image_stays_in_view_with_the_controls_drawer_open(phone: Any, server: str) -> None:  # noqa: F811
    pg, _, _ = phone
    _lab(pg, server, TEXTURED)
    assert "pinch" in pg.text_content("#keys-help") and "arrow" not in pg.text_content("#keys-help")
    assert not pg.is_visible("#coarse")  # the controls wait in the drawer
    assert _in_view(pg, "#view-a")
    pg.click("#drawer-toggle")
    assert pg.get_attribute("#drawer-toggle", "aria-expanded") == "true"
    pg.wait_for_function("() => getComputedStyle(document.getElementById('drawer')).transform === 'none'")
    assert pg.is_visible("#coarse")
    drawer_top = pg.evaluate("() => document.getElementById('drawer').getBoundingClientRect().top")
    frame = pg.evaluate("() => document.getElementById('view-a').getBoundingClientRect().toJSON()")
    assert frame["bottom"] <= drawer_top + 1 and frame["top"] >= 0, (frame, drawer_top)
    # focus from the drawer: the image above shows the new render
    pg.fill("#fine", "3")
    pg.dispatch_event("#fine", "change")
    pg.wait_for_function("() => !location.search.includes('focus_um=0&')")
    # scrolled far down the page, the image is still on screen (sticky)
    pg.click("#drawer-toggle")
    pg.evaluate("() => window.scrollTo(0, 1500)")
    assert pg.evaluate("() => scrollY") > 500
    assert _in_view(pg, "#view-a")


def test_phone_touch_pan_and_pinch_on_the_stage(phone: Any, server: str) -> None:  # noqa: F811
    pg, _, cdp = phone
    _lab(pg, server, TEXTURED)
    _settled(pg)
    cx, cy, _box = _centre(pg)
    _swipe(cdp, [(cx, cy)], [(cx + 60, cy + 20)])
    pg.wait_for_function("() => !location.search.includes('x_um=0&')")
    assert float(_query(pg)["x_um"]) < 0
    _settled(pg)
    _swipe(cdp, [(cx - 30, cy), (cx + 30, cy)], [(cx - 90, cy), (cx + 90, cy)])  # spread ×3
    pg.wait_for_function("() => !location.search.includes('objective=4&')")
    assert float(_query(pg)["objective"]) > 4
    _settled(pg)


def test_phone_scan_viewer_pinch_zooms_without_a_request(phone: Any, server: str) -> None:  # noqa: F811
    pg, rec, cdp = phone
    _scan(pg, server, CT_WATER + "&ww=2000&wl=0")  # water mid-grey, air black
    assert "pinch" in pg.text_content("#scan-help")
    before = _grey(pg)
    requests = len(_renders(rec))
    cx, cy, _box = _centre(pg)
    _swipe(cdp, [(cx - 30, cy), (cx + 30, cy)], [(cx - 80, cy), (cx + 80, cy)])
    _next_frame(pg)
    after = _grey(pg)
    # zoomed about the centre: the water (mid-grey) pushes the air (black) out of the corners
    assert before[:10].mean() < 10 and after[:10].mean() > before[:10].mean() + 40
    assert len(_renders(rec)) == requests


# ------------------------------------------------------------------ accessibility

def test_new_controls_are_accessible(browser: Any, server: str) -> None:  # noqa: F811
    """axe-core on the lab and the scan viewer (desktop, and phone with the drawer open)."""
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    axe = axe_module.Axe()
    for viewport, mobile in (({"width": 1280, "height": 900}, False), (PHONE, True)):
        # axe is injected as a script: the page's CSP (script-src 'self') would refuse it
        ctx = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile,
                                  bypass_csp=True)
        pg = ctx.new_page()
        _lab(pg, server, TEXTURED)
        _settled(pg)
        if mobile:
            pg.click("#drawer-toggle")
        lab = axe.run(pg)
        _scan(pg, server, CT_WATER.replace("water-cylinder", "brain") + "&fuse=1")
        pg.wait_for_function("() => document.getElementById('scan-readout').textContent"
                             ".includes('overlaid')", timeout=60000)
        if mobile:
            pg.click("#drawer-toggle")
        scan = axe.run(pg)
        ctx.close()
        assert lab.violations_count == 0, lab.generate_report()
        assert scan.violations_count == 0, scan.generate_report()

"""The site in a real browser: Playwright driving Debian's headless Chromium against
`micro serve` (the built quick site plus render on miss) on a loopback port."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_fixtures import quick_site  # noqa: F401

from micro.core.catalog import default_catalog
from micro.core.render import render
from micro.core.requests import parse_path
from micro.site.plan import focus_step_um, lab_default

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(quick_site: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    site, _ = quick_site
    port = _free_port()
    cache = tmp_path_factory.mktemp("cache")
    log = (cache.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "micro"), "serve", "--site", str(site), "--cache", str(cache),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=log, env={**os.environ})
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            text = (cache.parent / "serve.log").read_text(errors="replace")
            raise RuntimeError(f"micro serve did not start: {text[-2000:]}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Recorder:
    """Every request the page makes, every console error, and every off-loopback attempt."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.responses: dict[str, dict[str, str]] = {}
        self.errors: list[str] = []
        self.outside: list[str] = []


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[tuple[Any, Recorder]]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
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
    pg.on("response", lambda resp: rec.responses.__setitem__(resp.url, resp.headers))
    pg.on("console", lambda m: rec.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: rec.errors.append(str(e)))
    yield pg, rec
    ctx.close()
    assert not rec.errors, f"console errors: {rec.errors}"
    assert not rec.outside, f"requests left 127.0.0.1: {rec.outside}"


def _wait_loaded(pg: Any, text: str = "Pre-rendered view") -> str:
    pg.wait_for_function(
        "t => document.getElementById('status').textContent.includes(t)", arg=text,
        timeout=30000)
    return str(pg.text_content("#status"))


def _shown(pg: Any, server: str, canvas: str = "#view-a") -> str:
    """The URL of the image the canvas shows (the viewer records its canonical path)."""
    path = pg.get_attribute(canvas, "data-path")
    assert path, "no image shown"
    return server + path


def _canvas_stats(pg: Any) -> dict[str, float]:
    return pg.evaluate("""() => {
      const c = document.getElementById('view-a');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let s = 0, s2 = 0, n = d.length / 4;
      for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i+1] + d[i+2]) / 3; s += v; s2 += v * v; }
      const m = s / n; return {w: c.width, h: c.height, mean: m, std: Math.sqrt(s2 / n - m * m)};
    }""")


def test_lab_loads_first_image_from_a_static_file(page: Any, server: str) -> None:
    pg, rec = page
    pg.goto(server + "lab.html")
    _wait_loaded(pg)
    cat = default_catalog()
    first = lab_default(cat)
    assert first is not None
    url = _shown(pg, server)
    assert url == server + first.path()
    assert rec.responses[url].get("x-micro-cache") == "site"
    stats = _canvas_stats(pg)
    assert stats["w"] == 512 and stats["std"] > 2, stats
    label = pg.get_attribute("#view-a", "aria-label")
    assert cat.specimens[first.specimen].name in label
    assert pg.locator("#info dt").count() >= 3
    pg.screenshot(path=str(Path(os.environ.get("MICRO_SCREENSHOT_DIR", "/tmp")) /
                           "micro-lab.png"), full_page=True)


def test_objective_change_loads_another_static_image(page: Any, server: str) -> None:
    pg, rec = page
    pg.goto(server + "lab.html")
    _wait_loaded(pg)
    before = _shown(pg, server)
    checked = pg.get_attribute("#nosepiece [aria-checked=true]", "data-mag")
    other = next(b for b in pg.locator("#nosepiece button").all()
             if b.get_attribute("data-mag") != checked)
    mag = other.get_attribute("data-mag")
    other.click()
    pg.wait_for_function("m => location.search.includes('objective=' + m)", arg=mag)
    _wait_loaded(pg)
    after = _shown(pg, server)
    assert after != before and f"/{mag}/" in after
    assert rec.responses[after].get("x-micro-cache") == "site"


def test_unusual_focus_is_rendered_by_the_api(page: Any, server: str) -> None:
    pg, rec = page
    first = lab_default(default_catalog())
    assert first is not None
    pg.goto(server + "lab.html?" + _query(first.params(), focus_um="1.35"))
    _wait_loaded(pg, "Rendered on demand by the API")
    url = _shown(pg, server)
    assert "/z1.35_" in url
    manifest = json.loads(urllib.request.urlopen(server + "manifest.json").read())
    assert url.removeprefix(server) not in manifest["paths"]
    assert rec.responses[url].get("x-micro-cache") in ("miss", "hit")
    assert _canvas_stats(pg)["std"] > 2


def _query(params: dict[str, Any], **changes: str) -> str:
    from urllib.parse import urlencode

    from micro.core.params import fmt_plain

    p = {k: v for k, v in params.items() if k not in ("format", "size", "brightness",
                                                      "contrast")}
    p.update(changes)
    return urlencode({k: fmt_plain(v) if isinstance(v, float) else str(v)
                      for k, v in p.items()})


def test_shared_url_restores_the_view(page: Any, server: str, browser: Any) -> None:
    pg, _rec = page
    cat = default_catalog()
    first = lab_default(cat)
    assert first is not None
    step = focus_step_um(cat, first.instrument, first.objective, first.view)
    pg.goto(server + "lab.html")
    _wait_loaded(pg)
    # Two coarse-focus clicks, a display tweak, then share the URL with a fresh browser.
    pg.focus("#view-a")
    pg.keyboard.press("PageUp")
    _wait_loaded(pg)
    pg.keyboard.press("PageUp")
    _wait_loaded(pg)
    pg.fill("#contrast", "1.5")
    pg.dispatch_event("#contrast", "change")
    shared = pg.url
    expected = first.replace(cat, focus_um=round(2 * step, 6)).path()
    assert _shown(pg, server) == server + expected
    ctx = browser.new_context()
    other = ctx.new_page()
    seen: list[str] = []
    other.on("request", lambda r: seen.append(r.url))
    other.goto(shared)
    _wait_loaded(other)
    assert server + expected in seen
    assert other.input_value("#contrast") == "1.5"
    assert other.text_content("#focus-out") == pg.text_content("#focus-out")
    ctx.close()


def test_notebook_entry_survives_a_reload(page: Any, server: str) -> None:
    pg, _ = page
    pg.goto(server + "lab.html")
    _wait_loaded(pg)
    pg.click("#save")
    pg.fill("#notebook li textarea", "Nuclei visible; cytoplasm faint.")
    pg.dispatch_event("#notebook li textarea", "change")
    pg.reload()
    _wait_loaded(pg)
    assert pg.locator("#notebook li").count() == 1
    assert pg.input_value("#notebook li textarea") == "Nuclei visible; cytoplasm faint."
    with pg.expect_download() as dl:
        pg.click("#export")
    doc = json.loads(Path(dl.value.path()).read_text())
    assert doc["format"] == "micro-notebook" and doc["entries"][0]["note"].startswith("Nuclei")


def test_course_view_loads_and_quiz_answers(page: Any, server: str) -> None:
    pg, rec = page
    pg.goto(server + "courses/medical-imaging-physics.html")
    fig = pg.locator("figure.live-view img").first
    fig.scroll_into_view_if_needed()
    pg.wait_for_function("() => { const i = document.querySelector('figure.live-view img');"
                         " return i.complete && i.naturalWidth > 0; }")
    assert any("/r/" in u for u in rec.requests)
    quiz = pg.locator("form.quiz").first
    assert quiz.get_attribute("data-answer") is None  # not in the page before answering
    salt, check = quiz.get_attribute("data-salt"), quiz.get_attribute("data-check")
    values = [r.get_attribute("value") for r in quiz.locator("input[type=radio]").all()]
    answer = next(v for v in values
                  if hashlib.sha256(f"{salt}:{v}".encode()).hexdigest() == check)
    assert not quiz.locator(".quiz-explain").is_visible()
    assert not str(quiz.locator(".quiz-explain").text_content()).strip()
    wrong = "0" if answer != "0" else "1"
    quiz.locator(f"input[value='{wrong}']").check()
    quiz.locator("button[type=submit]").click()
    assert "Not quite" in quiz.locator(".quiz-result").text_content()
    assert quiz.locator(".quiz-explain").is_visible()  # unsealed in the browser
    assert len(str(quiz.locator(".quiz-explain").text_content()).strip()) > 20
    quiz.locator(f"input[value='{answer}']").check()
    quiz.locator("button[type=submit]").click()
    assert quiz.locator(".quiz-result").text_content() == "Correct."
    n = pg.locator("form.quiz").count()
    score = f"0 of {n} right at the first try; 1 of {n} answered right so far"
    assert score in str(pg.text_content("#quiz-score"))
    pg.reload()  # the score is kept per course
    pg.wait_for_function("s => document.getElementById('quiz-score').textContent.includes(s)",
                         arg=score)
    assert pg.locator("form.quiz").first.locator(".quiz-result").text_content() == \
        "Correct (answered earlier)."
    other = pg.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('micro.quiz.'))")
    assert other == ["micro.quiz.medical-imaging-physics"]
    pg.click("#quiz-reset")
    assert f"{n} questions on this page" in str(pg.text_content("#quiz-score"))


def test_imaging_suite_loads_a_static_image(page: Any, server: str) -> None:
    pg, rec = page
    pg.goto(server + "imaging.html")
    _wait_loaded(pg, "Pre-rendered image")
    url = _shown(pg, server)
    assert "/i/" in url and rec.responses[url].get("x-micro-cache") == "site"
    assert _canvas_stats(pg)["std"] > 2


# --------------------------------------------------------------------------- revisits

REVISITED = ("index.html", "lab.html", "imaging.html", "courses/index.html",
             "courses/light-microscopy.html", "api.html", "specimens/cheek-cells.html",
             "instruments/ct-64-slice.html", "phantoms/brain.html")


def _styled(pg: Any) -> bool:
    """A rule of site.css applied: the header bar is a flex row with a bottom rule."""
    return bool(pg.evaluate("""() => {
      const h = document.querySelector('header.top');
      if (!h) return false;
      const s = getComputedStyle(h);
      return s.display === 'flex' && s.borderBottomStyle === 'solid';
    }"""))


def _working(pg: Any, name: str) -> None:
    if name == "lab.html":
        _wait_loaded(pg)
        assert _canvas_stats(pg)["std"] > 2
    elif name == "imaging.html":
        _wait_loaded(pg, "Pre-rendered image")


@pytest.fixture()
def cached_page(browser: Any, server: str) -> Iterator[tuple[Any, Recorder]]:
    """A page with the browser's HTTP cache on (request interception turns it off, so this
    one only watches: every request must still stay on 127.0.0.1)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    rec = Recorder()
    pg = ctx.new_page()

    def seen(req: Any) -> None:
        rec.requests.append(req.url)
        if not req.url.startswith(("http://127.0.0.1:", "blob:", "data:")):
            rec.outside.append(req.url)

    pg.on("request", seen)
    pg.on("console", lambda m: rec.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: rec.errors.append(str(e)))
    yield pg, rec
    ctx.close()
    assert not rec.errors, f"console errors: {rec.errors}"
    assert not rec.outside, f"requests left 127.0.0.1: {rec.outside}"


def test_every_page_survives_a_revisit_and_a_reload(cached_page: Any, server: str) -> None:
    """A revalidated page (304 Not Modified) keeps the site's CSP: a 304 carries no content
    type, and the browser applies the 304's headers to the page it cached."""
    pg, _rec = cached_page
    revalidated: set[str] = set()  # Playwright reports a 304 as the cached 200 it refreshed

    def conditional(req: Any) -> None:
        if "if-none-match" in req.all_headers() or "if-modified-since" in req.all_headers():
            revalidated.add(req.url)

    pg.on("request", conditional)
    for name in REVISITED:
        url = server + name
        pg.goto(url)
        assert _styled(pg), f"{name}: not styled on the first visit"
        _working(pg, name)
        pg.goto(server + "courses/index.html" if name != "courses/index.html"
                else server + "index.html")
        pg.go_back()
        pg.wait_for_load_state("load")
        assert _styled(pg), f"{name}: not styled after navigating back"
        _working(pg, name)
        pg.reload()
        pg.wait_for_load_state("load")
        assert _styled(pg), f"{name}: not styled after a reload"
        _working(pg, name)
        assert any(u.split("?")[0] == url for u in revalidated), \
            f"{name}: the reload was not a conditional request"


# --------------------------------------------------------------------------- truthful info

def _panel(pg: Any) -> dict[str, str]:
    """The info panel as {info key: value text}."""
    return dict(pg.evaluate("""() => [...document.querySelectorAll('#info dt[data-key]')]
      .map(dt => [dt.dataset.key, dt.nextElementSibling.querySelector('span').textContent])"""))


def _value(text: str) -> float:
    m = re.match(r"-?[0-9.]+(e[-+]?[0-9]+)?", text)
    assert m, f"no number in {text!r}"
    return float(m.group(0))


def _wait_shown(pg: Any, fragment: str) -> str:
    """Wait until the canvas shows a path containing `fragment` and the status says it
    loaded; the canonical path shown."""
    pg.wait_for_function(
        """f => { const c = document.getElementById('view-a');
          const s = document.getElementById('status').textContent;
          return (c.dataset.path || '').includes(f) && !s.startsWith('Loading') &&
            c.getAttribute('aria-busy') === null; }""", arg=fragment, timeout=60000)
    return str(pg.get_attribute("#view-a", "data-path"))


def _assert_panel_is_the_renders(pg: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """Every figure in the panel for `keys` equals the render's own (rendered here, in
    process, from the canonical path shown; 3 significant digits on screen)."""
    cat = default_catalog()
    info = render(parse_path(path, cat), cat).info
    panel = _panel(pg)
    for key in keys:
        assert key in panel, f"{key} not in the panel: {sorted(panel)}"
        assert _value(panel[key]) == pytest.approx(info[key], rel=6e-3), (key, panel[key],
                                                                          info[key])
    assert "Figures of the image shown" in str(pg.text_content("#info-source"))
    return info


def _set(pg: Any, selector: str, value: str) -> None:
    pg.evaluate("""([s, v]) => { const e = document.querySelector(s); e.value = v;
      e.dispatchEvent(new Event('change', {bubbles: true})); }""", [selector, value])


def test_lab_info_is_the_shown_renders_own(page: Any, server: str) -> None:
    pg, _ = page
    pg.goto(server + "lab.html")
    _wait_loaded(pg)
    first = str(pg.get_attribute("#view-a", "data-path"))
    before = _assert_panel_is_the_renders(pg, first, ("resolution_um", "condenser_na",
                                                      "pixel_size_um"))
    _set(pg, "#aperture", "0.3")
    path = _wait_shown(pg, "_a0.3_")
    assert path not in json.loads(urllib.request.urlopen(server + "manifest.json").read())[
        "paths"], "the closed condenser must be rendered on demand for this test"
    after = _assert_panel_is_the_renders(pg, path, ("resolution_um", "condenser_na"))
    assert after["resolution_um"] > before["resolution_um"] * 1.1  # closing it costs detail


def test_imaging_info_follows_mas_and_field_strength(page: Any, server: str) -> None:
    pg, _ = page
    pg.goto(server + "imaging.html?instrument=ct-64-slice&phantom=brain")
    _wait_shown(pg, "/ct-64-slice/brain/")
    _set(pg, "#p-mas", "20")
    path = _wait_shown(pg, "_mas20_")
    ct = _assert_panel_is_the_renders(pg, path, ("ctdi_vol_mgy", "noise_sigma_hu", "mas"))
    assert ct["ctdi_vol_mgy"] < 3  # a tenth of the default 200 mAs dose

    pg.goto(server + "imaging.html?instrument=mri-1-5t&phantom=brain")
    path = _wait_shown(pg, "/mri-1-5t/brain/")
    low = _assert_panel_is_the_renders(pg, path, ("field_strength_t",))
    _set(pg, "#instrument", "mri-3t")
    path = _wait_shown(pg, "/mri-3t/brain/")
    high = _assert_panel_is_the_renders(pg, path, ("field_strength_t",))
    assert (low["field_strength_t"], high["field_strength_t"]) == (1.5, 3.0)


# --------------------------------------------------------------------------- deep links

def _link_error(pg: Any) -> str:
    return "" if pg.locator("#link-error").is_hidden() else str(pg.text_content("#link-error"))


def test_short_lab_links_fill_in_the_specimens_recommended_view(page: Any, server: str) -> None:
    from micro.site.plan import specimen_view

    pg, _ = page
    cat = default_catalog()
    pg.goto(server + "lab.html?specimen=liver-he")
    path = _wait_shown(pg, "/liver-he/")
    assert path == specimen_view(cat, cat.specimens["liver-he"]).path()
    assert "Liver" in str(pg.get_attribute("#view-a", "aria-label"))
    assert _link_error(pg) == ""
    assert "specimen=liver-he" in pg.url and "instrument=" in pg.url  # the full view now

    pg.goto(server + "lab.html?specimen=liver-he&objective=10&focus_um=1.5")
    path = _wait_shown(pg, "/liver-he/")
    assert "/10/liver-he/" in path and "/z1.5_" in path


def test_short_imaging_links_show_what_they_name(page: Any, server: str) -> None:
    pg, _ = page
    pg.goto(server + "imaging.html?instrument=mri-3t")
    path = _wait_shown(pg, "/i/mri/mri-3t/")
    assert _link_error(pg) == ""
    assert pg.input_value("#instrument") == "mri-3t"
    pg.goto(server + "imaging.html?phantom=derenzo")
    path = _wait_shown(pg, "/derenzo/")
    assert parse_path(path, default_catalog()).modality in \
        default_catalog().phantoms["derenzo"].modalities
    pg.goto(server + "imaging.html?modality=ultrasound")
    _wait_shown(pg, "/i/ultrasound/")


@pytest.mark.parametrize(("link", "shown", "words"), [
    ("lab.html?specimen=liver-he&stain=gram", "/liver-he/he/",
     ["stain", "allowed: none, he, masson-trichrome, pas"]),
    ("lab.html?specimen=no-such-slide", "/cheek-cells/", ["specimen", "unknown id", "liver-he"]),
    ("lab.html?specimen=liver-he&focus_um=9999", "/liver-he/", ["focus_um", "out of range"]),
    ("imaging.html?instrument=ct-64-slice&phantom=brain&mas=900", "/ct-64-slice/brain/",
     ["mas", "10 to 800"]),
])
def test_invalid_links_say_which_field_and_what_is_allowed(page: Any, server: str, link: str,
                                                           shown: str, words: list[str]) -> None:
    pg, _ = page
    pg.goto(server + link)
    _wait_shown(pg, shown)
    pg.wait_for_timeout(1000)  # a message that is overwritten would be gone by now
    text = _link_error(pg)
    for w in words:
        assert w in text, (w, text)
    assert pg.get_attribute("#link-error", "role") == "alert"
    pg.select_option("#instrument", index=1)  # the user acts: the message has done its job
    pg.wait_for_function("() => document.getElementById('link-error').hidden")


def test_api_docs_render_from_this_host(page: Any, server: str) -> None:
    """Swagger UI at /docs under the site's CSP: every asset from 127.0.0.1 (the fixture
    fails any other request), no console error, every operation listed."""
    pg, rec = page
    pg.goto(server + "docs")
    pg.wait_for_function("() => document.querySelectorAll('.opblock').length >= 8",
                         timeout=30000)
    text = str(pg.text_content("#swagger-ui"))
    assert "/api/render/microscope" in text and "/r/{path}" in text
    assert any(u.endswith("/api/openapi.json") for u in rec.requests)


# --------------------------------------------------------------------------- words and units

@pytest.mark.parametrize("modality", ["xray", "ct", "mri", "ultrasound", "pet", "spect"])
def test_each_modalitys_panel_speaks_words_and_units(page: Any, server: str,
                                                      modality: str) -> None:
    """Every figure in the panel is labelled from info.js's table (no raw key, no key the
    table lacks), and the caption says what the image is."""
    pg, _ = page
    pg.goto(server + f"imaging.html?modality={modality}")
    _wait_shown(pg, f"/i/{modality}/")
    rows = pg.evaluate("""async () => {
      const { FIELDS } = await import('/static/js/info.js');
      return [...document.querySelectorAll('#info dt')].map(dt => ({
        key: dt.dataset.key, label: dt.textContent, known: dt.dataset.key in FIELDS,
        text: dt.nextElementSibling.querySelector('span').textContent }));
    }""")
    assert len(rows) >= 8, rows
    for r in rows:
        assert r["known"] and "_" not in r["label"], r
        assert not re.search(r"\b[a-z]+(_[a-z0-9]+)+\b", r["text"]), r  # no snake_case key
    caption = str(pg.get_attribute("#view-a", "aria-label"))
    word = {"xray": "X-ray", "ct": "CT", "mri": "MRI", "ultrasound": "Ultrasound",
            "pet": "PET", "spect": "SPECT"}[modality]
    assert caption.startswith(word), caption
    if modality in ("pet", "spect"):
        assert "injected activity" in caption and "dose" not in caption.lower()
        labels = {r["key"]: r["label"] for r in rows}
        assert labels["dose_mbq"] == "Injected activity"


def test_oct_scanners_are_not_offered_as_usable(page: Any, server: str) -> None:
    cat = default_catalog()
    octs = [i for i in cat.imaging_ids() if cat.instruments[i].modality == "oct"]
    assert octs
    pg, _ = page
    pg.goto(server + "imaging.html")
    _wait_loaded(pg, "Pre-rendered image")
    offered = pg.evaluate("() => [...document.querySelectorAll('#instrument option')]"
                          ".map(o => o.value)")
    assert offered and not set(offered) & set(octs)
    pg.goto(server + f"imaging.html?instrument={octs[0]}")
    _wait_shown(pg, "/i/")
    text = _link_error(pg)
    assert "instrument" in text and "reference only" in text, text
    pg.goto(server + "index.html")
    card = pg.locator(f"a[href$='instruments/{octs[0]}.html']").locator("xpath=..")
    assert "not simulated" in str(card.text_content())

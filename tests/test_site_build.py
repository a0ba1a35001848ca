"""`micro build`: the plan, the pages (valid HTML, no broken internal link, CSP-friendly), the
pre-rendered images (exist, decode, carry their info), incremental rebuilds and errors."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import html5lib
import pytest
from click.testing import CliRunner
from PIL import Image
from site_fixtures import quick_site  # noqa: F401

from micro.cli import main
from micro.core.catalog import default_catalog
from micro.core.microscope import optics
from micro.core.models import MicroscopeInstrument
from micro.core.params import PROBE_MODES
from micro.core.render import render
from micro.core.requests import parse_path
from micro.site.build import BuildConfig, BuildError, build, default_site_src
from micro.site.courses import load_courses
from micro.site.pages import internal_links, resolve
from micro.site.plan import focus_step_um, lab_default, plan_defaults

Site = tuple[Path, Any]


def _pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


# --------------------------------------------------------------------------- plan

def test_default_profile_plans_well_over_a_thousand_views() -> None:
    cat = default_catalog()
    plan = plan_defaults(cat, "default")
    assert len(plan) > 1000
    # Every specimen's default view at every objective of its recommended instrument, with
    # its focus stack of ±3 depth-of-field steps (one view for a scanned probe: no focus).
    for sid, spec in cat.specimens.items():
        inst = cat.instruments[spec.recommended.instrument]
        assert isinstance(inst, MicroscopeInstrument)
        for o in inst.objectives:
            zs = sorted(r.focus_um for r in plan.requests.values()
                        if getattr(r, "specimen", None) == sid
                        and r.objective == o.magnification  # type: ignore[union-attr]
                        and r.mode == spec.recommended.modes[0]  # type: ignore[union-attr]
                        and r.stain == spec.default_stain)  # type: ignore[union-attr]
            if spec.recommended.modes[0] in PROBE_MODES:
                assert zs == [0.0], (sid, o.magnification, zs)
            else:
                assert len(zs) >= 7, (sid, o.magnification, zs)
    # Every phantom's presets for each of its modalities.
    for pid, ph in cat.phantoms.items():
        for modality in ph.modalities:
            if modality not in ("ct", "mri"):
                continue
            n = sum(1 for r in plan.requests.values()
                    if getattr(r, "phantom", None) == pid and r.modality == modality)  # type: ignore[union-attr]
            assert n >= 7, (pid, modality, n)


def test_focus_step_is_the_depth_of_field_on_the_focus_grid() -> None:
    cat = default_catalog()
    inst = cat.instruments["student-compound"]
    assert isinstance(inst, MicroscopeInstrument) and inst.camera is not None
    for o in inst.objectives:
        n = optics.medium_index(o.immersion)
        m = o.magnification * inst.tube_factor * inst.camera.adapter_magnification
        dof = inst.light.wavelength_nm / 1000 * n / o.na**2 + n * inst.camera.pixel_size_um / (
            m * o.na)
        step = focus_step_um(cat, inst.id, o.magnification, "camera")
        assert abs(step - dof) <= 0.025 + 1e-9
        assert abs(step / 0.05 - round(step / 0.05)) < 1e-6


# --------------------------------------------------------------------------- the built site

def test_quick_build_writes_the_site(quick_site: Site) -> None:  # noqa: F811
    out, result = quick_site
    assert result.rendered + result.reused > 20
    for name in ("index.html", "lab.html", "imaging.html", "api.html", "404.html",
                 "courses/index.html", "manifest.json", "catalog.json", "quantization.json",
                 "site.json", "sitemap.xml", "robots.txt"):
        assert (out / name).is_file(), name
    cat = default_catalog()
    for iid in cat.instruments:
        assert (out / "instruments" / f"{iid}.html").is_file()
    for sid in cat.specimens:
        assert (out / "specimens" / f"{sid}.html").is_file()
    for sid in cat.stains:
        assert (out / "stains" / f"{sid}.html").is_file()
    for pid in cat.phantoms:
        assert (out / "phantoms" / f"{pid}.html").is_file()
    courses = sorted((default_site_src() / "courses").glob("*.md"))
    assert len(courses) >= 4
    for c in courses:
        assert (out / "courses" / f"{c.stem}.html").is_file()
    # The lab's first view and its focus stack are pre-rendered.
    manifest = json.loads((out / "manifest.json").read_text())
    first = lab_default(cat)
    assert first is not None and first.path() in manifest["paths"]
    step = focus_step_um(cat, first.instrument, first.objective, first.view)
    for i in range(-3, 4):
        assert first.replace(cat, focus_um=round(i * step, 6)).path() in manifest["paths"]
    robots = (out / "robots.txt").read_text()
    assert "Sitemap: http://127.0.0.1:5001/sitemap.xml" in robots
    urls = [e.text for e in ElementTree.parse(out / "sitemap.xml").getroot().iter()
            if e.tag.endswith("loc")]
    assert "http://127.0.0.1:5001/lab.html" in urls
    assert all((out / u.removeprefix("http://127.0.0.1:5001/")).is_file() for u in urls)


def test_every_page_is_valid_html(quick_site: Site) -> None:  # noqa: F811
    out, _ = quick_site
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    for page in _pages(out):
        text = page.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>"), page
        try:
            doc = parser.parse(text)
        except html5lib.html5parser.ParseError as exc:
            pytest.fail(f"{page.relative_to(out)}: {exc}")
        assert doc.find(".//title") is not None and doc.find(".//title").text.strip()
        assert doc.get("lang") == "en"
        ids = [e.get("id") for e in doc.iter() if e.get("id")]
        assert len(ids) == len(set(ids)), f"{page}: duplicate ids"
        for img in doc.iter("img"):
            assert img.get("alt"), f"{page}: <img> without alt text"
        for el in doc.iter():
            # CSP-friendly: no inline script, no inline handlers, no inline styles.
            if el.tag == "script":
                assert el.get("src") and not (el.text or "").strip(), page
            assert not any(a.startswith("on") for a in el.attrib), (page, el.tag)
            assert "style" not in el.attrib, (page, el.tag)
            if el.tag in ("link", "script", "img", "a") and el.get("src", el.get("href", "")):
                assert "//" not in el.get("src", el.get("href", "")) or el.tag == "a", \
                    f"{page}: external resource {el.get('src') or el.get('href')}"


def test_no_broken_internal_links(quick_site: Site) -> None:  # noqa: F811
    out, _ = quick_site
    checked = 0
    for page in _pages(out):
        rel = page.relative_to(out).as_posix()
        for link in internal_links(page.read_text(encoding="utf-8")):
            target = resolve(rel, link)
            if target is None:
                continue
            checked += 1
            assert (out / target).is_file(), f"{rel}: broken link {link}"
            frag = link.partition("#")[2]
            if frag and target.endswith(".html"):
                assert f'id="{frag}"' in (out / target).read_text(encoding="utf-8"), \
                    f"{rel}: no anchor for {link}"
    assert checked > 200


def test_manifest_images_exist_decode_and_carry_info(quick_site: Site) -> None:  # noqa: F811
    out, _ = quick_site
    cat = default_catalog()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == json.loads((out / "catalog.json").read_text())["version"]
    paths = manifest["paths"]
    assert len(paths) == len(set(paths)) > 20
    kinds = set()
    for path in paths:
        req = parse_path(path, cat)
        assert req.path() == path, "manifest paths are canonical"
        data = (out / path).read_bytes()
        img = Image.open(io.BytesIO(data))
        img.load()
        assert img.format == {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[req.format]
        assert img.width == req.size
        info = json.loads((out / req.info_path()).read_text())  # beside it, at its stem
        assert isinstance(info, dict) and info and "path" not in info
        kinds.add(req.kind)
    assert kinds == {"microscope", "imaging"}
    assert not (out / "info").exists()
    # The info is the render's own: the same document the renderer makes for that stem, in
    # another format too (the stem, not the format, names the render).
    for kind in ("m", "i"):
        req = parse_path(next(p for p in paths if p.split("/")[2] == kind), cat)
        other = req.replace(cat, format="png" if req.format != "png" else "jpg")
        assert (out / req.info_path()).read_bytes() == render(other, cat).info_document()


def test_viewer_page_weighs_at_most_150_kb(quick_site: Site) -> None:  # noqa: F811
    out, _ = quick_site
    total = (out / "lab.html").stat().st_size + (out / "static/css/site.css").stat().st_size
    total += sum(p.stat().st_size for p in (out / "static/js").glob("*.js")
                 if p.name not in ("imaging.js", "course.js"))
    assert total <= 150 * 1024, total


def test_course_views_are_embedded_and_prerendered(quick_site: Site) -> None:  # noqa: F811
    out, _ = quick_site
    paths = set(json.loads((out / "manifest.json").read_text())["paths"])
    html = (out / "courses" / "medical-imaging-physics.html").read_text(encoding="utf-8")
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    figures = [f for f in doc.iter("figure") if "live-view" in (f.get("class") or "")]
    assert len(figures) >= 4
    for f in figures:
        assert f.get("data-path") in paths
        links = [a.get("href") for a in f.iter("a")]
        assert any(h.startswith("../imaging.html?") or h.startswith("../lab.html?") for h in links)
    quizzes = [q for q in doc.iter("form") if "quiz" in (q.get("class") or "")]
    assert len(quizzes) >= 4
    course = next(c for c in load_courses(default_site_src() / "courses", default_catalog())
                  if c.slug == "medical-imaging-physics")
    for q, quiz in zip(quizzes, course.quizzes, strict=True):
        radios = [i.get("value") for i in q.iter("input") if i.get("type") == "radio"]
        assert len(radios) == len(quiz.options)
        # the page names no answer: a salted hash of it, which only the right option matches
        assert q.get("data-answer") is None
        salt, check = q.get("data-salt"), q.get("data-check")
        matches = [v for v in radios if hashlib.sha256(f"{salt}:{v}".encode()).hexdigest()
                   == check]
        assert matches == [str(quiz.answer)]
        # nor the explanation (it gives the answer away): sealed, not readable
        words = re.findall(r"[A-Za-z]{6,}", quiz.explanation)[:5]
        explain = next(p for p in q.iter("p") if "quiz-explain" in (p.get("class") or ""))
        assert words and not "".join(explain.itertext()).strip()
        form_text = " ".join(q.itertext()) + " ".join(str(v) for v in q.attrib.values())
        own = [w for w in words if w not in quiz.question and all(w not in o for o in
                                                                  quiz.options)]
        assert not [w for w in own if w in form_text], own


def test_no_change_rebuild_reuses_every_render(quick_site: Site, tmp_path: Path) -> None:  # noqa: F811
    out, first = quick_site
    copy = tmp_path / "site"
    shutil.copytree(out, copy)
    again = build(BuildConfig(out=copy, profile="quick", jobs=2))
    assert again.rendered == 0 and again.reused == first.rendered + first.reused
    victim = json.loads((copy / "manifest.json").read_text())["paths"][0]
    (copy / victim).unlink()
    third = build(BuildConfig(out=copy, profile="quick", jobs=1))
    assert third.rendered == 1
    Image.open(copy / victim).load()


# --------------------------------------------------------------------------- errors

def _site_src_with(tmp_path: Path, name: str, text: str) -> Path:
    src = tmp_path / "site_src"
    shutil.copytree(default_site_src() / "templates", src / "templates")
    shutil.copytree(default_site_src() / "static", src / "static")
    (src / "courses").mkdir()
    (src / "courses" / name).write_text(text, encoding="utf-8")
    return src


GOOD_HEAD = "---\ntitle: T\nsummary: S\n---\n\n## Lesson\n\nText.\n\n"
QUIZ = "```quiz\nQ?\n- [ ] a\n- [x] b\n> because\n```\n"


@pytest.mark.parametrize(("body", "line", "words"), [
    ("```view\ninstrument: ct-64-slice\nphantom: brain\nwindow: 99999\ncaption: c\n```\n",
     13, "window"),
    ("```view\ninstrument: no-such-scope\ncaption: c\n```\n", 11, "instrument"),
    ("```view\ninstrument: ct-64-slice\nphantom: brain\n```\n", 10, "caption"),
    ("```quiz\nQ?\n- [ ] a\n- [ ] b\n> because\n```\n", 10, "[x]"),
    ("```quiz\nQ?\n- [x] a\n- [x] b\n> because\n```\n", 13, "more than one"),
])
def test_bad_course_blocks_fail_with_file_and_line(tmp_path: Path, body: str, line: int,
                                                   words: str) -> None:
    src = _site_src_with(tmp_path, "bad.md", GOOD_HEAD + body)
    out = tmp_path / "out"
    with pytest.raises(BuildError) as err:
        build(BuildConfig(out=out, profile="quick", jobs=1, site_src=src))
    msg = str(err.value)
    assert msg.startswith(f"courses/bad.md:{line}: "), msg
    assert words in msg
    assert not out.exists(), "nothing is written when validation fails"


def test_strict_turns_warnings_into_failure(tmp_path: Path) -> None:
    src = _site_src_with(tmp_path, "noquiz.md", GOOD_HEAD)
    with pytest.raises(BuildError, match=r"--strict: .*noquiz\.md: has no quiz"):
        build(BuildConfig(out=tmp_path / "out", profile="quick", jobs=1, site_src=src,
                          strict=True))


def test_cli_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["build", "--out", str(tmp_path / "o"), "--profile", "huge"])
    assert r.exit_code == 2 and "huge" in r.output
    r = runner.invoke(main, ["build", "--out", str(tmp_path / "o"), "--api-url", "ftp://x"])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "api-url" in r.output
    assert "Traceback" not in r.output
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("x")
    r = runner.invoke(main, ["build", "--out", str(tmp_path / "keep"), "--clean",
                             "--profile", "quick"])
    assert r.exit_code == 2 and "refusing" in r.output
    assert (tmp_path / "keep" / "precious.txt").is_file()


def test_cli_build_reports_a_summary(quick_site: Site, tmp_path: Path) -> None:  # noqa: F811
    out, _ = quick_site
    copy = tmp_path / "site"
    shutil.copytree(out, copy)
    r = CliRunner().invoke(main, ["build", "--out", str(copy), "--profile", "quick",
                                  "--jobs", "2", "--api-url", "none"])
    assert r.exit_code == 0, r.output
    assert "0 rendered" in r.output and "reused" in r.output and "MB" in r.output
    assert json.loads((copy / "site.json").read_text())["api_url"] == "none"


def test_course_views_carry_signatures_for_a_signing_deployment(
        quick_site: tuple[Path, Any], tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With MICRO_RENDER_SIGNING_KEY set, the build mints `?sig=` for every view a course
    embeds, so a deployment that renders only signed views still renders them."""
    from micro.api.signing import valid
    from micro.site.build import BuildConfig, build

    out = tmp_path / "site"
    shutil.copytree(quick_site[0], out)
    key = "course-signing-key-0123456789"
    monkeypatch.setenv("MICRO_RENDER_SIGNING_KEY", key)
    result = build(BuildConfig(out=out, profile="quick", jobs=1))
    assert result.rendered == 0  # every image reused: only the pages change
    srcs = []
    for page in (out / "courses").glob("*.html"):
        srcs += re.findall(r'<img src="[./]*(r/[^"?]+)\?sig=([0-9a-f]+)"', page.read_text())
    assert srcs, "no signed course view"
    assert all(valid(key, path, sig) for path, sig in srcs)
    assert not valid(key + "x", srcs[0][0], srcs[0][1])


def test_plan_renders_each_phantom_at_its_own_defaults() -> None:
    """Every profile pre-renders a phantom's default view (its own window for its anatomy), not
    the first CT preset ("brain") applied to every phantom."""
    from micro.core.requests import canonicalize_imaging
    from micro.site.plan import phantom_views

    cat = default_catalog()
    for pid, ph in cat.phantoms.items():
        views = list(phantom_views(cat, pid, all_instruments=False, all_presets=False))
        assert views, pid
        for r in views:
            own = canonicalize_imaging({"instrument": r.instrument, "phantom": pid}, cat)
            assert r.path() == own.path(), (pid, r.modality)
            if r.modality == "ct" and "window" in ph.defaults.get("ct", {}):
                assert dict(r.settings)["window"] == ph.defaults["ct"]["window"], pid

"""Course pages: Markdown (markdown-it-py) with front matter, live views and quizzes.

    ---
    title: Light microscopy
    summary: Magnification, resolution, Köhler illumination, oil immersion, depth of field.
    order: 1
    ---
    ## Magnification is not resolution
    ```view
    instrument: student-compound
    specimen: usaf-1951
    objective: 40
    caption: Group 7 at 40×/0.65 ...
    ```
    ```quiz
    Which change lets you resolve finer detail?
    - [ ] a 15× eyepiece
    - [x] an objective with a higher NA
    > Resolution is set by the NA (0.61 λ/NA); the eyepiece only enlarges.
    ```

A `view` block is a render request (keys as in the HTTP query, plus `caption` and `alt`);
the build canonicalizes it, so a bad id or value fails with file:line. A `quiz` block is one
multiple-choice question with exactly one right answer, checked in the browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from micro.core.catalog import Catalog
from micro.core.errors import MicroError
from micro.core.models import MicroscopeInstrument
from micro.core.requests import (
    ImagingRequest,
    MicroscopeRequest,
    canonicalize_imaging,
    canonicalize_microscope,
)

FRONT_KEYS = {"title": True, "summary": True, "order": False, "level": False}
VIEW_TEXT_KEYS = ("caption", "alt")
_SLUG = re.compile(r"[^a-z0-9]+")


class CourseError(Exception):
    """A problem in a course file, as `file:line: message`."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass
class View:
    where: str
    request: MicroscopeRequest | ImagingRequest
    caption: str
    alt: str


@dataclass
class Quiz:
    where: str
    question: str
    options: list[str]
    answer: int
    explanation: str


@dataclass
class Course:
    slug: str
    file: str
    title: str
    summary: str
    order: int
    level: str
    tokens: list[Token]
    env: dict[str, Any]
    views: list[View] = field(default_factory=list)
    quizzes: list[Quiz] = field(default_factory=list)
    lessons: list[tuple[str, str]] = field(default_factory=list)  # (anchor, title)


def slugify(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "section"


def markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(
        ["table", "replacements", "smartquotes"])


def _front_matter(text: str, file: str) -> tuple[dict[str, Any], str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise CourseError(file, 1, "front matter missing: start the file with '---'")
    meta: dict[str, Any] = {}
    for i, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            for key, required in FRONT_KEYS.items():
                if required and key not in meta:
                    raise CourseError(file, 1, f"front matter needs {key!r}")
            if "order" in meta:
                try:
                    meta["order"] = int(meta["order"])
                except ValueError:
                    raise CourseError(file, meta["_order_line"], "order must be an integer") \
                        from None
            return meta, "\n".join(lines[i:]), i
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in FRONT_KEYS:
            raise CourseError(file, i, f"front matter: unknown key {key[:30]!r} "
                                       f"(allowed: {', '.join(FRONT_KEYS)})")
        meta[key] = value.strip()
        if key == "order":
            meta["_order_line"] = i
    raise CourseError(file, 1, "front matter is not closed with '---'")


def _key_values(body: str, file: str, line0: int, what: str) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for i, line in enumerate(body.split("\n")):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            raise CourseError(file, line0 + i, f"{what}: expected 'key: value', got "
                                               f"{line.strip()[:40]!r}")
        if key in out:
            raise CourseError(file, line0 + i, f"{what}: {key!r} given twice")
        out[key] = (value.strip(), line0 + i)
    return out


def parse_view(body: str, file: str, line0: int, catalog: Catalog) -> View:
    """A view block → its canonical request; errors point at the offending line."""
    kv = _key_values(body, file, line0, "view")
    text = {k: kv.pop(k)[0] for k in VIEW_TEXT_KEYS if k in kv}
    params = {k: v for k, (v, _) in kv.items()}
    iid = params.get("instrument", "")
    try:
        if not iid:
            raise CourseError(file, line0 - 1, "view: 'instrument' is required")
        inst = catalog.instruments.get(iid)
        if inst is None:
            raise CourseError(file, kv["instrument"][1],
                              f"view: instrument: unknown id {iid!r} — allowed: "
                              f"{', '.join(sorted(catalog.instruments))}")
        req: MicroscopeRequest | ImagingRequest
        if isinstance(inst, MicroscopeInstrument):
            req = canonicalize_microscope(params, catalog)
        else:
            req = canonicalize_imaging(params, catalog)
    except MicroError as exc:
        line = kv[exc.field][1] if exc.field in kv else line0 - 1
        raise CourseError(file, line, f"view: {exc.one_line()}") from None
    if "caption" not in text:
        raise CourseError(file, line0 - 1, "view: 'caption' is required")
    alt = text.get("alt") or text["caption"]
    return View(where=f"{file}:{line0 - 1}", request=req, caption=text["caption"], alt=alt)


def parse_quiz(body: str, file: str, line0: int) -> Quiz:
    question: list[str] = []
    options: list[str] = []
    explanation: list[str] = []
    answer = -1
    for i, line in enumerate(body.split("\n")):
        s = line.strip()
        if not s:
            continue
        m = re.match(r"^- \[( |x|X)\] (.+)$", s)
        if m:
            if m.group(1) != " ":
                if answer >= 0:
                    raise CourseError(file, line0 + i, "quiz: more than one answer marked [x]")
                answer = len(options)
            options.append(m.group(2).strip())
        elif s.startswith(">"):
            explanation.append(s[1:].strip())
        elif options:
            raise CourseError(file, line0 + i, "quiz: after the options only '- [ ] …' or "
                                               "'> explanation' lines are allowed")
        else:
            question.append(s)
    if not question:
        raise CourseError(file, line0 - 1, "quiz: the question is missing")
    if len(options) < 2:
        raise CourseError(file, line0 - 1, "quiz: needs at least two '- [ ] …' options")
    if answer < 0:
        raise CourseError(file, line0 - 1, "quiz: mark the right answer with '- [x] …'")
    if not explanation:
        raise CourseError(file, line0 - 1, "quiz: add an explanation line starting with '>'")
    return Quiz(where=f"{file}:{line0 - 1}", question=" ".join(question), options=options,
                answer=answer, explanation=" ".join(explanation))


def parse_course(path: Path, catalog: Catalog, rel: str | None = None) -> Course:
    """Read and check one course file (front matter, every view and quiz)."""
    file = rel or path.name
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    meta, body, offset = _front_matter(text, file)
    md = markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(body, env)
    course = Course(slug=path.stem, file=file, title=meta["title"], summary=meta["summary"],
                    order=meta.get("order", 99), level=meta.get("level", ""),
                    tokens=tokens, env=env)
    anchors: set[str] = set()
    for i, tok in enumerate(tokens):
        line = (tok.map[0] if tok.map else 0) + offset + 1  # 1-based line in the file
        if tok.type == "fence":
            info = tok.info.strip()
            if info == "view":
                view = parse_view(tok.content, file, line + 1, catalog)
                tok.meta["view"] = len(course.views)
                course.views.append(view)
            elif info == "quiz":
                quiz = parse_quiz(tok.content, file, line + 1)
                tok.meta["quiz"] = len(course.quizzes)
                course.quizzes.append(quiz)
        elif tok.type == "heading_open" and tok.tag == "h2":
            title = tokens[i + 1].content
            anchor = slugify(title)
            if anchor in anchors:
                raise CourseError(file, line, f"two lessons are titled {title!r}")
            anchors.add(anchor)
            tok.attrSet("id", anchor)
            course.lessons.append((anchor, title))
        elif tok.type == "heading_open" and tok.tag == "h1":
            raise CourseError(file, line, "use '##' for lessons; the title comes from the "
                                          "front matter")
    return course


def load_courses(folder: Path, catalog: Catalog) -> list[Course]:
    courses = [parse_course(p, catalog, rel=f"courses/{p.name}")
               for p in sorted(folder.glob("*.md"))]
    return sorted(courses, key=lambda c: (c.order, c.slug))


def render_course(course: Course, view_html: Callable[[View], str],
                  quiz_html: Callable[[Quiz, str], str]) -> str:
    """The course body as HTML; view and quiz blocks go through the given callbacks."""
    md = markdown()
    default_fence = cast(RendererHTML, md.renderer).rules.get("fence")

    def fence(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        if "view" in tok.meta:
            return view_html(course.views[tok.meta["view"]])
        if "quiz" in tok.meta:
            n = tok.meta["quiz"]
            return quiz_html(course.quizzes[n], f"{course.slug}-q{n + 1}")
        assert default_fence is not None
        return default_fence(tokens, idx, options, env)

    md.add_render_rule("fence", fence)
    return md.renderer.render(course.tokens, md.options, course.env)


def inline(text: str) -> str:
    """Inline Markdown (emphasis, code) to HTML, escaped."""
    return markdown().renderInline(text)

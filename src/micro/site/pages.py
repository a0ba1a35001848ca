"""The site's HTML pages: a Jinja2 environment (autoescaping on) and one function per kind of
page. Pages are rendered into memory; the builder checks their links before writing any."""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from micro.api.signing import sign_path
from micro.core.catalog import Catalog
from micro.core.models import ImagingInstrument, MicroscopeInstrument
from micro.core.params import IMAGING_PARAMS, fmt_plain
from micro.core.requests import ImagingRequest, MicroscopeRequest
from micro.site.courses import Course, Quiz, View, inline, render_course
from micro.site.plan import Plan, objective_dof_um


def environment(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(str(templates)),
                      autoescape=select_autoescape(["html", "xml"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["num"] = _num
    env.filters["plain"] = fmt_plain
    env.filters["md"] = lambda text: Markup(inline(str(text)))
    return env


def _num(value: float | None, digits: int = 3) -> str:
    """A number with `digits` significant figures, no exponent (for tables)."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        return fmt_plain(float(text))
    return text


# --------------------------------------------------------------------------- links

def lab_query(req: MicroscopeRequest | ImagingRequest) -> str:
    """The lab (or imaging suite) URL query that restores a view."""
    params = req.params()
    params.pop("format", None)
    if isinstance(req, MicroscopeRequest):
        params["objective"] = fmt_plain(req.objective)
        return "lab.html?" + urlencode({k: _text(v) for k, v in params.items()})
    return "imaging.html?" + urlencode({k: _text(v) for k, v in params.items()})


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return fmt_plain(v)
    return str(v)


# --------------------------------------------------------------------------- optics rows

def objective_rows(inst: MicroscopeInstrument) -> list[dict[str, Any]]:
    """Per objective: resolution, FWHM, DOF, FOV and total magnification from the core optics."""
    from micro.core.microscope import optics

    lam = inst.light.wavelength_nm
    rows = []
    for o in inst.objectives:
        row: dict[str, Any] = {"objective": o, "mag": fmt_plain(o.magnification)}
        if o.resolution_nm is not None:
            row["rayleigh_um"] = o.resolution_nm / 1000.0
            row["fwhm_um"] = None
        else:
            row["rayleigh_um"] = optics.rayleigh_um(lam, o.na)
            row["fwhm_um"] = optics.fwhm_um(lam, o.na)
        if inst.camera is not None:
            m_cam = o.magnification * inst.tube_factor * inst.camera.adapter_magnification
            row["dof_um"] = objective_dof_um(inst, o.magnification, "camera")
            row["camera_fov_mm"] = (inst.camera.sensor_width_mm / m_cam,
                                    inst.camera.sensor_height_mm / m_cam)
            row["camera_pixel_um"] = inst.camera.pixel_size_um / m_cam
        else:
            assert inst.eyepiece is not None
            row["dof_um"] = objective_dof_um(inst, o.magnification, "eyepiece")
            row["camera_fov_mm"] = None
            row["camera_pixel_um"] = None
        if inst.eyepiece is not None:
            row["eyepiece_fov_mm"] = inst.eyepiece.field_number_mm / (o.magnification
                                                                     * inst.tube_factor)
            row["total_mag"] = o.magnification * inst.eyepiece.magnification * inst.tube_factor
        else:
            row["eyepiece_fov_mm"] = None
            row["total_mag"] = None
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- the site

@dataclass
class Pages:
    """Rendered pages by site-relative path (writing one path twice is an error)."""

    files: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, html: str) -> None:
        if path in self.files:
            raise ValueError(f"two pages would be written to {path}")
        self.files[path] = html


def _root(path: str) -> str:
    depth = path.count("/")
    return "../" * depth


@dataclass
class SiteContext:
    catalog: Catalog
    plan: Plan
    courses: list[Course]
    version: str
    api_url: str


def _examples(plan: Plan, pred: Any, limit: int) -> list[tuple[str, MicroscopeRequest | ImagingRequest]]:
    out = []
    for path, req in plan.requests.items():
        if pred(req):
            out.append((path, req))
            if len(out) >= limit:
                break
    return out


def _view_label(req: MicroscopeRequest | ImagingRequest, catalog: Catalog) -> str:
    if isinstance(req, MicroscopeRequest):
        spec = catalog.specimens[req.specimen]
        stain = catalog.stains[req.stain].name
        return (f"{spec.name}, {stain}, {fmt_plain(req.objective)}× objective, {req.mode}, "
                f"focus {fmt_plain(req.focus_um)} µm")
    ph = catalog.phantoms[req.phantom]
    extra = ""
    if req.modality == "ct":
        extra = f", window {req['window']} / level {req['level']} HU"
    elif req.modality == "mri":
        extra = f", {req['sequence']} TR {req['tr_ms']} ms / TE {req['te_ms']} ms"
    return f"{ph.name}, {req.modality.upper()} on {catalog.instruments[req.instrument].name}{extra}"


def render_pages(env: Environment, ctx: SiteContext) -> Pages:
    cat = ctx.catalog
    pages = Pages()
    api = urlsplit(ctx.api_url) if ctx.api_url.startswith(("http://", "https://")) else None
    csp_extra = f" {api.scheme}://{api.netloc}" if api else ""
    common = {"version": ctx.version, "site_name": "MICRO", "csp_extra": csp_extra}

    def page(path: str, template: str, **kw: Any) -> None:
        html = env.get_template(template).render(root=_root(path), page_path=path,
                                                 **common, **kw)
        pages.add(path, html)

    microscopes = [cat.instruments[i] for i in cat.microscope_ids()]
    imagers = [inst for i in cat.imaging_ids()
               if isinstance(inst := cat.instruments[i], ImagingInstrument)]
    specimens = [cat.specimens[s] for s in sorted(cat.specimens)]
    stains = [cat.stains[s] for s in sorted(cat.stains)]
    phantoms = [cat.phantoms[p] for p in sorted(cat.phantoms)]
    label = lambda req: _view_label(req, cat)  # noqa: E731

    page("index.html", "index.html", microscopes=microscopes, imagers=imagers,
         specimens=specimens, stains=stains, phantoms=phantoms, courses=ctx.courses,
         n_images=len(ctx.plan), simulated=list(IMAGING_PARAMS))
    page("lab.html", "lab.html")
    page("imaging.html", "imaging.html")
    page("api.html", "api.html", api_url=ctx.api_url, microscopes=microscopes,
         imagers=imagers, simulated=list(IMAGING_PARAMS))
    page("404.html", "404.html", absolute=True)

    for inst in microscopes:
        assert isinstance(inst, MicroscopeInstrument)
        ex = _examples(ctx.plan, lambda r, i=inst.id: isinstance(r, MicroscopeRequest)
                       and r.instrument == i and r.focus_um == 0, 4)
        page(f"instruments/{inst.id}.html", "instrument.html", inst=inst,
             rows=objective_rows(inst), examples=ex, label=label, lab_query=lab_query,
             specimens=[s for s in specimens if s.recommended.instrument == inst.id])
    for inst in imagers:
        assert isinstance(inst, ImagingInstrument)
        ex = _examples(ctx.plan, lambda r, i=inst.id: isinstance(r, ImagingRequest)
                       and r.instrument == i, 4)
        page(f"instruments/{inst.id}.html", "imager.html", inst=inst,
             spec=inst.spec.model_dump(), examples=ex, label=label, lab_query=lab_query,
             simulated=inst.modality in IMAGING_PARAMS,
             phantoms=[p for p in phantoms if inst.modality in p.modalities])
    for spec in specimens:
        ex = _examples(ctx.plan, lambda r, s=spec.id: isinstance(r, MicroscopeRequest)
                       and r.specimen == s and r.focus_um == 0 and r.source == "procedural",
                       6)
        page(f"specimens/{spec.id}.html", "specimen.html", spec=spec, examples=ex,
             label=label, lab_query=lab_query, stains={s: cat.stains[s] for s in spec.stains},
             inst=cat.instruments[spec.recommended.instrument])
    for stain in stains:
        used = [s for s in specimens if stain.id in s.stains]
        ex = _examples(ctx.plan, lambda r, st=stain.id: isinstance(r, MicroscopeRequest)
                       and r.stain == st and r.focus_um == 0, 4)
        page(f"stains/{stain.id}.html", "stain.html", stain=stain, specimens=used,
             examples=ex, label=label, lab_query=lab_query,
             structures={k: v.name for k, v in cat.structures.items()})
    for ph in phantoms:
        ex = _examples(ctx.plan, lambda r, p=ph.id: isinstance(r, ImagingRequest)
                       and r.phantom == p, 8)
        page(f"phantoms/{ph.id}.html", "phantom.html", phantom=ph, examples=ex, label=label,
             lab_query=lab_query,
             instruments=[i for i in imagers if i.modality in ph.modalities])

    page("courses/index.html", "courses.html", courses=ctx.courses)
    # a deployment that renders on demand only signed views: course views carry their
    # signature (micro.api.signing), so they render even if not pre-rendered or expired
    sign_key = os.environ.get("MICRO_RENDER_SIGNING_KEY") or None
    view_t = env.get_template("_view.html")
    quiz_t = env.get_template("_quiz.html")
    for course in ctx.courses:
        path = f"courses/{course.slug}.html"
        root = _root(path)

        def view_html(view: View, root: str = root) -> str:
            path = view.request.path()
            src = path + (f"?sig={sign_path(sign_key, path)}" if sign_key else "")
            return view_t.render(root=root, view=view, path=path, src=src,
                                 lab=lab_query(view.request), label=label(view.request))

        def quiz_html(quiz: Quiz, qid: str) -> str:
            return quiz_t.render(quiz=quiz, qid=qid, sealed=seal_quiz(
                quiz, qid, str(env.filters["md"](quiz.explanation))))

        body = Markup(render_course(course, view_html, quiz_html))
        page(path, "course.html", course=course, body=body)
    return pages


# --------------------------------------------------------------------------- quizzes

def _keystream(key: str, n: int) -> bytes:
    blocks = (hashlib.sha256(f"{key}:{i}".encode()).digest() for i in range(-(-n // 32)))
    return b"".join(blocks)[:n]


def seal_quiz(quiz: Quiz, qid: str, explanation_html: str) -> dict[str, str]:
    """What a quiz's page carries instead of its answer: a salt, the SHA-256 of
    `salt:answer` (the browser hashes each option to find the right one once the student
    answers), and the explanation (which usually gives the answer away) XORed with a SHA-256
    keystream of the answer, base64. Not secret from a determined reader, only out of sight:
    the page source no longer shows the answer before answering."""
    salt = hashlib.sha256(f"micro-quiz:{qid}:{quiz.question}".encode()).hexdigest()[:16]
    data = explanation_html.encode()
    key = f"{salt}:{quiz.answer}:explanation"
    sealed = bytes(a ^ b for a, b in zip(data, _keystream(key, len(data)), strict=True))
    return {"salt": salt, "check": hashlib.sha256(f"{salt}:{quiz.answer}".encode()).hexdigest(),
            "explanation": base64.b64encode(sealed).decode()}


# --------------------------------------------------------------------------- link check

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "src"):
                self.links.append(value)


def internal_links(html: str) -> list[str]:
    p = _Links()
    p.feed(html)
    return p.links


def resolve(page: str, link: str) -> str | None:
    """Site-relative target of a link on `page`, or None for external/anchor/mail links."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        return None
    if not parts.path:
        return None
    if parts.path.startswith("/"):
        target = parts.path.lstrip("/")
    else:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), parts.path))
    if target in ("", "."):
        return "index.html"
    if target.endswith("/"):
        target += "index.html"
    return target


def broken_links(pages: dict[str, str], existing: Iterable[str]) -> list[str]:
    """`page: link` for every internal link whose target is neither a page nor a file."""
    have = set(existing) | set(pages)
    bad = []
    for path, html in pages.items():
        for link in internal_links(html):
            target = resolve(path, link)
            if target is None:
                continue
            if target.startswith("../") or target not in have:
                bad.append(f"{path}: {link}")
    return bad

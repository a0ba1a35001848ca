"""`build(config)`: plan (catalog defaults ∪ course views), validate, render, then write.

Nothing is written until the plan, the courses, the pages and every internal link check out.
Renders run in a process pool; a render whose canonical path is already in the output is
reused, so a no-change rebuild only rewrites the pages.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import MicroError
from micro.core.models import MODES
from micro.core.params import quantization_spec
from micro.core.resources import package_folder
from micro.core.version import render_version
from micro.site.courses import CourseError, load_courses
from micro.site.pages import SiteContext, broken_links, environment, render_pages
from micro.site.plan import (
    PROFILES,
    Plan,
    Request,
    add_views,
    focus_steps_table,
    imaging_default,
    lab_default,
    plan_defaults,
)

DATA_FILES = ("manifest.json", "catalog.json", "quantization.json", "site.json",
              "sitemap.xml", "robots.txt")


class BuildError(Exception):
    """The build cannot go on; the message is one line."""


def default_site_src() -> Path:
    env = os.environ.get("MICRO_SITE_SRC")
    if env:
        return Path(env)
    return package_folder("site_src")


@dataclass(frozen=True)
class BuildConfig:
    out: Path = Path("build/site")
    jobs: int | None = None
    profile: str = "default"
    api_url: str = ""
    strict: bool = False
    clean: bool = False
    site_src: Path = field(default_factory=default_site_src)
    data_dir: Path | None = None
    site_url: str = "http://127.0.0.1:5001/"


@dataclass
class BuildResult:
    rendered: int
    reused: int
    pages: int
    seconds: float
    render_seconds: float
    site_bytes: int
    warnings: list[str]
    out: Path

    @property
    def images_per_s(self) -> float:
        return self.rendered / self.render_seconds if self.render_seconds > 0 else 0.0


Progress = Callable[[int, int, float], None]  # done, total, seconds since start


# --------------------------------------------------------------------------- workers

_CATALOG: Catalog | None = None


WORKER_SCENE_CACHE_BYTES = 96 << 20
"""A build worker renders one scene's group at a time, so it needs few cached scenes; a
small cache keeps its memory (and the page faults of touching more) down."""


def _init_worker(data_dir: str) -> None:
    global _CATALOG
    _CATALOG = Catalog.load(data_dir)
    from micro.core.microscope.scene import set_cache_budget

    set_cache_budget(WORKER_SCENE_CACHE_BYTES)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_to(req: Request, out: str, catalog: Catalog | None = None) -> tuple[str, int]:
    """Render one request into the site: the image and, beside it at the same stem, its info
    document (`<stem>.json`, the same one the API serves), each atomically."""
    from micro.core.render import render

    cat = catalog or _CATALOG or default_catalog()
    result = render(req, cat)
    path = req.path()
    root = Path(out)
    _write_atomic(root / path, result.image)
    info = root / req.info_path()
    doc = result.info_document()
    if not info.is_file() or info.read_bytes() != doc:  # once per stem, whatever the formats
        _write_atomic(info, doc)
    return path, len(result.image)


def render_batch(reqs: list[Request], out: str) -> list[tuple[str, int]]:
    """Render views that share a scene (a focus stack, the modes of one field) in one worker,
    so the scene is generated once and reused from the worker's cache."""
    done = [render_to(r, out) for r in reqs]
    if reqs and reqs[0].kind == "imaging":
        # a phantom's group is rendered in one go: its rasters and reconstructions will not
        # be asked for again, and keeping them would only grow the worker
        from micro.core import memory
        from micro.core.imaging.render import PHANTOM_CACHES

        memory.clear(*PHANTOM_CACHES)
    return done


def _group_cost(group: list[Request]) -> float:
    """A rough relative cost: imaging groups build a system matrix or reconstruction first."""
    first = group[0]
    return len(group) * (4.0 if first.kind == "imaging" else 1.0)


def _group_order(group: list[Request]) -> tuple[float, str, float]:
    first = group[0]
    optics = (first.instrument, float(getattr(first, "objective", 0.0)))
    return (-_group_cost(group), *optics)


def _scene_groups(todo: list[Request]) -> list[list[Request]]:
    groups: dict[tuple[object, ...], list[Request]] = {}
    for r in todo:
        p = r.params()
        # a microscope scene is one field of view of one slide; an imaging "scene" is one
        # phantom, whose rasters every modality shares
        names = (("phantom", "variant", "size") if r.kind == "imaging" else
                 ("instrument", "objective", "specimen", "x_um", "y_um", "size", "view"))
        key = (r.kind, *(p.get(k) for k in names))
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def _render_all(todo: list[Request], cfg: BuildConfig, catalog: Catalog,
                progress: Progress | None) -> float:
    """Render `todo` into cfg.out; returns the seconds it took. The first failure stops it."""
    start = time.perf_counter()
    total = len(todo)
    if not todo:
        return 0.0
    jobs = max(1, cfg.jobs or os.cpu_count() or 1)
    out = str(cfg.out)
    if jobs == 1:
        for i, req in enumerate(todo, 1):
            _render_checked(req, out, catalog)
            if progress:
                progress(i, total, time.perf_counter() - start)
        return time.perf_counter() - start
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(str(catalog.data_dir),)) as pool:
        # biggest first (focus stacks of thick specimens, phantom preset sets), so the pool
        # does not end on one long group while the other worker idles; among equals, one
        # instrument and objective after another, so their transfer functions are reused
        queue = iter(sorted(_scene_groups(todo), key=_group_order))
        running: dict[Future[list[tuple[str, int]]], list[Request]] = {}
        done = 0

        def submit(n: int) -> None:
            for group in queue:
                running[pool.submit(render_batch, group, out)] = group
                if len(running) >= n:
                    break

        submit(jobs * 3)
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                group = running.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    for other in running:
                        other.cancel()
                    raise _render_error(group[0], exc)
                done += len(group)
            if progress:
                progress(done, total, time.perf_counter() - start)
            submit(jobs * 3)
    return time.perf_counter() - start


def _render_checked(req: Request, out: str, catalog: Catalog) -> None:
    try:
        render_to(req, out, catalog)
    except Exception as exc:
        raise _render_error(req, exc) from exc


def _render_error(req: Request, exc: BaseException) -> BuildError:
    what = exc.one_line() if isinstance(exc, MicroError) else f"{type(exc).__name__}: {exc}"
    return BuildError(f"render failed for {req.path()}: {what}")


# --------------------------------------------------------------------------- data files

def catalog_json(catalog: Catalog, version: str) -> dict[str, Any]:
    """What the browser needs to canonicalize and label views (no scene populations), and
    which stains of each specimen have an AI illustration in the library."""
    from micro.core.library import usable_stains

    instruments = {}
    for iid, inst in sorted(catalog.instruments.items()):
        d = inst.model_dump(mode="json")
        for k in ("sources", "examples", "limits", "contrast"):
            d.pop(k, None)
        instruments[iid] = d
    specimens = {sid: {"id": s.id, "name": s.name, "category": s.category,
                       "stains": list(s.stains), "default_stain": s.default_stain,
                       "recommended": s.recommended.model_dump(mode="json"),
                       "slide_width_um": s.slide_width_um,
                       "slide_height_um": s.slide_height_um,
                       "look_for": list(s.look_for),
                       "illustrated_stains": usable_stains(catalog, s)}
                 for sid, s in sorted(catalog.specimens.items())}
    stains = {sid: {"id": s.id, "name": s.name, "type": s.type}
              for sid, s in sorted(catalog.stains.items())}
    phantoms = {pid: {"id": p.id, "name": p.name, "modalities": list(p.modalities),
                      "variants": sorted(p.variants), "fov_mm": p.fov_mm,
                      "look_for": list(p.look_for), "defaults": p.defaults,
                      "anatomy": p.anatomy, "slice_range_mm": list(p.slice_range_mm)}
                for pid, p in sorted(catalog.phantoms.items())}
    return {"version": version, "modes": list(MODES), "instruments": instruments,
            "specimens": specimens, "stains": stains, "phantoms": phantoms}


def _sitemap(site_url: str, pages: list[str]) -> str:
    base = site_url if site_url.endswith("/") else site_url + "/"
    rows = "".join(f"  <url><loc>{escape(base + p)}</loc></url>\n"
                   for p in sorted(pages) if p != "404.html")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{rows}</urlset>\n")


def _static_files(site_src: Path) -> dict[str, Path]:
    root = site_src / "static"
    return {f"static/{p.relative_to(root).as_posix()}": p
            for p in sorted(root.rglob("*")) if p.is_file()}


def _site_size(out: Path) -> int:
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- build

def plan_site(cfg: BuildConfig, catalog: Catalog) -> tuple[Plan, list[Any], list[str]]:
    """The plan and the parsed courses; raises BuildError on any bad reference."""
    if cfg.profile not in PROFILES:
        raise BuildError(f"profile: unknown {cfg.profile!r} — allowed: {', '.join(PROFILES)}")
    folder = cfg.site_src / "courses"
    if not folder.is_dir():
        raise BuildError(f"site sources: {folder} has no courses/ folder")
    try:
        courses = load_courses(folder, catalog)
        plan = plan_defaults(catalog, cfg.profile)
        for c in courses:
            add_views(plan, catalog, {v.where: v.request for v in c.views}, cfg.profile)
    except CourseError as exc:
        raise BuildError(str(exc)) from None
    except MicroError as exc:
        raise BuildError(exc.one_line()) from None
    warnings = []
    for c in courses:
        if not c.quizzes:
            warnings.append(f"{c.file}: has no quiz")
        if not c.views:
            warnings.append(f"{c.file}: has no view")
    return plan, courses, warnings


def build(cfg: BuildConfig, progress: Progress | None = None,
          log: Callable[[str], None] | None = None) -> BuildResult:
    """Plan, validate, render and write the site into cfg.out."""
    t0 = time.perf_counter()
    say = log or (lambda _msg: None)
    try:
        catalog = Catalog.load(cfg.data_dir) if cfg.data_dir else default_catalog()
    except MicroError as exc:
        raise BuildError(exc.one_line()) from None
    if not (cfg.site_src / "templates").is_dir():
        raise BuildError(f"site sources: {cfg.site_src / 'templates'} not found")
    api_url = cfg.api_url.strip()
    if api_url not in ("", "none") and not api_url.startswith(("http://", "https://", "/")):
        raise BuildError(f"api-url: {api_url[:60]!r} is not a URL — allowed: http(s)://…, "
                         "a path starting with '/', 'none', or empty for same origin")
    version = render_version(catalog)
    plan, courses, warnings = plan_site(cfg, catalog)
    say(f"plan: {len(plan)} images ({cfg.profile} profile), {len(courses)} courses")

    # Render every page in memory and check every internal link before writing anything.
    env = environment(cfg.site_src / "templates")
    ctx = SiteContext(catalog=catalog, plan=plan, courses=courses, version=version,
                      api_url=api_url)
    try:
        pages = render_pages(env, ctx).files
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    static = _static_files(cfg.site_src)
    existing = set(static) | set(plan.requests) | set(DATA_FILES)
    existing |= {r.info_path() for r in plan.requests.values()}
    bad = broken_links(pages, existing)
    if bad:
        raise BuildError(f"{len(bad)} broken internal link(s), first: {bad[0]}")
    if warnings and cfg.strict:
        raise BuildError(f"--strict: {len(warnings)} warning(s), first: {warnings[0]}")

    out = cfg.out
    if cfg.clean and out.exists():
        if any(out.iterdir()) and not (out / "manifest.json").is_file():
            raise BuildError(f"--clean: {out} is not a MICRO site (no manifest.json); "
                             "refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    todo = [req for path, req in plan.requests.items()
            if not ((out / path).is_file() and (out / req.info_path()).is_file())]
    reused = len(plan) - len(todo)
    say(f"render: {len(todo)} to render, {reused} reused, "
        f"{max(1, cfg.jobs or os.cpu_count() or 1)} jobs")
    render_s = _render_all(todo, cfg, catalog, progress)

    for rel, html in pages.items():
        _write_atomic(out / rel, html.encode("utf-8"))
    for rel, src in static.items():
        dst = out / rel
        data = src.read_bytes()
        if not dst.is_file() or dst.read_bytes() != data:
            _write_atomic(dst, data)
    lab = lab_default(catalog)
    imaging = imaging_default(catalog)
    site = {"version": version, "api_url": api_url, "profile": cfg.profile,
            "lab_default": lab.params() if lab else None,
            "imaging_default": imaging.params() if imaging else None,
            "focus_steps": focus_steps_table(catalog)}
    data_files: dict[str, Any] = {
        "manifest.json": {"version": version, "paths": sorted(plan.requests)},
        "catalog.json": catalog_json(catalog, version),
        "quantization.json": quantization_spec(),
        "site.json": site,
    }
    for rel, obj in data_files.items():
        _write_atomic(out / rel, json.dumps(obj, default=_jsonable, sort_keys=True,
                                            separators=(",", ":")).encode())
    _write_atomic(out / "sitemap.xml", _sitemap(cfg.site_url, list(pages)).encode())
    base = cfg.site_url if cfg.site_url.endswith("/") else cfg.site_url + "/"
    _write_atomic(out / "robots.txt",
                  f"User-agent: *\nDisallow: /api/\nSitemap: {base}sitemap.xml\n".encode())
    for w in warnings:
        say(f"warning: {w}")
    return BuildResult(rendered=len(todo), reused=reused, pages=len(pages),
                       seconds=time.perf_counter() - t0, render_seconds=render_s,
                       site_bytes=_site_size(out), warnings=warnings, out=out)


__all__ = ["BuildConfig", "BuildError", "BuildResult", "build"]

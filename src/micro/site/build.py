"""`build(config)`: plan (catalog defaults ∪ course views), validate, render, then write.

Nothing is written until the plan, the courses, the pages and every internal link check out.
The plan becomes a manifest of shards (`micro.site.shards`), rendered by an executor (a local
process pool, or a Dask cluster with `scheduler`) into a sink (a directory, or S3 with
`out="s3://bucket/prefix"`). A render whose image and info are already in the output is
reused, so a no-change rebuild only rewrites the pages and an interrupted one resumes. Pages
and site data are written after every render has finished.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from micro.core.catalog import Catalog, default_catalog
from micro.core.errors import MicroError
from micro.core.models import MODES
from micro.core.resources import package_folder
from micro.core.rules import quantization_spec
from micro.core.version import render_version
from micro.site.courses import CourseError, load_courses
from micro.site.pages import SiteContext, broken_links, environment, render_pages
from micro.site.plan import (
    PROFILES,
    Plan,
    add_views,
    focus_steps_table,
    imaging_default,
    lab_default,
    plan_defaults,
)
from micro.site.shards import (
    DaskExecutor,
    Executor,
    LocalExecutor,
    Shard,
    ShardError,
    ShardResult,
    Sink,
    open_sink,
    render_fn,
    scene_groups,
    shard_manifest,
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
    out: Path | str = Path("build/site")
    """A directory, or `s3://bucket/prefix`."""
    jobs: int | None = None
    """Local render processes (default: all cores); unused with `scheduler`."""
    scheduler: str | None = None
    """A dask.distributed scheduler (`tcp://host:8786`) to render on instead of locally."""
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
    out: Path | str
    shards: int = 0
    executor: str = ""
    workers: list[str] = field(default_factory=list)
    """The worker processes (host:pid) that rendered, one entry each."""

    @property
    def images_per_s(self) -> float:
        return self.rendered / self.render_seconds if self.render_seconds > 0 else 0.0


Progress = Callable[[int, int, float], None]  # done, total, seconds since start


# --------------------------------------------------------------------------- render

def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _executor(cfg: BuildConfig) -> Executor:
    if cfg.scheduler:
        return DaskExecutor(cfg.scheduler)
    return LocalExecutor(max(1, cfg.jobs or os.cpu_count() or 1),
                         str(cfg.data_dir) if cfg.data_dir else None)


def _render_all(shards: list[Shard], sink: Sink, executor: Executor, catalog: Catalog,
                version: str, data_dir: str | None,
                progress: Progress | None) -> tuple[float, list[ShardResult]]:
    """Render the shards into the sink; returns the seconds it took and what each shard did.
    The first failure stops it."""
    start = time.perf_counter()
    total = sum(len(s) for s in shards)
    if not shards:
        return 0.0, []
    inline = isinstance(executor, LocalExecutor) and executor.jobs == 1
    fn = render_fn(sink, version, data_dir, catalog if inline else None)
    done = 0
    results = []
    try:
        for shard, result in executor.run(fn, shards):
            done += len(shard)
            results.append(result)
            if progress:
                progress(done, total, time.perf_counter() - start)
    except ShardError as exc:
        raise BuildError(str(exc)) from None
    except MicroError as exc:
        raise BuildError(exc.one_line()) from None
    except Exception as exc:  # the executor's own failure (a lost cluster, a dead pool)
        raise BuildError(f"render on {executor.description}: {type(exc).__name__}: "
                         f"{str(exc)[:300]}") from None
    return time.perf_counter() - start, results


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

    try:
        sink = open_sink(cfg.out)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    try:
        have = sink.sizes()
    except Exception as exc:  # an unreachable bucket, missing credentials
        raise BuildError(f"out: cannot list {sink.url}: {type(exc).__name__}: "
                         f"{str(exc)[:200]}") from None
    if cfg.clean and have:
        if "manifest.json" not in have:
            raise BuildError(f"--clean: {sink.url} is not a MICRO site (no manifest.json); "
                             "refusing to delete it")
        sink.clear()
        have = {}

    todo = [req for path, req in plan.requests.items()
            if not (path in have and req.info_path() in have)]
    reused = len(plan) - len(todo)
    shards = [[r.path() for r in g] for g in scene_groups(todo)]
    executor = _executor(cfg)
    say(f"render: {len(todo)} to render in {len(shards)} shards, {reused} reused, "
        f"on {executor.description}, into {sink.url}")
    data_dir = str(cfg.data_dir) if cfg.data_dir else None
    render_s, results = _render_all(shards, sink, executor, catalog, version, data_dir,
                                    progress)
    if shards:
        say(f"render: done on {executor.description}")

    # gather, then write: the pages and site data only once every render is in place
    for rel, html in pages.items():
        sink.put(rel, html.encode("utf-8"))
    for rel, src in static.items():
        data = src.read_bytes()
        if have.get(rel) != len(data) or sink.get(rel) != data:
            sink.put(rel, data)
    lab = lab_default(catalog)
    imaging = imaging_default(catalog)
    site = {"version": version, "api_url": api_url, "profile": cfg.profile,
            "lab_default": lab.params() if lab else None,
            "imaging_default": imaging.params() if imaging else None,
            "focus_steps": focus_steps_table(catalog)}
    data_files: dict[str, Any] = {
        "manifest.json": {"version": version, "paths": sorted(plan.requests)},
        "catalog.json": catalog_json(catalog, version),
        "quantization.json": quantization_spec(catalog),
        "site.json": site,
    }
    for rel, obj in data_files.items():
        sink.put(rel, json.dumps(obj, default=_jsonable, sort_keys=True,
                                 separators=(",", ":")).encode())
    sink.put("sitemap.xml", _sitemap(cfg.site_url, list(pages)).encode())
    base = cfg.site_url if cfg.site_url.endswith("/") else cfg.site_url + "/"
    sink.put("robots.txt",
             f"User-agent: *\nDisallow: /api/\nSitemap: {base}sitemap.xml\n".encode())
    for w in warnings:
        say(f"warning: {w}")
    return BuildResult(rendered=len(todo), reused=reused, pages=len(pages),
                       seconds=time.perf_counter() - t0, render_seconds=render_s,
                       site_bytes=sum(sink.sizes().values()), warnings=warnings,
                       out=cfg.out, shards=len(shards), executor=executor.description,
                       workers=sorted({f"{r.host}:{r.pid}" for r in results}))


def plan_manifest(cfg: BuildConfig) -> dict[str, Any]:
    """The build's plan as a manifest of shards (`micro build --plan FILE`), nothing
    rendered or written; raises BuildError on any bad reference."""
    try:
        catalog = Catalog.load(cfg.data_dir) if cfg.data_dir else default_catalog()
    except MicroError as exc:
        raise BuildError(exc.one_line()) from None
    plan, _, _ = plan_site(cfg, catalog)
    return shard_manifest(plan, version=render_version(catalog), profile=cfg.profile)


__all__ = ["BuildConfig", "BuildError", "BuildResult", "build", "plan_manifest"]

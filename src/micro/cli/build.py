"""`micro build`: the static site (pages, pre-rendered views, manifest) into --out."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from micro.cli.errors import CliError


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class _Progress:
    """One progress line: images done, images/s and ETA (redrawn in place on a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = done / seconds if seconds > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * done / total) if total else width
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} images  "
                f"{rate:.1f} img/s  ETA {eta:.0f}s")
        if self.tty:
            click.echo("\r" + line + ("\n" if done >= total else ""), nl=False, err=True)
        else:
            click.echo(line, err=True)


@click.command("build")
@click.option("--out", default="build/site", show_default=True, metavar="DIR|s3://BUCKET/PREFIX",
              help="Output directory, or an S3 prefix (AWS_ENDPOINT_URL is honoured). "
                   "Views already there are not rendered again.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local render processes (default: all cores).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="Render on a Dask cluster (pip install 'micro[cluster]') instead of "
                   "local processes; its workers need the same micro, and a directory "
                   "--out must be one they all see.")
@click.option("--plan", "plan_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Only plan: write the manifest of shards (JSON, '-' for stdout) and stop.")
@click.option("--profile", type=click.Choice(["quick", "default", "full"]), default="default",
              show_default=True, help="How much to pre-render (quick: a few dozen images).")
@click.option("--api-url", default="", metavar="URL",
              help="Where the viewer sends views nobody pre-rendered (default: same origin; "
                   "'none' for a purely static site).")
@click.option("--site-url", default="http://127.0.0.1:5001/", show_default=True,
              help="Public URL of the site (for sitemap.xml and robots.txt).")
@click.option("--strict", is_flag=True, help="Warnings fail the build.")
@click.option("--clean", is_flag=True, help="Delete the output directory first.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Catalog directory (default: the project's data/).")
def build(out: str, jobs: int | None, scheduler: str | None, plan_out: Path | None,
          profile: str, api_url: str, site_url: str, strict: bool, clean: bool,
          data_dir: Path | None) -> None:
    """Build the static site: plan shards, validate, render them (a local process pool or a
    Dask cluster), then write the pages."""
    from micro.site.build import BuildConfig, BuildError, plan_manifest
    from micro.site.build import build as run

    if scheduler is not None and "://" not in scheduler:
        raise CliError(f"scheduler: {scheduler[:80]!r} is not an address — allowed: "
                       "tcp://HOST:PORT (a dask.distributed scheduler)")
    cfg = BuildConfig(out=out if "://" in out else Path(out),
                      jobs=jobs or os.cpu_count(), scheduler=scheduler, profile=profile,
                      api_url=api_url, strict=strict, clean=clean, data_dir=data_dir,
                      site_url=site_url)
    try:
        if plan_out is not None:
            text = json.dumps(plan_manifest(cfg), indent=1) + "\n"
            if str(plan_out) == "-":
                click.echo(text, nl=False)
            else:
                plan_out.write_text(text)
                click.echo(f"planned {plan_out}", err=True)
            return
        result = run(cfg, progress=_Progress(), log=lambda m: click.echo(m, err=True))
    except BuildError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"built {result.out}: {result.rendered} rendered, {result.reused} reused, "
               f"{result.pages} pages, {result.seconds:.1f} s"
               + (f" (rendering {result.render_seconds:.1f} s, {result.images_per_s:.0f} img/s)"
                  if result.rendered else "")
               + f", {_human(result.site_bytes)}"
               + (f", {len(result.warnings)} warning(s)" if result.warnings else ""))

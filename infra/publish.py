"""Publish the built site to the site bucket (`make publish`).

Uploads `build/site` with the `aws` CLI, in an order that never shows a page whose files
are missing: renders first (`r/`, immutable: a render's path changes with its content),
then assets, then the site's JSON data and its HTML (short max-age), then invalidates the
non-render paths in CloudFront so the new pages show at once. Content types are set per extension, not guessed.

Renders are synced without `--delete`: on-demand renders of the Lambda live under `r/` too
(the bucket's lifecycle rule expires them). Pages and assets are synced with `--delete`.

Settings come from `infra/config`, overridden by environment variables of the same name;
the bucket and distribution, when not set, from the stack's outputs. `DRY_RUN=1` prints
the commands and runs none.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "infra" / "config"

RENDER_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""The same as the app's and the S3 cache's (`micro.cache.CACHE_CONTROL`)."""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".npy": "application/octet-stream",
    ".pdf": "application/pdf",
}


SHORT_LIVED = (".html", ".json")
"""Pages, and the site's data files (manifest.json, catalog.json, …) that name the render
version: they change with every release, so they get the pages' short max-age."""


class PublishError(Exception):
    """Bad settings or site; the message names the setting or file."""


def read_config(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """KEY=value lines of `path`, each overridden by an environment variable of its name."""
    values: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise PublishError(f"{path.name}:{n}: expected KEY=value, got {text[:60]!r}")
        values[key] = value.strip()
    for key in values:
        if key in environ:
            values[key] = environ[key]
    return values


@dataclass(frozen=True)
class Settings:
    stack_name: str
    region: str
    site_dir: Path
    bucket: str
    distribution_id: str
    html_max_age_s: int
    asset_max_age_s: int
    max_invalidation_paths: int
    dry_run: bool

    @classmethod
    def from_config(cls, environ: Mapping[str, str]) -> Settings:
        cfg = read_config(Path(environ.get("MICRO_DEPLOY_CONFIG", CONFIG)), environ)

        def need(key: str) -> str:
            value = cfg.get(key, "")
            if not value:
                raise PublishError(f"{key} is not set (infra/config or the environment)")
            return value

        def seconds(key: str) -> int:
            raw = need(key)
            if not raw.isdigit():
                raise PublishError(f"{key}: {raw!r} is not a whole number of seconds")
            return int(raw)

        site = Path(need("SITE_DIR"))
        return cls(stack_name=need("STACK_NAME"), region=need("AWS_REGION"),
                   site_dir=site if site.is_absolute() else ROOT / site,
                   bucket=cfg.get("SITE_BUCKET", ""),
                   distribution_id=cfg.get("DISTRIBUTION_ID", ""),
                   html_max_age_s=seconds("HTML_MAX_AGE_S"),
                   asset_max_age_s=seconds("ASSET_MAX_AGE_S"),
                   max_invalidation_paths=seconds("MAX_INVALIDATION_PATHS"),
                   dry_run=environ.get("DRY_RUN", "") not in ("", "0"))


def show(cmd: Sequence[str]) -> None:
    print("+ " + shlex.join(cmd), flush=True)


def run(cmd: Sequence[str], settings: Settings) -> str:
    show(cmd)
    if settings.dry_run:
        return ""
    try:
        result = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise PublishError(f"{cmd[0]} not found: install the AWS CLI") from None
    except subprocess.CalledProcessError as exc:
        raise PublishError(f"{shlex.join(cmd[:5])} failed (exit {exc.returncode})") from None
    return result.stdout


def stack_output(settings: Settings, key: str) -> str:
    cmd = ["aws", "--region", settings.region, "cloudformation", "describe-stacks",
           "--stack-name", settings.stack_name, "--output", "text",
           "--query", f"Stacks[0].Outputs[?OutputKey=='{key}'].OutputValue"]
    value = run(cmd, settings).strip()
    if settings.dry_run:
        return f"<{key} of stack {settings.stack_name}>"
    if not value or value == "None":
        raise PublishError(f"stack {settings.stack_name} has no output {key}: "
                           f"run `make deploy` first")
    return value


# --------------------------------------------------------------------------- the site

def check_site(site: Path) -> str:
    """The site's render version, after checking it is a MICRO site of the current code."""
    manifest = site / "manifest.json"
    if not manifest.is_file():
        raise PublishError(f"{site}: no manifest.json, not a built MICRO site: "
                           f"run `make build` first")
    try:
        version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (ValueError, KeyError, TypeError):
        raise PublishError(f"{manifest}: no \"version\" in it") from None
    from micro.core.catalog import default_catalog
    from micro.core.version import render_version

    current = render_version(default_catalog())
    if version != current:
        raise PublishError(f"{site} was built for render version {version}, but this code "
                           f"renders version {current} (as the deployed function will): "
                           f"run `make build` (and `make deploy`) first")
    return str(version)


def site_files(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()
                  and not p.name.startswith("."))


def _filters(patterns: Sequence[str], exclude_renders: bool) -> list[str]:
    out = ["--exclude", "*"]
    for pattern in patterns:
        out += ["--include", pattern]
    if exclude_renders:
        out += ["--exclude", "r/*"]
    return out


def _groups(files: Sequence[str]) -> dict[str, list[str]]:
    """Include patterns by content type ("" = let the CLI guess), extensions lower-case."""
    groups: dict[str, list[str]] = {}
    for rel in files:
        name = rel.rsplit("/", 1)[-1]
        dot = name.rfind(".")
        if dot <= 0:
            groups.setdefault("", []).append(rel)
            continue
        ext = name[dot:]
        ctype = CONTENT_TYPES.get(ext.lower(), "")
        pattern = f"*{ext}"
        if pattern not in groups.setdefault(ctype, []):
            groups[ctype].append(pattern)
    return groups


def plan(settings: Settings, files: Sequence[str], bucket: str,
         distribution_id: str) -> list[list[str]]:
    """The aws commands that publish `files` (paths relative to the site directory)."""
    aws = ["aws", "--region", settings.region]
    site = str(settings.site_dir)
    renders = [f[2:] for f in files if f.startswith("r/")]
    others = [f for f in files if not f.startswith("r/")]
    pages = [f for f in others if f.endswith(SHORT_LIVED)]
    assets = [f for f in others if not f.endswith(SHORT_LIVED)]
    cmds: list[list[str]] = []
    for ctype, patterns in sorted(_groups(renders).items()):
        cmds.append([*aws, "s3", "sync", f"{site}/r", f"s3://{bucket}/r",
                     *_filters(patterns, False), "--size-only", "--no-progress",
                     "--cache-control", RENDER_CACHE_CONTROL,
                     *(["--content-type", ctype] if ctype else [])])
    for ctype, patterns in sorted(_groups(assets).items()):
        cmds.append([*aws, "s3", "sync", site, f"s3://{bucket}", *_filters(patterns, True),
                     "--delete", "--no-progress",
                     "--cache-control", f"public, max-age={settings.asset_max_age_s}",
                     *(["--content-type", ctype] if ctype else [])])
    for ctype, patterns in sorted(_groups(pages).items()):
        cmds.append([*aws, "s3", "sync", site, f"s3://{bucket}", *_filters(patterns, True),
                     "--delete", "--no-progress",
                     "--cache-control",
                     f"public, max-age={settings.html_max_age_s}, must-revalidate",
                     "--content-type", ctype])
    paths = ["/" + f for f in pages] + ["/" + f for f in assets]
    if len(paths) > settings.max_invalidation_paths:
        paths = ["/*"]
    if paths:
        cmds.append([*aws, "cloudfront", "create-invalidation",
                     "--distribution-id", distribution_id, "--paths", *paths])
    return cmds


def publish(settings: Settings) -> None:
    site = settings.site_dir
    if not site.is_dir():
        raise PublishError(f"SITE_DIR {site} does not exist: run `make build` first")
    version = check_site(site)
    files = site_files(site)
    renders = sum(f.startswith("r/") for f in files)
    print(f"publish: {site} (render version {version}): {renders} renders, "
          f"{len(files) - renders} pages and assets"
          + (" [DRY_RUN: nothing is run]" if settings.dry_run else ""), flush=True)
    bucket = settings.bucket or stack_output(settings, "SiteBucket")
    distribution = settings.distribution_id or stack_output(settings, "DistributionId")
    for cmd in plan(settings, files, bucket, distribution):
        run(cmd, settings)


def main(environ: Mapping[str, str] | None = None) -> int:
    try:
        publish(Settings.from_config(os.environ if environ is None else environ))
    except PublishError as exc:
        print(f"publish: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

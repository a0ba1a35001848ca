"""`micro sign PATH`: the signed URL of a render, for deployments that render on demand only
signed views (`MICRO_RENDER_SIGNING_KEY`)."""

from __future__ import annotations

import os

import click

from micro.cli.errors import CliError, one_line_errors


@click.command("sign")
@click.argument("path")
@one_line_errors
def sign(path: str) -> None:
    """Print PATH (a canonical /r/... path) with its ?sig= for MICRO_RENDER_SIGNING_KEY."""
    from micro.api.signing import sign_path
    from micro.core.catalog import default_catalog
    from micro.core.errors import MicroError
    from micro.core.requests import parse_path

    key = os.environ.get("MICRO_RENDER_SIGNING_KEY", "")
    if len(key) < 16:
        raise CliError("MICRO_RENDER_SIGNING_KEY: set it to the deployment's key "
                       "(at least 16 characters)")
    rel = path.strip().lstrip("/")
    try:
        canonical = parse_path(rel, default_catalog()).path()
    except MicroError as exc:
        raise CliError(f"path: {exc}") from None
    if canonical != rel:
        raise CliError(f"path: not canonical; allowed: the canonical form /{canonical}")
    click.echo(f"/{canonical}?sig={sign_path(key, canonical)}")

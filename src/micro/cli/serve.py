"""`micro serve`: the whole site plus render on miss, in one process (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from micro.cli.errors import CliError, one_line_errors


@click.command("serve")
@click.option("--site", "site", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/site"), show_default=True,
              help="Built site directory (micro build); its files are served first.")
@click.option("--cache", "cache", metavar="DIR|s3://BUCKET/PREFIX",
              help="Render cache [default: MICRO_CACHE or .cache/renders].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535))
@one_line_errors
def serve(site: Path, cache: str | None, host: str, port: int) -> None:
    """Serve the site, the cache and on-demand renders over HTTP."""
    import uvicorn

    from micro.api.app import create_app
    from micro.api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env().with_(site_dir=site)
        if cache:
            settings = settings.with_(cache=cache)
        app = create_app(settings)
    except (SettingsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if not site.is_dir():
        click.echo(f"note: {site} does not exist yet (run `micro build`); serving the API "
                   f"and on-demand renders only", err=True)
    click.echo(f"MICRO on http://{host}:{port}/  (site {site}, cache {settings.cache})")
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")

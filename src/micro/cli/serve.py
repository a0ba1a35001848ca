"""`micro serve`: the whole site plus render on miss, in one process (uvicorn).

For production, run it behind nginx (`infra/nginx/micro.conf`): nginx absorbs slow clients,
rate-limits by address and serves the site's files itself. On its own, `micro serve` still
closes connections that send nothing or trickle their request (header and body timeouts),
caps open connections, and logs a repeated error once per ten seconds with a count.
"""

from __future__ import annotations

import resource
from pathlib import Path

import click

from micro.cli.errors import CliError, one_line_errors


def _raise_fd_limit(wanted: int) -> int:
    """Let the process hold `wanted` descriptors if the hard limit allows (connections,
    cache files and the renderer's own); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft


@click.command("serve")
@click.option("--site", "site", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/site"), show_default=True,
              help="Built site directory (micro build); its files are served first.")
@click.option("--cache", "cache", metavar="DIR|s3://BUCKET/PREFIX",
              help="Render cache [default: MICRO_CACHE or .cache/renders].")
@click.option("--cache-max-mb", type=click.IntRange(1, 10_000_000), default=None,
              help="Bound a directory cache to this many MiB, evicting the least recently "
                   "used renders [default: MICRO_CACHE_MAX_MB, else unbounded].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535))
@click.option("--proxy-headers/--no-proxy-headers", default=False, show_default=True,
              help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind nginx): "
                   "per-client limits then apply to the real client address.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose forwarded headers are trusted (with --proxy-headers).")
@click.option("--max-connections", type=click.IntRange(16, 100_000), default=1024,
              show_default=True,
              help="Open connections at most; beyond it new requests get 503.")
@click.option("--header-timeout", type=click.FloatRange(0.5, 300), default=10.0,
              show_default=True, help="Seconds a client has to send a request's headers.")
@click.option("--body-timeout", type=click.FloatRange(0.5, 600), default=30.0,
              show_default=True, help="Seconds a client has to send a request's body.")
@click.option("--keep-alive", type=click.FloatRange(0.5, 300), default=5.0,
              show_default=True, help="Seconds an idle keep-alive connection stays open.")
@one_line_errors
def serve(site: Path, cache: str | None, cache_max_mb: int | None, host: str, port: int,
          proxy_headers: bool, forwarded_allow_ips: str, max_connections: int,
          header_timeout: float, body_timeout: float, keep_alive: float) -> None:
    """Serve the site, the cache and on-demand renders over HTTP."""
    import uvicorn

    from micro.api.app import create_app
    from micro.api.protocol import guarded_protocol, install_repeat_filter
    from micro.api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env().with_(site_dir=site)
        if cache:
            settings = settings.with_(cache=cache)
        if cache_max_mb is not None:
            settings = settings.with_(cache_max_mb=cache_max_mb)
        app = create_app(settings)
    except (SettingsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if not site.is_dir():
        click.echo(f"note: {site} does not exist yet (run `micro build`); serving the API "
                   f"and on-demand renders only", err=True)
    _raise_fd_limit(max_connections + 256)
    bound = f", at most {settings.cache_max_mb} MiB" if settings.cache_max_mb else ""
    click.echo(f"MICRO on http://{host}:{port}/  (site {site}, cache {settings.cache}{bound})")
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", server_header=False,
        http=guarded_protocol(header_timeout, body_timeout),
        proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips,
        limit_concurrency=max_connections, timeout_keep_alive=int(max(1, keep_alive)),
        backlog=min(4096, max_connections))
    install_repeat_filter()  # after uvicorn has configured its loggers
    uvicorn.Server(config).run()

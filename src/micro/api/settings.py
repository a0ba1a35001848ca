"""Settings of the render API: injected into `create_app`, read from the environment only by
the entry points (`micro serve`, the Lambda handler) through `Settings.from_env()`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: Environment variable → (field, parser name). One place, documented in the README.
ENV = {
    "MICRO_SITE_DIR": "site_dir",
    "MICRO_CACHE": "cache",
    "MICRO_ALLOWED_ORIGINS": "allowed_origins",
    "MICRO_API_ORIGINS": "api_origins",
    "MICRO_DATA_DIR": "data_dir",
    "MICRO_RENDER_WORKERS": "render_workers",
    "MICRO_RENDER_QUEUE": "render_queue",
    "MICRO_RENDER_TIMEOUT_S": "render_timeout_s",
    "MICRO_MAX_BODY_BYTES": "max_body_bytes",
    "MICRO_MAX_QUERY_CHARS": "max_query_chars",
    "MICRO_MAX_SIZE_PX": "max_size_px",
    "MICRO_CACHE_COOLDOWN_S": "cache_cooldown_s",
    "MICRO_CACHE_MAX_MB": "cache_max_mb",
    "MICRO_MAX_RESPONSE_BYTES": "max_response_bytes",
    "MICRO_MAX_RAW_SIZE_PX": "max_raw_size_px",
    "MICRO_RENDER_SIGNING_KEY": "render_signing_key",
    "MICRO_RENDER_PER_CLIENT": "render_per_client",
    "MICRO_RENDER_RATE_PER_CLIENT": "render_rate_per_client",
    "MICRO_RENDER_BURST_PER_CLIENT": "render_burst_per_client",
}


LAMBDA_MAX_RESPONSE_BYTES = 4_500_000
"""Lambda answers at most 6 MB; a binary body goes out base64-encoded (4/3 larger)."""


class SettingsError(ValueError):
    """A setting with a bad value; the message names the environment variable."""


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _default_cache(environ: Mapping[str, str]) -> str:
    # Lambda's file system is read-only except /tmp.
    if environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return "/tmp/micro-renders"
    return ".cache/renders"


@dataclass(frozen=True)
class Settings:
    site_dir: Path = Path("build/site")
    """Pre-rendered static site; its files win over the cache and the renderer."""
    cache: str = ".cache/renders"
    """A directory, or `s3://bucket/prefix`."""
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed by CORS (exact `scheme://host[:port]`); empty = same-origin only."""
    api_origins: tuple[str, ...] = ()
    """Other origins the site loads renders from (added to the CSP img-src/connect-src)."""
    data_dir: Path | None = None
    """Catalog data directory; None = `micro.core.catalog.default_data_dir()`."""
    render_workers: int = field(default_factory=_default_workers)
    """Threads that render (a render never runs on the event loop)."""
    render_queue: int = 16
    """Distinct keys that may wait for a worker; beyond that, 429 with Retry-After."""
    render_per_client: int | None = None
    """Distinct renders one client address may have in flight; None = half the pool
    (workers + queue), so no one client can hold every slot."""
    render_rate_per_client: float = 4.0
    """New renders a second one client may start (token bucket; cache hits are free)."""
    render_burst_per_client: float = 40.0
    """The bucket's size: a burst a student's focus stack fits in."""
    render_timeout_s: float = 30.0
    """A client waits at most this long for a render (then 503 with Retry-After)."""
    max_body_bytes: int = 64 * 1024
    max_query_chars: int = 2048
    max_size_px: int = 1024
    """Largest output width a request may ask for."""
    max_raw_size_px: int | None = None
    """Largest width of a raw `.npy` download (float32: 1024² RGB is 12.6 MB); None = as
    `max_size_px`. The AWS template sets 512, bounding what abuse can store per URL."""
    render_signing_key: str | None = field(default=None, repr=False)
    """When set, images missing from the site and the cache are rendered only for URLs
    signed with it (`?sig=`, see micro.api.signing)."""
    max_response_bytes: int | None = None
    """Largest image the app answers with itself; larger ones are redirected to their
    canonical path once cached. None = no limit (`micro serve`); on Lambda 4,500,000 (its
    response is at most 6 MB after base64)."""
    cache_cooldown_s: float = 15.0
    """After a failed cache read (write), skip reads (writes) for this long instead of
    waiting on the backend again."""
    cache_max_mb: int | None = None
    """Bound of a directory cache in MiB (least recently used entries evicted); None = no
    bound. S3 is bounded by the bucket's lifecycle rule instead."""

    def __post_init__(self) -> None:
        if self.max_raw_size_px is not None and (not isinstance(self.max_raw_size_px, int)
                                                 or self.max_raw_size_px < 1):
            raise SettingsError(f"MICRO_MAX_RAW_SIZE_PX: must be an integer ≥ 1, "
                                f"got {self.max_raw_size_px!r}")
        if self.render_signing_key is not None and len(self.render_signing_key) < 16:
            raise SettingsError("MICRO_RENDER_SIGNING_KEY: must be at least 16 characters")
        for name, lo in (("render_workers", 1), ("render_queue", 0), ("max_body_bytes", 1),
                         ("max_query_chars", 64), ("max_size_px", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < lo:
                raise SettingsError(f"{_env_name(name)}: must be an integer ≥ {lo}, "
                                    f"got {value!r}")
        if self.max_response_bytes is not None and (
                not isinstance(self.max_response_bytes, int) or self.max_response_bytes < 1024):
            raise SettingsError(f"MICRO_MAX_RESPONSE_BYTES: must be an integer ≥ 1024, "
                                f"got {self.max_response_bytes!r}")
        if self.render_per_client is not None and (not isinstance(self.render_per_client, int)
                                                   or self.render_per_client < 1):
            raise SettingsError(f"MICRO_RENDER_PER_CLIENT: must be an integer ≥ 1, "
                                f"got {self.render_per_client!r}")
        for name in ("render_rate_per_client", "render_burst_per_client"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value < 1e6:
                raise SettingsError(f"{_env_name(name)}: must be a number > 0, got {value!r}")
        if self.cache_max_mb is not None and (not isinstance(self.cache_max_mb, int)
                                              or self.cache_max_mb < 1):
            raise SettingsError(f"MICRO_CACHE_MAX_MB: must be an integer ≥ 1 (MiB), "
                                f"got {self.cache_max_mb!r}")
        for name in ("render_timeout_s", "cache_cooldown_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1e6:
                raise SettingsError(f"{_env_name(name)}: must be a number of seconds ≥ 0, "
                                    f"got {value!r}")
        for origin in (*self.allowed_origins, *self.api_origins):
            if not origin.startswith(("http://", "https://")) or origin.endswith("/") \
                    or any(c in origin for c in " ;,'\""):
                raise SettingsError(f"origin {origin!r}: must look like https://host[:port] "
                                    f"(no path, no trailing slash)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `MICRO_*` variables (see `ENV`); unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"cache": _default_cache(env)}
        if env.get("AWS_LAMBDA_FUNCTION_NAME"):
            values["max_response_bytes"] = LAMBDA_MAX_RESPONSE_BYTES
        for var, name in ENV.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(var, name, raw.strip())
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (CLI options over the environment)."""
        return replace(self, **changes)


def _env_name(field_name: str) -> str:
    for var, name in ENV.items():
        if name == field_name:
            return var
    return field_name


def _parse(var: str, name: str, raw: str) -> Any:
    if name in ("site_dir", "data_dir"):
        return Path(raw)
    if name in ("cache", "render_signing_key"):
        return raw
    if name in ("allowed_origins", "api_origins"):
        return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if name in ("render_timeout_s", "cache_cooldown_s", "render_rate_per_client",
                "render_burst_per_client"):
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{var}: {raw[:40]!r} is not a number") from None
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{var}: {raw[:40]!r} is not an integer") from None

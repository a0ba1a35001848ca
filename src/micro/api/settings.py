"""Settings of the render API (pydantic-settings): injected into `create_app`, read from the
environment only by the entry points (`micro serve`, the Lambda handler) through
`Settings.from_env()`. Every field `x` is the environment variable `MICRO_X` (`ENV`,
documented in the README); a bad value is a `SettingsError` naming the variable and what is
allowed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "MICRO_"
SECRETS = frozenset({"render_signing_key"})
"""Fields whose values no error message repeats."""
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


Origins = Annotated[tuple[str, ...], NoDecode]
"""Comma-separated in the environment (`https://a.example, https://b.example`)."""


class Settings(BaseSettings):
    """Construct directly (nothing is read from the environment then) or `from_env()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid",
                                      validate_default=True, allow_inf_nan=False)

    site_dir: Path = Path("build/site")
    """Pre-rendered static site; its files win over the cache and the renderer."""
    cache: str = ".cache/renders"
    """A directory, or `s3://bucket/prefix`."""
    allowed_origins: Origins = ()
    """Origins allowed by CORS (exact `scheme://host[:port]`); empty = same-origin only."""
    api_origins: Origins = ()
    """Other origins the site loads renders from (added to the CSP img-src/connect-src)."""
    data_dir: Path | None = None
    """Catalog data directory; None = `micro.core.catalog.default_data_dir()`."""
    render_workers: int = Field(default_factory=_default_workers, ge=1)
    """Threads that render (a render never runs on the event loop)."""
    render_queue: int = Field(16, ge=0)
    """Distinct keys that may wait for a worker; beyond that, 429 with Retry-After."""
    render_per_client: int | None = Field(None, ge=1)
    """Distinct renders one client address may have in flight; None = half the pool
    (workers + queue), so no one client can hold every slot."""
    render_rate_per_client: float = Field(4.0, gt=0, lt=1e6)
    """New renders a second one client may start (token bucket; cache hits are free)."""
    render_burst_per_client: float = Field(40.0, gt=0, lt=1e6)
    """The bucket's size: a burst a student's focus stack fits in."""
    render_timeout_s: float = Field(30.0, ge=0, lt=1e6)
    """A client waits at most this long for a render (then 503 with Retry-After)."""
    max_body_bytes: int = Field(64 * 1024, ge=1)
    max_query_chars: int = Field(2048, ge=64)
    max_size_px: int = Field(1024, ge=1)
    """Largest output width a request may ask for."""
    max_raw_size_px: int | None = Field(None, ge=1)
    """Largest width of a raw `.npy` download (float32: 1024² RGB is 12.6 MB); None = as
    `max_size_px`. The AWS template sets 512, bounding what abuse can store per URL."""
    render_signing_key: str | None = Field(None, min_length=16, repr=False)
    """When set, images missing from the site and the cache are rendered only for URLs
    signed with it (`?sig=`, see micro.api.signing)."""
    max_response_bytes: int | None = Field(None, ge=1024)
    """Largest image the app answers with itself; larger ones are redirected to their
    canonical path once cached. None = no limit (`micro serve`); on Lambda 4,500,000 (its
    response is at most 6 MB after base64)."""
    cache_cooldown_s: float = Field(15.0, ge=0, lt=1e6)
    """After a failed cache read (write), skip reads (writes) for this long instead of
    waiting on the backend again."""
    cache_max_mb: int | None = Field(None, ge=1)
    """Bound of a directory cache in MiB (least recently used entries evicted); None = no
    bound. S3 is bounded by the bucket's lifecycle rule instead."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_message(exc)) from None

    @field_validator("allowed_origins", "api_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        for origin in value if isinstance(value, (tuple, list)) else ():
            if not isinstance(origin, str) or not origin.startswith(("http://", "https://")) \
                    or origin.endswith("/") or any(c in origin for c in " ;,'\""):
                raise ValueError(f"origin {origin!r}: must look like https://host[:port] "
                                 f"(no path, no trailing slash)")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what the caller passes: `from_env` reads the environment it is given."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `MICRO_*` variables (see `ENV`); unset or empty ones keep their
        defaults, which on Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) are a cache in /tmp and
        a response bound of `LAMBDA_MAX_RESPONSE_BYTES`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"cache": _default_cache(env)}
        if env.get("AWS_LAMBDA_FUNCTION_NAME"):
            values["max_response_bytes"] = LAMBDA_MAX_RESPONSE_BYTES
        given = {k: v.strip() for k, v in env.items()
                 if k.startswith(ENV_PREFIX) and v.strip()}
        try:
            values.update(_MappingEnvSource(cls, given)())
        except ValueError as exc:  # pydantic-settings: a value it could not decode
            raise SettingsError(str(exc)) from None
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A validated copy with some fields changed (CLI options over the environment)."""
        return type(self)(**{**{k: getattr(self, k) for k in type(self).model_fields},
                             **changes})


ENV: dict[str, str] = {ENV_PREFIX + name.upper(): name for name in Settings.model_fields}
"""Environment variable → field. One place, documented in the README."""


class _MappingEnvSource(EnvSettingsSource):
    """The environment source over a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def _message(exc: ValidationError) -> str:
    """One line: the environment variable, what is wrong and allowed, and the value given."""
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else ""
    var = ENV_PREFIX + name.upper() if name else "settings"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] in ("value_error",):
        return f"{var}: {msg}"
    given = err.get("input")
    secret = name in SECRETS
    shown = repr(given)[:40] if not isinstance(given, dict) and not secret else ""
    return f"{var}: {msg[:1].lower() + msg[1:]}" + (f", got {shown}" if shown else "")

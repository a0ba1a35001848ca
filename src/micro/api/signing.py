"""Signed render URLs, for deployments that render on demand only the views they know.

With a key configured (`MICRO_RENDER_SIGNING_KEY`, or on Lambda a Secrets Manager secret
named by `MICRO_RENDER_SIGNING_SECRET_ARN`), an image that is neither in the site nor in the
cache is rendered only for `?sig=<signature of its canonical path>`; anything else is a 403
naming `sig`. Pre-rendered and cached images are served to everyone as before. `micro build`
mints signatures (`sign_path`) for the views course pages embed, and `micro sign PATH` for
any other view.
"""

from __future__ import annotations

import hashlib
import hmac

SIG_HEX = 32
"""Signature length in hex digits (128 bits of HMAC-SHA256)."""


def sign_path(key: str, canonical: str) -> str:
    """The signature of a canonical render path (`r/<version>/...`, no leading slash)."""
    mac = hmac.new(key.encode(), canonical.lstrip("/").encode(), hashlib.sha256)
    return mac.hexdigest()[:SIG_HEX]


def valid(key: str, canonical: str, sig: str | None) -> bool:
    """Constant-time check of `sig` against the path's signature."""
    if not sig or len(sig) != SIG_HEX:
        return False
    return hmac.compare_digest(sign_path(key, canonical), sig.lower())


def key_from_secret(arn: str) -> str:
    """The signing key stored as a Secrets Manager secret's string (the Lambda's case)."""
    import boto3

    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return str(value).strip()

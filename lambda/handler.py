"""AWS Lambda entry point: the same app as `micro serve`, behind a Function URL (or API
Gateway), with settings from the environment (MICRO_CACHE=s3://bucket/prefix, ...).
Heavy modules (the renderers' NumPy/SciPy work, boto3) load on first use, not at import,
unless the deployment signs renders (its key is read from Secrets Manager at cold start)."""

import os

from mangum import Mangum

from micro.api.app import create_app
from micro.api.settings import Settings
from micro.api.signing import key_from_secret

settings = Settings.from_env()
if os.environ.get("MICRO_RENDER_SIGNING_SECRET_ARN") and settings.render_signing_key is None:
    settings = settings.with_(
        render_signing_key=key_from_secret(os.environ["MICRO_RENDER_SIGNING_SECRET_ARN"]))
handler = Mangum(create_app(settings), lifespan="off")

"""AWS Lambda entry point: the same app as `micro serve`, behind a Function URL (or API
Gateway), with settings from the environment (MICRO_CACHE=s3://bucket/prefix, ...).
Heavy modules (the renderers' NumPy/SciPy work, boto3) load on first use, not at import."""

from mangum import Mangum

from micro.api.app import create_app
from micro.api.settings import Settings

handler = Mangum(create_app(Settings.from_env()), lifespan="off")

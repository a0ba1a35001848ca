"""`/docs`: Swagger UI over /api/openapi.json, every asset served from this host.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script; the
site's CSP allows neither. Here the assets come from the `swagger-ui-bundle-v2` package
(Swagger UI 5, which reads OpenAPI 3.1) and the page starts it from a script file. Without
the package (the Lambda bundle leaves it out) `/docs` is not offered.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from micro.core.errors import NotFound

ASSETS = {"swagger-ui.css": "text/css; charset=utf-8",
          "swagger-ui-bundle.js": "text/javascript; charset=utf-8"}
ASSET_CACHE_CONTROL = "public, max-age=86400"

INIT_JS = """// Starts Swagger UI on the API's OpenAPI document (no inline script: the CSP forbids it).
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MICRO render API · reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<script src="/docs/swagger-ui-bundle.js" defer></script>
<script src="/docs/init.js" defer></script>
</head>
<body>
<main id="swagger-ui" aria-label="API reference"></main>
</body>
</html>
"""


def swagger_ui_dir() -> Path | None:
    """The packaged Swagger UI assets, or None when the package is not installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    path = Path(str(swagger_ui_bundle.swagger_ui_path))
    return path if all((path / name).is_file() for name in ASSETS) else None


def add_docs_routes(app: FastAPI) -> bool:
    """GET /docs (the page), /docs/init.js and the two Swagger UI assets; False (and no
    routes) when the assets are not installed."""
    root = swagger_ui_dir()
    if root is None:
        return False

    async def page() -> Response:
        return Response(PAGE, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    async def asset(name: str) -> Response:
        if name == "init.js":
            return Response(INIT_JS, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": ASSET_CACHE_CONTROL})
        if name not in ASSETS:
            raise NotFound("no such docs asset", field="path", allowed=["init.js", *ASSETS])
        return Response((root / name).read_bytes(), media_type=ASSETS[name],
                        headers={"Cache-Control": ASSET_CACHE_CONTROL})

    app.add_api_route("/docs", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs/{name}", asset, methods=["GET"], include_in_schema=False)
    return True

"""The API's routers: renders (`/r/…`, `/api/render/…`), the catalog, and meta (health).
Each is built per app by `router(catalog)` (the catalog's ids become the OpenAPI enums); the
handlers take what they need (service, settings, catalog) as FastAPI dependencies."""

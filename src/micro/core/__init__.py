"""The pure core of MICRO: catalog, request models, renderers. Imports no web, cloud, CLI or
template library (a test asserts it)."""

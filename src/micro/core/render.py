"""One entry point for every render: a canonical request in, bytes + info + raw out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from micro.core.catalog import Catalog, default_catalog
from micro.core.requests import (
    ImagingRequest,
    MicroscopeRequest,
    canonicalize_imaging,
    canonicalize_microscope,
)
from micro.core.result import RenderResult

if TYPE_CHECKING:
    from micro.core.microscope.illustration import IllustrationStore


def render(request: MicroscopeRequest | ImagingRequest, catalog: Catalog | None = None,
           illustrations: IllustrationStore | None = None) -> RenderResult:
    """`illustrations`: where `source=library` views find their picture (default: the library
    folder of the catalog's data directory)."""
    cat = catalog or default_catalog()
    if isinstance(request, MicroscopeRequest):
        from micro.core.microscope.pipeline import render_microscope_request

        return render_microscope_request(request, cat, illustrations)
    from micro.core.imaging.render import render_imaging_request

    return render_imaging_request(request, cat)


def render_microscope(catalog: Catalog | None = None, **params: Any) -> RenderResult:
    """Render a microscope view; keywords as in the HTTP query (instrument, objective, ...)."""
    return render(canonicalize_microscope(params, catalog), catalog)


def render_imaging(catalog: Catalog | None = None, **params: Any) -> RenderResult:
    """Render a medical image; keywords as in the HTTP query (instrument, phantom, kvp, ...)."""
    return render(canonicalize_imaging(params, catalog), catalog)

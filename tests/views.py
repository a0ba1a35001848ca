"""Shared by the slide tests: a specimen's recommended view as a canonical request."""

from __future__ import annotations

from micro.core.catalog import Catalog
from micro.core.requests import MicroscopeRequest, canonicalize_microscope


def recommended_request(catalog: Catalog, specimen: str, **params: object) -> MicroscopeRequest:
    """The specimen's recommended instrument, objective, first mode and default stain, 512²
    PNG without a scale bar; `params` override any of them."""
    spec = catalog.specimens[specimen]
    base = {"instrument": spec.recommended.instrument, "specimen": specimen,
            "objective": spec.recommended.objective, "mode": spec.recommended.modes[0],
            "stain": spec.default_stain, "size": 512, "format": "png", "scale_bar": "off"}
    base.update(params)
    return canonicalize_microscope(base, catalog)

"""Entry point of the imaging renderers: a canonical ImagingRequest in, bytes + info out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from micro.core import memory
from micro.core.allocator import keep_freed_memory
from micro.core.catalog import Catalog
from micro.core.encode import encode
from micro.core.models import ImagingInstrument, Phantom
from micro.core.requests import ImagingRequest
from micro.core.result import RenderResult

Renderer = Callable[[dict[str, Any], Phantom, str, ImagingInstrument, int, np.random.Generator],
                    tuple[np.ndarray, np.ndarray, dict[str, Any]]]


PHANTOM_CACHES = (
    "imaging.phantom.fractions", "imaging.phantom.thickness", "imaging.phantom.body_path",
    "imaging.phantom.speck_paths", "imaging.anatomy.frontal_paths", "imaging.ct.chords",
    "imaging.ct.metal_chords", "imaging.ct.reconstruct", "imaging.emission.system",
    "imaging.emission.subset_blocks", "imaging.mri.kspace", "imaging.ultrasound.properties",
    "imaging.display.masks",
)
"""Memory namespaces of what is computed for one phantom (rasters, sinograms,
reconstructions, system matrices, k-space, tissue masks). Geometry-only tables (projectors,
filters, beam grids) are not among them: every phantom reuses those."""


def clear_caches() -> None:
    """Forget everything computed for a phantom: a caller that has finished with a phantom
    gets its memory back."""
    memory.clear(*PHANTOM_CACHES)


def _renderer(modality: str) -> Renderer:
    if modality == "ct":
        from micro.core.imaging.ct import render_ct

        return render_ct
    if modality == "xray":
        from micro.core.imaging.xray import render_xray

        return render_xray
    if modality == "mri":
        from micro.core.imaging.mri import render_mri

        return render_mri
    if modality == "ultrasound":
        from micro.core.imaging.ultrasound import render_ultrasound

        return render_ultrasound
    if modality in ("pet", "spect"):
        from micro.core.imaging.emission import render_emission

        return render_emission
    raise ValueError(f"no renderer for modality {modality!r}")


def render_imaging_request(req: ImagingRequest, catalog: Catalog) -> RenderResult:
    """Render one canonical imaging request (deterministic: the noise is seeded by its path)."""
    keep_freed_memory()
    inst = catalog.instruments[req.instrument]
    assert isinstance(inst, ImagingInstrument)
    phantom = catalog.phantoms[req.phantom]
    rng = np.random.default_rng(req.seed())
    settings = dict(req.settings)
    display, raw, info = _renderer(req.modality)(settings, phantom, req.variant, inst,
                                                 req.size, rng)
    out: dict[str, Any] = {
        "path": req.path(), "modality": req.modality, "instrument": inst.id,
        "instrument_name": inst.name, "phantom": phantom.id, "phantom_name": phantom.name,
        "variant": req.variant, "size_px": req.size, "fov_mm": phantom.fov_mm,
        **info, "provenance": "procedural",
    }
    raw32 = np.ascontiguousarray(raw, dtype=np.float32)
    image = encode(np.ascontiguousarray(display, dtype=np.float32), req.format, raw32)
    return RenderResult(image=image, content_type=req.content_type, info=out, raw=raw32)

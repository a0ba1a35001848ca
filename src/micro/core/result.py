"""What every renderer returns, and the info document every render has beside its image."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

INFO_CONTENT_TYPE = "application/json"
FORMAT_SPECIFIC_INFO = ("path",)
"""Info keys that name one file of a stem, not the render (left out of the info document)."""


@dataclass(frozen=True)
class RenderResult:
    image: bytes
    """Encoded image (or .npy bytes when the format is npy)."""
    content_type: str
    info: dict[str, Any]
    """The physical numbers a student should see, and the provenance."""
    raw: np.ndarray
    """float32 quantitative image before display mapping (units in info['raw_unit'])."""

    def info_document(self) -> bytes:
        return info_document(self.info)


def json_safe(value: Any) -> Any:
    """Plain JSON values: NumPy scalars unwrapped, tuples as lists, NaN and ±inf as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalar
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def info_document(info: dict[str, Any]) -> bytes:
    """The `<stem>.json` of a render: its info without the keys that name one format's file,
    as compact, key-sorted JSON (the same bytes whichever format was rendered)."""
    doc = {k: v for k, v in info.items() if k not in FORMAT_SPECIFIC_INFO}
    return json.dumps(json_safe(doc), ensure_ascii=False, allow_nan=False, sort_keys=True,
                      separators=(",", ":")).encode()

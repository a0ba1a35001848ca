"""What every renderer returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RenderResult:
    image: bytes
    """Encoded image (or .npy bytes when the format is npy)."""
    content_type: str
    info: dict[str, Any]
    """The physical numbers a student should see, and the provenance."""
    raw: np.ndarray
    """float32 quantitative image before display mapping (units in info['raw_unit'])."""

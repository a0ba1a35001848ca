"""Deterministic structure placement on an infinite slide.

Structures live on a jittered lattice: every lattice cell (i, j) of a population holds at most
one candidate, whose position and attributes are hashes of (slide seed, population, i, j,
slot). Any window of the slide can therefore be generated on its own, in any order, at any
magnification, and always shows the same structures (parcentric, reproducible, cheap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_G = np.uint64(0x9E3779B97F4A7C15)
_KI = np.uint64(0xD1B54A32D192ED03)
_KJ = np.uint64(0xABC98388FB8FAC03)
_KS = np.uint64(0x8CB92BA72F3D8DD7)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def population_seed(slide_seed: int, label: str) -> int:
    digest = hashlib.sha256(f"{slide_seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def uniforms(seed: int, i: np.ndarray, j: np.ndarray, slots: int) -> np.ndarray:
    """(n, slots) float64 uniforms in [0, 1), a pure function of (seed, i, j, slot)."""
    with np.errstate(over="ignore"):
        base = (np.uint64(seed) ^ (i.astype(np.int64).view(np.uint64) * _KI)
                ^ (j.astype(np.int64).view(np.uint64) * _KJ))
        base = mix64(base + _G)
        s = (np.arange(slots, dtype=np.uint64) + np.uint64(1)) * _KS
        h = mix64(base[:, None] ^ s[None, :])
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


@dataclass(frozen=True)
class Window:
    """The part of the slide an image covers: centre (µm), pixel size (µm), pixels."""

    cx_um: float
    cy_um: float
    px_um: float
    width: int
    height: int

    @property
    def width_um(self) -> float:
        return self.width * self.px_um

    @property
    def height_um(self) -> float:
        return self.height * self.px_um

    @property
    def x0_um(self) -> float:
        return self.cx_um - self.width_um / 2

    @property
    def y0_um(self) -> float:
        return self.cy_um - self.height_um / 2

    def to_px(self, x_um: np.ndarray, y_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slide µm → continuous pixel coordinates (pixel i spans [i, i+1))."""
        return (x_um - self.x0_um) / self.px_um, (y_um - self.y0_um) / self.px_um

    def grids(self) -> tuple[np.ndarray, np.ndarray]:
        """Slide coordinates (µm) of pixel centres: X (1, W) and Y (H, 1), float64."""
        xs = self.x0_um + (np.arange(self.width) + 0.5) * self.px_um
        ys = self.y0_um + (np.arange(self.height) + 0.5) * self.px_um
        return xs[None, :], ys[:, None]


MAX_CELLS = 300_000
"""Above this many lattice cells in a window (structures far smaller than its pixels), only
every k-th cell in each direction is generated and each stands for k² (see `weight`)."""


def lattice_points(window: Window, seed: int, spacing_um: float, margin_um: float,
                   slots: int, jitter: float = 1.0, max_cells: int = MAX_CELLS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Candidates of every lattice cell that can touch the window.

    Returns x_um, y_um (n,), attribute uniforms (n, slots) — slots 0–1 are the position
    jitter, so callers read attributes from slot 2 on — and the weight each candidate
    carries: 1, or k² when a very dense population seen at very low magnification is
    subsampled to every k-th cell (its structures are then far below a pixel, and what the
    image shows is their area-averaged density, which the weight preserves).
    """
    x0 = window.x0_um - margin_um
    y0 = window.y0_um - margin_um
    x1 = window.x0_um + window.width_um + margin_um
    y1 = window.y0_um + window.height_um + margin_um
    i0, i1 = int(np.floor(x0 / spacing_um)), int(np.floor(x1 / spacing_um))
    j0, j1 = int(np.floor(y0 / spacing_um)), int(np.floor(y1 / spacing_um))
    n = (i1 - i0 + 1) * (j1 - j0 + 1)
    k = max(1, int(np.ceil(np.sqrt(n / max_cells))))
    # every k-th cell on the global lattice (the same subset whatever the window)
    gi, gj = np.meshgrid(np.arange(-(-i0 // k) * k, i1 + 1, k),
                         np.arange(-(-j0 // k) * k, j1 + 1, k), indexing="xy")
    ii = gi.ravel()
    jj = gj.ravel()
    u = uniforms(seed, ii, jj, slots)
    off = 0.5 + (u[:, :2] - 0.5) * jitter
    x = (ii + off[:, 0]) * spacing_um
    y = (jj + off[:, 1]) * spacing_um
    keep = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    return x[keep], y[keep], u[keep], float(k * k)

"""The work budget of a microscope render, checked before anything is drawn.

A render's memory and time grow with three things: the simulated pixels, the depth layers
each pixel is kept for (one amount map per layer and structure class), and the structure
stamps the scene draws (each population draws at most `lattice.MAX_CELLS` candidates, each
costing as many stamps as its generator says). `estimate(setup)` counts them from the
request and the catalog alone; `check(setup)` raises `TooMuchWork` naming the parameter
to change when either part is over its bound, so a request that would take gigabytes gets a
clean 422 instead of an out-of-memory kill. `Canvas.draw` keeps a running count as a second
line of defence, should an estimate ever fall short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from micro.core.errors import TooMuchWork
from micro.core.microscope.lattice import MAX_CELLS, Window
from micro.core.microscope.registry import COSTS, Ctx, make_ctx
from micro.core.microscope.scene import layer_planes
from micro.core.microscope.setup import Setup
from micro.core.models import Specimen

MAX_MAP_BYTES = 640 * 1024 * 1024
"""Amount maps (float32 per simulated pixel × layer × structure class): the scene's bulk."""
MAX_STAMPS = 600_000
"""Structure stamps per scene. Textured cells cost up to ~2 kB of temporaries per stamp
while they are drawn, so this bounds a scene's transient memory to about a gigabyte. Every
specimen's recommended views estimate at most ~490,000 (cultured cells at 4×); what is
refused is bacteria, blood or cultures in a 0.25–0.7× macro field, where a higher
magnification shows them."""


@dataclass(frozen=True)
class Work:
    pixels: int
    """Simulated pixels (image plus the FFT margins)."""
    layers: int
    classes: int
    """Distinct structure classes the specimen's populations draw."""
    stamps: float
    """Structure stamps the populations will draw in this window."""

    @property
    def map_bytes(self) -> int:
        return self.pixels * self.layers * max(self.classes, 1) * 4


def _candidates(window: Window, ctx: Ctx) -> float:
    """Lattice candidates a population's `ctx.points(ctx.spacing(), …)` would return here."""
    spacing = ctx.spacing()
    n = (window.width_um / spacing + 2) * (window.height_um / spacing + 2)
    return float(min(n, 2 * MAX_CELLS))


def estimate(specimen: Specimen, window: Window) -> Work:
    stamps = 0.0
    classes: set[str] = set()
    for pop in specimen.populations:
        ctx = make_ctx(specimen, pop, window)
        cost = COSTS.get(pop.generator)
        stamps += _candidates(window, ctx) * (cost(ctx) if cost else 1.0)
        classes.update(pop.classes.values())
    return Work(window.width * window.height, len(layer_planes(specimen)), len(classes),
                stamps)


def check(setup: Setup) -> Work:
    """The work of this render; TooMuchWork naming `size` or `objective` when over."""
    work = estimate(setup.specimen, setup.window)
    if work.map_bytes > MAX_MAP_BYTES:
        per_px = work.layers * max(work.classes, 1) * 4
        side = int(math.sqrt(MAX_MAP_BYTES / per_px) * setup.width
                   / max(setup.window.width, 1))
        raise TooMuchWork(
            f"{setup.specimen.id} at {setup.req.size} px needs "
            f"{work.map_bytes / 2**20:.0f} MiB of scene maps ({work.layers} layers × "
            f"{work.classes} classes), over the {MAX_MAP_BYTES // 2**20} MiB budget",
            field="size", allowed=f"at most about {max(side, 64)} px for this specimen")
    if work.stamps > MAX_STAMPS:
        raise TooMuchWork(
            f"{setup.specimen.id} on {setup.inst.id} at {setup.req.objective:g}× would draw "
            f"{work.stamps:,.0f} structures, over the budget of {MAX_STAMPS:,}",
            field="objective",
            allowed="a higher magnification (a smaller field) or the specimen's recommended "
                    f"instrument ({setup.specimen.recommended.instrument})")
    return work

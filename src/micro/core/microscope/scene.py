"""Stage 1 — the scene: a specimen's structures at physical scale for one window.

Returns, per depth layer, the amount map of every structure class (relative path length,
float32 (H, W)), the retardance vector field of birefringent classes (nm, as Δ·cos 2θ and
Δ·sin 2θ), and per-population masks (`labels`) that tests use to measure sizes and colours.
Structures come from the slide seed only, never from the request, so the same stage position
shows the same cells at every objective, focus and mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from micro.core import memory
from micro.core.microscope import generators as _generators  # noqa: F401  (registers them)
from micro.core.microscope.lattice import Window
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import GENERATORS, make_ctx
from micro.core.models import Specimen, StructureClass

__all__ = ["GENERATORS", "Layer", "Scene", "Window", "build_scene", "layer_planes"]


@dataclass(frozen=True)
class Layer:
    z_um: float
    amounts: dict[str, np.ndarray]
    """Class → amount map (views into `stack`)."""
    retard: tuple[np.ndarray, np.ndarray] | None
    shape: tuple[int, int]
    stack: np.ndarray | None = None
    """(C, H·W) float32: the amount maps in `amounts` order, contiguous for one matmul."""


@dataclass(frozen=True)
class Scene:
    window: Window
    layers: list[Layer]
    labels: dict[str, np.ndarray]
    medium_n: float
    derived: memory.GrowingDict = field(default_factory=memory.GrowingDict, compare=False)
    """Focus-independent spectra of this scene (per stain and optics), reused by every focus
    step: the stages fill it, the cache counts it."""

    @property
    def nbytes(self) -> int:
        """Bytes held: amount stacks, retardance, labels and derived spectra."""
        return memory.nbytes(self)


def layer_planes(specimen: Specimen) -> list[float]:
    """Depth planes (µm) the specimen is sampled at: one for a thin smear, up to nine for a
    thick section or a drop of pond water."""
    lo = min(p.z_um[0] for p in specimen.populations)
    hi = max(p.z_um[1] for p in specimen.populations)
    span = hi - lo
    if span < 0.5:
        return [round((lo + hi) / 2, 3)]
    n = int(min(9, max(2, np.ceil(span / 2.0) + 1)))
    return [round(float(z), 3) for z in np.linspace(lo, hi, n)]


SCENES = "microscope.scene"
"""The memory namespace scenes are kept in (with the spectra derived from them)."""


def set_cache_budget(nbytes: int | None) -> None:
    """At most this many bytes of scenes (and their derived spectra) are kept for reuse in
    this process, within the memory budget of all caches (None: only that budget)."""
    memory.set_budget(nbytes, namespace=SCENES)


def _key(specimen: Specimen) -> str:
    return hashlib.sha256(specimen.model_dump_json().encode()).hexdigest()[:16]


def build_scene(specimen: Specimen, window: Window,
                structures: Mapping[str, StructureClass], catalog_digest: str = "") -> Scene:
    """The scene for this window (cached: focus, light and mode changes reuse it)."""
    key = (catalog_digest, _key(specimen), window)
    found, hit = memory.lookup(SCENES, key)
    if found:
        return hit
    scene = _build(specimen, window, structures)
    # the render stages add derived spectra after the scene is stored: they are counted too
    return memory.store(SCENES, key, scene, grows=scene.derived)


def _classes_per_layer(specimen: Specimen, canvas: Canvas) -> list[int]:
    """For each layer, how many classes its populations can draw into it (those whose depth
    range reaches the layer): the rows its block of class maps reserves."""
    per: list[set[str]] = [set() for _ in canvas.layer_z_um]
    for pop in specimen.populations:
        lo, hi = (int(k) for k in canvas.layer_of(np.asarray(pop.z_um, dtype=np.float64)))
        for i in range(min(lo, hi), max(lo, hi) + 1):
            per[i].update(pop.classes.values())
    return [len(p) for p in per]


def _build(specimen: Specimen, window: Window,
           structures: Mapping[str, StructureClass]) -> Scene:
    planes = layer_planes(specimen)
    canvas = Canvas(window, planes, structures)
    # a thick specimen's organelles can lie a little outside their population's depth
    # range (a layer beyond it): one spare row per layer keeps its maps in the block (the
    # block comes zeroed, so a row never drawn into costs no memory traffic)
    spare = 1 if len(planes) > 1 else 0
    for i, n in enumerate(_classes_per_layer(specimen, canvas)):
        canvas.reserve(i, n + spare)
    for pop in specimen.populations:
        canvas.weight = 1.0
        GENERATORS[pop.generator](canvas, make_ctx(specimen, pop, window, canvas))
    shape = (window.height, window.width)
    layers: list[Layer] = []
    for i, z in enumerate(planes):
        names = [cls for (li, cls) in canvas.amounts if li == i]
        stack: np.ndarray | None = None
        amounts: dict[str, np.ndarray] = {}
        if names:
            # the maps were drawn into the layer's reserved block: it is the stack. Else
            # move each accumulator into a new contiguous stack and let it go, so a thick
            # specimen (nine layers of many classes) never holds two copies
            stack = canvas.layer_block(i)
            if stack is None:
                stack = np.empty((len(names), window.height * window.width),
                                 dtype=np.float32)
                for k, c in enumerate(names):
                    stack[k] = canvas.amounts.pop((i, c))
            amounts = {c: stack[k].reshape(shape) for k, c in enumerate(names)}
        retard = canvas.retard.get(i)
        if retard is not None:
            retard = (retard[0].reshape(shape), retard[1].reshape(shape))
        if amounts or (i == len(planes) - 1 and not layers):
            layers.append(Layer(z, amounts, retard, shape, stack))  # an empty field still has one layer
    labels = {k: v.reshape(shape) for k, v in canvas.labels.items()}
    return Scene(window, layers, labels, specimen.medium_refractive_index)

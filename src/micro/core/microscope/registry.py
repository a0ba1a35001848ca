"""Registry of scene generators: specimen data name a generator per population."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from micro.core import genparams
from micro.core.microscope.lattice import Window, lattice_points, population_seed
from micro.core.microscope.raster import Canvas
from micro.core.models import Population, Specimen

P = TypeVar("P", bound=genparams.GeneratorParams)
"""`Ctx.p` without a call-site default: the parameter model's default applies."""


@dataclass(frozen=True)
class Ctx:
    """What a generator gets: the population, its specimen and the window to fill."""

    specimen: Specimen
    pop: Population
    window: Window
    seed: int
    canvas: Canvas | None = None

    def p(self, name: str) -> Any:
        """One parameter, validated by the generator's model (`micro.core.genparams`): the
        population's value if it sets one, else the model's default, which is written
        there only. A name the model does not list is refused, so the model lists every
        key its generator reads."""
        model = genparams.PARAMS.get(self.pop.generator)
        if model is None:
            raise KeyError(f"generator {self.pop.generator!r} reads {name!r} but has "
                           f"no parameter model in micro.core.genparams")
        field = model.model_fields.get(name)
        if field is None:
            raise KeyError(f"generator {self.pop.generator!r} reads {name!r}, which its "
                           f"parameter model {model.__name__} does not list")
        if name in self.pop.params:
            return getattr(self.params(model), name)
        return field.get_default(call_default_factory=True)

    def params(self, model: type[P]) -> P:
        """The population's parameters as the generator's model (defaults filled in)."""
        return model.model_validate(dict(self.pop.params))

    def cls(self, part: str, default: str | None = None) -> str | None:
        return self.pop.classes.get(part, default)

    def points(self, spacing_um: float, margin_um: float, slots: int,
               jitter: float = 1.0) -> tuple[Any, Any, Any]:
        x, y, u, weight = lattice_points(self.window, self.seed, spacing_um, margin_um, slots,
                                         jitter)
        if self.canvas is not None:
            self.canvas.weight = weight  # a subsampled population draws each as k² of them
        return x, y, u

    def z(self, u: Any) -> Any:
        lo, hi = self.pop.z_um
        return lo + (hi - lo) * u

    def size(self, u: Any) -> Any:
        lo, hi = self.pop.size_um
        return lo + (hi - lo) * u

    def spacing(self) -> float:
        """Lattice spacing (µm) giving the population's density per mm²."""
        return float(1000.0 / max(self.pop.density_per_mm2, 1e-9) ** 0.5)


Generator = Callable[[Canvas, Ctx], None]
GENERATORS: dict[str, Generator] = {}
Cost = Callable[[Ctx], float]
COSTS: dict[str, Cost] = {}
"""Stamps a generator draws per lattice candidate, when not 1 (the work budget reads it)."""


def generator(name: str, cost: Cost | None = None) -> Callable[[Generator], Generator]:
    """Register a scene generator under `name`, which `micro.core.genparams.GENERATORS` must
    list (the catalog checks specimens against that list without importing renderers)."""
    if name not in genparams.GENERATORS:
        raise ValueError(f"scene generator {name!r} is not listed in "
                         f"micro.core.genparams.GENERATORS")

    def register(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        if cost is not None:
            COSTS[name] = cost
        return fn

    return register


def make_ctx(specimen: Specimen, pop: Population, window: Window,
             canvas: Canvas | None = None) -> Ctx:
    return Ctx(specimen, pop, window, population_seed(specimen.seed, pop.label), canvas)

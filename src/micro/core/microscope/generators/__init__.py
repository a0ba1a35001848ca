"""Scene generators, one module per family; importing this package registers them all."""

from micro.core.microscope.generators import (
    bacteria,
    blood,
    bone,
    calibration,
    cells,
    culture,
    fibers,
    minerals,
    muscle,
    organs,
    plants,
    protists,
    rings,
    stems,
    surfaces,
    tissue,
    ultrastructure,
)

__all__ = ["bacteria", "blood", "bone", "calibration", "cells", "culture", "fibers", "minerals", "muscle",
           "organs", "plants", "protists", "rings", "stems", "surfaces", "tissue", "ultrastructure"]

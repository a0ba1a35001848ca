"""Scene generators, one module per family; importing this package registers them all."""

from micro.core.microscope.generators import (
    bacteria,
    blood,
    calibration,
    cells,
    culture,
    fibers,
    minerals,
    organs,
    plants,
    protists,
    relief,
    rings,
    surfaces,
    tissue,
    ultrastructure,
)

__all__ = ["bacteria", "blood", "calibration", "cells", "culture", "fibers", "minerals",
           "organs", "plants", "protists", "relief", "rings", "surfaces", "tissue", "ultrastructure"]

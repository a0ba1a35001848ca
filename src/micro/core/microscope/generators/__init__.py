"""Scene generators, one module per family; importing this package registers them all."""

from micro.core.microscope.generators import (
    adipose,
    bacteria,
    blood,
    calibration,
    cells,
    culture,
    fibers,
    intestine,
    kidney,
    liver,
    lung,
    minerals,
    organs,
    plants,
    protists,
    rings,
    skin,
    spinalcord,
    surfaces,
    tissue,
    ultrastructure,
)

__all__ = ["adipose", "bacteria", "blood", "calibration", "cells", "culture", "fibers",
           "intestine", "kidney", "liver", "lung", "minerals", "organs", "plants", "protists",
           "rings", "skin", "spinalcord", "surfaces", "tissue", "ultrastructure"]

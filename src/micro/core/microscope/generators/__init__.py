"""Scene generators, one module per family; importing this package registers them all."""

from micro.core.microscope.generators import bacteria, calibration, cells, tissue

__all__ = ["bacteria", "calibration", "cells", "tissue"]

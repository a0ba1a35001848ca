"""MICRO: a physics-based virtual microscope and medical-imaging simulator for teaching."""

import os

# One BLAS thread per process unless the environment says otherwise (before NumPy loads its
# BLAS): a render's matrix products are small, so extra BLAS threads only spin — on a loaded
# 2-core machine they cost a pollen SEM pan 2.5x its CPU — and requests already run in
# parallel across the server's workers and the build's processes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from micro.core.render import render, render_imaging, render_microscope  # noqa: E402
from micro.core.result import RenderResult  # noqa: E402

__all__ = ["RenderResult", "render", "render_imaging", "render_microscope"]

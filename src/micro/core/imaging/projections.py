"""Write the frontal projections of the catalog's 3-D phantoms (data/phantoms/projections).

    python -m micro.core.imaging.projections [DATA_DIR]

Projection radiography integrates a 3-D phantom through its whole volume, which takes seconds;
the result depends only on the anatomy generator's source, its seed and tissue list, so it is
computed once here and shipped with the catalog. `anatomy.frontal_paths` uses a stored file
only if all three match (otherwise it computes the projection itself), and
tests/test_imaging_projections.py checks that every stored file is current and equal to the
generator's output. Run this after any change to anatomy.py.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_all(data_dir: Path | None = None) -> list[Path]:
    from micro.core.catalog import Catalog, default_catalog, default_data_dir
    from micro.core.imaging.anatomy import anatomy, write_frontal_paths

    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    cat = default_catalog() if data_dir == default_data_dir() else Catalog.load(data_dir)
    out = []
    for ph in cat.phantoms.values():
        if ph.anatomy is None:
            continue
        an = anatomy(ph.anatomy, tuple(t.id for t in ph.tissues), ph.seed)
        out.append(write_frontal_paths(an, data_dir))
    for old in (data_dir / "phantoms" / "projections").glob("*.npz"):
        if old not in out:  # a phantom removed or reseeded
            old.unlink()
    return out


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(p, p.stat().st_size, "bytes")

"""Scene generators, one module per family; importing this package registers them all
(every module in this folder is imported, so a new family needs no list to be edited)."""

import importlib
import pkgutil

__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))

for _name in __all__:
    importlib.import_module(f"{__name__}.{_name}")

"""Where the package's data folders are: the catalog (`data/`) and the site sources
(`site_src/`: templates, static files, courses).

An installed wheel (and the Lambda zip) ships them inside the package as `micro/data/` and
`micro/site_src/` (setup.py maps the repo's top-level folders there at build time); a repo
checkout (`PYTHONPATH=src` or an editable install) reads the top-level folders themselves."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FOLDERS = ("data", "site_src")


def package_folder(name: str) -> Path:
    """The folder `name` (one of `FOLDERS`) shipped in the package, else the repo's."""
    if name not in FOLDERS:
        raise ValueError(f"package folder {name!r}: allowed {', '.join(FOLDERS)}")
    package = resources.files("micro")
    if not isinstance(package, Path):
        raise RuntimeError(f"micro is imported from {package!r}, not from a folder: "
                           f"its {name}/ cannot be read as files")
    shipped = package / name
    if shipped.is_dir():
        return shipped
    return package.resolve().parents[1] / name


__all__ = ["FOLDERS", "package_folder"]

"""Ship the top-level `data/` (the catalog) and `site_src/` (templates, static files, courses)
inside the wheel as `micro/data/` and `micro/site_src/`; the rest of the configuration is in
pyproject.toml. An editable install ships nothing: it reads the repo folders themselves
(`micro.core.resources`)."""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE_DATA_DIRS = {"data": "data", "site_src": "site_src"}
"""Repo folder -> folder inside the installed `micro` package."""
SKIP_DIRS = {"__pycache__", "node_modules"}


def _files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc")]
    return found


class build_py_with_data(build_py):
    """`build_py`, then copy the catalog and the site sources into the built package."""

    def _mapped(self) -> list[tuple[Path, Path]]:
        pairs = []
        for repo_dir, package_dir in PACKAGE_DATA_DIRS.items():
            folder = ROOT / repo_dir
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} not found: the wheel ships it as "
                                        f"micro/{package_dir}")
            target = Path(self.build_lib) / "micro" / package_dir
            pairs += [(f, target / f.relative_to(folder)) for f in _files(folder)]
        return pairs

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, target in self._mapped():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(target) for _, target in self._mapped()]
        return outputs


setup(cmdclass={"build_py": build_py_with_data})

"""The package stands on its own: a wheel built from the repo carries the catalog and the site
sources, and installed in a fresh venv (no repo, no PYTHONPATH) it renders a microscope view
and an imaging view and builds the quick site, from a directory outside the repo. The core
imports and renders with only its dependencies (NumPy, SciPy, Pillow, pydantic, click); the
commands on an edge name the extra they need."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src", "data", "site_src", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md",
           "LICENSE")
"""What a wheel is built from (the repo less tests, benchmarks, infra, build output)."""

EDGE_MODULES = ("fastapi", "starlette", "uvicorn", "mangum", "boto3", "botocore", "openai",
                "jinja2", "markupsafe", "markdown_it", "dask", "distributed", "httpx",
                "swagger_ui_bundle")
"""Modules of the extras (and what they pull in): none may be needed by the core."""

BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None
sys.meta_path.insert(0, Block())
"""

RENDER = """
import io, json, sys
import numpy as np
from PIL import Image
import micro
m = micro.render_microscope(instrument="student-compound", specimen="onion-epidermis",
                            size=256, format="png")
i = micro.render_imaging(instrument="ct-64-slice", phantom="shepp-logan", size=256,
                         format="png")
out = {"file": micro.__file__, "edges": sorted(set(sys.argv[1].split(",")) & set(sys.modules))}
for name, r in (("microscope", m), ("imaging", i)):
    px = np.asarray(Image.open(io.BytesIO(r.image)).convert("L"), dtype=float)
    out[name] = {"size": list(px.shape), "std": float(px.std()),
                 "raw_finite": bool(np.isfinite(r.raw).all())}
print(json.dumps(out))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MICRO_DATA_DIR", "MICRO_SITE_SRC", "VIRTUAL_ENV")}
    return {**env, **extra}


def _check_renders(report: dict) -> None:
    for name in ("microscope", "imaging"):
        r = report[name]
        assert r["size"][0] > 100 and r["size"][1] > 100, (name, r["size"])
        assert r["std"] > 5, f"{name}: a flat image (std {r['std']:.2f} grey levels)"
        assert r["raw_finite"], name


# --------------------------------------------------------------------------- core only

def test_core_imports_and_renders_without_the_extras(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + RENDER, ",".join(EDGE_MODULES)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MICRO_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["edges"] == []
    _check_renders(report)


@pytest.mark.parametrize(("argv", "extra", "module"), [
    (["build", "--profile", "quick"], "site", "jinja2"),
    (["serve"], "serve", "fastapi"),
    (["images", "generate", "--specimen", "onion-epidermis"], "ai", "openai"),
])
def test_a_command_on_an_edge_names_its_extra(tmp_path: Path, argv: list[str], extra: str,
                                              module: str) -> None:
    code = BLOCKER + "from micro.cli import main\nmain(sys.argv[2:], prog_name='micro')"
    result = subprocess.run([sys.executable, "-c", code, ",".join(EDGE_MODULES), *argv],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert f"'{extra}' extra" in message and f"micro[{extra}]" in message, message
    assert module in message, message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists()


def test_an_s3_cache_without_boto3_names_the_aws_extra(tmp_path: Path) -> None:
    code = BLOCKER + ("from micro.cache import open_cache\n"
                      "try:\n    open_cache('s3://bucket/renders')\n"
                      "except ValueError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code, ",".join(EDGE_MODULES)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'aws' extra" in result.stdout and "micro[aws]" in result.stdout, result.stdout


def test_the_core_commands_run_without_the_extras(tmp_path: Path) -> None:
    code = BLOCKER + "from micro.cli import main\nmain(sys.argv[2:], prog_name='micro')"
    out = tmp_path / "ct.png"
    result = subprocess.run(
        [sys.executable, "-c", code, ",".join(EDGE_MODULES), "render", "imaging",
         "--instrument", "ct-64-slice", "--phantom", "shepp-logan", "--size", "256", "-o",
         str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_python_m_micro_is_the_micro_command() -> None:
    result = subprocess.run([sys.executable, "-m", "micro", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: micro ")
    for command in ("build", "render", "serve", "catalog"):
        assert f"  {command} " in result.stdout


# --------------------------------------------------------------------------- the wheel

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel .` of a copy of the repo's sources (so no build output lands in the repo)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "repo"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=skip)
        else:
            shutil.copy2(path, src / name)
    out = tmp / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (whl,) = out.glob("micro-*.whl")
    return whl


@pytest.mark.slow
def test_the_wheel_ships_the_catalog_and_the_site_sources(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for folder in ("data", "site_src"):
        repo = {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
        shipped = {n.removeprefix(f"micro/{folder}/") for n in names
                   if n.startswith(f"micro/{folder}/")}
        assert shipped == repo, (folder, sorted(repo ^ shipped)[:10])
    assert "micro/data/structures.json" in names
    assert any(n.startswith("micro/site_src/templates/") for n in names)
    assert any(n.startswith("micro/site_src/courses/") and n.endswith(".md") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("micro/bench", "tests/", "benchmarks/"))]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; the dependencies are the test environment's,
    seen through a .pth line after the venv's own site-packages (so the wheel's `micro`
    wins over any `micro` of the test environment)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    python = root / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.slow
def test_the_installed_wheel_renders_and_builds_the_quick_site(venv: Path,
                                                               tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    env = _clean_env(MICRO_CACHE=str(tmp_path / "cache"))
    work = tmp_path / "elsewhere"
    work.mkdir()

    result = subprocess.run([str(python), "-c", RENDER, ""], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(venv), report["file"]
    _check_renders(report)

    where = subprocess.run(
        [str(python), "-c", "from micro.core.catalog import default_data_dir\n"
         "from micro.site.build import default_site_src\n"
         "print(default_data_dir()); print(default_site_src())"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert Path(line).is_relative_to(venv) and Path(line).is_dir(), line

    result = subprocess.run([str(venv / "bin" / "micro"), "build", "--profile", "quick",
                             "--jobs", "2", "--out", "site"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    site = work / "site"
    paths = json.loads((site / "manifest.json").read_text())["paths"]
    assert len(paths) > 20
    for path in paths:  # every pre-rendered image is there and decodes
        assert (site / path.lstrip("/")).read_bytes()[:4] in (b"\xff\xd8\xff\xe0",
                                                             b"\xff\xd8\xff\xdb",
                                                             b"\x89PNG", b"RIFF"), path
    courses = [p.stem for p in (ROOT / "site_src" / "courses").glob("*.md")]
    assert courses and all((site / "courses" / f"{c}.html").is_file() for c in courses)
    for page in ("index.html", "lab.html", "imaging.html"):
        assert (site / page).is_file(), page
    statics = [p.relative_to(ROOT / "site_src" / "static") for p in
               (ROOT / "site_src" / "static").rglob("*.js")]
    assert statics and any((site / "static" / s).is_file() for s in statics)

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run([str(python), "-m", "micro", "--version"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"micro, version {version}"

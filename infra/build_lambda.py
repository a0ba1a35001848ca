"""Build the render function's package, `build/lambda.zip` (`make lambda`).

The zip's root holds `handler.py` (from `lambda/`), the `micro` package with the catalog as
`micro/data/` (less its JSON schemas; the same place a wheel ships it) and the runtime
dependencies, installed from manylinux wheels for the Lambda
runtime below. Dependencies are pinned to the versions of the environment that runs this
script (the one whose tests passed and which pre-rendered the site), so Lambda's renders are
byte-identical to the build machine's. The Lambda runtime provides boto3 and botocore.

Then it prunes what Lambda never imports (tests, type stubs, C headers and sources, wheel
RECORDs, scripts), strips shared objects, compiles `.pyc` for the target interpreter when one
is available (unchecked-hash: Lambda's file system is read-only, so modules not compiled
here would be compiled again at every cold start), imports the handler with that
interpreter as a check, and writes a reproducible zip. It fails above Lambda's 250 MB
unzipped limit.

    python infra/build_lambda.py                 # build/lambda.zip for python3.12 x86_64
    python infra/build_lambda.py --local -o X    # the same, for this interpreter (tests)
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNTIME = "python3.12"
PYTHON_VERSION = "3.12"
ARCHITECTURE = "x86_64"
"""The template's `Architectures` entry; `tests/test_infra.py` checks they agree."""
GLIBC = (2, 28)
"""Newest glibc whose manylinux wheels are accepted: python3.12 runs on Amazon Linux 2023
(glibc 2.34), and NumPy ships only manylinux_2_27/2_28 wheels for it."""
TASK_ROOT = "/var/task"
"""Where Lambda unpacks the zip."""
LIMIT_BYTES = 262_144_000
"""Lambda's limit on the unzipped function (250 MiB)."""

LAMBDA_DEPENDENCIES = ("numpy", "scipy", "pillow", "pydantic", "pydantic-settings", "fastapi",
                       "mangum")
"""What `lambda/handler.py` imports, directly or through `micro`; ranges from pyproject.toml
(the core dependencies and the `serve` and `aws` extras).
Not packaged: click, jinja2, uvicorn, openai, markdown-it-py, swagger-ui-bundle-v2 (CLI, site
builder, AI client, the /docs page of `micro serve`)."""
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath")

PRUNE_DIRS = {"tests", "__pycache__"}
PRUNE_SUFFIXES = (".pyi", ".pxd", ".pyx", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp", ".f",
                  ".f90", ".a", ".lib")
DIST_INFO_PRUNE = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
ELF_MACHINE = {"x86_64": 0x3E, "amd64": 0x3E, "aarch64": 0xB7, "arm64": 0xB7}

MB = 1024 * 1024


class BuildError(Exception):
    """A build step failed; the message says which and why."""


def manylinux_platforms(glibc: tuple[int, int], architecture: str) -> tuple[str, ...]:
    """Every manylinux tag a glibc-`glibc` system accepts, newest first: pip takes
    `--platform` literally, so manylinux_2_28 alone would refuse manylinux2014 wheels."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{architecture}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{name}_{architecture}" for m, name in legacy.items() if m <= minor]
    return tuple(tags)


@dataclass(frozen=True)
class Target:
    python_version: str
    platforms: tuple[str, ...] | None
    """None: this interpreter's own tags (the smoke test)."""
    architecture: str

    @property
    def pyc_tag(self) -> str:
        return "cpython-" + self.python_version.replace(".", "")


LAMBDA = Target(PYTHON_VERSION, manylinux_platforms(GLIBC, ARCHITECTURE), ARCHITECTURE)


def local_target() -> Target:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(version, None, platform.machine())


def log(message: str) -> None:
    print(f"lambda: {message}", flush=True)


# --------------------------------------------------------------------------- requirements

def _name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise BuildError(f"pyproject.toml: cannot read the name of {requirement!r}")
    return canonical(match.group(1))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirements() -> list[str]:
    """The Lambda dependencies with their version ranges from pyproject.toml (the core's and
    its extras'; an extra naming the project itself, `micro[...]`, adds no range)."""
    meta = project()
    extras = [r for name, reqs in meta.get("optional-dependencies", {}).items()
              if name != "dev" for r in reqs]
    declared = {_name(r): r.strip() for r in [*meta["dependencies"], *extras]
                if _name(r) != canonical(meta["name"])}
    missing = [n for n in LAMBDA_DEPENDENCIES if canonical(n) not in declared]
    if missing:
        raise BuildError(f"pyproject.toml: dependencies lack {', '.join(missing)} "
                         f"(allowed: the project's runtime dependencies and extras)")
    return [declared[canonical(n)] for n in LAMBDA_DEPENDENCIES]


def pins() -> list[str]:
    """`name==version` of every distribution in this environment but the project itself."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) != "micro":
            seen.setdefault(canonical(name), f"{canonical(name)}=={dist.version}")
    return sorted(seen.values())


# --------------------------------------------------------------------------- steps

def install_dependencies(site: Path, target: Target, work: Path, pin: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(site), "--only-binary=:all:", "--no-compile"]
    if target.platforms is not None:
        abi = "cp" + target.python_version.replace(".", "")
        for tag in target.platforms:
            cmd += ["--platform", tag]
        cmd += ["--python-version", target.python_version, "--implementation", "cp",
                "--abi", abi]
    if pin:
        constraints = work / "constraints.txt"
        constraints.write_text("\n".join(pins()) + "\n", encoding="utf-8")
        cmd += ["--constraint", str(constraints)]
    cmd += requirements()
    log("pip install " + " ".join(requirements())
        + (f" for {target.platforms[0]} (and older) cp{target.python_version}"
           if target.platforms else
           f" for this interpreter (cp{target.python_version})")
        + (" pinned to this environment's versions" if pin else ""))
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError("pip install failed:\n" + result.stdout.strip())


def add_project(site: Path) -> None:
    """handler.py, the micro package (with its dist-info, so `metadata.version("micro")`
    and hence the render version match the build machine's) and data/ less data/schema, as
    micro/data/ (where `micro.core.resources` finds it, as in an installed wheel)."""
    handler = ROOT / "lambda" / "handler.py"
    if not handler.is_file():
        raise BuildError(f"{handler.relative_to(ROOT)} not found: it is the function's entry "
                         f"point (handler.handler)")
    shutil.copy2(handler, site / "handler.py")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    shutil.copytree(ROOT / "src" / "micro", site / "micro", ignore=skip)
    meta = project()
    info = site / f"micro-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n",
        encoding="utf-8")

    def data_ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(skip(directory, names))
        if Path(directory) == ROOT / "data":
            ignored.add("schema")
        return ignored

    shutil.copytree(ROOT / "data", site / "micro" / "data", ignore=data_ignore)


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def prune(site: Path, target: Target) -> int:
    """Remove what Lambda never imports; returns the bytes removed."""
    removed = 0

    def rm(path: Path) -> None:
        nonlocal removed
        if path.is_dir() and not path.is_symlink():
            removed += sum(f.stat().st_size for f in _walk_files(path))
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            removed += path.lstat().st_size
            path.unlink()

    for name in ("bin", "share"):
        rm(site / name)
    for entry in sorted(site.iterdir()):
        top = canonical(entry.name.split("-")[0] if entry.name.endswith(".dist-info")
                        else entry.name)
        if top in PROVIDED_BY_RUNTIME:
            log(f"removing {entry.name}: the Lambda runtime provides it")
            rm(entry)
    for dirpath, dirnames, _ in os.walk(site, topdown=True):
        for d in list(dirnames):
            if d in PRUNE_DIRS:
                rm(Path(dirpath) / d)
                dirnames.remove(d)
    for path in list(_walk_files(site)):
        if path.suffix in PRUNE_SUFFIXES:
            rm(path)
        elif path.parent.name.endswith(".dist-info") and path.name in DIST_INFO_PRUNE:
            rm(path)
        elif path.suffix == ".pyc" and f".{target.pyc_tag}" not in path.name:
            rm(path)
    return removed


def _is_shared_object(path: Path) -> bool:
    return path.suffix == ".so" or ".so." in path.name


def strip_shared_objects(site: Path, target: Target) -> int:
    """`strip --strip-unneeded` the extension modules (ELF, the target's machine type);
    returns the bytes saved. Skipped (with a note) when `strip` is missing.

    The libraries auditwheel vendored into `<dist>.libs/` are left alone: patchelf rewrote
    their program headers, and stripping them breaks loading ("ELF load command
    address/offset not page-aligned", seen with NumPy's OpenBLAS)."""
    strip = shutil.which("strip")
    if strip is None:
        log("strip not found: shared objects left unstripped")
        return 0
    machine = ELF_MACHINE.get(target.architecture)
    saved = 0
    for path in _walk_files(site):
        if (not _is_shared_object(path) or path.is_symlink()
                or path.relative_to(site).parts[0].endswith(".libs")):
            continue
        head = path.read_bytes()[:20]
        if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != machine:
            continue
        before = path.stat().st_size
        result = subprocess.run([strip, "--strip-unneeded", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            log(f"strip {path.relative_to(site)} failed, kept as is: {result.stderr.strip()}")
            continue
        saved += before - path.stat().st_size
    return saved


def find_python(version: str) -> str | None:
    """An interpreter of `version`: `LAMBDA_PYTHON`, else `python<version>` on PATH, else
    one installed by pyenv."""
    candidates = [os.environ.get("LAMBDA_PYTHON"), shutil.which(f"python{version}"),
                  *sorted(glob.glob(os.path.expanduser(
                      f"~/.pyenv/versions/{version}*/bin/python{version}")), reverse=True)]
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def compile_bytecode(site: Path, python: str) -> None:
    """`.pyc` next to every module, naming its source as Lambda will see it (/var/task/…),
    so tracebacks show real paths and the zip does not depend on where it was built."""
    result = subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         "-s", str(site), "-p", TASK_ROOT, str(site)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError("compileall failed:\n" + result.stdout.strip()[-4000:])


CHECK = """
import importlib, pkgutil, sys, time
sys.path.insert(0, sys.argv[1])
t = time.perf_counter()
import handler
cold = time.perf_counter() - t
import micro.core
for info in pkgutil.walk_packages(micro.core.__path__, "micro.core."):
    importlib.import_module(info.name)  # the renderers, and the SciPy they load
print(cold)
"""


def check_import(site: Path, python: str) -> float:
    """Import handler.py from the package alone (no site-packages), then every module of
    the core (the renderers load NumPy/SciPy lazily); returns the handler's import time."""
    code = CHECK
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_FUNCTION_NAME": "micro-build-check",
           "MICRO_CACHE": str(site.parent / "check-cache"), "HOME": str(site.parent)}
    result = subprocess.run([python, "-I", "-S", "-c", code, str(site)], cwd=site.parent,
                            env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError("the package does not import on its own:\n"
                         + result.stderr.strip()[-4000:])
    return float(result.stdout.strip().splitlines()[-1])


def tree_size(site: Path) -> int:
    return sum(p.lstat().st_size for p in _walk_files(site))


def largest(site: Path, n: int = 6) -> list[tuple[str, int]]:
    sizes = []
    for entry in site.iterdir():
        size = tree_size(entry) if entry.is_dir() else entry.stat().st_size
        sizes.append((entry.name, size))
    return sorted(sizes, key=lambda s: -s[1])[:n]


def write_zip(site: Path, out: Path, compresslevel: int) -> None:
    """A reproducible zip: sorted entries, fixed timestamps, mode 644 (755 for dirs)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for path in _walk_files(site):
            info = zipfile.ZipInfo(path.relative_to(site).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644 << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=compresslevel)
    os.replace(tmp, out)


# --------------------------------------------------------------------------- build

def _fmt(n: int) -> str:
    return f"{n / MB:.1f} MB"


def build(out: Path, target: Target, work: Path, *, pin: bool = True,
          python: str | None = None, compresslevel: int = 6,
          limit: int = LIMIT_BYTES) -> dict[str, float]:
    """Build `out`; returns the sizes (bytes) and the check's import time (seconds)."""
    started = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    site = work / "package"
    site.mkdir(parents=True)
    install_dependencies(site, target, work, pin)
    add_project(site)
    pruned = prune(site, target)
    stripped = strip_shared_objects(site, target)
    log(f"pruned {_fmt(pruned)}, stripped {_fmt(stripped)} from shared objects")
    if python is None:
        python = sys.executable if target.platforms is None else find_python(
            target.python_version)
    import_s = float("nan")
    machine_ok = ELF_MACHINE.get(platform.machine().lower()) == ELF_MACHINE.get(
        target.architecture)
    if python is not None:
        compile_bytecode(site, python)
        log(f"compiled .pyc ({target.pyc_tag}, unchecked-hash) with {python}")
        if machine_ok:
            import_s = check_import(site, python)
            log(f"handler and renderers import on their own with {python} "
                f"(handler: {import_s:.2f} s)")
    else:
        log(f"no python{target.python_version} found (set LAMBDA_PYTHON): no .pyc compiled, "
            f"import not checked; Lambda compiles modules at each cold start")
    unzipped = tree_size(site)
    log("largest: " + ", ".join(f"{name} {_fmt(size)}" for name, size in largest(site)))
    if unzipped > limit:
        raise BuildError(f"unzipped size {_fmt(unzipped)} exceeds Lambda's limit "
                         f"{_fmt(limit)}: nothing written to {out}")
    write_zip(site, out, compresslevel)
    zipped = out.stat().st_size
    where = (f"{RUNTIME if target.platforms else 'python' + target.python_version} "
             f"{target.architecture}")
    log(f"{out}: {_fmt(zipped)} zipped, {_fmt(unzipped)} unzipped "
        f"(limit {_fmt(limit)}) for {where}, in {time.perf_counter() - started:.0f} s")
    return {"zipped": zipped, "unzipped": unzipped, "import_s": import_s}


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "build" / "lambda.zip")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="staging directory (default: build/lambda next to the zip)")
    parser.add_argument("--local", action="store_true",
                        help="build for this interpreter's version and platform tags")
    parser.add_argument("--python", default=None,
                        help="interpreter of the target version for .pyc and the import check")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="newest versions in pyproject's ranges, not this environment's")
    parser.add_argument("--compresslevel", type=int, default=6, choices=range(0, 10))
    args = parser.parse_args(list(argv) if argv is not None else None)
    target = local_target() if args.local else LAMBDA
    work = args.work_dir or args.out.parent / "lambda"
    try:
        build(args.out, target, work, pin=args.pin, python=args.python,
              compresslevel=args.compresslevel)
    except BuildError as exc:
        print(f"lambda: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

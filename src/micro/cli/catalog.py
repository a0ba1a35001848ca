"""`micro catalog list|show|schema` and `micro validate`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from micro.cli.errors import CliError, one_line_errors
from micro.core.catalog import KINDS, Catalog, default_catalog
from micro.core.errors import CatalogErrors
from micro.core.models import MicroscopeInstrument
from micro.core.schema import write_schemas

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Catalog directory (default: the project's data/).")


def _load(data_dir: Path | None) -> Catalog:
    return Catalog.load(data_dir) if data_dir else default_catalog()


def summary(kind: str, entry: Any) -> dict[str, Any]:
    """The short listing of one entry (what `catalog list --json` prints)."""
    if kind == "instruments":
        out: dict[str, Any] = {"id": entry.id, "name": entry.name, "category": entry.category,
                               "kind": entry.kind}
        if isinstance(entry, MicroscopeInstrument):
            out["modes"] = list(entry.modes)
            out["objectives"] = [{"magnification": o.magnification, "na": o.na,
                                  "immersion": o.immersion} for o in entry.objectives]
        else:
            out["modality"] = entry.modality
        return out
    if kind == "specimens":
        return {"id": entry.id, "name": entry.name, "category": entry.category,
                "stains": list(entry.stains), "default_stain": entry.default_stain}
    if kind == "stains":
        return {"id": entry.id, "name": entry.name, "type": entry.type}
    return {"id": entry.id, "name": entry.name, "modalities": list(entry.modalities)}


@click.group("catalog")
def catalog_group() -> None:
    """List and show catalog entries; write the JSON Schemas."""


@catalog_group.command("list")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@one_line_errors
def list_cmd(kind: str, as_json: bool, data_dir: Path | None) -> None:
    """List instruments, stains, specimens or phantoms."""
    cat = _load(data_dir)
    rows = [summary(kind, e) for _, e in sorted(cat.entries(kind).items())]
    if as_json:
        click.echo(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    for r in rows:
        extra = r.get("modality") or r.get("category") or r.get("type") or ""
        click.echo(f"{r['id']:<32} {extra:<22} {r['name']}")


@catalog_group.command("show")
@click.argument("entry_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@one_line_errors
def show_cmd(entry_id: str, as_json: bool, data_dir: Path | None) -> None:
    """Show one entry (any kind) by id."""
    cat = _load(data_dir)
    found = [(k, cat.entries(k)[entry_id]) for k in KINDS if entry_id in cat.entries(k)]
    if not found:
        raise CliError(f"id: unknown entry {entry_id[:40]!r} — see `micro catalog list KIND`")
    kind, entry = found[0]
    data = entry.model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
        return
    click.echo(f"{kind[:-1]} {entry_id}: {data['name']}")
    for key, value in data.items():
        if key in ("id", "name"):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"  {key}: {text}")


@catalog_group.command("schema")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the schemas (default: data/schema).")
def schema_cmd(out: Path | None) -> None:
    """Write the JSON Schema of every catalog model."""
    target = out or (default_catalog_dir() / "schema")
    for path in write_schemas(target):
        click.echo(str(path))


def default_catalog_dir() -> Path:
    from micro.core.catalog import default_data_dir

    return default_data_dir()


@click.command("validate")
@click.argument("data_dir", required=False, type=click.Path(path_type=Path))
def validate(data_dir: Path | None) -> None:
    """Check every data file; list every error (exit 2) or print counts (exit 0)."""
    try:
        cat = Catalog.load(data_dir) if data_dir else Catalog.load()
    except CatalogErrors as exc:
        for e in exc.errors:
            click.echo(e.one_line(), err=True)
        raise CliError(f"{len(exc.errors)} error(s) in the catalog") from None
    counts = ", ".join(f"{n} {k}" for k, n in cat.counts().items())
    click.echo(f"ok: {counts}, {len(cat.structures)} structure classes")


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""`micro images generate|list|remove`: the AI illustration library under data/images/."""

from __future__ import annotations

import json
from pathlib import Path

import click

from micro.cli.catalog import _load, data_dir_option
from micro.cli.errors import CliError, one_line_errors
from micro.core.errors import NotFound
from micro.core.library import LibraryEntry, entries, library_root


@click.group("images")
def images_group() -> None:
    """The AI illustration library: generate (OpenAI), list, remove.

    Library views (source=library) put an illustration through the same optics as the
    procedural scene and are labelled "AI illustration — not a micrograph"."""


@images_group.command("generate")
@click.option("--specimen", required=True, help="Specimen id.")
@click.option("--stain", help="Stain id (default: the specimen's default stain).")
@click.option("--model", default="gpt-image-1", show_default=True)
@click.option("--size", default="1024x1024", show_default=True, help="WIDTHxHEIGHT in pixels.")
@click.option("--count", default=1, show_default=True, type=int, help="Images to make (1-10).")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10),
              help="Retries of the SDK on rate limits, server and connection errors.")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True,
              type=click.FloatRange(1, 3600), help="Seconds to wait for each API request.")
@data_dir_option
@one_line_errors
def generate_cmd(specimen: str, stain: str | None, model: str, size: str, count: int,
                 retries: int, timeout_s: float, data_dir: Path | None) -> None:
    """Ask the OpenAI images API for illustrations of a specimen (OPENAI_API_KEY; optional
    OPENAI_BASE_URL) and add them to the library."""
    from micro.ai.images import generate  # the SDK loads only for this command

    cat = _load(data_dir)
    for e in generate(cat, specimen, stain, model=model, size=size, count=count,
                      timeout_s=timeout_s, max_retries=retries):
        assert e.meta is not None
        click.echo(f"{e.key}.png  {e.meta.width_px}×{e.meta.height_px} px, "
                   f"{e.meta.width_um:g} × {e.meta.height_um:g} µm, {e.meta.model}, "
                   f"sha256 {e.meta.sha256[:12]}")


def _row(e: LibraryEntry) -> dict[str, object]:
    m = e.meta
    return {"entry": e.key, "ok": e.ok, "problem": e.problem,
            "model": m.model if m else None, "created": m.created.isoformat() if m else None,
            "width_um": m.width_um if m else None, "height_um": m.height_um if m else None,
            "size_px": [m.width_px, m.height_px] if m else None,
            "sha256": m.sha256 if m else None}


@images_group.command("list")
@click.option("--specimen", help="Only this specimen.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@one_line_errors
def list_cmd(specimen: str | None, as_json: bool, data_dir: Path | None) -> None:
    """List the library's images, each verified (SHA-256, size, sidecar)."""
    cat = _load(data_dir)
    found = entries(cat.data_dir, specimen)
    if as_json:
        click.echo(json.dumps([_row(e) for e in found], indent=1, ensure_ascii=False))
        return
    if not found:
        click.echo(f"the library is empty ({library_root(cat.data_dir)}); add images with "
                   "`micro images generate --specimen ID`")
        return
    for e in found:
        if e.ok and e.meta is not None:
            m = e.meta
            click.echo(f"{e.key:<64} {m.width_um:g}×{m.height_um:g} µm  {m.model}  "
                       f"{m.created:%Y-%m-%d %H:%M}Z")
        else:
            click.echo(f"{e.key:<64} UNUSABLE: {e.problem}")


@images_group.command("remove")
@click.argument("entry", nargs=-1, required=True)
@data_dir_option
@one_line_errors
def remove_cmd(entry: tuple[str, ...], data_dir: Path | None) -> None:
    """Delete library entries (image and sidecar), named as `list` prints them:
    SPECIMEN/STAIN/NAME."""
    cat = _load(data_dir)
    known = {e.key: e for e in entries(cat.data_dir, verify=False)}
    wanted = [k.removesuffix(".png").removesuffix(".json").strip("/") for k in entry]
    for k in wanted:
        if k not in known:
            raise NotFound(f"no library entry {k[:120]!r}", field="entry",
                           allowed=sorted(known) or "nothing: the library is empty")
    for k in wanted:
        e = known[k]
        try:
            e.sidecar.unlink(missing_ok=True)  # the sidecar first: the entry is gone at once
            e.png.unlink(missing_ok=True)
            for folder in (e.png.parent, e.png.parent.parent):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        except OSError as exc:
            raise CliError(f"cannot remove {k}: {exc.strerror or exc}") from None
        click.echo(f"removed {k}")

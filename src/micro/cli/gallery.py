"""`micro gallery -o FILE.png`: a labelled contact sheet of every specimen at its default
view (recommended instrument, objective and first mode, default stain), for people to look
at. Nothing it writes is committed."""

from __future__ import annotations

import io
from pathlib import Path

import click

from micro.cli.catalog import write_atomic
from micro.cli.errors import CliError, one_line_errors
from micro.core.catalog import default_catalog
from micro.core.render import render
from micro.core.requests import canonicalize_microscope

LABEL_PX = 30


def contact_sheet(specimens: list[str] | None = None, size: int = 256, columns: int = 6,
                  mode: str | None = None, objective: float | None = None) -> bytes:
    """PNG bytes of the sheet: one tile per specimen, labelled with its id, stain, mode and
    objective."""
    from PIL import Image, ImageDraw

    cat = default_catalog()
    ids = specimens or sorted(cat.specimens)
    unknown = [s for s in ids if s not in cat.specimens]
    if unknown:
        raise CliError(f"specimen: unknown {unknown[0]!r}; allowed: "
                       f"{', '.join(sorted(cat.specimens))}")
    tiles = []
    for sid in ids:
        spec = cat.specimens[sid]
        rec = spec.recommended
        params = {"instrument": rec.instrument, "specimen": sid,
                  "objective": objective if objective is not None else rec.objective,
                  "mode": mode if mode is not None else rec.modes[0],
                  "stain": spec.default_stain, "size": size, "format": "png"}
        req = canonicalize_microscope(params, cat)
        img = Image.open(io.BytesIO(render(req).image)).convert("RGB")
        img.thumbnail((size, size))
        tile = Image.new("RGB", (size, size + LABEL_PX), (24, 24, 24))
        tile.paste(img, ((size - img.width) // 2, LABEL_PX + (size - img.height) // 2))
        draw = ImageDraw.Draw(tile)
        draw.text((4, 2), sid, fill=(255, 255, 255))
        # "x", not "×": Pillow's built-in font has no multiplication sign
        draw.text((4, 15), f"{req.stain} · {req.mode} · {req.objective:g}x",
                  fill=(180, 180, 180))
        tiles.append(tile)
    cols = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * size, rows * (size + LABEL_PX)), (0, 0, 0))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * size, (k // cols) * (size + LABEL_PX)))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


@click.command("gallery")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--specimen", "specimens", multiple=True, help="Only these specimens.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(128, 1024))
@click.option("--columns", default=6, show_default=True, type=click.IntRange(1, 20))
@click.option("--mode", default=None, help="Override the recommended mode.")
@click.option("--objective", default=None, type=float, help="Override the objective.")
@one_line_errors
def gallery(out: Path, specimens: tuple[str, ...], size: int, columns: int, mode: str | None,
            objective: float | None) -> None:
    """Write a labelled contact sheet of every specimen at its default view."""
    data = contact_sheet(list(specimens) or None, size, columns, mode, objective)
    write_atomic(out, data)
    click.echo(f"{out} ({len(data)} bytes)")

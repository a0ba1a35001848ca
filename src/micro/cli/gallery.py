"""`micro gallery -o FILE.png`: labelled contact sheets for reviewing by eye. Nothing it writes
is committed.

Three sheets, written next to each other:

- FILE.png: every specimen at its recommended view and at a second objective that shows the
  other scale (4×/10× against 40×; for electron and probe microscopes a magnification about
  4× or more along the instrument's range);
- FILE-modes.png: the cultured-cells slide in every fluorescence mode an instrument in the
  catalog offers, bone and granite in polarized light, the SEM surfaces under the stereo
  microscope;
- FILE-scans.png: every phantom in every modality it can be imaged with, at the phantom's
  own defaults on the scanner the site pre-renders for that modality.

With --specimen or --phantom only those subjects are drawn (specimens alone: no scans sheet).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import click

from micro.cli.catalog import write_atomic
from micro.cli.errors import CliError, one_line_errors
from micro.core.catalog import Catalog, default_catalog
from micro.core.models import MicroscopeInstrument
from micro.core.params import IMAGING_PARAMS, fmt_plain
from micro.core.render import render
from micro.core.requests import (
    ImagingRequest,
    MicroscopeRequest,
    canonicalize_imaging,
    canonicalize_microscope,
)

LABEL_PX = 30
RENDER_SIZES = (256, 512, 1024)  # the key space's sizes; tiles are thumbnailed from these
# Fluorescence-family modes, in the order a course meets them.
FLUORESCENCE_MODES = ("fluorescence", "confocal", "tirf", "sim", "sted", "two-photon",
                      "light-sheet")
# The instrument that shows each of them best (the slide's own first), then any other.
FLUORESCENCE_INSTRUMENTS = ("widefield-fluorescence", "confocal-lsm", "tirf", "sim-superres",
                            "sted-nanoscope", "two-photon", "lattice-light-sheet")
EM_MODES = ("sem", "tem", "afm")
# (specimen, instrument, mode, stain or None for the default): the extra views issues #15/#16
# ask to be looked at; starch and muscle are shown unstained in polarized light, as taught.
EXTRA_VIEWS: tuple[tuple[str, str, str, str | None], ...] = (
    ("compact-bone", "research-upright", "polarized", None),
    ("granite-thin-section", "polarizing-petrographic", "polarized", None),
    ("granite-thin-section", "polarizing-petrographic", "brightfield", None),
    ("crystals-polarized", "research-upright", "polarized", None),
    ("potato-starch", "research-upright", "polarized", "none"),
    ("skeletal-muscle", "research-upright", "polarized", "none"),
    ("compound-eye-sem", "stereo-zoom", "stereo", None),
    ("pollen-sem", "stereo-zoom", "stereo", None))
# The scanner of each modality the site pre-renders (micro.site.plan.PREFERRED_IMAGERS); a
# breast is imaged on a mammography unit and a high-frequency linear probe.
SCANNERS = ("ct-64-slice", "mri-1-5t", "digital-radiography", "ultrasound-curvilinear",
            "pet-ct", "spect-gamma-camera")
ANATOMY_SCANNERS = {"breast": ("mammography", "ultrasound-linear")}


@dataclass(frozen=True)
class Tile:
    title: str
    caption: str
    request: MicroscopeRequest | ImagingRequest


def render_size(size: int) -> int:
    """The smallest render size of the key space that covers a `size` tile."""
    return next((s for s in RENDER_SIZES if s >= size), RENDER_SIZES[-1])


def second_objective(inst: MicroscopeInstrument, recommended: float, mode: str) -> float | None:
    """An objective that shows the other scale: 40× against 4×/10×, 10× against 20× and
    above on a light microscope; for electron and probe microscopes the first magnification at
    least 4× higher (the detail), else the last at least 4× lower (the overview)."""
    mags = sorted(o.magnification for o in inst.objectives)
    others = [m for m in mags if m != recommended]
    if not others:
        return None
    if mode in EM_MODES:
        up = [m for m in others if m >= 4 * recommended]
        down = [m for m in others if m <= recommended / 4]
        return up[0] if up else down[-1] if down else min(
            others, key=lambda m: abs(m - recommended))
    if recommended >= 20:
        low = [m for m in others if 4 <= m <= 10]
        return max(low) if low else min(others)
    high = [m for m in others if 20 <= m <= 63]
    return min(high, key=lambda m: abs(m - 40)) if high else max(others)


def specimen_tiles(cat: Catalog, ids: Iterable[str], mode: str | None,
                   objective: float | None, size: int) -> list[Tile]:
    tiles = []
    for sid in ids:
        spec = cat.specimens[sid]
        rec = spec.recommended
        inst = cat.instruments[rec.instrument]
        assert isinstance(inst, MicroscopeInstrument)
        use_mode = mode if mode is not None else rec.modes[0]
        if objective is not None:
            objectives = [objective]
        else:
            second = second_objective(inst, rec.objective, use_mode)
            objectives = [rec.objective] + ([second] if second is not None else [])
        for obj in objectives:
            req = canonicalize_microscope(
                {"instrument": rec.instrument, "specimen": sid, "objective": obj,
                 "mode": use_mode, "stain": spec.default_stain,
                 "size": render_size(size), "format": "png"}, cat)
            tiles.append(Tile(sid, f"{req.stain} · {req.mode} · {req.objective:g}x", req))
    return tiles


def mode_tiles(cat: Catalog, ids: set[str], size: int) -> list[Tile]:
    """Fluorescence modes on the cultured cells, polarized light, stereo surfaces."""
    views: list[tuple[str, str, str, str | None]] = []
    culture = "cultured-cells-fluorescence"
    if culture in ids:
        for mode in FLUORESCENCE_MODES:
            insts = [i for i in (*FLUORESCENCE_INSTRUMENTS, *cat.microscope_ids())
                     if i in cat.instruments and mode in cat.instruments[i].modes]  # type: ignore[union-attr]
            if insts:
                views.append((culture, insts[0], mode, None))
    views += [v for v in EXTRA_VIEWS if v[0] in ids and v[0] in cat.specimens
              and v[1] in cat.instruments]
    tiles = []
    for sid, iid, mode, stain in views:
        spec = cat.specimens[sid]
        inst = cat.instruments[iid]
        assert isinstance(inst, MicroscopeInstrument)
        mags = [o.magnification for o in inst.objectives]
        rec = spec.recommended
        # the slide's own objective on its own instrument; elsewhere the instrument's default
        # (the objective a super-resolution or light-sheet system is built around)
        obj = rec.objective if rec.instrument == iid and rec.objective in mags else (
            inst.default_objective if rec.modes[0] not in EM_MODES
            else min(mags, key=lambda m: abs(m - 4.0)))  # an EM subject under a stereo zoom
        req = canonicalize_microscope(
            {"instrument": iid, "specimen": sid, "objective": obj, "mode": mode,
             "stain": stain or spec.default_stain, "size": render_size(size), "format": "png"},
            cat)
        unusual = f" · {req.stain}" if req.stain != spec.default_stain else ""
        tiles.append(Tile(sid, f"{iid} · {req.mode} · {req.objective:g}x{unusual}", req))
    return tiles


def scanners_for(cat: Catalog, phantom: str, modality: str) -> str | None:
    insts = cat.imaging_ids(modality)
    anatomy = cat.phantoms[phantom].anatomy
    preferred = [*ANATOMY_SCANNERS.get(anatomy or "", ()), *SCANNERS]
    return next((i for i in preferred if i in insts), insts[0] if insts else None)


def scan_caption(req: ImagingRequest) -> str:
    s = dict(req.settings)
    bits = [req.instrument]
    if req.modality == "ct":
        bits.append(f"W{fmt_plain(s['window'])} L{fmt_plain(s['level'])}")
    elif req.modality == "mri":
        bits.append(f"{s['sequence']} TR{fmt_plain(s['tr_ms'])} TE{fmt_plain(s['te_ms'])}")
    elif req.modality == "ultrasound":
        bits.append(f"{fmt_plain(s['frequency_mhz'])} MHz")
    elif req.modality == "xray":
        bits.append(f"{fmt_plain(s['kvp'])} kVp")
    if s.get("slice_mm"):
        bits.append(f"z{fmt_plain(s['slice_mm'])}")
    return " · ".join(bits)


def scan_tiles(cat: Catalog, ids: Iterable[str], size: int) -> list[Tile]:
    tiles = []
    for pid in ids:
        for modality in cat.phantoms[pid].modalities:
            if modality not in IMAGING_PARAMS:
                continue
            iid = scanners_for(cat, pid, modality)
            if iid is None:
                continue
            req = canonicalize_imaging({"instrument": iid, "phantom": pid,
                                        "size": render_size(size), "format": "png"}, cat)
            tiles.append(Tile(f"{pid} · {modality}", scan_caption(req), req))
    return tiles


def compose(tiles: list[Tile], size: int, columns: int) -> bytes:
    """PNG bytes of a sheet of `tiles`, `columns` wide, each labelled with two lines."""
    from PIL import Image, ImageDraw

    images = []
    for t in tiles:
        img = Image.open(io.BytesIO(render(t.request).image)).convert("RGB")
        img.thumbnail((size, size))
        tile = Image.new("RGB", (size, size + LABEL_PX), (24, 24, 24))
        tile.paste(img, ((size - img.width) // 2, LABEL_PX + (size - img.height) // 2))
        draw = ImageDraw.Draw(tile)
        # "x", not "×": Pillow's built-in font has no multiplication sign
        draw.text((4, 2), t.title, fill=(255, 255, 255))
        draw.text((4, 15), t.caption, fill=(180, 180, 180))
        images.append(tile)
    cols = max(1, min(columns, len(images)))
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * size, rows * (size + LABEL_PX)), (0, 0, 0))
    for k, tile in enumerate(images):
        sheet.paste(tile, ((k % cols) * size, (k // cols) * (size + LABEL_PX)))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def _check(ids: list[str], known: Iterable[str], field: str) -> None:
    allowed = sorted(known)
    unknown = [s for s in ids if s not in allowed]
    if unknown:
        raise CliError(f"{field}: unknown {unknown[0]!r}; allowed: {', '.join(allowed)}")


def gallery_sheets(specimens: list[str] | None = None, phantoms: list[str] | None = None,
                   size: int = 256, columns: int = 6, mode: str | None = None,
                   objective: float | None = None) -> dict[str, bytes]:
    """{"": specimens sheet, "modes": ..., "scans": ...} as PNG bytes; empty sheets left out.
    Nothing selected: everything. A mode or objective override applies to the specimen sheet
    only (one tile per specimen) and leaves out the modes sheet."""
    cat = default_catalog()
    _check(specimens or [], cat.specimens, "specimen")
    _check(phantoms or [], cat.phantoms, "phantom")
    everything = not specimens and not phantoms
    sids = sorted(cat.specimens) if everything else list(specimens or [])
    pids = sorted(cat.phantoms) if everything else list(phantoms or [])
    sheets: dict[str, list[Tile]] = {
        "": specimen_tiles(cat, sids, mode, objective, size),
        "modes": [] if mode or objective else mode_tiles(cat, set(sids), size),
        "scans": scan_tiles(cat, pids, size),
    }
    return {name: compose(tiles, size, columns) for name, tiles in sheets.items() if tiles}


def contact_sheet(specimens: list[str] | None = None, size: int = 256, columns: int = 6,
                  mode: str | None = None, objective: float | None = None) -> bytes:
    """PNG bytes of the specimen sheet alone (two objectives per specimen unless `objective`)."""
    cat = default_catalog()
    _check(specimens or [], cat.specimens, "specimen")
    return compose(specimen_tiles(cat, specimens or sorted(cat.specimens), mode, objective,
                                  size), size, columns)


def sheet_path(out: Path, name: str) -> Path:
    return out if not name else out.with_name(f"{out.stem}-{name}{out.suffix or '.png'}")


@click.command("gallery")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The specimen sheet; the modes and scans sheets go next to it "
                   "(FILE-modes.png, FILE-scans.png).")
@click.option("--specimen", "specimens", multiple=True, help="Only these specimens.")
@click.option("--phantom", "phantoms", multiple=True, help="Only these phantoms.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(128, 1024))
@click.option("--columns", default=6, show_default=True, type=click.IntRange(1, 20))
@click.option("--mode", default=None, help="Override the recommended mode.")
@click.option("--objective", default=None, type=float, help="Override the objective.")
@one_line_errors
def gallery(out: Path, specimens: tuple[str, ...], phantoms: tuple[str, ...], size: int,
            columns: int, mode: str | None, objective: float | None) -> None:
    """Write labelled contact sheets: specimens at two objectives, fluorescence and polarized
    modes, every phantom in every modality."""
    sheets = gallery_sheets(list(specimens) or None, list(phantoms) or None, size, columns,
                            mode, objective)
    for name, data in sheets.items():
        path = sheet_path(out, name)
        write_atomic(path, data)
        click.echo(f"{path} ({len(data)} bytes)")

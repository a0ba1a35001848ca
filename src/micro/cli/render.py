"""`micro render microscope|imaging`: one image to a file, with its info and raw data."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from micro.cli.catalog import write_atomic
from micro.cli.errors import CliError, one_line_errors
from micro.core.params import MICROSCOPE_PARAMS, Choice, Number
from micro.core.render import render
from micro.core.requests import canonicalize_imaging, canonicalize_microscope
from micro.core.result import RenderResult

F = TypeVar("F", bound=Callable[..., Any])


def _write_outputs(result: RenderResult, out: Path, info_json: Path | None,
                   raw: Path | None) -> None:
    write_atomic(out, result.image)
    if info_json:
        write_atomic(info_json, json.dumps(result.info, indent=1, ensure_ascii=False).encode())
    if raw:
        buf = io.BytesIO()
        np.save(buf, result.raw, allow_pickle=False)
        write_atomic(raw, buf.getvalue())
    click.echo(f"{out} ({len(result.image)} bytes) ← {result.info.get('path')}")


def _format_from(out: Path, fmt: str | None) -> str | None:
    if fmt:
        return fmt
    ext = out.suffix.lower().lstrip(".")
    return {"jpeg": "jpg"}.get(ext, ext) or None


def _param_options(params: Sequence[Number | Choice]) -> Callable[[F], F]:
    """One CLI option per request parameter, from the parameter specs themselves, so the CLI
    offers every parameter the API does. Values are checked by the request canonicaliser,
    whose one-line errors name the field and what is allowed."""
    def decorate(func: F) -> F:
        for p in reversed(params):
            if isinstance(p, Choice):
                help_text = f"{p.doc} One of: {', '.join(p.choices)}."
            else:
                unit = f" {p.unit}" if p.unit else ""
                help_text = f"{p.doc} ({p.lo:g}–{p.hi:g}{unit})."
            func = click.option("--" + p.name.replace("_", "-"), p.name, help=help_text)(func)
        return func
    return decorate



@click.group("render")
def render_group() -> None:
    """Render one microscope view or one medical image to a file."""


@render_group.command("microscope")
@click.option("--instrument", required=True)
@click.option("--specimen", required=True)
@click.option("--objective", help="Objective magnification, e.g. 40.")
@click.option("--stain")
@click.option("--mode")
@_param_options(MICROSCOPE_PARAMS)
@click.option("--format", "fmt")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--info-json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--raw", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the detected signal (float32 .npy).")
@one_line_errors
def microscope_cmd(out: Path, info_json: Path | None, raw: Path | None, fmt: str | None,
                   **params: Any) -> None:
    """Render what a microscope shows; unspecified options take the catalog defaults."""
    params = {k: v for k, v in params.items() if v is not None}
    params["format"] = _format_from(out, fmt)
    req = canonicalize_microscope(params)
    _write_outputs(render(req), out, info_json, raw)


@render_group.command("imaging")
@click.option("--instrument", required=True)
@click.option("--phantom", required=True)
@click.option("--variant")
@click.option("--preset", help="CT window preset or MRI weighting preset.")
@click.option("--size")
@click.option("--format", "fmt")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="A modality parameter, e.g. --set kvp=120 --set filter=hann.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--info-json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--raw", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the quantitative image (float32 .npy).")
@one_line_errors
def imaging_cmd(out: Path, info_json: Path | None, raw: Path | None, fmt: str | None,
                settings: tuple[str, ...], **params: Any) -> None:
    """Render a CT, X-ray, MRI, ultrasound, PET or SPECT image of a phantom."""
    params = {k: v for k, v in params.items() if v is not None}
    for item in settings:
        if "=" not in item:
            raise CliError(f"--set: {item[:40]!r} is not NAME=VALUE")
        name, value = item.split("=", 1)
        params[name.strip()] = value.strip()
    params["format"] = _format_from(out, fmt)
    req = canonicalize_imaging(params)
    _write_outputs(render(req), out, info_json, raw)

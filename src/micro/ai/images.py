"""Generate AI illustrations with the OpenAI images API and store them in the library.

`generate(catalog, specimen, stain, ...)` builds the prompt from the catalog (specimen, stain
colours, physical scale, what to show, no text), calls `client.images.generate` through the
official SDK (key from OPENAI_API_KEY, base URL from OPENAI_BASE_URL when set), checks every
returned image (base64, PNG decodes fully, size) and only then writes PNG + sidecar through
temp files and renames. Any failure leaves the library as it was and raises one
`ImageGenerationError` whose text fits on one line.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import hashlib
import io
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from micro.core.catalog import Catalog
from micro.core.errors import InvalidRequest, MicroError
from micro.core.library import (
    ILLUSTRATION_STAIN_TYPES,
    Illustration,
    LibraryEntry,
    depicted_view,
    depicted_width_um,
    entries,
    library_root,
)
from micro.core.models import Specimen, Stain

DEFAULT_MODEL = "gpt-image-1"
DEFAULT_SIZE = "1024x1024"
MAX_COUNT = 10
MAX_SIDE_PX = 4096
"""Largest side of an image the library accepts (the API's sizes are at most 1792 px)."""
MAX_B64_CHARS = 4 * (64 * 2**20) // 3
"""Largest base64 answer read for one image (a 64 MB PNG): beyond it, nothing is decoded."""
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_REFUSAL_CODES = ("content_policy_violation", "moderation_blocked", "content_filter")


class ImageGenerationError(MicroError):
    """The API call or its result failed; nothing was written."""


@dataclass(frozen=True)
class Generated:
    png: bytes
    width_px: int
    height_px: int
    revised_prompt: str | None


# --------------------------------------------------------------------------- prompt

def _one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _colour_name(rgb: tuple[float, float, float]) -> str:
    """A plain colour word for an sRGB colour (0..1)."""
    h, lum, sat = colorsys.rgb_to_hls(*rgb)
    if sat < 0.15 or max(rgb) - min(rgb) < 0.08:
        return "grey" if 0.15 < lum < 0.85 else ("black" if lum <= 0.15 else "near-colourless")
    hue = h * 360
    names = ((15, "red"), (40, "orange"), (65, "yellow"), (165, "green"), (185, "cyan"),
             (245, "blue"), (290, "purple"), (335, "magenta"), (361, "red"))
    name = next(n for limit, n in names if hue < limit)
    if name == "magenta" and lum > 0.6:
        name = "pink"
    if lum < 0.3:
        return f"dark {name}"
    if lum > 0.8:
        return f"pale {name}"
    return name


def dye_colours(stain: Stain) -> list[str]:
    """'<dye>: <colour> (#rrggbb)' for every absorbing dye, at its strongest uptake:
    T = 10^(−amount·OD) per channel (Beer–Lambert), sRGB-encoded."""
    out = []
    for dye in stain.dyes:
        if dye.od_rgb is None:
            continue
        amounts = [a.amount for a in (*stain.affinities, *stain.background) if a.dye == dye.id]
        amount = max(amounts, default=1.0) or 1.0
        lin = [10 ** (-amount * od) for od in dye.od_rgb]
        enc = tuple(12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
                    for v in lin)
        hexcode = "#" + "".join(f"{round(v * 255):02x}" for v in enc)
        out.append(f"{dye.name}: {_colour_name((enc[0], enc[1], enc[2]))} ({hexcode})")
    return out


def build_prompt(catalog: Catalog, spec: Specimen, stain: Stain, width_um: float,
                 width_px: int, depicts: str, mode: str) -> str:
    """The prompt: what the specimen is, how it is stained and lit, its true scale, what a
    student must be able to find, and no text of any kind."""
    um_px = width_um / width_px
    if stain.type == "none":
        stain_text = (f"Unstained: {_one_line(stain.description, 600)} Structures are nearly "
                      "colourless; faint natural colour and refraction are all that show.")
    else:
        colours = "; ".join(dye_colours(stain))
        stain_text = f"Stain: {stain.name}. {_one_line(stain.description, 800)}"
        if colours:
            stain_text += f" Dye colours in transmitted light: {colours}."
    if mode == "stereo":
        lighting = ("reflected light on a stereo microscope, lit from the upper left, on a "
                    "white stage plate")
    else:
        lighting = ("transmitted brightfield: a bright, neutral white background of clear "
                    "glass; structures are coloured only where dye or pigment absorbs light")
    sizes = "; ".join(f"{sz.structure} {sz.min_um:g}–{sz.max_um:g} µm (about "
                      f"{sz.min_um / um_px:.0f}–{sz.max_um / um_px:.0f} pixels across)"
                      for sz in spec.sizes)
    lines = [
        f"A scientifically accurate illustration of a light-microscope view of {spec.name}"
        f"{', unstained' if stain.type == 'none' else ', stained with ' + stain.name}.",
        f"Lighting: {lighting}.",
        f"Specimen: {_one_line(spec.description, 1200)}",
        stain_text,
        "Show: " + " ".join(_one_line(x, 300) for x in spec.look_for[:5]),
        f"Scale: the image is {width_um:.0f} µm wide ({um_px:.3g} µm per pixel), the "
        f"{depicts}. Draw every structure at its true size"
        + (f": {sizes}." if sizes else "."),
        "Composition: the specimen fills the frame edge to edge, in sharp focus everywhere, "
        "evenly lit, with no vignetting, no round eyepiece field stop and no microscope parts.",
        "No labels or text, no letters or numbers, no arrows, no scale bar, no annotations, "
        "no watermark.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks

def _check_request(catalog: Catalog, specimen: str, stain: str | None, model: str, size: str,
                   count: int) -> tuple[Specimen, Stain]:
    if specimen not in catalog.specimens:
        raise InvalidRequest(f"unknown id {specimen[:40]!r}", field="specimen",
                             allowed=sorted(catalog.specimens))
    spec = catalog.specimens[specimen]
    depicted_view(catalog, spec.id)  # a light-microscope specimen, or an error naming it
    usable = [s for s in spec.stains if catalog.stains[s].type in ILLUSTRATION_STAIN_TYPES]
    stain_id = stain or spec.default_stain
    if stain_id not in spec.stains:
        raise InvalidRequest(f"stain {stain_id[:40]!r} is not used on {specimen}",
                             field="stain", allowed=list(spec.stains))
    st = catalog.stains[stain_id]
    if st.type not in ILLUSTRATION_STAIN_TYPES:
        raise InvalidRequest(f"{stain_id} is a {st.type} stain; an illustration shows colour "
                             "in transmitted or reflected light", field="stain", allowed=usable)
    if not _SIZE.match(size):
        raise InvalidRequest(f"bad size {size[:20]!r}", field="size",
                             allowed="WIDTHxHEIGHT, e.g. 1024x1024, 1536x1024, 1024x1536")
    if not 1 <= count <= MAX_COUNT:
        raise InvalidRequest(f"{count} images", field="count", allowed=f"1 to {MAX_COUNT}")
    if not model or len(model) > 100:
        raise InvalidRequest("model name missing or too long", field="model",
                             allowed="an OpenAI image model, e.g. gpt-image-1")
    return spec, st


def decode_image(b64: str | None, index: int,
                 expected: tuple[int, int] | None = None) -> Generated:
    """Base64 → PNG bytes, fully decoded once (a truncated or corrupt image raises). The
    size is checked from the header before any pixel is decoded: an image other than the
    `expected` (width, height), or with a side over MAX_SIDE_PX, is refused, so a
    decompression bomb (a few kB that inflate to gigabytes) is never inflated."""
    if not b64:
        raise ImageGenerationError(f"the API returned no b64_json for image {index + 1} "
                                   "(only a URL?); nothing was written")
    if len(b64) > MAX_B64_CHARS:
        raise ImageGenerationError(f"image {index + 1} is {len(b64) * 3 // 4 // 2**20} MB, "
                                   f"over {MAX_B64_CHARS * 3 // 4 // 2**20} MB; nothing was "
                                   "written")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageGenerationError(f"image {index + 1} is not valid base64 ({exc}); nothing "
                                   "was written") from None
    check_dimensions(raw, index, expected)
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()  # chunk structure and CRCs
        with Image.open(io.BytesIO(raw)) as im:
            fmt = im.format
            im.load()  # every pixel: a truncated stream fails here
            size = im.size
            if fmt != "PNG":
                buf = io.BytesIO()
                im.save(buf, "PNG")
                raw = buf.getvalue()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, zlib errors
        raise ImageGenerationError(
            f"image {index + 1} is truncated or corrupt ({_one_line(str(exc), 120) or type(exc).__name__}); "
            "nothing was written") from None
    return Generated(raw, size[0], size[1], None)


def requested_size(size: str) -> tuple[int, int] | None:
    """(width, height) of a WIDTHxHEIGHT size, None for the API's "auto"."""
    m = _SIZE.match(size)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_dimensions(raw: bytes, index: int, expected: tuple[int, int] | None) -> None:
    """Read only the header: refuse a size other than `expected` or a side over MAX_SIDE_PX
    before anything is decompressed."""
    try:
        with warnings.catch_warnings():  # the size is judged below, not by Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as im:  # lazy: parses the header only
                size = im.size
    except Image.DecompressionBombError:
        raise ImageGenerationError(
            f"image {index + 1} has over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels (a "
            "decompression bomb); nothing was written") from None
    except Exception as exc:
        raise ImageGenerationError(
            f"image {index + 1} is not a readable image ({type(exc).__name__}); nothing was "
            "written") from None
    if expected is not None and size != expected:
        raise ImageGenerationError(
            f"image {index + 1} is {size[0]}×{size[1]} px, not the {expected[0]}×{expected[1]} "
            "asked for; nothing was written")
    if max(size) > MAX_SIDE_PX:
        raise ImageGenerationError(
            f"image {index + 1} is {size[0]}×{size[1]} px, over {MAX_SIDE_PX} px a side (a "
            "decompression bomb?); nothing was written")


# --------------------------------------------------------------------------- the API

def make_client(env: Mapping[str, str], timeout_s: float, max_retries: int) -> Any:
    key = env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise ImageGenerationError(
            "OPENAI_API_KEY is not set: export OPENAI_API_KEY=<your key> (create one at "
            "https://platform.openai.com/api-keys); OPENAI_BASE_URL selects a compatible server")
    from openai import OpenAI  # the edge imports the SDK lazily

    base_url = env.get("OPENAI_BASE_URL", "").strip() or None
    return OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=max_retries)


def _api_error(exc: Exception, client: Any, retries: int) -> ImageGenerationError:
    """The one-line error for a failed API call, with the API key redacted should a server
    ever echo it back."""
    err = _describe_api_error(exc, client, retries)
    key = str(getattr(client, "api_key", "") or "")
    if len(key) >= 8 and key in str(err):
        return ImageGenerationError(str(err).replace(key, "[redacted]"))
    return err


def _describe_api_error(exc: Exception, client: Any, retries: int) -> ImageGenerationError:
    import openai

    where = str(getattr(client, "base_url", "")).rstrip("/")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = _one_line(body.get("message") or exc.message or "no detail")
        code = body.get("code") or getattr(exc, "code", None)
        status = exc.status_code
        if status == 400 and (code in _REFUSAL_CODES or "safety" in detail.lower()
                              or "policy" in detail.lower()):
            return ImageGenerationError(f"OpenAI refused the prompt ({code or 'content policy'}): "
                                        f"{detail}")
        if isinstance(exc, openai.AuthenticationError):
            return ImageGenerationError(f"OpenAI rejected the API key (401): {detail} — check "
                                        "OPENAI_API_KEY")
        if isinstance(exc, openai.RateLimitError):
            return ImageGenerationError(f"rate limited by {where} (429) after {retries} "
                                        f"retries: {detail} — try again later")
        if status >= 500:
            return ImageGenerationError(f"server error at {where} ({status}) after {retries} "
                                        f"retries: {detail}")
        return ImageGenerationError(f"the images API refused the request ({status}"
                                    f"{', ' + code if code else ''}): {detail}")
    if isinstance(exc, openai.APITimeoutError):
        return ImageGenerationError(f"no answer from {where} within the timeout after "
                                    f"{retries} retries")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ImageGenerationError(f"cannot reach {where} after {retries} retries: "
                                    f"{_one_line(str(cause), 160)}")
    return ImageGenerationError(f"the images API call failed: {_one_line(str(exc), 200)}")


def request_images(client: Any, *, model: str, prompt: str, size: str, count: int,
                   retries: int) -> tuple[list[Generated], datetime]:
    """Call the API (the SDK retries 429, 5xx and connection errors) and check every image."""
    import openai

    kwargs: dict[str, Any] = {"model": model, "prompt": prompt, "size": size, "n": count}
    if model.startswith("dall-e"):
        kwargs["response_format"] = "b64_json"  # gpt-image models always answer base64
    try:
        response = client.images.generate(**kwargs)
    except openai.OpenAIError as exc:
        raise _api_error(exc, client, retries) from None
    data = list(getattr(response, "data", None) or [])
    if not data:
        raise ImageGenerationError("the API returned no images; nothing was written")
    images = []
    for i, item in enumerate(data):
        g = decode_image(getattr(item, "b64_json", None), i, requested_size(size))
        images.append(Generated(g.png, g.width_px, g.height_px,
                                getattr(item, "revised_prompt", None)))
    created = getattr(response, "created", None)
    try:
        when = datetime.fromtimestamp(int(created), UTC) if created else datetime.now(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        when = datetime.now(UTC)
    return images, when.replace(microsecond=0)


# --------------------------------------------------------------------------- storage

def write_entries(files: list[tuple[Path, bytes]]) -> None:
    """Write every file to a temp file beside it, check each against its bytes, then rename
    them in order (each PNG before its sidecar). On any error no file is placed or left."""
    temps: list[str] = []
    placed: list[Path] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temps.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for (path, data), tmp in zip(files, temps, strict=True):
            if hashlib.sha256(Path(tmp).read_bytes()).digest() != hashlib.sha256(data).digest():
                raise ImageGenerationError(f"{path.name} did not read back intact; nothing "
                                           "was written")
        for (path, _), tmp in zip(files, temps, strict=True):
            if path.exists():
                continue  # the same bytes under a content-derived name: already there
            os.replace(tmp, path)
            placed.append(path)
    except OSError as exc:
        for path in reversed(placed):  # take back a half-placed batch
            path.unlink(missing_ok=True)
        raise ImageGenerationError(f"cannot write the library: {exc.strerror or exc} "
                                   f"({exc.filename or ''})") from None
    finally:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)


def generate(catalog: Catalog, specimen: str, stain: str | None = None, *,
             model: str = DEFAULT_MODEL, size: str = DEFAULT_SIZE, count: int = 1,
             env: Mapping[str, str] | None = None, timeout_s: float = 300.0,
             max_retries: int = 2, client: Any = None) -> list[LibraryEntry]:
    """Generate `count` illustrations of (specimen, stain) and add them to the library."""
    spec, st = _check_request(catalog, specimen, stain, model, size, count)
    width_um, depicts = depicted_width_um(catalog, spec.id)
    mode = depicted_view(catalog, spec.id).mode
    m = _SIZE.match(size)
    assert m is not None
    prompt = build_prompt(catalog, spec, st, width_um, int(m.group(1)), depicts, mode)
    if client is None:
        client = make_client(os.environ if env is None else env, timeout_s, max_retries)
    images, created = request_images(client, model=model, prompt=prompt, size=size,
                                     count=count, retries=max_retries)
    folder = library_root(catalog.data_dir) / spec.id / st.id
    files: list[tuple[Path, bytes]] = []
    names = []
    for g in images:
        sha = hashlib.sha256(g.png).hexdigest()
        name = f"{created:%Y%m%dT%H%M%SZ}-{sha[:12]}"
        if name in names:
            continue  # the same picture twice
        names.append(name)
        meta = Illustration(
            provenance="ai-illustration", specimen=spec.id, stain=st.id, image=f"{name}.png",
            sha256=sha, width_px=g.width_px, height_px=g.height_px, width_um=round(width_um, 4),
            height_um=round(width_um * g.height_px / g.width_px, 4), depicts=depicts,
            prompt=prompt, revised_prompt=g.revised_prompt, model=model, size=size,
            created=created)
        files.append((folder / f"{name}.png", g.png))
        files.append((folder / f"{name}.json",
                      (meta.model_dump_json(indent=1) + "\n").encode("utf-8")))
    write_entries(files)
    placed = {e.name: e for e in entries(catalog.data_dir, spec.id, st.id)}
    return [placed[n] for n in names]

"""The AI illustration library through the same optics: a synthetic illustration (a dark
quadrant with straight edges through the slide origin) in a temp copy of the data dir.

Edge widths are checked against the incoherent OTF of a circular pupil (Goodman; PHYSICS.md)
with the brightfield condenser (d = 1.22 λ/(NA_obj + NA_cond), i.e. a pupil of
(NA_obj + NA_cond)/2), and defocus against the geometric blur disc it tends to."""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from micro.core import library, memory
from micro.core.catalog import Catalog, default_data_dir
from micro.core.errors import InvalidRequest, NotFound
from micro.core.render import render
from micro.core.requests import canonicalize_microscope
from micro.site.build import catalog_json
from micro.site.plan import plan_defaults

SPECIMEN, STAIN = "cheek-cells", "methylene-blue"
WIDTH_UM = 100.0
N_PX = 1024
DARK_SRGB = (90, 40, 140)


def dark_quadrant(n: int = N_PX) -> np.ndarray:
    """White, with the quadrant x < 0, y < 0 (top left) dark purple."""
    a = np.full((n, n, 3), 255, np.uint8)
    a[: n // 2, : n // 2] = DARK_SRGB
    return a


def add_illustration(data_dir: Path, rgb: np.ndarray, *, name: str = "synthetic",
                     width_um: float = WIDTH_UM, created: str = "2025-01-01T00:00:00Z",
                     specimen: str = SPECIMEN, stain: str = STAIN) -> tuple[Path, str]:
    """Write a PNG and its sidecar the way the library expects; returns (png path, sha256)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    folder = data_dir / "images" / specimen / stain
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.png").write_bytes(data)
    h, w = rgb.shape[:2]
    meta = {"provenance": "ai-illustration", "specimen": specimen, "stain": stain,
            "image": f"{name}.png", "sha256": sha, "width_px": w, "height_px": h,
            "width_um": width_um, "height_um": width_um * h / w, "depicts": "a test pattern",
            "prompt": "synthetic test pattern", "model": "none (synthetic)",
            "size": f"{w}x{h}", "created": created}
    (folder / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder / f"{name}.png", sha


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(default_data_dir(), root, ignore=shutil.ignore_patterns("images"))
    return root


@pytest.fixture()
def lib_catalog(data_dir: Path) -> Catalog:
    add_illustration(data_dir, dark_quadrant())
    return Catalog.load(data_dir)


def view(cat: Catalog, **changes: object):
    params = {"instrument": "student-compound", "specimen": SPECIMEN, "stain": STAIN,
              "objective": 40, "source": "library", "size": 1024, "format": "png"}
    params.update(changes)
    return render(canonicalize_microscope(params, cat), cat)


def axes(result) -> tuple[np.ndarray, np.ndarray, float]:
    """Slide-relative pixel-centre coordinates (µm from the image centre) and pixel size."""
    px = result.info["pixel_size_um"]
    h, w = result.raw.shape[:2]
    return (np.arange(w) + 0.5 - w / 2) * px, (np.arange(h) + 0.5 - h / 2) * px, px


def vertical_edge(result, y_band: tuple[float, float] = (-40, -10),
                  x_shift: float = 0.0) -> tuple[float, float]:
    """(10–90 % width, 50 % position) in µm of the dark→white edge along x, green channel,
    averaged over the rows of y_band (image µm from the centre)."""
    x, y, _ = axes(result)
    g = result.raw[..., 1]
    prof = g[(y > y_band[0]) & (y < y_band[1])].mean(axis=0)
    e = x_shift
    lo = prof[(x > e - 45) & (x < e - 30)].mean()
    hi = prof[(x > e + 30) & (x < e + 45)].mean()
    sel = (x > e - 30) & (x < e + 30)
    p, xs = (prof[sel] - lo) / (hi - lo), x[sel]
    assert np.all(np.diff(p) > -0.05), "edge profile should rise monotonically"
    return float(np.interp(0.9, p, xs) - np.interp(0.1, p, xs)), float(np.interp(0.5, p, xs))


def theory_edge_width_um(na_pupil: float, wavelength_um: float, px_um: float) -> float:
    """10–90 % width of the edge response of an incoherent circular pupil, sampled by pixels
    of px_um (box): ESF = ∫ LSF, LSF = F⁻¹[OTF(ν, 0) · sinc(ν px)]."""
    n, dx = 1 << 16, 0.005
    nu = np.fft.rfftfreq(n, dx)
    s = nu / (2 * na_pupil / wavelength_um)
    sc = np.clip(s, 0, 1)
    otf = np.where(s < 1, (2 / np.pi) * (np.arccos(sc) - sc * np.sqrt(1 - sc * sc)), 0.0)
    lsf = np.fft.fftshift(np.fft.irfft(otf * np.sinc(nu * px_um), n))
    esf = np.cumsum(lsf) / lsf.sum()
    xs = (np.arange(n) - n // 2) * dx
    return float(np.interp(0.9, esf, xs) - np.interp(0.1, esf, xs))


def pupil_na(cat: Catalog, objective: float, aperture: float = 0.75) -> float:
    obj = cat.instruments["student-compound"].objective(objective)
    return (obj.na + aperture * obj.na) / 2


# --------------------------------------------------------------------------- decoding

def test_srgb_png_decodes_to_linear_transmittance() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 255)
    rgba[0, 1] = (128, 128, 128, 255)
    rgba[1, 0] = (0, 0, 0, 0)  # transparent: clear glass
    rgba[1, 1] = (0, 0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    t = library.decode_transmittance(buf.getvalue())
    assert t.shape == (3, 2, 2) and t.dtype == np.float32
    assert t[:, 0, 0] == pytest.approx(1.0)
    # IEC 61966-2-1: 128/255 → ((0.50196 + 0.055) / 1.055)^2.4 = 0.21586
    assert t[:, 0, 1] == pytest.approx(0.21586, abs=1e-4)
    assert t[:, 1, 0] == pytest.approx(1.0)
    assert t[:, 1, 1] == pytest.approx(0.0)


# --------------------------------------------------------------------------- rendering

def test_library_view_is_labelled_and_decodes(lib_catalog: Catalog) -> None:
    r = view(lib_catalog, objective=40)
    assert r.info["provenance"] == "ai-illustration"
    ill = r.info["illustration"]
    png = lib_catalog.data_dir / "images" / SPECIMEN / STAIN / "synthetic.png"
    assert ill["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    assert ill["width_um"] == WIDTH_UM and ill["pixel_size_um"] == pytest.approx(WIDTH_UM / N_PX, rel=1e-4)
    assert r.info["path"].endswith("_library.png")
    img = np.asarray(Image.open(io.BytesIO(r.image)).convert("RGB"), dtype=float)
    assert [img.shape[1], img.shape[0]] == r.info["image_px"]
    # camera FOV = sensor width / (M_obj × adapter) = 3072 × 2.4 µm / (40 × 0.5)
    assert r.info["fov_um"][0] == pytest.approx(3072 * 2.4 / 20, rel=1e-4)
    x, y, _ = axes(r)
    # the dark quadrant sits top left (x < 0, y < 0) and keeps its hue: blue above green
    dark = img[np.ix_((y > -40) & (y < -10), (x > -40) & (x < -10))].mean(axis=(0, 1))
    glass = img[np.ix_((y > 10) & (y < 40), (x > 10) & (x < 40))].mean(axis=(0, 1))
    assert dark[2] > dark[1] and dark[0] > dark[1]
    assert glass.min() > 1.5 * dark.mean()
    assert np.ptp(glass) < 12  # neutral background


@pytest.mark.parametrize("objective", [10, 40, 100])
def test_edge_width_follows_the_objective_na(lib_catalog: Catalog, objective: float) -> None:
    """Green channel (no secondary spectrum): 10–90 % edge width within 20 % of the
    diffraction-limited edge response at the pupil (NA_obj + NA_cond)/2 and the pixel size
    (the slack covers reading the width off pixel samples)."""
    r = view(lib_catalog, objective=objective)
    width, mid = vertical_edge(r)
    _, _, px = axes(r)
    expected = theory_edge_width_um(pupil_na(lib_catalog, objective), 0.540, px)
    assert width == pytest.approx(expected, rel=0.2)
    assert abs(mid) < px / 2  # the edge stays on the slide origin


def test_higher_na_is_sharper_on_the_same_region(lib_catalog: Catalog) -> None:
    widths = [vertical_edge(view(lib_catalog, objective=m))[0] for m in (10, 40, 100)]
    assert widths[0] > 2 * widths[1] > 2 * widths[2] > 0


def test_defocus_blurs_to_the_geometric_blur_disc(lib_catalog: Catalog) -> None:
    """10 µm out of focus at 40×: far beyond the depth of field (1.55 µm), the edge spreads
    over the geometric blur disc, radius R = Δz·tan(asin NA); a disc's edge response rises
    from 10 % to 90 % over 1.24 R (area fraction of a disc cut by a chord)."""
    sharp, mid0 = vertical_edge(view(lib_catalog, objective=40, focus_um=0))
    dz = 10.0
    blurred, mid = vertical_edge(view(lib_catalog, objective=40, focus_um=dz))
    na = pupil_na(lib_catalog, 40)
    radius = dz * math.tan(math.asin(na))
    assert blurred == pytest.approx(1.24 * radius, rel=0.2)
    assert blurred > 5 * sharp
    assert abs(mid - mid0) < 0.5  # defocus blurs, it does not move the edge
    below, _ = vertical_edge(view(lib_catalog, objective=40, focus_um=-dz))
    assert below == pytest.approx(blurred, rel=0.1)


def test_stage_position_moves_the_field(lib_catalog: Catalog) -> None:
    """Moving the stage to (x, y) puts the slide origin at (−x, −y) from the image centre."""
    r = view(lib_catalog, objective=40, x_um=20, y_um=15)
    _, _, px = axes(r)
    _, mid = vertical_edge(r, y_band=(-55, -25), x_shift=-20)
    assert mid == pytest.approx(-20.0, abs=px / 2)
    # the horizontal edge (y = 0 on the slide) along a column band left of the origin
    x, y, _ = axes(r)
    g = r.raw[..., 1]
    prof = g[:, (x > -60) & (x < -30)].mean(axis=1)
    lo = prof[(y > -60) & (y < -45)].mean()
    hi = prof[(y > 15) & (y < 30)].mean()
    sel = (y > -45) & (y < 15)
    p = (prof[sel] - lo) / (hi - lo)
    assert float(np.interp(0.5, p, y[sel])) == pytest.approx(-15.0, abs=px / 2)


def test_outside_the_illustration_is_clear_glass(lib_catalog: Catalog) -> None:
    """Bounded, not tiled: 4× shows the 100 µm illustration once, in a field of clear glass."""
    r = view(lib_catalog, objective=4, size=512)
    x, y, _ = axes(r)
    g = r.raw[..., 1]
    far = g[np.ix_(np.abs(y) > 200, np.abs(x) > 200)]
    centre = g[np.ix_((y > -40) & (y < -10), (x > -40) & (x < -10))]
    assert far.std() / far.mean() < 0.05
    assert centre.mean() < 0.5 * far.mean()
    cover = r.info["illustration"]["covered_fraction"]
    fov = r.info["fov_um"]
    assert cover == pytest.approx(WIDTH_UM**2 / (fov[0] * fov[1]), abs=1e-4)


def test_library_render_is_deterministic(lib_catalog: Catalog) -> None:
    a = view(lib_catalog, objective=40, size=512, format="jpg")
    memory.clear("library.load")
    b = view(lib_catalog, objective=40, size=512, format="jpg")
    assert a.image == b.image
    c = view(lib_catalog, objective=40, size=512, format="jpg", light_pct=61)
    assert c.image != a.image


def test_eyepiece_and_stereo_views(data_dir: Path) -> None:
    add_illustration(data_dir, dark_quadrant(256), width_um=400.0)
    cat = Catalog.load(data_dir)
    eye = view(cat, objective=10, view="eyepiece", size=256)
    assert eye.info["provenance"] == "ai-illustration"
    assert eye.info["raw_unit"] == "eye-normalized intensity"
    x, y, _ = axes(eye)
    g = eye.raw[..., 1]
    dark = g[np.ix_((y > -150) & (y < -50), (x > -150) & (x < -50))].mean()
    glass = g[np.ix_((y > 50) & (y < 150), (x > 50) & (x < 150))].mean()
    # green transmittance of the dark quadrant: sRGB 40/255 → linear 0.0212
    assert dark / glass == pytest.approx(0.0212, abs=0.01)
    stereo = render(canonicalize_microscope({"instrument": "stereo-zoom", "specimen": SPECIMEN,
                                             "stain": STAIN, "mode": "stereo",
                                             "source": "library", "size": 256}, cat), cat)
    assert stereo.info["provenance"] == "ai-illustration"
    img = np.asarray(Image.open(io.BytesIO(stereo.image)).convert("RGB"))
    assert img.shape[1] == 256


# --------------------------------------------------------------------------- errors

def test_no_image_is_not_found_not_a_fallback(data_dir: Path) -> None:
    cat = Catalog.load(data_dir)
    with pytest.raises(NotFound) as err:
        view(cat)
    assert err.value.field == "source" and err.value.allowed == ["procedural"]
    assert "micro images generate --specimen cheek-cells --stain methylene-blue" in str(err.value)


def test_corrupt_image_is_absent_and_reported(data_dir: Path) -> None:
    png, _ = add_illustration(data_dir, dark_quadrant(128), name="corrupt")
    png.write_bytes(png.read_bytes()[:-40])  # a partial download
    cat = Catalog.load(data_dir)
    with pytest.raises(NotFound, match="SHA-256 mismatch"):
        view(cat, size=256)
    # an older verified image is used instead; the bad one is listed with its reason
    _, good_sha = add_illustration(data_dir, dark_quadrant(128), name="older",
                                   created="2024-01-01T00:00:00Z")
    cat = Catalog.load(data_dir)
    assert view(cat, size=256).info["illustration"]["sha256"] == good_sha
    found = {e.name: e for e in library.entries(data_dir)}
    assert found["older"].ok and not found["corrupt"].ok
    assert "SHA-256" in (found["corrupt"].problem or "")


def test_newest_verified_illustration_wins(data_dir: Path) -> None:
    add_illustration(data_dir, dark_quadrant(128), name="a", created="2024-01-01T00:00:00Z")
    _, newest = add_illustration(data_dir, 255 - dark_quadrant(128), name="b",
                                 created="2025-06-01T00:00:00Z")
    cat = Catalog.load(data_dir)
    assert view(cat, size=256).info["illustration"]["sha256"] == newest


def test_modes_without_a_colour_meaning_are_rejected(lib_catalog: Catalog) -> None:
    """Refused when the request is canonicalized, so no canonical URL exists that could never
    render (the browser's canonicalizer applies the same rule)."""
    for mode in ("phase-contrast", "dic", "polarized", "darkfield"):
        with pytest.raises(InvalidRequest) as err:
            canonicalize_microscope({"instrument": "research-upright", "specimen": SPECIMEN,
                                     "stain": STAIN, "mode": mode, "source": "library"},
                                    lib_catalog)
        assert err.value.field == "mode" and "brightfield" in err.value.allowed


# --------------------------------------------------------------------------- key space, plan

def test_library_content_is_part_of_the_version(data_dir: Path) -> None:
    before = canonicalize_microscope({"instrument": "student-compound", "specimen": SPECIMEN,
                                      "source": "library"}, Catalog.load(data_dir))
    add_illustration(data_dir, dark_quadrant(64))
    after = canonicalize_microscope({"instrument": "student-compound", "specimen": SPECIMEN,
                                     "source": "library"}, Catalog.load(data_dir))
    assert before.version != after.version
    assert before.path().split("/", 2)[2] == after.path().split("/", 2)[2]


def test_build_plans_library_views_only_when_the_library_has_images(data_dir: Path) -> None:
    empty = plan_defaults(Catalog.load(data_dir), "quick")
    assert not [p for p in empty.requests if p.endswith("_library.jpg")]
    add_illustration(data_dir, dark_quadrant(64))
    png, _ = add_illustration(data_dir, dark_quadrant(64), specimen="liver-he", stain="he")
    png.write_bytes(b"not a png")  # unverifiable: not planned
    cat = Catalog.load(data_dir)
    plan = plan_defaults(cat, "quick")
    lib = [r for r in plan.requests.values() if getattr(r, "source", "") == "library"]
    mags = sorted(o.magnification for o in cat.instruments["student-compound"].objectives)
    assert sorted(r.objective for r in lib) == mags
    assert {(r.specimen, r.stain, r.mode) for r in lib} == {(SPECIMEN, STAIN, "brightfield")}
    for r in lib[:1]:
        assert render(r, cat).info["provenance"] == "ai-illustration"


def test_site_catalog_lists_only_verified_illustrations(data_dir: Path) -> None:
    assert all(not s["illustrated_stains"]
               for s in catalog_json(Catalog.load(data_dir), "v")["specimens"].values())
    add_illustration(data_dir, dark_quadrant(64))
    png, _ = add_illustration(data_dir, dark_quadrant(64), specimen="liver-he", stain="he")
    png.write_bytes(b"not a png")  # fails verification: the lab must not offer it
    specimens = catalog_json(Catalog.load(data_dir), "v")["specimens"]
    assert {sid: s["illustrated_stains"] for sid, s in specimens.items()
            if s["illustrated_stains"]} == {SPECIMEN: [STAIN]}


def test_core_library_imports_no_edge_library() -> None:
    code = ("import sys, micro.core.library\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('openai', 'click', 'fastapi', 'starlette', 'boto3', 'jinja2')]\n"
            "print(','.join(sorted(bad)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def _core_imports() -> dict[str, set[str]]:
    """micro.core's import graph from the source: every import statement (module level or
    inside a function; `if TYPE_CHECKING:` blocks excluded), `from pkg import submodule`
    counted as an edge to the submodule."""
    import ast

    src = Path(library.__file__).resolve().parents[1]
    mods: dict[str, Path] = {}
    for p in (src / "core").rglob("*.py"):
        parts = list(p.relative_to(src.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {id(n) for t in ast.walk(tree) if isinstance(t, ast.If)
                and "TYPE_CHECKING" in ast.unparse(t.test) for n in ast.walk(t)}
        deps: set[str] = set()
        for n in ast.walk(tree):
            if id(n) in skip:
                continue
            if isinstance(n, ast.Import):
                deps |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                subs = {f"{n.module}.{a.name}" for a in n.names} & set(mods)
                deps |= subs | ({n.module} if len(subs) < len(n.names) else set())
        graph[name] = (deps & set(mods)) - {name}
    return graph


def test_the_library_and_the_pipeline_form_no_import_loop() -> None:
    """The pipeline renders library views; the library only stores pictures: nothing the
    library imports leads back to the pipeline, and the core has no import cycle at all."""
    graph = _core_imports()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for d in graph[todo.pop()] - seen:
                seen.add(d)
                todo.append(d)
        return seen

    assert "micro.core.microscope.pipeline" not in reach("micro.core.library")
    loops = sorted(m for m in graph if m in reach(m))
    assert loops == [], f"import cycles through {loops}"


def test_after_the_scene_a_library_view_is_the_procedural_pipeline(data_dir: Path) -> None:
    """A white illustration is clear glass: its signal (slide artefacts, lamp, optics) equals
    that of the same request's procedural pipeline given an empty scene of the same window."""
    from micro.core.microscope.pipeline import simulate
    from micro.core.microscope.scene import Layer, Scene

    add_illustration(data_dir, np.full((64, 64, 3), 255, np.uint8), width_um=400.0)
    cat = Catalog.load(data_dir)
    params = {"instrument": "student-compound", "specimen": SPECIMEN, "stain": STAIN,
              "objective": 10, "size": 256}
    lib_req = canonicalize_microscope({**params, "source": "library"}, cat)
    s, scene, lib, _ = simulate(lib_req, cat)
    assert scene.layers[0].amounts  # the picture is the scene: one absorbance layer
    empty = Scene(scene.window, [Layer(scene.layers[0].z_um, {}, None, s.shape)], {},
                  scene.medium_n)
    _, _, proc, _ = simulate(canonicalize_microscope(params, cat), cat, scene=empty)
    assert lib.values.shape == proc.values.shape
    np.testing.assert_allclose(lib.values, proc.values, atol=1e-4)
    assert proc.values.min() < 0.95  # the slide's dust and debris are in both

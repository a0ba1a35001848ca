"""Stain colours against the REALISM.md table, and the slide and camera around them.

Each reference structure is rendered as a purpose-built specimen — one layer holding that
structure class at the amount the specimen draws one of them at (1, its typical amount; red
cells of a tissue section at the section's haemoglobin path) over the whole field, in focus —
through the real pipeline (Beer–Lambert, lamp, camera, white balance, display) with the default student
microscope and camera; the decoded image's median colour at the centre is compared with the
table by CIEDE2000 (scikit-image)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import deltaE_ciede2000, hed_from_rgb, rgb2lab

from micro.core.catalog import Catalog, default_catalog
from micro.core.microscope import flatfield, slide
from micro.core.microscope.display import finish, to_linear_rgb
from micro.core.microscope.generators.histology import (
    haemoglobin_path,
    pack_red_cells,
    packed_lumen,
)
from micro.core.microscope.lattice import Window
from micro.core.microscope.pipeline import render_microscope_request, simulate
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import make_ctx
from micro.core.microscope.scene import Layer, Scene
from micro.core.microscope.setup import make_setup
from micro.core.requests import canonicalize_microscope

# (stain, a specimen that uses it, structure class, REALISM.md colour)
TABLE = [
    ("wright", "blood-smear", "rbc", (225, 150, 145)),
    ("wright", "blood-smear", "nucleus", (95, 55, 125)),  # neutrophil nucleus
    ("wright", "blood-smear", "cytoplasm", (225, 200, 215)),  # neutrophil cytoplasm
    ("wright", "blood-smear", "nucleus", (80, 55, 130)),  # lymphocyte nucleus
    ("wright", "blood-smear", "cytoplasm-basophilic", (170, 190, 230)),  # lymphocyte rim
    ("wright", "blood-smear", "eosinophil-granule", (230, 120, 80)),
    ("wright", "blood-smear", "basophil-granule", (50, 40, 90)),
    ("wright", "blood-smear", "platelet", (150, 100, 170)),
    ("giemsa", "blood-smear", "rbc", (225, 150, 145)),
    ("giemsa", "blood-smear", "nucleus", (95, 55, 125)),
    ("giemsa", "blood-smear", "eosinophil-granule", (230, 120, 80)),
    ("gram", "gram-mixed", "gram-positive-bacterium", (75, 40, 120)),
    ("gram", "gram-mixed", "gram-negative-bacterium", (225, 110, 140)),
    ("ziehl-neelsen", "mycobacterium-sputum", "acid-fast-bacterium", (210, 60, 110)),
    ("ziehl-neelsen", "mycobacterium-sputum", "mucus", (120, 150, 210)),  # blue background
    ("endospore", "bacillus-endospores", "endospore", (60, 160, 110)),
    ("endospore", "bacillus-endospores", "gram-positive-bacterium", (225, 110, 140)),
    ("methylene-blue", "cheek-cells", "nucleus", (50, 80, 170)),
    ("methylene-blue", "cheek-cells", "cytoplasm", (150, 180, 225)),
    ("he", "liver-he", "nucleus", (80, 60, 140)),
    ("he", "liver-he", "cytoplasm", (235, 150, 190)),
    ("he", "liver-he", "collagen", (235, 150, 190)),
    ("he", "liver-he", "rbc", (225, 80, 90)),  # at the section's haemoglobin path
    ("masson-trichrome", "liver-fibrosis", "collagen", (70, 110, 190)),
    ("masson-trichrome", "liver-fibrosis", "cytoplasm", (200, 60, 80)),
    ("masson-trichrome", "liver-fibrosis", "nucleus", (60, 40, 50)),
    ("safranin-fast-green", "dicot-stem", "lignified-wall", (200, 40, 70)),
    ("safranin-fast-green", "dicot-stem", "plant-cell-wall", (60, 150, 140)),
    ("iodine", "potato-starch", "starch-grain", (40, 40, 70)),
    ("iodine", "onion-epidermis", "cytoplasm", (230, 210, 160)),
    ("cresyl-violet", "spinal-cord", "nissl", (110, 70, 160)),
    ("aceto-orcein", "onion-root-tip", "chromosome", (120, 40, 70)),
]
MAX_DELTA_E = 10.0


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return default_catalog()


def drawn_amount(cat: Catalog, specimen: str, cls: str) -> float:
    """The amount `specimen` draws one structure of `cls` at: 1 (its typical amount), but the
    red cells of a tissue section (a population with an 'rbc' part: histology.red_cells) at
    the section's haemoglobin path, the generators' own rule."""
    spec = cat.specimens[specimen]
    if any(p.classes.get("rbc") == cls for p in spec.populations):
        return haemoglobin_path(spec.thickness_um, cat.structures[cls].thickness_um)
    return 1.0


def swatch(cat: Catalog, stain: str, specimen: str, cls: str, amount: float = 1.0,
           **kw: object) -> np.ndarray:
    """Median sRGB (0–255) of the central 64² of a square of one structure class (at
    `amount`) on glass."""
    params: dict[str, object] = dict(instrument="student-compound", specimen=specimen,
                                     stain=stain, objective=40, size=256, x_um=5000.0,
                                     y_um=5000.0)
    params.update(kw)
    req = canonicalize_microscope(params, cat)
    s = make_setup(req, cat)
    h, w = s.shape
    patch = np.zeros((h, w), dtype=np.float32)  # the structure in the middle, glass around
    patch[h // 4:3 * h // 4, w // 4:3 * w // 4] = amount  # (the glass sets the auto-exposure)
    layer = Layer(s.focus_um, {cls: patch}, None, (h, w), patch.reshape(1, -1))
    scene = Scene(s.window, [layer], {}, s.specimen.medium_refractive_index)
    s, _, signal, det = simulate(req, cat, scene=scene)
    img = finish(to_linear_rgb(det, signal, s), signal, s).astype(np.float64)
    cy, cx = img.shape[0] // 2, img.shape[1] // 2
    return np.median(img[cy - 32:cy + 32, cx - 32:cx + 32].reshape(-1, 3), axis=0)


def delta_e(a: np.ndarray, b: tuple[int, int, int]) -> float:
    la = rgb2lab(np.asarray(a, dtype=np.float64).reshape(1, 1, 3) / 255.0)
    lb = rgb2lab(np.asarray(b, dtype=np.float64).reshape(1, 1, 3) / 255.0)
    return float(deltaE_ciede2000(la, lb)[0, 0])


@pytest.mark.parametrize(("stain", "specimen", "cls", "target"), TABLE,
                         ids=[f"{t[0]}-{t[2]}-{i}" for i, t in enumerate(TABLE)])
def test_structure_colour_matches_the_table(cat: Catalog, stain: str, specimen: str,
                                            cls: str, target: tuple[int, int, int]) -> None:
    got = swatch(cat, stain, specimen, cls, drawn_amount(cat, specimen, cls))
    assert delta_e(got, target) <= MAX_DELTA_E, (stain, cls, got.tolist(), target)


def test_he_red_cells_take_their_orange_from_a_section_of_haemoglobin(cat: Catalog) -> None:
    """H&E red cells get their red-orange (table: 225, 80, 90) from haemoglobin, which absorbs
    the blue the Ruifrok–Johnston eosin vector leaves (eosin 0.11 blue OD per unit, one flat
    red cell's haemoglobin 0.32; the table needs ~0.9). In a 5 µm section a ray crosses red
    cells packed and tilted in a lumen over about the section's thickness — 2.3 flat cells
    (`haemoglobin_path`), which reaches the table (the table test checks ΔE ≤ 10); one flat
    cell's haemoglobin, as in a smear, stays a paler crimson-pink beyond ΔE 10 with any
    eosin uptake (best 16.6). In a section they are red (R far above G), and darker and more
    saturated than eosin-pink cytoplasm."""
    spec = cat.specimens["liver-he"]
    path = haemoglobin_path(spec.thickness_um, cat.structures["rbc"].thickness_um)
    assert path == pytest.approx(5.0 / 2.2)  # the section (5 µm) over a cell's 2.2 µm
    assert drawn_amount(cat, "blood-smear", "rbc") == 1.0  # a smear's monolayer: one cell
    rbc = swatch(cat, "he", "liver-he", "rbc", path)
    one_cell = swatch(cat, "he", "liver-he", "rbc", 1.0)
    cyto = swatch(cat, "he", "liver-he", "cytoplasm")
    assert rbc[0] > 200 and rbc[0] - rbc[1] > 90
    assert rbc[1] < cyto[1] and rbc[2] < cyto[2]
    assert delta_e(rbc, (225, 80, 90)) < delta_e(one_cell, (225, 80, 90)) - 5
    assert delta_e(one_cell, (225, 80, 90)) > MAX_DELTA_E


def _scene_amounts(cat: Catalog, specimen: str, objective: float, **kw: object
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class amounts on the image's pixels (summed over depth layers) and the decoded PNG."""
    req = canonicalize_microscope(dict(instrument="student-compound", specimen=specimen,
                                       objective=objective, size=512, format="png", **kw), cat)
    s, scene, _sig, _det = simulate(req, cat)
    amounts: dict[str, np.ndarray] = {}
    for layer in scene.layers:
        for c, a in layer.amounts.items():
            a = np.asarray(s.crop(np.asarray(a).reshape(layer.shape)), dtype=np.float64)
            amounts[c] = amounts.get(c, 0.0) + a
    img = render_microscope_request(req, cat).image
    return amounts, np.asarray(Image.open(io.BytesIO(img)).convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize(("specimen", "objective"),
                         [("blood-smear", 100), ("liver-he", 40), ("kidney-cortex", 40)])
def test_red_cells_are_one_cell_thick_in_a_smear_and_a_section_thick_in_tissue(
        cat: Catalog, specimen: str, objective: float) -> None:
    """A smear's red cells lie flat in a monolayer: one cell's haemoglobin (amount ≈ 1 over
    a cell, the biconcave profile's mean). A section's red cells are drawn at the section's
    path (5 µm / 2.2 µm ≈ 2.3): the median over the drawn red-cell pixels is that path within
    the profile's pallor and edges and the section's ±12 % thickness; the two ranges do not
    overlap, so the rule is applied to sections only."""
    amounts, _ = _scene_amounts(cat, specimen, objective)
    rbc = amounts["rbc"]
    expect = drawn_amount(cat, specimen, "rbc")
    assert expect == (1.0 if specimen == "blood-smear" else pytest.approx(5.0 / 2.2))
    on = rbc > 0.1
    assert on.sum() > 200
    median = float(np.median(rbc[on]))
    assert 0.6 * expect <= median <= 1.3 * expect, (specimen, median, expect)


@pytest.mark.parametrize("specimen", ["kidney-cortex", "lung"])
def test_red_cells_in_a_tissue_render_match_the_table(cat: Catalog, specimen: str) -> None:
    """In an H&E render at 40× (the real pipeline, decoded PNG), the pixels well inside red
    cells — the scene's red-cell amount at ≥ 80 % of the section's path, little else there,
    two pixels in from the edge so the optics' blur does not mix in neighbours — are within
    ΔE2000 10 of the table's red-orange, and redder and darker than eosin-pink cytoplasm."""
    amounts, img = _scene_amounts(cat, specimen, 40, stain="he")
    path = drawn_amount(cat, specimen, "rbc")
    rbc = amounts["rbc"]
    other = sum(v for c, v in amounts.items() if c != "rbc")
    red = ndimage.binary_erosion((rbc > 0.8 * path) & (other < 0.2), iterations=2)
    cyto = amounts["cytoplasm"]
    pink = ndimage.binary_erosion((cyto > 0.8) & (rbc < 0.01) & (other - cyto < 0.1),
                                  iterations=2)
    assert red.sum() > 50 and pink.sum() > 50
    got = np.median(img[red], axis=0)
    assert delta_e(got, (225, 80, 90)) <= MAX_DELTA_E, got.tolist()
    pale = np.median(img[pink], axis=0)
    assert got[0] - got[1] > pale[0] - pale[1] + 30  # redder
    assert got.sum() < pale.sum() - 100  # darker


def test_a_packed_lumen_holds_one_section_of_haemoglobin(cat: Catalog) -> None:
    """Red cells packed in a vessel overlap in projection, yet a ray through them crosses no
    more haemoglobin than the section is thick: after `pack_red_cells` the map is at most the
    section's path, and the lumen is full (most of it at half the path or more), not a few
    sparse discs. A thicker section reaches no deeper than a capillary, one cell across."""
    spec = cat.specimens["skin-thick"]
    pop = next(p for p in spec.populations if p.classes.get("rbc"))
    canvas = Canvas(Window(0.0, 0.0, 0.25, 240, 240), [0.0], cat.structures)
    ctx = make_ctx(spec, pop, canvas.window, canvas)
    path = haemoglobin_path(spec.thickness_um, cat.structures["rbc"].thickness_um)
    packed_lumen(canvas, ctx, np.array([0.0]), np.array([0.0]), np.array([25.0]),
                 np.array([1.0]), 0.0)
    amount = canvas.amounts[(0, "rbc")].reshape(240, 240)
    assert amount.max() > 1.3 * path  # neighbours overlap before packing
    pack_red_cells(canvas, ctx, 0)
    assert amount.max() == pytest.approx(path, rel=1e-6)
    yy, xx = (np.mgrid[0:240, 0:240] - 119.5) * 0.25
    lumen = np.hypot(xx, yy) < 20.0
    assert np.mean(amount[lumen] > 0.5 * path) > 0.75
    assert haemoglobin_path(10.0, 2.2) == pytest.approx(7.5 / 2.2)  # fat: capillary-deep
    assert haemoglobin_path(1.0, 2.2) == 1.0  # never less than one cell


def test_gram_positive_darker_than_gram_negative(cat: Catalog) -> None:
    pos = swatch(cat, "gram", "gram-mixed", "gram-positive-bacterium")
    neg = swatch(cat, "gram", "gram-mixed", "gram-negative-bacterium")
    lpos = rgb2lab(pos.reshape(1, 1, 3) / 255.0)[0, 0, 0]
    lneg = rgb2lab(neg.reshape(1, 1, 3) / 255.0)[0, 0, 0]
    assert lpos < lneg - 20  # deep violet against pink-red
    assert pos[2] > pos[0] > pos[1]  # violet: blue over red over green
    assert neg[0] > neg[2] > neg[1]  # pink-red


def test_unstained_red_cells_stay_straw_coloured(cat: Catalog) -> None:
    """Haemoglobin alone absorbs blue more than green more than red: pale straw-yellow."""
    r, g, b = swatch(cat, "none", "blood-smear", "rbc")
    assert r > g > b and r - b > 20


# --------------------------------------------------------------------------- lamp and camera

def blank(cat: Catalog, **kw: object) -> np.ndarray:
    """Decoded PNG (float RGB) of an empty field: the stage micrometer's clear glass."""
    params: dict[str, object] = dict(instrument="student-compound", specimen="stage-micrometer",
                                     objective=10, x_um=0.0, y_um=-2000.0, size=512,
                                     format="png")
    params.update(kw)
    req = canonicalize_microscope(params, cat)
    data = render_microscope_request(req, cat).image
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def test_dimming_a_halogen_lamp_warms_the_image(cat: Catalog) -> None:
    """White balance is set at the default lamp level: full light is neutral-cool, dimmed
    light is warmer (R/B rises) — the halogen filament runs cooler."""
    kw = dict(instrument="dic-microscope", mode="brightfield", objective=20)
    ratios = []
    for level in (100, 60, 20):
        img = blank(cat, light_pct=level, **kw)
        c = img[img.shape[0] // 2 - 40:img.shape[0] // 2 + 40,
                img.shape[1] // 2 - 40:img.shape[1] // 2 + 40].reshape(-1, 3).mean(axis=0)
        ratios.append(c[0] / c[2])
    assert ratios[0] < ratios[1] < ratios[2]
    assert ratios[1] == pytest.approx(1.0, abs=0.04)  # balanced at the default level
    assert ratios[2] > 1.15


def test_led_lamp_keeps_its_colour_when_dimmed(cat: Catalog) -> None:
    light = cat.instruments["student-compound"].light  # type: ignore[union-attr]
    assert np.allclose(flatfield.lamp_weights(light, 0.1), flatfield.lamp_weights(light, 1.0))


def test_corners_are_darker_than_the_centre_by_a_few_percent(cat: Catalog) -> None:
    from micro.core.microscope.display import _srgb_lut

    img = blank(cat) / 255.0
    lut = _srgb_lut()
    linear = np.interp(img, lut, np.linspace(0.0, 1.0, lut.size))
    h, w = linear.shape[:2]
    centre = np.median(linear[h // 2 - 20:h // 2 + 20, w // 2 - 20:w // 2 + 20])
    corners = [np.median(linear[:12, :12]), np.median(linear[:12, -12:]),
               np.median(linear[-12:, :12]), np.median(linear[-12:, -12:])]
    for c in corners:
        assert 0.85 < c / centre < 0.99
    assert img.std() > 0.002  # blank glass is no longer one flat grey


def _light_over_signal(cat: Catalog, **kw: object) -> np.ndarray:
    """What the camera adds to the optics: detected light / noise-free signal, grey."""
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="stage-micrometer",
                                       objective=10, y_um=-2000.0, size=256, **kw), cat)
    s, _, sig, det = simulate(req, cat)
    return (det.values.sum(axis=0) / np.maximum(sig.values.sum(axis=0), 1e-6))


def test_camera_dust_stays_put_while_the_stage_moves(cat: Catalog) -> None:
    a = _light_over_signal(cat, x_um=0.0)
    b = _light_over_signal(cat, x_um=250.0)
    a /= np.median(a)
    b /= np.median(b)
    assert a.min() < 0.97  # there is dust to see
    k = np.unravel_index(np.argmin(a), a.shape)
    assert b[k] == pytest.approx(a[k], abs=0.01)  # the same speck, at the same pixel
    assert np.abs(a - b).mean() < 0.005


def _slide_signal(cat: Catalog, **kw: object) -> np.ndarray:
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="stage-micrometer",
                                       objective=10, y_um=-2000.0, size=512, **kw), cat)
    _, _, sig, _ = simulate(req, cat)
    return sig.values.mean(axis=0)


def test_slide_dust_moves_with_the_stage_and_defocuses(cat: Catalog) -> None:
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="stage-micrometer",
                                       objective=10, y_um=-2000.0, size=512), cat)
    px = make_setup(req, cat).px_um
    shift = 40  # pixels
    a = _slide_signal(cat, x_um=0.0)
    b = _slide_signal(cat, x_um=shift * px)
    assert a.min() < 0.95  # debris in view
    # the stage moved right by `shift` pixels: what was at column j + shift is now at j
    assert np.allclose(a[:, shift:], b[:, :-shift], atol=2e-3)
    # raising the focus onto the coverslip's top surface sharpens its dust
    top = _slide_signal(cat, x_um=0.0, focus_um=slide.COVERSLIP_UM)
    contrast_at = {name: float(1.0 - v.min()) for name, v in (("specimen", a), ("cover", top))}
    assert np.abs(top - a).max() > 0.02
    assert contrast_at["cover"] != pytest.approx(contrast_at["specimen"], abs=1e-3)


def test_coverslip_dust_sharpens_when_focused_on(cat: Catalog) -> None:
    """Each particle of coverslip dust is narrower and deeper with the focus on the coverslip's
    top surface than on the specimen, and keeps its absorbed area (amplitude × σ²)."""
    req = canonicalize_microscope(dict(instrument="student-compound", specimen="stage-micrometer",
                                       objective=10, y_um=-2000.0, size=512), cat)
    s = make_setup(req, cat)
    kind = slide.KINDS[0]
    assert kind.name == "coverslip-dust"
    seed = slide.population_seed(s.specimen.seed, "slide-artefacts")
    tan_cone = float(np.tan(np.arcsin((s.na + s.na_condenser) / 2 / 1.515)))
    on = slide._blobs(kind, s.window, seed, slide.COVERSLIP_UM, 0.3, tan_cone)
    off = slide._blobs(kind, s.window, seed, 0.0, 0.3, tan_cone)
    assert on is not None and off is not None
    by_pos = {(round(x, 6), round(y, 6)): (sg, a) for x, y, sg, a in zip(*off, strict=True)}
    pairs = [(sg, a, *by_pos[(round(x, 6), round(y, 6))])
             for x, y, sg, a in zip(*on, strict=True) if (round(x, 6), round(y, 6)) in by_pos]
    assert len(pairs) >= 3
    for sg_on, a_on, sg_off, a_off in pairs:
        assert sg_on < sg_off and a_on > a_off
        assert a_on * sg_on**2 == pytest.approx(a_off * sg_off**2, rel=1e-6)


HE_SPECIMENS = ["liver-he", "kidney-cortex", "skin-thick", "lung", "small-intestine",
                "adipose", "cardiac-muscle"]
MAX_DAB = 0.05
"""PHYSICS.md: an H&E image decomposes (rgb2hed) into H and E with a near-zero DAB residual;
near zero here is |D| ≤ 5 % of |H| + |E|."""


def _decoded_and_blank(cat: Catalog, req: object, scene: Scene | None = None
                       ) -> tuple[np.ndarray, np.ndarray, Scene, object]:
    """The decoded 8-bit image of `req` (its own scene, or `scene`) and of the same field with
    nothing on the slide at the same exposure: the background every colour deconvolution
    divides by (it takes out the lamp, the white balance and the camera's vignetting)."""
    s, sc, signal, det = simulate(req, cat, scene=scene)  # type: ignore[arg-type]
    img = finish(to_linear_rgb(det, signal, s), signal, s).astype(np.float64)
    h, w = s.shape
    empty = Scene(s.window, [Layer(s.focus_um, {}, None, (h, w), None)], {},
                  s.specimen.medium_refractive_index)
    blank_req = req.replace(cat, exposure_ms=det.exposure_ms)  # type: ignore[attr-defined]
    s0, _, signal0, det0 = simulate(blank_req, cat, scene=empty)
    blank = finish(to_linear_rgb(det0, signal0, s0), signal0, s0).astype(np.float64)
    return img, blank, sc, s


def _hed(img: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """(…, 3) H, E, DAB amounts (scikit-image's Ruifrok–Johnston hed_from_rgb) of the
    background-corrected optical density of a decoded image."""
    od = -np.log10(np.clip(img / np.maximum(blank, 1.0), 1.0 / 255.0, None))
    return od @ hed_from_rgb


def _he_classes(cat: Catalog) -> list[str]:
    """Structure classes an H&E slide draws that take up haematoxylin or eosin."""
    drawn = {c for sid in HE_SPECIMENS for p in cat.specimens[sid].populations
             for c in p.classes.values()}
    return sorted({a.structure for a in cat.stains["he"].affinities} & drawn)


def test_he_structures_unmix_into_h_and_e_alone(cat: Catalog) -> None:
    """A uniform patch of every structure an H&E slide draws (at its drawn amount) unmixes
    into haematoxylin and eosin with |DAB| ≤ 5 % of |H| + |E| — red cells apart: their own
    haemoglobin (which absorbs the blue eosin leaves) is what makes them red-orange, and it
    is not an H&E dye."""
    classes = [c for c in _he_classes(cat) if c != "rbc"]
    assert {"nucleus", "cytoplasm", "collagen", "muscle-fiber", "keratin"} <= set(classes)
    for cls in classes:
        req = canonicalize_microscope(dict(instrument="student-compound", specimen="liver-he",
                                           stain="he", objective=40, size=256, x_um=5000.0,
                                           y_um=5000.0), cat)
        s = make_setup(req, cat)
        h, w = s.shape
        patch = np.zeros((h, w), dtype=np.float32)
        patch[h // 4:3 * h // 4, w // 4:3 * w // 4] = drawn_amount(cat, "liver-he", cls)
        layer = Layer(s.focus_um, {cls: patch}, None, (h, w), patch.reshape(1, -1))
        scene = Scene(s.window, [layer], {}, s.specimen.medium_refractive_index)
        img, blank, _, _ = _decoded_and_blank(cat, req, scene)
        cy, cx = img.shape[0] // 2, img.shape[1] // 2
        centre = (slice(cy - 32, cy + 32), slice(cx - 32, cx + 32))
        H, E, D = _hed(img[centre].reshape(-1, 3).mean(axis=0),
                       blank[centre].reshape(-1, 3).mean(axis=0))
        assert abs(D) <= MAX_DAB * (abs(H) + abs(E)), (cls, H, E, D)


@pytest.mark.parametrize("objective", [10, 40])
@pytest.mark.parametrize("specimen", HE_SPECIMENS)
def test_he_renders_unmix_into_h_and_e_alone(cat: Catalog, specimen: str,
                                             objective: float) -> None:
    """A whole H&E render (the real pipeline: optics, lamp, camera, sRGB), background-
    corrected by the empty slide and unmixed with scikit-image's hed_from_rgb: over the
    stained pixels, red cells left out (the scene's red-cell map grown by the Airy radius),
    the mean |DAB| stays within 5 % of the mean |H| + |E|. A paraffin section is cleared:
    its water is replaced by the mountant, so refraction and scattering — which take every
    colour alike and unmix as DAB — all but vanish (before, grey edges at every nucleus and
    cell border gave 0.09 to 0.31)."""
    req = canonicalize_microscope(dict(instrument="student-compound", specimen=specimen,
                                       stain="he", objective=objective, size=512), cat)
    img, blank, scene, s = _decoded_and_blank(cat, req)
    rbc = np.zeros(img.shape[:2])
    for layer in scene.layers:
        if "rbc" in layer.amounts:
            rbc += s.crop(np.asarray(layer.amounts["rbc"]).reshape(layer.shape))
    airy = int(np.ceil(0.61 * 0.55 / s.na / s.px_um))
    red = ndimage.binary_dilation(rbc > 0.05, iterations=airy)
    hed = _hed(img, blank)
    stained = (hed[..., 0] + hed[..., 1] > 0.05) & ~red
    assert stained.sum() > 1000  # (fat at 10×: thin walls round empty cells, ~1 %)
    H, E, D = np.abs(hed[stained]).mean(axis=0)
    assert D <= MAX_DAB * (H + E), (specimen, objective, H, E, D)

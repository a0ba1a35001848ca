"""The specimen library: every slide renders at every objective, stain and recommended mode;
stains act by structure class; the slide is parcentric; sizes and depths are physical.

Colours and sizes are measured on renders with the masks the generators expose
(`scene.labels`), never compared with hard-coded pixel values."""

from __future__ import annotations

import colorsys
import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.measure import regionprops

from micro.core.catalog import Catalog, default_catalog
from micro.core.microscope.pipeline import simulate
from micro.core.models import MicroscopeInstrument
from micro.core.render import render
from micro.core.requests import canonicalize_microscope

REQUIRED = (
    "stage-micrometer", "usaf-1951", "fluorescent-beads", "cheek-cells", "gram-mixed",
    "liver-he", "blood-smear", "sickle-cell-blood", "malaria-falciparum",
    "bacillus-endospores", "mycobacterium-sputum", "budding-yeast", "pond-water",
    "skin-thick", "small-intestine", "kidney-cortex", "lung", "skeletal-muscle",
    "cardiac-muscle", "compact-bone", "hyaline-cartilage", "spinal-cord", "adipose",
    "liver-fibrosis", "onion-epidermis", "onion-root-tip", "elodea-leaf", "potato-starch",
    "pollen-mixed", "pollen-sem", "dicot-stem", "cultured-cells-fluorescence", "gfp-neurons",
    "granite-thin-section", "crystals-polarized", "compound-eye-sem", "diatom-frustule-sem",
    "tem-cell-ultrastructure", "dna-afm",
)


def _request(catalog: Catalog, specimen: str, **params: object):
    spec = catalog.specimens[specimen]
    base = {"instrument": spec.recommended.instrument, "specimen": specimen,
            "objective": spec.recommended.objective, "mode": spec.recommended.modes[0],
            "stain": spec.default_stain, "size": 256, "format": "png", "scale_bar": "off"}
    base.update(params)
    return canonicalize_microscope(base, catalog)


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def _sim(catalog: Catalog, specimen: str, **params: object):
    """Setup, cropped labels and the decoded image of one view."""
    req = _request(catalog, specimen, **params)
    s, scene, _signal, _det = simulate(req, catalog)
    labels = {k: np.asarray(s.crop(v)) for k, v in scene.labels.items()}
    img = _decode(render(req).image)
    return s, labels, img


def _hue_deg(img: np.ndarray, mask: np.ndarray) -> float:
    """Hue (degrees) of the mean colour inside a mask."""
    assert mask.sum() > 20, "mask too small to measure"
    r, g, b = (img[mask].mean(axis=0) / 255.0).tolist()
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360.0


def _hue_between(h: float, lo: float, hi: float) -> bool:
    return (lo <= h <= hi) if lo <= hi else (h >= lo or h <= hi)


def _core(label: np.ndarray, frac: float = 0.5) -> np.ndarray:
    return label > frac * float(label.max())


# --------------------------------------------------------------------------- the catalog

def test_library_is_complete(catalog: Catalog) -> None:
    assert len(catalog.specimens) >= 32
    missing = [s for s in REQUIRED if s not in catalog.specimens]
    assert not missing, missing
    used = {st for sp in catalog.specimens.values() for st in sp.stains}
    assert set(catalog.stains) <= used, sorted(set(catalog.stains) - used)
    assert len(catalog.stains) >= 24
    for sp in catalog.specimens.values():
        assert "none" in sp.stains and sp.look_for and sp.mistakes and sp.description
        assert sp.sizes, f"{sp.id}: sizes with sources"
        assert all(sz.source and sz.min_um <= sz.max_um for sz in sp.sizes), sp.id


def test_slides_are_larger_than_the_widest_field(catalog: Catalog) -> None:
    for sp in catalog.specimens.values():
        inst = catalog.instruments[sp.recommended.instrument]
        assert isinstance(inst, MicroscopeInstrument)
        low = min(o.magnification for o in inst.objectives) * inst.tube_factor
        fields = []
        if inst.eyepiece:
            d = inst.eyepiece.field_number_mm * 1000.0 / low
            fields.append((d, d))
        if inst.camera:
            m = low * inst.camera.adapter_magnification
            fields.append((inst.camera.sensor_width_mm * 1000 / m,
                           inst.camera.sensor_height_mm * 1000 / m))
        for fw, fh in fields:
            assert sp.slide_width_um > fw and sp.slide_height_um > fh, (sp.id, fw, fh)


def test_incompatible_stain_is_rejected(catalog: Catalog) -> None:
    from micro.core.errors import MicroError

    with pytest.raises(MicroError) as err:
        _request(catalog, "granite-thin-section", stain="gram")
    assert "stain" in str(err.value)


# --------------------------------------------------------------------------- every view

@pytest.mark.parametrize("specimen", sorted(default_catalog().specimens))
def test_every_view_renders(catalog: Catalog, specimen: str) -> None:
    """Each compatible stain × recommended mode × objective of the recommended instrument
    renders, no view is a blank (uniform) frame or saturated, and the default view (default
    stain, recommended objective, first mode) shows clear structure."""
    spec = catalog.specimens[specimen]
    inst = catalog.instruments[spec.recommended.instrument]
    assert isinstance(inst, MicroscopeInstrument)
    bad = []
    for obj in inst.objectives:
        for mode in spec.recommended.modes:
            for stain in spec.stains:
                req = _request(catalog, specimen, objective=obj.magnification, mode=mode,
                               stain=stain)
                res = render(req)
                img = _decode(res.image)
                if np.ptp(img) < 1.0 or res.info["saturated_fraction"] > 0.02:
                    bad.append((obj.magnification, mode, stain, float(np.ptp(img)),
                                res.info["saturated_fraction"]))
                default = (stain == spec.default_stain and mode == spec.recommended.modes[0]
                           and obj.magnification == spec.recommended.objective)
                if default:
                    smooth = ndimage.gaussian_filter(img.mean(axis=2), 1.5)
                    contrast = np.percentile(smooth, 99.9) - np.percentile(smooth, 0.1)
                    if contrast < 8.0:
                        bad.append(("default view has no structure", round(contrast, 3)))
    assert not bad, bad


# --------------------------------------------------------------------------- stains by class

def test_gram_positive_purple_gram_negative_pink(catalog: Catalog) -> None:
    _, lab, img = _sim(catalog, "gram-mixed", size=512)
    pos = _hue_deg(img, _core(lab["s-aureus"]))
    neg = _hue_deg(img, _core(lab["e-coli"]))
    assert _hue_between(pos, 240, 300), pos  # violet
    assert _hue_between(neg, 300, 20), neg  # pink-red
    assert (neg - pos) % 360 > 15  # Gram-negative redder than Gram-positive


def test_acid_fast_red_on_blue(catalog: Catalog) -> None:
    _, lab, img = _sim(catalog, "mycobacterium-sputum", size=512)
    afb = _hue_deg(img, _core(lab["afb"]))
    blue = _hue_deg(img, _core(lab["neutrophil-nucleus"]))
    assert _hue_between(afb, 270, 20), afb  # fuchsin: magenta-red
    assert _hue_between(blue, 170, 250), blue
    assert (afb - blue) % 360 > 80


def test_wright_rbc_pink_orange_nuclei_purple(catalog: Catalog) -> None:
    _, lab, img = _sim(catalog, "blood-smear", size=512)
    rbc = _hue_deg(img, _core(lab["rbc"]))
    nuc = _hue_deg(img, _core(lab["neutrophil-nucleus"]) | _core(lab["lymphocyte-nucleus"]))
    assert _hue_between(rbc, 325, 30), rbc
    assert _hue_between(nuc, 240, 310), nuc
    assert (rbc - nuc) % 360 > 40


def test_trichrome_collagen_blue_hepatocytes_red(catalog: Catalog) -> None:
    _, lab, img = _sim(catalog, "liver-fibrosis", objective=40, size=512, x_um=-470.0)
    if lab["septum"].max() <= 0:
        pytest.skip("no septum in this field")
    col = _hue_deg(img, _core(lab["septum"]))
    hep = _hue_deg(img, _core(lab["hepatocyte"]) & ~_core(lab["septum"], 0.05))
    assert _hue_between(col, 180, 250), col
    assert _hue_between(hep, 300, 30), hep


def test_iodine_turns_starch_dark_blue(catalog: Catalog) -> None:
    _, lab, img = _sim(catalog, "potato-starch", stain="iodine", size=512)
    grain = img[_core(lab["starch"])].mean(axis=0)
    _, _, bare = _sim(catalog, "potato-starch", stain="none", size=512)
    plain = bare[_core(lab["starch"])].mean(axis=0)
    assert grain.mean() < 0.6 * plain.mean()  # blue-black
    assert grain[2] > grain[0]  # bluer than red


# --------------------------------------------------------------------------- parcentricity

@pytest.mark.parametrize(("specimen", "x", "y"), [("blood-smear", 120.0, -80.0),
                                                  ("liver-he", -300.0, 450.0)])
def test_parcentric_40_100(catalog: Catalog, specimen: str, x: float, y: float) -> None:
    lo = render(_request(catalog, specimen, objective=40, size=512, x_um=x, y_um=y))
    hi = render(_request(catalog, specimen, objective=100, size=512, x_um=x, y_um=y,
                         oil="on"))
    a = _decode(lo.image).mean(axis=2)
    b = _decode(hi.image).mean(axis=2)
    ratio = hi.info["pixel_size_um"] / lo.info["pixel_size_um"]
    h, w = round(b.shape[0] * ratio), round(b.shape[1] * ratio)
    cy, cx = a.shape[0] // 2, a.shape[1] // 2
    crop = a[cy - h // 2:cy - h // 2 + h, cx - w // 2:cx - w // 2 + w]
    small = np.asarray(Image.fromarray(b.astype(np.float32)).resize((w, h), Image.BOX))
    p, q = crop - crop.mean(), small - small.mean()
    ncc = float((p * q).sum() / np.sqrt((p * p).sum() * (q * q).sum()))
    assert ncc >= 0.5, ncc


# --------------------------------------------------------------------------- sizes

def _diameters(label: np.ndarray, px: float, single: bool = False
               ) -> tuple[list[float], list[float]]:
    """Equivalent diameters and major-axis lengths (µm) of the components not cut by the
    image border; `single` keeps only convex ones (solidity ≥ 0.9), not cells lying across
    each other."""
    comp, _ = ndimage.label(label > 0.02 * float(label.max()))
    eq, major = [], []
    for r in regionprops(comp):
        y0, x0, y1, x1 = r.bbox
        if y0 == 0 or x0 == 0 or y1 == comp.shape[0] or x1 == comp.shape[1]:
            continue
        if single and r.solidity < 0.9:
            continue
        eq.append(r.equivalent_diameter_area * px)
        major.append(r.axis_major_length * px)
    return eq, major


def test_rbc_diameters(catalog: Catalog) -> None:
    s, lab, _ = _sim(catalog, "blood-smear", size=512, oil="on")
    # cells of the monolayer touch (and flatten against each other): measure single ones
    d, _ = _diameters(lab["rbc"], s.px_um, single=True)
    assert len(d) > 50
    assert all(6.2 <= v <= 8.5 for v in d), (min(d), max(d))
    assert 7.0 <= float(np.median(d)) <= 8.2


@pytest.mark.parametrize(("specimen", "label", "lo", "hi", "field", "objective"), [
    ("blood-smear", "neutrophil", 10.0, 14.0, "eq", 40),
    ("blood-smear", "lymphocyte", 7.0, 12.0, "eq", 40),
    ("blood-smear", "monocyte", 12.0, 18.0, "eq", 40),
    ("gram-mixed", "e-coli", 2.0, 4.0, "major", 100),
    ("pond-water", "paramecium", 180.0, 300.0, "major", 4),
])
def test_cell_sizes_within_sources(catalog: Catalog, specimen: str, label: str, lo: float,
                                   hi: float, field: str, objective: int) -> None:
    spec = catalog.specimens[specimen]
    assert any((sz.min_um <= lo + 1e-9 and sz.max_um >= hi - 1e-9) or
               (sz.min_um >= lo - 1 and sz.max_um <= hi + 1) for sz in spec.sizes)
    found: list[float] = []
    tol = 0.0
    for x in (0.0, 400.0, -400.0, 800.0):
        s, lab, _ = _sim(catalog, specimen, objective=objective, size=512, x_um=x,
                         mode="brightfield", oil="on")
        if label not in lab:
            continue
        eq, major = _diameters(lab[label], s.px_um, single=True)
        found += eq if field == "eq" else major
        tol = 1.5 * s.px_um  # the anti-aliased rim counts as a pixel
        if len(found) >= 3:
            break
    assert found, f"no {label} found"
    assert all(lo - tol <= v <= hi + tol for v in found), (label, found)


# --------------------------------------------------------------------------- depth

def _sharpness(img: np.ndarray, mask: np.ndarray) -> float:
    g = ndimage.gaussian_laplace(img.mean(axis=2), 1.0)
    return float((g[mask] ** 2).mean())


def test_pond_water_layers_focus_apart(catalog: Catalog) -> None:
    """Diatoms resting on the slide and a Paramecium swimming higher up are sharpest at
    different focus positions."""
    focus = (-27.0, -15.0, -5.0, 5.0, 15.0)
    sharp: dict[str, list[float]] = {"diatom": [], "paramecium": []}
    for f in focus:
        _, lab, img = _sim(catalog, "pond-water", mode="brightfield", size=512, focus_um=f)
        others = sum(v for k, v in lab.items() if not k.startswith(("diatom", "paramecium")))
        near_other = ndimage.binary_dilation(others > 0, iterations=6)
        for k in sharp:
            own = ndimage.binary_dilation(_core(lab[k], 0.05), iterations=3)
            rival = "paramecium" if k == "diatom" else "diatom"
            mask = own & ~near_other & ~ndimage.binary_dilation(lab[rival] > 0, iterations=6)
            sharp[k].append(_sharpness(img, mask))
    best = {k: focus[int(np.argmax(v))] for k, v in sharp.items()}
    assert best["diatom"] == -27.0, sharp
    assert best["paramecium"] >= -5.0, sharp


def test_tirf_excites_stress_fibres_not_nuclei(catalog: Catalog) -> None:
    """Actin sits ~0.1 µm above the glass, nuclei ~3 µm: TIRF keeps the first only."""
    ratios = {}
    for mode in ("tirf", "fluorescence"):
        req = _request(catalog, "cultured-cells-fluorescence", instrument="tirf",
                       objective=60, mode=mode, oil="on")
        _, _, sig, _ = simulate(req, catalog)
        ch = {c: sig.values[i].sum() for i, c in enumerate(sig.channels)}
        ratios[mode] = ch["dapi"] / ch["phalloidin-af488"]
    assert ratios["tirf"] < 0.1 * ratios["fluorescence"], ratios


def test_bead_ladder_text_matches_its_parameters(catalog: Catalog) -> None:
    """The look-for text tells a student where each pair is and how far apart its beads are;
    the numbers must be the generator's own (they once said 0.01·k for a 0.005 µm step)."""
    import re

    spec = catalog.specimens["fluorescent-beads"]
    p = next(pop.params for pop in spec.populations if "ladder_step_um" in pop.params)
    text = " ".join(spec.look_for)
    m = re.search(r"x = ([\d.]+) µm × k, separation ([\d.]+) \+ ([\d.]+)·k µm", text)
    assert m, text
    pitch, lo, step = (float(g) for g in m.groups())
    assert (pitch, lo, step) == (p["ladder_pitch_um"], p["ladder_min_um"], p["ladder_step_um"])

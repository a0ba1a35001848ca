"""Kidney cortex tubules, checked from the structure labels at 40× pixels (0.5 µm): each
tubule profile is a ring of epithelium round its lumen, proximal profiles are larger than
distal ones and outnumber them, each cross-section holds several nuclei (crowded closer in
distal tubules), some profiles are cut obliquely, and no tubule enters a renal corpuscle
(Ross & Pawlina, Histology, 8th ed., ch. 20: proximal tubules 50–65 µm across with 3–5
nuclei per section, distal tubules 35–45 µm with more, smaller-spaced nuclei)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from micro.core.catalog import Catalog
from micro.core.microscope.lattice import Window
from micro.core.microscope.scene import _build

PX = 0.5
SIDE = 800  # 400 µm windows
WINDOWS = [(-200.0, -200.0), (1500.0, 700.0), (-2600.0, 3100.0)]


@pytest.fixture(scope="module")
def views(catalog: Catalog) -> list[dict[str, np.ndarray]]:
    spec = catalog.specimens["kidney-cortex"]
    return [_build(spec, Window(x, y, PX, SIDE, SIDE), catalog.structures).labels
            for x, y in WINDOWS]


def _inner(sl: tuple[slice, slice]) -> bool:
    """The object's bounding box does not touch the window's edge."""
    return (sl[0].start > 0 and sl[1].start > 0 and sl[0].stop < SIDE
            and sl[1].stop < SIDE)


def _profiles(lab: dict[str, np.ndarray], name: str) -> list[dict[str, float]]:
    """Whole profiles of one tubule kind (its epithelium with the lumen filled in) inside
    the window: equivalent diameter (µm), aspect ratio, nuclei and area (µm²)."""
    epi = lab[name] > 0.5
    nuc, _ = ndimage.label(lab["tubule-nucleus"] > 0.3)
    cc, _ = ndimage.label(ndimage.binary_fill_holes(epi))
    out = []
    for k, sl in enumerate(ndimage.find_objects(cc), 1):
        if sl is None or not _inner(sl):
            continue
        c = cc[sl] == k
        area = c.sum() * PX * PX
        if area < 300.0:  # a sliver where a profile meets the window's corner of another
            continue
        ys, xs = np.nonzero(c)
        ev = np.linalg.eigvalsh(np.cov(np.vstack([xs, ys])))
        n = np.unique(nuc[sl][c]).size - (1 if (nuc[sl][c] == 0).any() else 0)
        out.append({"d": 2 * np.sqrt(area / np.pi), "aspect": float(np.sqrt(ev[1] / ev[0])),
                    "nuclei": float(n), "area": float(area)})
    return out


def test_each_tubule_is_a_ring_of_epithelium_round_its_lumen(
        views: list[dict[str, np.ndarray]]) -> None:
    """A lumen is enclosed by its tubule's epithelium (it never opens onto the
    interstitium), and the epithelium is a ring: most profiles have a hole."""
    enclosed, total = 0, 0
    for lab in views:
        epi = (lab["proximal-tubule"] > 0.05) | (lab["distal-tubule"] > 0.05)
        lc, _ = ndimage.label(lab["tubule-lumen"] > 0.5)
        for k, sl in enumerate(ndimage.find_objects(lc), 1):
            if sl is None or not _inner(sl):
                continue
            grown = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in sl)
            c = lc[grown] == k
            ring = ndimage.binary_dilation(c, iterations=2) & ~c
            total += 1
            enclosed += (ring & epi[grown]).sum() / ring.sum() >= 0.95
    assert total >= 60, total
    assert enclosed / total >= 0.9, (enclosed, total)


def test_proximal_profiles_larger_and_more_numerous_than_distal(
        views: list[dict[str, np.ndarray]]) -> None:
    prox = [p for lab in views for p in _profiles(lab, "proximal-tubule")]
    dist = [p for lab in views for p in _profiles(lab, "distal-tubule")]
    assert len(prox) >= 30 and len(dist) >= 10, (len(prox), len(dist))
    dp = np.median([p["d"] for p in prox])
    dd = np.median([p["d"] for p in dist])
    # equivalent diameters of profiles flattened against their neighbours: a little under
    # the calipers' 50–65 and 35–45 µm
    assert 44.0 <= dp <= 66.0, dp
    assert 28.0 <= dd <= 46.0, dd
    assert dp > 1.25 * dd, (dp, dd)
    assert 0.55 <= len(prox) / (len(prox) + len(dist)) <= 0.9


def test_tubule_cross_sections_hold_several_nuclei(
        views: list[dict[str, np.ndarray]]) -> None:
    """Most profiles show ≥ 3 nuclei; proximal ones 3–7 (wide cells, some cut beside their
    nucleus); distal ones crowd theirs closer together (more per area)."""
    prox = [p for lab in views for p in _profiles(lab, "proximal-tubule")]
    dist = [p for lab in views for p in _profiles(lab, "distal-tubule")]
    every = prox + dist
    assert np.mean([p["nuclei"] >= 3 for p in every]) >= 0.8
    assert 3 <= np.median([p["nuclei"] for p in prox]) <= 7
    per_area = {name: sum(p["nuclei"] for p in ps) / sum(p["area"] for p in ps)
                for name, ps in (("prox", prox), ("dist", dist))}
    assert per_area["dist"] > 1.5 * per_area["prox"], per_area


def test_some_tubules_are_cut_obliquely(views: list[dict[str, np.ndarray]]) -> None:
    every = [p for lab in views for name in ("proximal-tubule", "distal-tubule")
             for p in _profiles(lab, name)]
    oblique = np.mean([p["aspect"] > 1.5 for p in every])
    assert 0.05 <= oblique <= 0.45, oblique


def test_tubules_never_enter_a_renal_corpuscle(catalog: Catalog) -> None:
    """Over 3 × 2 mm (a dozen corpuscles) no tubule pixel lies in a tuft, Bowman's space or
    the capsule."""
    w = Window(-1500.0, -1000.0, 2.0, 1500, 1000)
    lab = _build(catalog.specimens["kidney-cortex"], w, catalog.structures).labels
    tubule = (lab["proximal-tubule"] + lab["distal-tubule"] + lab["tubule-lumen"]) > 0.05
    corpuscle = (lab["glomerulus"] + lab["bowman-space"] + lab["bowman-capsule"]) > 0.05
    # the corpuscles themselves (a stray pixel of the corpuscle labels, found before the
    # tubules were drawn this way, is not one)
    cc, n = ndimage.label(corpuscle)
    big = np.flatnonzero(ndimage.sum(corpuscle, cc, range(1, n + 1)) >= 50) + 1
    corpuscle = np.isin(cc, big)
    assert big.size >= 10 and corpuscle.sum() > 20000
    assert (tubule & corpuscle).sum() == 0

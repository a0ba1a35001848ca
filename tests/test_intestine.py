"""Jejunum architecture from the structure labels (issue #15): villi are not test-tubes —
their edges wander off any straight line, their widths differ and they taper from a broad
foot; crypts cut across show as closed rings of cells round a lumen; Paneth cells sit at
the crypt bases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from micro.core.catalog import Catalog
from micro.core.microscope.lattice import Window
from micro.core.microscope.scene import _build

PX = 2.0


@pytest.fixture(scope="module")
def labels(catalog: Catalog) -> dict[str, np.ndarray]:
    # centred on the villus bases: 2.8 × 2.0 mm, lumen to muscularis externa
    w = Window(600.0, 100.0, PX, 1400, 1000)
    return _build(catalog.specimens["small-intestine"], w, catalog.structures).labels


def _villi(lab: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Masks (cropped) of the villi standing on the wall whole in the window (profiles cut
    across, free in the lumen, are small; villi cut by the window's edge are left out)."""
    v = lab["villus"] > 0.5
    comp, _ = ndimage.label(v)
    out = []
    for k, sl in enumerate(ndimage.find_objects(comp), start=1):
        c = comp[sl] == k
        if c.sum() * PX * PX < 20000:
            continue
        if sl[0].start == 0 or sl[1].start == 0 or sl[1].stop == v.shape[1]:
            continue
        out.append(c)
    return out


def _edges(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the middle of a villus (15–75 % of its height from the foot) and its left
    and right edge (µm) on each."""
    rows = np.nonzero(c.any(axis=1))[0]
    top, foot = rows.min(), rows.max()
    ys = np.arange(int(top + 0.25 * (foot - top)), int(top + 0.85 * (foot - top)))
    left = np.array([np.argmax(c[y]) for y in ys], dtype=float) * PX
    right = np.array([c.shape[1] - 1 - np.argmax(c[y, ::-1]) for y in ys], dtype=float) * PX
    return ys * PX, left, right


def test_villus_outlines_are_not_straight(labels: dict[str, np.ndarray]) -> None:
    """Each edge of a villus departs from its best-fit straight line (a test-tube's sides
    stay within a pixel of theirs): by ≥ 4 µm somewhere on most edges, ≥ 2 µm RMS on many."""
    villi = _villi(labels)
    assert len(villi) >= 8, len(villi)
    peak, rms = [], []
    for c in villi:
        y, left, right = _edges(c)
        for e in (left, right):
            r = e - np.polyval(np.polyfit(y, e, 1), y)
            peak.append(np.abs(r).max())
            rms.append(np.sqrt(np.mean(r * r)))
    peak_a, rms_a = np.array(peak), np.array(rms)
    assert np.mean(peak_a > 4.0) > 0.75, np.round(peak_a, 1)
    assert np.median(rms_a) > 2.0, np.round(rms_a, 1)


def test_villi_differ_in_width_and_taper_from_a_broad_foot(
        labels: dict[str, np.ndarray]) -> None:
    """Widths at mid-height vary between villi (CV > 0.15, real villi 60–160 µm); most villi
    are broader low down than near the tip (leaf and finger shapes, not parallel tubes)."""
    villi = _villi(labels)
    mid, tapered = [], []
    for c in villi:
        rows = np.nonzero(c.any(axis=1))[0]
        top, foot = rows.min(), rows.max()
        width = [float(c[int(top + f * (foot - top))].sum()) * PX for f in (0.25, 0.5, 0.75)]
        mid.append(width[1])
        tapered.append(width[2] > width[0])  # rows run down: 0.75 is near the foot
    mid_a = np.array(mid)
    assert np.std(mid_a) / np.mean(mid_a) > 0.15, mid_a
    assert 50.0 < np.median(mid_a) < 170.0, mid_a
    assert np.mean(tapered) > 0.7, tapered


def test_crypts_cut_across_are_closed_rings_round_a_lumen(
        labels: dict[str, np.ndarray]) -> None:
    """Below the crypt mouths every crypt lumen is enclosed by crypt epithelium, and many
    lumina are small and round (crypts cut across: a ring of cells round a tiny lumen, a few
    micrometres wide), not only long slits."""
    crypt = labels["crypt"] > 0.5
    lumen = labels["crypt-lumen"] > 0.5
    assert (lumen & ~crypt).sum() <= 0.02 * lumen.sum()
    mouth = np.where(crypt.any(axis=0), np.argmax(crypt, axis=0), crypt.shape[0])
    comp, n = ndimage.label(lumen)
    assert n >= 20, n
    rings, shut = 0, []
    for k, sl in enumerate(ndimage.find_objects(comp), start=1):
        if sl[0].start < mouth[sl[1]].max() + 10:  # opening onto the surface
            continue
        pad = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in sl)
        c = comp[pad] == k
        shell = ndimage.binary_dilation(c, iterations=2) & ~c
        shut.append(crypt[pad][shell].mean())
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if c.sum() >= 4 and max(h, w) * PX < 14.0 and max(h, w) <= 2 * min(h, w):
            rings += 1
    assert min(shut) > 0.9, min(shut)  # closed: crypt cells all round
    width_mm = labels["crypt"].shape[1] * PX / 1000.0
    assert rings / width_mm >= 4.0, rings  # per mm of mucosa


def test_paneth_cells_sit_at_the_crypt_bases(labels: dict[str, np.ndarray]) -> None:
    """Paneth cells (eosinophilic granules) lie in the crypt epithelium, in the deep part of
    the crypt layer, never in the villi."""
    paneth = labels["paneth-cell"] > 0.05
    crypt = labels["crypt"] > 0.05
    assert paneth.sum() > 200
    assert (paneth & ~crypt).sum() <= 0.05 * paneth.sum()
    assert not (paneth & (labels["villus"] > 0.5)).any()
    yc = np.nonzero(crypt)[0]
    lo, hi = np.percentile(yc, 5), np.percentile(yc, 95)
    yp = np.nonzero(paneth)[0]
    assert np.median(yp) > lo + 0.55 * (hi - lo), (np.median(yp), lo, hi)


def test_villi_are_fixed_to_the_slide_at_low_power(catalog: Catalog) -> None:
    """Each villus is outlined on its own block of the window: two overlapping 4×-like
    windows (different blocks, bands and neighbours in view) show the same villi, cores
    and crypts where they overlap."""
    spec = catalog.specimens["small-intestine"]
    px = 7.2
    a = _build(spec, Window(-300.0, -200.0, px, 300, 260), catalog.structures).labels
    b = _build(spec, Window(-300.0 + 130 * px, -200.0 + 70 * px, px, 300, 260),
               catalog.structures).labels
    for name in ("villus", "lamina-propria", "lacteal", "crypt", "crypt-lumen"):
        pa, pb = a[name][70:260, 130:300], b[name][0:190, 0:170]
        assert pa.max() > 0.5, name
        assert np.allclose(pa, pb, atol=1e-3), (name, float(np.abs(pa - pb).max()))

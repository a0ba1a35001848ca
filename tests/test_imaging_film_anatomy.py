"""The anatomy a plain film is read for, decoded from the 3-D label functions and the films.

* Ribs (AP abdomen): each posterior rib falls as it runs out from the spine; the lower ribs
  fall more steeply; the 12th (floating) rib is shorter than the 10th; the spacing between
  neighbouring ribs is not a regular ladder.
* Teeth (skull): one crown per tooth along the arch, an enamel cap enclosing the dentine,
  roots that taper to the apex below a wider crown, upper and lower arches apart; on the film
  the crowns show separately.
* Kidneys (AP abdomen): the renal outline shows on the film (the fat round the kidney).
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from itertools import pairwise

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.signal import find_peaks

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.anatomy import (
    ARCH_CURVE,
    LOWER_ARCH,
    TEETH,
    Anatomy,
    anatomy,
    frontal_paths,
)

CAT = default_catalog()


def _anatomy(pid: str) -> Anatomy:
    ph = CAT.phantoms[pid]
    assert ph.anatomy is not None
    return anatomy(ph.anatomy, tuple(t.id for t in ph.tissues), ph.seed)


def _film(pid: str, n: int) -> np.ndarray:
    r = micro.render_imaging(catalog=CAT, instrument="digital-radiography", phantom=pid,
                             size=n, format="png")
    return np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0


@cache
def _posterior_bone() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bone of the trunk's posterior half (y < −20 mm) projected on the coronal plane
    (rows z from the top, columns x), sampled every 1.5 mm, with its x and z."""
    an = _anatomy("abdomen")
    step = 1.5
    x = np.arange(-150, 150, step) + step / 2
    z = (np.arange(-90, 200, step) + step / 2)[::-1]
    y = np.arange(-112, -20, step) + step / 2
    lab = an.labels(x[None, :, None], y[None, None, :], z[:, None, None])
    bone = np.isin(lab, [an.tissues.index("cortical-bone"),
                         an.tissues.index("cancellous-bone")]).any(axis=2)
    return bone, x, z


def _posterior_ribs(sign: float) -> list[tuple[float, float, float, float]]:
    """Ribs on one side (sign −1: the patient's right), lowest first: the posterior bone
    lateral to the spine's processes (|x| > 40 mm) above the iliac crests; per rib (mean
    height, slope dz/d|x| of its centre-line, lateral reach |x|, height at |x| = 80 mm)."""
    bone, x, z = _posterior_bone()
    comp, n = ndimage.label(bone & (sign * x[None, :] > 40))
    ribs = []
    for k in range(1, n + 1):
        m = comp == k
        if m.sum() < 20:  # a rib is tens of mm long
            continue
        cols = np.nonzero(m.any(axis=0))[0]
        zc = np.array([z[m[:, j]].mean() for j in cols])  # the centre-line
        ax = np.abs(x[cols])
        order = np.argsort(ax)
        ribs.append((float(zc.mean()), float(np.polyfit(ax, zc, 1)[0]), float(ax.max()),
                     float(np.interp(80.0, ax[order], zc[order]))))
    return sorted(ribs)


def test_posterior_ribs_slope_down_and_out_and_the_floating_ribs_are_short() -> None:
    for sign in (-1.0, 1.0):
        ribs = _posterior_ribs(sign)
        assert len(ribs) >= 5, ribs  # 12th up to at least the 8th
        slopes = [r[1] for r in ribs]
        # every posterior rib falls laterally (a ladder's rungs would be level), the 12th to
        # 10th by 0.4 mm per mm or more, more steeply than the upper ones
        assert max(slopes) < -0.2, slopes
        assert np.mean(slopes[:3]) < -0.4, slopes
        assert np.mean(slopes[:3]) < np.mean(slopes[-2:]) - 0.05, slopes
        # the 12th rib floats: it ends well short of the flank the 10th reaches
        assert ribs[0][2] < ribs[2][2] - 25.0, ribs
        # not a ladder: the gaps between neighbouring ribs (at |x| = 80 mm) differ
        gaps = np.diff([r[3] for r in ribs])
        assert gaps.min() > 15.0, gaps  # separate ribs
        assert gaps.max() - gaps.min() > 4.0, gaps


def test_teeth_are_crowns_capped_with_enamel_over_tapering_roots() -> None:
    an = _anatomy("brain")
    t = an.tissues.index
    enamel, dentine, pulp = t("calcification"), t("cortical-bone"), t("muscle")
    # an axial section 3 mm into the upper crowns: one enamel ring per tooth, 14 in the arch
    step = 0.25
    g = np.arange(-48, 48, step) + step / 2
    yy = np.arange(0, 90, step) + step / 2
    lab = an.labels(g[None, :], yy[:, None], np.float32(-94.0))
    crowns, n = ndimage.label(lab == enamel)
    assert n == 2 * len(TEETH["upper"]), n
    # the enamel encloses the dentine: inside each filled crown, no dentine pixel touches
    # anything but enamel, dentine or pulp
    filled = ndimage.binary_fill_holes(crowns > 0)
    core = filled & (lab == dentine)
    assert core.sum() > 100
    tooth = np.isin(lab, [enamel, dentine, pulp])
    assert not (ndimage.binary_dilation(core) & ~tooth).any()
    # the lower central incisor in a coronal line through its axis: the root (dentine with
    # its pulp canal) narrows from the neck to the apex, below a wider crown
    y0, z_occ = LOWER_ARCH
    xs = np.arange(0.0, 5.2, 0.1) + 0.05
    x_axis = float(TEETH["lower"][0][0]) / 2
    y_axis = np.float32(y0 - ARCH_CURVE * x_axis ** 2)
    crown_h, root_l = TEETH["lower"][0][1], TEETH["lower"][0][2]
    neck = z_occ - crown_h

    def width(z: float) -> int:
        line = an.labels(xs.astype(np.float32), y_axis, np.float32(z))
        return int(np.isin(line, [enamel, dentine, pulp]).sum())

    root = [width(neck - d) for d in np.linspace(0.5, root_l - 0.5, 10)]
    assert all(b <= a + 1 for a, b in pairwise(root)), root
    assert root[-1] < 0.5 * root[0], root
    assert width(z_occ - 0.6 * crown_h) > root[0] + 5, (width(z_occ - 0.6 * crown_h), root)
    # upper and lower arches: tooth above and below the 2 mm gap between them, none in it
    col = an.labels(np.float32(x_axis), y_axis, np.array([-95.0, -98.0, -101.0], np.float32))
    assert np.isin(col, [enamel, dentine]).tolist() == [True, False, True], col


def test_skull_film_shows_the_crowns_one_by_one() -> None:
    """Across the upper and the lower crowns of the skull film, the decoded row rises and
    falls tooth by tooth (darker embrasures between the crowns)."""
    n = 256
    img = _film("brain", n)
    px = 240.0 / n
    for z in (-92.0, -104.0):  # mid-crown of the upper and of the lower teeth
        i = int(n / 2 - z / px)
        row = img[i, int(n / 2 - 40 / px):int(n / 2 + 40 / px)]
        peaks, _ = find_peaks(row, prominence=0.03)
        assert len(peaks) >= 12, (z, len(peaks))


def test_abdominal_film_shows_the_renal_outlines() -> None:
    """Along each kidney's lateral border (taken from the projected kidney tissue), the film
    is brighter just inside than in the perirenal fat just outside, on most rows."""
    n = 256
    img = _film("abdomen", n)
    an = _anatomy("abdomen")
    paths = frontal_paths(an)
    kid = paths[an.tissues.index("kidney")] + paths[an.tissues.index("kidney-medulla")]
    kid = ndimage.zoom(kid, n / kid.shape[0], order=1) > 0.3
    for sign in (-1, 1):
        steps = []
        for i in range(n):
            cols = np.nonzero(kid[i] & ((np.arange(n) - n / 2) * sign > 0))[0]
            if cols.size < 8:
                continue
            j = int(cols.max() if sign > 0 else cols.min())  # the lateral border
            inside = img[i, [j - sign * q for q in range(1, 5)]].mean()
            outside = img[i, [j + sign * q for q in range(2, 6)]].mean()
            steps.append(inside - outside)
        s = np.array(steps)
        assert len(s) > 40, len(s)
        assert s.mean() > 0.015 and (s > 0).mean() > 0.6, (sign, s.mean(), (s > 0).mean())


def test_abdominal_film_shows_the_psoas_margins() -> None:
    """Along each psoas muscle's lateral border (found in the label function, on the plane
    through the muscles), the film is brighter just inside the muscle than in the fat just
    outside, on most rows from L1 to the pelvis."""
    n = 256
    img = _film("abdomen", n)
    an = _anatomy("abdomen")
    muscle = an.tissues.index("muscle")
    px = 400.0 / n
    for sign in (-1.0, 1.0):
        xs = (sign * np.arange(30.0, 110.0, 0.5)).astype(np.float32)
        steps = []
        for i in range(n):
            z = (n / 2 - i - 0.5) * px
            if not -140.0 < z < -20.0:
                continue
            lab = an.labels(xs, np.float32(-50.0), np.float32(z))
            m = lab == muscle
            if not m[0]:  # the psoas runs out from beside the vertebral body
                continue
            edge = float(xs[int(np.argmin(m)) - 1])  # its last muscle sample going out
            j = int(n / 2 + edge / px)
            d = int(sign)
            inside = img[i, [j - d * q for q in range(1, 4)]].mean()
            outside = img[i, [j + d * q for q in range(2, 5)]].mean()
            steps.append(inside - outside)
        s = np.array(steps)
        assert len(s) > 40, len(s)
        assert s.mean() > 0.01 and (s > 0).mean() > 0.65, (sign, s.mean(), (s > 0).mean())

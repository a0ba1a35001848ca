"""Liver: classic hexagonal lobules around central veins, portal triads at their corners,
plates (cords) of hepatocytes radiating from each central vein with sinusoids between
them, and — with `septa` > 0 — bridging fibrous septa along the lobule borders (cirrhosis).

The lobules are a jittered triangular lattice of central veins (`lobule_um` apart), gently
warped; portal tracts sit at the centroids of its triangles, i.e. at the lobule corners.
Around each vein, sinusoids run radially at a pitch that stays near `pitch_um`: when the
circumference has doubled a new sinusoid starts between two others, at a radius drawn per
branch, so cords split as they run outwards the way real plates anastomose.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from micro.core.genparams import LiverParams
from micro.core.microscope.generators.histology import (
    F32,
    FINE_UM,
    cells_at,
    grid,
    hash01,
    hash_prefix,
    hypot,
    inside,
    layer_of,
    limited,
    nodes_of,
    noise_at,
    nuclei,
    pack_red_cells,
    put,
    red_cells,
    section,
    smoothly,
    texture,
    warp,
)
from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas, biconcave, draw
from micro.core.microscope.registry import Ctx, generator
from micro.core.microscope.seeds import first_min, offsets, sq_dist

SQ3 = np.sqrt(3.0)


@dataclass(frozen=True)
class Liver:
    """The liver's architecture at a set of points (all arrays share the points' shape)."""

    vx: np.ndarray
    """Nearest central vein (µm, warped frame)."""
    vy: np.ndarray
    r: np.ndarray
    """Distance to it (µm)."""
    vein_r: np.ndarray
    """Its lumen radius (µm) in the direction of the point."""
    border: np.ndarray
    """Distance to the lobule border (µm)."""
    pair: np.ndarray
    """Hash of the two lobules meeting at that border (which septa exist)."""
    px: np.ndarray
    """Nearest portal tract centre (µm, warped frame)."""
    py: np.ndarray
    tract: np.ndarray
    """Signed distance to the portal tract's outline (µm, negative inside)."""
    tu_table: np.ndarray
    """(n, 6) uniforms of the portal tracts round the points."""
    tu_index: np.ndarray
    """Each point's portal tract: its row in `tu_table`."""
    sinus: np.ndarray
    """Distance to the nearest sinusoid's axis (µm)."""
    line: np.ndarray
    """Identity of that sinusoid (a number unique per sinusoid)."""
    radial: np.ndarray
    """Distance from the vein along the (wiggling) cords (µm)."""
    along: np.ndarray
    """Radial position in the hepatocyte (µm from its middle)."""
    across: np.ndarray
    """Position across the cord from the cell's middle (µm)."""
    cell: np.ndarray
    """Per-hepatocyte hash in [0, 1)."""
    cell_len: np.ndarray
    """Hepatocyte length along the cord (µm) and width across it."""
    cell_wid: np.ndarray
    xw: np.ndarray
    """The warped points (µm)."""
    yw: np.ndarray
    memb: np.ndarray
    """Distance (µm) from the point to its hepatocyte's membrane."""
    sinus_w: np.ndarray
    """Width (µm) of the sinusoids there."""
    septum: np.ndarray
    """Signed distance (µm) to the edge of a cirrhotic septum (negative inside; +inf where
    the liver is not cirrhotic)."""

    @property
    def tu(self) -> np.ndarray:
        """(…, 6) uniforms of each point's portal tract."""
        return self.tu_table[self.tu_index]

    def tu_at(self, flat: np.ndarray) -> np.ndarray:
        """(k, 6) uniforms of the portal tracts of the points at flat indices `flat`."""
        return self.tu_table[self.tu_index.reshape(-1)[flat]]


def layout(x: np.ndarray, y: np.ndarray, seed: int, lobule_um: float = 900.0,
           pitch_um: float = 27.0, tract_um: float = 90.0, disorder: float = 0.0,
           septa: bool = True) -> Liver:
    """The architecture at points x, y (µm, any shape). `disorder` (0–1) is cirrhosis:
    the central veins are lost and the plates of the regenerative nodules run irregularly.
    With `septa` False, `pair` (which borders are bridged) is not worked out (all 1)."""
    if np.size(x) == 0:
        one = layout(np.zeros(1), np.zeros(1), seed, lobule_um, pitch_um, tract_um, disorder)
        return Liver(*(getattr(one, f.name)[:0] for f in fields(Liver)))
    L = lobule_um
    h = L * SQ3 / 2
    x, y = np.asarray(x, float), np.asarray(y, float)

    def smooth(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        """The fields that vary only over tens of µm or more: the lobules' warp, the tracts'
        raggedness, the cords' finer wiggle (as displacements) and the sinusoids' width."""
        aw, bw = warp(a, b, seed ^ 0x10B, 0.7 * L, (0.1 + 0.12 * disorder) * L)
        rag = noise_at(aw, bw, seed ^ 0x7AC7, 60.0)
        cw, dw = warp(aw, bw, seed ^ 0x51, 55.0 + 120.0 * disorder, 9.0 + 22.0 * disorder)
        return (aw - a, bw - b, rag, cw - aw, dw - bw,
                4.5 + 4.0 * noise_at(aw, bw, seed ^ 0x5177, 35.0))

    dxw, dyw, rag, dwx, dwy, sinus_w = smoothly(x, y, smooth, FINE_UM)
    xw, yw = x + dxw, y + dyw
    t = yw / h
    s = xw / L - t / 2
    i0, j0 = np.floor(s), np.floor(t)
    down = (s - i0) + (t - j0) >= 1.0
    del s, t
    # per-vein table over the index range the points can reach; with the veins jittered by
    # at most ±0.07 L the nearest two always lie among the corners of the lattice triangle
    # that holds the point, and its portal tract is that triangle's (jittered) centroid
    ilo, jlo = int(i0.min()) - 1, int(j0.min()) - 1
    ni, nj = int(i0.max()) + 3 - ilo, int(j0.max()) + 3 - jlo
    gi, gj = (a.ravel() for a in np.meshgrid(np.arange(ilo, ilo + ni),
                                             np.arange(jlo, jlo + nj), indexing="xy"))
    tab = uniforms(seed, gi, gj, 6)
    vx_t = gi * L + gj * L / 2 + (tab[:, 0] - 0.5) * 0.14 * L
    vy_t = gj * h + (tab[:, 1] - 0.5) * 0.14 * L
    vein_id = (gi * 8191 + gj).astype(np.float64)  # the vein's own (lattice) identity
    # from here on in float32, relative to a vein near the points
    ox, oy = float(vx_t[0]), float(vy_t[0])
    vxr, vyr = (vx_t - ox).astype(F32), (vy_t - oy).astype(F32)
    xr, yr = (xw - ox).astype(F32), (yw - oy).astype(F32)
    j0 -= jlo
    j0 *= ni
    i0 -= ilo
    j0 += i0
    base = j0.astype(np.intp)
    del i0, j0
    ka = np.where(down, base + (ni + 1), base)  # (i+1, j+1) of a down triangle, else (i, j)
    kb, kc = base + 1, base + ni

    tmp = np.empty(xr.shape, F32)
    da, db, dc = (sq_dist(xr, yr, vxr, vyr, kk, np.empty(xr.shape, F32), tmp)
                  for kk in (ka, kb, kc))  # squared distances to the corners
    a_first = (da <= db) & (da <= dc)
    b_first = ~a_first & (db <= dc)
    k1 = np.where(a_first, ka, np.where(b_first, kb, kc))
    d1 = np.sqrt(np.where(a_first, da, np.where(b_first, db, dc)))
    rest_1 = np.where(a_first, db, da)  # the two others
    rest_2 = np.where(a_first | b_first, dc, db)
    krest_1 = np.where(a_first, kb, ka)
    krest_2 = np.where(a_first | b_first, kc, kb)
    d2 = np.sqrt(np.minimum(rest_1, rest_2))
    k2 = np.where(rest_1 <= rest_2, krest_1, krest_2)
    del da, db, dc, rest_1, rest_2, krest_1, krest_2, a_first, b_first
    vx, vy = vx_t.take(k1), vy_t.take(k1)
    tab32 = tab.astype(F32)
    lu2, lu3, lu4, lu5 = (tab32[:, c].take(k1) for c in (2, 3, 4, 5))
    id1, id2 = vein_id.take(k1), vein_id.take(k2)
    pair = (hash01(np.minimum(id1, id2), np.maximum(id1, id2), 7) if septa
            else np.broadcast_to(F32(1.0), id1.shape))
    del id2
    pxr = vxr.take(ka)
    pxr += vxr.take(kb)
    pxr += vxr.take(kc)
    pxr /= 3
    pyr = vyr.take(ka)
    pyr += vyr.take(kb)
    pyr += vyr.take(kc)
    pyr /= 3
    px, py = pxr + ox, pyr + oy  # float64
    tdx, tdy = xr - pxr, yr - pyr
    pd = hypot(tdx, tdy)
    # the portal tracts' uniforms, keyed by their triangle's lattice identity
    tid = 2 * base + down
    tri = uniforms(seed ^ 0x9071, (2 * gi[:, None] + np.arange(2)).ravel(), np.repeat(gj, 2), 6)
    tu_t = tri.astype(F32)
    tu2, tu3, tu4 = (tu_t[:, c].take(tid) for c in (2, 3, 4))
    # vein and tract outlines: a few low harmonics, drawn per structure
    phi = np.arctan2(yr - vyr.take(k1), xr - vxr.take(k1))
    vr = (28.0 + 32.0 * lu2) * (1 - disorder) * (1 + 0.1 * np.cos(2 * phi + 6.3 * lu3)
                                                 + 0.06 * np.cos(3 * phi + 6.3 * lu4))
    tphi = np.arctan2(tdy, tdx)
    tr = tract_um * (0.6 + 0.6 * tu2) * (
        1 + 0.12 * np.cos(2 * tphi + 6.3 * tu3) + 0.08 * np.cos(3 * tphi + 6.3 * tu4))
    tract = pd - tr * (0.8 + 0.4 * rag)
    del phi, tphi, tdx, tdy, tr, pd
    # sinusoids and cords, in the vein's polar frame with a finer wiggle
    wx, wy = xw + dwx, yw + dwy
    ex, ey = (wx - vx).astype(F32), (wy - vy).astype(F32)
    r = hypot(ex, ey)
    ang = (np.arctan2(ey, ex) / F32(2 * np.pi) + lu5) % F32(1.0)
    r0 = 28.0 + 32.0 * lu2 + 8.0
    n0 = np.maximum(6, np.round(F32(2 * np.pi / pitch_um) * r0))
    lvl = np.clip(np.floor(np.log2(np.maximum(r, r0) / r0)), 0, 7)
    n = n0 * F32(2.0) ** lvl
    a = ang * n
    ell = np.floor(a)
    af = a - ell
    unit = F32(2 * np.pi) * np.maximum(r, 1.0) / n
    lob = id1  # the vein's identity: the same in every window
    by_lob = hash_prefix(lob)
    born = r0 * 2.0 ** (lvl + 1) * (0.5 + 0.5 * hash01(lvl, ell, after=by_lob))
    split = r > born
    # distance to the nearest sinusoid; a sinusoid is interrupted now and then over one
    # segment, where neighbouring plates join (anastomoses)
    seg = np.floor((r + 40.0 * hash01(ell, after=by_lob)) / 38.0)
    reg = np.where(af < 0.5, ell, ell + 1) % n
    ds = np.where(hash01(lvl * 1000 + reg, seg, after=by_lob) < 0.15, F32(np.inf),
                  np.minimum(af, 1 - af) * unit)
    dnew = np.where(split & (hash01(lvl * 1000 + ell + 0.5, seg, after=by_lob) >= 0.15),
                    np.abs(af - 0.5) * unit, F32(np.inf))
    line = np.where(dnew < ds, lvl * 1000 + ell + 0.5, lvl * 1000 + reg) + lob * 1e5  # f64
    ds = np.minimum(ds, dnew)
    upper = (af >= 0.5).astype(F32)
    half = np.where(split, upper, F32(2.0))
    lo = np.where(split, F32(0.5) * upper, F32(0.0))
    span = np.where(split, F32(0.5), F32(1.0)) * unit
    pos = (af - lo) * unit
    cord = hash01(lvl * 1000 + ell, half, after=by_lob).astype(F32)
    clen = (22.0 * (0.85 + 0.3 * cord)).astype(F32)
    rr = r + cord * clen
    m = np.floor(rr / clen)
    along = rr - (m + 0.5) * clen
    two = span > 40.0
    side = np.where(two, (pos > span / 2).astype(F32), F32(0.0))
    cwid = np.where(two, span / 2, span)
    across = pos - (side + 0.5) * cwid
    cell = hash01(lob * 7 + half, lvl * 1000 + ell, m * 3 + side)
    memb = np.minimum(clen / 2 - np.abs(along), cwid / 2 - np.abs(across))
    return Liver(vx, vy, d1, vr, (d2 - d1) / 2, pair, px, py, tract, tu_t, tid, ds, line, r,
                 along,
                 across, cell, clen, cwid, xw, yw, memb, sinus_w,
                 np.broadcast_to(F32(np.inf), x.shape))


# --------------------------------------------------------------------------- cirrhosis

MACRO = 3.2
"""Macronodule lattice spacing, in micronodule spacings."""


def _nodules(xw: np.ndarray, yw: np.ndarray, seed: int, S: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regenerative nodules at warped points: a power diagram of a jittered lattice of
    micronodule sites `S` apart (sizes vary with the sites' weights), overlaid by rounded
    macronodules on a coarser lattice. Returns the nodule's identity, its centre (µm) and
    the distance (µm) to its outline, whose corners are rounded (a smooth minimum over the
    neighbours' bisectors), and which lattice cells the point was checked in (the
    distance is continuous only within one set)."""
    ci = np.floor(xw / S).astype(np.int64)
    cj = np.floor(yw / S).astype(np.int64)
    ilo, jlo = int(ci.min()) - 1, int(cj.min()) - 1
    ni, nj = int(ci.max()) + 2 - ilo, int(cj.max()) + 2 - jlo
    gi, gj = np.meshgrid(np.arange(ilo, ilo + ni), np.arange(jlo, jlo + nj), indexing="xy")
    tab = uniforms(seed ^ 0xC1A, gi.ravel(), gj.ravel(), 3)
    sx = ((gi.ravel() + 0.5 + (tab[:, 0] - 0.5) * 0.7) * S - ilo * S).astype(F32)
    sy = ((gj.ravel() + 0.5 + (tab[:, 1] - 0.5) * 0.7) * S - jlo * S).astype(F32)
    wt = (((tab[:, 2] - 0.5) * 1.1 * S) ** 2 * np.sign(tab[:, 2] - 0.5)).astype(F32)
    rx, ry = (xw - ilo * S).astype(F32), (yw - jlo * S).astype(F32)
    base = ((cj - jlo) * ni + (ci - ilo)).astype(np.intp)
    offs = offsets(ni).astype(np.intp)
    k = np.empty_like(base)
    tmp = np.empty(base.shape, F32)
    pw = np.empty((9, *base.shape), F32)  # power distance to each of the 3×3 sites
    for m, off in enumerate(offs):
        np.add(base, off, out=k)
        sq_dist(rx, ry, sx, sy, k, pw[m], tmp)
        pw[m] -= wt.take(k)
    best, p1 = first_min(pw)  # the nearest site (the first of equals)
    kb = base + offs.take(best)
    # distance to each neighbour's power bisector (a straight line), rounded at the corners:
    # b = (pw − p1) / 2|s − s_best| summed as exp(−b / k); the factor −1 / (2|Δs| k) comes
    # from a table of each site against its 5×5 neighbourhood
    soft = np.zeros(p1.shape, F32)
    k_um = F32(0.09 * S)
    near9 = [(dj, di) for dj in (-1, 0, 1) for di in (-1, 0, 1)]
    rel = np.array([[(a[0] - b[0] + 2) * 5 + (a[1] - b[1] + 2) for b in near9] for a in near9],
                   dtype=np.intp)  # [neighbour m, best]: index into the 5×5 neighbourhood
    o25 = np.array([dj * ni + di for dj in range(-2, 3) for di in range(-2, 3)])
    nb = np.clip(np.arange(sx.size)[:, None] + o25[None, :], 0, sx.size - 1)
    sep = np.maximum(hypot(sx[nb] - sx[:, None], sy[nb] - sy[:, None]), F32(1.0))
    factor = (F32(-1.0) / (2 * sep * k_um)).astype(F32).ravel()
    kb25 = kb * 25
    for m in range(9):
        np.add(kb25, rel[m].take(best), out=k)
        b = pw[m]
        b -= p1
        b *= factor.take(k)
        np.copyto(b, F32(-np.inf), where=best == m)
        np.exp(b, out=b)
        soft += b
    del pw
    border = -k_um * np.log(np.maximum(soft, F32(1e-30)))
    nid = (gi.ravel()[kb] * 7919 + gj.ravel()[kb]).astype(np.float64)
    cx, cy = sx[kb] + ilo * S, sy[kb] + jlo * S
    # macronodules: a rounded outline (low harmonics) around some sites of a coarse lattice
    M = MACRO * S
    mi = np.floor(xw / M - 0.5).astype(np.int64)
    mj = np.floor(yw / M - 0.5).astype(np.int64)
    # per-macronodule uniforms: a small table over the index range, gathered per point
    mlo, mjlo = int(mi.min()), int(mj.min())
    mni, mnj = int(mi.max()) + 2 - mlo, int(mj.max()) + 2 - mjlo
    ti, tj = np.meshgrid(np.arange(mlo, mlo + mni), np.arange(mjlo, mjlo + mnj), indexing="xy")
    mtab = uniforms(seed ^ 0x3AC0, ti.ravel(), tj.ravel(), 6)
    # per table row: centre and outline constants (harmonics as cos/sin pairs, so the
    # points need no angles: cos 2θ, sin 2θ, cos 3θ, sin 3θ from the unit offset)
    mx_t = (ti.ravel() + 0.5 + (mtab[:, 0] - 0.5) * 0.25) * M
    my_t = (tj.ravel() + 0.5 + (mtab[:, 1] - 0.5) * 0.25) * M
    R0 = (M * (0.33 + 0.2 * mtab[:, 2])).astype(F32)
    p2, p3 = 6.3 * mtab[:, 3], 6.3 * mtab[:, 4]
    c2, s2 = (0.1 * np.cos(p2)).astype(F32), (0.1 * np.sin(p2)).astype(F32)
    c3, s3 = (0.06 * np.cos(p3)).astype(F32), (0.06 * np.sin(p3)).astype(F32)
    has_t = mtab[:, 5] < 0.5
    xf, yf = (xw - mlo * M).astype(F32), (yw - mjlo * M).astype(F32)
    mxf, myf = (mx_t - mlo * M).astype(F32), (my_t - mjlo * M).astype(F32)
    for dj in (0, 1):
        for di in (0, 1):
            row = (mj + dj - mjlo) * mni + (mi + di - mlo)
            sel = has_t[row]
            if not sel.any():
                continue
            rs = row[sel]
            dx, dy = xf[sel] - mxf[rs], yf[sel] - myf[rs]
            rr = np.maximum(hypot(dx, dy), F32(1e-3))
            c, sn = dx / rr, dy / rr
            cos2, sin2 = c * c - sn * sn, 2 * c * sn
            cos3, sin3 = c * (4 * c * c - 3), sn * (3 - 4 * sn * sn)
            R = R0[rs] * (1 + cos2 * c2[rs] - sin2 * s2[rs] + cos3 * c3[rs] - sin3 * s3[rs])
            d = R - rr  # > 0 inside
            ins = d > 0
            # inside: the macronodule; just outside: the micronodules meet its rim
            b = border[sel]
            border[sel] = np.where(ins, d, np.minimum(b, -d))
            nid[sel] = np.where(ins, -1.0 - ((mi[sel] + di) * 7919 + (mj[sel] + dj)), nid[sel])
            cx[sel] = np.where(ins, mx_t[rs], cx[sel])
            cy[sel] = np.where(ins, my_t[rs], cy[sel])
    # the lattice cells the point was checked in (its micronodule neighbours, its
    # macronodule candidates): the outline distance is continuous within them
    piece = (mi * 65537 + mj).astype(np.float64) * 2.0 ** 26 + (ci * 8191 + cj) % 2 ** 26
    return nid, cx, cy, border.astype(F32), piece


def cirrhosis(x: np.ndarray, y: np.ndarray, seed: int, nodule_um: float, pitch_um: float,
              septum_um: float = 40.0) -> Liver:
    """The architecture of a cirrhotic liver at points x, y: rounded regenerative nodules
    (`nodule_um` is the micronodules' spacing; macronodules are about three times larger)
    of irregular, anastomosing hepatocyte plates one or two cells thick, with no central
    vein. `border` is the distance to the nodule's outline (where the septa lie); there
    are no veins or portal tracts (their remnants are drawn in the septa), and `septum`
    the distance to the edge of the septa, `septum_um` wide on average."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0:
        one = cirrhosis(np.zeros(1), np.zeros(1), seed, nodule_um, pitch_um, septum_um)
        return Liver(*(getattr(one, f.name)[:0] for f in fields(Liver)))
    xw, yw, nid, cx, cy, border, edge, sinus_w = nodule_frame(x, y, seed, nodule_um,
                                                              septum_um)
    # the plates, only where a septum does not cover a pixel wholly (edge > -px/2 there)
    px = abs(float(x[0, 1] - x[0, 0])) if x.ndim == 2 and x.shape[1] > 1 else 0.0
    cut = np.flatnonzero(edge > -(px / 2 + 0.5)) if px > 0 else None
    if cut is None:
        ds, line, radial, along, across, cell, memb, spacing = _plates(x, y, seed, pitch_um)
    else:
        rows, cols = np.divmod(cut, x.shape[1])
        got = _plates(x[rows, cols], y[rows, cols], seed, pitch_um)
        spacing = got[7]
        full: list[np.ndarray] = [np.full(x.shape, np.inf, F32), np.zeros(x.shape), np.zeros(x.shape, F32),
                np.zeros(x.shape, F32), np.zeros(x.shape, F32), np.zeros(x.shape),
                np.zeros(x.shape, F32)]
        for a, v in zip(full, got[:7], strict=True):
            a.reshape(-1)[cut] = v
        ds, line, radial, along, across, cell, memb = full
    size = np.full(x.shape, F32(spacing))
    big = np.full(x.shape, F32(1e6))
    zero = np.zeros(x.shape, F32)
    tu = np.zeros((x.size, 6), F32)  # a row per point
    # the collagen's direction in the septum round each nodule
    tu[:, 5] = hash01(17, after=hash_prefix(nid)).ravel()
    return Liver(cx, cy, big, zero, border, zero, cx, cy, big, tu,
                 np.arange(x.size).reshape(x.shape), ds, line, radial, along,
                 across, cell, size, size, xw, yw, memb, sinus_w, edge)


COARSE_UM = 5.4
"""Node spacing (µm at 1 µm pixels; it scales as the pixels' square root) for the
nodules' outlines, which bend over ≥ 70 µm: interpolated, within 0.05 pixel of exact."""


def nodule_frame(x: np.ndarray, y: np.ndarray, seed: int, nodule_um: float,
                 septum_um: float = 40.0) -> tuple[np.ndarray, ...]:
    """At points x, y (float64 µm, any shape): the warped points, the regenerative
    nodule's identity and centre, the distance (µm) to its outline, to the edge of the
    septum round it (`septum_um` wide on average) and the sinusoids' width there."""

    def warped(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return warp(a, b, seed ^ 0x10B, 0.45 * nodule_um, 0.1 * nodule_um)

    def sinus_w(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray]:
        # narrower than in a normal lobule: the sinusoids of regenerating plates are
        # compressed and capillarised
        return (3.5 + 3.5 * noise_at(*warped(a, b), seed ^ 0x5177, 35.0),)

    nodes = nodes_of(x, y, COARSE_UM * float(np.sqrt(abs(x[0, 1] - x[0, 0])))
                     if x.ndim == 2 and x.shape[1] > 1 else 0.0)
    if nodes is None:
        xw, yw = warped(x, y)
        nid, cx, cy, border, _ = _nodules(xw, yw, seed, nodule_um)
        return (xw, yw, nid, cx, cy, border,
                (border + _septum_rag(xw, yw, seed, septum_um)).astype(F32),
                sinus_w(x, y)[0])
    # a window's pixel grid: the outline distance is smooth inside the nodules (its one
    # kink, on the outline itself, lies mid-septum), so it too is interpolated from the
    # nodes where the four nodes round a pixel lie in one nodule and were checked against
    # the same lattice cells; elsewhere (along outlines and cell lines) exactly
    gxw, gyw = warped(nodes.x, nodes.y)
    g_nid, g_cx, g_cy, g_border, g_piece = _nodules(gxw, gyw, seed, nodule_um)
    xw = x + nodes.up(gxw - nodes.x)
    yw = y + nodes.up(gyw - nodes.y)
    border = nodes.up(g_border)
    nid, cx, cy = nodes.at(g_nid, 0, 0), nodes.at(g_cx, 0, 0), nodes.at(g_cy, 0, 0)
    odd = np.flatnonzero(~(nodes.agree(g_nid) & nodes.agree(g_piece)))
    if odd.size:
        exact = _nodules(xw.reshape(-1)[odd], yw.reshape(-1)[odd], seed, nodule_um)[:4]
        for full, part in zip((nid, cx, cy, border), exact, strict=True):
            full.reshape(-1)[odd] = part
    edge = border + nodes.up(_septum_rag(gxw, gyw, seed, septum_um))
    return xw, yw, nid, cx, cy, border, edge, smoothly(x, y, sinus_w, FINE_UM)[0]


def _plates(x: np.ndarray, y: np.ndarray, seed: int, pitch_um: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                       np.ndarray, float]:
    """Hepatocyte plates of a regenerative nodule at points x, y: polygonal hepatocytes
    (a Voronoi tessellation about `pitch_um` across) some of whose walls open into
    sinusoids. A wall opens more often when it runs along the local plate direction, a
    smooth field that turns through every direction over a few hundred µm, so the cells
    join into short, curving, branching cords one or two cells thick, with no overall
    direction. Returns the distance to the nearest sinusoid's axis, its identity, the
    position along it, the position in the cell (along, across), the cell's hash, the
    distance to the cell's membrane and the cell size (µm)."""
    spacing = 0.9 * pitch_um
    cl = cells_at(x, y, seed ^ 0x4E9A, spacing, 0.85, 3)
    k1 = cl.near
    sx_t, sy_t = cl.seed_x, cl.seed_y
    ilo, jlo, ncol, _ = cl.corner
    n = sx_t.size
    # per lattice cell and each of its 8 neighbours (the only cells it can share a wall
    # with): the wall's normal, its distance from the cell's seed, whether it is open and
    # its identity; a wall opens more often the better it runs along the plate direction
    # (θ, a doubled-angle vector: the mean of the two cells' directions at their seeds)
    th = (4 * np.pi) * noise_at(sx_t, sy_t, seed ^ 0x7A7E, 220.0)
    c2_t, s2_t = np.cos(th), np.sin(th)
    offs = np.array([dj * ncol + di for dj in (-1, 0, 1) for di in (-1, 0, 1)
                     if dj or di])
    k = np.arange(n)[:, None]
    km = k + offs[None, :]
    valid = (km >= 0) & (km < n) & (np.abs(km % ncol - k % ncol) <= 1)
    km = np.clip(km, 0, n - 1)
    dx, dy = sx_t[km] - sx_t[:, None], sy_t[km] - sy_t[:, None]
    sep = np.maximum(np.hypot(dx, dy), 1e-3)
    dx, dy = dx / sep, dy / sep
    cm, sm = c2_t[:, None] + c2_t[km], s2_t[:, None] + s2_t[km]
    fit = ((dy * dy - dx * dx) * cm - 2 * dx * dy * sm) / np.maximum(np.hypot(cm, sm), 1e-3)
    gid = (ilo + k % ncol) * 100003.0 + (jlo + k // ncol)
    gidm = (ilo + km % ncol) * 100003.0 + (jlo + km // ncol)
    pair = hash01(np.minimum(gid, gidm), np.maximum(gid, gidm), 0x5A1)
    opened = valid & (pair < 0.12 + 0.3 * (1 + fit))
    half_t = np.where(opened, sep / 2, np.inf).astype(F32).ravel()
    dx_t, dy_t = dx.astype(F32).ravel(), dy.astype(F32).ravel()
    line_t = np.floor(pair * 2.0 ** 30).ravel()
    flip_t = np.where(km > k, F32(1.0), F32(-1.0)).ravel()
    # per point: the offset from its cell's seed, and the distance to each open wall
    ox, oy = float(sx_t[0]), float(sy_t[0])
    ex = (x - ox).astype(F32) - (sx_t - ox).astype(F32).take(k1)
    ey = (y - oy).astype(F32) - (sy_t - oy).astype(F32).take(k1)
    memb = cl.wall.astype(F32)  # the nearest wall, open or not
    shape = x.shape
    ds = np.full(shape, F32(np.inf))
    radial = np.zeros(shape, F32)
    line = np.zeros(shape)
    near = np.flatnonzero(memb < SINUS_REACH)  # no open wall can be nearer elsewhere
    if near.size:
        e_x, e_y = ex.reshape(-1)[near], ey.reshape(-1)[near]
        k8 = k1.reshape(-1)[near].astype(np.intp) * 8
        best = np.full(near.size, F32(np.inf))
        arg = np.zeros(near.size, np.intp)
        for m in range(8):
            km8 = k8 + m
            d = half_t.take(km8) - e_x * dx_t.take(km8) - e_y * dy_t.take(km8)
            closer = d < best
            np.copyto(arg, km8, where=closer)
            np.minimum(best, d, out=best)
        ds.reshape(-1)[near] = np.maximum(best, F32(0.0))
        radial.reshape(-1)[near] = (e_y * dx_t.take(arg) - e_x * dy_t.take(arg)) * flip_t.take(arg)
        line.reshape(-1)[near] = line_t.take(arg)
    cell = cl.slot(2)
    return ds, line, radial, ex, ey, cell, memb, spacing


SINUS_REACH = 9.0
"""µm from a cell wall beyond which no sinusoid (at most 8.5 µm wide) reaches a point."""


def _ring(d: np.ndarray, r_in: np.ndarray | float, r_out: np.ndarray | float, px: float
          ) -> np.ndarray:
    return inside(d - r_out, px) * (1 - inside(d - r_in, px))


def _triad(lv: Liver, tract_um: float) -> dict[str, np.ndarray]:
    """Signed distances (µm) to the portal vein, hepatic artery and bile duct of the tract
    at each point, in the tract's own frame."""
    return _triad_at(lv.tu, lv.xw - lv.px, lv.yw - lv.py, tract_um)


def _triad_at(tu: np.ndarray, dx: np.ndarray, dy: np.ndarray, tract_um: float
              ) -> dict[str, np.ndarray]:
    """`_triad` from the tract's uniforms (…, 6) and the offsets (µm) from its centre."""
    R = tract_um * (0.6 + 0.6 * tu[..., 2])
    th = 6.283 * tu[..., 5]
    c, sn = np.cos(th), np.sin(th)
    qx = dx * c + dy * sn
    qy = -dx * sn + dy * c
    pv = hypot((qx - 0.15 * R) / (0.48 * R), qy / (0.3 * R)) - 1
    pv = pv * 0.3 * R
    art_r = np.maximum(0.16 * R, 11.0)
    art = hypot(qx + 0.4 * R, qy - 0.42 * R) - art_r
    duct_r = np.maximum(0.17 * R, 13.0)
    duct = hypot(qx + 0.35 * R, qy + 0.45 * R) - duct_r
    return {"pv": pv, "art": art, "art_r": art_r, "duct": duct,
            "duct_r": duct_r, "qx": qx, "qy": qy}


@generator("liver")
def liver(canvas: Canvas, ctx: Ctx) -> None:
    """Liver section. Params: lobule_um (vein-to-vein distance), pitch_um (sinusoid pitch),
    tract_um (portal tract radius), septa (0–1: fraction of lobule borders bridged by
    fibrous septa), septum_um (their width), disorder (0–1: cirrhotic nodules without
    central veins and with irregular plates). Parts: cytoplasm, nucleus, nucleolus,
    membrane, rbc, collagen, muscle (arterial wall), duct (bile-duct epithelium).
    Labels: hepatocyte, hepatocyte-nucleus, sinusoid, central-vein, portal-tract,
    bile-duct, septum, kupffer."""
    w = canvas.window
    layer, z = layer_of(canvas, ctx)
    px = w.px_um
    prm = ctx.params(LiverParams)
    L, pitch, tract_um = prm.lobule_um, prm.pitch_um, prm.tract_um
    sept_frac, sept_um = prm.septa, prm.septum_um
    args = (ctx.seed, L, pitch, tract_um, prm.disorder)
    X, Y = grid(w)
    cirr = prm.disorder >= 0.5 and sept_frac > 0
    lv = (cirrhosis(X, Y, ctx.seed, L, pitch, sept_um) if cirr
          else layout(X, Y, *args, septa=sept_frac > 0))
    # regions
    vein = inside(lv.r - lv.vein_r, px)
    vwall = inside(lv.r - lv.vein_r - 4.0, px) - vein
    tract = inside(lv.tract, px)
    septum = np.zeros(vein.shape, F32)
    edge = np.zeros(vein.shape, F32)
    if cirr:  # every nodule wrapped in a septum of varying width, widest at the junctions
        edge = lv.septum
        septum = inside(edge, px)
    elif sept_frac > 0:  # wavy septa along the bridged borders; the tracts expand into them
        sw = sept_um * (0.5 + noise_at(lv.xw, lv.yw, ctx.seed ^ 0x5E97, 150.0))
        bord = lv.border + 50.0 * (noise_at(lv.xw, lv.yw, ctx.seed ^ 0xB0D, 110.0) - 0.5)
        septum = np.where(lv.pair < sept_frac, inside(np.abs(bord) - sw / 2, px), 0.0)
        tract = inside(lv.tract - 40.0, px)
    septum = np.maximum(septum - tract, 0) * (1 - vein)
    paren = np.clip(1 - vein - vwall - tract - septum, 0, 1)
    sinus = limited(inside(lv.sinus - lv.sinus_w / 2, px), 0.2, 6.0, px) * paren
    hep = paren - sinus
    # hepatocytes: membranes between neighbours, per-cell uptake, granular cytoplasm
    memb = limited(inside(lv.memb - 0.6, px), 0.06, 1.2, px)
    c = lv.cell
    c32 = c.astype(F32)
    cu = (1.0 + 0.24 * (c32 - 0.5)) * (1.05 - 0.1 * np.clip(lv.r / (0.6 * L), 0, 1))
    grain = 0.8 + 0.4 * texture(w, ctx.seed ^ 0x6A, 1.1)
    # nuclei (1, sometimes 2, per cell; not every cell is cut through its nucleus)
    ckey = hash_prefix(np.floor(c * 1e6))  # an integer key per cell for further choices
    ncx = ((hash01(1, after=ckey) - 0.5) * 4.0).astype(F32)
    ncy = ((hash01(2, after=ckey) - 0.5) * 0.3).astype(F32) * lv.cell_wid
    rn = (4.0 + 1.3 * hash01(3, after=ckey)).astype(F32)
    binuc = hash01(4, after=ckey) < 0.2
    off = np.where(binuc, F32(4.6), F32(0.0))
    rn = np.where(binuc, rn * F32(0.85), rn)
    wob = 1 + 0.06 * np.cos(2 * np.arctan2(lv.across - ncy, lv.along - ncx)
                            + F32(6.3) * c32)
    da = hypot(lv.along - ncx - off, lv.across - ncy) / wob
    db = hypot(lv.along - ncx + off, lv.across - ncy) / wob
    dn = np.minimum(da, db)
    has = hash01(5, after=ckey) < 0.82
    nuc_cov = np.where(has, inside(dn - rn, px), 0.0)
    rho = np.clip(dn / rn, 0, 1)
    chrom = 0.75 + 0.6 * np.exp(-((1 - rho) / 0.2) ** 2) + 0.25 * (
        texture(w, ctx.seed ^ 0xC4, 0.8) - 0.5) * 2
    nuc = limited(nuc_cov * chrom, 0.114, 4.6, px) * hep
    nucleolus = np.where(has, inside(hypot(lv.along - ncx - off - 1.0,
                                              lv.across - ncy - 0.6) - 1.0, px), 0.0)
    nucleolus = limited(nucleolus, 0.01, 2.0, px) * hep
    cyto = hep * (1 - 0.35 * memb) * cu * grain * (1 - 0.5 * nuc_cov)
    put(canvas, layer, ctx.cls("cytoplasm"), cyto, "hepatocyte")
    if cirr:
        put(canvas, layer, None, paren, "nodule")
    put(canvas, layer, ctx.cls("membrane"), hep * memb * 0.8)
    put(canvas, layer, ctx.cls("nucleus"), nuc * (0.85 + 0.3 * hash01(6, after=ckey)),
        "hepatocyte-nucleus")
    put(canvas, layer, ctx.cls("nucleolus"), nucleolus * 0.9)
    put(canvas, layer, ctx.cls("cytoplasm"), sinus * 0.12, "sinusoid")  # plasma, lining
    put(canvas, layer, None, vein, "central-vein")
    # central-vein wall and portal tract connective tissue
    # the tract's structures and the collagen, only where there is connective tissue
    shape = vein.shape
    coll = vwall * 0.8
    muscle = np.zeros(shape, F32)
    duct_epi = np.zeros(shape, F32)
    it = np.flatnonzero((tract > 0) | (septum > 0))
    if it.size:
        tr_s, sep_s = tract.reshape(-1)[it], septum.reshape(-1)[it]
        xw_s, yw_s = lv.xw.reshape(-1)[it], lv.yw.reshape(-1)[it]
        tri = _triad_at(lv.tu_at(it), xw_s - lv.px.reshape(-1)[it],
                        yw_s - lv.py.reshape(-1)[it], tract_um)
        pv_lumen = inside(tri["pv"], px) * tr_s
        art_all = inside(tri["art"], px) * tr_s
        art_lumen = inside(tri["art"] + 0.55 * tri["art_r"], px) * tr_s
        duct_all = inside(tri["duct"], px) * tr_s
        duct_lumen = inside(tri["duct"] + 0.6 * tri["duct_r"], px) * tr_s
        amp: float | np.ndarray = 0.35
        if cirr:  # bundles that fade in and out rather than a uniform grain
            amp = 0.1 + 0.35 * noise_at(xw_s, yw_s, ctx.seed ^ 0xF1D, 30.0)
        # wavy collagen fibres
        fib = limited(0.75 + amp * np.cos(
            2 * np.pi * (tri["qx"] * 0.8 + tri["qy"] * 0.6) / 5.0
            + 9 * noise_at(xw_s, yw_s, ctx.seed ^ 0xF1B, 25.0)), 0.75, 2.5, px)
        stroma = np.clip(tr_s - pv_lumen - art_all - duct_all, 0, 1)
        coll.reshape(-1)[it] += ((stroma * 0.7 + sep_s * 0.95) * fib
                                 + tr_s * inside(np.abs(tri["pv"]) - 1.5, px) * 0.8)
        muscle.reshape(-1)[it] = (art_all - art_lumen) * 0.9
        duct_epi.reshape(-1)[it] = duct_all - duct_lumen
    put(canvas, layer, ctx.cls("collagen"), coll)
    put(canvas, layer, None, septum, "septum")
    put(canvas, layer, None, tract, "portal-tract")
    put(canvas, layer, ctx.cls("muscle"), muscle)
    put(canvas, layer, ctx.cls("duct"), duct_epi * 0.8, "bile-duct")
    # sinusoid contents, per pixel: each 16 µm slot along a sinusoid holds an endothelial
    # nucleus, a Kupffer cell, a red cell or nothing (worked out where a sinusoid is)
    on = paren * (lv.sinus < 6.0)
    io = np.flatnonzero(on)
    nuc_s, kup_s, kcyt_s, red_s = (np.zeros(shape, F32) for _ in range(4))
    if io.size:
        radial, ln = lv.radial.reshape(-1)[io], lv.line.reshape(-1)[io]
        ds, on_s = lv.sinus.reshape(-1)[io], on.reshape(-1)[io]
        k = np.floor(radial / 16.0)
        by_slot = hash_prefix(ln, k)
        pick = hash01(3, after=by_slot)
        dr = radial - (k + 0.3 + 0.4 * hash01(4, after=by_slot)) * 16.0
        endo = np.where(pick < 0.22, inside((hypot(dr / 3.8, ds / 1.4) - 1) * 1.4, px), 0.0)
        kup = (pick >= 0.22) & (pick < 0.3)
        kn = np.where(kup, inside((hypot(dr / 4.2, ds / 2.4) - 1) * 2.4, px), 0.0)
        kc = np.where(kup, inside((hypot(dr / 7.0, ds / 3.6) - 1) * 3.6, px), 0.0)
        rho = hypot(dr / 3.6, ds / 3.4)
        red = np.where(pick > 0.62,
                       biconcave(np.minimum(rho, 1.0)) * inside((rho - 1) * 3.4, px), 0.0)
        nuc_s.reshape(-1)[io] = limited(endo + kn * 0.9, 0.012, 2.8, px) * on_s
        kup_s.reshape(-1)[io] = limited(kn, 0.003, 4.8, px) * on_s
        kcyt_s.reshape(-1)[io] = limited((kc - kn) * 0.45, 0.005, 7.0, px) * on_s
        red_s.reshape(-1)[io] = limited(red, 0.03, 7.0, px) * on_s
    put(canvas, layer, ctx.cls("nucleus"), nuc_s)
    put(canvas, layer, None, kup_s, "kupffer")
    put(canvas, layer, ctx.cls("cytoplasm"), kcyt_s)
    rbc, hb = red_cells(canvas, ctx)
    put(canvas, layer, rbc, red_s * hb)
    if cirr:
        _septal_cells(canvas, ctx, layer, (ctx.seed, L, pitch, sept_um), edge)
    else:
        cand = (lv.r < lv.vein_r + 10) | (lv.tract < 10) | (septum > 0)
        _points(canvas, ctx, layer, z, args, tract_um, sept_frac, cand)
    pack_red_cells(canvas, ctx, layer)
    section(canvas, layer, ctx.seed ^ 0x5EC7)


def _points(canvas: Canvas, ctx: Ctx, layer: int, z: float,
            args: tuple[int, float, float, float, float], tract_um: float, sept_frac: float,
            cand: np.ndarray) -> None:
    """Cells placed as points and checked against the architecture (only points near a
    vein, tract or septum, `cand` on the pixel grid): red cells in vein lumina, endothelium,
    fibroblast and lymphocyte nuclei in tracts and septa, duct and arterial nuclei."""
    nuc, (rbc, hb) = ctx.cls("nucleus"), red_cells(canvas, ctx)
    w = canvas.window

    def near(x: np.ndarray, y: np.ndarray, u: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Liver]:
        ix = np.clip(((x - w.x0_um) / w.px_um).astype(np.int64), 0, w.width - 1)
        iy = np.clip(((y - w.y0_um) / w.px_um).astype(np.int64), 0, w.height - 1)
        keep = cand[iy, ix]
        return x[keep], y[keep], u[keep], layout(x[keep], y[keep], *args,
                                                 septa=sept_frac > 0)

    # vein lumina: a few red cells (most drain out in fixation)
    x, y, u, lv = near(*ctx.points(9.0, 8.0, 8))
    tri = _triad(lv, tract_um)
    in_tract = lv.tract < 0
    lumen = (lv.r < lv.vein_r - 4) | (in_tract & (tri["pv"] < -4))
    red = lumen & (u[:, 2] < 0.18)
    if rbc and red.any():
        draw(canvas, rbc, x[red], y[red], 3.7, 3.6, 6.3 * u[red, 3], z_um=z,
             profile="biconcave", amount=hb)
    # endothelium of the central vein
    rim = (np.abs(lv.r - lv.vein_r - 2) < 2.5) & (u[:, 2] > 0.75)
    nuclei(canvas, layer, nuc, x[rim], y[rim], 3.8, 1.3, np.arctan2(lv.yw - lv.vy, lv.xw -
           lv.vx)[rim] + np.pi / 2, u[rim], 0.95)
    # tract and septum stroma: fibroblasts (spindles) and lymphocytes (round, dark)
    x, y, u, lv = near(*ctx.points(13.0 if sept_frac == 0 else 10.0, 8.0, 8))
    tri = _triad(lv, tract_um)
    sept = (lv.pair < sept_frac) & (lv.border < 16) & (lv.tract > 0)
    stroma = ((lv.tract < -3) & (tri["pv"] > 3) & (tri["art"] > 3) & (tri["duct"] > 3)) | sept
    lym = stroma & (u[:, 2] < (0.35 if sept_frac == 0 else 0.55))
    fibro = stroma & ~lym & (u[:, 2] < 0.75)
    nuclei(canvas, layer, nuc, x[lym], y[lym], 2.8, 2.6, 6.3 * u[lym, 3], u[lym], 1.2)
    nuclei(canvas, layer, nuc, x[fibro], y[fibro], 4.5, 1.3, 6.3 * u[fibro, 3], u[fibro], 1.0)
    # bile duct: cuboidal nuclei on a ring; artery: smooth-muscle nuclei in the wall
    x, y, u, lv = near(*ctx.points(5.0, 8.0, 8))
    tri = _triad(lv, tract_um)
    ok = lv.tract < 0
    d_ring = ok & (np.abs(tri["duct"] + 0.3 * tri["duct_r"]) < 1.6) & (u[:, 2] < 0.7)
    nuclei(canvas, layer, nuc, x[d_ring], y[d_ring], 2.6, 2.4, 0.0, u[d_ring], 1.0)
    a_ring = ok & (np.abs(tri["art"] + 0.25 * tri["art_r"]) < 1.5) & (u[:, 2] < 0.5)
    ang = np.arctan2(tri["qy"], tri["qx"])
    nuclei(canvas, layer, nuc, x[a_ring], y[a_ring], 3.5, 1.1, ang[a_ring] + np.pi / 2,
           u[a_ring], 1.0)


def _septum_rag(xw: np.ndarray, yw: np.ndarray, seed: int, sept_um: float) -> np.ndarray:
    """Where the edge of a cirrhotic septum lies against the distance to the nodules'
    outline at the warped points (µm): the septa are 0.6–1.7 × `sept_um` wide, their edges
    gently ragged."""
    sw = sept_um * (0.6 + 1.1 * noise_at(xw, yw, seed ^ 0x5E97, 260.0))
    return 14.0 * (noise_at(xw, yw, seed ^ 0xB0D, 70.0) - 0.5) - sw / 2


def _septal_cells(canvas: Canvas, ctx: Ctx, layer: int, args: tuple, grid_edge: np.ndarray
                  ) -> None:
    """Cells of cirrhotic septa, placed as points and kept where the septum is (`args`:
    seed, nodule spacing, plate pitch, septum width; `grid_edge` the septum edge distance on
    the window's pixels): lymphocytes,
    densest at the interface with the nodules and in patchy clusters; fibroblasts; and the
    ductular reaction: small ductules (a ring of cuboidal nuclei) along the septum's edge."""
    nuc, duct = ctx.cls("nucleus"), ctx.cls("duct")
    seed, L, pitch, sept_um = args

    w = canvas.window

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The edge distance at the points themselves (so the same in every window); the
        window's grid only rules out points well inside a nodule first."""
        fx, fy = (x - w.x0_um) / w.px_um, (y - w.y0_um) / w.px_um
        inwin = (fx >= 0) & (fx < w.width) & (fy >= 0) & (fy < w.height)
        ix = np.clip(fx.astype(np.int64), 0, w.width - 1)
        iy = np.clip(fy.astype(np.int64), 0, w.height - 1)
        e = np.full(x.shape, F32(1e6))
        maybe = ~inwin | (grid_edge[iy, ix] < 30.0 + 2 * w.px_um)
        if maybe.any():
            e[maybe] = nodule_frame(x[maybe], y[maybe], seed, L, sept_um)[6]
        return e

    x, y, u = ctx.points(9.0, 8.0, 8)
    e = at(x, y)
    inner = e < -2.0
    clus = noise_at(x, y, ctx.seed ^ 0x1F1, 130.0)
    p_lym = np.where(e > -25.0, 0.14, 0.04) + np.where(clus > 0.64, 0.4, 0.0)
    lym = inner & (u[:, 2] < p_lym)
    fibro = inner & ~lym & (u[:, 2] > 0.86)
    nuclei(canvas, layer, nuc, x[lym], y[lym], 2.8, 2.6, 6.3 * u[lym, 3], u[lym], 1.2)
    nuclei(canvas, layer, nuc, x[fibro], y[fibro], 5.0, 1.3, 6.3 * u[fibro, 3], u[fibro], 1.0)
    # ductules: 12–18 µm across, a few cuboidal cells round a slit of a lumen
    x, y, u = ctx.points(34.0, 20.0, 8)
    e = at(x, y)
    keep = (e < -7.0) & (e > -30.0) & (u[:, 2] < 0.5)
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    r = 6.0 + 3.0 * u[:, 3]
    if duct:
        draw(canvas, duct, x, y, r, r * (0.7 + 0.2 * u[:, 4]), 6.3 * u[:, 5], amount=0.75,
             label="ductule")
    k = np.arange(6)
    ang = 6.283 * (u[:, 6:7] + k[None, :] / 6)
    nx = (x[:, None] + 0.62 * r[:, None] * np.cos(ang)).ravel()
    ny = (y[:, None] + 0.62 * r[:, None] * np.sin(ang)).ravel()
    un = np.repeat(u, 6, axis=0)
    un[:, 2:] = (un[:, 2:] + 0.37 * np.tile(k, x.size)[:, None]) % 1.0  # no two alike
    nuclei(canvas, layer, nuc, nx, ny, 2.4, 2.0, ang.ravel(), un, 1.1)

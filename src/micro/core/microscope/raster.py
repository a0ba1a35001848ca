"""Rasterize structures into amount maps, conserving area at every magnification.

Amounts are relative path lengths: 1 means "the class's typical thickness over this pixel".
Structures larger than a pixel are drawn with an anti-aliased edge; structures smaller than a
pixel are splatted with their area-averaged amount, so a 4× overview has the right colour and
density and a 100× view resolves the very structures it showed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from micro.core.errors import TooMuchWork
from micro.core.microscope.lattice import Window, uniforms
from micro.core.microscope.seeds import nearest
from micro.core.models import StructureClass

Profile = Callable[[np.ndarray], np.ndarray]


def flat(r: np.ndarray) -> np.ndarray:
    return np.ones_like(r)


def dome(r: np.ndarray) -> np.ndarray:
    """Hemispherical-ish thickness profile (cells, droplets, grains)."""
    return np.sqrt(np.clip(1.0 - r * r, 0.0, 1.0)) * 1.5


def lens(r: np.ndarray) -> np.ndarray:
    """Flattened cell (spread epithelium, cultured cell): thicker centre, thin rim."""
    return (1.0 - r * r) ** 0.5 * 0.6 + 0.4 * (1.0 - r * r)


def biconcave(r: np.ndarray) -> np.ndarray:
    """Red-cell thickness (Evans & Fung 1972), normalized to a mean of ~1: central pallor."""
    r2 = np.clip(r * r, 0.0, 1.0)
    h = np.sqrt(1.0 - r2) * (0.81 + 7.83 * r2 - 4.39 * r2 * r2) / 3.9
    return h * 1.6


def rim(r: np.ndarray) -> np.ndarray:
    """A shell seen in projection: wall of a hollow structure (pollen exine, frustule, vesicle)."""
    return np.exp(-(((1.0 - r) / 0.12) ** 2)) * 1.4 + 0.15


PROFILES: dict[str, Profile] = {"flat": flat, "dome": dome, "lens": lens,
                                "biconcave": biconcave, "rim": rim}


def _mean_profile(profile: Profile) -> float:
    r = np.sqrt((np.arange(4096) + 0.5) / 4096)  # equal-area samples of the unit disc
    return float(profile(r).mean())


_MEANS = {name: _mean_profile(p) for name, p in PROFILES.items()}

MAX_DRAWN = 8_000_000
"""Structures one scene may draw: the running check behind the work budget's estimate
(`budget.py`), should a generator draw far more than its estimate."""

_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
            1536, 2048)
ORIENT = ("fixed", "along", "across", "radial", "tangential", "random")


@dataclass
class Canvas:
    """Accumulators: amount per (layer, class) and retardance vectors per layer (flat arrays)."""

    window: Window
    layer_z_um: list[float]
    structures: Mapping[str, StructureClass]
    weight: float = 1.0
    """How many structures each drawn one stands for (a subsampled dense population)."""
    amounts: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)
    retard: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    stamps: int = 0
    """Structures drawn so far (the work budget's running count)."""
    slabs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    """Per layer, room reserved for its class maps in one (rows, H·W) block (`reserve`)."""

    @property
    def npix(self) -> int:
        return self.window.width * self.window.height

    def reserve(self, layer: int, rows: int) -> None:
        """Keep the first `rows` class maps of a layer in one contiguous block, so that the
        scene can hand them to the optics as they are instead of copying them into a stack.
        Rows are taken in the order the classes are first drawn; pages of rows never used
        are never touched."""
        if rows > 0 and layer not in self.slabs:
            self.slabs[layer] = np.empty((rows, self.npix), dtype=np.float32)

    def _new_map(self, layer: int, key: tuple[int, str]) -> np.ndarray | None:
        """The next free row of the layer's block (registered under key), if any."""
        slab = self.slabs.get(layer)
        if slab is None:
            return None
        k = sum(1 for (li, _c) in self.amounts if li == layer)
        if k >= slab.shape[0]:
            return None
        self.amounts[key] = slab[k]
        return slab[k]

    def layer_block(self, layer: int) -> np.ndarray | None:
        """The layer's class maps as one (C, H·W) array (in `amounts` order) when they all
        lie in its reserved block, else None."""
        slab = self.slabs.get(layer)
        maps = [a for (li, _c), a in self.amounts.items() if li == layer]
        if slab is None or not maps or len(maps) > slab.shape[0]:
            return None
        row = slab.strides[0]
        base = slab.__array_interface__["data"][0]
        if not all(m.__array_interface__["data"][0] == base + k * row
                   for k, m in enumerate(maps)):
            return None
        if slab.shape[0] - len(maps) > max(1, len(maps)):
            # most reserved rows were never drawn into: keep a tight copy, so that what the
            # caches count is near what the scene holds (a row never drawn into was never
            # touched — its pages are not resident — but the caches count it)
            return slab[:len(maps)].copy()
        return slab[:len(maps)]

    def layer_of(self, z_um: np.ndarray) -> np.ndarray:
        z = np.asarray(self.layer_z_um)
        if len(z) == 1:
            return np.zeros(np.shape(z_um), dtype=np.int64)
        return np.abs(np.asarray(z_um)[..., None] - z).argmin(axis=-1)

    def accumulator(self, layer: int, cls: str, shared: bool = False
                    ) -> tuple[np.ndarray, bool]:
        """Where a drawing of one class into one layer can sum its structures: the class's
        map itself (zeroed, registered) when it has none yet, else a new zeroed array the
        caller passes to `add` (so the sum is the same either way) — or, with `shared`,
        the class's existing map itself (a caller that needs no map of its own drawing
        adds straight into it). Returns (array, is the class map)."""
        key = (layer, cls)
        if key in self.amounts:
            if shared:
                return self.amounts[key], True
            return np.zeros(self.npix, dtype=np.float32), False
        row = self._new_map(layer, key)
        if row is None:
            row = self.amounts[key] = np.zeros(self.npix, dtype=np.float32)
        else:
            row.fill(0.0)
        return row, True

    def add(self, layer: int, cls: str, flat_map: np.ndarray, span: slice | None = None
            ) -> None:
        """Add a full-image map into the class's; `span` (a range of flat indices, whole
        rows) bounds where it can be non-zero, so the rest is neither read nor written."""
        key = (layer, cls)
        if key in self.amounts:
            if span is None:
                self.amounts[key] += flat_map
            else:
                self.amounts[key][span] += flat_map[span]
            return
        row = self._new_map(layer, key)
        if row is None:
            if span is None:
                self.amounts[key] = flat_map.astype(np.float32)
            else:
                row = self.amounts[key] = np.zeros(self.npix, dtype=np.float32)
                row[span] = flat_map[span]
        elif span is None:
            np.copyto(row, flat_map)
        else:
            row[span] = flat_map[span]

    def add_box(self, layer: int, cls: str, rows: slice, cols: slice, values: np.ndarray,
                label: str | None = None) -> None:
        """Add `values` into the box rows × cols of the class's map (and of the label's)
        without building a full-image array."""
        self._add_box(self.amounts, (layer, cls), rows, cols, values)
        if label:
            self._add_box(self.labels, label, rows, cols, values)

    def _add_box(self, store: dict[Any, np.ndarray], key: object, rows: slice, cols: slice,
                 values: np.ndarray) -> None:
        acc = store.get(key)
        if acc is None:
            acc = self._new_map(key[0], key) if store is self.amounts else None  # type: ignore[index, arg-type]
            if acc is None:
                acc = store[key] = np.zeros(self.npix, dtype=np.float32)
            else:
                acc.fill(0.0)
        acc.reshape(self.window.height, self.window.width)[rows, cols] += values

    def add_retardance_box(self, layer: int, rows: slice, cols: slice, c2: np.ndarray,
                           s2: np.ndarray) -> None:
        if layer not in self.retard:
            self.retard[layer] = (np.zeros(self.npix, dtype=np.float32),
                                  np.zeros(self.npix, dtype=np.float32))
        for acc, values in zip(self.retard[layer], (c2, s2), strict=True):
            acc.reshape(self.window.height, self.window.width)[rows, cols] += values

    def add_retardance(self, layer: int, c2: np.ndarray, s2: np.ndarray,
                       span: slice | None = None, owned: bool = False) -> None:
        """Add retardance vector maps into the layer's (`span` as for `add`; `owned`: the
        caller hands over float32 arrays it no longer uses, kept as they are)."""
        sl = slice(None) if span is None else span
        if layer in self.retard:
            a, b = self.retard[layer]
            a[sl] += c2[sl]
            b[sl] += s2[sl]
        elif owned and c2.dtype == np.float32 and s2.dtype == np.float32:
            self.retard[layer] = (c2, s2)
        else:
            self.retard[layer] = (c2.astype(np.float32), s2.astype(np.float32))

    def add_label(self, label: str, flat_map: np.ndarray, span: slice | None = None) -> None:
        """Add a full-image map into a label's (`span` as for `add`)."""
        if span is None:
            if label in self.labels:
                self.labels[label] += flat_map
            else:
                self.labels[label] = flat_map.astype(np.float32)
            return
        acc = self.labels.get(label)
        if acc is None:
            acc = self.labels[label] = np.zeros(self.npix, dtype=np.float32)
        acc[span] += flat_map[span]


def flat_span(w: Window, cy: np.ndarray, reach: np.ndarray) -> slice:
    """The flat indices of the whole image rows that structures centred at rows `cy` (px)
    and reaching `reach` px can draw into (with a margin for anti-aliased edges and
    splats): what lies outside stays zero."""
    r0 = int(max(0, np.floor((cy - reach).min()) - 3))
    r1 = int(min(w.height, np.ceil((cy + reach).max()) + 4))
    return slice(r0 * w.width, max(r0, r1) * w.width)


def draw(canvas: Canvas, cls: str, x_um: np.ndarray, y_um: np.ndarray,
         a_um: np.ndarray | float, b_um: np.ndarray | float, theta: np.ndarray | float = 0.0, *, z_um: np.ndarray | float = 0.0,
         amount: np.ndarray | float = 1.0, profile: str = "flat",
         half_len_um: np.ndarray | float = 0.0, retardance_nm: float | None = None,
         orient: str | None = None, axis: np.ndarray | float = 0.0,
         label: str | None = None, rect: bool = False) -> None:
    """Draw ellipses (or capsules when half_len_um > 0) of one class.

    a_um, b_um: semi-axes along and across `theta` (radians, image frame, y down); a capsule
    adds a straight part of half-length `half_len_um` along theta; `rect` draws rectangles of
    half-sides a, b instead. `amount` scales the profile.
    Birefringent classes also add their retardance (nm, default: the class's) with the slow
    axis given by `orient` (default: the class's `slow_axis`; `axis` for "random").
    """
    w = canvas.window
    props = canvas.structures[cls]
    if retardance_nm is None:
        retardance_nm = props.birefringence_retardance_nm
    if orient is None:
        orient = props.slow_axis
    n = np.size(x_um)
    if n == 0:
        return
    canvas.stamps += n
    if canvas.stamps > MAX_DRAWN:
        raise TooMuchWork(f"this view would draw over {MAX_DRAWN / 1e6:.0f} million "
                          f"structures", field="objective",
                          allowed="a higher magnification (a smaller field)")
    x_um, y_um = np.broadcast_to(x_um, (n,)), np.broadcast_to(y_um, (n,))
    px = w.px_um
    A = np.broadcast_to(np.asarray(a_um, dtype=np.float64) / px, (n,))
    B = np.broadcast_to(np.asarray(b_um, dtype=np.float64) / px, (n,))
    H = np.broadcast_to(np.asarray(half_len_um, dtype=np.float64) / px, (n,))
    th = np.broadcast_to(np.asarray(theta, dtype=np.float64), (n,))
    amt = np.broadcast_to(np.asarray(amount, dtype=np.float64) * canvas.weight, (n,))
    ax = np.broadcast_to(np.asarray(axis, dtype=np.float64), (n,))
    layers = np.broadcast_to(canvas.layer_of(np.asarray(z_um)), (n,))
    cx, cy = w.to_px(np.asarray(x_um, dtype=np.float64), np.asarray(y_um, dtype=np.float64))
    reach = np.hypot(A, B) if rect else np.maximum(A, B) + H
    prof = PROFILES[profile]
    mean_p = _MEANS[profile]
    # area (px²) · mean profile: what every structure must add up to, whatever its size
    area = 4.0 * A * B if rect else np.pi * A * B + 4.0 * H * B
    target = amt * (1.0 if rect else mean_p) * area
    visible = ((cx + reach + 2 > 0) & (cx - reach - 2 < w.width)
               & (cy + reach + 2 > 0) & (cy - reach - 2 < w.height) & (target > 0))
    idx_all = np.nonzero(visible)[0]
    if idx_all.size == 0:
        return
    birefringent = retardance_nm > 0
    for layer in np.unique(layers[idx_all]):
        sel = idx_all[layers[idx_all] == layer]
        tiny = sel[reach[sel] < 0.75]
        big = sel[reach[sel] >= 0.75]
        # float32 accumulators with scatter-adds: no full-image temporary per chunk
        acc, fresh = canvas.accumulator(int(layer), cls, shared=not label)
        c2 = np.zeros(canvas.npix, dtype=np.float32) if birefringent else None
        s2 = np.zeros(canvas.npix, dtype=np.float32) if birefringent else None
        if tiny.size:
            _splat(acc, w, cx[tiny], cy[tiny], target[tiny])
            if c2 is not None and s2 is not None:
                ang = _tiny_axis(orient, th[tiny], ax[tiny])
                _splat(c2, w, cx[tiny], cy[tiny], target[tiny] * np.cos(2 * ang))
                _splat(s2, w, cx[tiny], cy[tiny], target[tiny] * np.sin(2 * ang))
        if big.size:
            # long thin structures (needles, rods, fibres) fill a small part of their
            # square stamp: they are evaluated row by row on the pixels they can touch
            thin = (reach[big] >= 3.0) & (reach[big] > THIN * (np.minimum(A[big], B[big]) + 1.0))
            if thin.any():
                _rows(acc, c2, s2, w, big[thin], reach, cx, cy, A, B, H, th, amt, ax, target,
                      prof, orient, rect)
                big = big[~thin]
        if big.size:
            bucket = np.searchsorted(_BUCKETS, np.ceil(reach[big] + 1.0))
            for bk in np.unique(bucket):
                grp = big[bucket == bk]
                R = _BUCKETS[min(int(bk), len(_BUCKETS) - 1)]
                if R >= 48:  # few and large: stamp each one only where it meets the image
                    for g in grp:
                        _stamp_clipped(acc, c2, s2, w, int(g), reach, cx, cy, A, B, H, th,
                                       amt, ax, target, prof, orient, rect)
                    continue
                chunk = max(1, 150_000 // ((2 * R + 1) ** 2))
                for start in range(0, grp.size, chunk):
                    g = grp[start:start + chunk]
                    _stamp(acc, c2, s2, w, g, R, cx, cy, A, B, H, th, amt, ax, target, prof,
                           orient, rect)
        span = flat_span(w, cy[sel], reach[sel] + H[sel])
        if not fresh:
            canvas.add(int(layer), cls, acc, span)
        if label:
            canvas.add_label(label, acc, span)
        if birefringent and c2 is not None and s2 is not None:
            c2[span] *= np.float32(retardance_nm)
            s2[span] *= np.float32(retardance_nm)
            canvas.add_retardance(int(layer), c2, s2, span, owned=True)


THIN = 3.0
"""A structure whose reach exceeds this many times its half-width (+1 px) is drawn by rows."""
ROW_PIXELS = 1_000_000
"""Pixels evaluated at once by `_rows`."""


def _rows(acc: np.ndarray, c2: np.ndarray | None, s2: np.ndarray | None, w: Window,
          g: np.ndarray, reach: np.ndarray, cx: np.ndarray, cy: np.ndarray, A: np.ndarray,
          B: np.ndarray, H: np.ndarray, th: np.ndarray, amt: np.ndarray, ax: np.ndarray,
          target: np.ndarray, prof: Profile, orient: str, rect: bool) -> None:
    """Structures drawn on the pixels of their oriented bounding rectangle only, row by
    row (all rows of all structures at once): the same values as a square stamp, whose
    other pixels are exactly zero. As with stamps, a structure under 4 px across whose
    stamp would be small has its area·amount conserved; others are clipped to the image."""
    a, b, hl = A[g], B[g], H[g]
    c, s = np.cos(th[g]), np.sin(th[g])
    if rect:
        ha, hb = hl + a + 0.5, b + 0.5
    else:  # where the anti-aliased edge ends: rho = 1 + 0.5 / min(a, b)
        grow = 1.0 + 0.5 / np.maximum(np.minimum(a, b), 1e-6)
        ha, hb = hl + a * grow, b * grow
    ha, hb = ha + 0.05, hb + 0.05
    ext = np.abs(c) * ha + np.abs(s) * hb, np.abs(s) * ha + np.abs(c) * hb  # x, y extent
    # the square each would be stamped on (which cuts the faint ends of sub-pixel-wide
    # needles, whose edge ramp is stretched along them): a size bucket's stamp round the
    # centre pixel, whose structures under 4 px across have their amount conserved, or
    # (R ≥ 48) the bounding box of its reach, clipped to the image
    R = np.asarray(_BUCKETS)[np.minimum(np.searchsorted(_BUCKETS, np.ceil(reach[g] + 1.0)),
                                        len(_BUCKETS) - 1)]
    boxed = R >= 48
    norm = (np.minimum(a, b) < 4.0) & ~boxed
    r = reach[g] + 1.0
    box = [np.where(boxed, np.floor(p - r), np.floor(p) - R) for p in (cx[g], cy[g])]
    box += [np.where(boxed, np.ceil(p + r) - 1, np.floor(p) + R) for p in (cx[g], cy[g])]
    y_lo = np.maximum(np.floor(cy[g] - ext[1] - 0.5), box[1]).astype(np.int64)
    y_hi = np.minimum(np.ceil(cy[g] + ext[1] + 0.5), box[3]).astype(np.int64)
    y_lo = np.where(norm, y_lo, np.maximum(y_lo, 0))
    y_hi = np.where(norm, y_hi, np.minimum(y_hi, w.height - 1))
    nrow = np.maximum(y_hi - y_lo + 1, 0)
    # one entry per (structure, row)
    k = np.repeat(np.arange(g.size), nrow)
    row = y_lo[k] + (np.arange(k.size) - np.repeat(np.cumsum(nrow) - nrow, nrow))
    v = row + 0.5 - cy[g][k]
    # |u·c + v·s| ≤ ha and |v·c − u·s| ≤ hb, each an interval of u (or all/none)
    lo = np.full(k.size, -np.inf)
    hi = np.full(k.size, np.inf)
    for coef, off, half in ((c[k], v * s[k], ha[k]), (-s[k], v * c[k], hb[k])):
        ok = np.abs(coef) > 1e-9
        safe = np.where(ok, coef, 1.0)
        e1, e2 = (-half - off) / safe, (half - off) / safe
        lo = np.maximum(lo, np.where(ok, np.minimum(e1, e2), np.where(np.abs(off) <= half,
                                                                      -np.inf, np.inf)))
        hi = np.minimum(hi, np.where(ok, np.maximum(e1, e2), np.where(np.abs(off) <= half,
                                                                      np.inf, -np.inf)))
    lim = ext[0][k] + 1.0  # finite bounds (an empty row keeps lo > hi)
    lo = np.clip(lo, -lim, lim)
    hi = np.clip(hi, -lim, lim)
    x_lo = np.maximum(np.ceil(cx[g][k] + lo - 0.5), box[0][k])
    x_hi = np.minimum(np.floor(cx[g][k] + hi - 0.5), box[2][k])
    clip = ~norm[k]
    x_lo = np.where(clip, np.maximum(x_lo, 0), x_lo).astype(np.int64)
    x_hi = np.where(clip, np.minimum(x_hi, w.width - 1), x_hi).astype(np.int64)
    ncol = np.maximum(x_hi - x_lo + 1, 0)
    # chunks of whole structures, about ROW_PIXELS pixels each
    per = np.bincount(k, weights=ncol, minlength=g.size)
    bounds = np.searchsorted(np.cumsum(per), np.arange(1, int(per.sum() // ROW_PIXELS) + 1)
                             * ROW_PIXELS)
    starts = np.unique(np.concatenate([[0], bounds, [g.size]]))
    first_row = np.cumsum(nrow) - nrow
    f32 = np.float32
    for j0, j1 in itertools.pairwise(starts):
        r0 = first_row[j0] if j0 < g.size else k.size
        r1 = first_row[j1] if j1 < g.size else k.size
        n = ncol[r0:r1]
        if n.sum() == 0:
            continue
        rk = np.repeat(np.arange(r0, r1), n)
        col = x_lo[rk] + (np.arange(rk.size) - np.repeat(np.cumsum(n) - n, n))
        gi = k[rk]
        u = (col + 0.5 - cx[g][gi]).astype(f32)
        vv = v[rk].astype(f32)
        val = _shape(u, vv, c[gi].astype(f32), s[gi].astype(f32), hl[gi].astype(f32),
                     np.maximum(a, 1e-6)[gi].astype(f32), np.maximum(b, 1e-6)[gi].astype(f32),
                     prof, rect)
        local = gi - j0
        total = np.bincount(local, weights=val, minlength=j1 - j0)
        sel = g[j0:j1]
        scale = np.where(norm[j0:j1], target[sel] / np.maximum(total, 1e-12), amt[sel])
        scale = np.where(norm[j0:j1] & (total <= 0), 0.0, scale)
        val *= scale.astype(f32)[local]
        rr = row[rk]
        m = (col >= 0) & (col < w.width) & (rr >= 0) & (rr < w.height) & (val > 0)
        idx = rr[m] * w.width + col[m]
        vals = val[m].astype(f32, copy=False)
        # scatter-adds of the covered pixels only (no image-sized temporaries)
        np.add.at(acc, idx, vals)
        if c2 is not None and s2 is not None:
            if orient in ("radial", "tangential"):
                ang = np.arctan2(vv[m], u[m]) + f32(np.pi / 2 if orient == "tangential" else 0)
            else:
                ang = _tiny_axis(orient, th[sel], ax[sel])[local[m]]
            np.add.at(c2, idx, (vals * np.cos(2 * ang)).astype(f32))
            np.add.at(s2, idx, (vals * np.sin(2 * ang)).astype(f32))


def _tiny_axis(orient: str, th: np.ndarray, ax: np.ndarray) -> np.ndarray:
    if orient == "along":
        return th
    if orient == "across":
        return th + np.pi / 2
    if orient == "random":
        return ax
    if orient == "fixed":
        return np.zeros_like(th)
    return ax  # radial/tangential average out inside one pixel; keep a per-structure angle


def _splat(acc: np.ndarray, w: Window, cx: np.ndarray, cy: np.ndarray, val: np.ndarray) -> None:
    """Bilinear splat of point masses (their total is conserved inside the image)."""
    fx, fy = cx - 0.5, cy - 0.5
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = fx - ix, fy - iy
    for dx, dy, wt in ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)),
                       (0, 1, (1 - tx) * ty), (1, 1, tx * ty)):
        jx, jy = ix + dx, iy + dy
        ok = (jx >= 0) & (jx < w.width) & (jy >= 0) & (jy < w.height)
        if ok.any():
            np.add.at(acc, jy[ok] * w.width + jx[ok], (val * wt)[ok].astype(np.float32))


def _stamp_clipped(acc: np.ndarray, c2: np.ndarray | None, s2: np.ndarray | None, w: Window,
                   g: int, reach: np.ndarray, cx: np.ndarray, cy: np.ndarray, A: np.ndarray,
                   B: np.ndarray, H: np.ndarray, th: np.ndarray, amt: np.ndarray,
                   ax: np.ndarray, target: np.ndarray, prof: Profile, orient: str,
                   rect: bool) -> None:
    """One large structure, evaluated only on the pixels of its bounding box inside the image
    (its area is many pixels, so no area correction is needed)."""
    r = reach[g] + 1.0
    x0 = max(int(np.floor(cx[g] - r)), 0)
    x1 = min(int(np.ceil(cx[g] + r)), w.width)
    y0 = max(int(np.floor(cy[g] - r)), 0)
    y1 = min(int(np.ceil(cy[g] + r)), w.height)
    if x0 >= x1 or y0 >= y1:
        return
    f32 = np.float32
    u = (np.arange(x0, x1) + 0.5 - cx[g]).astype(f32)[None, :]
    v = (np.arange(y0, y1) + 0.5 - cy[g]).astype(f32)[:, None]
    val = _shape(u, v, f32(np.cos(th[g])), f32(np.sin(th[g])), f32(H[g]),
                 f32(max(A[g], 1e-6)), f32(max(B[g], 1e-6)), prof, rect)
    val *= f32(amt[g])
    view = acc.reshape(w.height, w.width)
    view[y0:y1, x0:x1] += val
    if c2 is not None and s2 is not None:
        if orient in ("radial", "tangential"):
            ang = np.arctan2(v, u) + (np.pi / 2 if orient == "tangential" else 0.0)
        else:
            ang = np.full_like(val, _tiny_axis(orient, th[g:g + 1], ax[g:g + 1])[0])
        c2.reshape(w.height, w.width)[y0:y1, x0:x1] += val * np.cos(2 * ang)
        s2.reshape(w.height, w.width)[y0:y1, x0:x1] += val * np.sin(2 * ang)


def _shape(u: np.ndarray, v: np.ndarray, c: Any, s: Any, half_len: Any, a: Any, b: Any,
           prof: Profile, rect: bool) -> np.ndarray:
    """Anti-aliased coverage × thickness profile (float32) at offsets (u, v) px from a
    structure's centre: an ellipse of semi-axes a, b (a capsule when half_len > 0, a
    rectangle of half-sides a, b when rect) turned by (cos, sin) = (c, s)."""
    f32 = np.float32
    up = u * c + v * s
    vp = v * c - u * s
    np.abs(up, out=up)
    up -= half_len
    np.maximum(up, f32(0.0), out=up)
    if rect:
        val = np.clip(a - up + f32(0.5), 0.0, 1.0)
        val *= np.clip(b - np.abs(vp) + f32(0.5), 0.0, 1.0)
        return val
    up /= a
    vp /= b
    rho = np.square(up, out=up)
    rho += np.square(vp, out=vp)
    np.sqrt(rho, out=rho)
    edge = np.clip((f32(1.0) - rho) * np.minimum(a, b) + f32(0.5), 0.0, 1.0)
    val = prof(np.minimum(rho, f32(1.0), out=rho))
    val *= edge
    return val


def _stamp(acc: np.ndarray, c2: np.ndarray | None, s2: np.ndarray | None, w: Window,
           g: np.ndarray, R: int, cx: np.ndarray, cy: np.ndarray, A: np.ndarray,
           B: np.ndarray, H: np.ndarray, th: np.ndarray, amt: np.ndarray, ax: np.ndarray,
           target: np.ndarray, prof: Profile, orient: str, rect: bool) -> None:
    """Structures of one size bucket, each on a (2R+1)² stamp around its centre pixel.
    Offsets within a stamp are small, so the per-pixel work is float32; pixel indices are
    integers."""
    f32 = np.float32
    off = np.arange(-R, R + 1, dtype=np.int32)
    fx, fy = np.floor(cx[g]), np.floor(cy[g])
    u = off.astype(f32)[None, None, :] + (fx + 0.5 - cx[g]).astype(f32)[:, None, None]
    v = off.astype(f32)[None, :, None] + (fy + 0.5 - cy[g]).astype(f32)[:, None, None]
    def per(x: np.ndarray) -> np.ndarray:  # one value per structure, on its stamp's axis
        return x.astype(f32)[:, None, None]

    val = _shape(u, v, per(np.cos(th[g])), per(np.sin(th[g])), per(H[g]),
                 per(np.maximum(A[g], 1e-6)), per(np.maximum(B[g], 1e-6)), prof, rect)
    gx = fx.astype(np.int32)[:, None, None] + off[None, None, :]
    gy = fy.astype(np.int32)[:, None, None] + off[None, :, None]
    inside = ((gx >= 0) & (gx < w.width)) & ((gy >= 0) & (gy < w.height))
    # conserve each structure's area·amount (matters when it spans only a few pixels)
    total = val.sum(axis=(1, 2), dtype=np.float64)
    scale = np.where(total > 0, target[g] / np.maximum(total, 1e-12), 0.0)
    small = (np.minimum(A[g], B[g]) < 4.0)
    scale = np.where(small, scale, amt[g])
    val *= scale.astype(f32)[:, None, None]
    flat_idx = gy * np.int32(w.width) + gx
    m = inside & (val > 0)
    idx = flat_idx[m]
    vals = val[m]
    np.add.at(acc, idx, vals)
    if c2 is not None and s2 is not None:
        if orient in ("radial", "tangential"):
            ang = np.arctan2(v, u) + f32(np.pi / 2 if orient == "tangential" else 0.0)
            ang = np.broadcast_to(ang, val.shape)[m]
        else:
            base = _tiny_axis(orient, th[g], ax[g])
            ang = np.broadcast_to(base[:, None, None], val.shape)[m]
        np.add.at(c2, idx, (vals * np.cos(2 * ang)).astype(np.float32, copy=False))
        np.add.at(s2, idx, (vals * np.sin(2 * ang)).astype(np.float32, copy=False))


@dataclass(frozen=True)
class SeedLattice:
    """One jittered seed per lattice cell (spacing µm) around the pixels of a window, in the
    frame turned by `angle` and compressed by `aspect` along it (u, v). Distances are taken
    with u multiplied by `u_scale`: `aspect` gives real µm, 1 the compressed frame."""

    u: np.ndarray
    """float32 (H, W): each pixel's u·u_scale, relative to the lattice's corner."""
    v: np.ndarray
    seed_u: np.ndarray
    """float32 (n,): each seed's u·u_scale, relative to the same corner."""
    seed_v: np.ndarray
    cell: np.ndarray
    """int32 (H, W): the lattice cell each pixel lies in."""
    ncols: int
    table: np.ndarray
    """(n, slots) per-cell uniforms; slots 0–1 are the seed jitter."""
    seeds: np.ndarray
    """(n, 2) seeds in slide µm."""

    def nearest_two(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each pixel's squared distances (float32 (H, W)) to its nearest and second-nearest
        seed, and those seeds' indices (int32 (H, W)), by `seeds.nearest` (the 3×3 cells
        column by column, as `worley`, which needs no second index)."""
        d1 = np.full(self.u.shape, np.inf, dtype=np.float32)
        d2 = np.full(self.u.shape, np.inf, dtype=np.float32)
        k1 = np.zeros(self.u.shape, dtype=np.int32)
        k2 = np.zeros(self.u.shape, dtype=np.int32)
        nearest(self.u.ravel(), self.v.ravel(), self.seed_u, self.seed_v, self.cell.ravel(),
                self.ncols, d1.reshape(-1), k1.reshape(-1), d2.reshape(-1), k2.reshape(-1),
                columns_first=True)
        return d1, d2, k1, k2


def seed_lattice(window: Window, seed: int, spacing_um: float, aspect: float, angle: float,
                 jitter: float, slots: int, u_scale: float) -> SeedLattice:
    X, Y = window.grids()
    X = np.broadcast_to(X, (window.height, window.width))
    Y = np.broadcast_to(Y, (window.height, window.width))
    ca, sa = np.cos(angle), np.sin(angle)
    U = (X * ca + Y * sa) / aspect
    V = -X * sa + Y * ca
    ci = np.floor(U / spacing_um).astype(np.int64)
    cj = np.floor(V / spacing_um).astype(np.int64)
    i_lo, i_hi = int(ci.min()) - 1, int(ci.max()) + 1
    j_lo, j_hi = int(cj.min()) - 1, int(cj.max()) + 1
    gi, gj = np.meshgrid(np.arange(i_lo, i_hi + 1), np.arange(j_lo, j_hi + 1), indexing="xy")
    ncols = i_hi - i_lo + 1
    table = uniforms(seed, gi.ravel(), gj.ravel(), slots)
    su = (gi.ravel() + 0.5 + (table[:, 0] - 0.5) * jitter) * spacing_um
    sv = (gj.ravel() + 0.5 + (table[:, 1] - 0.5) * jitter) * spacing_um
    # float32 relative to a lattice-aligned corner: exact enough, half the memory traffic
    u0, v0 = i_lo * spacing_um, j_lo * spacing_um
    seeds = np.stack([su * aspect * ca - sv * sa, su * aspect * sa + sv * ca], axis=1)
    return SeedLattice(((U - u0) * u_scale).astype(np.float32), (V - v0).astype(np.float32),
                       ((su - u0) * u_scale).astype(np.float32), (sv - v0).astype(np.float32),
                       ((cj - j_lo) * ncols + (ci - i_lo)).astype(np.int32), ncols, table,
                       seeds)


def worley(window: Window, seed: int, spacing_um: float, aspect: float = 1.0,
           angle: float = 0.0, jitter: float = 0.8, slots: int = 8
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cellular (Worley) field over the window, for polygonal tissue and mineral grains.

    Cells are the Voronoi regions of one jittered seed per lattice cell, in a frame stretched
    by `aspect` along `angle`. Returns d1, d2 (µm, distances to the nearest and second-nearest
    seed), the nearest cell's index (H, W) into `table` (n, slots) of per-cell uniforms (slots
    0–1 are the seed jitter), and `seeds` (n, 2) in slide µm.
    """
    lat = seed_lattice(window, seed, spacing_um, aspect, angle, jitter, slots, u_scale=aspect)
    d1 = np.full(lat.u.shape, np.inf, dtype=np.float32)
    d2 = np.full(lat.u.shape, np.inf, dtype=np.float32)
    near = np.zeros(lat.u.shape, dtype=np.int32)
    nearest(lat.u.ravel(), lat.v.ravel(), lat.seed_u, lat.seed_v, lat.cell.ravel(), lat.ncols,
            d1.reshape(-1), near.reshape(-1), d2.reshape(-1), columns_first=True)
    np.sqrt(d1, out=d1)
    np.sqrt(d2, out=d2)
    return d1, d2, near, lat.table, lat.seeds


def value_noise(window: Window, seed: int, scale_um: float) -> np.ndarray:
    """Smooth texture in [0, 1] at a physical scale; pixels larger than the scale see its
    average (0.5), so texture fades out as magnification drops instead of aliasing."""
    fade = min(1.0, scale_um / max(window.px_um, 1e-9))
    if fade < 0.5:  # the texture averages out inside a pixel (its variance falls as fade²)
        return np.full((window.height, window.width), 0.5)
    X, Y = window.grids()
    fx = X / scale_um
    fy = Y / scale_um
    i0 = np.floor(fx).astype(np.int64)
    j0 = np.floor(fy).astype(np.int64)
    tx = fx - i0
    ty = fy - j0
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ii = np.arange(int(i0.min()), int(i0.max()) + 2)
    jj = np.arange(int(j0.min()), int(j0.max()) + 2)
    gi, gj = np.meshgrid(ii, jj, indexing="xy")
    tab = uniforms(seed, gi.ravel(), gj.ravel(), 1)[:, 0].reshape(gi.shape)
    a = (i0 - ii[0])[0]
    b = (j0 - jj[0])[:, 0]
    # interpolate along x once per table row, then between rows
    rows = tab[:, a] * (1 - tx) + tab[:, a + 1] * tx
    v = rows[b]
    v *= 1 - ty
    v += rows[b + 1] * ty
    v -= 0.5
    v *= fade
    v += 0.5
    return v


def band(distance_um: np.ndarray, width_um: float, px_um: float) -> np.ndarray:
    """Area-averaged amount of a band of `width_um` centred on distance 0, for pixels of
    `px_um`: a pixel wider than the band gets the band's area fraction, not an aliased line."""
    w_eff = max(width_um, px_um)
    return np.clip(1.0 - np.abs(distance_um) / w_eff, 0.0, 1.0) * (width_um / w_eff)

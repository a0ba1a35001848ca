"""Analytic phantoms: exact line integrals, Fourier transforms and partial-volume rasters.

A phantom is a list of ellipses and rectangles (millimetres, x to the right, y up). Each shape
is turned into an *additive* form: a weight vector over the phantom's tissues, so that the
tissue fractions at a point are

    F_t(x) = [t == background] + Σ_shapes w_shape[t] · 1_shape(x)

A `replace` shape lying inside a region of one tissue u gives w = {tissue: +1, u: −1}; an `add`
shape (Shepp-Logan style) gives w = {tissue: value}. Every modality is linear in these
fractions (μ, signal, uptake, scattering), so line integrals, k-space samples and rasters are
exact sums over the shapes. Everything that depends only on the phantom and the geometry is
cached.

A 3-D phantom (an `anatomy` generator instead of shapes) is seen through a `Section`: the axial
slice at z (or, for radiography, the whole volume). Its fractions are the generator's raster;
its line integrals come from the Fourier-slice theorem (the 1-D transform of a projection is a
line through the 2-D transform of the raster), its k-space from the raster's DFT (folded for a
reduced phase field of view, so wrap-around is exact for the raster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.special import j1

from micro.core.errors import InvalidRequest
from micro.core.memory import IdentityCache, memoized
from micro.core.models import Phantom, Shape

SUPERSAMPLE = 3  # sub-pixels per axis for partial-volume rasters


@dataclass(frozen=True)
class Solid:
    """One shape in additive form: geometry in mm and its weights over the tissue axis."""

    kind: str  # "ellipse" | "rectangle"
    x0: float
    y0: float
    a: float
    b: float
    phi: float  # radians, counter-clockwise from +x
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Additive:
    phantom_id: str
    variant: str
    tissues: tuple[str, ...]
    background: int
    solids: tuple[Solid, ...]
    fov_mm: float
    module: bool = False
    """A test-object module (every shape replaces the tissue it lies in: a cylinder with
    rods, discs or bars running along its axis) rather than an additive head phantom: a
    radiograph sees it end-on, as a slab of MODULE_CM (thickness)."""


MODULE_CM = 5.0
"""Length along the beam of a 2-D test object seen by projection radiography, cm: a uniform
slab (a 5 cm water-equivalent block, the middle of the 2–8 cm range of CT test modules and
radiographic contrast-detail plates with their backing) through which every insert runs, so
the background is flat and each insert's contrast is Δμ · MODULE_CM."""


def _inside(kind: str, x: np.ndarray, y: np.ndarray, s: Solid | Shape) -> np.ndarray:
    if isinstance(s, Solid):
        x0, y0, a, b, phi = s.x0, s.y0, s.a, s.b, s.phi
    else:
        x0, y0 = s.center_mm
        a, b = s.axes_mm
        phi = np.deg2rad(s.angle_deg)
    c, sn = np.cos(phi), np.sin(phi)
    u = (x - x0) * c + (y - y0) * sn
    v = -(x - x0) * sn + (y - y0) * c
    if kind == "ellipse":
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return (np.abs(u) <= a) & (np.abs(v) <= b)


def _outline(shape: Shape, n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Points on and just inside a shape's boundary, plus its centre (for nesting checks)."""
    x0, y0 = shape.center_mm
    a, b = shape.axes_mm
    phi = np.deg2rad(shape.angle_deg)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if shape.type == "ellipse":
        u, v = np.cos(t), np.sin(t)
    else:
        u = np.clip(np.sqrt(2) * np.cos(t), -1, 1)
        v = np.clip(np.sqrt(2) * np.sin(t), -1, 1)
    u = np.concatenate([0.995 * a * u, [0.0]])
    v = np.concatenate([0.995 * b * v, [0.0]])
    c, s = np.cos(phi), np.sin(phi)
    return x0 + u * c - v * s, y0 + u * s + v * c


@dataclass(frozen=True)
class Section:
    """An axial section (z in mm) of a 3-D procedural phantom; z None = the whole volume."""

    phantom_id: str
    variant: str
    tissues: tuple[str, ...]
    background: int
    fov_mm: float
    z_mm: float | None
    kind: str
    seed: int
    probe_x_mm: float = 0.0
    solids: tuple[Solid, ...] = ()

    @property
    def anatomy(self):
        from micro.core.imaging.anatomy import anatomy

        return anatomy(self.kind, self.tissues, self.seed)


_ADDITIVE: IdentityCache[Additive] = IdentityCache("imaging.phantom.additive")


def _bounding_radius(kind: str, a: float, b: float) -> float:
    return float(max(a, b)) if kind == "ellipse" else float(np.hypot(a, b))


def _build_additive(phantom: Phantom, variant: str) -> Additive:
    tissues = tuple(t.id for t in phantom.tissues)
    index = {t: i for i, t in enumerate(tissues)}
    bg = index[phantom.background]
    shapes = phantom.shapes if variant == "default" else phantom.variants[variant]
    solids: list[Solid] = []
    for k, sh in enumerate(shapes):
        w = np.zeros(len(tissues))
        if sh.mode == "add":
            w[index[sh.tissue]] = 1.0 if sh.value is None else sh.value
        else:
            px, py = _outline(sh)
            frac = np.zeros((len(tissues), px.size))
            frac[bg] = 1.0
            # only earlier shapes whose bounding circles meet this one's can contain its points
            cx, cy = float(sh.center_mm[0]), float(sh.center_mm[1])
            reach = _bounding_radius(sh.type, *sh.axes_mm)
            for s in solids:
                if np.hypot(s.x0 - cx, s.y0 - cy) <= reach + _bounding_radius(s.kind, s.a, s.b):
                    frac += np.outer(s.weights, _inside(s.kind, px, py, s))
            under = np.argmax(frac, axis=0)
            if np.any(under != under[0]) or frac[under[0]].min() < 0.999:
                raise InvalidRequest(
                    f"phantom {phantom.id!r} shape {k} ({sh.tissue}) straddles tissues "
                    f"{sorted({tissues[u] for u in under})}; a replace shape must lie in one",
                    field=f"shapes.{k}", allowed="nested shapes (or mode 'add')")
            w[index[sh.tissue]] += 1.0
            w[under[0]] -= 1.0
        solids.append(Solid(sh.type, float(sh.center_mm[0]), float(sh.center_mm[1]),
                            float(sh.axes_mm[0]), float(sh.axes_mm[1]),
                            float(np.deg2rad(sh.angle_deg)), tuple(float(x) for x in w)))
    return Additive(phantom.id, variant, tissues, bg, tuple(solids), float(phantom.fov_mm),
                    module=all(sh.mode == "replace" for sh in shapes))


def additive(phantom: Phantom, variant: str = "default", z_mm: float | None = 0.0
             ) -> Additive | Section:
    """The phantom (or one of its variants) in additive form; for a 3-D phantom the axial
    section at z_mm (None: the whole volume, for projection radiography)."""
    if variant != "default" and variant not in phantom.variants:
        raise InvalidRequest(f"unknown variant {variant!r}", field="variant",
                             allowed=["default", *phantom.variants])
    if phantom.anatomy is not None:
        tissues = tuple(t.id for t in phantom.tissues)
        return Section(phantom.id, variant, tissues, tissues.index(phantom.background),
                       float(phantom.fov_mm), None if z_mm is None else float(z_mm),
                       phantom.anatomy, phantom.seed, float(phantom.probe_x_mm))
    return _ADDITIVE.get(phantom, (variant,), lambda: _build_additive(phantom, variant))


def weights_matrix(add: Additive) -> np.ndarray:
    """(shapes, tissues) float64 weights."""
    return np.array([s.weights for s in add.solids], dtype=np.float64).reshape(
        len(add.solids), len(add.tissues))


# --------------------------------------------------------------------------- rasters

def pixel_centres(n: int, fov_mm: float) -> np.ndarray:
    """Centre coordinates (mm) of n pixels across fov_mm, ascending."""
    px = fov_mm / n
    return (np.arange(n) + 0.5 - n / 2) * px


@memoized("imaging.phantom.fractions")
def fractions(add: Additive, n: int, fov_mm: float | None = None) -> np.ndarray:
    """Tissue fractions, float32 (tissues, n, n); row 0 is the top (+y). Partial volume by
    SUPERSAMPLE² sub-pixels, evaluated only in each shape's bounding box."""
    fov = add.fov_mm if fov_mm is None else fov_mm
    if isinstance(add, Section):
        from micro.core.imaging.anatomy import section_fractions

        res = section_fractions(add.anatomy, add.z_mm or 0.0, n, fov)
        res.setflags(write=False)
        return res
    px = fov / n
    ss = SUPERSAMPLE
    sub = (np.arange(ss) + 0.5) / ss - 0.5  # sub-pixel offsets in pixels
    out = np.zeros((len(add.tissues), n, n), dtype=np.float64)
    out[add.background] = 1.0
    for s in add.solids:
        i0, i1, j0, j1_ = _pixel_box(s, n, px)
        if j1_ <= j0 or i1 <= i0:
            continue
        cover = _cover(s, n, px, i0, i1, j0, j1_, sub)
        for t, w in enumerate(s.weights):
            if w:
                out[t, i0:i1, j0:j1_] += w * cover
    res = out.astype(np.float32)
    res.setflags(write=False)
    return res


def _cover(s: Solid, n: int, px: float, i0: int, i1: int, j0: int, j1: int,
           sub: np.ndarray) -> np.ndarray:
    """Fraction of each pixel of the box rows i0:i1, columns j0:j1 inside the shape, from
    SUPERSAMPLE² sub-pixels. Pixels whose whole disc (radius half a diagonal) lies inside or
    outside are 1 or 0 outright; only the pixels the boundary crosses are subsampled (the
    same values, at a fraction of the points)."""
    xc = (np.arange(j0, j1) + 0.5 - n / 2) * px
    yc = (n / 2 - np.arange(i0, i1) - 0.5) * px
    c, sn = np.cos(s.phi), np.sin(s.phi)
    dx, dy = xc[None, :] - s.x0, yc[:, None] - s.y0
    u = np.abs(dx * c + dy * sn)
    v = np.abs(-dx * sn + dy * c)
    h = px * np.sqrt(0.5)
    if s.kind == "ellipse":
        inner = ((u + h) / s.a) ** 2 + ((v + h) / s.b) ** 2 <= 1.0
        outer = ((np.maximum(u - h, 0) / s.a) ** 2 + (np.maximum(v - h, 0) / s.b) ** 2) > 1.0
    else:
        inner = (u + h <= s.a) & (v + h <= s.b)
        outer = (u - h > s.a) | (v - h > s.b)
    cover = inner.astype(np.float64)
    edge = np.nonzero(~inner & ~outer)
    if edge[0].size:
        ss = sub.size
        xs = (xc[edge[1]][:, None, None] + sub[None, None, :] * px)  # (e, 1, ss)
        ys = (yc[edge[0]][:, None, None] - sub[None, :, None] * px)  # (e, ss, 1)
        cover[edge] = _inside(s.kind, xs, ys, s).reshape(-1, ss * ss).mean(axis=1)
    return cover


def property_map(frac: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ_t F_t · values_t: any property linear in the tissue fractions, float32 (n, n)."""
    return weighted_sum(np.asarray(values, dtype=np.float32), frac)


def pure_masks(frac: np.ndarray, erode_px: int = 2) -> np.ndarray:
    """Boolean (tissues, n, n): pixels wholly of one tissue, eroded away from edges."""
    from scipy.ndimage import maximum_filter, minimum_filter

    m = frac > 0.999
    if not erode_px:
        return m
    k = 2 * erode_px + 1
    if frac.shape[0] > 1 and frac.shape[0] < 127 and m.sum(axis=0, dtype=np.uint8).max() <= 1:
        # the masks are disjoint (true fractions): one label image, eroded once for every
        # tissue — a pixel stays when its whole k×k square carries its own label (outside the
        # image counts as no tissue), which is each mask's erosion by the square
        lab = np.full(m.shape[1:], -1, dtype=np.int8)
        for t in range(m.shape[0]):
            lab[m[t]] = t
        lo = minimum_filter(lab, size=k, mode="constant", cval=-1)
        keep = (lo == lab) & (maximum_filter(lab, size=k, mode="constant", cval=-1) == lab)
        return (lab[None] == np.arange(m.shape[0], dtype=np.int8)[:, None, None]) & keep
    # erosion by a square is a separable minimum filter (outside the image counts as 0)
    return minimum_filter(m.view(np.uint8), size=(1, k, k), mode="constant", cval=0) > 0


# --------------------------------------------------------------------------- line integrals

def chords(add: Additive | Section, theta: np.ndarray, s: np.ndarray,
           shift_mm: np.ndarray | None = None) -> np.ndarray:
    """Exact per-tissue line integrals, float64 (tissues, views, bins), in mm of path.

    theta: view angles (radians); s: detector positions (mm); the ray of (θ, s) is the line
    x cosθ + y sinθ = s. shift_mm: optional (views, 2) translation of the whole object per
    view (patient motion). The background's own infinite path is left out (zero weight)."""
    if isinstance(add, Section):
        return _section_chords(add, np.asarray(theta, dtype=np.float64),
                               np.asarray(s, dtype=np.float64), shift_mm)
    th = np.asarray(theta, dtype=np.float64)[:, None]
    s1 = np.asarray(s, dtype=np.float64)
    sv = s1[None, :]
    ct, st = np.cos(th), np.sin(th)
    nv, nb = th.shape[0], sv.shape[1]
    out = np.zeros((len(add.tissues), nv, nb))
    even = nb > 1 and np.allclose(np.diff(s1), s1[1] - s1[0])
    ds = float(s1[1] - s1[0]) if nb > 1 else 1.0
    rows = np.arange(nv)[:, None]
    for sol in add.solids:
        x0 = sol.x0 + (0.0 if shift_mm is None else shift_mm[:, :1])
        y0 = sol.y0 + (0.0 if shift_mm is None else shift_mm[:, 1:])
        centre = x0 * ct + y0 * st  # (views, 1): where the shape's centre projects
        reach = _bounding_radius(sol.kind, sol.a, sol.b)
        half = int(np.ceil(reach / abs(ds))) + 1 if even else nb
        if 2 * half + 1 < nb // 2:
            # a small shape: evaluate only the bins its shadow can reach in each view
            c_bin = np.rint((centre - s1[0]) / ds).astype(np.int64)
            cols = c_bin + np.arange(-half, half + 1)[None, :]
            ok = (cols >= 0) & (cols < nb)
            cols = np.clip(cols, 0, nb - 1)
            sp = s1[cols] - centre
        else:
            cols, ok = None, None
            sp = sv - centre
        tp = th - sol.phi
        c, sn = np.cos(tp), np.sin(tp)
        if sol.kind == "ellipse":
            alpha2 = (sol.a * c) ** 2 + (sol.b * sn) ** 2
            length = 2 * sol.a * sol.b * np.sqrt(np.clip(alpha2 - sp ** 2, 0, None)) / alpha2
        else:
            length = _rect_chord(sp, c, sn, sol.a, sol.b)
        if cols is not None:
            length = np.where(ok, length, 0.0)
        for t, w in enumerate(sol.weights):
            if not w:
                continue
            if cols is None:
                out[t] += w * length
            else:  # the columns of one view are distinct: a plain scatter-add is exact
                out[t][rows, cols] += w * length
    return out


def _rect_chord(sp: np.ndarray, c: np.ndarray, sn: np.ndarray, a: float, b: float
                ) -> np.ndarray:
    """Chord of the line {u cosθ' + v sinθ' = s'} through the box |u| ≤ a, |v| ≤ b."""
    eps = 1e-12
    # point on line: (s' c, s' s); direction (−s, c)
    lo = np.full(np.broadcast(sp, c).shape, -np.inf)
    hi = np.full_like(lo, np.inf)
    for p0, d, half in ((sp * c, -sn, a), (sp * sn, c, b)):
        d = np.broadcast_to(d, lo.shape)
        p0 = np.broadcast_to(p0, lo.shape)
        par = np.abs(d) < eps
        dd = np.where(par, 1.0, d)
        t1 = (-half - p0) / dd
        t2 = (half - p0) / dd
        inside = np.abs(p0) <= half
        lo = np.where(par, np.where(inside, lo, np.inf), np.maximum(lo, np.minimum(t1, t2)))
        hi = np.where(par, np.where(inside, hi, -np.inf), np.minimum(hi, np.maximum(t1, t2)))
    return np.clip(hi - lo, 0, None)


def _section_chords(sec: Section, theta: np.ndarray, s: np.ndarray,
                    shift_mm: np.ndarray | None) -> np.ndarray:
    """Per-tissue projections (tissues, views, bins), mm, float32, of a section's raster
    (raster_projections of each tissue's indicator). The background is left out, as for
    shapes."""
    from micro.core.imaging.anatomy import SECTION_PX, _one_hot, section_labels

    lab = section_labels(sec.anatomy, sec.z_mm or 0.0)
    present = [t for t in range(len(sec.tissues))
               if t != sec.background and np.any(lab == t)]
    out = np.zeros((len(sec.tissues), theta.size, s.size), dtype=np.float32)  # cached: compact
    if present:
        onehot = _one_hot(lab, len(sec.tissues))
        out[present] = raster_projections(onehot[present], sec.fov_mm / SECTION_PX, theta, s,
                                          shift_mm)
    return out


def raster_projections(planes: np.ndarray, pixel_mm: float, theta: np.ndarray,
                       s: np.ndarray, shift_mm: np.ndarray | None = None) -> np.ndarray:
    """Parallel projections (planes, views, bins) of square rasters (planes, r, r) of box
    pixels (row 0 = +y, centred), in raster units × mm, by the Fourier-slice theorem:
    P̂_θ(ω) = F̂(ω cosθ, ω sinθ), F̂ from the 2×-padded FFT of the raster (box pixels:
    × sinc), sampled by Keys cubic convolution, then a 1-D inverse FFT per view. s must be
    evenly spaced and span the raster (one detector span has no wrap)."""
    r, p = planes.shape[-1], pixel_mm
    m = 2 * r
    ds = float(s[1] - s[0]) if s.size > 1 else p
    omega = np.fft.fftfreq(s.size, d=ds)  # cycles/mm
    u = omega[None, :] * np.cos(theta)[:, None]
    v = omega[None, :] * np.sin(theta)[:, None]
    # grid coordinates in the fftshifted spectrum of the padded raster
    cu, cv = u * m * p + m / 2, v * m * p + m / 2
    out = np.zeros((planes.shape[0], theta.size, s.size), dtype=np.float32)
    k = np.fft.fftfreq(m)  # cycles per pixel
    # The raster sits centred on index 0 of the padded array (pixel j at index j − r/2, at
    # (index + ½)·p); rows are flipped so the index grows with y. The spectrum is sampled by
    # Keys cubic convolution (a = −½): exact on the grid; off it the image is weighted by
    # at most 1 % within the central half of the field (5 % at its edge).
    phase = np.exp(-2j * np.pi * k * 0.5) * np.sinc(k)
    i0, j0 = np.floor(cv).astype(np.int64), np.floor(cu).astype(np.int64)
    fv, fu = (cv - i0).astype(np.float32), (cu - j0).astype(np.float32)
    ok = (i0 >= 1) & (i0 < m - 2) & (j0 >= 1) & (j0 < m - 2)
    base = np.where(ok, i0 * m + j0, m + 1)
    wv, wu = _keys(fv), _keys(fu)
    taps = [((base + dv * m + du).astype(np.int32), wv[dv + 1] * wu[du + 1])
            for dv in (-1, 0, 1, 2) for du in (-1, 0, 1, 2)]
    ph2 = np.fft.fftshift((phase[:, None] * phase[None, :] * (p * p)).astype(np.complex64))
    shift = s[0]
    if shift_mm is not None:  # the object moved by d: its projection moves by d·n̂
        shift = shift - (shift_mm[:, :1] * np.cos(theta)[:, None]
                         + shift_mm[:, 1:] * np.sin(theta)[:, None])
    ramp = np.exp(2j * np.pi * omega[None, :] * shift).astype(np.complex64)
    # two planes per transform: f1 + i·f2 has spectrum F1 + i·F2, and as each projection is
    # real, the inverse 1-D transform returns p1 + i·p2
    pad = np.zeros((m, m), dtype=np.complex64)
    for i in range(0, planes.shape[0], 2):
        pad[:r, :r] = planes[i][::-1]
        if i + 1 < planes.shape[0]:
            pad[:r, :r] += 1j * planes[i + 1][::-1]
        f = np.fft.fftshift(sfft.fft2(np.roll(pad, (-(r // 2), -(r // 2)), axis=(0, 1)),
                                      workers=1))
        f *= ph2  # axis 0: v (y), axis 1: u (x); zero frequency at m/2
        flat = f.ravel()
        spec = sum(flat[ix] * w for ix, w in taps)
        spec = np.where(ok, spec, 0) * ramp
        proj = np.fft.ifft(spec, axis=1) / ds
        out[i] = proj.real[:, :s.size]
        if i + 1 < planes.shape[0]:
            out[i + 1] = proj.imag[:, :s.size]
    return out


def _keys(f: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keys cubic-convolution weights (a = −½) of the samples at −1, 0, 1, 2 for offset f."""
    a = -0.5
    out = []
    for d in (1 + f, f, 1 - f, 2 - f):
        d = np.abs(d)
        w = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                     np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
        out.append(w.astype(np.float32))
    return tuple(out)


def section_kspace(sec: Section, n_freq: int, n_phase: int, fov_freq: float,
                   fov_phase: float) -> np.ndarray:
    """Per-tissue k-space (tissues, n_phase, n_freq) of a section, complex64, in fraction
    units per acquisition pixel, sampled at (k_x, −k_y) like the analytic path: the DFT of the
    raster resampled to 2× the matrix, folded into the phase field of view (wrap-around)."""
    from scipy import fft as sfft

    from micro.core.imaging.anatomy import _one_hot, _overlap, resample, section_labels

    an = sec.anatomy
    lab = section_labels(an, sec.z_mm or 0.0)
    nx, ny = 2 * n_freq, 2 * n_phase
    extent = max(sec.fov_mm, fov_freq, fov_phase)
    q = int(np.ceil(extent / fov_phase))
    q += 1 - q % 2  # odd: the middle block is the phase field of view
    out = np.zeros((len(sec.tissues), n_phase, n_freq), dtype=np.complex64)  # cached: compact
    px, py = fov_freq / nx, fov_phase / ny
    kx_i = (np.fft.fftfreq(n_freq) * n_freq).astype(int)
    ky_i = (np.fft.fftfreq(n_phase) * n_phase).astype(int)
    ph_x = np.exp(-2j * np.pi * kx_i * (0.5 - nx / 2) / nx) * np.sinc(kx_i / nx)
    ph_y = np.exp(2j * np.pi * ky_i * (ny / 2 - 0.5) / ny) * np.sinc(ky_i / ny)
    present = np.bincount(lab.ravel(), minlength=len(sec.tissues)) > 0
    present[sec.background] = False
    ts = np.flatnonzero(present)
    if ts.size:
        onehot = _one_hot(lab, len(sec.tissues))[ts]
        r = lab.shape[-1]
        if _unit(_overlap(r, sec.fov_mm, nx, fov_freq)) and _unit(
                _overlap(r, sec.fov_mm, q * ny, q * fov_phase)):
            img = onehot  # the acquisition grid is the raster's: resampling is the identity
        else:
            img = resample(onehot, sec.fov_mm, nx, fov_freq, q * ny, q * fov_phase)
        # (area beyond the raster is background, excluded like the analytic path's)
        if q > 1:  # fold: coarse k sampling aliases in y
            img = img.reshape(len(ts), q, ny, nx).sum(axis=1)
        # the DFT at |k_x| < nx/4 only, from the half spectrum of the real images: a
        # negative k_x is the conjugate of (−k_y, −k_x)
        half = sfft.rfft2(img, axes=(-2, -1), workers=1)
        pos = kx_i >= 0
        f = np.empty((len(ts), n_phase, n_freq), dtype=half.dtype)
        f[:, :, pos] = half[:, (ky_i % ny)[:, None], kx_i[pos][None, :]]
        f[:, :, ~pos] = np.conj(half[:, (-ky_i % ny)[:, None], -kx_i[~pos][None, :]])
        out[ts] = f * (ph_y[:, None] * ph_x[None, :] * (px * py))
    out /= (fov_freq / n_freq) * (fov_phase / n_phase)
    return out


def _unit(w) -> bool:
    """Whether a sparse resampling operator is exactly the identity."""
    return bool(w.shape[0] == w.shape[1] == w.nnz and np.all(w.data == 1)
                and np.array_equal(w.indices, np.arange(w.shape[1])))


@memoized("imaging.phantom.thickness")
def thickness(add: Additive, n: int) -> np.ndarray:
    """Per-tissue path length (cm) for a projection radiograph viewed face-on, float32
    (tissues, n, n). A test-object module (add.module) is a slab MODULE_CM thick that every
    shape runs through (its path is the pixel's fraction × MODULE_CM). Otherwise (a
    Shepp-Logan head) each ellipse is an ellipsoid whose third semi-axis is its shorter one
    and each rectangle a slab of that half-thickness (partial volume by supersampling).
    A 3-D phantom is projected front to back through its whole volume (rows: superior at
    the top; columns: the patient's right on the left)."""
    if isinstance(add, Section):
        from scipy import ndimage

        from micro.core.imaging.anatomy import frontal_paths

        paths = frontal_paths(add.anatomy)
        z = n / paths.shape[-1]
        res = np.stack([ndimage.zoom(pl, z, order=1, mode="nearest", grid_mode=True)
                        for pl in paths]).astype(np.float32)
        if add.anatomy.specks:
            res += _speck_paths(add.anatomy, n)
        res.setflags(write=False)
        return res
    if add.module:  # the background's own path is left out, as below
        res = fractions(add, n) * np.float32(MODULE_CM)
        res[add.background] -= np.float32(MODULE_CM)
        res.setflags(write=False)
        return res
    px = add.fov_mm / n
    ss = SUPERSAMPLE
    sub = (np.arange(ss) + 0.5) / ss  # sub-pixel offsets in pixels
    out = np.zeros((len(add.tissues), n, n))
    for s in add.solids:
        i0, i1, j0, j1_ = _pixel_box(s, n, px)
        if j1_ <= j0 or i1 <= i0:
            continue
        x = ((np.arange(j0, j1_)[:, None] + sub[None, :]) - n / 2).ravel()[None, :] * px
        y = -((np.arange(i0, i1)[:, None] + sub[None, :]) - n / 2).ravel()[:, None] * px
        c = min(s.a, s.b)
        cs, sn = np.cos(s.phi), np.sin(s.phi)
        u = (x - s.x0) * cs + (y - s.y0) * sn
        v = -(x - s.x0) * sn + (y - s.y0) * cs
        if s.kind == "ellipse":
            path = 2 * c * np.sqrt(np.clip(1 - (u / s.a) ** 2 - (v / s.b) ** 2, 0, None))
        else:
            path = np.where((np.abs(u) <= s.a) & (np.abs(v) <= s.b), 2 * c, 0.0)
        path = path.reshape(i1 - i0, ss, j1_ - j0, ss).mean(axis=(1, 3)) / 10.0
        for t, w in enumerate(s.weights):
            if w:
                out[t, i0:i1, j0:j1_] += w * path
    res = out.astype(np.float32)
    res.setflags(write=False)
    return res


@memoized("imaging.phantom.body_path")
def body_path(add: Additive | Section, n: int) -> np.ndarray:
    """Path (cm) through the body (every tissue but the background) along each ray of the
    face-on projection, float32 (n, n)."""
    ones = np.ones(len(add.tissues), dtype=np.float32)
    ones[add.background] = 0.0
    out = line_integral(add, ones, n)
    out.setflags(write=False)
    return out


def line_integral(add: Additive | Section, mu: np.ndarray, n: int) -> np.ndarray:
    """Σ_t μ_t L_t (dimensionless) of the face-on projection, float32 (n, n), for μ in cm⁻¹.
    A 3-D phantom's is formed on its projection raster and interpolated once (interpolation
    is linear, so this equals weighting the interpolated planes, at a fraction of the cost);
    its specks are added exactly at n."""
    mu = np.asarray(mu, dtype=np.float32)
    if not isinstance(add, Section):
        return weighted_sum(mu, thickness(add, n))
    from scipy import ndimage

    from micro.core.imaging.anatomy import frontal_paths

    paths = frontal_paths(add.anatomy)
    native = weighted_sum(mu, paths)
    line = (native.astype(np.float32) if paths.shape[-1] == n else
            ndimage.zoom(native, n / paths.shape[-1], order=1, mode="nearest",
                         grid_mode=True).astype(np.float32))
    if add.anatomy.specks:
        line += weighted_sum(mu, _speck_paths(add.anatomy, n))
    return line


def weighted_sum(w: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Σ_t w_t · planes_t (the tensordot over the first axis), plane by plane, in the dtype
    of w and planes combined: a BLAS contraction of a few weights over many pixels is
    slower, and much slower on a busy machine."""
    w = np.asarray(w)
    out = np.zeros(planes.shape[1:], dtype=np.result_type(w, planes))
    for m, plane in zip(w, planes, strict=True):
        if m:
            out += m * plane
    return out


@memoized("imaging.phantom.speck_paths")
def _speck_paths(an, n: int) -> np.ndarray:
    from micro.core.imaging.anatomy import speck_paths

    out = speck_paths(an, n)
    out.setflags(write=False)
    return out


def _pixel_box(s: Solid, n: int, px: float) -> tuple[int, int, int, int]:
    """Rows i0:i1 and columns j0:j1 of an n×n raster (pixels of px mm, row 0 = +y) that
    can touch the shape: its bounding circle plus one pixel, clipped to the raster."""
    r = max(s.a, s.b) if s.kind == "ellipse" else float(np.hypot(s.a, s.b))
    j0 = max(int(np.floor((s.x0 - r) / px + n / 2)) - 1, 0)
    j1_ = min(int(np.ceil((s.x0 + r) / px + n / 2)) + 1, n)
    i0 = max(int(np.floor(n / 2 - (s.y0 + r) / px)) - 1, 0)
    i1 = min(int(np.ceil(n / 2 - (s.y0 - r) / px)) + 1, n)
    return i0, i1, j0, j1_


# --------------------------------------------------------------------------- k-space

def kspace(add: Additive, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Exact per-tissue 2-D Fourier transform of the fractions (background excluded),
    complex128 (tissues, *kx.shape); k in cycles/mm, result in mm².

    On a k-space grid (kx a row, ky a column) shapes of one size and angle share their
    amplitude, and their shift phases sum as one matrix product per tissue:
    Σ_s w_s e^{−2πi(k_x x_s + k_y y_s)} = E_y · diag(w) · E_x (a Derenzo phantom's hundreds of
    rods cost a few products, not hundreds of grid passes)."""
    out = np.zeros((len(add.tissues), *np.broadcast(kx, ky).shape), dtype=np.complex128)
    grid = np.ndim(kx) == 2 and np.ndim(ky) == 2 and kx.shape[0] == 1 and ky.shape[1] == 1
    groups: dict[tuple[str, float, float, float], list[Solid]] = {}
    for s in add.solids:
        groups.setdefault((s.kind, s.a, s.b, s.phi), []).append(s)
    for (kind, a, b, phi), members in groups.items():
        amp = _shape_amplitude(kind, a, b, phi, kx, ky)
        if grid and len(members) > 1:
            ex = np.exp(-2j * np.pi * np.outer([m.x0 for m in members], kx[0]))  # (S, nx)
            ey = np.exp(-2j * np.pi * np.outer(ky[:, 0], [m.y0 for m in members]))  # (ny, S)
            w = np.array([m.weights for m in members])  # (S, tissues)
            for ti in np.nonzero(np.any(w != 0, axis=0))[0]:
                # (einsum's own loop: BLAS threads cost more than they save at this size)
                out[ti] += amp * np.einsum("ys,sx->yx", ey, w[:, ti, None] * ex,
                                           optimize=False)
            continue
        for s in members:
            if grid:  # the shift theorem's phase is an outer product of two 1-D ones
                ft = amp * (np.exp(-2j * np.pi * ky * s.y0) * np.exp(-2j * np.pi * kx * s.x0))
            else:
                ft = amp * np.exp(-2j * np.pi * (kx * s.x0 + ky * s.y0))
            for t, w_t in enumerate(s.weights):
                if w_t:
                    out[t] += w_t * ft
    return out


def _shape_amplitude(kind: str, a: float, b: float, phi: float, kx: np.ndarray,
                     ky: np.ndarray) -> np.ndarray:
    """Fourier transform of a centred ellipse or rectangle (semi-axes a, b, angle phi)."""
    c, sn = np.cos(phi), np.sin(phi)
    ku = kx * c + ky * sn
    kv = -kx * sn + ky * c
    if kind == "ellipse":
        rho = np.hypot(a * ku, b * kv)
        safe = np.where(rho > 1e-12, rho, 1.0)
        return np.where(rho > 1e-12, a * b * j1(2 * np.pi * safe) / safe, np.pi * a * b)
    return 4 * a * b * np.sinc(2 * a * ku) * np.sinc(2 * b * kv)

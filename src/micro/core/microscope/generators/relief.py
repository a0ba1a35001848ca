"""Surfaces as height maps with real dimensions, for the SEM, the stereo microscope and the
AFM: pollen grains (spiny or reticulate exine, colpi, the sacci of pine), diatom valves
(areolae in rows, the raphe of pennate valves) and the conductive stub they lie on.

Every object is evaluated only on the pixels of its bounding box inside the window (all
objects at once, as one ragged list of (object, pixel) pairs), and objects are combined by
their upper surface (`np.maximum`): the SEM and the stereo microscope see the top of a pile,
never through it. The height (µm above the mount) goes into the `relief` class, the
material's footprint into the class of the object's part, so the SE yield, the colour and
the height each come from the right place.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator

RELIEF = "relief"
MAX_PAIRS = 6_000_000
"""Upper bound on (object, pixel) pairs evaluated at once (memory: ~10 float64 each)."""


def blur_px(a: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of a 2-D map by sigma_px pixels at a cost independent of sigma: direct
    for small kernels, by FFT (periodic edges) for large ones — a blur of thousands of
    pixels (an electron range seen at 300 000×) must not cost thousands of operations per
    pixel."""
    if sigma_px < 0.3:
        return a
    if sigma_px <= 6.0:
        return ndimage.gaussian_filter(a, sigma_px, mode="nearest")
    h, w = a.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    g = np.exp(-2.0 * (np.pi * sigma_px) ** 2 * (fx * fx + fy * fy))
    return np.fft.irfft2(np.fft.rfft2(a) * g, s=(h, w)).astype(a.dtype, copy=False)


def ragged_boxes(canvas: Canvas, cx: np.ndarray, cy: np.ndarray, reach_um: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(object index, flat pixel index, x − cx µm, y − cy µm) for every pixel of every
    object's square box of half-side `reach_um`, clipped to the window."""
    w = canvas.window
    px = w.px_um
    fx, fy = w.to_px(cx, cy)
    r = reach_um / px
    x0 = np.clip(np.floor(fx - r), 0, w.width).astype(np.int64)
    x1 = np.clip(np.ceil(fx + r), 0, w.width).astype(np.int64)
    y0 = np.clip(np.floor(fy - r), 0, w.height).astype(np.int64)
    y1 = np.clip(np.ceil(fy + r), 0, w.height).astype(np.int64)
    nx, ny = np.maximum(x1 - x0, 0), np.maximum(y1 - y0, 0)
    counts = nx * ny
    total = int(counts.sum())
    if total == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e.astype(np.float64), e.astype(np.float64)
    if total > MAX_PAIRS:  # more than a few layers of objects deep: draw the first ones
        counts = np.where(np.cumsum(counts) <= MAX_PAIRS, counts, 0)
        total = int(counts.sum())
    # one entry per (object, row), then the row's run of columns: no per-pair division
    ny = np.where(counts > 0, ny, 0)
    obj_r = np.repeat(np.arange(cx.size), ny)
    row_r = y0[obj_r] + (np.arange(obj_r.size) - np.repeat(np.cumsum(ny) - ny, ny))
    nx_r = nx[obj_r]
    obj = np.repeat(obj_r, nx_r)
    col = np.repeat(x0[obj_r] - (np.cumsum(nx_r) - nx_r), nx_r) + np.arange(total)
    row = np.repeat(row_r, nx_r)
    dx = (col + 0.5 - fx[obj]) * px
    dy = np.repeat((row_r + 0.5 - fy[obj_r]) * px, nx_r)
    return obj, row * w.width + col, dx, dy


def _ring_lattice(theta: np.ndarray, phi: np.ndarray, step: np.ndarray | float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Angular distance (rad) to the nearest and second-nearest node of a near-uniform
    lattice on the sphere: rings of latitude `step` apart, each with as many nodes as fit
    at `step` spacing (staggered from ring to ring)."""
    # float32 and squared distances (one square root at the end): the lattice is
    # evaluated on every pixel of every grain, the costliest part of a pollen field
    theta = np.asarray(theta, dtype=np.float32)
    phi = np.asarray(phi, dtype=np.float32)
    step = np.asarray(step, dtype=np.float32)
    inv = np.float32(1.0) / step
    j0 = np.rint(theta * inv)
    top = np.floor(np.float32(np.pi) * inv)
    turn = np.float32(2 * np.pi)
    d1 = np.full(theta.shape, np.inf, dtype=np.float32)
    d2 = np.full(theta.shape, np.inf, dtype=np.float32)
    for dj in (-1.0, 0.0, 1.0):
        j = np.clip(j0 + np.float32(dj), 0, top)
        tj = j * step
        n = np.maximum(np.float32(1.0), np.rint(turn * np.sin(tj) * inv))
        off = np.float32(0.5) * (j - 2 * np.floor(np.float32(0.5) * j))
        k = np.rint(phi * n / turn - off)
        pk = (k + off) * turn / n
        dphi = (phi - pk) * np.sin(np.float32(0.5) * (theta + tj))
        dt = theta - tj
        d = dt * dt + dphi * dphi
        d2 = np.minimum(d2, np.maximum(d, d1))
        d1 = np.minimum(d1, d)
    return np.sqrt(d1), np.sqrt(d2)


def _rotation(u: np.ndarray) -> np.ndarray:
    """(n, 3, 3) uniformly random rotations from three uniforms per object (Shoemake)."""
    u1, u2, u3 = u[:, 0], u[:, 1], u[:, 2]
    a, b = np.sqrt(1 - u1), np.sqrt(u1)
    q = np.stack([a * np.sin(2 * np.pi * u2), a * np.cos(2 * np.pi * u2),
                  b * np.sin(2 * np.pi * u3), b * np.cos(2 * np.pi * u3)], axis=1)
    x, y, z, w = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], 1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], 1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1),
    ], axis=1)


def _spherical(rot: np.ndarray, obj: np.ndarray, nx: np.ndarray, ny: np.ndarray,
               nz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polar and azimuthal angle (float32) of the surface normal (nx, ny, nz) in each
    object's own (rotated) frame; rot is (objects, 3, 3), obj the object of each pair."""
    r = rot.astype(np.float32)
    nx, ny, nz = (np.asarray(a, dtype=np.float32) for a in (nx, ny, nz))
    vx = r[obj, 0, 0] * nx + r[obj, 0, 1] * ny + r[obj, 0, 2] * nz
    vy = r[obj, 1, 0] * nx + r[obj, 1, 1] * ny + r[obj, 1, 2] * nz
    vz = r[obj, 2, 0] * nx + r[obj, 2, 1] * ny + r[obj, 2, 2] * nz
    return np.arccos(np.clip(vz, -1.0, 1.0)), np.arctan2(vy, vx)


def _ellipsoid(dx: np.ndarray, dy: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper surface of an ellipsoid (semi-axes a, b in the plane, c up) resting on the
    mount: height c(1 + n_z) inside the outline (the lower half is hidden below the rim),
    and the unit-sphere coordinates (nx, ny, nz) of the surface point."""
    nx, ny = dx / a, dy / b
    r2 = nx * nx + ny * ny
    nz = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    s = np.maximum(np.sqrt(r2), 1.0)
    return c * (1.0 + nz) * (r2 < 1.0), nx / s, ny / s, nz


def _combine(canvas: Canvas, ctx: Ctx, obj: np.ndarray, pix: np.ndarray, h: np.ndarray,
             cover: np.ndarray, part: str) -> None:
    """Lay the objects on what is already there: each rests on the highest point of the
    surface under it, the upper surface wins (→ relief) and hides the material below;
    the objects' footprint → the part's class and the population's label."""
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    below = canvas.amounts.get((layer, RELIEF))
    # float32 throughout: ufunc.at takes its fast path only when the dtypes match
    # only pairs that add something: a maximum into zeros ignores h ≤ 0 and cover = 0
    h = h.astype(np.float32, copy=False)
    cover = cover.astype(np.float32, copy=False)
    up = np.flatnonzero(h > 0)
    h_up = h[up]
    if below is not None and obj.size:
        rest = np.zeros(int(obj.max()) + 1, dtype=np.float32)
        solid = np.flatnonzero(cover > 0.5)
        np.maximum.at(rest, obj[solid], below[pix[solid]].astype(np.float32))
        h_up = h_up + rest[obj[up]]
    top = np.zeros(canvas.npix, dtype=np.float32)
    np.maximum.at(top, pix[up], h_up)
    foot = np.zeros(canvas.npix, dtype=np.float32)
    on = np.flatnonzero(cover > 0)
    np.maximum.at(foot, pix[on], cover[on])
    if below is not None:
        top = np.maximum(top, below) - below  # what the objects add to the surface
        keep = (1.0 - foot).astype(np.float32)
        for (li, c), amt in canvas.amounts.items():
            if li == layer and c != RELIEF:
                amt *= keep  # buried under the new objects
    cls = ctx.cls(part)
    if cls:
        p = canvas.structures[cls]
        canvas.add(layer, cls, foot.astype(np.float32))
        top -= foot * (p.height_um or p.thickness_um)  # relief carries the rest of the height
        canvas.add_label(ctx.pop.label, foot.astype(np.float32))
    canvas.add(layer, RELIEF, top.astype(np.float32))


# --------------------------------------------------------------------------- the stub

@generator("stub")
def stub(canvas: Canvas, ctx: Ctx) -> None:
    """The mount: an adhesive carbon tab on an aluminium stub, its surface rolling gently
    with a power-law roughness from scale_um down to the grain of the coating (params:
    relief_um rms height, scale_um of the largest undulations) — what the SEM sees
    between the objects. Spectral synthesis: a sum of plane waves fixed on the slide, so
    every window shows the same tab; waves finer than two pixels are left out (they
    average away inside a pixel)."""
    w = canvas.window
    amp = float(ctx.p("relief_um"))
    scale = float(ctx.p("scale_um"))
    n = 64
    u = uniforms(ctx.seed, np.arange(n), np.zeros(n, dtype=np.int64), 3)
    lam = scale * (0.004 / 1.0) ** (np.arange(n) / (n - 1))  # scale → 0.4 % of it
    amp_k = amp * np.sqrt(2.0 / n) * (lam / scale) ** 1.4  # slopes fade at fine scales
    amp_k *= np.clip(lam / (2.5 * w.px_um) - 1.0, 0.0, 1.0)
    X, Y = w.grids()
    k = np.nonzero(amp_k > 1e-4)[0]
    th = 2 * np.pi * u[k, 0]
    kx, ky = np.cos(th) * 2 * np.pi / lam[k], np.sin(th) * 2 * np.pi / lam[k]
    ph = 2 * np.pi * u[k, 1]
    # separable: Σ_k a_k cos(ky·y + kx·x + φ) = Σ_k a_k (cos ky·y cos(kx·x + φ) −
    # sin ky·y sin(kx·x + φ)): one (H × 2K)·(2K × W) matrix product instead of K passes
    # over the window
    ay, ax = Y[:, :1] * ky[None, :], kx[:, None] * X[:1, :] + ph[:, None]
    left = np.concatenate([amp_k[k] * np.cos(ay), -amp_k[k] * np.sin(ay)], axis=1)
    right = np.concatenate([np.cos(ax), np.sin(ax)], axis=0)
    h = left.astype(np.float32) @ right.astype(np.float32)
    z = float(np.mean(ctx.pop.z_um))
    layer = int(canvas.layer_of(np.array([z]))[0])
    canvas.add(layer, RELIEF, (h + 2 * amp).ravel())


def with_anchor(ctx: Ctx, x: np.ndarray, y: np.ndarray, u: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the teaching object at params.anchor (slide µm), if any, whose attributes are
    hashed like any other's; lattice objects that would overlap it are dropped."""
    anchor = ctx.p("anchor")
    if anchor is None:
        return x, y, u
    ax, ay = float(anchor[0]), float(anchor[1])
    ua = uniforms(ctx.seed ^ 0xA5A5, np.array([0]), np.array([0]), u.shape[1])
    ua[:, 2] = 0.0  # present, and the first kind of a mix
    clear = np.hypot(x - ax, y - ay) > 0.8 * ctx.spacing()
    return (np.append(x[clear], ax), np.append(y[clear], ay),
            np.concatenate([u[clear], ua]))


# --------------------------------------------------------------------------- pollen

POLLEN_KINDS = ("echinate", "saccate", "tricolpate")


@generator("pollen-surface")
def pollen_surface(canvas: Canvas, ctx: Ctx) -> None:
    """Dry pollen grains on the stub, as surfaces. Params: mix (fractions of echinate,
    saccate, tricolpate grains), echinate_um / saccate_um / tricolpate_um (size ranges),
    spine_um (spine length), spine_spacing_um, lumen_um (reticulum mesh).
    echinate (sunflower): a sphere with conical spines; saccate (pine): an oblate corpus
    with two air sacs (sacci) whose walls are alveolate; tricolpate: a prolate grain with
    a fine reticulum (muri around lumina) and three meridional furrows (colpi).
    Part: exine."""
    mix = np.asarray(ctx.p("mix"), dtype=np.float64)
    mix = np.cumsum(mix / mix.sum())
    spacing = ctx.spacing()
    x, y, u = with_anchor(ctx, *ctx.points(spacing, 40.0, 14))
    kind = np.searchsorted(mix, u[:, 2], side="right").clip(0, 2)
    ranges = [ctx.p(f"{k}_um") for k in POLLEN_KINDS]
    lo = np.array([r[0] for r in ranges])[kind]
    hi = np.array([r[1] for r in ranges])[kind]
    D = lo + (hi - lo) * u[:, 3]
    # outline semi-axes in the image and the height semi-axis
    a = D / 2
    b = np.where(kind == 2, D / 2 / (1.15 + 0.2 * u[:, 4]), D / 2 * (0.95 + 0.05 * u[:, 4]))
    b = np.where(kind == 1, D * 0.21, b)  # pine corpus: the sacci make up the length
    a = np.where(kind == 1, D * 0.27, a)
    c = np.where(kind == 1, D * 0.18, np.minimum(a, b))
    ang = 2 * np.pi * u[:, 5]
    reach = np.where(kind == 1, D * 0.7, D * 0.5 + float(ctx.p("spine_um")))
    w = canvas.window
    obj, pix, dx, dy = ragged_boxes(canvas, x, y, reach)
    if obj.size == 0:
        return
    # float32 per (object, pixel) pair: µm within a grain
    dx, dy = dx.astype(np.float32), dy.astype(np.float32)
    ca, sa = np.cos(ang).astype(np.float32)[obj], np.sin(ang).astype(np.float32)[obj]
    lx, ly = dx * ca + dy * sa, -dx * sa + dy * ca
    ko = kind[obj]
    ao, bo, co = (v.astype(np.float32)[obj] for v in (a, b, c))
    h, nx, ny, nz = _ellipsoid(lx, ly, ao, bo, co)
    cover = np.clip((1.0 - np.hypot(lx / ao, ly / bo)) * np.minimum(ao, bo) / w.px_um + 0.5,
                    0.0, 1.0)
    R = np.minimum(ao, bo)
    on = h > 0
    spine = float(ctx.p("spine_um"))
    rho = np.hypot(lx / ao, ly / bo)
    # the exine's lattices need the angles in the grain's frame, on echinate grains out to
    # their spines' reach and on tricolpate grains (not on the rest of the boxes)
    need = np.flatnonzero(((ko == 0) & (on | (rho < 1.0 + spine / R))) | ((ko == 2) & on))
    theta = np.zeros(obj.size, dtype=np.float32)
    phi = np.zeros(obj.size, dtype=np.float32)
    theta[need], phi[need] = _spherical(_rotation(u[:, 6:9]), obj[need], nx[need], ny[need],
                                        nz[need])
    # echinate: conical spines on a near-uniform lattice, a finely granular tectum between
    sp = float(ctx.p("spine_spacing_um"))
    e = (ko == 0) & on
    if e.any():
        d1, _ = _ring_lattice(theta[e], phi[e], sp / R[e])
        base = 1.1  # spine base radius, µm
        rad = d1 * R[e]
        cone = spine * np.clip(1.0 - rad / base, 0.0, 1.0) ** 1.6
        # the spine stands along the normal: seen from above it leans out near the rim
        h[e] += cone * nz[e] + 0.25 * np.clip(1.0 - rad / (1.8 * base), 0.0, 1.0)
    # spines on the rim stand out of the outline in silhouette
    rim = (ko == 0) & (rho >= 1.0) & (rho < 1.0 + spine / R)
    if rim.any():
        d1, _ = _ring_lattice(theta[rim], phi[rim], sp / R[rim])
        out = (rho[rim] - 1.0) * R[rim]
        width = 1.1 * np.clip(1.0 - out / spine, 0.0, 1.0) ** 1.6
        tip = np.clip((width - d1 * R[rim]) / w.px_um + 0.5, 0.0, 1.0)
        h[rim] = co[rim] * tip
        cover[rim] = np.maximum(cover[rim], tip)
    # reticulum (tricolpate, sacci): muri between lumina, the colpi smooth furrows
    lumen = float(ctx.p("lumen_um"))
    t = (ko == 2) & on
    if t.any():
        d1, d2 = _ring_lattice(theta[t], phi[t], lumen / R[t])
        muri = np.clip(1.0 - (d2 - d1) * R[t] / 0.35, 0.0, 1.0)
        # three colpi along meridians of the grain's own axis, tapering to the poles
        sector = np.mod(phi[t] + np.pi / 3, 2 * np.pi / 3) - np.pi / 3
        half = 0.16 * np.sin(np.clip(theta[t], 0.0, np.pi)) ** 2
        colpus = np.clip(1.0 - np.abs(sector) / np.maximum(half, 1e-3), 0.0, 1.0)
        colpus *= np.abs(np.cos(theta[t])) < 0.8
        h[t] += 0.55 * muri * (1.0 - colpus) * nz[t] - 1.8 * colpus ** 0.7 * nz[t]
    s = (ko == 1)
    if s.any():
        h_s, cover_s = _sacci(lx[s], ly[s], ao[s], bo[s], co[s], u[obj[s], 9:12], lumen,
                              w.px_um)
        h[s] = np.maximum(h[s], h_s)
        cover[s] = np.maximum(cover[s], cover_s)
    _combine(canvas, ctx, obj, pix, h, cover, "exine")


def _sacci(lx: np.ndarray, ly: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
           u: np.ndarray, lumen: float, px: float) -> tuple[np.ndarray, np.ndarray]:
    """The two air sacs of a pine grain, either side of the corpus along its long axis:
    lower, wider domes whose alveolate wall shows a coarse reticulum. float32; the wall's
    reticulum is evaluated only on each sac's own pixels (a fraction of the grain's box)."""
    f32 = np.float32
    h = np.zeros(lx.shape, dtype=f32)
    cover = np.zeros(lx.shape, dtype=f32)
    u = u.astype(f32)
    for side in (-1.0, 1.0):
        rs = b * (f32(1.15) + f32(0.1) * u[:, 0])
        ox = lx - f32(side) * (a + f32(0.45) * rs)
        ex, ey = ox / (rs * f32(0.95)), ly / rs
        c_s = np.clip((f32(1.0) - np.hypot(ex, ey)) * rs / f32(px) + f32(0.5), 0.0, 1.0)
        np.maximum(cover, c_s, out=cover)
        r2 = ex * ex + ey * ey
        m = np.flatnonzero(r2 < 1.0)  # the dome (`_ellipsoid`): zero height elsewhere
        if m.size == 0:
            continue
        nz = np.sqrt(f32(1.0) - r2[m])
        d1, d2 = _ring_lattice(np.arccos(nz), np.arctan2(ey[m], ex[m]),
                               f32(lumen * 1.3) / rs[m])
        muri = np.clip(f32(1.0) - (d2 - d1) * rs[m] / f32(0.4), 0.0, 1.0)
        hs = c[m] * f32(0.85) * (f32(1.0) + nz) - f32(0.6) * (f32(1.0) - muri) * nz
        h[m] = np.maximum(h[m], hs)
    return h, cover


# --------------------------------------------------------------------------- diatoms

@generator("diatom-surface")
def diatom_surface(canvas: Canvas, ctx: Ctx) -> None:
    """Cleaned diatom valves lying on the stub, as surfaces. Params: shape (centric |
    pennate), stria_um (spacing of the rows of areolae), areola_um (pore diameter),
    wall_um (valve thickness), mantle_um (height of the rim). Centric: a disc whose areolae
    lie in radial rows, more rows further out (rows branch as the circumference grows), a
    raised mantle at the rim. Pennate: a lanceolate valve, transverse striae of areolae
    either side of a central raphe slit with a central nodule. Part: frustule."""
    shape = str(ctx.p("shape"))
    stria = float(ctx.p("stria_um"))
    areola = ctx.p("areola_um")
    pore = 0.45 * stria if areola is None else float(areola)
    wall = float(ctx.p("wall_um"))
    mantle = float(ctx.p("mantle_um"))
    x, y, u = with_anchor(ctx, *ctx.points(ctx.spacing(), 80.0, 8))
    keep = u[:, 2] < float(ctx.p("presence"))
    x, y, u = x[keep], y[keep], u[keep]
    L = ctx.size(u[:, 3])
    ang = 2 * np.pi * u[:, 4]
    px = canvas.window.px_um
    obj, pix, dx, dy = ragged_boxes(canvas, x, y, L / 2 + px)
    if obj.size == 0:
        return
    # float32 per (object, pixel) pair: µm within a valve
    u = u.astype(np.float32)
    dx, dy = dx.astype(np.float32), dy.astype(np.float32)
    ca, sa = np.cos(ang).astype(np.float32)[obj], np.sin(ang).astype(np.float32)[obj]
    lx, ly = dx * ca + dy * sa, -dx * sa + dy * ca
    a = (L / 2).astype(np.float32)[obj]
    # sub-pixel pores average out into a shallower, uniform depression
    vis = np.clip(pore / (2 * px), 0.0, 1.0)
    # the valve's height is worked out only on the pairs inside its outline (0 elsewhere:
    # most of a pennate valve's square box)
    if shape == "centric":
        r = np.hypot(lx, ly)
        rho = r / a
        cover = np.clip((a - r) / px + 0.5, 0.0, 1.0)
        ins = np.flatnonzero(rho < 1.0)
        r, rho, a, lx, ly, uo = r[ins], rho[ins], a[ins], lx[ins], ly[ins], u[obj[ins], 5]
        # a gently domed valve face, then the mantle turning down at the rim
        h = wall + 0.06 * a * (1 - rho ** 2) + mantle * np.clip((rho - 0.86) / 0.1, 0, 1) ** 2
        h = np.where(rho > 0.96, wall + mantle * np.clip((1 - rho) / 0.04, 0, 1), h)
        # areolae: rings every stria_um, rows at stria_um along each ring, doubling
        # outwards, between a hyaline centre and a plain mantle
        face = np.flatnonzero((rho > 0.08) & (rho < 0.84))
        r, lx, ly, uo = r[face], lx[face], ly[face], uo[face]
        ring = np.rint(r / stria)
        n0 = 8.0
        nrow = n0 * 2.0 ** np.floor(np.log2(np.maximum(2 * np.pi * ring / n0, 1.0)))
        phi = np.arctan2(ly, lx) + uo * 2 * np.pi
        k = np.rint(phi * nrow / (2 * np.pi))
        dphi = (phi - k * 2 * np.pi / nrow) * r
        d = np.hypot(r - ring * stria, dphi)
        hole = np.clip(1.0 - d / (pore / 2), 0.0, 1.0) ** 0.3
        # areolae perforate the valve: a resolved pore opens down to the mount
        h[face] = h[face] * (1.0 - 0.95 * hole * vis) - wall * 0.3 * (1 - vis)
    else:
        b = a * (0.16 + 0.06 * u[obj, 5])
        t = lx / a
        half = b * np.clip(1 - t * t, 0.0, 1.0) ** 0.6  # lanceolate outline
        inside = (np.abs(t) < 1.0) & (np.abs(ly) < half)
        cover = np.clip((half - np.abs(ly)) / px + 0.5, 0.0, 1.0) * (np.abs(t) < 1.0)
        ins = np.flatnonzero(inside)
        b, t, half, lx, ly = b[ins], t[ins], half[ins], lx[ins], ly[ins]
        q = np.abs(ly) / np.maximum(half, 1e-6)
        h = wall + 0.35 * half * (1 - q ** 2) + mantle * 0.5 * np.clip((q - 0.85) / 0.15, 0, 1)
        # striae: rows of areolae across the valve, spacing stria_um; pores along each row
        sx = lx / stria
        d_row = (sx - np.rint(sx)) * stria
        d_pore = (np.abs(ly) / (0.7 * stria))
        d_pore = (d_pore - np.rint(d_pore)) * 0.7 * stria
        hole = np.clip(1.0 - np.hypot(d_row, d_pore) / (pore / 2), 0.0, 1.0) ** 0.3
        axial = np.abs(ly) < 0.12 * b + 0.25  # the hyaline axial area around the raphe
        nodule = np.hypot(lx, ly) < 1.2 + 0.1 * b
        hole *= ~axial & ~nodule & (q < 0.88)
        h = h * (1.0 - 0.95 * hole * vis) - wall * 0.3 * (1 - vis) * (~axial & (q < 0.88))
        # the raphe: a slit along the apical axis, interrupted at the central nodule
        slit = np.clip(1.0 - np.abs(ly) / max(0.12, px), 0.0, 1.0) * (np.abs(t) < 0.92)
        slit *= ~nodule
        h = h - wall * 1.2 * slit + 0.3 * nodule * (1 - q ** 2)
    height = np.zeros(obj.size, dtype=np.float32)
    height[ins] = np.maximum(h, 0.05)
    h = height
    _combine(canvas, ctx, obj, pix, h, cover, "frustule")

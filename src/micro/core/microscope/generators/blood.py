"""Blood films: red cells (normal, sickled, parasitized by P. falciparum rings and
gametocytes) and the five kinds of leukocyte, on the jittered lattice of the slide."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.lattice import uniforms
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator


def thin(x: np.ndarray, y: np.ndarray, prio: np.ndarray, dmin_um: float) -> np.ndarray:
    """Blue-noise thinning: drop every point that has a higher-priority neighbour closer than
    `dmin_um`. The verdict on a point depends only on candidates within dmin of it, so any
    window whose margin exceeds dmin gets the same answer (parcentric)."""
    keep = np.ones(x.size, dtype=bool)
    if x.size < 2:
        return keep
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(dmin_um, output_type="ndarray")
    if pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        loser = np.where(prio[a] < prio[b], a, b)
        keep[loser] = False
    return keep


def arc(n: int, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray, theta: np.ndarray,
        span: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points along arcs (one per structure): x, y (N, n) and the local tangent angle."""
    t = np.linspace(-0.5, 0.5, n)[None, :] * span[:, None] + theta[:, None]
    px = cx[:, None] + radius[:, None] * np.cos(t)
    py = cy[:, None] + radius[:, None] * np.sin(t)
    return px, py, t + np.pi / 2


@generator("rbc")
def red_cells(canvas: Canvas, ctx: Ctx) -> None:
    """Red cells of a thin film: biconcave discs (central pallor) spaced by blue-noise
    thinning so most barely touch, as in the monolayer of a good smear. Params: min_gap_um
    (centre spacing over the largest diameter), sickle_frac (crescent cells, part 'sickle'),
    ring_frac (P. falciparum rings, parts 'parasite' + 'chromatin'), gametocyte_frac,
    target_frac (target cells), presence."""
    d_hi = ctx.pop.size_um[1]
    dmin = d_hi + float(ctx.p("min_gap_um", 0.3))
    x, y, u = ctx.points(ctx.spacing(), d_hi * 2 + dmin, 14)
    keep = (u[:, 2] < float(ctx.p("presence", 1.0))) & thin(x, y, u[:, 3], dmin)
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    d = ctx.size(u[:, 4])
    aspect = 1.0 + 0.08 * u[:, 5]
    th = np.pi * u[:, 6]
    z = ctx.z(u[:, 7])
    sickle_frac = float(ctx.p("sickle_frac", 0.0))
    sick = u[:, 8] < sickle_frac
    body = ctx.cls("body")
    assert body is not None
    normal = ~sick
    draw(canvas, body, x[normal], y[normal], d[normal] / 2 * np.sqrt(aspect[normal]),
         d[normal] / 2 / np.sqrt(aspect[normal]), th[normal], z_um=z[normal],
         profile="biconcave", amount=float(ctx.p("body_amount", 1.0)), label=ctx.pop.label)
    sickle = ctx.cls("sickle")
    if sickle and sick.any():
        # crescents: seven capsules along an arc, thickest in the middle, pointed at the ends
        n = 7
        length = d[sick] * (1.3 + 0.4 * u[sick, 9])
        span = 1.2 + 0.8 * u[sick, 10]
        radius = length / span
        cx = x[sick] - radius * np.cos(th[sick])
        cy = y[sick] - radius * np.sin(th[sick])
        px, py, tang = arc(n, cx, cy, radius, th[sick], span)
        taper = np.sin(np.linspace(0.15, np.pi - 0.15, n))[None, :]
        w = (d[sick] * 0.22)[:, None] * taper + 0.15
        seg = (length / n)[:, None] * np.ones((1, n))
        draw(canvas, sickle, px.ravel(), py.ravel(), w.ravel(), w.ravel(), tang.ravel(),
             z_um=np.repeat(z[sick], n), half_len_um=(seg / 2).ravel() * 0.9,
             profile="dome", amount=0.75, label=ctx.pop.label + "-sickle")
    parasite, chromatin = ctx.cls("parasite"), ctx.cls("chromatin")
    ring_frac = float(ctx.p("ring_frac", 0.0))
    if parasite and chromatin and ring_frac > 0:
        ring = normal & (u[:, 11] < ring_frac)
        r = d[ring] * (0.14 + 0.05 * u[ring, 12])
        off = d[ring] * 0.22 * u[ring, 13]
        ang = 2 * np.pi * u[ring, 9]
        rx, ry = x[ring] + off * np.cos(ang), y[ring] + off * np.sin(ang)
        draw(canvas, parasite, rx, ry, r, r * 0.9, ang, z_um=z[ring], profile="rim",
             amount=0.5, label=ctx.pop.label + "-ring")
        dot = r * 0.38
        cxr, cyr = rx + r * np.cos(ang + 1.2), ry + r * np.sin(ang + 1.2)
        draw(canvas, chromatin, cxr, cyr, dot, dot, z_um=z[ring], profile="dome",
             amount=1.2, label=ctx.pop.label + "-ring")
        double = u[ring, 10] < 0.12  # double chromatin dots, typical of falciparum
        draw(canvas, chromatin, rx[double] + r[double] * np.cos(ang[double] - 1.2),
             ry[double] + r[double] * np.sin(ang[double] - 1.2), dot[double], dot[double],
             z_um=z[ring][double], profile="dome", amount=1.2)
    gam_frac = float(ctx.p("gametocyte_frac", 0.0))
    if parasite and chromatin and gam_frac > 0:
        g = normal & (u[:, 11] > 1.0 - gam_frac)
        L = d[g] * 0.75
        draw(canvas, parasite, x[g], y[g], d[g] * 0.16, d[g] * 0.16, th[g], z_um=z[g],
             half_len_um=L / 2 - d[g] * 0.16, profile="dome", amount=1.1,
             label=ctx.pop.label + "-gametocyte")
        draw(canvas, chromatin, x[g], y[g], d[g] * 0.12, d[g] * 0.1, th[g], z_um=z[g],
             profile="dome", amount=0.9)
        pigment = ctx.cls("pigment")
        if pigment:
            draw(canvas, pigment, x[g] + 0.4 * np.cos(th[g]), y[g] + 0.4 * np.sin(th[g]),
                 0.25, 0.25, z_um=z[g], profile="dome", amount=1.0)


def anchored(ctx: Ctx, x: np.ndarray, y: np.ndarray, u: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the population's `anchor` structures (fixed stage positions, e.g. the slide
    centre) with their own hashed attributes."""
    anchors = ctx.p("anchor", [])
    if not anchors:
        return x, y, u
    pts = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    k = np.arange(len(pts), dtype=np.int64)
    ua = uniforms(ctx.seed ^ 0xA7C4, -1 - k, k, u.shape[1])
    return (np.concatenate([x, pts[:, 0]]), np.concatenate([y, pts[:, 1]]),
            np.concatenate([u, ua]))


@generator("leukocyte")
def leukocyte(canvas: Canvas, ctx: Ctx) -> None:
    """White cells. Params: kind neutrophil|lymphocyte|monocyte|eosinophil|basophil|band,
    anchor (optional [x, y, ...] positions that always hold one). Parts: body, nucleus,
    granule. Neutrophils have 3–5 lobes joined by thin chromatin strands, eosinophils two
    lobes under orange granules, basophils dark granules over the nucleus, monocytes a
    kidney-shaped nucleus in grey-blue cytoplasm, lymphocytes a round nucleus and a thin rim
    of blue cytoplasm."""
    kind = str(ctx.p("kind", "neutrophil"))
    n_gran = {"neutrophil": 40, "eosinophil": 45, "basophil": 30, "band": 40}.get(kind, 0)
    n_gran = int(ctx.p("granules", n_gran))
    slots = 16 + 3 * n_gran
    dmax = ctx.pop.size_um[1]
    x, y, u = ctx.points(ctx.spacing(), dmax, slots)
    x, y, u = anchored(ctx, x, y, u)
    if x.size == 0:
        return
    n = x.size
    d = ctx.size(u[:, 3])
    r = d / 2
    z = ctx.z(u[:, 6])
    th = 2 * np.pi * u[:, 5]
    label = ctx.pop.label
    body, nucleus, granule = ctx.cls("body"), ctx.cls("nucleus"), ctx.cls("granule")
    if body:
        draw(canvas, body, x, y, r * 1.03, r / 1.03, th, z_um=z, profile="lens",
             amount=float(ctx.p("body_amount", 0.8)), label=label)
    if nucleus:
        nl = label + "-nucleus"
        amt = float(ctx.p("nucleus_amount", 1.0))
        if kind in ("neutrophil", "eosinophil", "band"):
            lobes = np.full(n, 2)
            if kind == "neutrophil":
                lobes = 3 + np.floor(u[:, 7] * 2.999).astype(int)  # 3–5 lobes
            m = 5 if kind != "band" else 7
            span = np.where(lobes == 2, 1.9, 2.6 + 0.25 * (lobes - 3))
            if kind == "band":
                span = np.full(n, 3.2)
            rad = r * 0.42
            k = np.arange(m)[None, :]
            present = k < (lobes[:, None] if kind != "band" else m)
            t = (k / np.maximum(lobes[:, None] - 1, 1) - 0.5) * span[:, None] + th[:, None]
            if kind == "band":
                t = (k / (m - 1) - 0.5) * span[:, None] + th[:, None]
            jit = (u[:, 8:8 + m] - 0.5) * 0.25 * r[:, None]
            px = x[:, None] + rad[:, None] * np.cos(t) + jit
            py = y[:, None] + rad[:, None] * np.sin(t) - jit
            lr = (r * (0.27 if kind != "band" else 0.17))[:, None] * (
                0.85 + 0.3 * u[:, 8:8 + m]) * np.ones((1, m))
            sel = present
            draw(canvas, nucleus, px[sel], py[sel], lr[sel] * 1.15, lr[sel] * 0.9,
                 t[sel] + np.pi / 2, z_um=np.broadcast_to(z[:, None], px.shape)[sel],
                 profile="dome", amount=amt, label=nl)
            if kind != "band":
                # thin chromatin strands between neighbouring lobes
                link = present[:, 1:] & present[:, :-1]
                mx = (px[:, 1:] + px[:, :-1]) / 2
                my = (py[:, 1:] + py[:, :-1]) / 2
                ang = np.arctan2(py[:, 1:] - py[:, :-1], px[:, 1:] - px[:, :-1])
                gap = np.hypot(px[:, 1:] - px[:, :-1], py[:, 1:] - py[:, :-1])
                draw(canvas, nucleus, mx[link], my[link], 0.25, 0.25, ang[link],
                     z_um=np.broadcast_to(z[:, None], mx.shape)[link],
                     half_len_um=gap[link] / 2, profile="flat", amount=amt * 0.8)
        elif kind == "monocyte":
            px, py, tang = arc(3, x, y, r * 0.2, th, np.full(n, 2.2))
            draw(canvas, nucleus, px.ravel(), py.ravel(), np.repeat(r * 0.36, 3),
                 np.repeat(r * 0.3, 3), tang.ravel(), z_um=np.repeat(z, 3), profile="dome",
                 amount=amt * 0.8, label=nl)
        else:  # lymphocyte, basophil: one round nucleus
            frac = 0.82 if kind == "lymphocyte" else 0.6
            off = r * (0.08 if kind == "lymphocyte" else 0.1)
            draw(canvas, nucleus, x + off * np.cos(th), y + off * np.sin(th), r * frac,
                 r * frac * 0.95, th, z_um=z, profile="dome", amount=amt * 1.1, label=nl)
    if granule and n_gran:
        uu = u[:, 16:16 + 3 * n_gran].reshape(n, n_gran, 3)
        rr = np.sqrt(uu[..., 0]) * r[:, None] * 0.88
        phi = 2 * np.pi * uu[..., 1]
        gsz = float(ctx.p("granule_um", 0.5)) / 2 * (0.8 + 0.4 * uu[..., 2])
        draw(canvas, granule, (x[:, None] + rr * np.cos(phi)).ravel(),
             (y[:, None] + rr * np.sin(phi)).ravel(), gsz.ravel(), gsz.ravel(),
             z_um=np.repeat(z, n_gran), profile="dome",
             amount=float(ctx.p("granule_amount", 1.0)))


def carve(canvas: Canvas, layer: int, keep: np.ndarray) -> None:
    """Scale everything already drawn in `layer` by `keep` (H·W,): later structures that
    replace tissue (septa, vessels, lumens) clear what earlier populations put there."""
    for (li, _cls), arr in canvas.amounts.items():
        if li == layer:
            arr *= keep.astype(np.float32)
    for arr in canvas.labels.values():
        arr *= keep.astype(np.float32)

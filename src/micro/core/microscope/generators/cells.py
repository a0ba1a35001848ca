"""Free cells: squames, cultured cells, yeasts, blood cells — an ellipse body with optional
nucleus, nucleolus, granules and organelles, placed on the slide's jittered lattice."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator


@generator("cells")
def cells(canvas: Canvas, ctx: Ctx) -> None:
    """Params: aspect (max elongation), profile (body thickness profile), presence (fraction of
    lattice sites occupied), nucleus_frac (nucleus diameter / cell diameter), nucleus_offset
    (0 centred … 1 at the rim), nucleus_aspect, nucleolus (bool), granules (per cell),
    granule_um, organelles (per cell, class part 'organelle'), organelle_um [len, width],
    body_amount, nucleus_amount, bud_prob (budding yeast), jitter (0 = regular lattice)."""
    n_gran = int(ctx.p("granules", 0))
    n_org = int(ctx.p("organelles", 0))
    slots = 14 + 3 * n_gran + 3 * n_org
    dmax = ctx.pop.size_um[1]
    x, y, u = ctx.points(ctx.spacing(), dmax, slots, float(ctx.p("jitter", 1.0)))
    keep = u[:, 2] < float(ctx.p("presence", 1.0))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    d = ctx.size(u[:, 3])
    aspect = 1.0 + (float(ctx.p("aspect", 1.15)) - 1.0) * u[:, 4]
    theta = np.pi * u[:, 5]
    a = d / 2 * np.sqrt(aspect)
    b = d / 2 / np.sqrt(aspect)
    z = ctx.z(u[:, 6])
    label = ctx.pop.label
    body = ctx.cls("body")
    if body:
        draw(canvas, body, x, y, a, b, theta, z_um=z, profile=str(ctx.p("profile", "lens")),
             amount=float(ctx.p("body_amount", 1.0)) * (0.85 + 0.3 * u[:, 7]), label=label)
    membrane = ctx.cls("membrane")
    if membrane:
        draw(canvas, membrane, x, y, a, b, theta, z_um=z, profile="rim",
             amount=float(ctx.p("membrane_amount", 0.5)))
    bud_prob = float(ctx.p("bud_prob", 0.0))
    if body and bud_prob > 0:
        has = u[:, 13] < bud_prob
        bsize = 0.35 + 0.4 * u[has, 12]
        ang = theta[has] + np.pi * (u[has, 11] > 0.5)
        dist = a[has] * (1.0 + bsize * 0.8)
        bx = x[has] + np.cos(ang) * dist
        by = y[has] + np.sin(ang) * dist
        draw(canvas, body, bx, by, a[has] * bsize, a[has] * bsize, z_um=z[has],
             profile=str(ctx.p("profile", "lens")), amount=float(ctx.p("body_amount", 1.0)),
             label=label)
    nucleus = ctx.cls("nucleus")
    if nucleus:
        nf = float(ctx.p("nucleus_frac", 0.2))
        off = float(ctx.p("nucleus_offset", 0.15))
        na = b * nf * float(ctx.p("nucleus_aspect", 1.1))
        nb = b * nf
        rr = off * (a - na) * u[:, 8]
        phi = 2 * np.pi * u[:, 9]
        nx = x + rr * np.cos(phi)
        ny = y + rr * np.sin(phi)
        draw(canvas, nucleus, nx, ny, na, nb, theta, z_um=z, profile="dome",
             amount=float(ctx.p("nucleus_amount", 1.0)), label=label + "-nucleus")
        nucleolus = ctx.cls("nucleolus")
        if nucleolus and bool(ctx.p("nucleolus", True)):
            draw(canvas, nucleolus, nx + 0.2 * na * np.cos(phi), ny + 0.2 * nb * np.sin(phi),
                 nb * 0.22, nb * 0.22, z_um=z, profile="dome")
    _scatter_inside(canvas, ctx, "granule", x, y, a, b, theta, z, u, 14, n_gran,
                    float(ctx.p("granule_um", 0.5)), float(ctx.p("granule_amount", 1.0)), 1.0)
    org_len, org_w = ctx.p("organelle_um", [2.0, 0.5])
    _scatter_inside(canvas, ctx, "organelle", x, y, a, b, theta, z, u, 14 + 3 * n_gran, n_org,
                    float(org_w), float(ctx.p("organelle_amount", 1.0)),
                    float(org_len) / float(org_w))


def _scatter_inside(canvas: Canvas, ctx: Ctx, part: str, x: np.ndarray, y: np.ndarray,
                    a: np.ndarray, b: np.ndarray, theta: np.ndarray, z: np.ndarray,
                    u: np.ndarray, first: int, count: int, size_um: float, amount: float,
                    elong: float) -> None:
    """`count` small structures per cell, uniformly inside its body (granules, organelles)."""
    cls = ctx.cls(part)
    if not cls or count == 0:
        return
    k = np.arange(count)
    uu = u[:, first:first + 3 * count].reshape(len(x), count, 3)
    rr = np.sqrt(uu[..., 0]) * 0.85
    phi = 2 * np.pi * uu[..., 1]
    lx = rr * np.cos(phi) * a[:, None]
    ly = rr * np.sin(phi) * b[:, None]
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    gx = (x[:, None] + lx * c - ly * s).ravel()
    gy = (y[:, None] + lx * s + ly * c).ravel()
    ang = (np.pi * uu[..., 2]).ravel()
    zz = np.repeat(z, count)
    r = size_um / 2
    half = r * max(elong - 1.0, 0.0)
    del k
    draw(canvas, cls, gx, gy, r, r, ang, z_um=zz, profile="dome", amount=amount,
         half_len_um=half)

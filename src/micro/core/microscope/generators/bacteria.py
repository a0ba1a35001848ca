"""Bacteria: rods and cocci, single, in pairs, chains, grape-like clusters, palisades or
serpentine cords, optionally with endospores.

No two cells alike: lengths are log-normal, widths vary a little, rods bend (a kinked pair of
capsules for curved and beaded bacilli), some rods are dividing (two daughters end to end
with a constriction), cocci in chains pair up as diplococci, clusters vary in size and pack
loosely with cells lying over each other, and every cell takes up its own amount of stain
(a few over- or under-stained, as in any real Gram film)."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.blobs import lognormal, uptake
from micro.core.microscope.raster import Canvas, draw
from micro.core.microscope.registry import Ctx, generator

GOLDEN = np.pi * (3 - np.sqrt(5))


@generator("bacteria")
def bacteria(canvas: Canvas, ctx: Ctx) -> None:
    """size_um: cell length range (rods) or diameter range (cocci); lengths are log-normal
    over it. Params: shape rod|coccus, arrangement single|pairs|chains|clusters|palisade|
    cords, members (max per group), width_um (rods), bend (radians of curvature per cell),
    beaded (bool: acid-fast bacilli stain in beads), divide_frac (rods caught dividing),
    spore_frac, spore_pos central|subterminal|terminal, presence, body_amount."""
    shape = str(ctx.p("shape"))
    arr = str(ctx.p("arrangement"))
    m = {"single": 1, "pairs": 2}.get(arr, int(ctx.p("members")))
    slots = 9 + 6 * m
    L_lo, L_hi = ctx.pop.size_um
    margin = L_hi * (m + 1) + 2.0
    x, y, u = ctx.points(ctx.spacing(), margin, slots)
    keep = u[:, 2] < float(ctx.p("presence"))
    x, y, u = x[keep], y[keep], u[keep]
    if x.size == 0:
        return
    n = x.size
    count = np.ones(n, dtype=int) * m
    if arr in ("chains", "clusters", "palisade", "cords"):
        # group sizes skewed to small groups, a few large ones
        count = np.clip(np.round(2 + (m - 2) * u[:, 3] ** 1.6), 2, m).astype(int)
    theta0 = 2 * np.pi * u[:, 4]
    z = ctx.z(u[:, 5])
    mem = u[:, 9:9 + 6 * m].reshape(n, m, 6)
    length = lognormal(mem[..., 0], np.sqrt(L_lo * L_hi), 0.22, L_lo, L_hi)
    if shape == "rod":
        w0 = float(ctx.p("width_um"))
        width = w0 * (0.92 + 0.16 * mem[..., 1])
    else:
        width = lognormal(mem[..., 0], (L_lo + L_hi) / 2, 0.08, L_lo * 0.9, L_hi * 1.1)
        length = width
    k = np.arange(m)[None, :]
    if arr == "clusters":
        # grape-like: a loose irregular heap, some cells lying over others
        rad = 0.5 * width * np.sqrt(k + 0.3) * (0.9 + 0.3 * mem[..., 2])
        ang = k * GOLDEN + theta0[:, None] + (mem[..., 3] - 0.5) * 0.9
        px = x[:, None] + rad * np.cos(ang)
        py = y[:, None] + rad * np.sin(ang)
        th = 2 * np.pi * mem[..., 4]
    elif arr == "palisade":
        px = x[:, None] + (k * (width * 1.15)) * np.cos(theta0[:, None] + np.pi / 2)
        py = y[:, None] + (k * (width * 1.15)) * np.sin(theta0[:, None] + np.pi / 2)
        th = theta0[:, None] + (mem[..., 1] - 0.5) * 0.3 + 0 * k
    elif arr == "cords":
        # serpentine cords: rods side by side along a gently curving axis, staggered
        along = (k - (count[:, None] - 1) / 2) * length.mean(axis=1, keepdims=True) * 0.45
        across = (mem[..., 2] - 0.5) * 2.2 * width
        curve = (u[:, 6:7] - 0.5) * 0.08 * along
        th = theta0[:, None] + curve + (mem[..., 3] - 0.5) * 0.35
        c, s = np.cos(theta0)[:, None], np.sin(theta0)[:, None]
        px = x[:, None] + along * c - (across + curve * along) * s
        py = y[:, None] + along * s + (across + curve * along) * c
    else:
        bend = float(ctx.p("bend")) if arr == "chains" else 0.0
        dth = (mem[..., 1] - 0.5) * 2 * bend
        dth[:, 0] = 0.0
        th = theta0[:, None] + np.cumsum(dth, axis=1)
        if shape == "rod":
            step = length + 0.15
        else:  # diplococci along the chain: close pairs, a wider gap between pairs
            step = width * np.where(k % 2 == 1, 0.92, 1.12)
        seg = (step[:, :-1] + step[:, 1:]) / 2 if shape == "rod" else step[:, 1:]
        seg = np.concatenate([np.zeros((n, 1)), seg], axis=1)
        px = x[:, None] + np.cumsum(seg * np.cos(th), axis=1)
        py = y[:, None] + np.cumsum(seg * np.sin(th), axis=1)
    present = k < count[:, None]
    px, py, th = px[present], py[present], th[present]
    L, W = length[present], width[present]
    mu = mem[present]
    zz = np.broadcast_to(z[:, None], length.shape)[present]
    amt = float(ctx.p("body_amount")) * uptake(mu[:, 5], mu[:, 4], 0.15, 0.05)
    body = ctx.cls("body")
    assert body is not None
    lab = ctx.pop.label
    if shape != "rod":
        # cocci are not perfect spheres: slightly oval, the long axis along the chain
        e = 1.0 + 0.12 * mu[:, 3]
        draw(canvas, body, px, py, W / 2 * e, W / 2 / e, th, z_um=zz, profile="dome",
             amount=amt, label=lab)
        return
    _rods(canvas, ctx, body, px, py, th, L, W, zz, amt, mu)


def _rods(canvas: Canvas, ctx: Ctx, body: str, px: np.ndarray, py: np.ndarray,
          th: np.ndarray, L: np.ndarray, W: np.ndarray, z: np.ndarray, amt: np.ndarray,
          mu: np.ndarray) -> None:
    lab = ctx.pop.label
    curv = float(ctx.p("curvature"))  # radians between the two halves of a rod
    divide = mu[:, 2] < float(ctx.p("divide_frac"))
    beaded = bool(ctx.p("beaded"))
    # a dividing rod: two daughters end to end, each with its own rounded ends, pinched
    # where they meet; a curved rod: two halves meeting at a slight angle, overlapping
    # only by their rounding
    kink = (mu[:, 3] - 0.5) * 2 * curv
    # a cell divides once it has doubled: dividing rods are the longest ones
    L = np.where(divide, ctx.pop.size_um[1] * (0.96 + 0.04 * mu[:, 0]), L)
    two = divide | (np.abs(kink) > 0.05)
    one = ~two
    draw(canvas, body, px[one], py[one], W[one] / 2, W[one] / 2, th[one], z_um=z[one],
         profile="dome", half_len_um=np.maximum(L[one] - W[one], 0.0) / 2, amount=amt[one],
         label=lab)
    half = L[two] / 2
    Wt = W[two]
    gap = np.where(divide[two], 0.1, -Wt / 2)
    for sgn in (-1.0, 1.0):
        a = th[two] + sgn * kink[two] / 2
        off = (half + gap / 2) / 2  # the half spans gap/2 … L/2 from the centre
        draw(canvas, body, px[two] + sgn * np.cos(a) * off, py[two] + sgn * np.sin(a) * off,
             Wt / 2, Wt / 2, a, z_um=z[two], profile="dome",
             half_len_um=np.maximum(half - gap / 2 - Wt, 0.0) / 2,
             amount=amt[two] * np.where(divide[two], 1.0, 0.85), label=lab)
    if beaded:
        # acid-fast bacilli stain unevenly: darker beads along the rod
        nb = 3
        t = (np.arange(nb)[None, :] + 0.5) / nb - 0.5
        jitter = (mu[:, 4:5] - 0.5) * 0.3 / nb
        pos = (t + jitter) * L[:, None] * 0.8
        bx = (px[:, None] + pos * np.cos(th)[:, None]).ravel()
        by = (py[:, None] + pos * np.sin(th)[:, None]).ravel()
        bw = np.repeat(W * 0.42, nb)
        draw(canvas, body, bx, by, bw, bw, np.repeat(th, nb), z_um=np.repeat(z, nb),
             profile="dome", amount=np.repeat(amt * 0.6, nb), label=lab)
    spore = ctx.cls("spore")
    frac = float(ctx.p("spore_frac"))
    if spore and frac > 0:
        has = (mu[:, 1] < frac) & ~divide
        pos = str(ctx.p("spore_pos"))
        f = {"central": 0.0, "subterminal": 0.55, "terminal": 0.85}.get(pos, 0.0)
        sign = np.where(mu[:, 4] < 0.5, -1.0, 1.0)
        shift = (L / 2 - W * 0.6)[has] * f * sign[has]
        sx = px[has] + shift * np.cos(th[has])
        sy = py[has] + shift * np.sin(th[has])
        ss = 0.9 + 0.2 * mu[has, 0]
        sa, sb = W[has] * 0.6 * ss, W[has] * 0.42 * ss
        # the spore displaces the mother cell's cytoplasm: no safranin where it lies, only
        # the thin sporangium around it (Schaeffer–Fulton: green ovals inside pink rods)
        _displace(canvas, body, sx, sy, sa, sb, th[has], z[has], amt[has], lab)
        draw(canvas, spore, sx, sy, sa, sb, th[has], z_um=z[has], profile="dome",
             amount=float(ctx.p("spore_amount")), label=lab + "-spore")


def _displace(canvas: Canvas, cls: str, x: np.ndarray, y: np.ndarray, a: np.ndarray,
              b: np.ndarray, th: np.ndarray, z: np.ndarray, amount: np.ndarray,
              label: str) -> None:
    """Remove `cls` (and its label) where an inclusion of semi-axes a, b sits: the dome of
    the inclusion is taken out of the dome of the cell around it, never below zero."""
    hole = Canvas(canvas.window, canvas.layer_z_um, canvas.structures, canvas.weight)
    draw(hole, cls, x, y, a, b, th, z_um=z, profile="dome", amount=amount, label=label)
    for key, m in hole.amounts.items():
        acc = canvas.amounts.get(key)
        if acc is not None:
            np.maximum(acc - m, 0.0, out=acc)
    for name, m in hole.labels.items():
        acc = canvas.labels.get(name)
        if acc is not None:
            np.maximum(acc - m, 0.0, out=acc)

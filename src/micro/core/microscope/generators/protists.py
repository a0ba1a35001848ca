"""Pond-water life: Paramecium, Euglena, Amoeba, Volvox colonies and diatoms (pennate and
centric, with their silica striae), each swimming or resting at its own depth in the drop."""

from __future__ import annotations

import numpy as np

from micro.core.microscope.blobs import Texture, draw_cells, lognormal, outline, uptake
from micro.core.microscope.generators.blood import anchored, arc, children, notch
from micro.core.microscope.generators.shapes import draw
from micro.core.microscope.raster import Canvas
from micro.core.microscope.registry import Ctx, generator

GOLDEN = np.pi * (3 - np.sqrt(5))


def _place(ctx: Ctx, slots: int, margin: float | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = ctx.pop.size_um[1] if margin is None else margin
    x, y, u = ctx.points(ctx.spacing(), m, slots)
    keep = u[:, 2] < float(ctx.p("presence"))
    return anchored(ctx, x[keep], y[keep], u[keep])


def _inside(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, th: np.ndarray,
            uu: np.ndarray, fill: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Points uniformly inside ellipses: uu (n, k, 2) uniforms → x, y (n, k)."""
    rr = np.sqrt(uu[..., 0]) * fill
    phi = 2 * np.pi * uu[..., 1]
    lx, ly = rr * np.cos(phi) * a[:, None], rr * np.sin(phi) * b[:, None]
    c, s = np.cos(th)[:, None], np.sin(th)[:, None]
    return x[:, None] + lx * c - ly * s, y[:, None] + lx * s + ly * c


def _local(x: np.ndarray, y: np.ndarray, th: np.ndarray, along: np.ndarray | float,
           across: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(th), np.sin(th)
    return x + along * c - across * s, y + along * s + across * c


@generator("paramecium")
def paramecium(canvas: Canvas, ctx: Ctx) -> None:
    """Slipper-shaped ciliate: pellicle with a fringe of cilia, oral groove, a large kidney
    macronucleus, two star-shaped contractile vacuoles and food vacuoles."""
    nf = 12
    x, y, u = _place(ctx, 12 + 2 * nf)
    if x.size == 0:
        return
    lo, hi = ctx.pop.size_um
    L = lognormal(u[:, 3], (lo + hi) / 2, 0.12, lo, hi)
    W = L * (0.26 + 0.06 * u[:, 4])
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    org, cil, nuc = ctx.cls("body"), ctx.cls("cilia"), ctx.cls("nucleus")
    vac, food = ctx.cls("vacuole"), ctx.cls("food")
    lab = ctx.pop.label
    # a slipper, not a capsule: blunt front, tapered rear, the oral groove a notch on one
    # side, and each cell's own small departures from that
    n = x.size
    ou = children(ctx.seed ^ 0x511, u[:, 7], 1, 10)
    coeffs = outline(ou, 0.03)
    coeffs[:, 1, 0] += 0.05 + 0.03 * u[:, 8]  # order 3: egg-shaped, one end fuller
    coeffs += notch(0.08 + 0.04 * u[:, 9], 0.45, np.full(n, np.pi / 2 + 0.3), 5)
    if org:
        draw_cells(canvas, org, x, y, L / 2, W / 2, th, coeffs, z_um=z, profile="lens",
                   amount=0.9 * uptake(u[:, 10], u[:, 11], 0.1, 0.0), label=lab)
        # oral groove: a shallow depression on one side towards the front
        gx, gy = _local(x, y, th, -0.05 * L, 0.18 * W)
        draw(canvas, org, gx, gy, 0.28 * L, 0.12 * W, th + 0.25, z_um=z, profile="dome",
             amount=0.35)
    if cil:
        draw_cells(canvas, cil, x, y, L / 2 + 1.5, W / 2 + 1.5, th, coeffs, z_um=z,
                   profile="rim", amount=0.6)
    if nuc:
        nx, ny = _local(x, y, th, 0.02 * L, -0.05 * W)
        draw(canvas, nuc, nx, ny, 0.16 * L, 0.22 * W, th, z_um=z, profile="dome",
             amount=0.7, label=lab + "-nucleus")
        mx, my = _local(x, y, th, 0.02 * L, 0.17 * W)
        draw(canvas, nuc, mx, my, 0.03 * L, 0.03 * L, z_um=z, profile="dome", amount=0.8)
    if vac:  # the two contractile vacuoles of every cell, then their radiating canals
        sgn = np.array([-1.0, 1.0])[:, None]
        vx, vy = _local(x[None], y[None], th[None], sgn * 0.3 * L[None], -0.1 * W[None])
        vx, vy = vx.ravel(), vy.ravel()
        L2, th2, z2 = np.tile(L, 2), np.tile(th, 2), np.tile(z, 2)
        draw(canvas, vac, vx, vy, 0.05 * L2, 0.05 * L2, z_um=z2, profile="dome", amount=1.0)
        k = np.arange(6)
        ang = th2[:, None] + k[None, :] * np.pi / 3
        cx = vx[:, None] + 0.09 * L2[:, None] * np.cos(ang)
        cy = vy[:, None] + 0.09 * L2[:, None] * np.sin(ang)
        draw(canvas, vac, cx.ravel(), cy.ravel(), np.repeat(0.05 * L2, 6),
             np.repeat(0.008 * L2, 6), ang.ravel(), z_um=np.repeat(z2, 6), profile="flat",
             amount=0.6)
    if food:
        fx, fy = _inside(x, y, L / 2, W / 2, th, u[:, 12:12 + 2 * nf].reshape(-1, nf, 2), 0.7)
        r = np.repeat(0.025 * L, nf)
        draw(canvas, food, fx.ravel(), fy.ravel(), r, r, z_um=np.repeat(z, nf),
             profile="dome", amount=0.8)


@generator("euglena")
def euglena(canvas: Canvas, ctx: Ctx) -> None:
    """Spindle-shaped flagellate with 10–20 disc chloroplasts, a red eyespot at the front,
    a central nucleus and one long flagellum."""
    nc = 16
    x, y, u = _place(ctx, 12 + 2 * nc, ctx.pop.size_um[1] * 1.6)
    if x.size == 0:
        return
    L = ctx.size(u[:, 3])
    W = L * (0.18 + 0.06 * u[:, 4])
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    lab = ctx.pop.label
    org, chl, nuc = ctx.cls("body"), ctx.cls("chloroplast"), ctx.cls("nucleus")
    eye, fl = ctx.cls("eyespot"), ctx.cls("flagellum")
    if org:
        # tapered spindle: three overlapping capsules, widest behind the front (one draw)
        off = np.array([0.0, 0.22, -0.25])[:, None]
        wd = np.array([0.5, 0.36, 0.3])[:, None]
        px, py = _local(x[None], y[None], th[None], off * L[None], 0.0)
        r = (wd * W[None]).ravel()
        draw(canvas, org, px.ravel(), py.ravel(), r, r, np.tile(th, 3), z_um=np.tile(z, 3),
             half_len_um=np.maximum(L[None] * (0.28 - np.abs(off) * 0.6), 0.5).ravel(),
             profile="lens", amount=0.5, label=lab)
    if chl:
        uu = u[:, 12:12 + 2 * nc].reshape(-1, nc, 2)
        cx, cy = _inside(x, y, L * 0.38, W * 0.42, th, uu, 0.95)
        r = np.repeat(W * 0.2, nc)
        draw(canvas, chl, cx.ravel(), cy.ravel(), r, r * 0.7, np.repeat(th, nc),
             z_um=np.repeat(z, nc), profile="dome", amount=0.9, label=lab + "-chloroplast")
    if nuc:
        draw(canvas, nuc, x, y, W * 0.22, W * 0.2, th, z_um=z, profile="dome", amount=0.5,
             label=lab + "-nucleus")
    if eye:
        ex, ey = _local(x, y, th, 0.4 * L, 0.08 * W)
        draw(canvas, eye, ex, ey, 0.9, 0.7, th, z_um=z, profile="dome", amount=1.0)
    if fl:
        px, py, tang = arc(8, *_local(x, y, th, 0.5 * L + 0.5 * L / 1.2, 0.15 * L), L / 1.2,
                           th + np.pi, np.full(x.size, 0.9))
        draw(canvas, fl, px.ravel(), py.ravel(), 0.2, 0.2, tang.ravel(),
             z_um=np.repeat(z, 8), half_len_um=np.repeat(L / 1.2 * 0.9 / 16, 8),
             profile="flat", amount=1.0)


@generator("amoeba")
def amoeba(canvas: Canvas, ctx: Ctx) -> None:
    """Amoeba proteus: granular cytoplasm flowing into 3–6 blunt pseudopods, a disc
    nucleus, a contractile vacuole and food vacuoles."""
    npod, nf = 6, 10
    x, y, u = _place(ctx, 12 + 3 * npod + 2 * nf)
    if x.size == 0:
        return
    n = x.size
    D = ctx.size(u[:, 3])
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    lab = ctx.pop.label
    org = ctx.cls("body")
    core = D * 0.25
    if org:
        # one flowing body: an outline with 3–6 blunt bumps (pseudopods) of random
        # length and width around it, granular cytoplasm
        up = u[:, 12:12 + 3 * npod].reshape(n, npod, 3)
        count = 3 + np.floor(u[:, 4] * 3.99).astype(int)
        orders = 11
        coeffs = outline(u[:, 12 + 3 * npod:12 + 3 * npod + 2 * 5], 0.06)
        coeffs = np.concatenate([coeffs, np.zeros((n, orders - 5, 2))], axis=1)
        for k in range(npod):
            on = k < count
            ang = 2 * np.pi * (k + 0.6 * up[:, k, 0]) / npod
            h = np.where(on, 0.5 + 0.9 * up[:, k, 1], 0.0)
            coeffs += notch(-h, 0.22 + 0.12 * up[:, k, 2], ang, orders)
        draw_cells(canvas, org, x, y, D * 0.26, D * 0.23, th, coeffs, z_um=z, profile="lens",
                   amount=0.8, texture=Texture(2.0, 0.3), tex_u=u[:, 7:10], label=lab)
    nuc, vac, food = ctx.cls("nucleus"), ctx.cls("vacuole"), ctx.cls("food")
    if nuc:
        draw(canvas, nuc, x + 0.1 * core, y, D * 0.06, D * 0.05, th, z_um=z, profile="lens",
             amount=0.6, label=lab + "-nucleus")
    if vac:
        draw(canvas, vac, x - 0.4 * core, y + 0.3 * core, D * 0.05, D * 0.05, z_um=z,
             profile="dome", amount=1.0)
    if food:
        uu = u[:, 12 + 3 * npod:12 + 3 * npod + 2 * nf].reshape(n, nf, 2)
        fx, fy = _inside(x, y, core, core * 0.85, th, uu, 0.85)
        r = np.repeat(D * 0.025, nf)
        draw(canvas, food, fx.ravel(), fy.ravel(), r, r, z_um=np.repeat(z, nf),
             profile="dome", amount=0.8)


@generator("volvox")
def volvox(canvas: Canvas, ctx: Ctx) -> None:
    """Volvox: a hollow sphere of ~1000 biflagellate cells in a gel matrix, with 4–10 green
    daughter colonies inside. Cells on the near and far side of the sphere lie at different
    depths, so focusing moves the sharp ring through the colony."""
    ncell, nd = int(ctx.p("cells")), 8
    x, y, u = _place(ctx, 12 + 3 * nd)
    if x.size == 0:
        return
    n = x.size
    D = ctx.size(u[:, 3])
    R = D / 2
    z = ctx.z(u[:, 6])
    lab = ctx.pop.label
    matrix, chl = ctx.cls("matrix"), ctx.cls("chloroplast")
    if matrix:
        draw(canvas, matrix, x, y, R, R, z_um=z, profile="dome", amount=0.3, label=lab)
    if chl:
        k = np.arange(ncell)
        cz = 1 - 2 * (k + 0.5) / ncell  # Fibonacci sphere: even spacing of the cells
        rho = np.sqrt(1 - cz * cz)
        phi = k * GOLDEN
        rot = 2 * np.pi * u[:, 4]
        sx = x[:, None] + R[:, None] * rho[None] * np.cos(phi[None] + rot[:, None])
        sy = y[:, None] + R[:, None] * rho[None] * np.sin(phi[None] + rot[:, None])
        sz = z[:, None] + R[:, None] * cz[None]
        r = float(ctx.p("cell_um")) / 2
        draw(canvas, chl, sx.ravel(), sy.ravel(), r, r, z_um=sz.ravel(), profile="dome",
             amount=0.8, label=lab + "-cell")
        ud = u[:, 12:12 + 3 * nd].reshape(n, nd, 3)
        present = np.arange(nd)[None, :] < (4 + np.floor(u[:, 7] * 4.99))[:, None]
        dx, dy = _inside(x, y, R, R, np.zeros(n), ud[..., :2], 0.6)
        dr = (R[:, None] * (0.12 + 0.08 * ud[..., 2]))
        dz = np.broadcast_to(z[:, None], dx.shape)
        draw(canvas, chl, dx[present], dy[present], dr[present], dr[present],
             z_um=dz[present], profile="dome", amount=0.55, label=lab + "-daughter")


@generator("diatom")
def diatom(canvas: Canvas, ctx: Ctx) -> None:
    """Diatoms in their glass boxes. Params: shape pennate|centric, stria_um (spacing of the
    striae, the classic resolution test), plastids (golden-brown chloroplasts per cell).
    Parts: frustule (silica), plastid, raphe."""
    shape = str(ctx.p("shape"))
    pitch = float(ctx.p("stria_um"))
    npl = int(ctx.p("plastids"))
    x, y, u = _place(ctx, 12 + 2 * max(npl, 1))
    if x.size == 0:
        return
    n = x.size
    L = ctx.size(u[:, 3])
    th = 2 * np.pi * u[:, 5]
    z = ctx.z(u[:, 6])
    lab = ctx.pop.label
    fr = ctx.cls("frustule")
    amt = float(ctx.p("frustule_amount"))
    if shape == "pennate":
        W = L * (0.2 + 0.08 * u[:, 4])
        a, b = L / 2, W / 2
        if fr:
            draw(canvas, fr, x, y, a, b, th, z_um=z, profile="lens", amount=amt * 0.6,
                 label=lab)
            k = int(np.ceil(float(ctx.pop.size_um[1]) / pitch))
            t = (np.arange(k)[None, :] + 0.5) * pitch - L[:, None] / 2  # along the valve
            ok = np.abs(t) < L[:, None] / 2 * 0.92
            half_w = b[:, None] * np.sqrt(np.clip(1 - (2 * t / L[:, None]) ** 2, 0, 1)) * 0.8
            # the striae of both sides of the raphe in one draw
            sx, sy = _local(x[None, :, None], y[None, :, None], th[None, :, None], t[None],
                            np.array([-1.0, 1.0])[:, None, None] * (half_w[None] / 2 + 0.35))
            ok2 = np.broadcast_to(ok[None], sx.shape)
            draw(canvas, fr, sx[ok2], sy[ok2], pitch * 0.22,
                 np.tile(np.maximum(half_w[ok] / 2 - 0.3, 0.2), 2),
                 np.tile(np.broadcast_to(th[:, None], t.shape)[ok], 2),
                 z_um=np.tile(np.broadcast_to(z[:, None], t.shape)[ok], 2), rect=True,
                 amount=amt * 0.9)
            raphe = ctx.cls("raphe") or fr
            draw(canvas, raphe, x, y, 0.25, 0.25, th, z_um=z, half_len_um=a * 0.85,
                 profile="flat", amount=amt)
    else:
        W = L
        a = b = L / 2
        if fr:
            draw(canvas, fr, x, y, a, b, th, z_um=z, profile="lens", amount=amt * 0.6,
                 label=lab)
            k = int(np.clip(np.pi * float(ctx.pop.size_um[1]) / (2 * pitch), 8, 200))
            ang = th[:, None] + 2 * np.pi * np.arange(k)[None, :] / k
            rr = a[:, None] * 0.6
            sx, sy = x[:, None] + rr * np.cos(ang), y[:, None] + rr * np.sin(ang)
            draw(canvas, fr, sx.ravel(), sy.ravel(), np.repeat(a * 0.33, k),
                 np.repeat(np.minimum(np.pi * a * 0.5 / k, 0.5), k), ang.ravel(),
                 z_um=np.repeat(z, k), rect=True, amount=amt * 0.9)
            draw(canvas, fr, x, y, a, b, z_um=z, profile="rim", amount=amt * 0.6)
    pl = ctx.cls("plastid")
    if pl and npl:
        uu = u[:, 12:12 + 2 * npl].reshape(n, npl, 2)
        px, py = _inside(x, y, a * 0.6, b * 0.5, th, uu, 0.7)
        draw(canvas, pl, px.ravel(), py.ravel(), np.repeat(a * 0.3, npl),
             np.repeat(b * 0.45, npl), np.repeat(th, npl), z_um=np.repeat(z, npl),
             profile="dome", amount=0.7)

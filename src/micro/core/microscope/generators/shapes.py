"""`draw` for structures of any size: small and medium ones go to `raster.draw` (stamped
in vectorized buckets); structures much larger than the window (a pollen grain at 50 000×,
the eye bulge of a fly, a crystal needle at 100×) are evaluated only where they overlap
the window, so their cost follows the window, not the structure. There are at most a few
such giants per window."""

from __future__ import annotations

from typing import Any

import numpy as np

from micro.core.microscope import raster
from micro.core.microscope.raster import PROFILES, Canvas

GIANT_PX = 160.0
"""Structures whose reach exceeds this many pixels are clipped to the window."""


def draw(canvas: Canvas, cls: str, x_um: Any, y_um: Any, a_um: Any, b_um: Any,
         theta: Any = 0.0, *, z_um: Any = 0.0, amount: Any = 1.0, profile: str = "flat",
         half_len_um: Any = 0.0, retardance_nm: float | None = None,
         orient: str | None = None, axis: Any = 0.0, label: str | None = None,
         rect: bool = False) -> None:
    """Same contract as `raster.draw`."""
    n = np.size(x_um)
    if n == 0:
        return
    px = canvas.window.px_um
    args = [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in
            (x_um, y_um, a_um, b_um, theta, z_um, amount, half_len_um, axis)]
    x, y, a, b, th, z, amt, hl, ax = args
    reach = (np.hypot(a, b) if rect else np.maximum(a, b) + hl) / px
    giant = reach > GIANT_PX
    small = ~giant
    kw: dict[str, Any] = {"profile": profile, "retardance_nm": retardance_nm, "orient": orient,
          "label": label, "rect": rect}
    if small.any():
        raster.draw(canvas, cls, x[small], y[small], a[small], b[small], th[small],
                    z_um=z[small], amount=amt[small], half_len_um=hl[small], axis=ax[small],
                    **kw)
    for i in np.nonzero(giant)[0]:
        _giant(canvas, cls, x[i], y[i], a[i], b[i], th[i], z[i], amt[i], hl[i], ax[i], **kw)


def _giant(canvas: Canvas, cls: str, x: float, y: float, a: float, b: float, th: float,
           z: float, amt: float, hl: float, ax: float, *, profile: str,
           retardance_nm: float | None, orient: str | None, label: str | None,
           rect: bool) -> None:
    w = canvas.window
    px = w.px_um
    reach = (np.hypot(a, b) if rect else max(a, b) + hl) + 2 * px
    cx, cy = w.to_px(np.array([x]), np.array([y]))
    r = reach / px
    x0, x1 = max(0, int(cx[0] - r)), min(w.width, int(cx[0] + r) + 1)
    y0, y1 = max(0, int(cy[0] - r)), min(w.height, int(cy[0] + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    u = (np.arange(x0, x1) + 0.5 - cx[0])[None, :] * px
    v = (np.arange(y0, y1) + 0.5 - cy[0])[:, None] * px
    c, s = np.cos(th), np.sin(th)
    up, vp = u * c + v * s, -u * s + v * c
    if rect:
        val = (np.clip((a - np.abs(up)) / px + 0.5, 0, 1)
               * np.clip((b - np.abs(vp)) / px + 0.5, 0, 1))
    else:
        up = np.maximum(np.abs(up) - hl, 0.0)
        rho = np.sqrt((up / a) ** 2 + (vp / b) ** 2)
        edge = np.clip((1.0 - rho) * min(a, b) / px + 0.5, 0.0, 1.0)
        val = PROFILES[profile](np.minimum(rho, 1.0)) * edge
    val = val * amt
    layer = int(canvas.layer_of(np.array([z]))[0])
    rows, cols = slice(y0, y1), slice(x0, x1)
    canvas.add_box(layer, cls, rows, cols, val, label or None)
    props = canvas.structures[cls]
    ret = props.birefringence_retardance_nm if retardance_nm is None else retardance_nm
    if ret > 0:
        mode = orient or props.slow_axis
        if mode in ("radial", "tangential"):
            ang = np.arctan2(v, u) + (np.pi / 2 if mode == "tangential" else 0.0)
        else:
            ang = {"along": th, "across": th + np.pi / 2, "random": ax}.get(mode, 0.0)
            ang = np.broadcast_to(ang, val.shape)
        canvas.add_retardance_box(layer, rows, cols, val * ret * np.cos(2 * ang),
                                  val * ret * np.sin(2 * ang))

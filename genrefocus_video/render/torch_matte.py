"""The edge matte (render/matte.py) on the torch device, as dense per-pixel two-part maps.

Every pixel is written as two parts: a foreground part (layer coordinate `uf`, coverage `a`,
premultiplied RGBA `fg4`) and a background part (`ub`, 1 − a, `bg4`). An ordinary pixel has
a = 0, fg4 = 0 and bg4 = its RGBA at its own coordinate, so one formula builds every layer on the
device with no sparse scatter per layer and no host round trip: layer_i = fg4·tent(uf − i) +
bg4·tent(ub − i), known_i = a·clip(1 − (uf − i)) + (1 − a)·clip(1 − (ub − i)). For ordinary
pixels this is exactly the plain layer (the zero part adds exact zeros), and at split pixels it is
matte.EdgeMatte.layer_patch's formula — the analysis below mirrors matte.edge_matte step by step
(same neighbourhoods, float64 where it uses float64), so both backends split the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .matte import COL_R, COLOR_TAU2, DET_R, EDGE_JUMP, VAR_GAMMA


@dataclass
class DenseParts:
    """Two-part maps of a frame on the device (C×H×W / H×W tensors); `a` is None without a matte."""

    uf: Any
    ub: Any
    a: Any
    fg4: Any
    bg4: Any
    fg4c: Any  # the same parts from the highlight-capped frame
    bg4c: Any


def _pool_minmax(F, u, r: int):
    """3×3 (r = 1) max and min of u with replicated borders (= cv2.dilate / erode, BORDER_REPLICATE)."""
    up = F.pad(u[None, None], (r, r, r, r), mode="replicate")
    k = 2 * r + 1
    return F.max_pool2d(up, k, stride=1)[0, 0], -F.max_pool2d(-up, k, stride=1)[0, 0]


def dense_parts(torch, F, img, img_c, u, cap: float, matte: bool, dense: bool = False) -> DenseParts:
    """Two-part maps of the frame: img, img_c are 3×H×W (frame and capped frame), u H×W.

    The sparse route (default) analyses only the far-side edge pixels, found with one device→host
    size read per frame. `dense` analyses every pixel and keeps the split ones with masks: more
    arithmetic, but no read back, so a frame can be captured as a CUDA graph (render/torch_impl.py).
    """
    H, W = u.shape
    ones = torch.ones((1, H, W), dtype=img.dtype, device=img.device)
    bg4 = torch.cat([img, ones], 0)
    bg4c = torch.cat([img_c, ones], 0)
    parts = DenseParts(u, u, None, None, bg4, None, bg4c)
    if not matte:
        return parts
    umax, umin = _pool_minmax(F, u, DET_R)
    edge = (umax - umin) > EDGE_JUMP
    sel = edge & (u < 0.5 * (umax + umin))
    if dense:
        return _dense_split(torch, F, img, u, edge, sel, umax, umin, cap, bg4, bg4c)
    ys, xs = torch.nonzero(sel, as_tuple=True)  # one device→host size read per frame
    if ys.numel() == 0:
        return parts
    split = _analyse(torch, img, u, edge, umax, umin, ys, xs, cap)
    if split is None:
        return parts
    ys, xs, uf_v, a_v, fg4, bg4_v, fg4c, bg4c_v = split
    uf = u.clone()
    uf[ys, xs] = uf_v
    a = torch.zeros_like(u)
    a[ys, xs] = a_v
    fg = torch.zeros_like(bg4)
    fg[:, ys, xs] = fg4.t()
    fgc = torch.zeros_like(bg4)
    fgc[:, ys, xs] = fg4c.t()
    bg4 = bg4.clone()
    bg4[:, ys, xs] = bg4_v.t()
    bg4c = bg4c.clone()
    bg4c[:, ys, xs] = bg4c_v.t()
    return DenseParts(uf, u, a, fg, bg4, fgc, bg4c)


def _dense_split(torch, F, img, u, edge, sel, umax, umin, cap: float, bg4, bg4c) -> DenseParts:
    """dense_parts' matte with every pixel analysed (5×5 neighbourhoods by unfold, clamped borders)."""
    H, W = u.shape
    m = 2 * COL_R + 1

    def hood(x):  # C×H×W -> (H·W)×(m·m)×C, borders replicated (= the sparse route's clamped indices)
        xp = F.pad(x[None], (COL_R,) * 4, mode="replicate")
        return F.unfold(xp, m).view(x.shape[0], m * m, H * W).permute(2, 1, 0)

    un = hood(u[None])[..., 0]
    cn = hood(img)
    pure = hood((~edge)[None].to(u.dtype))[..., 0] > 0.5
    flat = img.reshape(3, -1).t()
    a, split, fg4, bg4_v, fg4c, bg4c_v = _colour_model(torch, flat, umax.reshape(-1), umin.reshape(-1), un, cn, pure,
                                                 flat.amax(1), cap)
    keep = (sel.reshape(-1) & split).view(1, H, W)
    a32 = torch.where(keep[0], a.view(H, W), torch.zeros_like(u))
    zero = torch.zeros_like(bg4)

    def put(vals, default):
        return torch.where(keep, vals.t().reshape(4, H, W), default)

    uf = torch.where(keep[0], umax, u)
    return DenseParts(uf, u, a32, put(fg4, zero), put(bg4_v, bg4), put(fg4c, zero), put(bg4c_v, bg4c))


def _analyse(torch, img, u, edge, umax, umin, ys, xs, cap: float):
    """matte.edge_matte's colour model at the far-side edge pixels (ys, xs); None if none is split."""
    H, W = u.shape
    off = torch.arange(-COL_R, COL_R + 1, device=u.device)
    m = off.numel()
    Y = torch.clamp(ys[:, None, None] + off[None, :, None], 0, H - 1).expand(-1, m, m).reshape(-1, m * m)
    X = torch.clamp(xs[:, None, None] + off[None, None, :], 0, W - 1).expand(-1, m, m).reshape(-1, m * m)
    C = img[:, ys, xs].t()
    a, keep, fg4, bg4, fg4c, bg4c = _colour_model(torch, C, umax[ys, xs], umin[ys, xs], u[Y, X],
                                            img[:, Y, X].permute(1, 2, 0), ~edge[Y, X], C.amax(1), cap)
    if not bool(keep.any()):
        return None
    return ys[keep], xs[keep], umax[ys, xs][keep], a[keep], fg4[keep], bg4[keep], fg4c[keep], bg4c[keep]


def _colour_model(torch, C32, hi, lo, un, cn, pure, peak, cap: float):
    """matte.edge_matte's two-colour model for N pixels: (α, split, fg4, bg4, fg4c, bg4c); split: α > 0 (float64).

    C32 N×3 pixel colours, hi/lo N the 3×3 layer max/min, un N×n and cn N×n×3 the 5×5
    neighbourhood's layer coordinates and colours, pure N×n its not-an-edge flags, peak N the
    pixel's brightest channel (highlight cap). float64 where matte.py uses float64.
    """
    f64 = torch.float64
    cn = cn.contiguous()  # one layout for both routes: the same sums in the same order
    mid = 0.5 * (hi + lo)
    fgm = un >= mid[:, None]

    def side_stats(m):
        mp = m & pure
        use = torch.where(mp.any(1, keepdim=True), mp, m).to(torch.float32)
        cnt = torch.clamp(use.sum(1), min=1.0)[:, None]
        w = use[..., None]  # plain products and sums (no batched matmul over millions of pixels)
        mean = (cn * w).sum(1) / cnt
        var = ((cn - mean[:, None]) ** 2 * w).sum((1, 2)) / cnt[:, 0]
        return mean.to(f64), var.to(f64)

    (Fm, vF), (Bm, vB) = side_stats(fgm), side_stats(~fgm)
    C = C32.to(f64)
    d = Fm - Bm
    dd = (d * d).sum(1)
    a_col = torch.clamp(((C - Bm) * d).sum(1) / torch.clamp(dd, min=1e-12), 0.0, 1.0)
    res2 = ((C - (a_col[:, None] * Fm + (1.0 - a_col)[:, None] * Bm)) ** 2).sum(1)
    gate = torch.clamp(1.0 - VAR_GAMMA * (vF + vB + res2) / torch.clamp(dd, min=1e-12), 0.0, 1.0)
    conf = dd / (dd + COLOR_TAU2) * gate
    a = torch.clamp(conf * a_col, max=0.5)
    res = C - (a[:, None] * Fm + (1.0 - a)[:, None] * Bm)
    pf = torch.clamp(a[:, None] * (Fm + res), min=0.0).to(torch.float32)
    pb = torch.clamp((1.0 - a)[:, None] * (Bm + res), min=0.0).to(torch.float32)
    a32 = a.to(torch.float32)
    fg4 = torch.cat([pf, a32[:, None]], 1)
    bg4 = torch.cat([pb, (1.0 - a).to(torch.float32)[:, None]], 1)
    f = (cap / torch.clamp(peak, min=cap))[:, None]
    fg4c = torch.cat([pf * f, a32[:, None]], 1)
    bg4c = torch.cat([pb * f, (1.0 - a).to(torch.float32)[:, None]], 1)
    return a32, a > 0.0, fg4, bg4, fg4c, bg4c

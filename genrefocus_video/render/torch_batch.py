"""Layer groups of the torch renderer, and everything about them that depends only on the plan.

The layers of a RenderPlan differ in region, working scale and kernel size. Layers with the same
working scale s (and fill route) are stacked into one canvas per group and rendered by one launch
per step (render/torch_ops.py); a group is closed when padding its members to one canvas and one
kernel size would cost more than BATCH_WASTE × their own work. All index maps (gathers, borders),
masks, zone weights and kernels are built here once per plan (on the device, by broadcasting
small per-layer size vectors: no frame-sized host array is made or uploaded) and cached by the
plan's signature, so a clip whose layers keep their place reuses them frame after frame — and a
CUDA graph captured for it (render/torch_impl.py) stays valid.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from .cpu import FILL_SCALE
from .plan import RenderPlan, zone_weights_1d
from .torch_ops import Pyramid

BATCH_WASTE = 3.0  # a group may cost up to this × its members' own work (padding to one canvas/kernel)
BATCH_WASTE_CUDA = 8.0  # on a GPU idle lanes are cheap and launches are not: bigger groups
TAP_OVERHEAD = 40  # per-pixel work of a layer besides its convolution taps (planes, fill, composite)
CACHE_SIZE = 4  # prepared plans kept per process (one per distinct layer layout)


@dataclass
class Member:
    """One layer inside a group: where it comes from and where its pixels go."""

    index: int
    roi: tuple[int, int, int, int]
    h: int  # roi size at full resolution
    w: int
    hs: int  # at the working scale
    ws: int
    ksize: int


@dataclass
class Group:
    """Layers rendered together: shared scale, canvas and kernel size; per-layer device tensors."""

    members: list
    s: int
    f: int  # fill pyramid factor at the working scale (1: fill at the working scale)
    canvas: tuple[int, int]  # working-scale canvas (Hs, Ws)
    frame_index: Any = None  # B×(Hs·s·Ws·s) flat index of each layer's pixels in the frame (clamped)
    layer_index: Any = None  # B×1×1×1 float: layer number (tent centre)
    fill_extend: Any = None  # clamp index to the f-multiple canvas (f > 1 route)
    fill_canvas: tuple[int, int] = (0, 0)
    pyramid: Optional[Pyramid] = None
    est_extend: Any = None  # clamp index of the f-level estimate before its ×f upsampling
    border: Any = None  # reflect-101 index to the padded canvas
    padded: tuple[int, int] = (0, 0)
    weights: Optional[list] = None  # per zone: (4B)×1×K×K
    zone_weights: Optional[list] = None  # per zone: B×1×(Hs+2p)×(Ws+2p)
    up_extend: Any = None  # clamp index before the ×s upsampling


@dataclass
class Prepared:
    """A plan made ready for the device: its groups, and each plan layer's (group, slot)."""

    groups: list
    order: list  # in plan order: (group number, slot, roi)
    shape: tuple[int, int]
    signature: tuple
    uses: int = 0  # frames rendered with it (render/torch_impl.py captures a CUDA graph from the 2nd on)


def _ksize(L) -> int:
    """The side of the square that holds all of a layer's kernels (anamorphic ones are not square)."""
    return max(max(k.shape) for _, ks in L.kernels for k in ks)


def _cost(h: int, w: int, k: int) -> float:
    return float(h) * w * (k * k + TAP_OVERHEAD)


def _fill_factor(hs: int, ws: int, s: int) -> int:
    f = max(1, FILL_SCALE // s)
    return f if f > 1 and min(hs, ws) >= 2 * f else 1


def group_layers(plan: RenderPlan, waste: float = BATCH_WASTE) -> list[list[Member]]:
    """Members of each group: same scale and fill route, greedily packed while a group's padded cost
    stays under `waste` × its members' own cost (largest kernels first)."""
    by_key: dict = {}
    for L in plan.layers:
        y0, y1, x0, x1 = L.roi
        h, w, s = y1 - y0, x1 - x0, L.scale
        m = Member(L.index, L.roi, h, w, -(-h // s), -(-w // s), _ksize(L))
        by_key.setdefault((s, _fill_factor(m.hs, m.ws, s)), []).append(m)
    groups = []
    for members in by_key.values():
        members.sort(key=lambda m: (m.ksize, m.hs * m.ws), reverse=True)
        cur: list = []
        for m in members:
            trial = cur + [m]
            padded = len(trial) * _cost(max(t.hs for t in trial), max(t.ws for t in trial), trial[0].ksize)
            if cur and padded > waste * sum(_cost(t.hs, t.ws, t.ksize) for t in trial):
                groups.append(cur)
                trial = [m]
            cur = trial
        groups.append(cur)
    return groups


def _sizes(valid: list, axis: int, dev):
    return torch.tensor([v[axis] for v in valid], dtype=torch.int64, device=dev)[:, None]


def _flat(rows, cols, src_w: int):
    """B×(H·W) flat index from per-layer row (B×H) and column (B×W) indices into a src of width src_w."""
    return (rows[:, :, None] * src_w + cols[:, None, :]).reshape(rows.shape[0], -1)


def clamp_index(valid: list[tuple[int, int]], out: tuple[int, int], src: tuple[int, int], dev=None):
    """B×(H·W) flat index into a src canvas: each layer's last row/column repeated beyond `valid`.

    Built on the device by broadcasting (no frame-sized host array, no upload).
    """
    rows = torch.minimum(torch.arange(out[0], device=dev)[None], _sizes(valid, 0, dev) - 1)
    cols = torch.minimum(torch.arange(out[1], device=dev)[None], _sizes(valid, 1, dev) - 1)
    return _flat(rows, cols, src[1])


def reflect_index(n, pad: int, length: int, dev=None):
    """Per layer (n: B×1 sizes), indices of a reflect-101 border (OpenCV BORDER_REFLECT_101) of any pad,
    continued to `length` by repeating its last entry: B×length."""
    i = torch.minimum(torch.arange(length, device=dev)[None] - pad, n + pad - 1)
    period = torch.clamp(2 * n - 2, min=1)
    p = i.abs() % period
    idx = torch.where(p < n, p, period - p)
    return torch.where(n == 1, torch.zeros_like(idx), idx)


def border_index(valid: list[tuple[int, int]], pad: int, canvas: tuple[int, int], dev=None):
    """B×((H+2p)·(W+2p)) flat index of each layer's own reflect-101 border around a canvas."""
    H, W = canvas
    rows = reflect_index(_sizes(valid, 0, dev), pad, H + 2 * pad, dev)
    cols = reflect_index(_sizes(valid, 1, dev), pad, W + 2 * pad, dev)
    return _flat(rows, cols, W)


def inside_mask(valid: list[tuple[int, int]], canvas: tuple[int, int], dev=None):
    """B×1×H×W float: 1 inside each layer's top-left h_b×w_b, 0 beyond."""
    ry = torch.arange(canvas[0], device=dev)[None] < _sizes(valid, 0, dev)
    cx = torch.arange(canvas[1], device=dev)[None] < _sizes(valid, 1, dev)
    return (ry[:, :, None] & cx[:, None, :]).to(torch.float32)[:, None]


def _levels(h: int, w: int) -> int:
    n = 0
    while h > 1 or w > 1:
        h, w, n = -(-h // 2), -(-w // 2), n + 1
    return n


def _is_identity(valid: list[tuple[int, int]], shape: tuple[int, int]) -> bool:
    return all(v == shape for v in valid)


def _flags(values, dev):
    return torch.tensor(values, dtype=torch.bool, device=dev).reshape(-1, 1, 1, 1)


def pyramid(valid: list[tuple[int, int]], canvas: tuple[int, int], dev=None) -> Pyramid:
    """The pull-push facts of layers of sizes `valid` stacked in `canvas` (see torch_ops.pull_push_fill)."""
    H, W = canvas
    n = _levels(H, W)
    shapes, extend, is_top = [], [], []
    tops = [_levels(h, w) - 1 for h, w in valid]
    for lv in range(n):
        H, W = -(-H // 2), -(-W // 2)
        vl = [(-(-h // 2 ** (lv + 1)), -(-w // 2 ** (lv + 1))) for h, w in valid]
        shapes.append((H, W))
        extend.append(None if _is_identity(vl, (H, W)) else clamp_index(vl, (H, W), (H, W), dev))
        is_top.append(_flags([lv >= t for t in tops], dev))
    return Pyramid(n, shapes, extend, is_top, _flags([t < 0 for t in tops], dev), inside_mask(valid, canvas, dev))


def _zone_maps(plan: RenderPlan, members, s: int, canvas, frame_box, border, padded, dev) -> Optional[list]:
    """Per cat's-eye zone, each layer's weight map at its working scale, reflect-padded like the layer."""
    if plan.zones is None:
        return None
    y_off, x_off, full_h, full_w = frame_box
    ny, nx = plan.zones
    wy = np.zeros((len(members), ny, canvas[0]), np.float32)
    wx = np.zeros((len(members), nx, canvas[1]), np.float32)
    for b, m in enumerate(members):  # 1-D tent weights per layer (small), outer products on the device
        wy[b, :, : m.hs] = zone_weights_1d(y_off + m.roi[0] + (np.arange(m.hs) + 0.5) * s - 0.5, ny, full_h)
        wx[b, :, : m.ws] = zone_weights_1d(x_off + m.roi[2] + (np.arange(m.ws) + 0.5) * s - 0.5, nx, full_w)
    ty, tx = torch.from_numpy(wy).to(dev), torch.from_numpy(wx).to(dev)
    out = []
    for z in range(ny * nx):
        maps = (ty[:, z // nx, :, None] * tx[:, z % nx, None, :]).reshape(len(members), -1)
        out.append(maps.gather(1, border).view(len(members), 1, *padded))
    return out


def _weights(plan: RenderPlan, members, K: int, dev) -> list:
    """Per zone, the members' 4 correlation kernels each zero-padded (centred) to K×K."""
    layers = {L.index: L for L in plan.layers}
    n_z = len(layers[members[0].index].kernels)
    out = []
    for z in range(n_z):
        wt = np.zeros((4 * len(members), 1, K, K), np.float32)
        for b, m in enumerate(members):
            for c, k in enumerate(layers[m.index].kernels[z][1]):
                oy, ox = (K - k.shape[0]) // 2, (K - k.shape[1]) // 2
                wt[4 * b + c, 0, oy: oy + k.shape[0], ox: ox + k.shape[1]] = k
        out.append(torch.from_numpy(wt).to(dev))
    return out


def prepare_group(plan: RenderPlan, members: list, shape, frame_box, dev) -> Group:
    """One group's index maps, masks, kernels and zone weights, built on device `dev`."""
    H, W = shape
    s = next(L.scale for L in plan.layers if L.index == members[0].index)
    valid = [(m.hs, m.ws) for m in members]
    Hs, Ws = max(v[0] for v in valid), max(v[1] for v in valid)
    f = _fill_factor(*valid[0], s)
    g = Group(members, s, f, (Hs, Ws))
    origin = torch.tensor([m.roi[0] * W + m.roi[2] for m in members], dtype=torch.int64, device=dev)[:, None]
    g.frame_index = clamp_index([(m.h, m.w) for m in members], (Hs * s, Ws * s), (H, W), dev) + origin
    g.layer_index = torch.tensor([float(m.index) for m in members], device=dev).reshape(-1, 1, 1, 1)
    if f > 1:
        Hf, Wf = -(-Hs // f), -(-Ws // f)
        vf = [(-(-h // f), -(-w // f)) for h, w in valid]
        g.fill_canvas = (Hf, Wf)
        g.fill_extend = clamp_index(valid, (Hf * f, Wf * f), (Hs, Ws), dev)
        g.pyramid = pyramid(vf, (Hf, Wf), dev)
        g.est_extend = None if _is_identity(vf, (Hf, Wf)) else clamp_index(vf, (Hf, Wf), (Hf, Wf), dev)
    else:
        g.pyramid = pyramid(valid, (Hs, Ws), dev)
    K = max(m.ksize for m in members)
    g.padded = (Hs + 2 * (K // 2), Ws + 2 * (K // 2))
    g.border = border_index(valid, K // 2, (Hs, Ws), dev)
    g.weights = _weights(plan, members, K, dev)
    g.zone_weights = _zone_maps(plan, members, s, (Hs, Ws), frame_box, g.border, g.padded, dev)
    if s > 1 and not _is_identity(valid, (Hs, Ws)):
        g.up_extend = clamp_index(valid, (Hs, Ws), (Hs, Ws), dev)
    return g


def signature(plan: RenderPlan, shape, frame_box) -> tuple:
    """Everything the prepared tensors depend on: layer places, scales, kernels, zones, frame box."""
    digest = hashlib.blake2b(digest_size=16)
    for L in plan.layers:
        for _, ks in L.kernels:
            for k in ks:
                digest.update(np.ascontiguousarray(k, np.float32).tobytes())
                digest.update(str(k.shape).encode())
    layers = tuple((L.index, L.scale, L.roi) for L in plan.layers)
    return (tuple(shape), tuple(frame_box), plan.zones, plan.n, layers, digest.hexdigest())


_CACHE: "OrderedDict[tuple, Prepared]" = OrderedDict()


def prepare(plan: RenderPlan, shape: tuple[int, int], frame_box, device) -> Prepared:
    """The plan's groups on `device`, from the cache when a plan with the same signature was seen."""
    key = (str(device),) + signature(plan, shape, frame_box)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        hit.uses += 1
        return hit

    waste = BATCH_WASTE_CUDA if torch.device(device).type == "cuda" else BATCH_WASTE
    groups = [prepare_group(plan, members, shape, frame_box, device) for members in group_layers(plan, waste)]
    slot = {m.index: (gi, b) for gi, g in enumerate(groups) for b, m in enumerate(g.members)}
    order = [slot[L.index] + (L.roi,) for L in plan.layers]
    prep = Prepared(groups, order, tuple(shape), key, uses=1)
    _CACHE[key] = prep
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return prep

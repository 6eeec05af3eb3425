"""Layer groups of the torch renderer, and everything about them that depends only on the plan.

The layers of a RenderPlan differ in region, working scale and kernel size. Layers with the same
working scale s (and fill route) are stacked into one canvas per group and rendered by one launch
per step (render/torch_ops.py); a group is closed when padding its members to one canvas and one
kernel size would cost more than BATCH_WASTE × their own work. All index maps (gathers, borders),
masks, zone weights and kernels are built here once per plan (numpy, then one upload each) and
cached by the plan's signature, so a clip whose layers keep their place reuses them frame after
frame — and a CUDA graph captured for it (render/torch_impl.py) stays valid.
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

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
    weights: list = None  # per zone: (4B)×1×K×K
    zone_weights: Optional[list] = None  # per zone: B×1×(Hs+2p)×(Ws+2p)
    up_extend: Any = None  # clamp index before the ×s upsampling


@dataclass
class Prepared:
    """A plan made ready for the device: its groups, and each plan layer's (group, slot)."""

    groups: list
    order: list  # in plan order: (group number, slot, roi)
    shape: tuple[int, int]
    signature: tuple


def _ksize(L) -> int:
    return max(k.shape[0] for _, ks in L.kernels for k in ks)


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


def clamp_index(valid: list[tuple[int, int]], out: tuple[int, int], src: tuple[int, int]) -> np.ndarray:
    """B×(H·W) flat index into a src canvas: each layer's last row/column repeated beyond `valid`."""
    rows = np.stack([np.minimum(np.arange(out[0]), h - 1) for h, _ in valid])
    cols = np.stack([np.minimum(np.arange(out[1]), w - 1) for _, w in valid])
    return (rows[:, :, None] * src[1] + cols[:, None, :]).reshape(len(valid), -1)


def reflect_index(n: int, pad: int, length: int) -> np.ndarray:
    """Indices of a reflect-101 border (OpenCV BORDER_REFLECT_101) of n samples, any pad, padded to `length`."""
    if n == 1:
        idx = np.zeros(n + 2 * pad, np.int64)
    else:
        period = 2 * n - 2
        p = np.abs(np.arange(-pad, n + pad)) % period
        idx = np.where(p < n, p, period - p)
    return np.pad(idx, (0, length - idx.size), mode="edge")


def _levels(h: int, w: int) -> int:
    n = 0
    while h > 1 or w > 1:
        h, w, n = -(-h // 2), -(-w // 2), n + 1
    return n


def _is_identity(valid: list[tuple[int, int]], shape: tuple[int, int]) -> bool:
    return all(v == shape for v in valid)


def pyramid(valid: list[tuple[int, int]], canvas: tuple[int, int], up) -> Pyramid:
    """The pull-push facts of layers of sizes `valid` stacked in `canvas` (see torch_ops.pull_push_fill)."""
    H, W = canvas
    n = _levels(H, W)
    shapes, extend, is_top = [], [], []
    tops = [_levels(h, w) - 1 for h, w in valid]
    for lv in range(n):
        H, W = -(-H // 2), -(-W // 2)
        vl = [(max(1, -(-h // 2 ** (lv + 1))), max(1, -(-w // 2 ** (lv + 1)))) for h, w in valid]
        shapes.append((H, W))
        extend.append(None if _is_identity(vl, (H, W)) else up(clamp_index(vl, (H, W), (H, W))))
        is_top.append(up(np.array([lv >= t for t in tops]).reshape(-1, 1, 1, 1)))
    mask = np.zeros((len(valid), 1) + canvas, np.float32)
    for b, (h, w) in enumerate(valid):
        mask[b, :, :h, :w] = 1.0
    return Pyramid(n, shapes, extend, is_top, up(np.array([t < 0 for t in tops]).reshape(-1, 1, 1, 1)), up(mask))


def _zone_maps(plan: RenderPlan, members, s: int, canvas, frame_box, border, padded, up) -> Optional[list]:
    """Per cat's-eye zone, each layer's weight map at its working scale, reflect-padded like the layer."""
    if plan.zones is None:
        return None
    y_off, x_off, full_h, full_w = frame_box
    ny, nx = plan.zones
    maps = np.zeros((ny * nx, len(members), 1) + canvas, np.float32)
    for b, m in enumerate(members):
        wy = zone_weights_1d(y_off + m.roi[0] + (np.arange(m.hs) + 0.5) * s - 0.5, ny, full_h)
        wx = zone_weights_1d(x_off + m.roi[2] + (np.arange(m.ws) + 0.5) * s - 0.5, nx, full_w)
        for z in range(ny * nx):
            maps[z, b, 0, : m.hs, : m.ws] = np.outer(wy[z // nx], wx[z % nx])
    flat = maps.reshape(ny * nx, len(members), -1)
    out = np.take_along_axis(flat, border[None], axis=2).reshape((ny * nx, len(members), 1) + padded)
    return [up(out[z]) for z in range(ny * nx)]


def _weights(plan: RenderPlan, members, K: int, up) -> list:
    """Per zone, the members' 4 correlation kernels each zero-padded (centred) to K×K."""
    layers = {L.index: L for L in plan.layers}
    n_z = len(layers[members[0].index].kernels)
    out = []
    for z in range(n_z):
        wt = np.zeros((4 * len(members), 1, K, K), np.float32)
        for b, m in enumerate(members):
            for c, k in enumerate(layers[m.index].kernels[z][1]):
                o = (K - k.shape[0]) // 2
                wt[4 * b + c, 0, o: o + k.shape[0], o: o + k.shape[1]] = k
        out.append(up(wt))
    return out


def prepare_group(plan: RenderPlan, members: list, shape, frame_box, up) -> Group:
    """One group's index maps, masks, kernels and zone weights, uploaded with `up`."""
    H, W = shape
    s = next(L.scale for L in plan.layers if L.index == members[0].index)
    valid = [(m.hs, m.ws) for m in members]
    Hs, Ws = max(v[0] for v in valid), max(v[1] for v in valid)
    f = _fill_factor(*valid[0], s)
    g = Group(members, s, f, (Hs, Ws))
    full = [(m.h, m.w) for m in members]
    idx = clamp_index(full, (Hs * s, Ws * s), (H, W))
    idx += np.array([m.roi[0] * W + m.roi[2] for m in members])[:, None]
    g.frame_index = up(idx)
    g.layer_index = up(np.array([m.index for m in members], np.float32).reshape(-1, 1, 1, 1))
    if f > 1:
        Hf, Wf = -(-Hs // f), -(-Ws // f)
        vf = [(-(-h // f), -(-w // f)) for h, w in valid]
        g.fill_canvas = (Hf, Wf)
        g.fill_extend = up(clamp_index(valid, (Hf * f, Wf * f), (Hs, Ws)))
        g.pyramid = pyramid(vf, (Hf, Wf), up)
        g.est_extend = None if _is_identity(vf, (Hf, Wf)) else up(clamp_index(vf, (Hf, Wf), (Hf, Wf)))
    else:
        g.pyramid = pyramid(valid, (Hs, Ws), up)
    K = max(m.ksize for m in members)
    p = K // 2
    g.padded = (Hs + 2 * p, Ws + 2 * p)
    rows = np.stack([reflect_index(h, p, Hs + 2 * p) for h, _ in valid])
    cols = np.stack([reflect_index(w, p, Ws + 2 * p) for _, w in valid])
    border = (rows[:, :, None] * Ws + cols[:, None, :]).reshape(len(members), -1)
    g.border = up(border)
    g.weights = _weights(plan, members, K, up)
    g.zone_weights = _zone_maps(plan, members, s, (Hs, Ws), frame_box, border, g.padded, up)
    if s > 1 and not _is_identity(valid, (Hs, Ws)):
        g.up_extend = up(clamp_index(valid, (Hs, Ws), (Hs, Ws)))
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
    import torch

    key = (str(device),) + signature(plan, shape, frame_box)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit

    def up(a: np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device, dtype=torch.int64 if a.dtype.kind in "iu" else None)

    waste = BATCH_WASTE_CUDA if torch.device(device).type == "cuda" else BATCH_WASTE
    groups = [prepare_group(plan, members, shape, frame_box, up) for members in group_layers(plan, waste)]
    slot = {m.index: (gi, b) for gi, g in enumerate(groups) for b, m in enumerate(g.members)}
    order = [slot[L.index] + (L.roi,) for L in plan.layers]
    prep = Prepared(groups, order, tuple(shape), key)
    _CACHE[key] = prep
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return prep

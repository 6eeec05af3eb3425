"""The layered bokeh renderer in torch: the algorithm of render/cpu.py, batched for a GPU.

Every step mirrors the numpy/OpenCV path (integer block means, zero-padded 2×2 pull-push
pyramids, half-pixel bilinear upsampling, reflect-101 borders, correlation with the same
kernels), so both agree to float rounding (tests/test_render_backends.py,
tests/test_render_torch_batched.py). What differs is how the work is launched:

* layers are stacked in groups (render/torch_batch.py) and each step runs once per group on a
  B×C×H×W canvas (render/torch_ops.py) instead of once per layer;
* everything that depends only on the plan (index maps, masks, kernels, zone weights) is built
  once per plan layout and cached; nothing inside a frame reads a device value back;
* on CUDA the whole frame can be captured as a CUDA graph per plan layout and replayed
  (`graphs=True`: the job's ``render.cuda_graphs``, via render.options): one launch per frame. Capture needs a frame
  without host syncs, so the edge matte then takes its dense route (torch_matte.dense_parts).
  A layout is captured on its second frame (GRAPH_AFTER): when the layout changes every frame
  (a moving depth range changes the extreme layers' kernels) frames stay eager instead of paying
  a capture each.
"""
from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np

from .cpu import FILL_CAP
from .plan import RenderPlan, layer_coord
from .torch_batch import Group, Prepared, prepare
from .torch_matte import dense_parts

log = logging.getLogger(__name__)

GRAPH_CACHE_SIZE = 2  # captured CUDA graphs kept (each holds its own frame-sized buffers)
GRAPH_AFTER = 2  # a plan layout is captured on its 2nd frame: a layout seen once renders eagerly


def cap_frame(img, cap: float = FILL_CAP):
    """Each pixel scaled so its brightest channel is <= cap (= cpu.cap_highlights), img 3×H×W."""
    import torch

    peak = img.amax(0)
    return img * torch.clamp(cap / torch.clamp(peak, min=1e-12), max=1.0)[None]


def _frame_maps(parts, matte: bool):
    """The per-pixel maps the layers read, as one C×(H·W) tensor (one gather per group reads them all)."""
    import torch

    if not matte or parts.a is None:
        maps = [parts.ub[None], parts.bg4, parts.bg4c]
    else:
        maps = [parts.ub[None], parts.uf[None], parts.a[None], parts.fg4, parts.bg4, parts.fg4c, parts.bg4c]
    m = torch.cat(maps, 0)
    return m.view(m.shape[0], -1)


def _planes(X, index):
    """(layer, known, capped) of a group from its gathered maps X (B×C×h×w; see _frame_maps)."""
    import torch

    db = X[:, 0:1] - index
    wb = torch.clamp(1.0 - db.abs(), min=0.0)  # tent weight of this layer
    kb = torch.clamp(1.0 - db, 0.0, 1.0)  # fraction at or behind this layer
    if X.shape[1] == 9:
        return X[:, 1:5] * wb, kb, X[:, 5:9] * wb
    df = X[:, 1:2] - index
    wf = torch.clamp(1.0 - df.abs(), min=0.0)
    kf = torch.clamp(1.0 - df, 0.0, 1.0)
    a = X[:, 2:3]
    known = a * kf + (1.0 - a) * kb
    return X[:, 3:7] * wf + X[:, 7:11] * wb, known, X[:, 11:15] * wf + X[:, 15:19] * wb


def _render_group(g: Group, maps):
    """One group's layers: planes, working scale, fill behind occluders, blur, back to full resolution."""
    import torch

    from . import torch_ops as ops

    B, s = len(g.members), g.s
    Hs, Ws = g.canvas
    C = maps.shape[0]
    X = maps.index_select(1, g.frame_index.view(-1)).view(C, B, Hs * s, Ws * s).transpose(0, 1)
    layer, known, capped = _planes(X, g.layer_index)
    if s > 1:
        Y = ops.block_mean(torch.cat([layer, known, capped], 1), s)
        layer, known, capped = Y[:, 0:4], Y[:, 4:5], Y[:, 5:9]
    if g.f > 1:
        Hf, Wf = g.fill_canvas
        Z = ops.block_mean(ops.gather(torch.cat([capped, known], 1), g.fill_extend, (Hf * g.f, Wf * g.f)), g.f)
        n_s, k_s = Z[:, 0:4], Z[:, 4:5]
        est = n_s + (1.0 - k_s) * ops.pull_push_fill(n_s, k_s, g.pyramid)
        up = ops.upscale(ops.gather(est, g.est_extend, (Hf, Wf)), g.f, (Hs, Ws))
    else:
        up = ops.pull_push_fill(capped, known, g.pyramid)
    layer = layer + (1.0 - known) * up
    blurred = ops.correlate(layer, g.border, g.weights, g.padded, g.zone_weights)
    if s > 1:
        blurred = ops.upscale(ops.gather(blurred, g.up_extend, (Hs, Ws)), s, (Hs * s, Ws * s))
    return blurred


def render_frame(prep: Prepared, I, u, matte: bool, dense_matte: bool = False):
    """The rendered frame (3×H×W on the device) of frame I (3×H×W) with layer coordinates u (H×W).

    Launches device work only: no value is read back, so on CUDA it can be captured as a graph
    (with `dense_matte`, the matte's only size-dependent step is gone too).
    """
    import torch
    import torch.nn.functional as F

    H, W = prep.shape
    parts = dense_parts(torch, F, I, cap_frame(I), u, FILL_CAP, matte, dense=dense_matte)
    maps = _frame_maps(parts, matte)
    blurred = [_render_group(g, maps) for g in prep.groups]
    out = torch.zeros((4, H, W), dtype=torch.float32, device=I.device)  # premultiplied RGB + alpha
    for gi, b, (y0, y1, x0, x1) in prep.order:
        bl = blurred[gi][b, :, : y1 - y0, : x1 - x0]
        o = out[:, y0:y1, x0:x1]
        o.mul_(1.0 - bl[3:4]).add_(bl)
    acc = out[3]
    ok = acc > 1e-4
    return torch.where(ok[None], out[:3] / torch.where(ok, acc, torch.ones_like(acc))[None], I)


def graphs_enabled(device: str, graphs: bool) -> bool:
    """CUDA graphs: asked for (render.cuda_graphs) and on a CUDA device only."""
    return bool(graphs) and str(device).startswith("cuda")


class _Captured:
    """A frame render captured as a CUDA graph for one plan layout: static inputs, one replay."""

    def __init__(self, prep: Prepared, matte: bool, device) -> None:
        import torch

        H, W = prep.shape
        self.I = torch.zeros((3, H, W), dtype=torch.float32, device=device)
        self.u = torch.zeros((H, W), dtype=torch.float32, device=device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up outside the graph (allocator, cuDNN algorithm choice)
                render_frame(prep, self.I, self.u, matte, dense_matte=True)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = render_frame(prep, self.I, self.u, matte, dense_matte=True)

    def __call__(self, I, u):
        self.I.copy_(I, non_blocking=True)
        self.u.copy_(u, non_blocking=True)
        self.graph.replay()
        return self.out


_GRAPHS: "OrderedDict[tuple, _Captured]" = OrderedDict()
_GRAPH_FAILED: set = set()  # plan signatures whose capture failed (rendered eagerly from then on)


def _captured(prep: Prepared, matte: bool, device) -> _Captured:
    key = prep.signature + (matte,)
    g = _GRAPHS.get(key)
    if g is None:
        g = _GRAPHS[key] = _Captured(prep, matte, device)
        while len(_GRAPHS) > GRAPH_CACHE_SIZE:
            _GRAPHS.popitem(last=False)
    else:
        _GRAPHS.move_to_end(key)
    return g


def render_torch(img: np.ndarray, r: np.ndarray, plan: RenderPlan, frame_box: tuple[int, int, int, int],
                 device: str = "cpu", graphs: bool = False) -> np.ndarray:
    """Render following `plan` with torch on `device`; returns float32 H×W×3 (numpy).

    The frame and the layer coordinates are uploaded once, the result fetched once. With CUDA
    graphs (see graphs_enabled) a plan layout seen before (GRAPH_AFTER frames) is replayed
    instead of launched.
    """
    import torch

    dev = torch.device(device)
    H, W = r.shape
    prep = prepare(plan, (H, W), frame_box, dev)
    u_np = layer_coord(r, plan)
    with torch.no_grad():
        # uploaded as stored (H×W×3) and viewed as 3×H×W on the device: no host-side transpose copy
        I = torch.from_numpy(np.ascontiguousarray(img)).to(dev, non_blocking=True).permute(2, 0, 1)
        u = torch.from_numpy(np.ascontiguousarray(u_np)).to(dev, non_blocking=True)
        res = None
        if graphs_enabled(device, graphs) and prep.uses >= GRAPH_AFTER and prep.signature not in _GRAPH_FAILED:
            try:
                res = _captured(prep, plan.edge_matte, dev)(I, u)
            except RuntimeError as exc:  # a capture the driver refuses: this layout renders eagerly
                _GRAPH_FAILED.add(prep.signature)
                log.warning("CUDA graph capture failed (%s); rendering without graphs", exc)
        if res is None:
            res = render_frame(prep, I, u, plan.edge_matte)
        return res.permute(1, 2, 0).contiguous().cpu().numpy().astype(np.float32, copy=False)

"""The layered bokeh renderer in torch: the same algorithm as render/cpu.py, on CUDA or the CPU.

Every step mirrors the numpy/OpenCV path (integer block means, zero-padded 2×2 pull-push
pyramids, half-pixel bilinear upsampling, reflect-101 borders, correlation with the same
kernels), so both agree to float rounding; tests run this module on the CPU against the numpy
path and benchmarks/render_cuda_check.py compares it on a GPU. The layer plan (which layers,
regions, kernels) is computed once in numpy and shared.
"""
from __future__ import annotations

import numpy as np

from .cpu import FILL_CAP, FILL_SCALE
from .plan import RenderPlan, layer_coord, zone_maps
from .torch_matte import DenseParts, dense_parts


def _reflect_index(n: int, pad: int) -> np.ndarray:
    """Indices of a reflect-101 border (OpenCV BORDER_REFLECT_101), valid for any pad size."""
    if n == 1:
        return np.zeros(n + 2 * pad, np.int64)
    period = 2 * n - 2
    p = np.abs(np.arange(-pad, n + pad)) % period
    return np.where(p < n, p, period - p).astype(np.int64)


class _Ops:
    def __init__(self, device: str) -> None:
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        self.dev = torch.device(device)
        self._kcache: dict = {}

    def sum2x2(self, x):
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            x = self.F.pad(x, (0, w % 2, 0, h % 2))
        return self.F.avg_pool2d(x[None], 2)[0] * 4.0

    def up2(self, x, shape):
        up = self.F.interpolate(x[None], scale_factor=2, mode="bilinear", align_corners=False)[0]
        return up[..., : shape[0], : shape[1]]

    def cap_frame(self, img, cap=FILL_CAP):
        """Each pixel scaled so its brightest channel is <= cap (= cpu.cap_highlights), img 3×H×W."""
        peak = img.amax(0)
        f = self.torch.clamp(cap / self.torch.clamp(peak, min=1e-12), max=1.0)
        return img * f[None]

    def pull_push_fill(self, num, known):
        torch = self.torch
        levels = []
        n, k = num, known[None]
        while k.shape[-2] > 1 or k.shape[-1] > 1:
            ns, ks = self.sum2x2(n), self.sum2x2(k)
            v = torch.where(ks > 0, ns / torch.clamp(ks, min=1e-12), torch.zeros_like(ns))
            c = torch.clamp(ks, max=1.0)
            levels.append((v, c))
            n, k = v * c, c
        if not levels:
            return num
        est = levels[-1][0]
        for v, c in reversed(levels[:-1]):
            est = v * c + (1.0 - c) * self.up2(est, c.shape[-2:])
        return self.up2(est, known.shape)

    def block_mean(self, x, s):
        """Replicate-pad to a multiple of s, then s×s block means (= cv2 INTER_AREA at integer s)."""
        if s == 1:
            return x
        h, w = x.shape[-2:]
        ph, pw = (-h) % s, (-w) % s
        x3 = x if x.dim() == 3 else x[None]
        if ph or pw:
            x3 = self.F.pad(x3[None], (0, pw, 0, ph), mode="replicate")[0]
        out = self.F.avg_pool2d(x3[None], s)[0]
        return out if x.dim() == 3 else out[0]

    def extend_layer(self, num, known, capped, f):
        h, w = known.shape
        if f > 1 and min(h, w) >= 2 * f:
            n_s = self.block_mean(capped, f)
            k_s = self.block_mean(known, f)
            est = n_s + (1.0 - k_s)[None] * self.pull_push_fill(n_s, k_s)
            hs, ws = k_s.shape
            up = self.F.interpolate(est[None], size=(hs * f, ws * f), mode="bilinear",
                                    align_corners=False)[0][:, :h, :w]
        else:
            up = self.pull_push_fill(capped, known)
        return num + (1.0 - known)[None] * up

    def weight(self, ks):
        key = tuple(id(k) for k in ks)
        w = self._kcache.get(key)
        if w is None:
            size = ks[0].shape[0]
            w = self.torch.from_numpy(np.stack([k.reshape(1, size, size) for k in ks])).to(self.dev)
            self._kcache[key] = w
        return w

    def reflect(self, n: int, pad: int):
        """Device index tensor of a reflect-101 border (cached: uploaded once per size)."""
        key = ("reflect", n, pad)
        idx = self._kcache.get(key)
        if idx is None:
            idx = self._kcache[key] = self.torch.from_numpy(_reflect_index(n, pad)).to(self.dev)
        return idx

    def convolve(self, x, ks):
        """Correlate each of the 4 channels with its kernel, reflect-101 borders (= cv2.filter2D)."""
        size = ks[0].shape[0]
        if size == 1:
            return x * self.weight(ks).reshape(4, 1, 1)
        pad = size // 2
        h, w = x.shape[-2:]
        xp = x.index_select(1, self.reflect(h, pad)).index_select(2, self.reflect(w, pad))
        return self.F.conv2d(xp[None], self.weight(ks), groups=4)[0]


def _layer_planes(torch, parts: DenseParts, index: int, roi):
    """Premultiplied RGBA, known fraction and capped RGBA of one layer over its region (torch_matte)."""
    y0, y1, x0, x1 = roi
    db = parts.ub[y0:y1, x0:x1] - float(index)
    wb = torch.clamp(1.0 - db.abs(), min=0.0)  # tent weight of this layer
    kb = torch.clamp(1.0 - db, 0.0, 1.0)  # fraction at or behind this layer
    bg, bgc = parts.bg4[:, y0:y1, x0:x1], parts.bg4c[:, y0:y1, x0:x1]
    if parts.a is None:
        return bg * wb[None], kb, bgc * wb[None]
    df = parts.uf[y0:y1, x0:x1] - float(index)
    wf = torch.clamp(1.0 - df.abs(), min=0.0)
    kf = torch.clamp(1.0 - df, 0.0, 1.0)
    a = parts.a[y0:y1, x0:x1]
    fg, fgc = parts.fg4[:, y0:y1, x0:x1], parts.fg4c[:, y0:y1, x0:x1]
    known = a * kf + (1.0 - a) * kb
    return fg * wf[None] + bg * wb[None], known, fgc * wf[None] + bgc * wb[None]


def render_torch(img: np.ndarray, r: np.ndarray, plan: RenderPlan, frame_box: tuple[int, int, int, int],
                 device: str = "cpu") -> np.ndarray:
    """Render following `plan` with torch on `device`; returns float32 H×W×3 (numpy).

    The frame, the layer coordinates and the edge matte live on the device; the layer loop only
    launches device work (no size reads, no copies back) until the result is fetched once.
    Layers are filled even when nothing of them is hidden (the fill then adds exact zeros) so the
    loop never waits for the device to decide.
    """
    import torch

    ops = _Ops(device)
    F = ops.F
    dev = ops.dev
    H, W = r.shape
    u_np = layer_coord(r, plan)
    with torch.no_grad():
        I = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(dev)
        Ic = ops.cap_frame(I)
        u_t = torch.from_numpy(u_np).to(dev)
        parts = dense_parts(torch, F, I, Ic, u_t, FILL_CAP, plan.edge_matte)
        out = torch.zeros((3, H, W), dtype=torch.float32, device=dev)
        acc = torch.zeros((H, W), dtype=torch.float32, device=dev)
        for L in plan.layers:
            y0, y1, x0, x1 = L.roi
            s = L.scale
            layer, known, capped = _layer_planes(torch, parts, L.index, L.roi)
            h, wd = known.shape
            if s > 1:
                layer = ops.block_mean(layer, s)
                known = ops.block_mean(known, s)
                capped = ops.block_mean(capped, s)
            layer = ops.extend_layer(layer, known, capped, max(1, FILL_SCALE // s))
            if plan.zones is None:
                blurred = ops.convolve(layer, L.kernels[0][1])
            else:
                blurred = torch.zeros_like(layer)
                for ks, wz in zone_maps(plan, L, tuple(layer.shape[-2:]), frame_box):
                    blurred = blurred + ops.convolve(layer * torch.from_numpy(wz).to(dev)[None], ks)
            if s > 1:
                hs, ws = blurred.shape[-2:]
                blurred = F.interpolate(blurred[None], size=(hs * s, ws * s), mode="bilinear",
                                        align_corners=False)[0][:, :h, :wd]
            A = blurred[3]
            out[:, y0:y1, x0:x1] = out[:, y0:y1, x0:x1] * (1.0 - A)[None] + blurred[:3]
            acc[y0:y1, x0:x1] = acc[y0:y1, x0:x1] * (1.0 - A) + A
        ok = acc > 1e-4
        res = torch.where(ok[None], out / torch.where(ok, acc, torch.ones_like(acc))[None], I)
        return res.permute(1, 2, 0).contiguous().cpu().numpy().astype(np.float32, copy=False)

"""Batched image primitives of the torch renderer: many layers of different sizes in one canvas.

A group of layers is stacked into one B×C×H×W canvas (render/torch_batch.py); layer b occupies
the top-left h_b×w_b of it. Every primitive here gives, inside each layer's own h_b×w_b, exactly
what render/cpu.py computes on that layer alone, so one launch serves the whole group:

* 2×2 pull sums see zeros beyond a layer (the CPU path zero-pads odd sizes: the same zeros);
* bilinear upsampling and block means see the layer's last row/column repeated beyond it
  (:func:`gather` with a clamped index: the CPU path's replicate/clamp borders);
* convolutions see the layer's own reflect-101 border (a gathered index per layer).
What lies beyond a layer in the canvas is never read back into it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F


def gather(x, index: Optional[Any], shape: tuple[int, int]):
    """x (B×C×h×w) resampled through a per-layer flat index (B×(H·W) into h·w) to B×C×H×W.

    `index` None means the identity (the canvas already is what is wanted).
    """
    if index is None:
        return x
    B, C = x.shape[:2]
    flat = x.reshape(B, C, -1)
    return flat.gather(2, index[:, None, :].expand(B, C, index.shape[1])).view(B, C, *shape)


def sum2x2(x):
    """2×2 block sums, an odd last row/column summed with zeros (= cpu._sum2x2's zero padding).

    One pooling launch: ceil_mode keeps the partial last window, divisor_override=1 makes it a sum.
    """
    return F.avg_pool2d(x, 2, ceil_mode=True, divisor_override=1)


def up2(x, shape: tuple[int, int]):
    """Bilinear ×2 (half-pixel centres), cropped to `shape` (= cpu._up2)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)[..., : shape[0], : shape[1]]


def upscale(x, s: int, shape: tuple[int, int]):
    """Bilinear ×s (half-pixel centres), cropped to `shape` (= cv2.resize INTER_LINEAR at integer s)."""
    hs, ws = x.shape[-2:]
    return F.interpolate(x, size=(hs * s, ws * s), mode="bilinear", align_corners=False)[..., : shape[0], : shape[1]]


def block_mean(x, s: int):
    """s×s block means of a canvas whose size is a multiple of s (= cv2 INTER_AREA at integer s)."""
    return x if s == 1 else F.avg_pool2d(x, s)


@dataclass
class Pyramid:
    """Precomputed per-layer facts of one pull-push pyramid over a canvas (torch_batch builds them)."""

    levels: int  # 2×2 levels of the canvas (until 1×1)
    shapes: list  # canvas (h, w) of each level
    extend: list  # per level: clamp index (None: identity) extending each layer's estimate beyond it
    is_top: list  # per level: B×1×1×1 bool, the level is at or above the layer's own top level
    no_levels: Any  # B×1×1×1 bool: the layer is 1×1 (pull-push returns it unchanged)
    mask: Any  # B×1×H×W float: 1 inside each layer, 0 beyond (the zeros its pull sums see)


def pull_push_fill(num, known, pyr: Pyramid):
    """cpu.pull_push_fill on every layer of a canvas at once (num B×C×H×W, known B×1×H×W).

    Pull: 2×2 sums of (num, known) masked to each layer; value = sum/known, confidence =
    min(1, known sum). Push: est_l = value_l·conf_l + (1 − conf_l)·up(est_{l+1}), restarted at each
    layer's own top level (est = value there, as when that layer stops its pyramid).
    """
    C = num.shape[1]
    nk = torch.cat([num, known], 1) * pyr.mask
    levels = []
    for _ in range(pyr.levels):
        nk = sum2x2(nk)
        ns, ks = nk[:, :C], nk[:, C:]
        v = torch.where(ks > 0, ns / torch.clamp(ks, min=1e-12), 0.0)
        c = torch.clamp(ks, max=1.0)
        nk = torch.cat([v * c, c], 1)
        levels.append((v, c, nk[:, :C]))  # v·c is kept for the push
    if not levels:
        return num
    est = levels[-1][0]
    for lv in range(pyr.levels - 2, -1, -1):
        v, c, vc = levels[lv]
        up = up2(gather(est, pyr.extend[lv + 1], pyr.shapes[lv + 1]), pyr.shapes[lv])
        est = torch.where(pyr.is_top[lv], v, torch.addcmul(vc, 1.0 - c, up))
    fill = up2(gather(est, pyr.extend[0], pyr.shapes[0]), num.shape[-2:])
    return torch.where(pyr.no_levels, num, fill)


def correlate(x, index, weights, padded: tuple[int, int], zone_weights=None):
    """Each layer's 4 channels correlated with its own kernels, reflect-101 borders per layer.

    x B×4×h×w; `index` gathers each layer's reflect-101 border into B×4×(h+2p)×(w+2p) (`padded`);
    `weights` is a list (one per cat's-eye zone) of (4B)×1×K×K kernels, zero-padded to the group's
    size K (extra taps add exact zeros); `zone_weights` the matching per-zone B×1 maps, padded the
    same way (None: one zone covering everything).
    """
    B, C, h, w = x.shape
    K = weights[0].shape[-1]
    if K == 1 and zone_weights is None:
        return x * weights[0].view(B, C, 1, 1)
    xp = gather(x, index, padded)
    out = None
    for z, wt in enumerate(weights):
        xz = xp if zone_weights is None else xp * zone_weights[z]
        part = F.conv2d(xz.reshape(1, B * C, *padded), wt, groups=B * C).view(B, C, h, w)
        out = part if out is None else out + part
    return out

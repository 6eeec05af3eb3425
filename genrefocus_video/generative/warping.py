"""Flow-warped Gaussian noise (and latents) for temporally stable generative video.

Sampling every frame from independent noise makes a diffusion model re-invent texture each frame
(flicker). Warping the previous frame's initial noise along the optical flow keeps the "random
seed" of a surface attached to it — but naive bilinear warping blurs the noise (variance < 1) and
breaks the model's N(0, I) assumption. Following "How I Warped Your Noise" (Chang et al., ICLR
2024) and "Go-with-the-Flow" (Burgert et al., CVPR 2025) we treat each noise pixel as the integral
of white noise over its area:

1. *Conditional upsampling*: pixel value X ~ N(0, 1) is split into k = s² sub-pixels
   Z_i = X/k + (U_i − mean(U)), U_i ~ N(0, 1/k) — each Z_i ~ N(0, 1/k), independent, summing to X.
2. *Transport*: every sub-pixel of the current frame looks up the sub-pixel it came from in the
   previous frame (backward flow). A source sub-pixel is given to ONE target only (the first that
   claims it); targets that lose it, disocclusions and flow leaving the frame get fresh sub-pixels.
3. *Integration*: a target pixel is the sum of its n distinct sub-pixels, divided by sqrt(n/k).

Because targets sum disjoint sets of independent N(0, 1/k) variables, the warped field is again
exactly i.i.d. N(0, 1) per channel (for any flow that does not depend on the noise), and an
integer translation moves it bit for bit. Soft occlusion masks blend with fresh noise as
sqrt(m)·warped + sqrt(1 − m)·fresh, which keeps unit variance.

Latent warping (optional) backward-warps the previous frame's denoised latents bilinearly; the
sampler starts from a per-pixel blend toward them where the flow is valid.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np


def _rng(seed: int, frame: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(frame) & 0xFFFFFFFF, salt])


def fresh_noise(shape: tuple[int, ...], seed: int, frame: int) -> np.ndarray:
    """Independent N(0, 1) float32 noise [C, H, W] for one frame (deterministic in seed, frame)."""
    return _rng(seed, frame, 1).standard_normal(shape, dtype=np.float32)


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel flow H×W×2 resampled to another grid, with vectors rescaled to the new pixel size."""
    h0, w0 = flow.shape[:2]
    if (h0, w0) == (height, width):
        return flow.astype(np.float32)
    out = cv2.resize(flow.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    out[..., 0] *= width / w0
    out[..., 1] *= height / h0
    return out


def resize_mask(mask: Optional[np.ndarray], height: int, width: int) -> Optional[np.ndarray]:
    if mask is None:
        return None
    m = mask.astype(np.float32)
    if m.shape != (height, width):
        m = cv2.resize(m, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(m, 0.0, 1.0)


def upsample_noise(noise: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Conditional white-noise upsampling: [C, H, W] -> [C, H·s, W·s] sub-pixels summing to each pixel."""
    c, h, w = noise.shape
    k = s * s
    u = rng.standard_normal((c, h, s, w, s), dtype=np.float32) / np.sqrt(k)
    u -= u.mean(axis=(2, 4), keepdims=True)
    z = noise[:, :, None, :, None] / k + u
    return z.reshape(c, h * s, w * s)


def warp_noise(prev_noise: np.ndarray, flow_to_prev: np.ndarray, valid: Optional[np.ndarray] = None, *,
               seed: int = 0, frame: int = 0, subpixels: int = 4) -> np.ndarray:
    """Warp noise [C, H, W] of frame t−1 into frame t; the result is i.i.d. N(0, 1) again.

    flow_to_prev: H×W×2 (dx, dy) at the noise resolution — pixel p of frame t came from p + flow in
    frame t−1. valid: H×W in [0, 1] (forward-backward consistency); 0 = occluded -> fresh noise.
    """
    c, h, w = prev_noise.shape
    if flow_to_prev.shape[:2] != (h, w):
        raise ValueError(f"flow is {flow_to_prev.shape[:2]}, noise is {(h, w)}")
    s = int(subpixels)
    k = s * s
    rng = _rng(seed, frame, 2)
    sub = upsample_noise(prev_noise.astype(np.float32), s, rng).reshape(c, -1)

    # Sub-pixel centres of every target pixel, moved by that pixel's flow, in source sub-pixel units.
    off = (np.arange(s, dtype=np.float32) + 0.5) / s - 0.5
    ys = np.arange(h, dtype=np.float32)[:, None, None, None] + off[None, None, :, None]  # [h,1,s,1]
    xs = np.arange(w, dtype=np.float32)[None, :, None, None] + off[None, None, None, :]  # [1,w,1,s]
    fx = flow_to_prev[..., 0].astype(np.float32)[:, :, None, None]
    fy = flow_to_prev[..., 1].astype(np.float32)[:, :, None, None]
    sx = np.floor((xs + fx + 0.5) * s).astype(np.int64)  # [h,w,1,s] -> broadcast [h,w,s,s]
    sy = np.floor((ys + fy + 0.5) * s).astype(np.int64)
    sx, sy = np.broadcast_arrays(sx, sy)
    inside = (sx >= 0) & (sx < w * s) & (sy >= 0) & (sy < h * s)
    src = np.where(inside, sy * (w * s) + sx, -1).reshape(h * w, k)
    tgt = np.repeat(np.arange(h * w), k)
    src = src.reshape(-1)

    # Each source sub-pixel goes to the first target (in raster order) that claims it.
    ok = src >= 0
    keep = np.zeros_like(ok)
    idx_ok = np.nonzero(ok)[0]
    _, first = np.unique(src[idx_ok], return_index=True)
    keep[idx_ok[first]] = True

    count = np.bincount(tgt[keep], minlength=h * w).astype(np.float32)
    out = np.empty((c, h * w), np.float32)
    for ch in range(c):
        out[ch] = np.bincount(tgt[keep], weights=sub[ch, src[keep]], minlength=h * w)
    has = count > 0
    out[:, has] /= np.sqrt(count[has] / k)[None, :]
    fresh = fresh_noise((c, h * w), seed, frame)
    out[:, ~has] = fresh[:, ~has]

    if valid is not None:
        m = np.clip(valid.astype(np.float32), 0.0, 1.0).reshape(-1)
        out = np.sqrt(m)[None] * out + np.sqrt(1.0 - m)[None] * _rng(seed, frame, 3).standard_normal(
            (c, h * w), dtype=np.float32)
    return out.reshape(c, h, w)


def warp_latents(prev: np.ndarray, flow_to_prev: np.ndarray) -> np.ndarray:
    """Bilinear backward warp of latents [C, H, W]: out(p) = prev(p + flow(p)) (edges clamped)."""
    c, h, w = prev.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = gx + flow_to_prev[..., 0].astype(np.float32)
    my = gy + flow_to_prev[..., 1].astype(np.float32)
    return np.stack([cv2.remap(prev[i].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) for i in range(c)])


def flow_inside(flow_to_prev: np.ndarray) -> np.ndarray:
    """1 where p + flow(p) lands inside the previous frame, else 0."""
    h, w = flow_to_prev.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + flow_to_prev[..., 0], gy + flow_to_prev[..., 1]
    return ((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)).astype(np.float32)

"""Motion depth on a pyramid level: the frame size it works at, and the way back to full resolution.

Why: dense flow and the plane sweep cost in proportion to the pixel count, and at 720p and above
they dominated the whole pipeline (issue 17). Depth is smooth inside objects and its edges follow
the image's, so motion depth estimates at a reduced size (widths up to `work_width`, 640 px by
default: 720p runs at half size, 1080p at a quarter) and comes back with a bilinear upsample
re-snapped to the full-resolution frame's edges (fast guided upsampling, confidence-weighted).
"""
from __future__ import annotations

import cv2
import numpy as np


def pyramid_level(width: int, work_width: int) -> int:
    """Number of halvings that bring `width` to at most `work_width` px (0 = full resolution)."""
    level = 0
    while work_width > 0 and width / 2 ** level > work_width:
        level += 1
    return level


def downsample(gray8: np.ndarray, level: int) -> np.ndarray:
    """The frame at `level` (area average: each output pixel the mean of the 2^level square it covers)."""
    if level == 0:
        return gray8
    h, w = gray8.shape
    size = (max(1, round(w / 2 ** level)), max(1, round(h / 2 ** level)))
    return cv2.resize(gray8, size, interpolation=cv2.INTER_AREA)


def level_intrinsics(K: np.ndarray, full_shape: tuple[int, int], level_shape: tuple[int, int]) -> np.ndarray:
    """Camera matrix of the reduced grid: focal lengths scaled, pixel centres mapped ((x + 0.5) s - 0.5)."""
    sy, sx = level_shape[0] / full_shape[0], level_shape[1] / full_shape[1]
    Ks = K.copy()
    Ks[0, 0], Ks[1, 1] = K[0, 0] * sx, K[1, 1] * sy
    Ks[0, 2], Ks[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    return Ks


def resize_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A flow field resampled to `shape` (h, w), its vectors scaled to the new pixel size."""
    h, w = shape
    sy, sx = h / flow.shape[0], w / flow.shape[1]
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
    out[..., 0] *= sx
    out[..., 1] *= sy
    return out.astype(np.float32, copy=False)


def upsample_guided(d: np.ndarray, conf: np.ndarray, guide8: np.ndarray, radius: int = 2,
                    eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(disparity, confidence) at the guide's size, depth steps placed on the guide's edges.

    Fast guided upsampling (He & Sun 2015): the local linear model d ~ a I + b is fitted at the
    working level against the guide downsampled the same way (confidence + 0.05 as regression
    weights, window 2 radius + 1, regulariser eps on [0, 1] gray), a and b are averaged and
    upsampled bilinearly, and applied to the full-resolution guide. A step that falls inside one
    working pixel is mixed there in d and in I alike, so the model puts it back where the full frame
    has its edge; a plain bilinear upsample smears it over 2^level px. The result stays within the
    3x3 range of the bilinear upsample (no overshoot).
    """
    h, w = guide8.shape
    if d.shape == (h, w):
        return d, conf
    hs, ws = d.shape
    g_full = guide8.astype(np.float32) / 255.0
    g = cv2.resize(g_full, (ws, hs), interpolation=cv2.INTER_AREA)
    wgt = (np.clip(conf, 0.0, 1.0) + 0.05).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    sw = box(wgt)
    mg, md = box(wgt * g) / sw, box(wgt * d) / sw
    cov = box(wgt * g * d) / sw - mg * md
    var = box(wgt * g * g) / sw - mg * mg
    a = cov / (np.maximum(var, 0.0) + eps)
    b = md - a * mg
    a_up = cv2.resize(box(a), (w, h), interpolation=cv2.INTER_LINEAR)
    b_up = cv2.resize(box(b), (w, h), interpolation=cv2.INTER_LINEAR)
    d_up = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)
    out = a_up * g_full + b_up
    lo = cv2.erode(d_up, np.ones((3, 3), np.uint8))
    hi = cv2.dilate(d_up, np.ones((3, 3), np.uint8))
    c_up = np.clip(cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return np.clip(out, lo, hi).astype(np.float32), c_up.astype(np.float32)

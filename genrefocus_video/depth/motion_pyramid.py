"""Motion depth on a pyramid level: the frame size it works at, and the way back to full resolution.

Why: dense flow and the plane sweep cost in proportion to the pixel count, and at 720p and above
they dominated the whole pipeline (issue 17). Depth is smooth inside objects and its edges follow
the image's, so motion depth estimates at a reduced size (widths up to `work_width`, 640 px by
default: 720p runs at half size, 1080p at a quarter) and comes back with a bilinear upsample
re-snapped to the full-resolution frame's edges by a confidence-weighted guided filter.
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


def upsample_guided(d: np.ndarray, conf: np.ndarray, guide8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(disparity, confidence) at the guide's size: bilinear, then edges re-snapped to the guide.

    A bilinear upsample blurs each depth step over 2^level px; a guided filter (radius ~ the scale
    factor, eps 1e-4 on [0, 1] gray) weighted by confidence + 0.05 pulls each side of an image edge
    back to its own depth, so steps land where the full-resolution frame has them.
    """
    h, w = guide8.shape
    if d.shape == (h, w):
        return d, conf
    d_up = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)
    c_up = np.clip(cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    radius = max(2, int(round(w / d.shape[1])) + 1)
    g = guide8.astype(np.float32) / 255.0
    wgt = (c_up + 0.05).astype(np.float32)
    num = cv2.ximgproc.guidedFilter(g, (d_up * wgt).astype(np.float32), radius, 1e-4)
    den = cv2.ximgproc.guidedFilter(g, wgt, radius, 1e-4)
    out = np.where(den > 1e-3, num / np.maximum(den, 1e-3), d_up)
    # the filter's linear model may overshoot at strong edges: stay within the local range
    lo = cv2.erode(d_up, np.ones((3, 3), np.uint8))
    hi = cv2.dilate(d_up, np.ones((3, 3), np.uint8))
    return np.clip(out, lo, hi).astype(np.float32), c_up.astype(np.float32)

"""Exact convolution routes for the layered renderer: the fastest of OpenCV's direct correlation,
row strips of it, and OpenCV's DFT, chosen by kernel size (same sums, float rounding only).

Measured in docs/benchmarks/renderer.md ("Convolution").
"""
from __future__ import annotations

import cv2
import numpy as np

DIRECT_MAX_AREA = 129  # OpenCV's filter2D correlates float32 directly below 130 taps, by DFT above
STRIP_MAX_SIZE = 19  # kernels up to this size: row strips of < 130 taps (faster than OpenCV's DFT)


def correlate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """cv2.filter2D(x, k) with reflect-101 borders, by the fastest exact route for k's size.

    OpenCV switches to a tiled DFT at 130 taps (13×13), which costs 4× an 11×11 direct pass at
    720p; up to STRIP_MAX_SIZE the kernel is cut into strips of rows small enough for the direct
    path and their results summed (the same sums in another order: float rounding only). Measured
    in docs/benchmarks/renderer.md ("Convolution"). The strip route runs in blocks of BLOCK_ROWS
    output rows (each pixel's sums unchanged: bit-identical to one pass over the padded frame), so
    its padded input and per-strip results are block-sized instead of frame-sized copies.
    """
    n = k.shape[0]
    if n * k.shape[1] <= DIRECT_MAX_AREA or n > STRIP_MAX_SIZE:
        return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    c = n // 2
    H = x.shape[0]
    if H <= max(1, c):  # reflect-101 needs more rows than the pad: leave it to OpenCV
        return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    rows = max(1, DIRECT_MAX_AREA // k.shape[1])
    strips = [np.ascontiguousarray(k[r0:r0 + rows]) for r0 in range(0, n, rows)]
    out = np.empty(x.shape, np.float32)
    for y0 in range(0, H, BLOCK_ROWS):
        y1 = min(H, y0 + BLOCK_ROWS)
        xp = _rows_reflect101(x, y0 - c, y1 + c)  # the block's input rows, padded as the whole frame's
        o = out[y0:y1]
        for i, ks in enumerate(strips):
            r0 = i * rows
            part = cv2.filter2D(xp[r0:r0 + (y1 - y0) + ks.shape[0] - 1], cv2.CV_32F, ks,
                                anchor=(k.shape[1] // 2, 0), borderType=cv2.BORDER_REFLECT_101)[:y1 - y0]
            if i == 0:
                o[...] = part
            else:
                o += part
    return out


BLOCK_ROWS = 128  # output rows per block of the strip route: its temporaries are blocks, not frames


def _rows_reflect101(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows a..b−1 of x, those outside [0, H) mirrored reflect-101 (a view where none is outside)."""
    H = x.shape[0]
    if a >= 0 and b <= H:
        return x[a:b]
    idx = np.arange(a, b)
    idx = np.abs(idx)
    idx = np.where(idx >= H, 2 * H - 2 - idx, idx)
    return x[idx]


def convolve4(x: np.ndarray, ks: list) -> np.ndarray:
    """Correlate each of the 4 channels with its kernel (reflect-101 borders)."""
    if ks[0] is ks[1] and ks[2] is ks[1]:
        k = ks[1]
        if k.shape == (1, 1):
            return x * float(k[0, 0])
        return correlate(x, k)
    out = np.empty_like(x)
    for c in range(4):
        out[..., c] = correlate(np.ascontiguousarray(x[..., c]), ks[c])
    return out

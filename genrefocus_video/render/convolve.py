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
    in docs/benchmarks/renderer.md ("Convolution").
    """
    n = k.shape[0]
    if n * k.shape[1] <= DIRECT_MAX_AREA or n > STRIP_MAX_SIZE:
        return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    c = n // 2
    rows = max(1, DIRECT_MAX_AREA // k.shape[1])
    H = x.shape[0]
    xp = cv2.copyMakeBorder(x, c, c, 0, 0, cv2.BORDER_REFLECT_101) if H > 1 else None
    if xp is None or H <= c:  # reflect-101 needs more rows than the pad: leave it to OpenCV
        return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    out = None
    for r0 in range(0, n, rows):
        ks = k[r0:r0 + rows]
        part = cv2.filter2D(xp[r0:r0 + H + ks.shape[0] - 1], cv2.CV_32F, np.ascontiguousarray(ks),
                            anchor=(k.shape[1] // 2, 0), borderType=cv2.BORDER_REFLECT_101)[:H]
        if out is None:
            out = part
        else:
            out += part
    return out


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

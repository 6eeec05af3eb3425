"""Edge-aware filtering shared by depth estimation and the classical pre-deblur.

The guided filter (He, Sun, Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013) with a
single-channel guide: q = mean(a)·I + mean(b), where a = cov(I, p) / (var(I) + eps) and
b = mean(p) − a·mean(I) over (2r+1)² boxes. Written here with OpenCV box filters so that it runs
with any OpenCV build (the `ximgproc` module exists only in the contrib wheels).
"""
from __future__ import annotations

import cv2
import numpy as np


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Smooth `src` (H×W float) while keeping the edges of the single-channel `guide` (H×W float)."""
    if guide.ndim != 2 or src.shape[:2] != guide.shape:
        raise ValueError(f"guided_filter: guide must be H×W and match src, got {guide.shape} and {src.shape}")
    I = guide.astype(np.float32, copy=False)
    p = src.astype(np.float32, copy=False)
    ksize = (2 * int(radius) + 1,) * 2

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(I), box(p)
    cov_ip = box(I * p) - mean_i * mean_p
    var_i = box(I * I) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * I + box(b)

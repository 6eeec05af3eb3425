"""Depth cue from defocus in a single frame: the fallback when the camera does not move.

Method (Zhuo & Sim, "Defocus map estimation from a single image", Pattern Recognition 2011):
re-blur the image with a Gaussian of sigma0; at an edge blurred by an unknown Gaussian sigma the
gradient ratio R = |grad I| / |grad (I * g_sigma0)| equals sqrt(sigma^2 + sigma0^2) / sigma, so
sigma = sigma0 / sqrt(R^2 - 1). The sparse blur map at edges is propagated to every pixel with an
edge-aware (guided) normalised convolution.

Disparity: blur says how far a point is from the focal plane, not on which side. We assume the
sharpest content is nearest (the common case: subject in focus, background soft), treat regions
without any edge as blurred, and map
d = 1 / (1 + sigma). This is a weak cue, so its confidence is at most 0.25; a real depth pass
(--depth) or Marigold is the better answer and the pipeline says so when it falls back here.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..flow import to_gray8


def _guided(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    return cv2.ximgproc.guidedFilter(guide, src.astype(np.float32), radius, eps)


def defocus_blur_map(rgb: np.ndarray, sigma0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(sigma px per pixel, edge weight) from the gradient-ratio method, propagated edge-aware."""
    g8 = to_gray8(rgb)
    g = g8.astype(np.float32) / 255.0
    h, w = g.shape

    def grad(x: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
        return np.sqrt(gx * gx + gy * gy)

    g0 = grad(g)
    g1 = grad(cv2.GaussianBlur(g, (0, 0), sigma0))
    edges = cv2.Canny(g8, 30, 90) > 0
    ratio = g0 / np.maximum(g1, 1e-6)
    ok = edges & (ratio > 1.01) & (g0 > 0.02)
    sigma = np.zeros_like(g)
    sigma[ok] = sigma0 / np.sqrt(ratio[ok] ** 2 - 1.0)
    sigma = np.clip(sigma, 0.0, 8.0)
    weight = ok.astype(np.float32)
    radius = max(4, int(round(max(h, w) / 24)))
    num = _guided(g, sigma * weight, radius, 1e-3)
    den = _guided(g, weight, radius, 1e-3)
    dense = num / np.maximum(den, 1e-4)
    # Where no edge is near, fall back to a wide average of the sparse map; where there is no edge
    # at all in a wide window, assume the content is blurred (shallow depth of field erases edges):
    # the 90th percentile of the measured blur.
    k = radius * 4 + 1
    wide_n = cv2.blur(sigma * weight, (k, k))
    wide_d = cv2.blur(weight, (k, k))
    blurry = float(np.percentile(sigma[ok], 90)) if ok.any() else 0.0
    wide = np.where(wide_d > 1e-3, wide_n / np.maximum(wide_d, 1e-6), blurry)
    dense = np.where(den > 0.02, dense, wide)
    return np.clip(dense, 0.0, 8.0).astype(np.float32), np.clip(den * 4.0, 0.0, 1.0).astype(np.float32)


def defocus_disparity(rgb: np.ndarray, sigma0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(disparity, confidence): d = 1 / (1 + sigma) (sharp = near), confidence <= 0.25."""
    sigma, near_edge = defocus_blur_map(rgb, sigma0)
    d = 1.0 / (1.0 + sigma)
    return d.astype(np.float32), (0.05 + 0.2 * near_edge).astype(np.float32)

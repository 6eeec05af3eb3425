"""Depth of a region that moves on its own, from its looming (image-scale change) in the flow.

Motion depth triangulates the static scene from the camera's motion; a subject walking toward the
camera breaks the epipolar geometry, so its estimate is filled from the static neighbours around
it (depth/motion.py step 6) and stays near the background's disparity. The physics that does hold
for such a subject: its image size is f S / Z, proportional to its disparity d = 1/Z, so between
two frames d(t) / d(t-1) = s(t) / s(t-1), the ratio of its image scales, whatever the camera's
translation scale. This module measures and applies that:

* :func:`similarity_fit` / :func:`robust_similarity`: weighted least-squares similarity
  (Umeyama 1991) Q = s R P + t, and its iteratively reweighted (Huber) version;
* :func:`looming_ratio`: s(t) / s(t-1) of a region from the flow t -> t-1 (the divergence of the
  flow, fitted as one similarity, so a rotating or drifting subject still gives its scale);
* :func:`rigid_residual` / :func:`independent_region`: pixels whose flow the camera's motion does
  not explain (first-order model of a translating camera, f = T d + b, fitted on confident pixels),
  and that the depth source itself does not trust;
* :func:`map_level`: the level of an up-to-scale disparity map on its static pixels (motion depth
  normalises each frame), so a looming-propagated value is given in each frame's own units;
* :class:`LoomingDisparity`: a disparity anchored once and propagated by looming ratios;
* :func:`feathered_replace`: the region's disparity replaced by one value, blended over a feather
  at its border so the render has no seam.

Limits (measured, docs/temporal.md 'Which depth source for which footage'): the looming ratio
needs the subject to span enough textured pixels for the flow to see its divergence (DIS smooths
it away on a 10-30 px subject), and looming gives only ratios: the level comes from an anchor.
Arrays in, arrays out; no pipeline imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np


@dataclass(frozen=True)
class Similarity:
    """Q = scale * R(angle) P + (tx, ty); angle in radians, translation in px."""

    scale: float
    angle: float
    tx: float
    ty: float

    def apply(self, P: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        R = np.array([[c, -s], [s, c]])
        return self.scale * P @ R.T + np.array([self.tx, self.ty])


def similarity_fit(P: np.ndarray, Q: np.ndarray, weights: Optional[np.ndarray] = None) -> Similarity:
    """Weighted least-squares similarity mapping points P (N x 2) onto Q (Umeyama's closed form)."""
    P, Q = np.asarray(P, np.float64), np.asarray(Q, np.float64)
    if P.shape != Q.shape or P.ndim != 2 or P.shape[1] != 2 or len(P) < 2:
        raise ValueError(f"similarity_fit needs two N x 2 point sets (N >= 2), got {P.shape} and {Q.shape}")
    w = np.ones(len(P)) if weights is None else np.asarray(weights, np.float64)
    w = w / max(float(w.sum()), 1e-12)
    mp, mq = w @ P, w @ Q
    Pc, Qc = P - mp, Q - mq
    var_p = float(w @ (Pc ** 2).sum(axis=1))
    if var_p <= 1e-12:
        raise ValueError("similarity_fit: the points P do not spread (all at one place)")
    # 2-D Umeyama: the cross-covariance's rotation part in closed form
    a = float(w @ (Pc[:, 0] * Qc[:, 0] + Pc[:, 1] * Qc[:, 1]))
    b = float(w @ (Pc[:, 0] * Qc[:, 1] - Pc[:, 1] * Qc[:, 0]))
    angle = float(np.arctan2(b, a))
    scale = float(np.hypot(a, b) / var_p)
    sim = Similarity(scale, angle, 0.0, 0.0)
    t = mq - sim.apply(mp[None])[0]
    return Similarity(scale, angle, float(t[0]), float(t[1]))


def robust_similarity(P: np.ndarray, Q: np.ndarray, huber_px: float = 0.75, iterations: int = 6) -> Similarity:
    """:func:`similarity_fit` reweighted by Huber weights on the residual (px): flow outliers at
    the region's border (background dragged along) lose their pull."""
    sim = similarity_fit(P, Q)
    for _ in range(iterations):
        r = np.linalg.norm(sim.apply(np.asarray(P, np.float64)) - Q, axis=1)
        w = np.where(r <= huber_px, 1.0, huber_px / np.maximum(r, 1e-12))
        sim = similarity_fit(P, Q, w)
    return sim


def looming_ratio(flow_to_prev: np.ndarray, region: np.ndarray, min_pixels: int = 24,
                  valid: Optional[np.ndarray] = None) -> Optional[float]:
    """s(t) / s(t-1) of the region's image scale (= d(t) / d(t-1) for a rigid subject), from the
    flow t -> t-1 (pixel p of frame t lies at p + flow(p) in frame t-1). None when the region has
    fewer than `min_pixels` usable pixels."""
    m = np.asarray(region, bool)
    if valid is not None:
        m = m & (np.asarray(valid) > 0.5)
    ys, xs = np.nonzero(m)
    if len(xs) < min_pixels:
        return None
    P = np.stack([xs, ys], axis=1).astype(np.float64)
    Q = P + flow_to_prev[ys, xs].astype(np.float64)
    sim = robust_similarity(P, Q)
    return 1.0 / sim.scale if sim.scale > 1e-6 else None


def rigid_residual(flow_to_prev: np.ndarray, disparity: np.ndarray, confidence: np.ndarray,
                   min_confidence: float = 0.3) -> Optional[np.ndarray]:
    """|flow - (T d + b)| per pixel (px): what a translating camera (per-unit-disparity image
    translation T, global shift b for small rotations) does not explain. T and b are fitted on the
    confident pixels; None when fewer than 64 of them (the model is then unknown)."""
    conf = np.asarray(confidence) >= min_confidence
    if np.count_nonzero(conf) < 64:
        return None
    d, f = disparity[conf].astype(np.float64), flow_to_prev[conf].astype(np.float64)
    X = np.stack([d, np.ones_like(d)], axis=1)
    coef = np.linalg.lstsq(X, f, rcond=None)[0]
    for _ in range(3):  # Huber-reweighted: the moving region itself must not bend the camera's model
        r = np.linalg.norm(X @ coef - f, axis=1)
        w = np.sqrt(np.where(r <= 0.5, 1.0, 0.5 / np.maximum(r, 1e-12)))
        coef = np.linalg.lstsq(X * w[:, None], f * w[:, None], rcond=None)[0]
    pred = disparity[..., None].astype(np.float64) * coef[0] + coef[1]
    return np.linalg.norm(flow_to_prev - pred, axis=2).astype(np.float32)


def independent_region(residual: Optional[np.ndarray], confidence: np.ndarray, residual_px: float = 1.0,
                       max_confidence: float = 0.3, min_pixels: int = 24) -> np.ndarray:
    """Pixels that move on their own: flow off the camera's model by > `residual_px` and not
    trusted by the depth source, opened (3x3) against speckle; empty when fewer than `min_pixels`
    remain or no camera model exists (then nothing is changed downstream)."""
    if residual is None:
        return np.zeros(np.shape(confidence), bool)
    m = ((residual > residual_px) & (np.asarray(confidence) < max_confidence)).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    return m if np.count_nonzero(m) >= min_pixels else np.zeros_like(m)


def map_level(disparity: np.ndarray, static: np.ndarray) -> float:
    """The level of an up-to-scale disparity map: the median over its `static` pixels (all pixels
    when fewer than 64). The ratio of two frames' levels converts a value between their units; it
    is taken against the anchor frame, not chained frame to frame (a chain of per-frame ratios is
    a random walk: over 40 lfbench frames it drifted to 0.58 and over 120 to 0.25 of the truth)."""
    vals = disparity[static] if np.count_nonzero(static) >= 64 else disparity.reshape(-1)
    return float(np.median(vals))


class LoomingDisparity:
    """A region's disparity, anchored once and propagated by looming: in the anchor frame's units
    d(t) = d(anchor) * s(t) / s(anchor) (the product of the per-frame ratios), converted to the
    map's units at t by level(t) / level(anchor) (:func:`map_level`)."""

    def __init__(self) -> None:
        self.value: Optional[float] = None  # in the anchor frame's units
        self.level: Optional[float] = None  # the map's level at the anchor frame

    def reset(self) -> None:
        self.value = self.level = None

    def anchor(self, value: float, level: float = 1.0) -> float:
        if not np.isfinite(value) or value <= 0 or not np.isfinite(level) or level <= 0:
            raise ValueError(f"a looming anchor needs a positive disparity and map level, got {value}, {level}")
        self.value, self.level = float(value), float(level)
        return self.value

    def step(self, ratio: Optional[float], level: Optional[float] = None) -> Optional[float]:
        """The value this frame in the map's units at its `level` (None: the anchor's units); a
        missing ratio (too few pixels) holds the subject's scale."""
        if self.value is None or self.level is None:
            return None
        self.value *= ratio if ratio is not None else 1.0
        return self.value * (level / self.level if level is not None else 1.0)


def feathered_replace(disparity: np.ndarray, region: np.ndarray, value: float, feather_px: float = 2.0) -> np.ndarray:
    """`disparity` with `region` set to `value`, blended over ~`feather_px` at its border (a
    Gaussian-blurred mask as alpha, its inside kept at 1). An empty region returns the input
    itself, unchanged (no copy, no float rounding)."""
    m = np.asarray(region, bool)
    if not m.any():
        return disparity
    alpha = cv2.GaussianBlur(m.astype(np.float32), (0, 0), max(feather_px, 1e-3) / 2)
    alpha = np.maximum(alpha, m.astype(np.float32))
    return (disparity * (1 - alpha) + np.float32(value) * alpha).astype(disparity.dtype)

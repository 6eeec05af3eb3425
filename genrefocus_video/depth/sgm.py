"""Semi-global aggregation of a plane-sweep cost volume (SGM-style, 4 paths, vectorised numpy).

Why: winner-take-all on a 3x3-box cost picks each pixel's minimum on its own, so textureless
areas and repeated patterns take whichever hypothesis the noise favours (blotches, blocky patches
after filling). SGM adds, along each of 4 scanlines (left/right, up/down), the cheapest path cost
with a small penalty P1 for a one-hypothesis step and a larger P2 for any jump (Hirschmüller 2008):
L_r(p, k) = C(p, k) + min(L_r(p-r, k), L_r(p-r, k±1) + P1, min_j L_r(p-r, j) + P2) - min_j L_r(p-r, j).
Flat regions then inherit the depth of textured surroundings while image edges (where P2 is
lowered by the guide's gradient) still allow jumps. Each step updates a whole column (or row) of
every hypothesis at once, so the Python loop costs 2 (w + h) steps of (n, h) or (n, w) arrays, in
buffers it reuses (`_scan`). Motion depth uses it to vote on which pixels lie at infinity
(plane_sweep.py `infinity_vote`); as the full aggregation (`sgm`) it is off by default.
"""
from __future__ import annotations

import numpy as np


def _scan(cost: np.ndarray, p1: float, p2: np.ndarray) -> np.ndarray:
    """Sum of the forward and backward path costs along axis 2 of `cost` (n, h, w).

    `p2`: (h, w) jump penalty between column i-1 and i (the same both ways). Returns (n, h, w) (a
    view). The columns are copied contiguous first and each step writes into buffers it reuses: a
    column of the (n, h, w) volume is strided by w, and gathering it, with the arrays each step
    allocated, took 2.7x the time (the same floating-point operations, in the same order)."""
    n, h, w = cost.shape
    cols = np.ascontiguousarray(cost.transpose(2, 0, 1))  # (w, n, h)
    p2c = np.ascontiguousarray(p2.T)  # (w, h)
    near = np.empty((n, h), np.float32)
    low = np.empty((n, h), np.float32)

    def step(prev: np.ndarray, c: np.ndarray, p2col: np.ndarray) -> np.ndarray:
        m = prev.min(axis=0)
        if n > 1:  # the cheaper of the two neighbouring hypotheses (one step either way)
            near[0], near[n - 1] = prev[1], prev[n - 2]
            np.minimum(prev[2:], prev[:-2], out=near[1:n - 1])
        else:
            near.fill(np.inf)
        np.add(near, p1, out=low)
        np.minimum(low, prev, out=low)
        np.minimum(low, m + p2col, out=low)
        out = c + low
        out -= m
        return out

    acc = np.empty_like(cols)  # the forward path costs, then the backward ones added
    prev = acc[0] = cols[0]
    for i in range(1, w):
        prev = acc[i] = step(prev, cols[i], p2c[i])
    prev = cols[w - 1]
    acc[w - 1] += prev
    for i in range(w - 2, -1, -1):
        prev = step(prev, cols[i], p2c[i + 1])
        acc[i] += prev
    return acc.transpose(1, 2, 0)


def sgm_aggregate(cost: np.ndarray, guide: np.ndarray, p1: float = 0.25, p2: float = 1.0,
                  edge: float = 0.05) -> np.ndarray:
    """Cost volume (n, h, w) aggregated along 4 paths, in units of the volume's median cost.

    `guide`: (h, w) image in [0, 1]; P2 falls as P2 / (1 + |grad guide| / edge) across image edges
    so depth may jump where the image does. P1, P2 are relative to the median cost, so the same
    settings serve any cost scale. Returns float32 (n, h, w), the minimum per pixel unchanged in
    place (only its relation to the neighbours' choices is added)."""
    c = cost / np.float32(max(float(np.median(cost)), 1e-6))
    c = c.astype(np.float32, copy=False)
    gx = np.abs(np.diff(guide, axis=1, prepend=guide[:, :1])).astype(np.float32)
    gy = np.abs(np.diff(guide, axis=0, prepend=guide[:1])).astype(np.float32)
    p2x = np.maximum(p2 / (1.0 + gx / edge), p1 * 1.01).astype(np.float32)
    p2y = np.maximum(p2 / (1.0 + gy / edge), p1 * 1.01).astype(np.float32)
    horiz = _scan(c, np.float32(p1), p2x)
    vert = _scan(c.transpose(0, 2, 1), np.float32(p1), p2y.T)  # _scan makes its columns contiguous
    return horiz + vert.transpose(0, 2, 1)

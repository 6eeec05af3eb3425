"""Plane-sweep stereo between two frames of known relative pose: dense inverse depth without flow.

Why: dense optical flow (DIS) drags thin or small structures (poles, letters, wires) with the
background around them when the displacement is several pixels, so triangulating its vectors
underestimates their parallax — the largest AbsRel errors of motion depth came from there. With
the pose known, every inverse-depth hypothesis rho maps frame t into the partner frame by the
homography H = K (R + rho t e3^T) K^-1 (a fronto-parallel plane at depth 1/rho); the per-pixel
matching cost of each hypothesis, aggregated over a small window, is minimised along the epipolar
line only (one unknown per pixel instead of two), with a parabola through the three best costs
for sub-sample precision.

Cost: absolute difference of gray level plus of the horizontal and vertical gradients (robust to
the partner's exposure offset), both frames first smoothed by a Gaussian of `presmooth` px (none by
default; motion depth smooths every frame, noisy ones more: depth/noise_level.sweep_presmooth). Why: every
hypothesis but infinity resamples the partner at fractional positions, and a bilinear resample
averages its noise away (half a pixel in x and y: to a quarter of its variance), so on noisy frames
a far surface matched better at a wrong disparity than at its own: of a far textured plane with
noise of 2 / 4 gray levels, 29 / 59 % of the pixels left infinity, with 1 px of smoothing 7 / 23 %
(tests/test_sweep_noise.py); on lfbench clips with sensor noise the far city came out nearly as near
as the subject (docs/benchmarks/motion_depth.md). With several partners (frames before and after t)
the mean of the best half of their costs per pixel (two: the lower one, so an occluded side does not
count), then box-aggregated over `window` px.

The sweep's confidence is the distinctiveness of the minimum: (c_second - c_best) / (c_second +
eps), with c_second the lowest cost more than two hypotheses away — near 0 on textureless areas and
repeated patterns; and, given the frames' noise, how far that margin stands above what noise alone
makes: z = (c_second - c_best) / sigma_f, with sigma_f the noise's standard deviation in the
smoothed gray (sigma / (2 sqrt(pi) presmooth), white noise through the Gaussian), as z^2 / (1 + z^2).
On a flat gray with noise alone the ratio's median stays at 0.13-0.17 (which motion depth counted
as confident), the margin's at 0.18-0.19, at 1-8 gray levels of noise.

Which pixels lie at infinity is decided by two votes over the same per-pixel costs: a semi-global
one (`infinity_vote`, depth/sgm.py: four scanlines) and an edge-aware local one (`guided_vote`: each
hypothesis's costs averaged by a guided filter of the reference frame, He et al. 2013, as in cost-volume
filtering). A pixel whose own minimum lies within INFINITY_VOTE_REACH (2) hypotheses of infinity is
reported at infinity where either aggregation's cost is lowest there, and keeps its own minimum
otherwise. Why: infinity is the one hypothesis that needs no resampling of the partner, and the far
background is decided pixel by pixel from costs that noise, fine repeated texture (a city's windows)
and resampling blur pull toward small wrong disparities: specks of mid-depth in a far background,
which the refocus leaves half sharp. The vote asks the surroundings; the box minimum stays where it
is farther out, and every finite depth is the box's: full semi-global aggregation (`sgm`) smoothed
thin structures and an independently moving subject into their surroundings, and without the reach
the vote took them to infinity with the background (docs/benchmarks/motion_depth.md). The scanlines
miss specks that a path around them does not reach (inside a tree's crown, between a string of
lights); the guided filter's window (radius 2 px) follows the image's edges, so a speck of the city
between twigs averages with the city beside it and not with the twigs. As the label of every pixel
the guided aggregation gained more on the refocus still but ate 1-2 px poles (their sweep disparity
averaged with the city's), and a wider window in the vote did so within the reach: radius 2, as a
vote only.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .sgm import sgm_aggregate

# hypotheses from infinity (by index) within which the infinity vote may move a pixel's own minimum
INFINITY_VOTE_REACH = 2


def _features(gray8: np.ndarray, presmooth: float) -> np.ndarray:
    """(H, W, 3) float32: gray in [0, 1] smoothed by a Gaussian of `presmooth` px (0: none) and twice
    its x and y derivatives (Sobel / 8)."""
    g = gray8.astype(np.float32) / 255.0
    if presmooth > 0:
        g = cv2.GaussianBlur(g, (0, 0), presmooth)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 4.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 4.0
    return cv2.merge([g, gx, gy])


def plane_sweep(g_ref: np.ndarray, partners: list, K: np.ndarray, rho_max: float, n: int = 48,
                window: int = 3, sgm: Optional[tuple[float, float]] = None, presmooth: float = 0.0,
                noise: float = 0.0, infinity_vote: Optional[tuple[float, float]] = None,
                guided_vote: Optional[tuple[int, float]] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho, distinctiveness in [0, 1], margin above the noise in [0, 1]) per pixel of `g_ref` for
    hypotheses rho in [0, rho_max].

    `partners`: [(gray8, R, t)], one or more frames with their pose. Pose convention as in
    motion_pose.triangulate_flow: a point x of the reference at inverse depth rho lies at
    proj(R x + rho t) in the other frame; rho is in units of |t| of the partners' common scale (the
    caller scales each t so that one rho means one depth in every pair). Several partners: the cost
    of a hypothesis is the mean of the best half of the partners' costs (two: the lower one) — a
    pixel occluded in one partner (a background strip beside a pole) is usually visible in a partner
    on the other side, and the pixel's true depth then still has one low-cost match.
    `sgm`: (P1, P2) relative to the median cost: the volume is aggregated semi-globally
    (depth/sgm.py) before the winner is taken; None: winner-take-all on the box-filtered cost.
    `presmooth`: Gaussian sigma (px) both frames are smoothed by before the costs (module doc).
    `noise`: the frames' noise, standard deviation in gray levels (depth/noise_level.py), that the
    margin is measured against (with `sgm`, in aggregated costs, the margin stands higher); 0:
    noise-free, the margin is 1 everywhere.
    `infinity_vote`: (P1, P2) of a semi-global aggregation that decides only which pixels lie at
    infinity (module doc): where it votes for infinity and the pixel's own minimum lies within
    INFINITY_VOTE_REACH hypotheses of it, rho is reported as 0; every other pixel keeps its own
    minimum, and the distinctiveness and the margin stay the box costs'. None (or with `sgm`): no vote.
    `guided_vote`: (radius in px, eps on the gray in [0, 1]) of a second vote on the same terms, each
    hypothesis's costs averaged by a guided filter of the reference frame; a pixel either vote puts at
    infinity goes there. None (or with `sgm`): none.
    """
    h, w = g_ref.shape
    fr = _features(g_ref, presmooth)
    others = [(_features(g, presmooth), R, np.asarray(t, np.float64)) for g, R, t in partners]
    keep = max(1, len(others) // 2)
    Kinv = np.linalg.inv(K)
    e3 = np.array([0.0, 0.0, 1.0])
    rhos = np.linspace(0.0, rho_max, n)
    ones = np.ones((1, 3), np.float32)
    costs = np.empty((n, h, w), np.float32)
    per = np.empty((len(others), h, w), np.float32)
    best = np.zeros((h, w), np.intp)
    # the guided vote needs only whether infinity's filtered cost is the lowest: a running minimum of
    # the others' instead of a second volume
    guided = (cv2.ximgproc.createGuidedFilter(fr[:, :, 0], int(guided_vote[0]), float(guided_vote[1]))
              if guided_vote is not None and sgm is None and n > 1 else None)
    for k, rho in enumerate(rhos):
        for i, (fo, R, t) in enumerate(others):
            H = K @ (R + rho * np.outer(t, e3)) @ Kinv
            warped = cv2.warpPerspective(fo, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_REPLICATE)
            per[i] = cv2.transform(cv2.absdiff(warped, fr), ones)  # sum of the three channels' |differences|
        c = per[0] if len(others) == 1 else (np.min(per, axis=0) if keep == 1 else
                                              np.sort(per, axis=0)[:keep].mean(axis=0))
        if guided is not None:
            filtered = guided.filter(c)
            if k == 0:
                guided_infinity = filtered
            elif k == 1:
                guided_rest = filtered
            else:
                np.minimum(guided_rest, filtered, out=guided_rest)
        costs[k] = cv2.boxFilter(c, -1, (window, window)) if window > 1 else c
        if k == 0:  # running argmin (first minimum kept, as np.argmin): cheaper than one over the volume
            low = costs[0].copy()
        else:
            better = costs[k] < low
            best[better] = k
            np.minimum(low, costs[k], out=low)
    at_infinity = None
    if sgm is not None:
        costs = sgm_aggregate(costs, fr[:, :, 0], p1=sgm[0], p2=sgm[1])
        best = np.argmin(costs, axis=0)
    else:
        votes = []  # pixels an aggregation puts at infinity (argmin 0: no lower cost elsewhere)
        if infinity_vote is not None:
            votes.append(np.argmin(sgm_aggregate(costs, fr[:, :, 0], p1=infinity_vote[0], p2=infinity_vote[1]),
                                   axis=0) == 0)
        if guided is not None:
            votes.append(guided_infinity <= guided_rest)
        if votes:
            at_infinity = np.logical_or.reduce(votes) & (best <= INFINITY_VOTE_REACH)
    smoothed = 1.0 / (2.0 * np.sqrt(np.pi) * presmooth) if presmooth > 0 else 1.0  # white noise through the Gaussian
    rho, distinct, above = _best_hypothesis(costs, rhos, best, noise / 255.0 * min(1.0, smoothed))
    if at_infinity is not None:
        rho[at_infinity] = 0.0
    return rho, distinct, above


def _best_hypothesis(costs: np.ndarray, rhos: np.ndarray, best: np.ndarray,
                     noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho of the lowest cost with a parabola through its neighbours, distinctiveness of that
    minimum, its margin above the noise). `best`: index of the lowest cost per pixel; `noise`: the
    noise's standard deviation in the (smoothed) gray in [0, 1] (module doc)."""
    n, h, w = costs.shape
    yy, xx = np.mgrid[0:h, 0:w]
    c0 = costs[best, yy, xx]
    cm = costs[np.maximum(best - 1, 0), yy, xx]
    cp = costs[np.minimum(best + 1, n - 1), yy, xx]
    denom = cm - 2 * c0 + cp
    off = np.where((best > 0) & (best < n - 1) & (denom > 1e-9), 0.5 * (cm - cp) / np.maximum(denom, 1e-9), 0.0)
    rho = (best + np.clip(off, -0.5, 0.5)) * (rhos[1] - rhos[0])
    for k in range(-2, 3):  # mask the best's neighbourhood in place; the rest holds the runner-up
        costs[np.clip(best + k, 0, n - 1), yy, xx] = np.inf
    second = np.min(costs, axis=0)
    second = np.where(np.isfinite(second), second, c0)  # fewer than 6 hypotheses: no runner-up
    margin = second - c0
    distinct = np.clip(margin / (second + 1e-3), 0.0, 1.0)
    if noise > 0:
        z2 = (margin / noise) ** 2
        above = z2 / (1.0 + z2)
    else:
        above = np.ones_like(margin)
    return rho.astype(np.float32), distinct.astype(np.float32), above.astype(np.float32)

"""How noisy a frame is: the standard deviation of its sensor noise in gray levels, from the frame alone.

Why: a matching cost cannot tell a surface's texture from noise, and on noisy frames every depth
hypothesis of a plane sweep wins somewhere, as distinctly as a real match on clean frames (on a flat
gray with noise alone, the best cost beats the runner-up by 13-17 % at the median: a distinctiveness
that counted as confident). Knowing the noise, the sweep can ask how far above it the best match stands.

The estimate is Immerkaer's (1996): the frame filtered by the difference of two Laplacians
[[1, -2, 1], [-2, 4, -2], [1, -2, 1]], which cancels planes and gentle curvature, has standard deviation
6 sigma on white noise of sigma; texture and edges leak into it, so the robust spread (1.4826 x the
median absolute value) is taken over the flatter half of the frame (gradient magnitude at or below
its median) only. On lfbench frames, textured city and all, it reads 0.25-0.5 (the 8-bit
quantisation) without added noise and 6.2-6.4 with noise of about 6 gray levels; the real RGB-D room
0.25. It is a lower bound where the frame is smooth and coarsely quantised (the Meridian ProRes,
dark and out of focus, reads 0): such frames count as noise-free. (depth/temporal_stats.
pixel_noise_sigma measures a *depth map's* noise against its 8 neighbours over all pixels: a map is
piecewise smooth, where a frame's texture would read as noise.)
"""
from __future__ import annotations

import cv2
import numpy as np

_LAPLACIAN_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def gray_noise_sigma(gray8: np.ndarray) -> float:
    """Standard deviation of the noise of an 8-bit gray frame, in gray levels (module doc)."""
    g = np.asarray(gray8, np.float32)
    if min(g.shape) < 3:
        return 0.0
    response = cv2.filter2D(g, -1, _LAPLACIAN_DIFFERENCE)[1:-1, 1:-1]
    grad = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[1:-1, 1:-1]
    flat = grad <= np.median(grad)
    return float(1.4826 * np.median(np.abs(response[flat])) / 6.0)


def excess_noise(gray8: np.ndarray, others: list[np.ndarray]) -> float:
    """Noise of a frame and its partners beyond what 8-bit quantisation and mild grain reach (gray
    levels): the rms of their `gray_noise_sigma`, less 1, at least 0. Clean 8-bit frames read 0.25-0.5
    and count as noise-free, so what motion depth does on them is what it did before noise was
    measured; above 1 the measures of plane_sweep.py come in continuously (no switch at a threshold
    for a frame's noise to flicker across)."""
    levels = [gray_noise_sigma(g) for g in [gray8, *others]]
    return max(0.0, float(np.sqrt(np.mean(np.square(levels)))) - 1.0)


CLEAN_PRESMOOTH_PX = 0.7  # working px: what even a noise-free frame is smoothed by before the sweep


def sweep_presmooth(noise: float) -> float:
    """Gaussian sigma (working px) the plane sweep smooths the frames by before its costs, for
    `noise` gray levels beyond 1 (`excess_noise`): 0.5 px per level, at least CLEAN_PRESMOOTH_PX,
    at most 1.5 px.

    Smoothing takes out the resampling bias of the sweep (plane_sweep.py), which grows with the
    noise, and blurs 1-2 px twigs and wires into what is behind them. With 6 gray levels of sensor
    noise the refocus rose with the smoothing (none 17.5-17.8 dB, 1 px 18.9-19.0, 1.5 px 19.4-19.8,
    2 px 19.6-20.2) and AbsRel turned past 1 px, hence at most 1.5. Noise-free frames were not
    smoothed until 2026-12-07 because lfbench seed 6's twigs lose depth (AbsRel on them 0.29 -> 0.38
    at 0.7 px); but the picture near them does not (the refocus within 2 px of thin structures rose
    on 14 of 18 clips, fell on 3 by at most 0.07 dB), and 0.7 px raised the refocus of all 18 clips
    at 384 (19.49 -> 19.77 dB), 11 of 12 at 720p (23.95 -> 24.14 dB), and the real RGB-D room's
    AbsRel at the default focal length (0.146 -> 0.139; at its sensor's 525 px 0.135 -> 0.140)
    (docs/benchmarks/motion_depth.md, level29)."""
    return min(1.5, max(CLEAN_PRESMOOTH_PX, 0.5 * noise))

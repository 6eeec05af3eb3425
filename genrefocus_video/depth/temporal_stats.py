"""Robust per-frame statistics of the temporal depth smoother (depth/temporal.py).

Every statistic here is a median or a weighted median over a strided sample of the frame
(`sample`): a 720p map has ~0.9 M pixels and a full-frame median costs ~10 ms each, while ~20 k
evenly spread samples give the same robust level to well under 1 % (the sample is deterministic,
so a chunked render reproduces the unsplit one).
"""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

SAMPLES = 20000  # pixels a statistic looks at


def sample(*maps: np.ndarray, n: int = SAMPLES) -> list[np.ndarray]:
    """The same evenly strided pixels of each map (flattened): about `n` of them."""
    h, w = maps[0].shape[:2]
    step = max(1, int(math.sqrt(h * w / max(n, 1))))
    return [np.ascontiguousarray(m[step // 2::step, step // 2::step]).reshape(-1) for m in maps]


def robust_sigma(x: np.ndarray, m: np.ndarray) -> float:
    """1.4826 MAD of x over trusted pixels (m > 0.5), all pixels when too few are trusted."""
    xs, ms = sample(x, m)
    v = xs[ms > 0.5]
    if v.size < 16:
        v = xs
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def robust_shift(src: np.ndarray, dst: np.ndarray, m: np.ndarray) -> float:
    """Additive b with src + b ~ dst over trusted pixels (m > 0.5): the median difference, robust to
    symmetric noise and to a minority that really moved (a least-squares affine fit of a noisy
    `src` shrinks the slope every frame and the state drifts: measured -0.8 dB on lfbench)."""
    s, d, ms = sample(src, dst, m)
    sel = ms > 0.5
    if np.count_nonzero(sel) < 64:
        return 0.0
    return float(np.median((d - s)[sel]))


def depth_bands(lx: np.ndarray, bins: int) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Depth bands log-spaced on `lx` (log disparity) between its 1st and 99th percentile: each
    value's band and the pixel count of each band; None where the range is flat (< 1e-3). A band
    holding fewer than `band_floor` pixels (a few mixed pixels at depth edges, outliers) gets no
    vote in the robust statistics below rather than a big one."""
    lo, hi = np.percentile(lx, [1, 99])
    if hi - lo < 1e-3:
        return None
    idx = np.clip(((lx - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    return idx, np.bincount(idx, minlength=bins)


def band_floor(n: int) -> float:
    """Pixels a depth band needs (of `n` sampled) to count: 1 %, at least 16."""
    return max(16.0, 0.01 * n)


def _log_ratios(src: np.ndarray, dst: np.ndarray, m: np.ndarray
                ) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """On the sampled trusted pixels (m > 0.5) where both maps are positive: src, log src and
    log(dst / src), in float64; None with fewer than 64 such pixels (too few to fit a scale)."""
    s, d, ms = sample(src, dst, m)
    sel = (ms > 0.5) & (d > 0) & (s > 0)
    if np.count_nonzero(sel) < 64:
        return None
    sv = s[sel].astype(np.float64)
    lx = np.log(sv)
    return sv, lx, np.log(d[sel].astype(np.float64)) - lx


def weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    """The value of `v` at which the cumulative weight `w` (non-negative), in order of v, reaches half."""
    o = np.argsort(v)
    cw = np.cumsum(w[o])
    return float(v[o][min(int(np.searchsorted(cw, 0.5 * cw[-1])), v.size - 1)])


def robust_scale_binned(src: np.ndarray, dst: np.ndarray, m: np.ndarray, bins: int = 12) -> float:
    """Global scale a with a*src ~ dst over trusted pixels (m > 0.5), robust to noise in `src`.

    a = exp of the weighted median of the per-pixel log ratios log(dst/src): a median is unbiased
    under symmetric (log) noise in `src`, where a least-squares slope is pulled toward 0
    (regression dilution), and it ignores a minority that really moved in depth. Weights: 1 /
    (pixels in the pixel's depth band), bands log-spaced on `src`, bands with < 1% of the pixels
    ignored, so each depth band votes alike and the far background (often most pixels) does not
    decide alone. Bands come from the new map, never from `dst` (the state), so the weights do not
    jump with tiny differences in the state and chunked runs converge to sequential ones.
    """
    ratios = _log_ratios(src, dst, m)
    if ratios is None:
        return 1.0
    _, lx, lr = ratios
    bands = depth_bands(lx, bins)
    if bands is None:
        return float(np.exp(np.median(lr)))
    idx, counts = bands
    w = np.where(counts[idx] >= band_floor(lx.size), 1.0 / counts[idx], 0.0)
    if w.sum() <= 0:
        return float(np.exp(np.median(lr)))
    return float(np.exp(weighted_median(lr, w)))


def percentiles(x: np.ndarray, q: list[float]) -> np.ndarray:
    """np.percentile on the strided sample (the disparity range, the log floor)."""
    return np.percentile(sample(x)[0], q)


def pixel_noise_sigma(u: np.ndarray) -> float:
    """Robust i.i.d. noise level of a map: 1.4826 MAD of u minus the mean of its 8 neighbours,
    divided by sqrt(1 + 1/8) (the residual's std for white noise). Piecewise-smooth maps give ~0,
    depth edges are a minority and do not move the median."""
    k = np.ones((3, 3), np.float32) / 8.0
    k[1, 1] = 0.0
    r = sample(u - cv2.filter2D(u, -1, k, borderType=cv2.BORDER_REFLECT))[0]
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / math.sqrt(1.125))


def spatial_denoise(u: np.ndarray, sigma_noise: float) -> np.ndarray:
    """Edge-preserving bilateral filter (Tomasi & Manduchi 1998), 5x5, spatial sigma 1.5 px, range
    sigma 2 x the noise level: averages within a surface, never across a depth edge larger than
    the noise (1-px wires keep their depth). A no-op on clean maps (sigma_noise ~ 0)."""
    if sigma_noise <= 1e-6:
        return u
    return cv2.bilateralFilter(u.astype(np.float32), 5, 2.0 * sigma_noise, 1.5)


def robust_affine_slope(src: np.ndarray, dst: np.ndarray, m: np.ndarray, bins: int = 12) -> float:
    """Slope a of dst ~ a*src + b over trusted pixels (m > 0.5), fitted jointly with the shift b.

    Each depth band (log-spaced on `src`, as in `robust_scale_binned`, bands with < 1% of the
    pixels ignored) gives one point: its median src and src x exp(its median log ratio), so noise
    in `src` does not dilute the slope; the slope is the Theil-Sen median of the pairwise slopes
    between the band points (each band alike). A scale-only median takes a shift jump for a scale
    change when the far background, which a shift moves most in log, holds many bands' worth of
    pixels. Fewer than 3 bands: the scale-only estimate."""
    ratios = _log_ratios(src, dst, m)
    if ratios is None:
        return 1.0
    sv, lx, lr = ratios
    bands = depth_bands(lx, bins)
    if bands is None:
        return float(np.exp(np.median(lr)))
    idx, counts = bands
    xs, ys = [], []
    for k in np.nonzero(counts >= band_floor(lx.size))[0]:
        band = idx == k
        x = float(np.median(sv[band]))
        xs.append(x)
        ys.append(x * float(np.exp(np.median(lr[band]))))
    if len(xs) < 3:
        return robust_scale_binned(src, dst, m, bins)
    x, y = np.array(xs), np.array(ys)
    i, j = np.triu_indices(x.size, 1)
    dx = x[j] - x[i]
    ok = np.abs(dx) > 1e-12
    return float(np.median((y[j] - y[i])[ok] / dx[ok])) if np.any(ok) else 1.0


def affine_log_residual(src: np.ndarray, dst: np.ndarray, m: np.ndarray, log_scale: float, shift: float,
                        bins: int = 12) -> float:
    """How well an affine fit src exp(log_scale) + shift ~ dst explains the frame, each depth band
    alike (bands as in `robust_scale_binned`): the mean over bands of the band's median |log
    residual| on trusted pixels (m > 0.5); inf where it leaves nothing positive to compare. A
    plain median is the far background's alone, which any fitted shift matches."""
    s, d, ms = sample(src, dst, m)
    new = s.astype(np.float64) * math.exp(log_scale) + shift
    sel = (ms > 0.5) & (d > 0) & (s > 0) & (new > 0)
    if np.count_nonzero(sel) < 64:
        return math.inf
    lx = np.log(s[sel].astype(np.float64))
    res = np.abs(np.log(new[sel] / d[sel]))
    bands = depth_bands(lx, bins)
    if bands is None:
        return float(np.median(res))
    idx, counts = bands
    meds = [float(np.median(res[idx == k])) for k in np.nonzero(counts >= band_floor(lx.size))[0]]
    return float(np.mean(meds)) if meds else float(np.median(res))


def largest_log_change(d: np.ndarray, log_scale: float, shift: float) -> float:
    """The largest |log(new / old)| that the fit d -> d exp(log_scale) + shift makes within the
    frame's range (2nd..98th percentile of d, the low end at least 1/50 of the high: a sky near
    disparity 0 would make any shift look gross): a shift changes far disparities most, so a shift
    jump of a third of the far background's disparity is as gross as a 35 % scale jump (inf: the
    fit makes part of the range negative)."""
    lo, hi = (float(v) for v in percentiles(d, [2, 98]))
    out = 0.0
    for x in (max(lo, 0.02 * hi), hi):
        v = math.exp(log_scale) + shift / max(x, 1e-9)
        out = max(out, abs(math.log(v)) if v > 0 else math.inf)
    return out

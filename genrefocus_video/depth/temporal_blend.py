"""The temporal depth smoother's per-pixel step (depth/temporal.py 4.): which trust each band of
the innovation gets (`band_trusts`: calm pixels the regional trust, spikes their own; lowered where
a surface moves in depth, `motion_in_depth_variance` / `_discount`) and the confidence-weighted mean of
prediction and observation per band (`blend`), kept to one surface or the other at depth edges
(`one_surface`)."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .temporal_analysis import fade_to_one, gaussian, up
from .temporal_stats import robust_sigma


def band_trusts(delta: np.ndarray, m: np.ndarray, m_a: np.ndarray, f: int, sigma: float,
                rng: float, loom: Optional[np.ndarray], persist: Optional[np.ndarray], spike_sigmas: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the innovation the low band is taken of, trust of the high band, trust of the low band).

    Calm pixels (|innovation| within a few robust sigmas, not looming) take the photometric
    trust blurred over the band's scale (the high band at least its own): a smooth error field is as well
    registered one pixel off, and the per-pixel trust let 50-65 % of the low-frequency and
    blotchy noise through. Spikes (a displaced depth edge, the flow's miss at one) keep the
    pixel's own trust and enter the low-pass clipped to +-spike_sigmas sigmas: spread into the
    low band they ring once the bands are weighted differently. Clipping, not masking: a mask
    that switched with the innovation (which depends on the state) kept chunked runs 2-4 % of
    the range from the unsplit one after 20 frames (bound 1e-3); a clip changes the low-pass by
    at most what it changes the input. Looming pixels keep their own trust (no lag)."""
    if spike_sigmas <= 0:
        return delta, m, m
    lim = spike_sigmas * max(robust_sigma(delta, m), 0.01 * rng)
    calm = gaussian(delta, 0.5 * lim)
    if persist is not None:  # a spike no neighbouring frame backs is transient noise: calm
        calm = fade_to_one(calm, persist)
    if loom is not None:
        calm *= (np.abs(loom) < 0.01)
    m_regional = up(cv2.GaussianBlur(m_a, (0, 0), max(sigma / f, 0.5)), m.shape)
    gain = calm * (m_regional - m)
    return np.clip(delta, -lim, lim), m + np.maximum(gain, 0.0), m + gain


def motion_in_depth_variance(loom: np.ndarray, loom_err: float, still: float = 0.01) -> np.ndarray:
    """The prior's extra error variance where its surface moves in depth, in noise variances:
    (m / loom_err)^2, m = how far the looming log scale per frame (`loom`) exceeds `still` (the
    smoother's "does not loom": the flow's divergence is that noisy at outlines), `loom_err` = the
    observation's noise sigma per unit of looming. A Kalman filter's process noise: the flow sees
    only part of a surface's motion in depth, and the prediction misses the rest."""
    x = np.abs(loom)
    x -= np.float32(still)
    np.maximum(x, 0.0, out=x)
    x *= np.float32(1.0 / loom_err)
    return np.square(x, out=x)


def motion_in_depth_discount(trust: np.ndarray, variance: np.ndarray, weight: float) -> np.ndarray:
    """`trust` of a prior (weight x trust observations' worth) with its error variance grown by
    `variance` noise variances (`motion_in_depth_variance`): its weight w becomes w / (1 + w variance).
    Exact depth (noise ~ the warp's error) then follows a surface moving in depth instead of
    averaging the part of its motion the flow missed; a noisy estimate (noise ~ its error) keeps its
    smoothing there. Never raises a weight: the memory bound stands."""
    x = np.multiply(variance, trust)
    x *= np.float32(weight)
    x += 1.0
    return np.divide(trust, x, out=x)


def blend(P_u: np.ndarray, H: np.ndarray, L: np.ndarray, trust_h: np.ndarray, trust_l: np.ndarray,
           c: Optional[np.ndarray], Cp: Optional[np.ndarray], lam: float, lam_px: float
           ) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Confidence-weighted mean per band: prior weight lambda x trust x Cp, capped at lam_px x
    the current weight max(c, 0.05) (bounded memory). No confidence anywhere (c and Cp None):
    the weights are scalars and the carried confidence stays None (1 everywhere)."""
    if c is None and Cp is None:
        return P_u + _current_share(trust_h, lam, lam_px, H) + _current_share(trust_l, lam, lam_px, L), None
    c = np.ones_like(P_u) if c is None else c
    Cp = np.ones_like(P_u) if Cp is None else Cp
    wc = np.maximum(c, 0.05)
    cap = lam_px * wc
    wp_h = np.minimum(lam * trust_h * Cp, cap)
    wp_l = np.minimum(lam * trust_l * Cp, cap)
    S = P_u + (wc / (wp_h + wc)) * H + (wc / (wp_l + wc)) * L
    return S, np.clip((wp_h * Cp + wc * c) / (wp_h + wc), 0.0, 1.0).astype(np.float32)


def _current_share(trust: np.ndarray, lam: float, lam_px: float, band: np.ndarray) -> np.ndarray:
    """1 / (min(lam trust, lam_px) + 1) x band: the current observation's share of a band with
    confidence 1 everywhere, in one array (the expression's operations in order: the same bits)."""
    w = np.multiply(trust, lam)
    np.minimum(w, lam_px, out=w)
    w += 1.0
    np.divide(1.0, w, out=w)
    w *= band
    return w


def between(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x clipped, per pixel and in place, to the interval between a and b (the observation and the
    prediction): what :func:`blend` means, a weighted mean of the two.

    Each band of blend() has its own weights, so where the low band (a local mean of the innovation)
    and the high band (the pixel's own rest) have opposite signs, one passing and one held back, the
    sum lands beyond both: by 0.1-0.4 in log on a few pixels in 10^4 on lfbench; by 5 (x150) on a 4K
    clip whose motion-depth frame followed three defocus-cue fallback frames (a low band of -5 beside
    pixels with none gave disparities of 169 where neither map exceeded 4.3: blur radii clamped at the
    frame's reach, and 12 s a frame to render them instead of 6)."""
    lo = np.minimum(a, b)
    np.maximum(x, lo, out=x)
    np.maximum(a, b, out=lo)
    np.minimum(x, lo, out=x)
    return x


def one_surface(x: np.ndarray, a: np.ndarray, b: np.ndarray, jump: float, lean: float) -> np.ndarray:
    """x (a weighted mean of a and b; log disparity), except where a and b name different surfaces
    (|a - b| > `jump`): there b where x lies within `lean` x |a - b| of it, else a.

    A mean of a near and a far surface is a depth no surface has; where that depth is near the focus
    plane the renderer draws the pixel sharp between two blurred surfaces. A learned estimator's
    outline displaced by a few pixels, dilated on one frame and eroded on the next, made exactly that
    of a string of lights (lfbench seed 5 fixed, its own `edges` draw, focus 0.5): sharp points where
    both surfaces are blurred, frames 4-6 at 19.8-20.8 dB against 23.4-23.9 unsmoothed. `lean` < 0.5
    keeps a (the observation) unless the blend is clearly b's (the prediction's): at strength 0.8 the
    blend leans toward the prediction, and the nearer of the two copied exact depth's lagging outline
    whole. A jump of x2.7 (1 in log) is a change between surfaces, not estimator noise (blotches reach
    it at 4 sigma); lower ones took blotchy noise for surfaces."""
    gap = np.abs(a - b)
    where = gap > np.float32(jump)
    if not where.any():
        return x
    chosen = np.where(np.abs(x - b) < np.float32(lean) * gap, b, a)
    return np.where(where, chosen, x).astype(np.float32, copy=False)

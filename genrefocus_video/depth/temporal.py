"""Flow-guided temporal depth smoothing: remove flicker without lag or smearing.

Per frame t, with S_{t-1} the previous smoothed disparity and f the flow t -> t-1:

1. Prediction P = S_{t-1}(p + f(p)) (backward warp), trusted per pixel by
   m = forward-backward consistency × photometric consistency of the warped previous frame
   (occlusions, disocclusions and flow failures get m ~ 0, so nothing is smeared across them).
2. Innovation delta = d_t - P, split into a low band L (m-weighted low-pass, sigma ~ 2% of the
   frame size, edge-aware: a domain-transform filter guided by P that does not mix surfaces more
   than ~15% apart in disparity) and a high band H = delta - L. Per-pixel noise lives in H; a region that
   really moves in depth shows up as a coherent change in L.
3. Gates: g_H = exp(-(H / 2 sigma_H)^2 / 2) and g_L = exp(-(L / tau_L)^2 / 2) with robust noise
   levels sigma_H (1.4826 MAD of H) and tau_L = 2 sigma_L + 1% of the disparity range: changes
   far above the noise are real (motion in depth, edges the flow missed) and pass through at once.
4. Blend as a confidence-weighted mean per band: prior weight w_p = lambda m g Cp with
   lambda = r / (1 - r) (r = the memory, see below) and Cp the warped carried confidence, current
   weight w_c = max(c_t, 0.05): S_t = P + w_c/(w_p^H + w_c) H + w_c/(w_p^L + w_c) L.
5. Scene cuts (reported by the flow stage) and the first frame reset: S_t = d_t.

0. Global alignment (before 2.): per-frame estimators jitter the whole map's scale from frame to
   frame, which the gates of 3. take for a real change and let through. The new map is pulled
   toward the looming-corrected prediction by a robust global scale (weighted median of per-pixel
   log ratios, each depth band voting alike, on trusted pixels that do not loom) and then a
   robust global shift (median residual): estimated sources know depth only up to an affine map,
   and for files it rejects most of an outlier frame. Depth files and estimates (`affine_ambiguous`)
   take the same path; the flag only forces the alignment on when `global_align` is off.
   The pull share f = 1 - sqrt(1 - r) takes half of the state's (log) budget; the per-pixel prior
   share of 4. is capped at q with (1 - f)(1 - q) = 1 - r, so the output's sensitivity to the
   previous state stays <= r.

Memory: r = sqrt(s) for strength s (lambda = r / (1 - r) in 4.); r = s before 2026-12-04 left 0.5
too weak to remove half of the flicker that per-frame estimator errors add (benchmarks/
temporal_error_models.py).

Chunked rendering: the state's influence decays at least as fast as r^n, so
`warmup = ceil(log(tol) / log(r))` preceding frames give a result within `tol` (default 1e-3,
relative to the disparity range) of an unsplit run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..flow import photometric_consistency, warp


def strength_to_memory(strength: float) -> float:
    """The state's largest share r in the output at `strength` (0..0.95): r = sqrt(s)."""
    s = min(max(float(strength), 0.0), 0.95)
    return math.sqrt(s)


def strength_to_lambda(strength: float) -> float:
    r = strength_to_memory(strength)
    return r / (1.0 - r)


def warmup_frames(strength: float, tol: float = 1e-3) -> int:
    """Preceding frames needed for a chunk to match a sequential run within `tol` of the range."""
    lam = strength_to_lambda(strength)
    if lam <= 0:
        return 0
    r = lam / (1.0 + lam)
    return int(math.ceil(math.log(tol) / math.log(r)))


def _masked_blur(x: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(x * m, (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


def _masked_edge_aware_blur(x: np.ndarray, m: np.ndarray, guide: np.ndarray, sigma: float,
                            sigma_guide: float) -> np.ndarray:
    """m-weighted low-pass of x that does not cross edges of `guide` (log-disparity): the domain
    transform filter (Gastal & Oliveira 2011, normalised convolution) applied to x*m and m. A
    plain Gaussian low band carries a change of the background (e.g. an estimator's shift of the
    far disparities) into the foreground beside it, which then flickers."""
    g = guide.astype(np.float32)
    num = cv2.ximgproc.dtFilter(g, (x * m).astype(np.float32), sigma, sigma_guide, cv2.ximgproc.DTF_NC)
    den = cv2.ximgproc.dtFilter(g, m.astype(np.float32), sigma, sigma_guide, cv2.ximgproc.DTF_NC)
    return num / np.maximum(den, 1e-3)


def _robust_sigma(x: np.ndarray, m: np.ndarray) -> float:
    v = x[m > 0.5]
    if v.size < 16:
        v = x.reshape(-1)
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def robust_shift(src: np.ndarray, dst: np.ndarray, m: np.ndarray) -> float:
    """Additive b with src + b ~ dst over trusted pixels (m > 0.5): the median difference, robust to
    symmetric noise and to a minority that really moved (a least-squares affine fit of a noisy
    `src` shrinks the slope every frame and the state drifts: measured -0.8 dB on lfbench)."""
    sel = m > 0.5
    if np.count_nonzero(sel) < 64:
        return 0.0
    return float(np.median((dst - src)[sel]))


def _weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(v)
    cw = np.cumsum(w[o])
    return float(v[o][min(int(np.searchsorted(cw, 0.5 * cw[-1])), v.size - 1)])


def robust_scale_binned(src: np.ndarray, dst: np.ndarray, m: np.ndarray, bins: int = 12) -> float:
    """Global scale a with a*src ~ dst over trusted pixels (m > 0.5), robust to noise in `src`.

    Per-frame estimators jitter the whole map's scale from frame to frame. a = exp of the weighted
    median of the per-pixel log ratios log(dst/src): a median is unbiased under symmetric (log)
    noise in `src`, where a least-squares slope is pulled toward 0 (regression dilution), and it
    ignores a minority that really moved in depth (a subject the looming prediction did not fully
    follow). Weights: 1 / (pixels in the pixel's depth band), bands log-spaced on `src`, bands
    with < 1% of the pixels ignored, so each depth band votes alike and the far background
    (often most pixels) does not decide alone. Bands come from the new map, never from `dst`
    (the state): the weights must not jump with tiny differences in the state, or chunked runs
    would not converge to sequential ones.
    """
    sel = (m > 0.5) & (dst > 0) & (src > 0)
    if np.count_nonzero(sel) < 64:
        return 1.0
    lr = (np.log(dst[sel].astype(np.float64)) - np.log(src[sel].astype(np.float64)))
    lx = np.log(src[sel].astype(np.float64))
    lo, hi = np.percentile(lx, [1, 99])
    if hi - lo < 1e-3:
        return float(np.exp(np.median(lr)))
    idx = np.clip(((lx - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.float64)
    # sparse bands (a few mixed pixels at depth edges, outliers) get no vote rather than a big one
    w = np.where(counts[idx] >= max(16.0, 0.01 * lx.size), 1.0 / counts[idx], 0.0)
    if w.sum() <= 0:
        return float(np.exp(np.median(lr)))
    return float(np.exp(_weighted_median(lr, w)))


def pixel_noise_sigma(u: np.ndarray) -> float:
    """Robust i.i.d. noise level of a map: 1.4826 MAD of u minus the mean of its 8 neighbours,
    divided by sqrt(1 + 1/8) (the residual's std for white noise). Piecewise-smooth maps give ~0,
    depth edges are a minority and do not move the median."""
    k = np.ones((3, 3), np.float32) / 8.0
    k[1, 1] = 0.0
    r = u - cv2.filter2D(u, -1, k, borderType=cv2.BORDER_REFLECT)
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / math.sqrt(1.125))


def spatial_denoise(u: np.ndarray, sigma_noise: float) -> np.ndarray:
    """Edge-preserving bilateral filter (Tomasi & Manduchi 1998), 5x5, spatial sigma 1.5 px, range
    sigma 2 x the noise level: averages within a surface, never across a depth edge larger than
    the noise (1-px wires keep their depth). A no-op on clean maps (sigma_noise ~ 0)."""
    if sigma_noise <= 1e-6:
        return u
    return cv2.bilateralFilter(u.astype(np.float32), 5, 2.0 * sigma_noise, 1.5)


def looming_log_scale(flow_to_prev: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    """log of the local image expansion s from frame t-1 to t, from the flow's divergence.

    An object whose image scales by s about a centre c has flow t -> t-1 f(p) = (p - c)(1/s - 1),
    so div f = 2 (1/s - 1) and s = 1 / (1 + div f / 2). Image scale is inversely proportional to
    distance, so its disparity scales by the same s ("looming"): the prediction carries it, and a
    subject moving in depth is followed without lag. Smoothed (masked Gaussian) and clipped to
    +-0.3 (a 35% change per frame) against divergence spikes at occlusion boundaries.
    """
    fx = cv2.GaussianBlur(flow_to_prev[..., 0], (0, 0), 1.5)
    fy = cv2.GaussianBlur(flow_to_prev[..., 1], (0, 0), 1.5)
    div = cv2.Sobel(fx, cv2.CV_32F, 1, 0, ksize=3) / 8.0 + cv2.Sobel(fy, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    log_s = -np.log(np.maximum(1.0 + 0.5 * div, 0.5))
    return np.clip(_masked_blur(log_s.astype(np.float32), m, sigma), -0.3, 0.3)


@dataclass
class SmoothInfo:
    reset: bool
    trusted_fraction: float
    sigma_high: float
    sigma_low: float


class TemporalDepthSmoother:
    """Stateful smoother (see module doc); feed frames in order, `reset()` at chunk/scene starts."""

    def __init__(self, strength: float, band_sigma_frac: float = 0.02, gate_high: float = 2.0,
                 gate_low: float = 2.0, log_domain: bool = True, edge_search: bool = True,
                 spatial: bool = True, looming: bool = True, global_align: bool = True,
                 edge_aware_bands: bool = True) -> None:
        self.strength = float(strength)
        self.global_align = global_align
        self.edge_aware_bands = edge_aware_bands
        self.band_edge_sigma = 0.15  # log-disparity: bands do not mix surfaces > ~15% apart
        # the global alignment may use this part of the state's (log) budget: pull share
        # 1 - (1 - r_max)^align_budget, the per-pixel blend keeps the rest
        self.align_budget = 0.5
        self.log_domain = log_domain
        self.interp = cv2.INTER_NEAREST  # no fg/bg mixing in the prior at depth edges
        self.edge_search = edge_search
        # a global scale jump beyond exp(+-0.3) (35 %) between frames on pixels that do not loom is
        # the estimator's: the frame is aligned fully to the prediction instead of partially
        self.outlier_log_scale = 0.3  # 0.2 also caught 2.5-sigma frames of 8 % scale jitter (-0.4 dB)
        self.spatial = spatial
        self.looming = looming
        self.gate_high, self.gate_low = gate_high, gate_low
        self.lam = strength_to_lambda(strength)
        self.band_sigma_frac = band_sigma_frac
        self.reset()

    def reset(self) -> None:
        self.prev_rgb: Optional[np.ndarray] = None
        self.prev_s: Optional[np.ndarray] = None
        self.prev_c: Optional[np.ndarray] = None

    def _spatial(self, d: np.ndarray) -> np.ndarray:
        if self.log_domain:
            eps = np.float32(1e-3 * max(float(np.percentile(d, 98)), 1e-6))
            u = np.log(np.maximum(d, eps))
            sigma = pixel_noise_sigma(u)
            return d if sigma <= 1e-6 else np.exp(spatial_denoise(u, sigma)).astype(np.float32)
        return spatial_denoise(d, pixel_noise_sigma(d))

    def _edge_candidates(self, d_u: np.ndarray, P_u: np.ndarray, flow: np.ndarray, m: np.ndarray,
                         eps: Optional[np.float32]) -> np.ndarray:
        """Where the prediction disagrees with the observation by more than 2 robust sigmas (flow
        off by a pixel at a depth edge), take the 3x3 neighbour of p + f(p) in the previous map
        closest to the observation: it lies on the same surface, so edges neither smear nor reset."""
        r = d_u - P_u
        s = 1.4826 * float(np.median(np.abs(r[m > 0.5]))) if np.any(m > 0.5) else float(np.std(r))
        bad = np.abs(r) > 2.0 * max(s, 1e-6)
        if not bad.any():
            return P_u
        best, best_err = P_u.copy(), np.abs(r)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dx == 0 and dy == 0:
                    continue
                q = warp(self.prev_s, flow + np.array([dx, dy], np.float32), interpolation=cv2.INTER_NEAREST)
                q_u = np.log(np.maximum(q, eps)) if eps is not None else q
                err = np.abs(d_u - q_u)
                take = bad & (err < best_err)
                best[take], best_err[take] = q_u[take], err[take]
        return best

    def _align_global(self, d: np.ndarray, P: np.ndarray, loom: Optional[np.ndarray], m: np.ndarray,
                      c: np.ndarray, hi: float, r_max: float) -> tuple[np.ndarray, float]:
        """(d pulled towards the prediction's global scale and shift, the share pulled).

        Per-frame estimators jitter the whole map's scale (and shift) from frame to frame, which
        the per-pixel gates take for a real change. Aligning d to the (looming-corrected) prediction
        removes it; the pull is partial (an exponential moving average of the per-frame scale) so
        old state still fades geometrically, and a real global change that looming missed still
        comes through."""
        frac = 1.0 - (1.0 - r_max) ** self.align_budget
        P_fit = P * np.exp(loom) if loom is not None else P
        # fitted where the flow shows no looming (|log s| < 1%): there the true depth did not
        # change, so a scale change is the estimator's; a camera dolly (everything looms)
        # leaves too few pixels and no alignment (a = 1)
        steady = (np.abs(loom) < 0.01) if loom is not None else np.ones(d.shape, bool)
        sel = m * (c > 0.3) * steady
        a = robust_scale_binned(d, P_fit, sel)
        la = math.log(a) if 0.5 < a < 2.0 else 0.0
        # an outlier frame (a global jump no real scene makes in one frame) is aligned fully; the
        # state's budget below stays as reserved (the frame's sensitivity to it is 1, not > 1)
        f = 1.0 if abs(la) > self.outlier_log_scale else frac
        d_new = d * math.exp(f * la)  # geometric pull: an EMA of the log-scale
        # and a shift (the median residual), pulled alike: estimated sources only know depth up
        # to an affine map, and for depth files it is what rejects most of an outlier frame
        # (strength 0.8: -0.14..-0.33 dB without it on lfbench, +0.22..+0.33 dB with it)
        b = robust_shift(d * math.exp(la), P_fit, sel)
        d_new = np.maximum(d_new + f * b, 1e-3 * max(float(hi), 1e-6))
        d = d_new.astype(np.float32)
        # the budget is reserved whatever this frame's fit: a per-pixel cap that depended on
        # the fit (hence on the state) made chunks converge far slower than r_max^n
        # (measured: 5e-3 instead of 3e-5 of the range after 10 frames at strength 0.5)
        return d, frac

    def __call__(self, rgb: np.ndarray, disparity: np.ndarray, confidence: Optional[np.ndarray],
                 flow_to_prev: Optional[np.ndarray], flow_valid: Optional[np.ndarray],
                 scene_cut: bool = False, affine_ambiguous: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, SmoothInfo]:
        d = disparity.astype(np.float32)
        c = np.ones_like(d) if confidence is None else confidence.astype(np.float32)
        if self.lam > 0 and self.spatial:
            d = self._spatial(d)
        if (self.lam <= 0 or self.prev_s is None or scene_cut or flow_to_prev is None
                or self.prev_s.shape != d.shape):
            self.prev_rgb, self.prev_s, self.prev_c = rgb, d, c
            return d, c, SmoothInfo(True, 0.0, 0.0, 0.0)
        P = warp(self.prev_s, flow_to_prev, interpolation=self.interp)
        Cp = warp(self.prev_c, flow_to_prev)
        valid = np.ones_like(d) if flow_valid is None else flow_valid.astype(np.float32)
        m = (valid * photometric_consistency(rgb, self.prev_rgb, flow_to_prev)).astype(np.float32)
        lo, hi = np.percentile(d, [2, 98])
        rng = max(float(hi - lo), 1e-6)
        loom = None
        if self.looming:
            loom = looming_log_scale(flow_to_prev, m, max(2.0, self.band_sigma_frac * max(d.shape)))
        r_max = self.lam / (1.0 + self.lam)  # the state's largest share in the output (chunking)
        pull = 0.0  # the share of the prediction that the global alignment put into d
        if self.global_align or affine_ambiguous:
            d, pull = self._align_global(d, P, loom, m, c, float(hi), r_max)
        # the per-pixel blend below gets the rest of the state's budget: (1 - pull)(1 - q) >= 1 - r_max,
        # so the output's sensitivity to the previous state stays <= r_max and chunks still converge
        q = max(0.0, 1.0 - (1.0 - r_max) / (1.0 - pull))
        lam_px = q / (1.0 - q)
        if self.log_domain:  # relative errors (what estimators make) become additive
            eps = np.float32(1e-3 * max(float(hi), 1e-6))
            d_u, P_u = np.log(np.maximum(d, eps)), np.log(np.maximum(P, eps))
            rng = max(float(np.log(max(hi, eps)) - np.log(max(lo, eps))), 1e-3)
        else:
            d_u, P_u = d, P
        if loom is not None and self.log_domain:
            P_u = P_u + loom
        if self.edge_search:
            P_u = self._edge_candidates(d_u, P_u, flow_to_prev, m, eps if self.log_domain else None)
        delta = d_u - P_u
        sigma = max(1.0, self.band_sigma_frac * max(d.shape))
        if self.edge_aware_bands and self.log_domain:
            L = _masked_edge_aware_blur(delta, m, P_u, sigma, self.band_edge_sigma)
        else:
            L = _masked_blur(delta, m, sigma)
        H = delta - L
        s_h = max(_robust_sigma(H, m), 1e-4 * rng)
        s_l = _robust_sigma(L, m)
        g_h = np.exp(-0.5 * (H / (self.gate_high * s_h)) ** 2)
        g_l = np.exp(-0.5 * (L / (self.gate_low * s_l + 0.01 * rng)) ** 2)
        wc = np.maximum(c, 0.05)
        cap = lam_px * wc  # prior fraction <= q (with the alignment: <= lambda/(1+lambda)): bounded memory
        wp_h = np.minimum(self.lam * m * g_h * Cp, cap)
        wp_l = np.minimum(self.lam * m * g_l * Cp, cap)
        S = P_u + (wc / (wp_h + wc)) * H + (wc / (wp_l + wc)) * L
        if self.log_domain:
            S = np.exp(S)
        C = np.clip((wp_h * Cp + wc * c) / (wp_h + wc), 0.0, 1.0)
        S = S.astype(np.float32)
        C = C.astype(np.float32)
        self.prev_rgb, self.prev_s, self.prev_c = rgb, S, C
        return S, C, SmoothInfo(False, float(np.mean(m > 0.5)), s_h, s_l)

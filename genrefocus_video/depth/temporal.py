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
   levels sigma_H (1.4826 MAD of H) and tau_L = 2 sigma_L + a floor: changes far above the noise
   are real (motion in depth, edges the flow missed) and pass through at once. The floor is 0.5 % of
   the (log) disparity range where the observations hold their level from frame to frame (exact
   depth: sigma_L is only the warp's error, and a surface moving in depth is real), rising to 1 %
   where their level jitters (`_low_floor`: an estimator's scale/shift residual after 0. is
   non-uniform in log, the far end most, and the floor is what averages it). A fixed 1 % (until
   2026-12-06) averaged exact depth's motion in depth as noise and lagged it (an approaching
   subject 2-4 %, seed 11 fixed -0.055 dB at 0.8); a fixed 0.5 % let twice the tuned scale/shift
   jitter through at 0.8 (4 of 12 rows lost).
4. Blend as a confidence-weighted mean per band: prior weight w_p = lambda m g Cp with
   lambda = r / (1 - r) (r = the memory, see below) and Cp the warped carried confidence, current
   weight w_c = max(c_t, 0.05): S_t = P + w_c/(w_p^H + w_c) H + w_c/(w_p^L + w_c) L, clipped per
   pixel to the interval between P and d_t (`temporal_blend.between`): where the bands pull opposite
   ways, one passed and one held, their sum lands beyond both (by 0.1-0.4 in log on a few pixels in
   10^4 on lfbench, by x150 on a 4K clip; the clip also leaves exact depth's picture more alone:
   seed 3 fixed 0.8 35.9 -> 40.7 dB against the unsmoothed render).
   Regional trust (`temporal_blend.band_trusts`): calm pixels (|delta| within a few robust sigmas, a smooth
   weight; not looming) use m blurred over the band's scale (the high band at least its own m) — a
   smooth error field is as well registered a pixel off, and the per-pixel m let most low-frequency
   and blotchy estimator noise through; spikes keep their own m and enter the low band clipped.
   Two-frame consistency (`_persistence`): a spike the previous frame's aligned observation (warped)
   does not repeat is transient estimator noise (a blotch), not a real change, and counts as calm.
4b. Motion in depth is the prior's process noise (`looming_noise`, `temporal_blend.motion_in_depth_discount`):
   the prediction carries the looming field, but the flow sees only part of a surface's motion in
   depth (DIS `medium`: 40-60 % of a subject's growth at 256 px), and the rest sat within the low
   band's gate and was averaged as noise (exact depth of an approaching subject 1.3 % behind, 3 % of
   the pixels more than 1 % off at 0.8 on lfbench). So where a surface looms by more than 1 % a
   frame (the divergence is that noisy at outlines), the prior's variance grows by
   (looming_noise x (|loom| - 0.01))^2 against the low band's noise sigma (its robust sigma, or the
   observations' level jitter where larger): w_p -> w_p / (1 + w_p (looming_noise (|loom| - 0.01) /
   sigma)^2), and the next observation's weight (6.) alike. Exact depth (sigma ~ the warp's error)
   then follows the surface; an estimate (sigma ~ its noise) keeps its smoothing there. Weights only
   fall: the memory bound stands.
4c. One surface at a depth edge (`keep_one_surface`, `temporal_blend.one_surface`): where observation
   and prediction are more than x2.7 apart (1 in log: two surfaces, not estimator noise), the blend of
   4. is replaced by the prediction where it lies within a quarter of the way to it, else by the
   observation (and the look-ahead's blend of 6. by t + 1 or the state alike). Their mean is a depth
   neither surface has, and near the focus plane the renderer draws it sharp between two blurred
   surfaces: an outline displaced differently every frame (learned estimators) turned a string of
   lights into sharp points (lfbench seed 5 fixed, its own `edges` draw: -4 dB on frames 4-6, the row
   27 % removed and -0.28 dB; now 70 %, +0.46 dB). The choice leans to the observation because at
   strength 0.8 the blend leans to the prediction, and taking the nearer copied exact depth's lagging
   outline whole (docs/benchmarks/temporal.md). The output's sensitivity to the state is no longer
   bounded where the choice flips; chunked runs still converge to the unsplit one (tests).
5. Scene cuts (reported by the flow stage) and the first frame reset: S_t = d_t.
6. Look-ahead (`ahead`: frame t + 1's observation, depth/temporal_ahead.py), when given: a spike
   the next observation does not repeat is transient noise, so it counts as calm in 4. (instead of
   the two-frame test against t - 1) and its gates of 3. open. A change that goes on (a subject
   approaching: the next observation beyond this one, up to the step from t - 1's again) is
   repeated, not contradicted (`trend_agreement`); the output (not the state) is the
   state averaged with the next observation, gated to within a few noise sigmas of it. The state
   stays causal: memory, chunk warm-up and the bounds below are unchanged.

7. Level warm-up (`level_warmup`): after a reset the state's level is that of the frames seen
   since, not lambda's worth: frame n (n = 1, 2, ...) is pulled toward it as toward n observations
   (the pull of 0. with lambda_n = min(lambda, n)), a running mean of the levels until it reaches
   the memory. A first frame with its own level (a scale/shift estimator's draw 18 % off) otherwise
   set the level of the next ~20 frames at strength 0.8 (lfbench seed 11: -1.5 dB). The per-pixel
   blend keeps its weights: warming it up too let more of the first frames' blotches through.

0. Global alignment (before 2.): per-frame estimators jitter the whole map's scale from frame to
   frame, which the gates of 3. take for a real change and let through. The new map is pulled
   toward the looming-corrected prediction by a robust global scale (weighted median of per-pixel
   log ratios, each depth band voting alike, on trusted pixels that do not loom) and then a
   robust global shift (median residual): estimated sources know depth only up to an affine map,
   and for files it rejects most of an outlier frame. A shift that would take part of the frame's
   own range to zero or below is dropped (the scale kept): it fits another kind of map, not a
   level. With the look-ahead, a frame whose jump against the state is gross is an outlier only if
   the observations t - 1 and t + 1 do not share its level (`_consensus`); otherwise the state is
   the odd one and the frame is aligned to the median level of the three. Depth files and estimates (`affine_ambiguous`) take the same path;
   the flag only forces the alignment on when `global_align` is off. The pull share
   f = 1 - sqrt(1 - r) takes half of the state's (log) budget; the per-pixel prior share of 4. is
   capped at q with (1 - f)(1 - q) = 1 - r, so the output's sensitivity to the previous state stays
   <= r (after the warm-up of 7.: r_n = lambda_n / (1 + lambda_n) in the pull).

Cost: the smooth parts of the analysis (the low band of 2., the looming field) run on a grid whose
larger side is ~384 px (depth/temporal_analysis.py) and are upsampled; statistics (medians, the
global fit) look at a ~20k-pixel strided sample (depth/temporal_stats.py); the edge search looks
up neighbours only where prediction and observation disagree. 720p: 0.19-0.23x the time of the
full-size computation (benchmarks/temporal_smoothing_speed.py), the same output to float rounding on
frames up to ~28k pixels (where the grid and the sample are the frame itself).

Memory: r = sqrt(s) for strength s (lambda = r / (1 - r) in 4.); r = s before 2026-12-04 left 0.5
too weak to remove half of the flicker that per-frame estimator errors add (benchmarks/
temporal_error_models.py).

Chunked rendering: once the warm-up of 7. is over, the state's influence decays at least as fast
as r^n, so `warmup = ceil(lambda) + ceil(log(tol) / log(r))` preceding frames give a result within
`tol` (default 1e-3, relative to the disparity range) of an unsplit run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import cv2
import numpy as np

from ..flow import to_gray8
from .edge_select import RANGE_FRAMES, select_edges
from .temporal_analysis import (FlowSampler, analysis_factor, down, down_flow, edge_snap, fade_to_one,
                                gaussian, looming_log_scale, masked_blur, masked_edge_aware_blur,
                                photometric_trust, up)
from .temporal_ahead import Ahead, NextObservation, WarpedNext, next_observation, warp_next
from .temporal_blend import (band_trusts, between, blend, motion_in_depth_discount, motion_in_depth_variance,
                             one_surface)
from .temporal_level import LevelAlignment
from .temporal_stats import percentiles, pixel_noise_sigma, robust_sigma, spatial_denoise


def strength_to_memory(strength: float) -> float:
    """The state's largest share r in the output at `strength` (0..0.95): r = sqrt(s)."""
    s = min(max(float(strength), 0.0), 0.95)
    return math.sqrt(s)


def strength_to_lambda(strength: float) -> float:
    r = strength_to_memory(strength)
    return r / (1.0 - r)


def warmup_frames(strength: float, tol: float = 1e-3) -> int:
    """Preceding frames needed for a chunk to match a sequential run within `tol` of the range: the
    level warm-up's ceil(lam) frames (7.: until then the chunk weighs its state less than the
    sequential run does), then the decay r^n of what that left."""
    lam = strength_to_lambda(strength)
    if lam <= 0:
        return 0
    r = lam / (1.0 + lam)
    return int(math.ceil(lam)) + int(math.ceil(math.log(tol) / math.log(r)))


@dataclass
class SmoothInfo:
    reset: bool
    trusted_fraction: float
    sigma_high: float
    sigma_low: float


class TemporalDepthSmoother(LevelAlignment):
    """Stateful smoother (see module doc); feed frames in order, `reset()` at chunk/scene starts.
    The level (0., 3.'s floor, 7.) is `LevelAlignment`'s (depth/temporal_level.py)."""

    def __init__(self, strength: float, band_sigma_frac: float = 0.02, gate_high: float = 2.0,
                 gate_low: float = 2.0, log_domain: bool = True, edge_search: bool = True,
                 spatial: bool = True, looming: bool = True, global_align: bool = True,
                 edge_aware_bands: bool = True, two_frame_calm: bool = True, lookahead: bool = True) -> None:
        self.strength = float(strength)
        self.global_align = global_align
        self.edge_aware_bands = edge_aware_bands
        self.band_edge_sigma = 0.15  # log-disparity: bands do not mix surfaces > ~15% apart
        self.analysis_side = None  # px of the analysis grid's larger side (None: temporal_analysis's)
        self.log_domain = log_domain
        self.edge_search = edge_search
        self.interp = cv2.INTER_NEAREST  # no fg/bg mixing in the prior at depth edges
        self.edge_radius = 1  # px: the neighbourhood (2r+1)^2 of p + f(p) the edge search looks in
        self.photo_sigma = 0.06  # sRGB luma difference the photometric trust tolerates
        self.spatial = spatial
        self.looming = looming
        self.gate_high, self.gate_low = gate_high, gate_low
        # regional trust (2026-12-05, `temporal_blend.band_trusts`): calm pixels take the photometric trust
        # blurred over the band's scale; spikes beyond spike_sigmas robust sigmas keep their own
        # and enter the low band clipped. 0 = the per-pixel trust everywhere (before)
        self.spike_sigmas = 5.0
        # two-frame consistency (2026-12-05, `_persistence`): a spike the previous observation (warped
        # along the flow) does not repeat is transient (blotchy estimator noise), not a
        # real change, and counts as calm. False = every spike keeps its own trust (before)
        self.two_frame_calm = two_frame_calm
        # look-ahead (2026-12-05, 6.; used when the caller passes `ahead`): the next observation's weight in
        # the output (1 = one observation, like the current one) and its gate (noise sigmas from the state)
        self.lookahead, self.ahead_weight, self.ahead_gate = lookahead, 1.0, 3.0
        # the gates open only where the next observation disagrees beyond this x the calm band: two
        # noisy observations of a real step differ by sqrt(2) x their noise (1x: the step's first frame
        # lagged 2 % on a still scene, 2x: 0.8 %; blotchy rows within a point)
        self.ahead_open_band = 2.0
        # a change the next observation carries on at up to the same speed (t - 1 -> t -> t + 1, each
        # warped to t) counts as repeated (2026-12-06): an approaching subject's next observation
        # is farther still, and the plain test called its change transient, opened the gates and
        # lagged it (exact depth, lfbench follow seeds 3 5 11 13 17 at 0.8, the subject's median: -2.9 %
        # mean, -4.5 % worst; -2.5 % / -4.1 % with this alone, -1.4 % / -2.7 % with the floor of 3.).
        # False: the next observation must repeat this one
        self.trend_agreement = True
        # motion in depth as the prior's process noise (4b., 2026-12-06): the prediction's error where a
        # surface looms beyond 1 % per frame, as a share of that looming (DIS `medium` sees 40-60 % of a
        # subject's growth at 256 px, 60-90 % at 512: docs/benchmarks/looming.md). 0: the prior is
        # trusted as if the looming were exact (exact depth of an approaching subject lagged 1.3 %, 3 %
        # of the pixels off by > 1 % at 0.8 on lfbench)
        self.looming_noise = 1.0
        # the state and the output are one surface or the other, never their mean (2026-12-06, 4c.,
        # `temporal_blend.one_surface`): where observation and prediction (then state and t + 1) differ by
        # more than surface_jump in log (x2.7), the second (the prediction; t + 1) only where the blend lies
        # within surface_lean of the way to it, else the first. With the nearer of the two near steps, a jump
        # of 0.3 took blotchy noise for surfaces (seed 5 fixed blotchy 0.5: 53 -> 47 % removed), 0.5-0.7 still
        # cost 2 points, 1.0 none; the nearer of the two (lean 0.5) copied exact depth's lagging outline whole
        # at 0.8 (seed 17 rack exact +0.093 dB; lean 0.25: +0.018)
        self.keep_one_surface, self.surface_jump, self.surface_lean = True, 1.0, 0.25
        self.edge_select = True  # displaced depth edges: colour-checked selection (depth/edge_select.py)
        self.lam = strength_to_lambda(strength)
        self.band_sigma_frac = band_sigma_frac
        self._sampler = FlowSampler()
        self._init_level()
        self.reset()

    def reset(self) -> None:
        self.prev_gray: Optional[np.ndarray] = None
        self.prev_s: Optional[np.ndarray] = None
        self.prev_c: Optional[np.ndarray] = None  # None: confidence 1 everywhere
        self.prev_obs: Optional[np.ndarray] = None  # the last aligned observation (log), `_persistence`
        self._after_outlier = False  # the previous frame was a gross outlier: edge selection skips this one
        self._obs_ranges: list[tuple[float, float]] = []  # (min, max) of recent observations: `_select_edges`
        self.seen = 0  # observations the state holds since the reset (7.)
        self._denoised_ahead: Optional[tuple[np.ndarray, np.ndarray]] = None  # (t + 1's input, denoised)
        self._reset_level()

    def _spatial(self, d: np.ndarray) -> np.ndarray:
        if self.log_domain:
            eps = np.float32(1e-3 * max(float(percentiles(d, [98])[0]), 1e-6))
            u = np.log(np.maximum(d, eps))
            sigma = pixel_noise_sigma(u)
            return d if sigma <= 1e-6 else np.exp(spatial_denoise(u, sigma)).astype(np.float32)
        return spatial_denoise(d, pixel_noise_sigma(d))

    def _low_band(self, x: np.ndarray, m_a: np.ndarray, guide_a: Optional[np.ndarray], f: int,
                  sigma_a: float) -> np.ndarray:
        """Low band of the innovation x (full size), computed on the analysis grid (factor f)."""
        x_a = down(x, f)
        if guide_a is not None:
            low_a = masked_edge_aware_blur(x_a, m_a, guide_a, sigma_a, self.band_edge_sigma)
        else:
            low_a = masked_blur(x_a, m_a, sigma_a)
        return up(low_a, x.shape)

    def _edge_snap(self, dg_u: np.ndarray, P_u: np.ndarray, flow: np.ndarray, m: np.ndarray,
                   eps: np.float32) -> np.ndarray:
        """`temporal_analysis.edge_snap` against the previous map (log)."""
        return edge_snap(dg_u, P_u, self._to_u(self.prev_s, eps), flow, m, self.edge_radius)

    def _to_u(self, x: np.ndarray, eps: np.float32) -> np.ndarray:
        return np.log(np.maximum(x, eps)) if self.log_domain else x

    def _from_u(self, x: np.ndarray) -> np.ndarray:
        """Disparity (float32) from the blend's domain; a new array only where exp makes one."""
        return (np.exp(x) if self.log_domain else x).astype(np.float32, copy=False)

    def _denoised(self, disparity: np.ndarray) -> np.ndarray:
        """The observation after the spatial step (1.), computed once for a frame that was the
        previous call's look-ahead (same values: reused)."""
        d = disparity.astype(np.float32)
        if not (self.lam > 0 and self.spatial):
            return d
        kept = self._denoised_ahead
        if kept is not None and kept[0].shape == d.shape and np.array_equal(kept[0], d):
            return kept[1]
        return self._spatial(d)

    def _prepare(self, rgb: np.ndarray, disparity: np.ndarray, confidence: Optional[np.ndarray],
                 gray: Optional[np.ndarray]):
        c = None if confidence is None else confidence.astype(np.float32)
        return self._denoised(disparity), c, to_gray8(rgb) if gray is None else gray

    def _warped_next(self, ahead: Optional[Ahead], d: np.ndarray) -> Optional[WarpedNext]:
        """Frame t + 1's observation (spatially denoised, its own level) at this frame's pixels, None
        without a usable look-ahead (6.)."""
        if ahead is None or not self.lookahead or ahead.disparity.shape != d.shape:
            self._denoised_ahead = None
            return None
        raw = ahead.disparity.astype(np.float32)
        self._denoised_ahead = (raw, self._denoised(raw))
        return warp_next(ahead, self._denoised_ahead[1], self._sampler)

    def _next(self, ahead: Optional[Ahead], warped: Optional[WarpedNext], gray: np.ndarray, d: np.ndarray,
              eps: np.float32) -> Optional[NextObservation]:
        """Frame t + 1's observation at the level of this frame's aligned one (6.), None without one."""
        if ahead is None or warped is None:
            return None
        return next_observation(ahead, warped, gray, d, lambda x: self._to_u(x, eps), float(eps), self.photo_sigma)

    def _predict(self, gray: np.ndarray, flow: np.ndarray, flow_valid: Optional[np.ndarray]):
        """(prediction P, its carried confidence, trust m, looming log-scale, (grid factor, m on
        the grid, band sigma in px)) from the previous state warped along `flow` (t -> t-1)."""
        maps = self._sampler.maps(flow)
        P = self._sampler.sample(self.prev_s, maps, self.interp)
        Cp = None if self.prev_c is None else self._sampler.sample(self.prev_c, maps)
        m = photometric_trust(gray, self.prev_gray, maps, self.photo_sigma)
        if flow_valid is not None:
            m = (m * flow_valid.astype(np.float32)).astype(np.float32)
        f = analysis_factor(P.shape, self.analysis_side) if self.analysis_side else analysis_factor(P.shape)
        m_a = down(m, f)
        sigma = max(1.0, self.band_sigma_frac * max(P.shape))
        loom = None
        if self.looming:
            loom = up(looming_log_scale(down_flow(flow, f), m_a, max(2.0, sigma) / f), P.shape)
        return P, Cp, m, loom, (f, m_a, sigma), maps

    def __call__(self, rgb: np.ndarray, disparity: np.ndarray, confidence: Optional[np.ndarray],
                 flow_to_prev: Optional[np.ndarray], flow_valid: Optional[np.ndarray],
                 scene_cut: bool = False, affine_ambiguous: bool = False, ahead: Optional[Ahead] = None,
                 gray: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, SmoothInfo]:
        """Frame t: (smoothed disparity, its confidence, info). `ahead`: frame t + 1 (6.), or None;
        `gray`: `rgb`'s flow.to_gray8 luma when the caller has it (else made here)."""
        d, c, gray = self._prepare(rgb, disparity, confidence, gray)
        if (self.lam <= 0 or self.prev_s is None or scene_cut or flow_to_prev is None
                or self.prev_s.shape != d.shape):
            self.reset()
            self.prev_gray, self.prev_s, self.prev_c = gray, d, c
            self.seen = 1
            return d, (np.ones_like(d) if c is None else c), SmoothInfo(True, 0.0, 0.0, 0.0)
        flow = flow_to_prev
        P, Cp, m, loom, (f, m_a, sigma), maps = self._predict(gray, flow, flow_valid)
        lo, hi = (float(v) for v in percentiles(d, [2, 98]))
        eps = np.float32(1e-3 * max(hi, 1e-6))
        r_max = self.lam / (1.0 + self.lam)  # the state's largest share in the output (chunking)
        # the state's level holds the frames seen since the reset, at most lam's worth (7.)
        lam_level = min(self.lam, float(self.seen)) if self.level_warmup else self.lam
        r_level = lam_level / (1.0 + lam_level)
        raw, pull, outlier = d, 0.0, False  # pull: the share of the prediction the alignment put into d
        warped = self._warped_next(ahead, d)
        to_prev = self._fit_to_previous(raw, loom, m, c, maps)  # the alignment's votes and 3.'s floor
        if self.global_align or affine_ambiguous:
            d, pull, outlier = self._align(d, P, loom, m, c, r_level, 1e-3 * max(hi, 1e-6), warped, to_prev)
        floor = self._low_floor(to_prev)
        if self.edge_select:
            d = self._select_edges(rgb, d, P, outlier, loom)
        # the per-pixel blend gets the rest of the budget: (1 - pull)(1 - q) >= 1 - r_max, so the
        # output's sensitivity to the previous state stays <= r_max and chunks still converge
        # (a budget that depended on this frame's fit made them converge far slower)
        q = max(0.0, 1.0 - (1.0 - r_max) / (1.0 - pull))
        lam_px = q / (1.0 - q)
        P_u, d_u = self._to_u(P, eps), self._to_u(d, eps)
        if loom is not None and self.log_domain:
            P_u = P_u + loom
        if self.edge_search:
            P_u = self._edge_snap(d_u, P_u, flow, m, eps)
        rng = (max(math.log(max(hi, eps)) - math.log(max(lo, eps)), 1e-3) if self.log_domain
               else max(hi - lo, 1e-6))
        guide_a = down(P_u, f) if (self.edge_aware_bands and self.log_domain) else None
        delta = d_u - P_u
        noise = max(robust_sigma(delta, m), 0.01 * rng)
        band = 0.5 * self.spike_sigmas * noise  # the calm band's half-width (log)
        nxt = self._next(ahead, warped, gray, d, eps) if band > 0 else None
        if nxt is not None:  # agreement at the calm band (4.) and at the gates' wider one (3.)
            prev = self._previous(d_u, maps) if self.trend_agreement else None
            persist, shut = nxt.agreement(d_u, band, band * self.ahead_open_band, prev=prev)
        else:  # the two-frame test against t - 1; none without a calm band (spike_sigmas 0)
            persist, shut = (self._persistence(d_u, maps, noise) if band > 0 else None), None
        del P, maps  # full-frame arrays no longer needed: the call's peak (at the blend) stays lower
        band_in, m_h, m_l = band_trusts(delta, m, m_a, f, sigma, rng, loom, persist, self.spike_sigmas)
        L = self._low_band(band_in, m_a, guide_a, f, sigma / f)
        H = delta - L
        s_h = max(robust_sigma(H, m), 1e-4 * rng)
        s_l = robust_sigma(L, m)
        g_h, g_l = gaussian(H, self.gate_high * s_h), gaussian(L, self.gate_low * s_l + floor * rng)
        if shut is not None:  # a spike the next observation does not repeat is noise: its gates open
            g_h, g_l = fade_to_one(g_h, shut), fade_to_one(g_l, shut)
        np.multiply(g_l, m_l, out=g_l)
        if loom is not None and self.log_domain and self.looming_noise > 0:  # 4b: log looming vs log noise
            # the low band's noise: its robust sigma, or the observations' level jitter where that is larger
            # (a level residual is uniform, so its robust sigma is ~0: with the sigma alone twice the
            # tuned scale/shift lost 2 more of 24 rows, seed 9 fixed 0.8 -0.28 dB)
            loom_err = max(s_l, self._level_jitter(), 1e-4 * rng) / self.looming_noise  # per unit of looming
            extra = motion_in_depth_variance(loom, loom_err)
            g_l = motion_in_depth_discount(g_l, extra, self.lam)
            if nxt is not None:  # the next observation is a step further in depth still
                nxt = replace(nxt, trust=motion_in_depth_discount(nxt.trust, extra, self.ahead_weight))
            del extra
        del d, loom, delta, band_in, persist, shut
        S, C = blend(P_u, H, L, np.multiply(g_h, m_h, out=g_h), g_l, c, Cp, self.lam, lam_px)
        S = self._one_surface(between(S, d_u, P_u), d_u, P_u)
        out = None if nxt is None else nxt.blend(S, 1.0 + self.lam * m, noise, self.ahead_weight, self.ahead_gate)
        if out is not None:  # the state averaged with t + 1: kept to one of the two surfaces as well
            out = self._from_u(self._one_surface(out, S, nxt.u))
        S = self._from_u(S)
        self.prev_gray, self.prev_s, self.prev_c = gray, S, C
        self.seen += 1
        self.prev_obs = d_u if self.two_frame_calm else None
        self.prev_raw = raw
        out = S.copy() if out is None else out  # the output never shares the state's memory
        return out, (np.ones_like(S) if C is None else C), SmoothInfo(False, float(np.mean(m > 0.5)), s_h, s_l)

    def _one_surface(self, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """`temporal_blend.one_surface` with the smoother's settings (log domain only: its jump is a log step)."""
        if not (self.keep_one_surface and self.log_domain):
            return x
        return one_surface(x, a, b, self.surface_jump, self.surface_lean)

    def _select_edges(self, rgb: np.ndarray, d: np.ndarray, P: np.ndarray, outlier: bool,
                      loom: Optional[np.ndarray] = None) -> np.ndarray:
        """Edge selection (depth/edge_select.py) on the aligned observation d: not on a grossly wrong
        frame, nor on the next (its prediction holds the wrong frame's surfaces); the proposed
        surfaces clipped to the disparity range that at least two of the last `RANGE_FRAMES`
        observations that were not outliers (this one included) reached: an estimator's blunder
        the outlier test misses is seen on one frame only. Not where the looming field (`loom`,
        log scale per frame) reaches 0.05: an approaching subject grows like a displaced edge."""
        after, self._after_outlier = self._after_outlier, outlier
        if outlier:
            return d
        self._obs_ranges.append((float(d.min()), float(d.max())))
        del self._obs_ranges[:-RANGE_FRAMES]
        if after:
            return d
        lows, highs = sorted(r[0] for r in self._obs_ranges), sorted(r[1] for r in self._obs_ranges)
        seen = min(1, len(lows) - 1)  # a depth two observations showed: not one frame's blunder
        out = select_edges(rgb, d, P, limits=(lows[seen], highs[-1 - seen]))[0]
        if loom is not None:  # a looming surface grows on all sides too (at small sizes the flow sees only
            out = np.where(np.abs(loom) < 0.05, out, d)  # part of it): its observed outline stands
        return out

    def _previous(self, d_u: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> Optional[np.ndarray]:
        """The previous frame's aligned observation (log) at this frame's pixels (nearest), for the
        look-ahead's trend test (6.) and `_persistence`; None without one."""
        prev = self.prev_obs
        if prev is None or prev.shape != d_u.shape:
            return None
        return self._sampler.sample(prev, maps, cv2.INTER_NEAREST)

    def _persistence(self, d_u: np.ndarray, maps: tuple[np.ndarray, np.ndarray], noise: float
                     ) -> Optional[np.ndarray]:
        """Per pixel, whether the previous frame's observation (aligned, log; warped along the flow,
        nearest) says what this one says: exp(-(d_t - d_{t-1})^2 / 2 (2.5 noise)^2), noise = the
        innovation's robust sigma (the calm band's half-width). A real change (an edge the flow
        missed, a surface that moved) is seen on consecutive frames (1); a blotch of per-frame
        estimator noise is not: it appears from nothing and goes again (0). Observations, not
        innovations: an innovation carries the state, and measured against it the spikes' trust
        fed back into the state (chunked runs 1.5e-3 of the range apart after 20 frames at 0.5,
        bound 1e-3). None: no previous observation (reset)."""
        prev = self._previous(d_u, maps) if self.two_frame_calm else None
        if prev is None:
            return None
        return gaussian(np.subtract(d_u, prev, out=prev), np.float32(0.5 * self.spike_sigmas * noise), out=prev)

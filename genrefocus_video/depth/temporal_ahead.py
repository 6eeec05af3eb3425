"""One frame of look-ahead for the temporal depth smoother (depth/temporal.py).

A causal smoother cannot tell a blotch of per-frame estimator noise (there at t, gone at t + 1)
from the first frame of a real change (an approaching subject's outline that the flow misses:
there at t and still there at t + 1). Its gates must let both through, and blotchy motion-stereo
noise at strength 0.5 kept 52-63 % of its flicker on lfbench (docs/benchmarks/temporal.md). The
next frame's observation, warped back to frame t, tells the two apart:

1. `NextObservation.agreement`: per pixel, whether the next observation repeats this one within
   the calm band. A spike it does not repeat is transient noise: the smoother counts it as calm
   (regional trust) and opens its gates for it. Where the warp is not trusted (occlusion, flow
   failure) the agreement is 1: the spike is treated as the causal smoother treats it. Given the
   previous observation too, a change that goes on counts as repeated: the next observation
   anywhere from this one to this one plus the step from the previous (a subject approaching at up
   to constant speed). A blotch falls back instead; a trend past twice the step is not backed.
2. `NextObservation.blend`: the output at t averages the smoothed state with the next observation
   (weight `weight` x its trust: 1 = it counts as one observation, like the current one), gated to
   within `gate` noise sigmas of the state so a real change between t and t + 1 is not pulled in
   early. The state itself stays causal (it is the next frame's prior): the output's sensitivity
   to the state, the chunk warm-up and the memory bound are those of the causal smoother.

Frame t's output therefore depends on frames up to t + 1: a chunk reads one frame past its last.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from ..flow import to_gray8
from .temporal_align import fit_affine
from .temporal_analysis import FlowSampler, fade_to_one, gaussian, photometric_trust


@dataclass(frozen=True)
class Ahead:
    """Frame t + 1 as the smoother's look-ahead at frame t sees it."""

    disparity: np.ndarray  # t + 1's disparity as its source gave it (before smoothing)
    rgb: np.ndarray  # t + 1's image (linear RGB), for the photometric check of the warp
    flow: np.ndarray  # flow t -> t + 1 (px, H x W x 2) at frame t's pixels
    valid: np.ndarray  # forward-backward consistency of `flow` at frame t's pixels, [0, 1]
    gray: Optional[np.ndarray] = None  # t + 1's flow.to_gray8 luma, when the caller has it (else made here)


@dataclass(frozen=True)
class NextObservation:
    """Frame t + 1's observation at frame t's pixels (log disparity, aligned to frame t's level)."""

    u: np.ndarray  # log disparity
    valid: np.ndarray  # [0, 1]: the flow's forward-backward consistency
    trust: np.ndarray  # [0, 1]: valid x the warp's photometric consistency

    def agreement(self, d_u: np.ndarray, *bands: float, prev: Optional[np.ndarray] = None) -> list[np.ndarray]:
        """Per band: exp(-e^2 / 2 band^2) where the flow is consistent, 1 where it is not (unknown);
        e = u - d_u, or with `prev` (frame t - 1's observation at these pixels, log) u's distance
        from the span [d_u, d_u + (d_u - prev)] (1. of the module doc). The flow's consistency, not
        the photometric trust: a blotch sits where the estimator failed, often on textureless or
        changing patches whose photometric check is weak; with the trust here 4-6 points of blotchy
        flicker stayed (lfbench seeds 3 and 17 at 0.5)."""
        x = np.subtract(self.u, d_u)
        if prev is not None:  # what lies outside [0, step] (either order) of the change u - d_u
            step = np.subtract(d_u, prev)
            x -= np.clip(x, np.minimum(step, 0.0), np.maximum(step, 0.0))
        x *= x
        out = []
        for band in bands:
            a = np.multiply(x, np.float32(-0.5 / (band * band)))
            out.append(fade_to_one(np.exp(a, out=a), self.valid))
        return out

    def blend(self, state_u: np.ndarray, state_weight: np.ndarray, noise: float, weight: float,
              gate: float) -> np.ndarray:
        """The state (log, carrying `state_weight` observations' worth) averaged with the next
        observation (`weight` x trust, gated to within `gate` x `noise` of the state)."""
        e = np.subtract(self.u, state_u)
        w = np.multiply(self.trust, weight)
        w *= gaussian(e, gate * noise, out=e)
        num = state_weight * state_u
        num += np.multiply(w, self.u, out=e)
        num /= np.add(state_weight, w, out=w)
        return num


@dataclass(frozen=True)
class WarpedNext:
    """Frame t + 1's prepared disparity warped to frame t's pixels (nearest: no mixing across depth
    edges), at its own level, with the warp's sampling maps."""

    d: np.ndarray
    maps: tuple[np.ndarray, np.ndarray]
    valid: np.ndarray  # the flow's forward-backward consistency at frame t's pixels, [0, 1] (float32)


def warp_next(ahead: Ahead, prepared: np.ndarray, sampler: FlowSampler) -> WarpedNext:
    """`prepared` (t + 1's disparity after the smoother's spatial denoise) warped to frame t along
    `ahead.flow`."""
    maps = sampler.maps(ahead.flow)
    return WarpedNext(sampler.sample(prepared, maps, cv2.INTER_NEAREST), maps,
                      ahead.valid.astype(np.float32, copy=False))


def next_observation(ahead: Ahead, warped: WarpedNext, gray: np.ndarray, d: np.ndarray,
                     to_u: Callable[[np.ndarray], np.ndarray], floor: float, photo_sigma: float) -> NextObservation:
    """The warped next observation brought to the level of frame t's aligned observation `d` by a
    full global scale-and-shift fit: estimators jitter the level from frame to frame, and a level
    change is the alignment's business, not a spike's."""
    fit = fit_affine(warped.d, d, warped.valid, outlier_log=np.inf, refit=False)
    nxt = warped.d * np.float32(np.exp(fit.log_scale))
    nxt += np.float32(fit.shift)
    np.maximum(nxt, np.float32(floor), out=nxt)
    gray_next = ahead.gray if ahead.gray is not None else to_gray8(ahead.rgb)
    trust = photometric_trust(gray, gray_next, warped.maps, photo_sigma)
    trust *= warped.valid
    return NextObservation(to_u(nxt), warped.valid, trust)

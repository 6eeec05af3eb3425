"""The temporal smoother's global alignment fit (depth/temporal.py step 0): the scale and shift
that take a frame's disparity to the prediction, and how gross that change is.

Per-frame estimators jitter the whole map's scale and shift; a change beyond the outlier threshold
is a grossly wrong frame, aligned fully by the smoother. The scale comes first (a band-voted median
of log ratios, unbiased under noise in the frame), the shift second (median residual); a frame
that looks like an outlier is refitted with scale and shift jointly, since a scale-first fit reads a
large shift for a scale change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .temporal_stats import (affine_log_residual, largest_log_change, robust_affine_slope, robust_scale_binned,
                             robust_shift)


@dataclass
class GlobalFit:
    """d -> d exp(log_scale) + shift, and the largest |log(new / old)| it makes in d's range."""
    log_scale: float
    shift: float
    change: float
    outlier: bool


SCALE_RANGE = (0.1, 10.0)  # a fitted scale outside this is no fit (a degenerate frame): shift only


def _scale_then_shift(d: np.ndarray, P: np.ndarray, sel: np.ndarray, scale: float) -> tuple[float, float]:
    """(log scale, shift) with `scale` taken where it is within SCALE_RANGE. Gross outliers are
    what the fit is for: the window was 0.5..2 until 2026-12-05, and an estimate jumping x2.3
    (lfbench outlier noise, jump 2) was then fitted by a shift alone and entered the state at
    +0.24 in log level; the frames after it were pulled toward that for ten frames (-1 dB).

    A shift that would take part of d's own range to zero or below is no level change of d (the
    prediction it was fitted to is another kind of map): it is dropped, the scale kept. A 4K
    motion-depth frame after three flat defocus-cue fallback frames was fitted x2.4 - 0.79, which
    floored the farther half of the frame at 0.001 and was aligned fully as an outlier."""
    lo, hi = SCALE_RANGE
    la = math.log(scale) if lo < scale < hi else 0.0
    b = robust_shift(d * math.exp(la), P, sel)
    return la, (0.0 if math.isinf(largest_log_change(d, la, b)) else b)


def fit_affine(d: np.ndarray, P: np.ndarray, sel: np.ndarray, outlier_log: float, refit: bool = True) -> GlobalFit:
    """The global fit of d to P over trusted pixels `sel` (> 0.5); an outlier when its largest log
    change exceeds `outlier_log`. Then, with `refit`, the joint (Theil-Sen over depth bands) scale
    and shift replace it where they explain the frame's depth bands clearly better (< 0.7x the
    mean band residual): only for outliers, which are aligned fully, since as every frame's fit the
    joint slope (noisier with few populated bands) took low-frequency and blotchy noise for affine
    changes (10 of 30 grid rows lost on lfbench seeds 3 and 11)."""
    la, b = _scale_then_shift(d, P, sel, robust_scale_binned(d, P, sel))
    change = largest_log_change(d, la, b)
    if change > outlier_log and refit:
        la2, b2 = _scale_then_shift(d, P, sel, robust_affine_slope(d, P, sel))
        if affine_log_residual(d, P, sel, la2, b2) < 0.7 * affine_log_residual(d, P, sel, la, b):
            la, b, change = la2, b2, largest_log_change(d, la2, b2)
    return GlobalFit(la, b, change, change > outlier_log)


def _median_fit(d: np.ndarray, fits: list[GlobalFit], outlier_log: float) -> GlobalFit:
    """The fits' median level (scale and shift apart) as a fit of d."""
    la = float(np.median([f.log_scale for f in fits]))
    b = float(np.median([f.shift for f in fits]))
    change = largest_log_change(d, la, b)
    return GlobalFit(la, b, change, change > outlier_log)


def consensus_level(d: np.ndarray, to_state: GlobalFit, to_neighbours: list[GlobalFit],
                    outlier_log: float) -> Optional[GlobalFit]:
    """For a frame d that is an outlier against the state (`to_state`): None if it is one against
    the observations around it too (its fits `to_neighbours`, to t - 1 and t + 1), else the fit that
    takes it to the median level of the observations t - 1, t, t + 1. The test's level is the median
    of d's fits to the state and to both neighbours: a blunder, or two in a row, has the state and
    one neighbour against it."""
    if _median_fit(d, [to_state] + to_neighbours, outlier_log).outlier:
        return None
    return _median_fit(d, [GlobalFit(0.0, 0.0, 0.0, False)] + to_neighbours, outlier_log)

"""A partner frame's exposure matched to the reference frame's before motion depth compares them.

Why: auto exposure hunts (phones, run-and-gun cameras, a cloud over the sun), so the frames motion
depth pairs differ by a gain of a few per cent in linear light. The plane sweep's cost compares gray
levels and their gradients (depth/plane_sweep.py), both scaled by that gain; on lfbench clips with 6 %
gain steps the refocus lost 0.4-0.9 dB against the clean clip (docs/benchmarks/motion_depth.md).
Matching the frames' means instead cost clean clips 0.15 dB: as the camera moves, what enters and
leaves the frame changes the mean. So the gain is measured on the *same surfaces*: the partner is
sampled where the flow (or the pose and the triangulated depth) maps each pixel, and over 7x7
neighbourhoods the reference's linear light is divided by the partner's; the measure is the median
of those ratios weighted by the partner's light. Sums over neighbourhoods, not single pixels: a step
of 2 % moves mid-gray by about one code, and single pixels' code ratios stay at 1. Codes 64-235 only:
above 235 light clips; below 64 one code is more than 4 % of linear light, and flat shadows whose code
the step does not move read exactly 1 (lfbench's night city, most of its pixels below code 64: steps
of 3.4-9 % measured 1-3 % short from code 20 up, within 0.4 % from 64 up; a frame with fewer than 2 %
of such pixels gets no measure and is compared as it is).

The gain is applied to the partner in linear light, as float codes (not re-quantised: a rounding
pattern of its own would be matched too). A measured gain within `tolerance` (1 %) of 1 is what frames
of one exposure measure (lfbench clean clips, on the flow: within 0.6 %, median about 0.1 %; the real
RGB-D room and Meridian frames within 0.13 %); beyond it only the excess
is applied (a soft threshold: no switch for a frame's measure to flicker across), so frames of one
exposure are compared as they were.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..flow import inside_mask, warp
from .temporal_stats import weighted_median

_CODES = np.arange(256, dtype=np.float64) / 255.0
_LINEAR = np.where(_CODES <= 0.04045, _CODES / 12.92, ((_CODES + 0.055) / 1.055) ** 2.4)  # sRGB decode of each code
MID_TONES = (64, 235)  # codes whose ratio measures a gain: above the coarse shadows (module doc), below clipping


def _encode(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def measure_gain(g_ref: np.ndarray, g_other: np.ndarray, flow: np.ndarray, mask: Optional[np.ndarray] = None,
                 window: int = 7, min_share: float = 0.02) -> Optional[float]:
    """Linear-light gain that brings 8-bit sRGB gray `g_other` to `g_ref`'s exposure: the median,
    weighted by other's light, over `window`-px neighbourhoods, of the ratio of ref's linear sum to
    other's at p + flow(p), over MID_TONES in both (and `mask` > 0.5, where the match is trusted);
    None where fewer than `min_share` of the pixels have such a neighbourhood (module doc)."""
    lo, hi = MID_TONES
    ref = _LINEAR[g_ref].astype(np.float32)
    other = warp(_LINEAR[g_other].astype(np.float32), flow)
    use = (g_ref >= lo) & (g_ref <= hi) & (other >= _LINEAR[lo]) & (other <= _LINEAR[hi]) & (inside_mask(flow) > 0.5)
    if mask is not None:
        use &= mask > 0.5
    m = use.astype(np.float32)
    size = (window, window)
    share = cv2.boxFilter(m, -1, size)
    num, den = cv2.boxFilter(ref * m, -1, size), cv2.boxFilter(other * m, -1, size)
    good = use & (share >= 0.5) & (den > 0)
    if np.count_nonzero(good) < min_share * good.size:
        return None
    return weighted_median(num[good] / den[good], den[good])


def applied_gain(gain: Optional[float], tolerance: float = 0.01) -> float:
    """The gain to apply for a measured one: its log shrunk towards 0 by `tolerance` (module doc)."""
    if gain is None or gain <= 0:
        return 1.0
    lg = float(np.log(gain))
    return float(np.exp(np.sign(lg) * max(0.0, abs(lg) - tolerance)))


def apply_gain(gray8: np.ndarray, gain: float) -> np.ndarray:
    """8-bit sRGB gray times `gain` in linear light (clipped at white), as float32 codes in [0, 255],
    not rounded (rounding would add up to half a code of error of its own); the same array for gain 1."""
    if gain == 1.0:
        return gray8
    return (255.0 * _encode(_LINEAR * gain)).astype(np.float32)[gray8]


def match_exposure(g_ref: np.ndarray, g_other: np.ndarray, flow: np.ndarray, mask: Optional[np.ndarray] = None,
                   tolerance: float = 0.01) -> tuple[np.ndarray, float]:
    """(`g_other` at `g_ref`'s exposure, 8-bit or float32 codes (`apply_gain`), the gain applied):
    `measure_gain` then `applied_gain`."""
    gain = applied_gain(measure_gain(g_ref, g_other, flow, mask), tolerance)
    return apply_gain(g_other, gain), gain

"""The signed circle of confusion r per pixel: the one definition every renderer and map uses.

A lens focused at disparity a blurs a point at disparity d into a disc of signed radius
r = K·(d − a) px (DESIGN.md), r > 0 in front of the focus plane. Only the plane d = a is sharp.

A *focus range* w (disparity units, default 0) is the compositor's depth-of-field control (Nuke
ZDefocus's "depth of field", Lenscare's focus range): everything within ±w/2 of the focus plane
stays sharp and the blur starts at the band's edges,

    r = K·sign(d − a)·max(|d − a| − w/2, 0),

so a whole subject (a face and the shoulders behind it) can be kept crisp while the background
melts. No real lens has such a band; with w = 0 this is the physical r.
"""
from __future__ import annotations

import numpy as np


def signed_blur(disparity: np.ndarray, focus_disparity: float, k: float, focus_range: float = 0.0) -> np.ndarray:
    """r in px, float32 H×W (a new array; one frame-sized temporary at most)."""
    r = np.subtract(disparity, np.float32(focus_disparity), dtype=np.float32)
    if focus_range > 0:
        mag = np.abs(r)
        mag -= np.float32(0.5 * focus_range)
        np.maximum(mag, np.float32(0.0), out=mag)
        np.copysign(mag, r, out=r)
    r *= np.float32(k)
    return r


def blur_reach(d_min: float, d_max: float, focus_disparity: float, k: float, focus_range: float = 0.0) -> float:
    """The largest |r| over disparities in [d_min, d_max]."""
    far = max(abs(float(d_max) - focus_disparity), abs(float(d_min) - focus_disparity))
    return float(k) * max(far - 0.5 * float(focus_range), 0.0)

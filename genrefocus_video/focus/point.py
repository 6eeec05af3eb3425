"""Picking a focus disparity from a disparity map: a picked pixel, or the frame's centre.

One function for every face: the CLI's ``--focus-point``, point keyframes ``@X/Y``, the default
centre focus and the OpenFX bridge's focus point all call :func:`point_disparity`, so the same
pixel on the same disparity gives the same focus everywhere.
"""
from __future__ import annotations

import numpy as np

from .tracking import robust_disparity

#: half-size of the point window as a fraction of the frame width (at least 2 px): ~2 % of the width
POINT_WINDOW = 0.01
#: the centre region the default focus measures (x, y, w, h as fractions of the frame): the middle 20 %
CENTRE_BOX = (0.4, 0.4, 0.2, 0.2)


def point_disparity(disparity: np.ndarray, x: float, y: float) -> tuple[float, float, float]:
    """(value, lo, hi): the robust disparity around pixel (x, y) — pixel coordinates, rows top to
    bottom — in a square window of ~2 % of the frame width, so a click one pixel off an edge or on
    a depth spike still returns the surface under it; lo/hi are its 10th/90th percentile band."""
    h, w = disparity.shape
    r = max(2.0, POINT_WINDOW * w)
    v, lo, hi, _ = robust_disparity(disparity, (x - r, y - r, 2 * r + 1, 2 * r + 1), inner=1.0)
    return v, lo, hi


def centre_disparity(disparity: np.ndarray) -> float:
    """The robust disparity of the frame's central region (the focus when none is given)."""
    h, w = disparity.shape
    fx, fy, fw, fh = CENTRE_BOX
    v, _, _, _ = robust_disparity(disparity, (fx * w, fy * h, fw * w, fh * h), inner=1.0)
    return v

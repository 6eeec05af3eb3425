"""Highlight recovery for display-referred inputs whose highlights were clipped.

A clipped light source in an sRGB/Rec.709 frame sits at 1.0 while the real light was far
brighter; blurred as is, it spreads into a grey smudge instead of a bright shaped bokeh ball.
Pixels whose brightest channel exceeds `threshold` are scaled up by up to `gain`, with a
smoothstep ramp between threshold and 1 so recovery introduces no visible contour.
"""
from __future__ import annotations

import numpy as np


def recover_highlights(img: np.ndarray, threshold: float = 0.9, gain: float = 4.0) -> np.ndarray:
    """float32 H×W×3 linear -> boosted copy: img · (1 + (gain − 1)·smoothstep(threshold, 1, max_rgb))."""
    peak = img.max(axis=2)
    if threshold >= 1.0:
        t = (peak >= threshold).astype(np.float32)
    else:
        t = np.clip((peak - threshold) / (1.0 - threshold), 0.0, 1.0)
        t = t * t * (3.0 - 2.0 * t)
    return (img * (1.0 + (gain - 1.0) * t)[..., None]).astype(np.float32, copy=False)  # no second frame copy

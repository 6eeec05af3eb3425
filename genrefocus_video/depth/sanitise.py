"""Estimated depth never sinks a job: robust range, outliers clamped, holes in-painted.

A depth *file* is the user's statement and is used as given (a blur radius beyond the frame is
refused there: it means wrong units). An *estimate* (motion, Marigold, a learned model, the
defocus cue) is ours: a few wild pixels — a triangulation near the epipole, a model's speckle, a
division by a near-zero depth — must not stop a render after hundreds of frames. So every
estimate passes :func:`sanitise_estimate`:

1. Robust range from the confident pixels (confidence > 0.3, or all finite pixels when fewer
   than 5 % are): the 0.5th and 99.5th percentiles, widened by one such span on each side (a small
   near object beyond the 99.5th percentile keeps its depth), never below 0 unless the bulk is.
2. Non-finite pixels (NaN, ±inf) are in-painted from their valid neighbours (normalised Gaussian,
   σ = 2 px; clamped into the range where no neighbour is near); finite pixels outside the range
   are clamped to it. Their confidence becomes 0, so temporal smoothing fills them from the past.
3. The per-frame counts go into the estimate's notes (``notes["sanitised"]``), with a warning the
   first time a source needs it; :func:`report_row` turns them (and the render's blur-reach
   clamp, ``notes["blur_clamped"]``) into the frame's row of the job report (``depth_estimate``).

:func:`fit_blur_reach` is the render-time net for estimates: disparities whose blur radius would
exceed the frame (which the renderer refuses for files) are clamped to the largest radius it
accepts, with a warning naming the frame.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import cv2
import numpy as np

from ..optics.coc import blur_reach
from ..record import FrameRecord
from .sources import DepthEstimate

log = logging.getLogger(__name__)

PERCENTILES = (0.5, 99.5)
MARGIN_SPANS = 1.0
CONFIDENT = 0.3
INPAINT_SIGMA_PX = 2.0


def robust_range(d: np.ndarray, confidence: Optional[np.ndarray]) -> tuple[float, float]:
    """(lo, hi) disparity range an estimate's pixels are trusted within (see module doc, step 1)."""
    finite = np.isfinite(d)
    sel = finite & (confidence > CONFIDENT) if confidence is not None else finite
    if np.count_nonzero(sel) < 0.05 * d.size:
        sel = finite
    if not sel.any():
        return 0.0, 1.0
    p_lo, p_hi = (float(v) for v in np.percentile(d[sel], PERCENTILES))
    span = max(p_hi - p_lo, 1e-6 * max(abs(p_hi), 1.0))
    lo, hi = p_lo - MARGIN_SPANS * span, p_hi + MARGIN_SPANS * span
    if p_lo >= 0.0:
        lo = max(lo, 0.0)
    return lo, hi


def _inpaint(d: np.ndarray, holes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    valid = (~holes).astype(np.float32)
    src = np.where(holes, 0.0, d).astype(np.float32)
    num = cv2.GaussianBlur(src, (0, 0), INPAINT_SIGMA_PX)
    den = cv2.GaussianBlur(valid, (0, 0), INPAINT_SIGMA_PX)
    fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.5 * (lo + hi))
    return np.where(holes, np.clip(fill, lo, hi), d).astype(np.float32)


def sanitise_disparity(d: np.ndarray, confidence: Optional[np.ndarray]
                       ) -> tuple[np.ndarray, Optional[np.ndarray], dict[str, Any]]:
    """(disparity, confidence, counts): `d` with non-finite pixels in-painted and out-of-range ones clamped."""
    d = np.asarray(d, dtype=np.float32)
    holes = ~np.isfinite(d)
    lo, hi = robust_range(d, confidence)
    with np.errstate(invalid="ignore"):
        low, high = ~holes & (d < lo), ~holes & (d > hi)
    counts = {"nonfinite": int(holes.sum()), "clamped_low": int(low.sum()), "clamped_high": int(high.sum()),
              "range": [round(lo, 6), round(hi, 6)]}
    fixed = holes | low | high
    if not fixed.any():
        return d, confidence, counts
    out = np.clip(np.where(holes, 0.0, d), lo, hi).astype(np.float32)
    if holes.any():
        out = _inpaint(out, holes, lo, hi)
    conf = None if confidence is None else np.where(fixed, 0.0, confidence).astype(np.float32)
    return out, conf, counts


def sanitise_estimate(est: DepthEstimate, index: int, warn: bool = True) -> DepthEstimate:
    """`est` with a sanitised disparity and ``notes["sanitised"]`` (counts); marked as estimated."""
    d, c, counts = sanitise_disparity(est.disparity, est.confidence)
    n = counts["nonfinite"] + counts["clamped_low"] + counts["clamped_high"]
    if n and warn:
        log.warning("frame %d: the %s depth estimate had %d unusable pixels (%d non-finite in-painted, %d clamped "
                    "into its robust range %.4g..%.4g); they get confidence 0", index, est.notes.get("source", "?"),
                    n, counts["nonfinite"], counts["clamped_low"] + counts["clamped_high"], *counts["range"])
    notes = dict(est.notes, sanitised=counts, estimated=True)
    conf = c if c is not None else np.ones_like(d)
    return DepthEstimate(d, conf, notes, affine_ambiguous=est.affine_ambiguous)


class SanitisedSource:
    """A depth source whose estimates pass :func:`sanitise_estimate` (warning once, then per frame
    at INFO; every frame's counts are in its notes). Other attributes are the wrapped source's."""

    def __init__(self, inner: Any, quiet: bool = False) -> None:
        self.inner = inner
        self.quiet = quiet
        self.warned = False

    def __getattr__(self, name: str) -> Any:  # name, warmup, fallback_frames, ... of the wrapped source
        if name == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def reset(self) -> None:
        self.inner.reset()

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        est = sanitise_estimate(self.inner.estimate(rec), rec.index, warn=not (self.warned or self.quiet))
        c = est.notes["sanitised"]
        if c["nonfinite"] + c["clamped_low"] + c["clamped_high"]:
            if self.warned or self.quiet:
                log.info("frame %d: depth estimate sanitised %s", rec.index, c)
            self.warned = True
        return est


def report_row(index: int, notes: Any) -> Optional[dict[str, float]]:
    """The job report's row for one frame rendered from an estimate: pixels in-painted (non-finite),
    clamped into the robust range (outliers), clamped to the blur reach at render time, whether
    the source fell back to its weak cue there (1: motion depth's defocus cue, the camera moved too
    little) or held a neighbouring frame's map (1: motion depth warped from a frame up to 8 away,
    notes `held_from`), and the largest exposure step motion depth corrected between the frame and a
    partner (per cent of linear light, notes `exposure_gain`; 0: none, the frames shared an exposure
    within 1 %). None for depth that was not estimated (a file is used as given)."""
    if not isinstance(notes, dict) or "sanitised" not in notes:
        return None
    c = notes["sanitised"]
    gains = [float(g) for g in notes.get("exposure_gain", ()) if g and g > 0]
    step = max((max(g, 1.0 / g) - 1.0 for g in gains), default=0.0)  # how much brighter the brighter frame is
    return {"frame": int(index), "nonfinite": int(c["nonfinite"]), "outliers": int(c["clamped_low"] + c["clamped_high"]),
            "blur_clamped": int(notes.get("blur_clamped", 0)), "fallback": int(bool(notes.get("fallback"))),
            "held": int("held_from" in notes), "exposure_step_pct": round(100.0 * step, 1)}


def fit_blur_reach(d: np.ndarray, focus_disparity: float, k: float, focus_range: float = 0.0,
                   index: Optional[int] = None) -> np.ndarray:
    """`d` clamped so no blur radius exceeds the frame's larger side (the renderer's limit).

    For estimated depth only: a file whose radii exceed the frame is refused by the renderer (wrong
    units). Returns `d` itself when nothing needs clamping."""
    h, w = d.shape[:2]
    limit = float(max(h, w))
    if k <= 0 or blur_reach(float(d.min()), float(d.max()), focus_disparity, k, focus_range) <= limit:
        return d
    half = 0.999 * limit / k + 0.5 * focus_range  # a hair inside: float32 rounding must not cross it
    lo, hi = focus_disparity - half, focus_disparity + half
    n = int(np.count_nonzero((d < lo) | (d > hi)))
    log.warning("frame %s: %d pixels of the estimated depth would blur beyond the %d px frame at K=%g (disparity "
                "%.4g..%.4g, focus %.4g): clamped to %.4g..%.4g", "?" if index is None else index, n, int(limit), k,
                float(d.min()), float(d.max()), focus_disparity, lo, hi)
    return np.clip(d, lo, hi).astype(np.float32)

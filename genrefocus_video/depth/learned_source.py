"""The `model` depth source: a learned depth model per frame, relative output aligned over time.

Metric models (Depth Pro with a focal length, metric Depth Anything, ZoeDepth) give disparity in
1/m directly and are stateless. Relative models (Depth Anything, DPT/MiDaS, Depth Pro without any
focal length) give inverse depth up to a scale and shift that change from frame to frame; the
source normalises each frame (90th percentile = 1, as the motion source does) and pulls it toward
the previous frame's aligned map with :class:`TemporalAffineAligner`.

Frames are predicted in batches (8 on a GPU) when the source can read ahead through
`frame_lookup` and no all-in-focus image replaces the frame (depth is estimated on what the
renderer blurs).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import cv2
import numpy as np

from ..record import FrameRecord
from .learned import LoadedDepthModel, ModelDepth
from .sources import DepthEstimate, FrameLookup

#: share of the previous frame's alignment kept each frame: per-frame affine jitter of a relative
#: model is cut to sqrt((1 - m)/(1 + m)) ≈ 23 % of its std, and two runs started at different
#: frames agree within 1e-3 after log(1e-3)/log(m) = 66 frames (the source's warmup)
ALIGN_MEMORY = 0.9
ALIGN_WORK_PX = 64  # the alignment is fitted on maps downsized to this many px on the larger side
BATCH_GPU = 8
MODEL_CONFIDENCE = 0.5  # the models report no uncertainty: neutral confidence (as Marigold without ensemble)


def normalise_relative(r: np.ndarray) -> np.ndarray:
    """Relative disparity scaled so its 90th percentile (over positive finite pixels) is 1."""
    ok = np.isfinite(r) & (r > 0)
    scale = float(np.percentile(r[ok], 90)) if np.count_nonzero(ok) >= 16 else 1.0
    return (r / max(scale, 1e-12)).astype(np.float32)


def _small(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    f = min(1.0, ALIGN_WORK_PX / max(h, w))
    if f >= 1.0:
        return x.astype(np.float32)
    return cv2.resize(x.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def _merge_close(px: np.ndarray, py: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Band points (sorted by px) whose px lie within `tol` of their group's first one become one
    point (medians): a depth cluster — a far background over most of the frame — votes once."""
    gx, gy, start = [], [], 0
    for i in range(1, len(px) + 1):
        if i == len(px) or px[i] - px[start] > tol:
            gx.append(float(np.median(px[start:i])))
            gy.append(float(np.median(py[start:i])))
            start = i
    return np.array(gx), np.array(gy)


def banded_affine(src: np.ndarray, dst: np.ndarray, bands: int = 24) -> tuple[float, float]:
    """(a, b) with a·src + b ≈ dst, robust to pixels that moved and to depth clusters.

    Pixels are split into `bands` equal-count bands of `src`; each band gives one point (median of
    src, median of dst: a subject that moved is a minority of its band and does not move the
    median); points closer than 5 % of the src range merge (one vote per depth cluster, so a far
    background covering most of the frame does not outvote the rest with noise-on-noise slopes);
    a Theil–Sen line goes through the remaining points (median of the pairwise slopes, then the
    median intercept), so one depth level that really changed (a subject alone at its depth,
    walking toward the camera) is outvoted by the others."""
    ok = np.isfinite(src) & np.isfinite(dst)
    x, y = src[ok].astype(np.float64), dst[ok].astype(np.float64)
    if x.size < 4 * bands:
        return 1.0, 0.0
    groups = np.array_split(np.argsort(x, kind="stable"), bands)
    px = np.array([np.median(x[g]) for g in groups])
    py = np.array([np.median(y[g]) for g in groups])
    px, py = _merge_close(px, py, 0.05 * float(np.ptp(px)))
    if len(px) < 2:
        return 1.0, 0.0
    i, j = np.triu_indices(len(px), 1)
    a = float(np.median((py[j] - py[i]) / (px[j] - px[i])))
    return a, float(np.median(py - a * px))


def align_warmup(memory: float = ALIGN_MEMORY, tol: float = 1e-3) -> int:
    """Frames a chunk must see before its first frame to match an unsplit run within `tol`."""
    return int(math.ceil(math.log(tol) / math.log(memory))) if 0 < memory < 1 else 0


class TemporalAffineAligner:
    """Relative disparity → the previous frame's scale and shift, robustly, with fading memory.

    For each frame n (normalised), a robust affine fit a·n + b ≈ A_{t-1} (the previous aligned
    map, both downsized; :func:`banded_affine`, so a subject that moved is left out) gives the map in the previous frame's units. The applied map is the fit pulled toward the
    identity, a' = 1 + m(a - 1), b' = m·b: the affine parameters become a moving average with memory
    m of the per-frame ones, so jitter is cut while a chunk started elsewhere converges as mⁿ.
    """

    def __init__(self, memory: float = ALIGN_MEMORY) -> None:
        self.memory = float(memory)
        self.reset()

    def reset(self) -> None:
        self.prev: Optional[np.ndarray] = None

    def __call__(self, relative: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(aligned disparity, a', b') for one frame's relative disparity."""
        n = normalise_relative(relative)
        small = _small(n)
        a, b = 1.0, 0.0
        if self.prev is not None and self.prev.shape == small.shape:
            fa, fb = banded_affine(small, self.prev)
            if 0.2 < fa < 5.0:  # anything else is a failed fit (a cut, a blank frame): start afresh
                a, b = 1.0 + self.memory * (fa - 1.0), self.memory * fb
        out = (a * n + b).astype(np.float32)
        self.prev = _small(out)
        return out, a, b


def focal_35mm(fov_deg: float) -> float:
    """35 mm-equivalent focal length (mm) of a horizontal field of view (36 mm wide sensor)."""
    return 18.0 / math.tan(math.radians(fov_deg) / 2.0)


class LearnedDepthSource:
    """`--depth-source model`: see the module doc. `width_over_focal` = display width / focal
    length from clip metadata (Depth Pro's metric scale), None to use the model's own estimate."""

    name = "model"

    def __init__(self, model: LoadedDepthModel, width_over_focal: Optional[float] = None,
                 frame_lookup: Optional[FrameLookup] = None, batch: Optional[int] = None,
                 memory: float = ALIGN_MEMORY) -> None:
        self.model = model
        self.width_over_focal = width_over_focal
        self.frame_lookup = frame_lookup
        self.batch = batch or (BATCH_GPU if str(model.device).startswith("cuda") else 1)
        use_fov = bool(getattr(model.config, "use_fov_model", False))
        self.metric = model.kind == "metric_depth" or (model.kind == "canonical_inverse_depth"
                                                      and (width_over_focal is not None or use_fov))
        self.aligner = TemporalAffineAligner(memory)
        self.warmup = 0 if self.metric else align_warmup(memory)
        self._ahead: dict[int, ModelDepth] = {}
        self.fov_seen: list[float] = []

    def reset(self) -> None:
        self.aligner.reset()
        self._ahead.clear()

    def camera_estimate(self) -> dict[str, float]:
        """{'focal_length_35mm': mm} from the model's field-of-view estimates so far (median), for a
        physical camera when the clip has no metadata; {} for models without one."""
        if not self.fov_seen:
            return {}
        return {"focal_length_35mm": round(focal_35mm(float(np.median(self.fov_seen))), 3)}

    def _predict(self, rec: FrameRecord) -> ModelDepth:
        if rec.index in self._ahead:
            return self._ahead.pop(rec.index)
        frames = [rec.sharp]
        if self.batch > 1 and self.frame_lookup is not None and rec.aif is None:
            for k in range(1, self.batch):
                nxt = self.frame_lookup(rec.index + k)
                if nxt is None or nxt.shape != rec.sharp.shape:
                    break
                frames.append(nxt)
        preds = self.model.predict(frames, self.width_over_focal)
        self._ahead = {rec.index + k: p for k, p in enumerate(preds[1:], start=1)}
        return preds[0]

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        pred = self._predict(rec)
        notes: dict[str, Any] = {"source": "model", "model": self.model.family, "metric": pred.metric}
        if pred.fov_deg is not None:
            self.fov_seen.append(pred.fov_deg)
            notes.update(fov_deg=round(pred.fov_deg, 3), focal_35mm=round(focal_35mm(pred.fov_deg), 3))
        conf = np.full(pred.disparity.shape, MODEL_CONFIDENCE, np.float32)
        if pred.metric:
            return DepthEstimate(pred.disparity, conf, notes)
        if self.metric:  # a metric model whose focal estimate failed on this frame
            notes["fov_invalid"] = True
        d, a, b = self.aligner(pred.disparity)
        notes["align"] = [round(a, 5), round(b, 5)]
        return DepthEstimate(d, conf, notes, affine_ambiguous=True)

"""Flow stage: DIS optical flow to the previous frame, its consistency mask and scene cuts.

:class:`FlowStage` fills ``rec.flow_to_prev`` / ``rec.flow_valid`` (flow t -> t-1 with the
forward-backward check) and ``rec.extras["scene_cut"]``; depth smoothing and subject following
read them. Temporal, warm-up 1. Each frame's 8-bit luma (what DIS and the photometric check
see) is computed once and kept for the next frame's pair. With a job's :class:`PairFlows`, a
pair whose flows another part of the job computed first (a followed subject walked back, a
depth probe's chain) is not computed again: the main pass `consume`s them, a probe's chain
keeps what it computes for the main pass.
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from ...flow import PairFlows, detect_scene_cut, forward_backward, to_gray8
from ...record import FrameRecord

log = logging.getLogger(__name__)


class FlowStage:
    """DIS flow to the previous frame + consistency mask + scene-cut flag."""

    name = "flow"
    temporal = True
    warmup = 1
    # it needs only the decoded frames (and keeps only its own state): the overlapped executor may
    # run it one frame ahead of the stages after it (pipeline/executors/overlap.py)
    runs_ahead = True

    def __init__(self, quality: str = "medium", flows: Optional[PairFlows] = None, consume: bool = False,
                 hand_over: bool = False) -> None:
        self.quality = quality  # DIS preset (flow.py): "medium" or "fine"
        self.flows, self.consume = flows, consume  # the job's shared flows (None: compute every pair here)
        # a consuming stage keeps a pair it computed for the smoother's look-ahead at the previous frame,
        # which may come after it (the overlapped executor runs this stage ahead): PairFlows hand-over
        self.hand_over = hand_over
        self.reset()

    def reset(self) -> None:
        self.prev: Optional[np.ndarray] = None
        self.prev_gray: Optional[np.ndarray] = None
        self.prev_index: Optional[int] = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        rgb = rec.frame.rgb
        gray = to_gray8(rgb)
        if self.prev is not None and self.prev.shape == rgb.shape and self.prev_index == rec.index - 1:
            if self.prev_gray is None:  # a subclass that remembered only the frame (ofx CachedFlowStage hit)
                self.prev_gray = to_gray8(self.prev)
            if self.flows is None:
                f, _, valid = forward_backward(gray, self.prev_gray, self.quality)
            else:
                f, _, valid = self.flows.forward_backward(rec.index, rec.index - 1, gray, self.prev_gray, self.quality,
                                                          keep=self.hand_over or not self.consume, consume=self.consume)
            rec.flow_to_prev, rec.flow_valid = f, valid
            cut, explained, hist = detect_scene_cut(rgb, self.prev, f, valid, grays=(gray, self.prev_gray))
            rec.extras["scene_cut"] = bool(cut)
            rec.extras["flow_explained"] = round(explained, 4)
            if cut:
                log.info("frame %d: scene cut detected (flow explains %.0f%% of the frame, histogram "
                         "similarity %.2f): temporal state reset", rec.index, 100 * explained, hist)
        else:
            rec.extras.setdefault("scene_cut", False)
        self.prev, self.prev_gray, self.prev_index = rgb, gray, rec.index
        return rec

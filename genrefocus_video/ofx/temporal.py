"""Depth smoothing in the bridge: the CLI's own temporal stages over the frames the host sent.

The plugin fetches Source and Depth for [max(first, t − W), t] (W = the smoothing warm-up,
``depth.temporal.warmup_frames``) and declares them in GetFramesNeeded. Here they run, oldest
first, through the pipeline's :class:`FlowStage` (flow from the source frames, the job's flow
quality), a :class:`DepthStage` that takes the host's depth as the file source takes a file
(confidence 1), and :class:`DepthSmoothStage`. The window starts fresh on every request, so
the result depends only on the clip and t, never on the order in which a host renders frames;
a window that starts at the clip's first frame gives exactly the CLI's frame t.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..depth.sources import DepthEstimate
from ..io.frame import Frame
from ..pipeline.stages.depth import DepthSmoothStage, DepthStage
from ..pipeline.stages.flow import FlowStage
from ..record import FrameRecord


class HostDepthSource:
    """Depth the host delivered, per frame index, trusted as a depth file is (confidence 1)."""

    name = "host"
    warmup = 0

    def __init__(self, by_index: dict[int, np.ndarray]) -> None:
        self.by_index = by_index

    def reset(self) -> None:
        pass

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        d = np.asarray(self.by_index[rec.index], dtype=np.float32)
        return DepthEstimate(d, np.ones_like(d, dtype=np.float32), {"source": "host"})


def smoothed_disparity(job: Any, sources: Sequence[np.ndarray], depths: Sequence[np.ndarray], time: float) -> np.ndarray:
    """The smoothed disparity at frame `time` from frames time, time−1, ... (newest first)."""
    t = int(round(time))
    n = len(depths)
    indices = [t - i for i in range(n)]
    chain = [FlowStage(job.depth.flow_quality), DepthStage(HostDepthSource(dict(zip(indices, depths)))),
             DepthSmoothStage(float(job.depth.smoothing))]
    rec = None
    for i in reversed(range(n)):  # oldest first, as the CLI's frame loop feeds them
        rgb = np.ascontiguousarray(sources[i], dtype=np.float32)
        rec = FrameRecord(Frame(indices[i], rgb))
        for stage in chain:
            rec = stage.process(rec)
    assert rec is not None and rec.disparity is not None
    return rec.disparity

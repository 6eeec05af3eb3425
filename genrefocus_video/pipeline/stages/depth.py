"""Depth stages: per-frame disparity from the chosen source, then flow-guided smoothing.

* :class:`DepthStage`: ``rec.disparity`` + ``rec.depth_confidence`` from the source of
  ``depth.source`` (file, motion, marigold; warm-up = the source's, e.g. 8 frames for motion).
* :class:`DepthSmoothStage` (``depth.smoothing > 0``): flow-guided temporal smoothing
  (depth/temporal.py), warm-up chosen so a chunk matches a sequential run within 1e-3.
* :func:`depth_chain`: a fresh copy of (deblur +) flow + depth + smoothing, for probes that need the
  disparity of frames other than the current one.

With a deblur before depth (stages/aif.py) the depth source estimates on ``rec.aif``
(:func:`seen_by_depth`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import numpy as np

from ...depth.sources import DepthEstimate, make_source
from ...depth.temporal import TemporalDepthSmoother, warmup_frames
from ...errors import InputError, JobError
from ...io.frame import ClipInfo
from ...record import FrameRecord
from .flow import FlowStage


class DepthStage:
    """Fills rec.disparity / rec.depth_confidence from a depth source."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.name = f"depth_{source.name}"
        self.warmup = int(getattr(source, "warmup", 0))
        self.temporal = self.warmup > 0

    def reset(self) -> None:
        self.source.reset()

    def process(self, rec: FrameRecord) -> FrameRecord:
        est: DepthEstimate = self.source.estimate(seen_by_depth(rec))
        d = est.disparity
        if d.shape != (rec.frame.height, rec.frame.width):
            raise InputError(f"frame {rec.index}: depth is {d.shape[1]}x{d.shape[0]}, frame is "
                             f"{rec.frame.width}x{rec.frame.height}")
        rec.disparity, rec.depth_confidence = d.astype(np.float32), est.confidence.astype(np.float32)
        rec.extras["depth"] = dict(est.notes)
        rec.extras["depth_affine"] = bool(est.affine_ambiguous)
        return rec


def seen_by_depth(rec: FrameRecord) -> FrameRecord:
    """The record a depth source estimates on: with a deblur before depth (stages/aif.py) the
    all-in-focus frame in place of the frame as shot, as the Genfocus reference does."""
    if rec.aif is None:
        return rec
    return FrameRecord(replace(rec.frame, rgb=rec.aif), extras=rec.extras)


class DepthSmoothStage:
    """Flow-guided temporal smoothing of rec.disparity (see depth/temporal.py)."""

    name = "depth_smooth"
    temporal = True

    def __init__(self, strength: float) -> None:
        self.smoother = TemporalDepthSmoother(strength)
        self.warmup = warmup_frames(strength)
        self.prev_index: Optional[int] = None

    def reset(self) -> None:
        self.smoother.reset()
        self.prev_index = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.disparity is None:
            raise JobError(f"frame {rec.index}: depth smoothing ran before any depth stage")
        contiguous = self.prev_index == rec.index - 1
        s, c, info = self.smoother(rec.frame.rgb, rec.disparity, rec.depth_confidence,
                                   rec.flow_to_prev if contiguous else None, rec.flow_valid,
                                   scene_cut=bool(rec.extras.get("scene_cut")),
                                   affine_ambiguous=bool(rec.extras.get("depth_affine")))
        rec.disparity, rec.depth_confidence = s, c
        rec.extras["depth_smoothing"] = {"reset": info.reset, "trusted": round(info.trusted_fraction, 3)}
        self.prev_index = rec.index
        return rec


def depth_chain(job: Any, info: ClipInfo, lookup: Optional[Any], quiet: bool = True,
                models: Any = None, aif: Any = None, flows: Any = None) -> list[Any]:
    """A fresh copy of the depth part of the head, for probes (quiet: the main pass reports).
    `aif`: the head's stages.aif.AllInFocus (its deblur and cached frames), made here when the job
    deblurs before depth and none is given; `flows`: the job's flow.PairFlows, which keeps the
    chain's flows for the main pass."""
    from .aif import all_in_focus

    chain: list[Any] = []
    aif = aif if aif is not None else all_in_focus(job, info)
    if aif is not None:  # the probe's depth sees the same deblurred frames as the main pass
        chain.append(aif.stage())
        lookup = aif.lookup(lookup) if lookup is not None else None
    if job.depth.smoothing_strength > 0:
        chain.append(FlowStage(job.depth.flow_quality, flows))
    chain.append(DepthStage(make_source(job, info, lookup, quiet=quiet, models=models)))
    if job.depth.smoothing_strength > 0:
        chain.append(DepthSmoothStage(job.depth.smoothing_strength))
    return chain

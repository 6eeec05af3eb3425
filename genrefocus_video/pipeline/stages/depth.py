"""Depth stages: per-frame disparity from the chosen source, then flow-guided smoothing.

* :class:`DepthStage`: ``rec.disparity`` + ``rec.depth_confidence`` from the source of
  ``depth.source`` (file, motion, marigold; warm-up = the source's, e.g. 16 frames for motion).
* :class:`DepthSmoothStage` (``depth.smoothing > 0``): flow-guided temporal smoothing
  (depth/temporal.py), warm-up chosen so a chunk matches a sequential run within 1e-3.
* :func:`depth_chain`: a fresh copy of (deblur +) flow + depth + smoothing, for probes that need the
  disparity of frames other than the current one.

Look-ahead (with smoothing, where frames can be read ahead): the depth stage also estimates frame
t + 1 while it processes frame t (``rec.depth_ahead``; kept, so each frame is estimated once and in
order), and the smoothing stage gives it to the smoother (depth/temporal_ahead.py) with the flow
t -> t + 1, handed over to the flow stage of frame t + 1 (flow.PairFlows). A failure estimating
t + 1 is frame t + 1's: frame t is smoothed without its look-ahead, as a clip's last frame is, and
written, and the error is raised at frame t + 1's own turn, so a failed job keeps every frame
before the one whose estimate failed (issue 15) and the rerun resumes there. (Past the last frame
to render, nothing raises it: the job ends with its last frame smoothed as a clip's last one.)

With a deblur before depth (stages/aif.py) the depth source estimates on ``rec.aif``
(:func:`seen_by_depth`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from ...depth.sources import DepthEstimate, make_source
from ...depth.temporal import TemporalDepthSmoother, warmup_frames
from ...depth.temporal_ahead import Ahead
from ...errors import InputError, JobError
from ...flow import PairFlows, consistency, detect_scene_cut, forward_backward, to_gray8
from ...io.frame import ClipInfo, Frame
from ...record import FrameRecord
from .flow import FlowStage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DepthAhead:
    """Frame t + 1 and its depth estimate, made while frame t is processed (``rec.depth_ahead``)."""

    frame: Frame  # as decoded (the flow and the smoother's photometric check use its pixels)
    estimate: DepthEstimate  # from the depth source (on the all-in-focus frame when a deblur runs first)


class DepthStage:
    """Fills rec.disparity / rec.depth_confidence from a depth source; with `frames` (frames by
    index: a probe.FrameLookup or the OFX window) also rec.depth_ahead, frame t + 1's estimate, for
    the smoother's look-ahead. `aif`: the head's stages.aif.AllInFocus when a deblur runs before
    depth (the look-ahead frame is deblurred as the main pass's frames are)."""

    def __init__(self, source: Any, frames: Any = None, aif: Any = None) -> None:
        self.source = source
        self.name = f"depth_{source.name}"
        self.warmup = int(getattr(source, "warmup", 0))
        self.frames, self.aif = frames, aif
        self.temporal = self.warmup > 0 or frames is not None
        self._next: Optional[tuple[int, DepthEstimate]] = None
        self._failed: Optional[tuple[int, Exception]] = None  # a look-ahead's failure, raised at its frame's turn

    def reset(self) -> None:
        self.source.reset()
        self._next = self._failed = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        est = self._estimate(rec)
        d = est.disparity
        if d.shape != (rec.frame.height, rec.frame.width):
            raise InputError(f"frame {rec.index}: depth is {d.shape[1]}x{d.shape[0]}, frame is "
                             f"{rec.frame.width}x{rec.frame.height}")
        rec.disparity, rec.depth_confidence = d.astype(np.float32), est.confidence.astype(np.float32)
        rec.extras["depth"] = dict(est.notes)
        rec.extras["depth_affine"] = bool(est.affine_ambiguous)
        if self.frames is not None:
            rec.depth_ahead = self._look_ahead(rec.index + 1)
        return rec

    def _estimate(self, rec: FrameRecord) -> DepthEstimate:
        """This frame's estimate: the one made as the previous frame's look-ahead, else now; the
        look-ahead's failure, if estimating this frame failed then."""
        kept, self._next = self._next, None
        failed, self._failed = self._failed, None
        if kept is not None and kept[0] == rec.index:
            return kept[1]
        if failed is not None and failed[0] == rec.index:
            raise failed[1]
        return self.source.estimate(seen_by_depth(rec))

    def _look_ahead(self, index: int) -> Optional[DepthAhead]:
        """Frame `index`'s estimate for the smoother's look-ahead, or None: past the clip's end, or
        when estimating it fails. The failure is frame `index`'s, not this frame's: it is kept and
        raised at `index`'s own turn (:meth:`_estimate`), so this frame is smoothed and written
        without its look-ahead, as a clip's last frame is, and a failed job keeps it."""
        try:
            return self._estimate_next(index)
        except Exception as exc:  # noqa: BLE001 — any estimator or read error; re-raised at its frame
            log.warning("frame %d: its depth estimate failed (%s: %s); frame %d is smoothed without "
                        "its look-ahead", index, type(exc).__name__, exc, index - 1)
            self._failed = (index, exc)
            return None

    def _estimate_next(self, index: int) -> Optional[DepthAhead]:
        """Frame `index`'s estimate, kept for its own turn; None past the clip's end."""
        read = getattr(self.frames, "frame_ahead", None) or self.frames.frame
        frame = read(index)
        if frame is None:
            return None
        ahead = FrameRecord(frame)
        if self.aif is not None:
            ahead.aif = self.aif.of(frame)
        est = self.source.estimate(seen_by_depth(ahead))
        self._next = (index, est)
        return DepthAhead(frame, est)


def seen_by_depth(rec: FrameRecord) -> FrameRecord:
    """The record a depth source estimates on: with a deblur before depth (stages/aif.py) the
    all-in-focus frame in place of the frame as shot, as the Genfocus reference does."""
    if rec.aif is None:
        return rec
    return FrameRecord(replace(rec.frame, rgb=rec.aif), extras=rec.extras)


class DepthSmoothStage:
    """Flow-guided temporal smoothing of rec.disparity (see depth/temporal.py), with frame t + 1 as
    the smoother's look-ahead where the depth stage made one (``rec.depth_ahead``)."""

    name = "depth_smooth"
    temporal = True

    def __init__(self, strength: float, flows: Optional[PairFlows] = None, quality: str = "medium") -> None:
        self.smoother = TemporalDepthSmoother(strength)
        self.warmup = warmup_frames(strength)
        self.flows, self.quality = flows, quality  # the flow stage's PairFlows and DIS preset
        self.prev_index: Optional[int] = None

    def reset(self) -> None:
        self.smoother.reset()
        self.prev_index = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.disparity is None:
            raise JobError(f"frame {rec.index}: depth smoothing ran before any depth stage")
        contiguous = self.prev_index == rec.index - 1
        gray = to_gray8(rec.frame.rgb)  # frame t's luma: the look-ahead's flow pair and the smoother's checks
        s, c, info = self.smoother(rec.frame.rgb, rec.disparity, rec.depth_confidence,
                                   rec.flow_to_prev if contiguous else None, rec.flow_valid,
                                   scene_cut=bool(rec.extras.get("scene_cut")),
                                   affine_ambiguous=bool(rec.extras.get("depth_affine")),
                                   ahead=self._ahead(rec, rec.depth_ahead, gray), gray=gray)
        rec.depth_ahead = None  # used: it does not travel on with the record
        rec.disparity, rec.depth_confidence = s, c
        rec.extras["depth_smoothing"] = {"reset": info.reset, "trusted": round(info.trusted_fraction, 3)}
        self.prev_index = rec.index
        return rec

    def _ahead(self, rec: FrameRecord, nxt: Optional[DepthAhead], g0: np.ndarray) -> Optional[Ahead]:
        """The smoother's look-ahead from frame t + 1 and the flow t -> t + 1 (None across a scene
        cut, or without a next frame of the same size). `g0`: frame t's flow.to_gray8 luma."""
        if nxt is None or nxt.frame.index != rec.index + 1 or nxt.frame.rgb.shape != rec.frame.rgb.shape:
            return None
        g1 = to_gray8(nxt.frame.rgb)
        if self.flows is None:
            back, fwd, valid1 = forward_backward(g1, g0, self.quality)
        else:  # the pair the flow stage of frame t + 1 needs: computed once, by whichever comes first
            back, fwd, valid1 = self.flows.forward_backward(rec.index + 1, rec.index, g1, g0, self.quality,
                                                            keep=True, consume=True)
        if detect_scene_cut(nxt.frame.rgb, rec.frame.rgb, back, valid1, grays=(g1, g0))[0]:
            return None
        return Ahead(nxt.estimate.disparity, nxt.frame.rgb, fwd, consistency(fwd, back), g1)


def depth_chain(job: Any, info: ClipInfo, lookup: Optional[Any], quiet: bool = True,
                models: Any = None, aif: Any = None, flows: Any = None) -> list[Any]:
    """A fresh copy of the depth part of the head, for probes (quiet: the main pass reports).
    `aif`: the head's stages.aif.AllInFocus (its deblur and cached frames), made here when the job
    deblurs before depth and none is given; `flows`: the job's flow.PairFlows, which keeps the
    chain's flows for the main pass."""
    from .aif import all_in_focus

    chain: list[Any] = []
    frames = lookup  # the look-ahead's frames as decoded (before the deblur's wrapping below)
    aif = aif if aif is not None else all_in_focus(job, info)
    if aif is not None:  # the probe's depth sees the same deblurred frames as the main pass
        chain.append(aif.stage())
        lookup = aif.lookup(lookup) if lookup is not None else None
    smooth = job.depth.smoothing_strength > 0
    if smooth:
        chain.append(FlowStage(job.depth.flow_quality, flows))
    chain.append(DepthStage(make_source(job, info, lookup, quiet=quiet, models=models),
                            frames=frames if smooth else None, aif=aif))
    if smooth:
        chain.append(DepthSmoothStage(job.depth.smoothing_strength, flows, job.depth.flow_quality))
    return chain

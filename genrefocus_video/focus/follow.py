"""Follow focus: a subject tracked from its box frame, forward frame by frame and back in time.

Forward (frames from the box frame on): :class:`~.tracking.SubjectTracker` moves the box with
the frame's flow to the previous frame as a check, :func:`~.tracking.robust_disparity` measures
the subject in it (with the subject's depth a frame ago as prior), and an
:class:`~.tracking.AlphaBetaFollower` (time constant ``follow_time``) smooths the measurement
into the focus. A lost track holds the focus until the subject is re-acquired.

Backward (frames before the box frame): the same tracker, flow check, measurement and follower
run in reverse time over frames read on demand, so a subject picked where it is clearly visible
(often mid-shot) is followed before that frame too.

State depends on every frame since the box frame, so a run split in chunks must replay from the
box frame (:data:`FOLLOW_WARMUP`). Arrays and plain values in, plain values out.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..errors import JobError
from ..flow import PairFlows, detect_scene_cut, forward_backward
from .tracking import AlphaBetaFollower, Box, SubjectTracker, robust_disparity

log = logging.getLogger(__name__)

#: A followed subject's state depends on every frame since its box frame.
FOLLOW_WARMUP = 1_000_000


@dataclass
class ClipAccess:
    """Random access to the clip for following a subject back in time (plain callables)."""

    disparity_at: Callable[[int], np.ndarray]  # frame -> the disparity the main pass computes there
    rgb_at: Optional[Callable[[int], Optional[np.ndarray]]] = None  # frame -> linear RGB (None: unreadable);
    # without it frames before the box frame hold the box frame's depth
    prefetch: Optional[Callable[[int, int], None]] = None  # load frames first..last in one forward pass
    block: int = 1  # frames read forward per block while walking back
    flows: Optional[PairFlows] = None  # the job's shared frame-pair flows (the main pass reuses the walk's)


@dataclass
class FollowStep:
    """One frame of a followed subject: the focus, the row fields and a lost-track note."""

    focus: float
    fields: dict[str, Any] = field(default_factory=dict)  # status, subject_*, box_*, note
    lost: Optional[str] = None  # why the track is lost on this frame (focus held)


def _box_fields(box: Box) -> dict[str, float]:
    return {"box_x": round(box[0], 2), "box_y": round(box[1], 2), "box_w": round(box[2], 2), "box_h": round(box[3], 2)}


def measure(disparity: np.ndarray, box: Box, confidence: Optional[np.ndarray] = None,
            prior: Optional[float] = None) -> tuple[float, float, float]:
    """(value, lo, hi): the subject's robust disparity in `box` and its 10-90 % band."""
    v, lo, hi, _ = robust_disparity(disparity, box, confidence=confidence, prior=prior)
    return v, lo, hi


class SubjectFollow:
    """The focus on a subject boxed at `box_frame`, frame by frame (see module doc)."""

    def __init__(self, box: Box, box_frame: int, first: int, fps: float, follow_time: float,
                 flow_quality: str = "medium", range_subject: bool = False) -> None:
        self.box, self.box_frame, self.first = box, int(box_frame), int(first)
        self.fps, self.follow_time, self.flow_quality = float(fps), float(follow_time), flow_quality
        self.range_subject = bool(range_subject)
        self.lost_spans: list[list[Any]] = []  # [first, last, reason] of each lost span
        self.tracker = SubjectTracker()
        self.follower = AlphaBetaFollower(follow_time, self.fps)
        self.band = AlphaBetaFollower(follow_time, self.fps)  # width of the subject's band (range_subject)
        self._back: Optional[dict[int, FollowStep]] = None  # frames before the box, followed back
        self.reset()

    def reset(self) -> None:
        """Start again from the box frame (chunk start); the backward pass is kept (it is a pure function)."""
        self.tracker = SubjectTracker()
        self.follower.reset()
        self.band.reset()
        self._started = False
        self._held: Optional[tuple[float, float, float]] = None
        self._lost_reason: Optional[str] = None

    # -- frames before the box frame
    def before_box(self, index: int, clip: ClipAccess) -> FollowStep:
        """Frame `index` < box_frame: followed back from the box frame, else the box frame's depth held."""
        if self._back is None:
            self._back = self.track_back(clip)
        if index in self._back:
            return self._back[index]
        if self._held is None:  # the frame could not be read back: hold the box frame's depth
            self._held = measure(clip.disparity_at(self.box_frame), self.box)
        v, lo, hi = self._held
        return FollowStep(v, {"status": "before-box", "subject_disparity": v, "subject_lo": lo, "subject_hi": hi,
                              "note": f"holding the subject's depth at its box frame {self.box_frame}"})

    def track_back(self, clip: ClipAccess) -> dict[int, FollowStep]:
        """The subject followed from its box frame back to the first rendered frame: {frame: step}."""
        out: dict[int, FollowStep] = {}
        rgb_at = clip.rgb_at
        if rgb_at is None:
            return out
        nxt = rgb_at(self.box_frame)
        if nxt is None:
            return out
        tracker = SubjectTracker()
        follower = AlphaBetaFollower(self.follow_time, self.fps)
        tracker.start(nxt, self.box)
        follower(measure(clip.disparity_at(self.box_frame), self.box)[0])
        span: Optional[list[Any]] = None
        block = max(1, clip.block)  # read forward in blocks, walk each block backward
        for i in range(self.box_frame - 1, self.first - 1, -1):
            if (self.box_frame - 1 - i) % block == 0 and clip.prefetch is not None:
                clip.prefetch(max(self.first, i - block + 1), i)
            rgb = rgb_at(i)
            if rgb is None:
                break
            if clip.flows is not None:
                f, _, valid = clip.flows.forward_backward(i, i + 1, rgb, nxt, self.flow_quality)
            else:
                f, _, valid = forward_backward(rgb, nxt, self.flow_quality)
            cut = detect_scene_cut(rgb, nxt, f, valid)[0]
            res = tracker.update(rgb, f, bool(cut))
            if res.status == "lost" or res.box is None:
                if span is None:
                    log.warning("frame %d: subject track lost while following back from its box frame %d (%s); "
                                "holding focus there", i, self.box_frame, res.reason)
                    span = [i, i, f"{res.reason} (following back from frame {self.box_frame})"]
                    self.lost_spans.append(span)
                span[0] = i
                held = float(follower.hold())  # type: ignore[arg-type]  # measured at the box frame: never None
                out[i] = FollowStep(held, {"status": "lost", "note": span[2]}, lost=span[2])
            else:
                span = None
                prior = follower.x if res.status == "tracking" else None
                v, lo, hi = measure(clip.disparity_at(i), res.box, None, prior)
                out[i] = FollowStep(float(follower(v)), {
                    "status": res.status, "subject_disparity": v, "subject_lo": lo, "subject_hi": hi,
                    **_box_fields(res.box), "note": f"followed back from the box frame {self.box_frame}"})
            nxt = rgb
        return out

    # -- frames from the box frame on
    def forward(self, index: int, rgb: np.ndarray, disparity: Optional[np.ndarray],
                confidence: Optional[np.ndarray], flow_to_prev: Optional[np.ndarray], scene_cut: bool) -> FollowStep:
        """Frame `index` >= box_frame, in order: track, measure, smooth."""
        if disparity is None:
            raise JobError(f"frame {index}: subject following needs depth before the focus stage")
        note: Optional[str] = None
        if index == self.box_frame or not self._started:
            if index != self.box_frame:
                raise JobError(f"frame {index}: the followed subject's box is at frame {self.box_frame}; "
                               "this chunk was started without the frames since then (warm-up too short)")
            self.tracker.start(rgb, self.box)
            self._started = True
            box, status = self.box, "tracking"
        else:
            res = self.tracker.update(rgb, flow_to_prev, scene_cut)
            box, status = res.box, res.status
            if status == "lost":
                return self._lost(index, res.reason, disparity)
            if status == "reacquired":
                log.warning("frame %d: subject %s", index, res.reason)
                note = res.reason
            self._lost_reason = None
        assert box is not None
        # the subject's depth a frame ago picks it out of a drifted or oversized box (not after a
        # re-acquisition: the subject may have moved in depth while it was lost)
        prior = self.follower.x if status == "tracking" else None
        v, lo, hi = measure(disparity, box, confidence, prior)
        fields = {"status": status, "subject_disparity": v, "subject_lo": lo, "subject_hi": hi, **_box_fields(box)}
        if note is not None:
            fields["note"] = note
        return FollowStep(self.follower(v), fields)

    def _lost(self, index: int, reason: str, disparity: np.ndarray) -> FollowStep:
        if self._lost_reason is None:
            log.warning("frame %d: subject track lost (%s); holding focus at %.5g until it is re-acquired",
                        index, reason, self.follower.x if self.follower.x is not None else float("nan"))
            self.lost_spans.append([index, index, reason])
        self._lost_reason = reason
        self.lost_spans[-1][1] = index
        a = self.follower.hold()
        focus = float(a) if a is not None else float(measure(disparity, self.box)[0])
        return FollowStep(focus, {"status": "lost", "note": reason}, lost=reason)

    # -- the sharp band
    def focus_range(self, a: float, step: FollowStep, margin: float) -> float:
        """The sharp band this frame: `margin` (the job's focus range), plus with range_subject the width
        that centres on a and covers the subject's 10-90 % disparities, smoothed like the focus (held while
        the track is lost)."""
        if not self.range_subject:
            return margin
        lo, hi = step.fields.get("subject_lo"), step.fields.get("subject_hi")
        if step.fields.get("status") != "lost" and lo is not None and hi is not None:
            w = self.band(2.0 * max(float(hi) - a, a - float(lo), 0.0))
        else:
            w = self.band.hold() or 0.0
        return float(max(w, 0.0) + margin)

"""Per-frame focus: the focus disparity, the sharp band and one track row for each frame.

:class:`FocusResolver` is what the pipeline's focus stage runs for every frame (any face, any
executor): the job's focus plan (:mod:`.modes`) for the stateless modes, a
:class:`~.follow.SubjectFollow` for a followed subject. Each frame gives a :class:`FocusFrame`:
the focus disparity a, the focus range (disparity band kept sharp, ``focus.range`` plus the
subject's band with ``focus.range_subject``) and a row of :data:`ROW_KEYS` for the focus-track
export and plot (:mod:`.export`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..errors import JobError
from ..tracks import Key
from .follow import ClipAccess, SubjectFollow
from .modes import ClipFrames, plan_focus

ROW_KEYS = ("frame", "time", "focus_disparity", "focus_range", "mode", "status", "subject_disparity", "subject_lo",
            "subject_hi", "box_x", "box_y", "box_w", "box_h", "note")


@dataclass
class FocusFrame:
    """One frame's focus: disparity a, sharp band width (disparity), its track row and a lost-track note."""

    focus: float
    focus_range: float
    row: dict[str, Any]
    lost: Optional[str] = None


class FocusResolver:
    """The focus of every frame of a clip from the job's ``focus`` section (see module doc)."""

    def __init__(self, focus: Any, clip: ClipFrames, access: ClipAccess, flow_quality: str = "medium") -> None:
        self.clip, self.access = clip, access
        self.plan = plan_focus(focus, clip, access.disparity_at)
        self.margin = float(focus.range)
        self.follow: Optional[SubjectFollow] = None
        if self.plan.follow:
            assert self.plan.box is not None and self.plan.box_frame is not None
            self.follow = SubjectFollow(self.plan.box, self.plan.box_frame, clip.first, clip.fps, focus.follow_time,
                                        flow_quality, bool(focus.range_subject))

    @property
    def mode(self) -> str:
        return self.plan.mode

    @property
    def keys(self) -> list[Key]:
        return self.plan.keys

    @property
    def lost_spans(self) -> list[list[Any]]:
        """[first, last, reason] of each span where the followed subject was lost (focus held)."""
        return self.follow.lost_spans if self.follow is not None else []

    def reset(self) -> None:
        """Clean state for a run that starts at the box frame (a chunk's warm-up start)."""
        if self.follow is not None:
            self.follow.reset()

    def frame(self, index: int, time: float, rgb: Optional[np.ndarray] = None, disparity: Optional[np.ndarray] = None,
              confidence: Optional[np.ndarray] = None, flow_to_prev: Optional[np.ndarray] = None,
              scene_cut: bool = False) -> FocusFrame:
        """Frame `index`'s focus. A followed subject needs frames in order from its box frame, with the
        frame's linear RGB, disparity (+ confidence) and flow to the previous frame."""
        row: dict[str, Any] = {k: None for k in ROW_KEYS}
        row.update(frame=index, time=round(time, 6), mode=self.plan.mode, status="ok")
        lost: Optional[str] = None
        step = None
        if self.follow is None:
            a = self.plan.at(index)
        else:
            if index < self.follow.box_frame:
                step = self.follow.before_box(index, self.access)
            else:
                assert rgb is not None, "a followed subject needs the frame's pixels"
                step = self.follow.forward(index, rgb, disparity, confidence, flow_to_prev, scene_cut)
            row.update(step.fields)
            a, lost = step.focus, step.lost
        if not math.isfinite(a):
            raise JobError(f"frame {index}: focus disparity is not finite ({a})")
        band = self.margin if self.follow is None or step is None else self.follow.focus_range(a, step, self.margin)
        row["focus_disparity"] = a
        row["focus_range"] = band
        return FocusFrame(a, band, row, lost)

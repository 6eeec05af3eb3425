"""Focus stage: the pipeline's adapter to :mod:`genrefocus_video.focus` (the algorithms live there).

:class:`FocusStage` resolves ``rec.focus_disparity`` and ``rec.focus_range`` for every frame with
a :class:`~genrefocus_video.focus.resolve.FocusResolver` and keeps one row per frame (also in
``rec.extras["focus"]``) for the focus-track export and plot. Keyframed and constant focus are
stateless; a followed subject is stateful from its box frame on, so the stage then declares a
warm-up that reaches back to the clip start.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ...focus.follow import FOLLOW_WARMUP, ClipAccess
from ...focus.modes import clip_frames
from ...focus.resolve import FocusResolver
from ...io.frame import ClipInfo
from ...record import FrameRecord
from ...tracks import Key


class FocusStage:
    """Resolves rec.focus_disparity for every frame; records one row per frame."""

    name = "focus"

    def __init__(self, job: Any, info: ClipInfo, probe: Callable[[int], np.ndarray]) -> None:
        self.job, self.info, self.probe = job, info, probe
        clip = clip_frames(job.input.first_frame, job.input.last_frame, info.n_frames, info.width, info.height,
                           info.fps, info.timecode)
        self.resolver = FocusResolver(job.focus, clip, self._access(), job.depth.flow_quality)
        self.rows: list[dict[str, Any]] = []
        self.follow = self.resolver.plan.follow
        self.temporal = self.follow
        self.warmup = FOLLOW_WARMUP if self.follow else 0

    def _access(self) -> ClipAccess:
        """Frames and disparities of other frames: the probe, and its frame lookup when it has one."""
        lookup = getattr(self.probe, "lookup", None)
        if lookup is None:
            return ClipAccess(self.probe)
        return ClipAccess(self.probe, lookup, self._prefetch, max(1, lookup.size - 1), getattr(self.probe, "flows", None))

    def _prefetch(self, first: int, last: int) -> None:
        self.probe.lookup.prefetch(first, last)  # type: ignore[attr-defined]
        prefetch_depth = getattr(self.probe, "prefetch", None)
        if prefetch_depth is not None:
            prefetch_depth(first, last)

    @property
    def mode(self) -> str:
        return self.resolver.mode

    @property
    def keys(self) -> list[Key]:
        return self.resolver.keys

    @property
    def lost_spans(self) -> list[list[Any]]:
        return self.resolver.lost_spans

    def reset(self) -> None:
        self.resolver.reset()

    def process(self, rec: FrameRecord) -> FrameRecord:
        res = self.resolver.frame(rec.index, rec.frame.time, rec.frame.rgb, rec.disparity, rec.depth_confidence,
                                  rec.flow_to_prev, bool(rec.extras.get("scene_cut")))
        if res.lost is not None:
            rec.extras["focus_track_lost"] = res.lost
        rec.focus_disparity = res.focus
        rec.focus_range = res.focus_range
        rec.extras["focus"] = res.row
        self._record(res.row)
        return rec

    def _record(self, row: dict[str, Any]) -> None:
        if self.rows and self.rows[-1]["frame"] >= row["frame"]:  # a chunk re-run / warm-up replay
            self.rows = [r for r in self.rows if r["frame"] < row["frame"]]
        self.rows.append(row)


def focus_rows(records: Sequence[FrameRecord]) -> list[dict[str, Any]]:
    """Rows from records' extras (for executors that run the focus stage elsewhere)."""
    return [r.extras["focus"] for r in records if "focus" in r.extras]

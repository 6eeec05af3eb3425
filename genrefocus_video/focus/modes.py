"""Focus modes: from the job's focus settings to a focus plan, with the settings' checks.

The modes, first match wins: a followed subject (``focus.track`` follow + ``focus.box``),
keyframes, a picked point, a metric depth (a = 1/depth), a disparity, else the centre of the
first frame. All but the followed subject are stateless: :meth:`FocusPlan.at` gives frame t's
focus disparity in closed form, the same whichever frames run first or where (chunks, Ray, OFX).
A followed subject is resolved frame by frame by :class:`~genrefocus_video.focus.follow.SubjectFollow`.

Inputs are plain values (:class:`ClipFrames`) and a ``disparity_at(frame)`` callable that returns
the disparity map of any frame (point and keyframe picks need frames other than the current one).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..errors import ConfigError
from ..tracks import ConstantTrack, Key, KeyframeTrack
from .keyframes import FocusKey, check_box, check_keys, parse_box, parse_keyframes, parse_point
from .point import centre_disparity, point_disparity
from .tracking import Box

log = logging.getLogger(__name__)

DisparityAt = Callable[[int], np.ndarray]  # frame index -> H×W disparity of that frame


@dataclass(frozen=True)
class ClipFrames:
    """The frames focus is resolved over (plain values from the job and the clip)."""

    first: int  # first rendered frame
    last: Optional[int]  # last rendered frame, inclusive (None: unknown length)
    n_frames: Optional[int]  # frames in the whole clip (keyframes may lie outside the rendered range)
    width: int
    height: int
    fps: float = 24.0
    timecode: Optional[str] = None  # the clip's start timecode (keyframes given as timecodes)


def clip_frames(first_frame: int, last_frame: Optional[int], n_frames: Optional[int], width: int, height: int,
                fps: Optional[float] = None, timecode: Optional[str] = None) -> ClipFrames:
    """ClipFrames with the rendered range clamped to the clip and 24 fps when the rate is unknown."""
    last = last_frame
    if n_frames is not None:
        last = n_frames - 1 if last is None else min(last, n_frames - 1)
    return ClipFrames(int(first_frame), last, n_frames, int(width), int(height), float(fps) if fps else 24.0, timecode)


@dataclass
class FocusPlan:
    """A resolved focus mode: a track a(t) for the stateless modes, or the subject box to follow."""

    mode: str  # disparity | depth | point | keyframes/<ease> | centre | follow
    track: Optional[Callable[[float], float]] = None
    keys: list[Key] = field(default_factory=list)  # resolved keyframes (for the focus plot)
    box: Optional[Box] = None  # the followed subject's box (x, y, w, h px) at box_frame
    box_frame: Optional[int] = None

    @property
    def follow(self) -> bool:
        return self.box is not None

    def at(self, frame: int) -> float:
        """Focus disparity at `frame` (stateless modes only)."""
        if self.track is None:
            raise ConfigError("a followed subject's focus is resolved frame by frame (focus.follow.SubjectFollow)")
        return float(self.track(frame))


def plan_focus(focus: Any, clip: ClipFrames, disparity_at: DisparityAt) -> FocusPlan:
    """The focus plan of the job's ``focus`` section (params.focus.FocusParams) on this clip.

    Raises ConfigError (one line naming the setting) for contradictory or out-of-clip settings.
    """
    follow = focus.track == "follow"
    if focus.range_subject and not follow:
        raise ConfigError("'focus.range_subject' (--focus-range-subject) needs a followed subject "
                          "(--focus-track follow --focus-box X,Y,W,H)")
    if follow:
        return _follow_plan(focus, clip)
    if focus.keyframes:
        return _keyframe_plan(focus, clip, disparity_at)
    if focus.point:
        return _point_plan(focus.point, clip, disparity_at)
    if focus.depth is not None:
        if focus.depth <= 0:
            raise ConfigError(f"'focus.depth' must be > 0, got {focus.depth}")
        return FocusPlan("depth", ConstantTrack(1.0 / focus.depth))
    if focus.disparity is not None:
        return FocusPlan("disparity", ConstantTrack(focus.disparity))
    v = centre_disparity(disparity_at(clip.first))
    log.warning("no focus given (--focus-disparity/-depth/-point/-keyframes/--focus-track): focusing on the "
                "centre of frame %d, focus disparity %.5g", clip.first, v)
    return FocusPlan("centre", ConstantTrack(v))


def resolve_focus(focus: Any, clip: ClipFrames, frame: int, disparity_at: DisparityAt) -> float:
    """Frame `frame`'s focus disparity for a stateless focus mode (the function every face calls)."""
    return plan_focus(focus, clip, disparity_at).at(frame)


def _outside(frame: int, clip: ClipFrames) -> bool:
    return frame < clip.first or (clip.last is not None and frame > clip.last)


def _follow_plan(focus: Any, clip: ClipFrames) -> FocusPlan:
    if not focus.box:
        raise ConfigError("'focus.track' follow needs 'focus.box' (--focus-box X,Y,W,H[@FRAME])")
    box, bf = parse_box(focus.box)
    box_frame = clip.first if bf is None else bf
    if _outside(box_frame, clip):
        raise ConfigError(f"'focus.box' frame {box_frame} is outside the clip's frames "
                          f"{clip.first}..{clip.last if clip.last is not None else ''}")
    check_box(box, clip.width, clip.height, focus.box)
    return FocusPlan("follow", box=box, box_frame=box_frame)


def _keyframe_plan(focus: Any, clip: ClipFrames, disparity_at: DisparityAt) -> FocusPlan:
    raw = parse_keyframes(focus.keyframes, clip.fps, clip.timecode)
    # Keys may lie outside the rendered range (a render of frames 30-40 of a 24-48 rack), not outside the clip.
    check_keys(raw, 0, clip.n_frames - 1 if clip.n_frames is not None else None, clip.width, clip.height)
    keys = [Key(k.frame, key_value(k, disparity_at)) for k in raw]
    return FocusPlan(f"keyframes/{focus.ease}", KeyframeTrack(keys, focus.ease, clip.fps, focus.follow_time), keys)


def key_value(key: FocusKey, disparity_at: DisparityAt) -> float:
    """A keyframe's focus disparity: its disparity, 1/depth, or the point pick at its frame."""
    if key.disparity is not None:
        return float(key.disparity)
    if key.depth is not None:
        return 1.0 / float(key.depth)
    assert key.point is not None
    v, _, _ = point_disparity(disparity_at(key.frame), *key.point)
    return v


def _point_plan(spec: str, clip: ClipFrames, disparity_at: DisparityAt) -> FocusPlan:
    x, y, pf = parse_point(spec)
    frame = clip.first if pf is None else pf
    if _outside(frame, clip):
        raise ConfigError(f"'focus.point' frame {frame} is outside the clip's frames {clip.first}..{clip.last}")
    if not (0 <= x <= clip.width - 1 and 0 <= y <= clip.height - 1):
        raise ConfigError(f"'focus.point' ({x:g}, {y:g}) is outside the {clip.width}x{clip.height} frame")
    v, _, _ = point_disparity(disparity_at(frame), x, y)
    log.info("focus point (%g, %g) at frame %d -> focus disparity %.5g", x, y, frame, v)
    return FocusPlan("point", ConstantTrack(v))

"""Temporal stages: flow, depth (file / motion / Marigold), depth smoothing, focus track a(t).

``build_temporal_stages(job, info)`` returns, in order:

1. :class:`FlowStage` (when smoothing or subject following needs it): DIS flow t -> t-1 with its
   forward-backward mask into ``rec.flow_to_prev`` / ``rec.flow_valid``, and scene-cut detection
   into ``rec.extras["scene_cut"]``. warmup 1.
2. :class:`DepthStage`: ``rec.disparity`` + ``rec.depth_confidence`` from the chosen source
   (warmup = the source's, e.g. 8 frames of history for motion).
3. :class:`DepthSmoothStage` (``depth.smoothing > 0``): flow-guided smoothing, warmup chosen so a
   chunk matches a sequential run within 1e-3 of the disparity range.
4. :class:`FocusStage`: ``rec.focus_disparity`` for every frame (constant, depth, point,
   keyframes, or a followed subject) and a per-frame row in ``rec.extras["focus"]``. Keyframed
   and constant focus are stateless (evaluated in closed form); a followed subject is stateful
   from its box frame on, so it declares a warmup that reaches back to the clip start.
5. :class:`DepthPreviewStage` (``depth.preview``): frame | colourised disparity side by side.

``finalize_temporal(stages, out_dir)`` writes the focus-track export (JSON/CSV), the PNG plot and
closes the depth preview (atomically), and logs a summary of lost-track spans.
"""
from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...depth.sources import DepthEstimate, make_source
from ...depth.temporal import TemporalDepthSmoother, warmup_frames
from ...errors import ConfigError, InputError, JobError
from ...flow import detect_scene_cut, forward_backward
from ...focus.keyframes import check_box, check_keys, parse_box, parse_keyframes, parse_point
from ...focus.tracking import AlphaBetaFollower, SubjectTracker, robust_disparity
from ...io.frame import ClipInfo, Frame
from ...tracks import ConstantTrack, Key, KeyframeTrack
from ...record import FrameRecord

log = logging.getLogger(__name__)

#: A followed subject's state depends on every frame since its box frame.
FOLLOW_WARMUP = 1_000_000

ROW_KEYS = ("frame", "time", "focus_disparity", "focus_range", "mode", "status", "subject_disparity", "subject_lo",
            "subject_hi", "box_x", "box_y", "box_w", "box_h", "note")


# -- flow -------------------------------------------------------------------------------------------
class FlowStage:
    """DIS flow to the previous frame + consistency mask + scene-cut flag."""

    name = "flow"
    temporal = True
    warmup = 1

    def __init__(self, quality: str = "medium") -> None:
        self.quality = quality  # DIS preset (flow.py): "medium" or "fine"
        self.reset()

    def reset(self) -> None:
        self.prev: Optional[np.ndarray] = None
        self.prev_index: Optional[int] = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        rgb = rec.frame.rgb
        if self.prev is not None and self.prev.shape == rgb.shape and self.prev_index == rec.index - 1:
            f, _, valid = forward_backward(rgb, self.prev, self.quality)
            rec.flow_to_prev, rec.flow_valid = f, valid
            cut, explained, hist = detect_scene_cut(rgb, self.prev, f, valid)
            rec.extras["scene_cut"] = bool(cut)
            rec.extras["flow_explained"] = round(explained, 4)
            if cut:
                log.info("frame %d: scene cut detected (flow explains %.0f%% of the frame, histogram "
                         "similarity %.2f): temporal state reset", rec.index, 100 * explained, hist)
        else:
            rec.extras.setdefault("scene_cut", False)
        self.prev, self.prev_index = rgb, rec.index
        return rec


# -- depth ------------------------------------------------------------------------------------------
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
        est: DepthEstimate = self.source.estimate(rec)
        d = est.disparity
        if d.shape != (rec.frame.height, rec.frame.width):
            raise InputError(f"frame {rec.index}: depth is {d.shape[1]}x{d.shape[0]}, frame is "
                             f"{rec.frame.width}x{rec.frame.height}")
        rec.disparity, rec.depth_confidence = d.astype(np.float32), est.confidence.astype(np.float32)
        rec.extras["depth"] = dict(est.notes)
        rec.extras["depth_affine"] = bool(est.affine_ambiguous)
        return rec


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


# -- frame access and depth probes ------------------------------------------------------------------
class FrameLookup:
    """Random access to clip frames (own reader, small LRU cache), None outside the clip."""

    #: memory the cache may hold (float32 RGB frames): 16 frames at 1080p, 8 at 4K
    CACHE_BYTES = 800 * 2**20

    def __init__(self, job: Any, info: ClipInfo, cache: Optional[int] = None) -> None:
        self.job, self.info = job, info
        self._reader = None
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        if cache is None:
            frame_bytes = max(1, int(info.width or 1) * int(info.height or 1) * 3 * 4)
            cache = max(4, min(16, self.CACHE_BYTES // frame_bytes))
        self.size = cache
        # The whole clip, not just the rendered range: keyframes outside the range still shape the curve.
        self.first = 0
        self.last = info.n_frames - 1 if info.n_frames is not None else None

    def _open(self) -> Any:
        if self._reader is None:
            from ..inputs import open_input

            self._reader = open_input(self.job)
        return self._reader

    def frame(self, index: int) -> Optional[Frame]:
        if index < self.first or (self.last is not None and index > self.last):
            return None
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            fr = self._open().read(index)
        except (InputError, IndexError, EOFError):
            return None
        self._keep(fr)
        return fr

    def _keep(self, fr: Frame) -> None:
        self._cache[fr.index] = fr
        self._cache.move_to_end(fr.index)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def prefetch(self, first: int, last: int) -> None:
        """Load frames first..last (at most the cache size) into the cache in one forward pass
        (for a video: one seek instead of one per frame, each of which decodes from a keyframe)."""
        first = max(first, self.first)
        if self.last is not None:
            last = min(last, self.last)
        last = min(last, first + self.size - 1)
        if last < first:
            return
        try:
            frames = list(self._open().read_range(first, last))
        except (InputError, IndexError, EOFError):
            return  # a frame that cannot be read is reported by frame() when it is asked for
        for fr in frames:
            self._keep(fr)

    def __call__(self, index: int) -> Optional[np.ndarray]:
        fr = self.frame(index)
        return None if fr is None else fr.rgb

    def __getstate__(self) -> dict:  # picklable for Ray: the reader reopens where it is used
        st = dict(self.__dict__)
        st["_reader"], st["_cache"] = None, OrderedDict()
        return st


class DepthProbe:
    """Disparity of any frame on demand (for picked points / keyframes / the box frame).

    File depth is read directly. Estimated depth runs a fresh copy of the depth chain over the
    frames [i - warmup, i], so the value matches what the main pass computes at frame i.
    """

    def __init__(self, job: Any, info: ClipInfo, lookup: FrameLookup) -> None:
        self.job, self.info, self.lookup = job, info, lookup
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # keys and boxes are re-probed
        self._file_source: Any = None
        self.size = max(8, lookup.size)  # holds a prefetched block (FrameLookup sizes it by memory)

    def __getstate__(self) -> dict:  # picklable: the depth file reopens where it is used
        st = dict(self.__dict__)
        st["_file_source"], st["_cache"] = None, OrderedDict()
        return st

    def __call__(self, index: int) -> np.ndarray:
        if index not in self._cache:
            self._compute(index, index)
        self._cache.move_to_end(index)
        return self._cache[index]

    def _keep(self, index: int, d: np.ndarray) -> None:
        self._cache[index] = d
        self._cache.move_to_end(index)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def prefetch(self, first: int, last: int) -> None:
        """Disparities of frames first..last computed in one forward pass (for walking them
        backwards): a depth video is decoded forward once instead of from its start for every
        frame, and an estimated depth chain runs its warm-up once per block, not per frame."""
        try:
            self._compute(max(first, self.lookup.first), last)
        except InputError:
            pass  # what cannot be read is reported when that frame is asked for

    def _compute(self, first: int, last: int) -> None:
        """Cache the disparities of frames first..last (at most the cache size); InputError names
        a frame that cannot be read."""
        last = min(last, first + self.size - 1)
        todo = [i for i in range(first, last + 1) if i not in self._cache]
        if not todo:
            return
        if self.job.depth.source == "file":
            if self._file_source is None:  # opened once: following back probes every earlier frame
                self._file_source = make_source(self.job, self.info)
            for i in todo:
                self._keep(i, self._file_source.read(i))  # type: ignore[attr-defined]
            return
        chain = _depth_chain(self.job, self.info, self.lookup)
        warm = max((getattr(s, "warmup", 0) for s in chain), default=0)
        start = max(self.lookup.first, first - warm)
        self.lookup.prefetch(start, last)
        for i in range(start, last + 1):
            fr = self.lookup.frame(i)
            if fr is None:
                raise InputError(f"frame {i} of {self.job.input.path} cannot be read (needed for the depth at frame {first})")
            rec = FrameRecord(fr)
            for s in chain:
                rec = s.process(rec)
            if i >= first:
                assert rec.disparity is not None
                self._keep(i, rec.disparity)


def _depth_chain(job: Any, info: ClipInfo, lookup: Optional[FrameLookup], quiet: bool = True) -> list[Any]:
    """A fresh copy of the depth part of the head, for probes (quiet: the main pass reports)."""
    chain: list[Any] = []
    if job.depth.smoothing > 0:
        chain.append(FlowStage(job.depth.flow_quality))
    chain.append(DepthStage(make_source(job, info, lookup, quiet=quiet)))
    if job.depth.smoothing > 0:
        chain.append(DepthSmoothStage(job.depth.smoothing))
    return chain


def start_disparity(job: Any, info: ClipInfo, index: int) -> np.ndarray:
    """The disparity a run starting at frame `index` feeds the renderer there (depth source, then
    smoothing with fresh state): what the depth preview of a single pass is coloured by."""
    lookup = FrameLookup(job, info)
    fr = lookup.frame(index)
    if fr is None:
        raise InputError(f"frame {index} of {job.input.path} cannot be read")
    rec = FrameRecord(fr)
    for s in _depth_chain(job, info, lookup):
        rec = s.process(rec)
    assert rec.disparity is not None
    return rec.disparity


def point_disparity(d: np.ndarray, x: float, y: float) -> tuple[float, float, float]:
    """Robust disparity around a picked pixel: median of a window of ~2% of the frame width."""
    h, w = d.shape
    r = max(2.0, 0.01 * w)
    v, lo, hi, _ = robust_disparity(d, (x - r, y - r, 2 * r + 1, 2 * r + 1), inner=1.0)
    return v, lo, hi


# -- focus ------------------------------------------------------------------------------------------
class FocusStage:
    """Resolves rec.focus_disparity for every frame; records one row per frame."""

    name = "focus"

    def __init__(self, job: Any, info: ClipInfo, probe: Callable[[int], np.ndarray]) -> None:
        self.job, self.info, self.probe = job, info, probe
        f = job.focus
        self.fps = float(info.fps) if info.fps else 24.0
        self.first = int(job.input.first_frame)
        last = job.input.last_frame
        if info.n_frames is not None:
            last = info.n_frames - 1 if last is None else min(last, info.n_frames - 1)
        self.last = last
        self.rows: list[dict[str, Any]] = []
        self.lost_spans: list[list[Any]] = []
        self.keys: list[Key] = []
        self.track: Any = None
        self.temporal = False
        self.warmup = 0
        self.follow = f.track == "follow"
        self.range_subject = bool(f.range_subject)
        if self.range_subject and not self.follow:
            raise ConfigError("'focus.range_subject' (--focus-range-subject) needs a followed subject "
                              "(--focus-track follow --focus-box X,Y,W,H)")
        if self.follow:
            if not f.box:
                raise ConfigError("'focus.track' follow needs 'focus.box' (--focus-box X,Y,W,H[@FRAME])")
            self.box, bf = parse_box(f.box)
            self.box_frame = self.first if bf is None else bf
            if self.box_frame < self.first or (self.last is not None and self.box_frame > self.last):
                raise ConfigError(f"'focus.box' frame {self.box_frame} is outside the clip's frames "
                                  f"{self.first}..{self.last if self.last is not None else ''}")
            check_box(self.box, info.width, info.height, f.box)
            self.temporal = True
            self.warmup = FOLLOW_WARMUP
            self.tracker = SubjectTracker()
            self.follower = AlphaBetaFollower(f.follow_time, self.fps)
            self.band = AlphaBetaFollower(f.follow_time, self.fps)  # width of the subject's band (range_subject)
            self.mode = "follow"
            self._held: Optional[tuple[float, float, float]] = None
            self._back: Optional[dict[int, tuple[float, dict[str, Any]]]] = None  # frames before the box
            self._started = False
            self._lost_reason: Optional[str] = None
        elif f.keyframes:
            raw = parse_keyframes(f.keyframes, self.fps, info.timecode)
            # Keys may lie outside the rendered range (a render of frames 30-40 of a 24-48 rack),
            # but not outside the clip.
            check_keys(raw, 0, info.n_frames - 1 if info.n_frames is not None else None, info.width, info.height)
            self.keys = [Key(k.frame, self._key_value(k)) for k in raw]
            self.track = KeyframeTrack(self.keys, f.ease, self.fps, f.follow_time)
            self.mode = f"keyframes/{f.ease}"
        elif f.point:
            x, y, pf = parse_point(f.point)
            frame = self.first if pf is None else pf
            if frame < self.first or (self.last is not None and frame > self.last):
                raise ConfigError(f"'focus.point' frame {frame} is outside the clip's frames {self.first}..{self.last}")
            if not (0 <= x <= info.width - 1 and 0 <= y <= info.height - 1):
                raise ConfigError(f"'focus.point' ({x:g}, {y:g}) is outside the {info.width}x{info.height} frame")
            v, _, _ = point_disparity(self.probe(frame), x, y)
            self.track = ConstantTrack(v)
            self.mode = "point"
            log.info("focus point (%g, %g) at frame %d -> focus disparity %.5g", x, y, frame, v)
        elif f.depth is not None:
            if f.depth <= 0:
                raise ConfigError(f"'focus.depth' must be > 0, got {f.depth}")
            self.track = ConstantTrack(1.0 / f.depth)
            self.mode = "depth"
        elif f.disparity is not None:
            self.track = ConstantTrack(f.disparity)
            self.mode = "disparity"
        else:
            d = self.probe(self.first)
            h, w = d.shape
            v, _, _, _ = robust_disparity(d, (0.4 * w, 0.4 * h, 0.2 * w, 0.2 * h), inner=1.0)
            self.track = ConstantTrack(v)
            self.mode = "centre"
            log.warning("no focus given (--focus-disparity/-depth/-point/-keyframes/--focus-track): focusing on the "
                        "centre of frame %d, focus disparity %.5g", self.first, v)

    def _key_value(self, k: Any) -> float:
        if k.disparity is not None:
            return float(k.disparity)
        if k.depth is not None:
            return 1.0 / float(k.depth)
        v, _, _ = point_disparity(self.probe(k.frame), *k.point)
        return v

    def reset(self) -> None:
        if self.follow:
            self.tracker = SubjectTracker()
            self.follower.reset()
            self.band.reset()
            self._started = False
            self._held = None
            self._lost_reason = None

    # -- per frame
    def process(self, rec: FrameRecord) -> FrameRecord:
        row: dict[str, Any] = {k: None for k in ROW_KEYS}
        row.update(frame=rec.index, time=round(rec.frame.time, 6), mode=self.mode, status="ok")
        if self.follow:
            a = self._follow(rec, row)
        else:
            a = float(self.track(rec.index))
        if not math.isfinite(a):
            raise JobError(f"frame {rec.index}: focus disparity is not finite ({a})")
        rec.focus_disparity = a
        row["focus_disparity"] = a
        row["focus_range"] = rec.focus_range = self._range(a, row)
        rec.extras["focus"] = row
        self._record(row)
        return rec

    def _range(self, a: float, row: dict[str, Any]) -> float:
        """The sharp band this frame: the job's focus range, plus (range_subject) the width that
        centres on a and covers the subject's 10-90 % disparities, smoothed like the focus (held
        while the track is lost)."""
        margin = float(self.job.focus.range)
        if not self.range_subject:
            return margin
        lo, hi = row.get("subject_lo"), row.get("subject_hi")
        if row.get("status") != "lost" and lo is not None and hi is not None:
            w = self.band(2.0 * max(float(hi) - a, a - float(lo), 0.0))
        else:
            w = self.band.hold() or 0.0
        return float(max(w, 0.0) + margin)

    def _record(self, row: dict[str, Any]) -> None:
        if self.rows and self.rows[-1]["frame"] >= row["frame"]:  # a chunk re-run / warm-up replay
            self.rows = [r for r in self.rows if r["frame"] < row["frame"]]
        self.rows.append(row)

    def _measure(self, d: np.ndarray, box: tuple, conf: Optional[np.ndarray],
                 prior: Optional[float] = None) -> tuple[float, float, float]:
        v, lo, hi, _ = robust_disparity(d, box, confidence=conf, prior=prior)
        return v, lo, hi

    def _track_back(self) -> dict[int, tuple[float, dict[str, Any]]]:
        """The subject followed from its box frame back to the first rendered frame.

        The same tracker, flow check, robust depth and follower as the forward pass, run in reverse
        time over frames read on demand, so that a subject picked where it is clearly visible (often
        mid-shot) is followed before that frame too. Returns {frame: (focus, row fields)}; a frame
        the tracker loses holds the follower's value and is reported like a forward loss.
        """
        lookup = getattr(self.probe, "lookup", None)
        out: dict[int, tuple[float, dict[str, Any]]] = {}
        nxt = lookup.frame(self.box_frame) if lookup is not None else None
        if nxt is None:
            return out
        tracker = SubjectTracker()
        follower = AlphaBetaFollower(self.job.focus.follow_time, self.fps)
        tracker.start(nxt.rgb, self.box)
        follower(self._measure(self.probe(self.box_frame), self.box, None)[0])
        span: Optional[list[Any]] = None
        block = max(1, lookup.size - 1)  # read forward in blocks, walk each block backward
        for i in range(self.box_frame - 1, self.first - 1, -1):
            if (self.box_frame - 1 - i) % block == 0:
                lookup.prefetch(max(self.first, i - block + 1), i)
                prefetch_depth = getattr(self.probe, "prefetch", None)
                if prefetch_depth is not None:
                    prefetch_depth(max(self.first, i - block + 1), i)
            fr = lookup.frame(i)
            if fr is None:
                break
            f, _, valid = forward_backward(fr.rgb, nxt.rgb, self.job.depth.flow_quality)
            cut = detect_scene_cut(fr.rgb, nxt.rgb, f, valid)[0]
            res = tracker.update(fr.rgb, f, bool(cut))
            if res.status == "lost" or res.box is None:
                if span is None:
                    log.warning("frame %d: subject track lost while following back from its box frame %d (%s); "
                                "holding focus there", i, self.box_frame, res.reason)
                    span = [i, i, f"{res.reason} (following back from frame {self.box_frame})"]
                    self.lost_spans.append(span)
                span[0] = i
                a = follower.hold()
                out[i] = (float(a), {"status": "lost", "note": span[2]})
            else:
                span = None
                prior = follower.x if res.status == "tracking" else None
                v, lo, hi = self._measure(self.probe(i), res.box, None, prior)
                b = res.box
                out[i] = (float(follower(v)), {
                    "status": res.status, "subject_disparity": v, "subject_lo": lo, "subject_hi": hi,
                    "box_x": round(b[0], 2), "box_y": round(b[1], 2), "box_w": round(b[2], 2), "box_h": round(b[3], 2),
                    "note": f"followed back from the box frame {self.box_frame}"})
            nxt = fr
        return out

    def _follow(self, rec: FrameRecord, row: dict[str, Any]) -> float:
        if rec.index < self.box_frame:
            if self._back is None:
                self._back = self._track_back()
            if rec.index in self._back:
                a, fields = self._back[rec.index]
                row.update(fields)
                if fields["status"] == "lost":
                    rec.extras["focus_track_lost"] = fields["note"]
                return a
            if self._held is None:  # the frame could not be read back: hold the box frame's depth
                self._held = self._measure(self.probe(self.box_frame), self.box, None)
            row.update(status="before-box", subject_disparity=self._held[0], subject_lo=self._held[1],
                       subject_hi=self._held[2], note=f"holding the subject's depth at its box frame {self.box_frame}")
            return self._held[0]
        if rec.disparity is None:
            raise JobError(f"frame {rec.index}: subject following needs depth before the focus stage")
        if rec.index == self.box_frame or not self._started:
            if rec.index != self.box_frame:
                raise JobError(f"frame {rec.index}: the followed subject's box is at frame {self.box_frame}; "
                               "this chunk was started without the frames since then (warm-up too short)")
            self.tracker.start(rec.frame.rgb, self.box)
            self._started = True
            box, status = self.box, "tracking"
        else:
            res = self.tracker.update(rec.frame.rgb, rec.flow_to_prev, bool(rec.extras.get("scene_cut")))
            box, status = res.box, res.status
            if status == "lost":
                if self._lost_reason is None:
                    log.warning("frame %d: subject track lost (%s); holding focus at %.5g until it is re-acquired",
                                rec.index, res.reason, self.follower.x if self.follower.x is not None else float("nan"))
                    self.lost_spans.append([rec.index, rec.index, res.reason])
                self._lost_reason = res.reason
                self.lost_spans[-1][1] = rec.index
                rec.extras["focus_track_lost"] = res.reason
                a = self.follower.hold()
                row.update(status="lost", note=res.reason)
                return float(a) if a is not None else float(self._measure(rec.disparity, self.box, None)[0])
            if status == "reacquired":
                log.warning("frame %d: subject %s", rec.index, res.reason)
                row["note"] = res.reason
            self._lost_reason = None
        assert box is not None
        # the subject's depth a frame ago picks it out of a drifted or oversized box (not after a
        # re-acquisition: the subject may have moved in depth while it was lost)
        prior = self.follower.x if status == "tracking" else None
        v, lo, hi = self._measure(rec.disparity, box, rec.depth_confidence, prior)
        a = self.follower(v)
        row.update(status=status, subject_disparity=v, subject_lo=lo, subject_hi=hi,
                   box_x=round(box[0], 2), box_y=round(box[1], 2), box_w=round(box[2], 2), box_h=round(box[3], 2))
        return a


# -- depth preview ----------------------------------------------------------------------------------
class DepthPreviewStage:
    """Writes frame | colourised disparity side by side to a video (atomic on finalize).

    The colour range is `rng` when given (``depth.preview_range``), else the first frame's 1st–99th
    percentile, fixed for the clip. Chunked runs call :meth:`begin_segment` before each chunk: the
    chunk's own frames (not its warm-up) go to a segment file that the driver joins afterwards.
    """

    name = "depth_preview"
    temporal = True
    warmup = 0

    def __init__(self, path: str, fps: float, rng: Optional[tuple[float, float]] = None,
                 pixel_aspect: float = 1.0) -> None:
        self.path, self.fps = path, fps
        self.pixel_aspect = pixel_aspect  # carried into the preview (H.264 VUI), so it plays unsqueezed
        self._fixed = rng
        self._writer: Any = None
        self._range: Optional[tuple[float, float]] = rng
        self._first: Optional[int] = None  # frames before this index are warm-up: not written

    def reset(self) -> None:
        pass

    def begin_segment(self, path: str, first_index: int) -> None:
        """Write the frames from `first_index` on to `path` (a chunk's preview segment)."""
        self.abort()
        self.path, self._first, self._range = path, first_index, self._fixed

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.disparity is None or (self._first is not None and rec.index < self._first):
            return rec
        if self._range is None:
            lo, hi = np.percentile(rec.disparity, [1, 99])
            self._range = (float(lo), float(max(hi, lo + 1e-6)))
        img = preview_image(rec.frame.rgb, rec.disparity, self._range)
        if self._writer is None:
            from ...focus.export import PreviewWriter

            self._writer = PreviewWriter(self.path, img.shape[1], img.shape[0], self.fps, self.pixel_aspect)
        self._writer.write(img)
        return rec

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            log.info("depth preview written to %s", self.path)
            self._writer = None

    def abort(self) -> None:
        """Drop an unfinished preview (its temp file), e.g. when a chunk fails."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None


def preview_image(rgb: np.ndarray, disparity: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    """8-bit RGB: the sRGB-encoded frame beside the disparity in the turbo colour map (near = red)."""
    import cv2

    from ...flow import _encode_rgb8

    lo, hi = rng
    u = np.clip((disparity - lo) / (hi - lo), 0, 1)
    col = cv2.applyColorMap((u * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    out = np.concatenate([_encode_rgb8(rgb), col], axis=1)
    h, w = out.shape[:2]
    return np.ascontiguousarray(out[: h - h % 2, : w - w % 2])


# -- build / finalize -------------------------------------------------------------------------------
def build_temporal_stages(job: Any, info: ClipInfo) -> list[Any]:
    """The ordered temporal head of the pipeline for this job (see module doc)."""
    lookup = FrameLookup(job, info)
    stages: list[Any] = []
    follow = job.focus.track == "follow"
    if job.depth.smoothing > 0 or follow:
        stages.append(FlowStage(job.depth.flow_quality))
    stages.append(DepthStage(make_source(job, info, lookup if job.depth.source == "motion" else None)))
    if job.depth.smoothing > 0:
        stages.append(DepthSmoothStage(job.depth.smoothing))
    stages.append(FocusStage(job, info, DepthProbe(job, info, lookup)))
    if job.depth.preview:
        stages.append(DepthPreviewStage(job.depth.preview, float(info.fps) if info.fps else 24.0,
                                        job.depth.preview_limits, pixel_aspect=float(info.pixel_aspect)))
    return stages


def _resolve(path: str, out_dir: Optional[str]) -> str:
    if os.path.isabs(path) or not out_dir:
        return path
    return path if os.path.dirname(path) else os.path.join(out_dir, path)


def finalize_temporal(stages: Sequence[Any], out_dir: Optional[str] = None) -> dict[str, str]:
    """Write the focus-track export / plot and close the depth preview. Returns {what: path}.

    Paths with a folder are used as given (relative to the working directory); a bare file name
    is placed in `out_dir` (the output's folder) when one is given.
    """
    from ...focus.export import plot_focus_track, write_focus_track

    written: dict[str, str] = {}
    for s in stages:
        if isinstance(s, DepthPreviewStage) and s._writer is not None:
            target = s.path
            s.close()
            written["depth_preview"] = target
        if isinstance(s, FocusStage):
            f = s.job.focus
            for span in s.lost_spans:
                log.warning("subject track was lost on frames %d-%d (%s): focus was held there", *span)
            if f.export and s.rows:
                written["focus_track"] = write_focus_track(s.rows, _resolve(f.export, out_dir))
            if f.plot and s.rows:
                written["focus_plot"] = plot_focus_track(s.rows, _resolve(f.plot, out_dir), keys=s.keys,
                                                         title=_clip_title(s.job.input.path or ""),
                                                         focus_range=float(f.range))
    return written


def _clip_title(path: str) -> str:
    name = os.path.basename(path)
    if any(ch in name for ch in "%#*?"):  # a sequence pattern: name it by its folder
        name = f"{os.path.basename(os.path.dirname(path))}/{name}"
    return name


def focus_rows(records: Sequence[FrameRecord]) -> list[dict[str, Any]]:
    """Rows from records' extras (for executors that run the focus stage elsewhere)."""
    return [r.extras["focus"] for r in records if "focus" in r.extras]

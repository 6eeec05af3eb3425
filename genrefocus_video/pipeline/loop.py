"""The one frame loop: decode -> (warm-up) -> stages -> encode, for every face.

A single pass (``--chunks 1``, local or Ray streaming), every chunk of a chunked job (in
process, as a Ray task, as a ``--chunk N`` farm task) and nothing else runs frames through
:func:`run_frames`. It returns one :class:`LoopResult`; every side output (before/after, contact
sheet captions, focus export and plot, depth preview, report timings) is written from it by
:mod:`.outputs`, the same way whatever the face — so a chunked or Ray run writes the same side
outputs as a single pass.

Warm-up: a chunk decodes from ``span.read_from`` (up to the largest ``warmup`` of its temporal
stages before its first frame); those frames go through the stages up to the last temporal one,
bringing their state to where an unsplit pass would have it, and are discarded.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..depth.sanitise import report_row
from ..errors import InputError, raise_if_stop_requested
from ..io.frame import Frame
from ..record import FrameRecord
from .inputs import reading
from .report import Timings


@dataclass(frozen=True)
class Span:
    """Which frames one loop reads and writes (inclusive clip indices)."""

    read_from: int  # first frame decoded: warm-up frames from here to `first` are rendered, not written
    first: int  # first frame written
    last: Optional[int]  # last frame written (None: to the end of the clip)
    middle: Optional[int] = None  # the before/after frame (the first written at or after it); None: no capture


@dataclass
class LoopResult:
    """What one loop wrote and saw: the side outputs' material (one typed result for every face)."""

    frames: int = 0  # frames written
    start_time: Optional[float] = None  # source time (s) of the first written frame (the audio's range)
    timings: Timings = field(default_factory=Timings)
    focus_rows: list[dict[str, Any]] = field(default_factory=list)  # the focus stage's row per written frame
    focus_values: dict[int, float] = field(default_factory=dict)  # frame -> focus disparity it was rendered with
    focus_keys: list[tuple[float, float]] = field(default_factory=list)  # (frame, value) of focus keyframes
    depth_rows: list[dict[str, int]] = field(default_factory=list)  # estimated depth's per-frame fixes (report)
    before_after: Optional[tuple[np.ndarray, np.ndarray]] = None  # (input, output) linear RGB of `span.middle`
    preview: Optional[str] = None  # the depth preview (or preview segment) written
    last_index: Optional[int] = None  # clip index of the last frame written


def decoded(reader: Any) -> Iterator[FrameRecord]:
    """Records of the reader's frames, each with its decode time."""
    frames = iter(reader)
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            return
        rec = FrameRecord(frame)
        rec.timings["decode"] = time.perf_counter() - t0
        yield rec


def run_frames(reader: Any, executor: Any, writer: Any, span: Span, *, job: Any, info: Any,
               preview: Optional[str] = None, on_frames: Optional[Callable[[int], None]] = None,
               report_every: int = 1, result: Optional[LoopResult] = None) -> LoopResult:
    """Render `reader`'s frames with `executor` (prepared) into `writer`; return what was written.

    `preview`: where the depth-preview stages write this loop's frames (the job's preview for a
    single pass, the chunk's preview segment for a chunk). `on_frames(n)` is told every
    `report_every` frames written. The writer is closed (finalised) here; a failure drops the
    unfinished preview. `result`: filled in as frames are written, so a caller still has what
    was finished when the loop fails (pipeline/keep.py)."""
    result = LoopResult() if result is None else result
    previews = [s for s in executor.local_stages if callable(getattr(s, "begin_segment", None))]
    executor.reset()
    if preview:
        for s in previews:
            s.begin_segment(preview, span.first)
    # the head's frame lookups read just ahead of the loop through this reader's own decoder
    lend = reading(job, reader) if callable(getattr(reader, "read_range_decoded", None)) else nullcontext()
    try:
        with lend:
            records = _warmed_up(decoded(reader), executor, span, result.timings)
            unreported = 0
            for rec in executor.map(records, job, info, reset=False):
                _write(rec, writer, result, info)
                _observe(rec, span, result)
                raise_if_stop_requested()  # a stop whose raise Python dropped (errors.py)
                unreported += 1
                if on_frames is not None and unreported >= report_every:
                    on_frames(unreported)
                    unreported = 0
        if on_frames is not None and unreported:  # before the writer finalises: a stop request still aborts it
            on_frames(unreported)
        raise_if_stop_requested()
        close = getattr(writer, "close", None)
        if callable(close):
            close()
        for s in previews:
            s.close()
    except BaseException:
        for s in previews:
            s.abort()
        raise
    result.preview = preview if previews and preview else None
    result.focus_keys = _focus_keys(executor.local_stages)
    return result


def _warmed_up(records: Iterator[FrameRecord], executor: Any, span: Span, timings: Timings) -> Iterator[FrameRecord]:
    """Run the warm-up frames (before ``span.first``) through the executor's warm stages, then
    yield the frames to write."""
    for rec in records:
        if rec.index >= span.first:
            yield rec
            break
        t0 = time.perf_counter()
        executor.warm(rec)
        timings.add("warmup", rec.timings.get("decode", 0.0) + time.perf_counter() - t0)
    yield from records


def _write(rec: FrameRecord, writer: Any, result: LoopResult, info: Any) -> None:
    if rec.output is None:
        raise InputError(f"frame {rec.index}: no stage produced an output image")
    t0 = time.perf_counter()
    alpha = rec.output_alpha if rec.output_alpha is not None else rec.frame.alpha
    writer.write(Frame(rec.index, rec.output, alpha, rec.frame.time, rec.frame.extra))
    rec.timings["encode"] = time.perf_counter() - t0
    result.timings.add_record(rec.timings)
    if result.start_time is None:  # the video writer's rule (io/video_writer.py): timestamp, else index / fps
        t = rec.frame.time
        result.start_time = float(t) if t > 0 else rec.index / float(info.fps or 24.0)
    result.frames += 1
    result.last_index = rec.index


def _observe(rec: FrameRecord, span: Span, result: LoopResult) -> None:
    """Keep what the side outputs need from a written frame."""
    row = rec.extras.get("focus")
    if isinstance(row, dict):
        result.focus_rows.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    if rec.focus_disparity is not None:
        result.focus_values[rec.index] = float(rec.focus_disparity)
    depth_row = report_row(rec.index, rec.extras.get("depth"))
    if depth_row is not None:
        result.depth_rows.append(depth_row)
    if span.middle is not None and result.before_after is None and rec.index >= span.middle:
        result.before_after = (rec.frame.rgb, rec.output)


def _focus_keys(stages: list[Any]) -> list[tuple[float, float]]:
    """The keyframes the focus stage resolved (the plot marks them)."""
    for s in stages:
        keys = getattr(s, "keys", None) if getattr(s, "name", None) == "focus" else None
        if keys:
            return [(float(k.frame), float(k.value)) for k in keys]
    return []

"""Run one refocus job end to end: decode -> stages -> encode, with progress, logs and a report.

Two shapes of work, the same stages and the same pixels:

* **streaming** (``chunks == 1``): one pass over the clip in frame order, written straight to the
  output through the atomic writer; the executor is in process (``local``) or Ray (head on the
  driver, tail on actors, bounded frames in flight);
* **chunked** (``chunks > 1``, farm jobs): independent chunks with warm-up overlap, each writing a
  segment + manifest entry (:mod:`.job`), run one after another in process or as Ray tasks, then
  concatenated losslessly. A rerun resumes: only chunks without a valid entry are rendered.

Either way the work folder (``--work-dir``, default ``OUTPUT.work`` beside the output) receives a
log per chunk and ``report.json`` with per-stage timings.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Iterator, Optional

import numpy as np

from ..errors import ConfigError, InputError, JobError, OutputError
from ..io.frame import ClipInfo, Frame
from ..params import JobParams
from .job import Chunk, WorkDir, default_work_dir, is_sequence_output, plan_chunks, run_chunk
from .progress import JobProgress
from ..record import FrameRecord
from .report import Timings, build_report, write_json_atomic
from .stages import DEFAULT_FACTORY, StageFactory

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a job did, for the closing line and for callers (farm, tests)."""

    output: str
    frames: int
    seconds: float
    executor: str
    workers: int
    chunks_total: int = 1
    chunks_rendered: int = 1
    chunks_skipped: int = 0
    report: Optional[str] = None
    startup_seconds: float = 0.0
    timings: Timings = field(default_factory=Timings)
    already_complete: bool = False  # finished by an earlier run: nothing rendered, nothing written
    only_chunk: Optional[tuple[int, int, int]] = None  # a --chunk farm task: (chunk, first frame, last frame)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        if self.only_chunk is not None:
            i, a, b = self.only_chunk
            what = (f"chunk {i} (frames {a}-{b}) was already done" if self.chunks_rendered == 0 else
                    f"rendered chunk {i} (frames {a}-{b}): {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)")
            return (f"{self.output}: {what}, {self.chunks_total} chunks in the job; run it with --join once every "
                    "chunk is done")
        if self.already_complete:
            return (f"{self.output} is already complete ({self.chunks_total} chunks, same parameters and inputs); "
                    "nothing rendered — pass --overwrite to render it again")
        if self.frames == 0 and self.chunks_total > 1 and self.chunks_skipped == self.chunks_total:
            # every chunk was rendered by a run stopped before the join: this run only joined them
            return (f"wrote {self.output}: joined {self.chunks_total} chunks rendered earlier, in "
                    f"{self.seconds:.1f} s" + (f"; report {self.report}" if self.report else ""))
        parts = [f"wrote {self.output}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps)",
                 f"executor {self.executor} x{self.workers}"
                 + (f" (start-up {self.startup_seconds:.1f} s)" if self.startup_seconds >= 0.05 else "")]
        if self.chunks_total > 1:
            parts.append(f"chunks {self.chunks_rendered} rendered, {self.chunks_skipped} resumed of {self.chunks_total}")
        if self.report:
            parts.append(f"report {self.report}")
        return "; ".join(parts)


def _reader(job: JobParams, first: Optional[int] = None, last: Optional[int] = None) -> Any:
    from .inputs import open_input

    return open_input(job, job.input.first_frame if first is None else first,
                      job.input.last_frame if last is None else last)


def _frame_count(reader: Any) -> Optional[int]:
    try:
        return len(reader)
    except TypeError:
        return None


def _check_job(job: JobParams) -> None:
    if not job.input.path:
        raise ConfigError("'input.path' is required: give INPUT")
    if not job.output.path:
        raise ConfigError("'output.path' is required: give -o OUTPUT")
    if job.input.last_frame is not None and job.input.last_frame < job.input.first_frame:
        raise ConfigError(f"'input.last_frame' ({job.input.last_frame}) is before 'input.first_frame' ({job.input.first_frame})")
    ex = job.executor
    if ex.chunk is not None and ex.join:
        raise ConfigError("'executor.chunk' and 'executor.join' are two kinds of farm task: give one (--chunk N "
                          "renders a chunk, --join joins them afterwards)")
    if ex.chunk is not None and ex.chunk >= ex.chunks:
        raise ConfigError(f"'executor.chunk' is {ex.chunk}, but the job has {ex.chunks} chunks (0-{ex.chunks - 1}); "
                          "give the same --chunks to every task of a job")
    if ex.chunk is not None and ex.executor == "ray":
        raise ConfigError("'executor.chunk' renders one chunk in this process (one farm task); "
                          "drop --executor ray, or drop --chunk and let Ray run the chunks")


def _work_dir(job: JobParams) -> WorkDir:
    return WorkDir(job.executor.work_dir or default_work_dir(job.output.path))


def _protected_inputs(job: JobParams) -> tuple[str, ...]:
    """Every file or sequence the job reads: never written over, even with --overwrite."""
    from ..io.paths import is_pattern

    return tuple(p for p in (job.input.path, job.depth.path, job.focus.keyframes, job.aperture.image)
                 if p and (os.path.exists(p) or is_pattern(p)))


def _check_output(job: JobParams) -> None:
    """Refuse early (before any work) to overwrite an existing output or an input."""
    from ..io.atomic import check_output_path

    if is_sequence_output(job.output.path, job.output.codec):
        folder = os.path.dirname(os.path.abspath(job.output.path))
        if not os.path.isdir(folder):
            raise OutputError(f"output folder {folder} does not exist")
        from ..io.paths import is_pattern
        from ..io.sequence import _list_frames

        protected = _protected_inputs(job)
        if is_pattern(job.output.path):
            from ..io.atomic import refuse_inputs_in_pattern

            refuse_inputs_in_pattern(job.output.path, protected)
        else:
            check_output_path(job.output.path, overwrite=True, inputs=protected)
        existing = _list_frames(job.output.path) if is_pattern(job.output.path) else \
            ([(0, job.output.path)] if os.path.exists(job.output.path) else [])
        if existing and not job.output.overwrite:
            raise OutputError(f"output {existing[0][1]} already exists; pass --overwrite to replace it")
        return
    check_output_path(job.output.path, overwrite=job.output.overwrite, inputs=_protected_inputs(job))
    if job.output.audio:
        from ..io.audio import audio_plan

        audio_plan(job.input.path, job.output.path, job.output.audio_codec)  # refuses PCM into MP4 with 'copy'


def _check_writer_settings(job: JobParams, info: ClipInfo, total: Optional[int]) -> None:
    """Refuse before any rendering what the writer would refuse at its first or second frame: a
    codec the container cannot hold, a pixel format the codec or frame size cannot take, several
    frames into one still image."""
    from ..io.paths import is_image_path, is_pattern
    from ..io.sequence import check_image_codec

    path = job.output.path
    if is_pattern(path) or is_image_path(path):
        check_image_codec(path, job.output.codec)
        if not is_pattern(path) and total is not None and total > 1:
            raise ConfigError(f"output {path} is a single image but the job has {total} frames; use a pattern "
                              f"such as {_pattern_example(path)}, or --first-frame/--last-frame to pick one")
        return
    if is_sequence_output(path, job.output.codec):
        return
    from ..io.codecs import resolve_codec, resolve_pix_fmt

    resolve_pix_fmt(resolve_codec(job.output.codec, info, path), info, job.output.pix_fmt, path)


def _pattern_example(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}.%04d{ext}"


#: With ``--executor auto``, clips at least this long go to Ray (its ~5-10 s start-up then pays off).
AUTO_RAY_MIN_FRAMES = 120


def resolve_executor(job: JobParams, total: Optional[int]) -> JobParams:
    """Turn ``executor: auto`` into local or ray for this clip (a cluster address always means ray)."""
    ex = job.executor
    if ex.executor != "auto":
        return job
    cores = ex.workers or os.cpu_count() or 1
    use_ray = bool(ex.ray_address) or (total is not None and total >= AUTO_RAY_MIN_FRAMES and cores > 1)
    return replace(job, executor=replace(ex, executor="ray" if use_ray else "local"))


def run_job(job: JobParams, *, factory: StageFactory = DEFAULT_FACTORY) -> RunSummary:
    """Render `job`; return its summary. Errors are one-line GenRefocusErrors."""
    _check_job(job)
    if job.executor.chunks > 1 or job.executor.chunk is not None or job.executor.join:
        return _run_chunked(job, factory)
    return _run_streaming(job, factory)


# -- streaming ---------------------------------------------------------------------------------------

def _make_executor(job: JobParams, factory: StageFactory) -> Any:
    if job.executor.executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(job, factory)
    from .local import LocalExecutor

    return LocalExecutor(factory)


def _decoded(reader: Any) -> Iterator[FrameRecord]:
    frames = iter(reader)
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            return
        rec = FrameRecord(frame)
        rec.timings["decode"] = time.perf_counter() - t0
        yield rec


def _run_streaming(job: JobParams, factory: StageFactory) -> RunSummary:
    from ..io.writer import open_writer

    _check_output(job)
    work = _work_dir(job)
    t_start = time.perf_counter()
    timings = Timings()
    n = 0
    ba_pair: Optional[tuple[np.ndarray, np.ndarray]] = None
    focus_by_frame: dict[int, float] = {}  # for the contact sheet's captions
    with _reader(job) as reader:
        info: ClipInfo = reader.info
        total = _frame_count(reader)
        _check_writer_settings(job, info, total)
        middle = job.input.first_frame + (total // 2 if total else 0)
        job = resolve_executor(job, total)
        audio = job.input.path if (job.output.audio and info.audio_streams) else None
        executor = _make_executor(job, factory)
        startup = getattr(getattr(executor, "runtime", None), "startup_s", 0.0)
        try:
            executor.prepare(job, info)
            with JobProgress(total, enabled=job.executor.progress) as bar, \
                    open_writer(job.output.path, info, codec=job.output.codec, pix_fmt=job.output.pix_fmt,
                                transfer=job.output.transfer, crf=job.output.crf, exr_half=job.output.exr_half,
                                audio_from=audio, overwrite=job.output.overwrite,
                                audio_codec=job.output.audio_codec) as writer:
                for rec in executor.map(_decoded(reader), job, info):
                    if rec.output is None:
                        raise InputError(f"frame {rec.index}: no stage produced an output image")
                    t0 = time.perf_counter()
                    alpha = rec.output_alpha if rec.output_alpha is not None else rec.frame.alpha
                    writer.write(Frame(rec.index, rec.output, alpha, rec.frame.time, rec.frame.extra))
                    rec.timings["encode"] = time.perf_counter() - t0
                    timings.add_record(rec.timings)
                    if job.output.before_after and (rec.index == middle or ba_pair is None):
                        ba_pair = (rec.frame.rgb, rec.output)
                    if rec.focus_disparity is not None:
                        focus_by_frame[rec.index] = float(rec.focus_disparity)
                    n += 1
                    bar.update(1)
                close = getattr(writer, "close", None)
                if callable(close):
                    close()
            _finalize_temporal(executor, job)
        except BaseException:
            _abort_temporal(executor)  # an interrupted render leaves no half-written side file
            raise
        finally:
            executor.close()
    if n == 0:
        raise InputError(f"{job.input.path}: no frames in the selected range")
    wall = time.perf_counter() - t_start
    if ba_pair is not None:
        write_before_after(job.output.before_after, *ba_pair, pixel_aspect=float(info.pixel_aspect))
    if job.output.contact_sheet:
        _contact_sheet(job, info, job.input.first_frame, job.input.first_frame + n - 1, focus_by_frame)
    summary = RunSummary(job.output.path, n, wall, executor.name, getattr(executor, "workers", 1),
                         startup_seconds=startup, timings=timings)
    summary.report = _write_report(job, work, summary, chunks=[{"chunk": 0, "start": job.input.first_frame,
                                                                 "end": job.input.first_frame + n - 1, "frames": n}])
    work.log(0, f"streamed {n} frames in {wall:.2f} s with {executor.name} x{summary.workers}")
    return summary


def _finalize_temporal(executor: Any, job: JobParams) -> None:
    """Let the temporal stages write their exports (focus track, plots, depth preview), if they have any."""
    head = getattr(executor, "head_stages", None)
    if not head:
        return
    try:
        from .stages_temporal import finalize_temporal
    except ImportError:
        return
    finalize_temporal(head, os.path.dirname(os.path.abspath(job.output.path)))


def _abort_temporal(executor: Any) -> None:
    """Drop what the temporal stages were writing (the depth preview's temp file)."""
    for stage in getattr(executor, "head_stages", None) or []:
        abort = getattr(stage, "abort", None)
        if callable(abort):
            try:
                abort()
            except Exception:  # noqa: BLE001 - already failing; the original error is what matters
                log.debug("abort of stage %s failed", getattr(stage, "name", stage), exc_info=True)


def _write_report(job: JobParams, work: WorkDir, s: RunSummary, chunks: list[dict[str, Any]]) -> Optional[str]:
    try:
        work.prepare()
        data = build_report(job=job.to_dict(), output=s.output, frames=s.frames, wall_s=s.seconds,
                            timings=s.timings, executor=s.executor, workers=s.workers, chunks=chunks,
                            extra={"startup_seconds": round(s.startup_seconds, 3),
                                   "chunks_rendered": s.chunks_rendered, "chunks_skipped": s.chunks_skipped})
        write_json_atomic(work.report, data)
        return work.report
    except OSError as exc:  # the render itself succeeded: say so, do not fail the job
        log.warning("could not write the job report in %s: %s", work.root, exc)
        return None


# -- chunked (farm) ----------------------------------------------------------------------------------

def _plan(job: JobParams) -> tuple[JobParams, ClipInfo, int, list[Chunk]]:
    """Probe the input and cut its frame range into the job's chunks (every task of a job plans alike)."""
    with _reader(job) as reader:
        info: ClipInfo = reader.info
        total = _frame_count(reader)
    if total is None:
        raise ConfigError(f"{job.input.path}: frame count unknown, cannot split into chunks; give 'input.last_frame' or use --chunks 1")
    if total == 0:
        raise InputError(f"{job.input.path}: no frames in the selected range")
    job = resolve_executor(job, total)
    if job.depth.preview and job.depth.preview_range is None:
        job = _with_preview_range(job, info, job.input.first_frame)
    first = job.input.first_frame
    return job, info, total, plan_chunks(first, first + total - 1, _chunk_count(job, info, total))


def planned_chunks(job: JobParams) -> list[Chunk]:
    """The chunks `job` renders as (after the H.264/H.265 minimum), e.g. to list farm tasks."""
    _check_job(job)
    return _plan(job)[3]


def _run_chunked(job: JobParams, factory: StageFactory) -> RunSummary:
    t_start = time.perf_counter()
    work = _work_dir(job)
    job, info, total, chunks = _plan(job)
    nothing_to_do = RunSummary(job.output.path, 0, 0.0, job.executor.executor, 0, len(chunks), 0, len(chunks),
                               work.report, already_complete=True)
    if _already_complete(job, work, chunks):
        return nothing_to_do
    _check_output(job)
    _check_writer_settings(job, info, total)
    if job.executor.chunk is not None:
        return _render_one_chunk(job, factory, info, chunks, work, t_start)
    with work.lock():
        if _already_complete(job, work, chunks, say=False):  # another run of this job finished meanwhile
            return nothing_to_do
        return _render_chunks(job, factory, info, total, chunks, work, t_start)


def _render_one_chunk(job: JobParams, factory: StageFactory, info: ClipInfo, chunks: list[Chunk], work: WorkDir,
                      t_start: float) -> RunSummary:
    """A farm task (``--chunk N``): render that chunk into the shared work folder, do not join.

    Tasks of one job run side by side (on one or many machines sharing the folder), each holding
    its chunk's lock; ``--join`` assembles the output once all are done."""
    i = job.executor.chunk
    if i >= len(chunks):
        raise ConfigError(f"'executor.chunk' is {i}, but this job is planned as {len(chunks)} chunks "
                          f"({chunks[0].start}-{chunks[-1].end}: H.264/H.265 chunks need at least "
                          f"{MIN_REORDERED_CHUNK} frames each); give --chunks {len(chunks)} to every task")
    c = chunks[i]
    with work.lock(f"lock.chunk_{i:04d}"):
        work.start(job, chunks, only=i)
        summary = RunSummary(job.output.path, 0, 0.0, "local", 1, len(chunks), 0, len(chunks), work.report,
                             only_chunk=(i, c.start, c.end))
        if work.valid_entry(job, c) is not None:
            log.info("chunk %d (frames %d-%d) is already done: %s", i, c.start, c.end, work.root)
            return summary
        try:
            with JobProgress(c.frames, enabled=job.executor.progress) as bar:
                entry = run_chunk(job, info, c, work, factory, on_frames=bar.update)
        except BaseException:
            work.remove_partials(i)
            raise
    summary.frames, summary.seconds = int(entry["frames"]), time.perf_counter() - t_start
    summary.chunks_rendered, summary.chunks_skipped = 1, len(chunks) - 1
    summary.timings.merge(entry.get("timings", {}))
    return summary


def _already_complete(job: JobParams, work: WorkDir, chunks: list[Chunk], say: bool = True) -> bool:
    """Finished earlier with these parameters and its output untouched (unless --overwrite)."""
    complete = work.is_complete(job, chunks) and os.path.exists(job.output.path if not is_sequence_output(
        job.output.path, job.output.codec) else os.path.dirname(os.path.abspath(job.output.path)))
    if complete and job.output.overwrite:
        # Its segments were removed after the join, so every chunk renders again.
        if say:
            log.info("job already complete; --overwrite given: rendering it again: %s", job.output.path)
        return False
    if complete and say:
        log.info("job already complete: %s", job.output.path)
    return complete


def _render_chunks(job: JobParams, factory: StageFactory, info: ClipInfo, total: int, chunks: list[Chunk],
                   work: WorkDir, t_start: float) -> RunSummary:
    """Render the chunks not yet done, join them, write the side outputs (the work folder is locked)."""
    work.start(job, chunks)
    done = {c.index: e for c in chunks if (e := work.valid_entry(job, c)) is not None}
    todo = [c for c in chunks if c.index not in done]
    if job.executor.join and todo:
        raise JobError(f"{job.output.path}: cannot join: {len(todo)} of {len(chunks)} chunks are not done "
                       f"({_ranges(todo)}) in {work.root}; run their --chunk tasks first (same parameters and --chunks)")
    done_frames = sum(c.frames for c in chunks if c.index in done)
    startup = 0.0
    workers = 1
    with JobProgress(total, enabled=job.executor.progress, initial=done_frames) as bar:
        if done:
            bar.note(f"resumed {len(done)}/{len(chunks)} chunks")
        try:
            if job.executor.executor == "ray" and todo:
                from .ray_executor import RayRuntime, run_chunks_ray, worker_count

                with RayRuntime(job.executor.ray_address, job.executor.workers) as rt:
                    startup = rt.startup_s
                    workers = worker_count(job)
                    base = bar.done
                    entries = run_chunks_ray(job, info, todo, work.root, factory,
                                             on_progress=lambda k: bar.update(base + k - bar.done))
            else:
                entries = [run_chunk(job, info, c, work, factory, on_frames=bar.update) for c in todo]
        except BaseException:
            # workers that died without cleaning up (the whole process group signalled) leave temp
            # segments; this run holds the lock and its tasks are stopped, so they are orphans
            # (remove_partials leaves the chunks that --chunk farm tasks are rendering)
            for path in work.remove_partials():
                log.info("removed the temp segment of an unfinished chunk: %s", path)
            raise
    for e in entries:
        done[e["chunk"]] = e
    ordered = [done[c.index] for c in chunks]
    _assemble(job, work, ordered, _rate(job, info), bool(info.audio_streams), info.pixel_aspect)
    if job.depth.preview:
        _join_previews(job, ordered, _rate(job, info), info.pixel_aspect)
    work.finish(job, chunks)
    timings = Timings()
    for e in entries:
        timings.merge(e.get("timings", {}))
    wall = time.perf_counter() - t_start
    summary = RunSummary(job.output.path, sum(e["frames"] for e in entries), wall, job.executor.executor, workers,
                         len(chunks), len(todo), len(chunks) - len(todo), startup_seconds=startup, timings=timings)
    summary.report = _write_report(job, work, summary, chunks=[
        {k: done[c.index].get(k) for k in ("chunk", "start", "end", "frames", "seconds", "pid", "host")}
        | {"resumed": c.index not in {t.index for t in todo}} for c in chunks])
    shutil.rmtree(os.path.join(work.root, "segments"), ignore_errors=True)
    if job.output.before_after:
        _before_after_from_output(job, chunks)
    if job.output.contact_sheet:
        focus = {int(i): float(a) for e in ordered for i, a in e.get("focus_values", [])}
        _contact_sheet(job, info, chunks[0].start, chunks[-1].end, focus)
    if (job.focus.export or job.focus.plot) and factory is DEFAULT_FACTORY:
        _export_focus(job, info, ordered)
    return summary


def _ranges(chunks: list[Chunk]) -> str:
    """'chunk 2: frames 20-29; chunk 5: frames 50-59', at most 6 named."""
    named = [f"chunk {c.index}: frames {c.start}-{c.end}" for c in chunks[:6]]
    return "; ".join(named) + (f"; and {len(chunks) - 6} more" if len(chunks) > 6 else "")


def _export_focus(job: JobParams, info: ClipInfo, entries: list[dict[str, Any]]) -> None:
    """Write the focus track / plot of a chunked job from the rows its chunks recorded."""
    from .stages_temporal import FocusStage, finalize_temporal

    rows = [r for e in entries for r in e.get("focus_rows", [])]
    if not rows:
        return
    for stage in _stages_head(job, info):
        if isinstance(stage, FocusStage):
            stage.rows = rows
            finalize_temporal([stage], os.path.dirname(os.path.abspath(job.output.path)))


def _stages_head(job: JobParams, info: ClipInfo) -> list[Any]:
    return DEFAULT_FACTORY.head(job, info)


def _assemble(job: JobParams, work: WorkDir, entries: list[dict[str, Any]], fps: float, has_audio: bool,
              pixel_aspect: Fraction = Fraction(1)) -> None:
    """Join finished segments into the final output: lossless concat, or move images into place."""
    if is_sequence_output(job.output.path, job.output.codec):
        dest = os.path.dirname(os.path.abspath(job.output.path))
        for e in entries:  # check everything before moving anything
            for name in e["files"]:
                if os.path.exists(os.path.join(dest, name)) and not job.output.overwrite:
                    raise OutputError(f"output {os.path.join(dest, name)} already exists; pass --overwrite to replace it")
        for e in entries:
            for name in e["files"]:
                target = os.path.join(dest, name)
                if os.path.exists(target) and not job.output.overwrite:
                    raise OutputError(f"output {target} already exists; pass --overwrite to replace it")
                os.replace(os.path.join(e["segment"], name), target)
        return
    from ..io.atomic import atomic_output
    from ..io.concat import concat_segments

    audio = job.input.path if (job.output.audio and has_audio) else None  # image sequences have none
    audio_range = None
    if audio and (job.input.first_frame > 0 or job.input.last_frame is not None):
        # the packets overlapping the rendered frames, shifted to start with the video: the same
        # selection the streaming writer makes for a --chunks 1 render of this range
        first = entries[0].get("start_time")
        t0 = float(first) if first is not None else job.input.first_frame / fps
        # the span of frame slots (on the frame-rate grid), not the count of frames: a variable
        # frame rate leaves slots empty
        t1 = None if job.input.last_frame is None else t0 + (int(entries[-1]["end"]) - int(entries[0]["start"]) + 1) / fps
        audio_range = (max(0.0, t0), t1)
    aac = None
    if audio:
        from ..io.audio import audio_plan

        aac = audio_plan(audio, job.output.path, job.output.audio_codec, announce=True)
    try:
        with atomic_output(job.output.path, overwrite=job.output.overwrite, inputs=(job.input.path,)) as tmp:
            _concat(concat_segments, [e["segment"] for e in entries], tmp, audio, audio_range,
                    _segment_durations(entries, fps), aac, pixel_aspect)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {job.output.path}: {exc.strerror or exc}; chunks are kept, rerun to resume") from None


def _rate(job: JobParams, info: ClipInfo) -> float:
    """The written clip's frame rate: the input's (a sequence's is --fps already)."""
    return float(info.fps or job.input.fps or 24.0)


#: H.264/H.265 chunks shorter than this start with a different decode delay than longer ones (the
#: encoder's B-frame reordering has not filled up), which a stream-copy join cannot reconcile: the
#: decode timestamps collide at the join and the container's duration and frame rate come out wrong.
MIN_REORDERED_CHUNK = 8


def _chunk_count(job: JobParams, info: ClipInfo, total: int) -> int:
    """--chunks, reduced so that every H.264/H.265 segment has at least MIN_REORDERED_CHUNK frames."""
    n = job.executor.chunks
    if is_sequence_output(job.output.path, job.output.codec):
        return n
    from ..io.codecs import resolve_codec

    if resolve_codec(job.output.codec, info, job.output.path) not in ("h264", "h265"):
        return n
    most = max(1, total // MIN_REORDERED_CHUNK)
    if n > most:
        log.info("%d frames into H.264/H.265: %d chunks instead of %d (each needs at least %d frames to join "
                 "cleanly)", total, most, n, MIN_REORDERED_CHUNK)
    return min(n, most)


def _segment_durations(entries: list[dict[str, Any]], fps: float) -> list[float]:
    """Each segment's exact length: the source-time distance to the next chunk's first frame (right
    for variable frame rates too, as the writer keeps the source timestamps), the last one frames / fps."""
    out = []
    for k, e in enumerate(entries):
        nxt = entries[k + 1].get("start_time") if k + 1 < len(entries) else None
        cur = e.get("start_time")
        out.append(float(nxt) - float(cur) if nxt is not None and cur is not None and nxt > cur
                   else int(e["frames"]) / fps)
    return out


def _with_preview_range(job: JobParams, info: ClipInfo, first: int) -> JobParams:
    """The job with the depth preview's colour range fixed from its first frame (as a single pass
    would choose it), so that every chunk colours its segment the same way."""
    from .stages_temporal import start_disparity

    d = start_disparity(job, info, first)
    lo, hi = (float(v) for v in np.percentile(d, [1, 99]))
    hi = max(hi, lo + 1e-6)
    log.info("depth preview colours: disparity %.6g-%.6g (frame %d), the same in every chunk", lo, hi, first)
    return replace(job, depth=replace(job.depth, preview_range=f"{lo!r},{hi!r}"))


def _join_previews(job: JobParams, entries: list[dict[str, Any]], fps: float,
                   pixel_aspect: Fraction = Fraction(1)) -> None:
    """Join the chunks' depth-preview segments into job.depth.preview (stream copy, atomic)."""
    from ..io.atomic import atomic_output
    from ..io.concat import concat_segments

    path = str(job.depth.preview)
    with atomic_output(path, overwrite=True, inputs=(job.input.path,)) as tmp:
        concat_segments([e["preview"] for e in entries], tmp, durations=[int(e["frames"]) / fps for e in entries],
                        pixel_aspect=pixel_aspect)
    log.info("depth preview written to %s", path)


def _concat(concat_segments: Any, segments: list[str], out: str, audio: Optional[str],
            audio_range: Optional[tuple[float, Optional[float]]], durations: list[float],
            audio_aac: Optional[list[bool]] = None, pixel_aspect: Fraction = Fraction(1)) -> None:
    if audio:
        concat_segments(segments, out, audio_from=audio, audio_range=audio_range, durations=durations,
                        audio_aac=audio_aac, pixel_aspect=pixel_aspect)
    else:
        concat_segments(segments, out, durations=durations, pixel_aspect=pixel_aspect)


# -- before/after image -------------------------------------------------------------------------------

def write_before_after(path: str, before: np.ndarray, after: np.ndarray, pixel_aspect: float = 1.0) -> None:
    """Side-by-side sRGB PNG (8-bit) of a frame before and after at its display aspect, written atomically."""
    import cv2

    from ..colour import from_linear
    from ..io.atomic import atomic_output
    from .contact import to_display

    both = np.concatenate([to_display(before, pixel_aspect), to_display(after, pixel_aspect)], axis=1)
    code = np.clip(from_linear(np.clip(both, 0.0, None).astype(np.float32), "srgb"), 0.0, 1.0)
    img = (code * 255.0 + 0.5).astype(np.uint8)[..., ::-1]
    with atomic_output(path, overwrite=True) as tmp:
        if not cv2.imwrite(tmp, img):
            raise OutputError(f"cannot write before/after image {path}")


def _contact_sheet(job: JobParams, info: ClipInfo, first: int, last: int, focus: dict[int, float]) -> None:
    from .contact import write_contact_sheet

    path = write_contact_sheet(str(job.output.contact_sheet), job, first, last,
                               _rate(job, info), focus)
    log.info("contact sheet written to %s", path)


def _before_after_from_output(job: JobParams, chunks: list[Chunk]) -> None:
    from ..io.reader import open_reader

    first = chunks[0].start
    mid = first + (chunks[-1].end - first) // 2
    with _reader(job, mid, mid) as r_in, open_reader(job.output.path, transfer="auto") as r_out:
        before = next(iter(r_in)).rgb
        after = r_out.read(mid - first).rgb
        pixel_aspect = float(r_in.info.pixel_aspect)
    write_before_after(job.output.before_after, before, after, pixel_aspect)

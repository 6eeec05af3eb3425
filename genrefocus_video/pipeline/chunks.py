"""A chunked job (``--chunks N``, farm tasks): chunks rendered by the one frame loop into segments,
recorded, resumed, joined, and the side outputs written from the chunks' records.

A chunk starts ``warmup`` frames early (the largest ``warmup`` its temporal stages declare), so a
split clip renders the same as an unsplit one, exactly for temporal stages with finite memory and
within the stage's stated tolerance for decaying memory. Each chunk writes its segment through the
atomic writer, then its :class:`.manifest.ChunkRecord` (atomic JSON): a rerun trusts exactly the
chunks with a valid record and renders the others.
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from typing import Callable, Optional

from ..errors import GenRefocusError, JobError, OutputError
from ..io.paths import is_image_output
from ..params import JobParams
from .executors.local import LocalExecutor, StageCache
from .loop import LoopResult, Span, run_frames
from .manifest import ChunkRecord
from .outputs import write_before_after, write_chunked_outputs
from .plan import Chunk, JobPlan, frame_rate, open_job_input
from .progress import JobProgress
from .report import Timings
from .stages import StageFactory, max_warmup
from .summary import RunSummary, write_report
from .workdir import WorkDir

log = logging.getLogger(__name__)


def run_chunk(plan: JobPlan, chunk: Chunk, work: WorkDir, factory: StageFactory, cache: StageCache, *,
              on_frames: Optional[Callable[[int], None]] = None, report_every: int = 4) -> ChunkRecord:
    """Render one chunk (with warm-up) into its segment; write and return its record."""
    from ..io.writer import open_writer

    job, info = plan.job, plan.info
    t_start = time.perf_counter()
    executor = LocalExecutor(factory, cache, plan.fingerprint)
    executor.prepare(job, info)
    span = Span(max(job.input.first_frame, chunk.start - max_warmup(executor.stages)), chunk.start, chunk.end,
                plan.middle if chunk.start <= plan.middle <= chunk.end else None)
    seg = work.segment_path(chunk.index, job.output.path, job.output.codec)
    os.makedirs(os.path.dirname(seg), exist_ok=True)
    preview = work.preview_segment_path(chunk.index, job.depth.preview) if job.depth.preview else None
    work.log(chunk.index, f"start chunk {chunk.index}: frames {chunk.start}-{chunk.end}, warm-up from {span.read_from}")
    try:
        with open_job_input(job, span.read_from, chunk.end) as reader, \
                open_writer(seg, info, codec=job.output.codec, pix_fmt=job.output.pix_fmt, transfer=job.output.transfer,
                            crf=job.output.crf, exr_half=job.output.exr_half, audio_from=None, overwrite=True,
                            segment=True) as writer:
            result = run_frames(reader, executor, writer, span, job=job, info=info, preview=preview,
                                on_frames=on_frames, report_every=report_every)
        _check_filled(job, chunk, work, result)
        record = chunk_record(plan, chunk, work, seg, result, time.perf_counter() - t_start, span.read_from)
        work.write_record(record)
    except BaseException as exc:
        work.log(chunk.index, f"failed: {type(exc).__name__}: {exc}")
        err = _chunk_error(exc, chunk, work, seg)
        if err is exc:
            raise
        raise err from None
    work.log(chunk.index, f"done chunk {chunk.index}: {record.frames} frames in {record.seconds:.2f} s")
    return record


def _check_filled(job: JobParams, chunk: Chunk, work: WorkDir, result: LoopResult) -> None:
    # Frame indices live on the frame-rate grid: a variable-frame-rate clip leaves slots empty, as
    # a single pass would (a file that ends early is caught by the reader).
    if result.frames == 0:
        from ..errors import InputError

        raise InputError(f"{job.input.path}: chunk {chunk.index} (frames {chunk.start}-{chunk.end}) holds "
                         "no frame (a gap in a variable-frame-rate clip); render with fewer chunks")
    if result.frames != chunk.frames:
        work.log(chunk.index, f"{result.frames} of {chunk.frames} frame slots hold a frame (variable frame rate)")


def chunk_record(plan: JobPlan, chunk: Chunk, work: WorkDir, seg: str, result: LoopResult, seconds: float,
            warmup_from: int) -> ChunkRecord:
    """The chunk's record from the loop's result (the before/after image rendered to the work folder)."""
    job = plan.job
    loc = os.path.dirname(seg) if is_image_output(job.output.path, job.output.codec) else seg
    rec = ChunkRecord(chunk.index, chunk.start, chunk.end, result.frames, plan.fingerprint, loc,
                      start_time=result.start_time, warmup_from=warmup_from, pid=os.getpid(), host=os.uname().nodename,
                      seconds=round(seconds, 4), timings=result.timings.to_dict(),
                      focus_rows=result.focus_rows, focus_values=[[i, a] for i, a in result.focus_values.items()],
                      focus_keys=[[f, v] for f, v in result.focus_keys], depth_rows=result.depth_rows)
    if os.path.isdir(loc):
        rec.files = sorted(f for f in os.listdir(loc) if not f.startswith("."))
    else:
        rec.bytes = os.path.getsize(loc)
    if result.preview and os.path.isfile(result.preview):
        rec.preview, rec.preview_bytes = result.preview, os.path.getsize(result.preview)
    if result.before_after is not None:
        rec.before_after = work.before_after_path(chunk.index)
        write_before_after(rec.before_after, *result.before_after, pixel_aspect=float(plan.info.pixel_aspect))
    return rec


def _chunk_error(exc: BaseException, chunk: Chunk, work: WorkDir, seg: str) -> BaseException:
    """The one-line error a failed chunk reports (a full disk named as such), or `exc` itself."""
    reason = out_of_space(exc)
    if reason:
        return OutputError(f"{reason} while writing chunk {chunk.index} (frames {chunk.start}-{chunk.end}) "
                           f"in {work.root}; finished chunks are kept: free space and rerun to resume")
    if isinstance(exc, OSError) and not isinstance(exc, GenRefocusError):
        return OutputError(f"chunk {chunk.index}: cannot write {seg}: {exc.strerror or exc}")
    return exc


def out_of_space(exc: BaseException) -> Optional[str]:
    """'disk full' / 'disk quota exceeded' / 'file size limit reached' if that caused `exc`."""
    reasons = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in reasons:
            return reasons[exc.errno]
        text = str(exc)
        for needle, reason in (("No space left", "disk full"), ("Disk quota", "disk quota exceeded"),
                               ("File too large", "file size limit reached")):
            if needle in text:
                return reason
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return None


# -- the job -----------------------------------------------------------------------------------------

def already_complete(plan: JobPlan, work: WorkDir, say: bool = True) -> bool:
    """Finished earlier with these parameters and its output untouched (unless --overwrite)."""
    job = plan.job
    out = job.output.path
    complete = work.is_complete(out, plan.chunks, plan.fingerprint) and os.path.exists(
        out if not is_image_output(out, job.output.codec) else os.path.dirname(os.path.abspath(out)))
    if complete and job.output.overwrite:
        # Its segments were removed after the join, so every chunk renders again.
        if say:
            log.info("job already complete; --overwrite given: rendering it again: %s", out)
        return False
    if complete and say:
        log.info("job already complete: %s", out)
    return complete


def render_one_chunk(plan: JobPlan, factory: StageFactory, work: WorkDir, t_start: float) -> RunSummary:
    """A farm task (``--chunk N``): render that chunk into the shared work folder, do not join.

    Tasks of one job run side by side (on one or many machines sharing the folder), each holding
    its chunk's lock; ``--join`` assembles the output once all are done."""
    from ..errors import ConfigError
    from .plan import MIN_REORDERED_CHUNK

    job, chunks = plan.job, plan.chunks
    i = job.executor.chunk
    assert i is not None
    if i >= len(chunks):
        raise ConfigError(f"'executor.chunk' is {i}, but this job is planned as {len(chunks)} chunks "
                          f"({chunks[0].start}-{chunks[-1].end}: H.264/H.265 chunks need at least "
                          f"{MIN_REORDERED_CHUNK} frames each); give --chunks {len(chunks)} to every task")
    c = chunks[i]
    with work.lock(f"lock.chunk_{i:04d}"):
        work.start(job, chunks, plan.fingerprint, only=i)
        summary = RunSummary(job.output.path, 0, 0.0, "local", 1, len(chunks), 0, len(chunks), work.report,
                             only_chunk=(i, c.start, c.end))
        if work.finished_entry(c, plan.fingerprint, bool(job.depth.preview)) is not None:
            log.info("chunk %d (frames %d-%d) is already done: %s", i, c.start, c.end, work.root)
            return summary
        try:
            with JobProgress(c.frames, enabled=job.executor.progress) as bar:
                record = run_chunk(plan, c, work, factory, StageCache(), on_frames=bar.update)
        except BaseException:
            work.remove_partials(i)
            raise
    summary.frames, summary.seconds = record.frames, time.perf_counter() - t_start
    summary.chunks_rendered, summary.chunks_skipped = 1, len(chunks) - 1
    summary.timings.merge(record.timings)
    return summary


def render_chunks(plan: JobPlan, factory: StageFactory, work: WorkDir, t_start: float) -> RunSummary:
    """Render the chunks not yet done, join them, write the side outputs (the work folder is locked)."""
    job, chunks = plan.job, plan.chunks
    work.start(job, chunks, plan.fingerprint)
    preview = bool(job.depth.preview)
    done = {c.index: r for c in chunks if (r := work.finished_entry(c, plan.fingerprint, preview)) is not None}
    todo = [c for c in chunks if c.index not in done]
    if job.executor.join and todo:
        raise JobError(f"{job.output.path}: cannot join: {len(todo)} of {len(chunks)} chunks are not done "
                       f"({_ranges(todo)}) in {work.root}; run their --chunk tasks first (same parameters and --chunks)")
    records, startup, workers = _render_todo(plan, factory, work, todo, sum(c.frames for c in chunks if c.index in done),
                                             len(done))
    done.update({r.chunk: r for r in records})
    ordered = [done[c.index] for c in chunks]
    join(plan, work, ordered)
    timings = Timings()
    for r in records:
        timings.merge(r.timings)
    summary = RunSummary(job.output.path, sum(r.frames for r in records), time.perf_counter() - t_start,
                         job.executor.executor, workers, len(chunks), len(todo), len(chunks) - len(todo),
                         startup_seconds=startup, timings=timings)
    rendered = {c.index for c in todo}
    summary.report = write_report(job, work, summary, chunks=[
        {"chunk": r.chunk, "start": r.start, "end": r.end, "frames": r.frames, "seconds": r.seconds, "pid": r.pid,
         "host": r.host, "resumed": r.chunk not in rendered} for r in ordered],
        depth_rows=[row for r in ordered for row in r.depth_rows])
    write_chunked_outputs(job, plan.info, chunks, ordered)
    shutil.rmtree(os.path.join(work.root, "segments"), ignore_errors=True)
    return summary


def _render_todo(plan: JobPlan, factory: StageFactory, work: WorkDir, todo: list[Chunk], done_frames: int,
                 n_done: int) -> tuple[list[ChunkRecord], float, int]:
    """Render `todo` in process or as Ray tasks; (records, Ray start-up seconds, workers)."""
    job = plan.job
    startup, workers = 0.0, 1
    with JobProgress(plan.total, enabled=job.executor.progress, initial=done_frames) as bar:
        if n_done:
            bar.note(f"resumed {n_done}/{len(plan.chunks)} chunks")
        try:
            if job.executor.executor == "ray" and todo:
                from .executors.ray_chunks import run_chunks_ray
                from .executors.ray_runtime import RayRuntime, worker_count

                with RayRuntime(job.executor.ray_address, job.executor.workers) as rt:
                    startup, workers = rt.startup_s, worker_count(job)
                    base = bar.done
                    records = run_chunks_ray(plan, todo, work.root, factory,
                                             on_progress=lambda k: bar.update(base + k - bar.done))
            else:
                cache = StageCache()
                records = [run_chunk(plan, c, work, factory, cache, on_frames=bar.update) for c in todo]
        except BaseException:
            # workers that died without cleaning up (the whole process group signalled) leave temp
            # segments; this run holds the lock and its tasks are stopped, so they are orphans
            # (remove_partials leaves the chunks that --chunk farm tasks are rendering)
            for path in work.remove_partials():
                log.info("removed the temp segment of an unfinished chunk: %s", path)
            raise
    return records, startup, workers


def join(plan: JobPlan, work: WorkDir, records: list[ChunkRecord]) -> None:
    """The output (and depth preview) from the chunks' segments; the job marked complete."""
    from .assemble import assemble, join_previews

    job, info = plan.job, plan.info
    fps = frame_rate(job, info)
    assemble(job, records, fps, bool(info.audio_streams), info.pixel_aspect)
    if job.depth.preview:
        join_previews(job, records, fps, info.pixel_aspect)
    work.finish(job.output.path)


def _ranges(chunks: list[Chunk]) -> str:
    """'chunk 2: frames 20-29; chunk 5: frames 50-59', at most 6 named."""
    named = [f"chunk {c.index}: frames {c.start}-{c.end}" for c in chunks[:6]]
    return "; ".join(named) + (f"; and {len(chunks) - 6} more" if len(chunks) > 6 else "")

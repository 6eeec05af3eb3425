"""Run one refocus job end to end: check, plan, frame loop, side outputs, report.

Two shapes of work, the same frame loop (:mod:`.loop`), the same stages and the same pixels:

* **streaming** (``chunks == 1``): one pass over the clip in frame order, written straight to the
  output through the atomic writer; the executor is in process (:mod:`.executors.local`) or Ray
  (:mod:`.executors.ray_stream`: head on the driver, tail on actors, bounded frames in flight); a
  pass that fails keeps its finished frames in the work folder and its rerun resumes (:mod:`.keep`);
* **chunked** (``chunks > 1``, farm jobs, :mod:`.chunks`): independent chunks with warm-up
  overlap, each writing a segment + a typed record (:mod:`.manifest`), run one after another in
  process, as Ray tasks, or one per farm task (``--chunk N``), then joined (:mod:`.assemble`). A
  rerun resumes: only chunks without a valid record are rendered.

Either way the side outputs are written by :mod:`.outputs` from what the loop saw, and the work
folder (``--work-dir``, default ``OUTPUT.work`` beside the output) receives a log per chunk and
``report.json`` with per-stage timings.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import InputError
from ..io.frame import ClipInfo
from ..params import JobParams, resolve_auto
from .loop import LoopResult, Span, run_frames
from .keep import (can_keep, discard as discard_kept, joinable, keep_failed_pass, kept_error, kept_files, kept_records,
                   resume_single_pass)
from .manifest import default_work_dir, fingerprint
from .outputs import write_single_pass_outputs
from .plan import (JobPlan, check_job, check_output, check_writer_settings, frame_count, middle_frame, open_job_input,
                   plan_job, planned_chunks, resolve_executor)
from .progress import JobProgress
from .stages import DEFAULT_FACTORY, StageFactory
from .summary import RunSummary, write_report
from .workdir import WorkDir

log = logging.getLogger(__name__)

__all__ = ["RunSummary", "planned_chunks", "resolve_executor", "run_job"]


def run_job(job: JobParams, *, factory: StageFactory = DEFAULT_FACTORY) -> RunSummary:
    """Render `job`; return its summary. Errors are one-line GenRefocusErrors."""
    check_job(job)
    job = resolve_auto(job)  # decided once: every stage, chunk, resume and the report see the number
    if job.executor.chunks > 1 or job.executor.chunk is not None or job.executor.join:
        return _run_chunked(job, factory)
    return _run_streaming(job, factory)


def _work_dir(job: JobParams) -> WorkDir:
    return WorkDir(job.executor.work_dir or default_work_dir(job.output.path))


def _make_executor(job: JobParams, factory: StageFactory) -> Any:
    if job.executor.executor == "ray":
        from .executors.ray_stream import RayExecutor

        return RayExecutor(job, factory)
    from .executors.local import LocalExecutor

    return LocalExecutor(factory)


def _run_streaming(job: JobParams, factory: StageFactory) -> RunSummary:
    work = _work_dir(job)
    fp = fingerprint(job)
    kept = kept_records(work, fp, job.input.first_frame) if can_keep(job) else []
    check_output(job, kept_files(kept))  # an image sequence's kept frames are its own
    t_start = time.perf_counter()
    with open_job_input(job) as reader:
        info: ClipInfo = reader.info
        total = frame_count(reader)
        check_writer_settings(job, info, total)
        job = resolve_executor(job, total)
        first = job.input.first_frame
        kept = joinable(kept, job, info, first + total - 1) if kept and total else []
        if kept:
            with work.lock():
                return resume_single_pass(job, info, total, work, kept, factory, t_start)
        discard_kept(work)  # parts of other settings, or too short to build on: rendered again
        span = Span(first, first, job.input.last_frame,
                    middle_frame(first, total) if job.output.before_after else None)
        executor = _make_executor(job, factory)
        try:
            executor.prepare(job, info)
            plan = JobPlan(job, info, total or 0, [], fp)
            result = _stream(plan, reader, executor, span, work, t_start)
        finally:
            executor.close()
    if result.frames == 0:
        raise InputError(f"{job.input.path}: no frames in the selected range")
    summary = RunSummary(job.output.path, result.frames, time.perf_counter() - t_start, executor.name,
                         getattr(executor, "workers", 1),
                         startup_seconds=getattr(getattr(executor, "runtime", None), "startup_s", 0.0),
                         timings=result.timings)
    write_single_pass_outputs(job, info, result)
    last = first + result.frames - 1
    summary.report = write_report(job, work, summary, chunks=[{"chunk": 0, "start": first, "end": last,
                                                               "frames": result.frames}],
                                  depth_rows=result.depth_rows)
    work.log(0, f"streamed {result.frames} frames in {summary.seconds:.2f} s with {executor.name} x{summary.workers}")
    return summary


def _stream(plan: JobPlan, reader: Any, executor: Any, span: Span, work: WorkDir, t_start: float) -> LoopResult:
    """The single pass: the frame loop straight into the job's output (audio carried by the writer).
    On a failure the frames finished so far are kept in the work folder (:mod:`.keep`)."""
    from ..io.writer import open_writer

    job, info, total = plan.job, plan.info, plan.total or None
    audio = job.input.path if (job.output.audio and info.audio_streams) else None
    writer = open_writer(job.output.path, info, codec=job.output.codec, pix_fmt=job.output.pix_fmt,
                         transfer=job.output.transfer, crf=job.output.crf, exr_half=job.output.exr_half,
                         audio_from=audio, overwrite=job.output.overwrite, audio_codec=job.output.audio_codec)
    result = LoopResult()
    try:
        with JobProgress(total, enabled=job.executor.progress) as bar:
            return run_frames(reader, executor, writer, span, job=job, info=info,
                              preview=job.depth.preview or None, on_frames=bar.update, result=result)
    except BaseException as exc:
        kept = keep_failed_pass(plan, work, writer, result, span.first, 0, span.read_from, t_start)
        if kept is None:
            raise
        err = kept_error(exc, kept, work)
        if err is exc:
            raise
        raise err from exc


def _run_chunked(job: JobParams, factory: StageFactory) -> RunSummary:
    from .chunks import already_complete, render_chunks, render_one_chunk

    t_start = time.perf_counter()
    work = _work_dir(job)
    plan = plan_job(job)
    job, chunks = plan.job, plan.chunks
    nothing_to_do = RunSummary(job.output.path, 0, 0.0, job.executor.executor, 0, len(chunks), 0, len(chunks),
                               work.report, already_complete=True)
    if already_complete(plan, work):
        return nothing_to_do
    check_output(job)
    check_writer_settings(job, plan.info, plan.total)
    if job.executor.chunk is not None:
        return render_one_chunk(plan, factory, work, t_start)
    with work.lock():
        if already_complete(plan, work, say=False):  # another run of this job finished meanwhile
            return nothing_to_do
        return render_chunks(plan, factory, work, t_start)

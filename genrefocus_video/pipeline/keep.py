"""A single pass that fails keeps the frames it finished, and its rerun resumes from there.

When the frame loop of a streaming job (``--chunks 1``, local or Ray streaming) fails at frame N
— an estimator error, a bad frame, Ctrl-C or SIGTERM — the encoder is closed cleanly at frame
N−1 and the clip written so far becomes a finished part in the work folder
(``WORK/kept/kept_0000.EXT`` + its :class:`.manifest.ChunkRecord`, exactly like a finished chunk);
nothing appears under the output's name. The rerun of the same command (same fingerprint) finds
the kept parts, renders frames N..last as one more part (with the temporal stages' warm-up before
N, as a chunk does), joins the parts (:mod:`.assemble`, the input's audio included) and writes the
side outputs from the parts' records. A rerun with other settings discards them. Video outputs
only (an image sequence publishes each frame as it is written), and not with ``--depth-preview``.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any, Optional

from ..errors import GenRefocusError, JobError
from ..io.codecs import resolve_codec
from ..io.paths import is_image_output, is_pattern
from ..io.writer import open_writer
from .chunks import chunk_record, join
from .executors.local import LocalExecutor, StageCache
from .loop import LoopResult, Span, run_frames
from .manifest import ChunkRecord
from .outputs import write_chunked_outputs
from .plan import MIN_REORDERED_CHUNK, Chunk, JobPlan, middle_frame, open_job_input
from .progress import JobProgress
from .report import Timings, write_json_atomic
from .stages import max_warmup
from .summary import RunSummary, write_report
from .workdir import WorkDir

log = logging.getLogger(__name__)


def kept_dir(work: WorkDir) -> str:
    return os.path.join(work.root, "kept")


def kept_segment(work: WorkDir, k: int, output_path: str) -> str:
    return os.path.join(kept_dir(work), f"kept_{k:04d}{os.path.splitext(output_path)[1]}")


def _record_path(work: WorkDir, k: int) -> str:
    return os.path.join(kept_dir(work), f"kept_{k:04d}.json")


def can_keep(job: Any) -> bool:
    """Video outputs and image sequences (a pattern) without a depth preview keep a failed pass's frames."""
    return not job.depth.preview and (is_pattern(job.output.path)
                                      or not is_image_output(job.output.path, job.output.codec))


def kept_files(kept: list[ChunkRecord]) -> set[str]:
    """The output images the kept parts of an image-sequence job published (absolute paths)."""
    return {os.path.abspath(os.path.join(r.segment, f)) for r in kept for f in r.files or []}


def kept_records(work: WorkDir, fp: str, first: int) -> list[ChunkRecord]:
    """The kept parts of this job (fingerprint `fp`), contiguous from frame `first`, their files
    unchanged; anything else in the kept folder (other settings, damaged) is removed."""
    folder = kept_dir(work)
    if not os.path.isdir(folder):
        return []
    records: list[ChunkRecord] = []
    while True:
        rec = ChunkRecord.from_json(work.read_json(_record_path(work, len(records))))
        expected = records[-1].end + 1 if records else first
        if rec is None or rec.fingerprint != fp or rec.start != expected or not rec.segment_intact(rec.frames):
            break
        records.append(rec)
    if not records:
        discard(work)
    return records


def _reordered(job: Any, info: Any) -> bool:
    """H.264/H.265: parts shorter than MIN_REORDERED_CHUNK frames cannot be joined by stream copy
    (their decode delay differs: the joined clip's frame rate comes out wrong; plan.py)."""
    if is_image_output(job.output.path, job.output.codec):
        return False
    return resolve_codec(job.output.codec, info, job.output.path) in ("h264", "h265")


def joinable(kept: list[ChunkRecord], job: Any, info: Any, last: int) -> list[ChunkRecord]:
    """The kept parts a rerun can build on: for H.264/H.265 the frames left to render must make a
    part of at least MIN_REORDERED_CHUNK frames, else the last kept part is rendered again."""
    kept = list(kept)
    while kept and _reordered(job, info) and 0 < last - kept[-1].end < MIN_REORDERED_CHUNK:
        log.info("only %d frames left after the kept frames %d-%d: too short a part to join into H.264/H.265; "
                 "rendering them again", last - kept[-1].end, kept[-1].start, kept[-1].end)
        kept.pop()
    return kept


def discard(work: WorkDir) -> None:
    """Forget the kept parts, and the frames a .mkv --depth-out kept with them (stages/depth_out.py)."""
    shutil.rmtree(kept_dir(work), ignore_errors=True)
    shutil.rmtree(os.path.join(work.root, "depth_out"), ignore_errors=True)


def keep_failed_pass(plan: JobPlan, work: WorkDir, writer: Any, result: LoopResult, first: int, k: int,
                     read_from: int, t_start: float) -> Optional[ChunkRecord]:
    """Close `writer` at its last finished frame into kept part `k` (frames first..last written);
    its record, or None when nothing could be kept (the writer is then aborted)."""
    too_short = result.frames < MIN_REORDERED_CHUNK and _reordered(plan.job, plan.info)  # cannot be joined
    if result.frames == 0 or result.last_index is None or not can_keep(plan.job) or too_short:
        writer.abort()
        return None
    seg = kept_segment(work, k, plan.job.output.path)
    try:
        os.makedirs(os.path.dirname(seg), exist_ok=True)
        os.makedirs(os.path.dirname(work.before_after_path(k)), exist_ok=True)
        if is_image_output(plan.job.output.path, plan.job.output.codec):
            writer.abort()  # its finished images are published already: they are the kept part
            seg = os.path.abspath(plan.job.output.path)
        else:
            writer.close_into(seg)
            if not os.path.isfile(seg):
                return None
        chunk = Chunk(k, first, result.last_index)
        record = _part_record(plan, chunk, work, writer, seg, result, time.perf_counter() - t_start, read_from)
        write_json_atomic(_record_path(work, k), record.to_json())
    except BaseException as exc:  # the disk that failed the job may refuse this too: lose the part, not the error
        log.warning("could not keep the finished frames in %s: %s", kept_dir(work), exc)
        writer.abort()
        return None
    return record


def _part_record(plan: JobPlan, chunk: Chunk, work: WorkDir, writer: Any, seg: str, result: LoopResult,
                 seconds: float, read_from: int) -> ChunkRecord:
    """A part's record (chunks.chunk_record); an image part lists exactly the images it wrote."""
    rec = chunk_record(plan, chunk, work, seg, result, seconds, read_from)
    if rec.files is not None:
        rec.files = [os.path.basename(p) for i in range(chunk.start, chunk.end + 1)
                     if os.path.isfile(p := writer.path_for(i))]
    return rec


def kept_error(exc: BaseException, kept: ChunkRecord, work: WorkDir) -> BaseException:
    """`exc` with the kept frames named: the same error class (its exit code) where it is ours, a
    JobError (exit 6) for anything else; an interrupt is logged and returned unchanged."""
    note = (f"{kept.end - kept.start + 1} finished frames ({kept.start}-{kept.end}) are kept in "
            f"{kept_dir(work)}: rerun the same command to resume")
    if isinstance(exc, KeyboardInterrupt):
        log.warning("%s", note)
        return exc
    if isinstance(exc, GenRefocusError):
        try:
            return type(exc)(f"{exc}; {note}")
        except TypeError:
            return JobError(f"{exc}; {note}")
    return JobError(f"{type(exc).__name__}: {exc}; {note}")


def resume_single_pass(job: Any, info: Any, total: int, work: WorkDir, kept: list[ChunkRecord], factory: Any,
                       t_start: float) -> Any:
    """Render the frames after the kept parts as one more part (warm-up first), join every part
    into the output and write the side outputs from their records; the job's summary."""
    first, last = job.input.first_frame, job.input.first_frame + total - 1
    start, k = kept[-1].end + 1, len(kept)
    chunks = [Chunk(r.chunk, r.start, r.end) for r in kept] + ([Chunk(k, start, last)] if start <= last else [])
    plan = JobPlan(job, info, total, chunks, kept[0].fingerprint)
    log.info("resuming %s: frames %d-%d were kept by an earlier run (%s)", job.output.path, first, start - 1, kept_dir(work))
    records, timings, frames = list(kept), Timings(), 0
    if start <= last:
        record, result = _render_rest(plan, work, factory, chunks[-1])
        records.append(record)
        timings, frames = result.timings, result.frames
    if is_image_output(job.output.path, job.output.codec):
        work.finish(job.output.path)  # every image is in place already
    else:
        join(plan, work, records)
    write_chunked_outputs(job, info, chunks, records)
    summary = RunSummary(job.output.path, frames, time.perf_counter() - t_start, "local", 1, len(chunks),
                         1 if frames else 0, len(kept), timings=timings)
    summary.report = write_report(job, work, summary, chunks=[
        {"chunk": r.chunk, "start": r.start, "end": r.end, "frames": r.frames, "resumed": r.chunk < k} for r in records],
        depth_rows=[row for r in records for row in r.depth_rows])
    discard(work)
    return summary


def _render_rest(plan: JobPlan, work: WorkDir, factory: Any, rest: Chunk) -> tuple[ChunkRecord, LoopResult]:
    """The frames after the kept parts, decoded from `rest.start` − warm-up, into a part of their
    own (a clip in the kept folder, or the output's images); kept in turn if this fails too."""
    job, info, first = plan.job, plan.info, plan.job.input.first_frame
    executor = LocalExecutor(factory, StageCache(), plan.fingerprint)
    executor.prepare(job, info)
    middle = middle_frame(first, plan.total) if job.output.before_after else None
    span = Span(max(first, rest.start - max_warmup(executor.stages)), rest.start, rest.end,
                middle if middle is not None and middle >= rest.start else None)
    images = is_image_output(job.output.path, job.output.codec)
    seg = os.path.abspath(job.output.path) if images else kept_segment(work, rest.index, job.output.path)
    os.makedirs(os.path.dirname(kept_segment(work, rest.index, job.output.path)), exist_ok=True)
    os.makedirs(os.path.dirname(work.before_after_path(rest.index)), exist_ok=True)
    result, t0 = LoopResult(), time.perf_counter()
    writer = open_writer(seg, info, codec=job.output.codec, pix_fmt=job.output.pix_fmt, transfer=job.output.transfer,
                         crf=job.output.crf, exr_half=job.output.exr_half, audio_from=None,
                         overwrite=job.output.overwrite if images else True, segment=True)
    try:
        with open_job_input(job, span.read_from, rest.end) as reader, \
                JobProgress(plan.total, enabled=job.executor.progress, initial=rest.start - first) as bar:
            run_frames(reader, executor, writer, span, job=job, info=info, on_frames=bar.update, result=result)
    except BaseException as exc:
        part = keep_failed_pass(plan, work, writer, result, rest.start, rest.index, span.read_from, t0)
        end = part.end if part is not None else rest.start - 1  # the earlier parts stay kept either way
        err = kept_error(exc, ChunkRecord(0, first, end, 0, "", ""), work)
        if err is exc:
            raise
        raise err from exc
    return _part_record(plan, rest, work, writer, seg, result, time.perf_counter() - t0, span.read_from), result

"""Before any frame is rendered: the job checked, its executor chosen, its frame range cut into chunks.

Every refusal that can be made without rendering is made here (one line, the right exit code),
and every task of a chunked job plans alike, so farm tasks started on different machines agree
on the chunk boundaries.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any, Collection, Optional

import numpy as np

from ..errors import ConfigError, InputError, OutputError
from ..io.frame import ClipInfo
from ..params import JobParams
from .manifest import fingerprint
from ..io.paths import is_image_output

log = logging.getLogger(__name__)

#: With ``--executor auto``, clips at least this long go to Ray (its ~5-10 s start-up then pays off).
AUTO_RAY_MIN_FRAMES = 120

#: H.264/H.265 chunks shorter than this start with a different decode delay than longer ones (the
#: encoder's B-frame reordering has not filled up), which a stream-copy join cannot reconcile: the
#: decode timestamps collide at the join and the container's duration and frame rate come out wrong.
MIN_REORDERED_CHUNK = 8


@dataclass(frozen=True)
class Chunk:
    """Frames ``start..end`` (inclusive clip indices) of one shot."""

    index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class JobPlan:
    """A chunked job as every task of it sees it: the resolved job, the clip, the chunks, the
    fingerprint (taken once per run) and the frame the before/after image shows."""

    job: JobParams
    info: ClipInfo
    total: int
    chunks: list[Chunk]
    fingerprint: str

    @property
    def middle(self) -> int:
        return middle_frame(self.chunks[0].start, self.total)


def plan_chunks(first: int, last: int, n: int) -> list[Chunk]:
    """Split ``first..last`` into at most `n` contiguous chunks of near-equal length."""
    total = last - first + 1
    if total <= 0:
        raise InputError(f"empty frame range {first}-{last}")
    n = max(1, min(n, total))
    bounds = [first + (total * i) // n for i in range(n + 1)]
    return [Chunk(i, bounds[i], bounds[i + 1] - 1) for i in range(n)]


def middle_frame(first: int, total: Optional[int]) -> int:
    """The frame of the before/after image: the middle of the rendered range (the first when the
    length is unknown). The same for a single pass and for chunks."""
    return first + (total // 2 if total else 0)


def open_job_input(job: JobParams, first: Optional[int] = None, last: Optional[int] = None) -> Any:
    from .inputs import open_input

    return open_input(job, job.input.first_frame if first is None else first,
                      job.input.last_frame if last is None else last)


def frame_count(reader: Any) -> Optional[int]:
    try:
        return len(reader)
    except TypeError:
        return None


def frame_rate(job: JobParams, info: ClipInfo) -> float:
    """The written clip's frame rate: the input's (a sequence's is --fps already)."""
    return float(info.fps or job.input.fps or 24.0)


def check_job(job: JobParams) -> None:
    """Refuse a job whose settings contradict each other (exit 2)."""
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


def protected_inputs(job: JobParams) -> tuple[str, ...]:
    """Every file or sequence the job reads: never written over, even with --overwrite."""
    from ..io.paths import is_pattern

    return tuple(p for p in (job.input.path, job.depth.path, job.focus.keyframes, job.aperture.image)
                 if p and (os.path.exists(p) or is_pattern(p)))


def check_output(job: JobParams, kept: Collection[str] = ()) -> None:
    """Refuse early (before any work) to overwrite an existing output or an input. `kept`: images
    of the output sequence that an earlier failed run of this job kept (pipeline/keep.py)."""
    from ..io.atomic import check_output_path

    if job.depth.out:
        _check_depth_out(job)
    if is_image_output(job.output.path, job.output.codec):
        _check_sequence_output(job, kept)
        return
    check_output_path(job.output.path, overwrite=job.output.overwrite, inputs=protected_inputs(job))
    if job.output.audio:
        from ..io.audio import audio_plan

        audio_plan(job.input.path, job.output.path, job.output.audio_codec)  # refuses PCM into MP4 with 'copy'


def _check_sequence_output(job: JobParams, kept: Collection[str] = ()) -> None:
    from ..io.atomic import check_output_path, refuse_inputs_in_pattern
    from ..io.paths import is_pattern
    from ..io.sequence import _list_frames

    folder = os.path.dirname(os.path.abspath(job.output.path))
    if not os.path.isdir(folder):
        raise OutputError(f"output folder {folder} does not exist")
    protected = protected_inputs(job)
    if is_pattern(job.output.path):
        refuse_inputs_in_pattern(job.output.path, protected)
    else:
        check_output_path(job.output.path, overwrite=True, inputs=protected)
    existing = _list_frames(job.output.path) if is_pattern(job.output.path) else \
        ([(0, job.output.path)] if os.path.exists(job.output.path) else [])
    existing = [(i, f) for i, f in existing if os.path.abspath(f) not in kept]
    if existing and not job.output.overwrite:
        raise OutputError(f"output {existing[0][1]} already exists; pass --overwrite to replace it")


def _check_depth_out(job: JobParams) -> None:
    """``--depth-out``: its folder exists and it writes over no input (nor the output sequence).

    Like the other side outputs (focus export, before/after) its files are replaced when they
    exist: a resumed chunked run or the farm tasks of one job write the same frames again."""
    from ..io.atomic import refuse_inputs_in_pattern

    from ..io.depth_export import is_depth_video

    pattern = str(job.depth.out)
    folder = os.path.dirname(os.path.abspath(pattern))
    if not os.path.isdir(folder):
        raise OutputError(f"--depth-out folder {folder} does not exist")
    if is_depth_video(pattern):  # one video file: neither an input nor the output
        from ..io.atomic import check_output_path

        if os.path.abspath(pattern) == os.path.abspath(job.output.path):
            raise OutputError(f"--depth-out {pattern} is the output itself; give the depth video its own name")
        check_output_path(pattern, overwrite=True, inputs=protected_inputs(job))
        return
    refuse_inputs_in_pattern(pattern, protected_inputs(job) + (job.output.path,))


def check_writer_settings(job: JobParams, info: ClipInfo, total: Optional[int]) -> None:
    """Refuse before any rendering what the writer would refuse at its first or second frame: a
    codec the container cannot hold, a pixel format the codec or frame size cannot take, several
    frames into one still image."""
    from ..io.paths import is_image_path, is_pattern
    from ..io.sequence import check_image_codec

    path = job.output.path
    if is_pattern(path) or is_image_path(path):
        check_image_codec(path, job.output.codec)
        if not is_pattern(path) and total is not None and total > 1:
            stem, ext = os.path.splitext(path)
            raise ConfigError(f"output {path} is a single image but the job has {total} frames; use a pattern "
                              f"such as {stem}.%04d{ext}, or --first-frame/--last-frame to pick one")
        return
    if is_image_output(path, job.output.codec):
        return
    from ..io.codecs import resolve_codec, resolve_pix_fmt

    resolve_pix_fmt(resolve_codec(job.output.codec, info, path), info, job.output.pix_fmt, path)


def resolve_executor(job: JobParams, total: Optional[int]) -> JobParams:
    """Turn ``executor: auto`` into local or ray for this clip (a cluster address always means ray)."""
    ex = job.executor
    if ex.executor != "auto":
        return job
    cores = ex.workers or os.cpu_count() or 1
    use_ray = bool(ex.ray_address) or (total is not None and total >= AUTO_RAY_MIN_FRAMES and cores > 1)
    return replace(job, executor=replace(ex, executor="ray" if use_ray else "local"))


def chunk_count(job: JobParams, info: ClipInfo, total: int) -> int:
    """--chunks, reduced so that every H.264/H.265 segment has at least MIN_REORDERED_CHUNK frames."""
    n = job.executor.chunks
    if is_image_output(job.output.path, job.output.codec):
        return n
    from ..io.codecs import resolve_codec

    if resolve_codec(job.output.codec, info, job.output.path) not in ("h264", "h265"):
        return n
    most = max(1, total // MIN_REORDERED_CHUNK)
    if n > most:
        log.info("%d frames into H.264/H.265: %d chunks instead of %d (each needs at least %d frames to join "
                 "cleanly)", total, most, n, MIN_REORDERED_CHUNK)
    return min(n, most)


def with_preview_range(job: JobParams, info: ClipInfo, first: int) -> JobParams:
    """The job with the depth preview's colour range fixed from its first frame (as a single pass
    would choose it), so that every chunk colours its segment the same way."""
    from .stages.temporal import start_disparity

    d = start_disparity(job, info, first)
    lo, hi = (float(v) for v in np.percentile(d, [1, 99]))
    hi = max(hi, lo + 1e-6)
    log.info("depth preview colours: disparity %.6g-%.6g (frame %d), the same in every chunk", lo, hi, first)
    return replace(job, depth=replace(job.depth, preview_range=f"{lo!r},{hi!r}"))


def plan_job(job: JobParams) -> JobPlan:
    """Probe the input and cut its frame range into the job's chunks (every task of a job plans alike)."""
    with open_job_input(job) as reader:
        info: ClipInfo = reader.info
        total = frame_count(reader)
    if total is None:
        raise ConfigError(f"{job.input.path}: frame count unknown, cannot split into chunks; give 'input.last_frame' or use --chunks 1")
    if total == 0:
        raise InputError(f"{job.input.path}: no frames in the selected range")
    job = resolve_executor(job, total)
    if job.depth.preview and job.depth.preview_range is None:
        job = with_preview_range(job, info, job.input.first_frame)
    first = job.input.first_frame
    chunks = plan_chunks(first, first + total - 1, chunk_count(job, info, total))
    return JobPlan(job, info, total, chunks, fingerprint(job))


def planned_chunks(job: JobParams) -> list[Chunk]:
    """The chunks `job` renders as (after the H.264/H.265 minimum), e.g. to list farm tasks."""
    check_job(job)
    return plan_job(job).chunks

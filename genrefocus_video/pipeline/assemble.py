"""Join a chunked job's finished segments into its output: a lossless stream-copy concat with the
input's audio (the packets of the rendered range), or image files moved into place; the
depth-preview segments joined the same way."""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Optional

from ..errors import OutputError
from ..params import JobParams
from .manifest import ChunkRecord
from ..io.paths import is_image_output

log = logging.getLogger(__name__)


def assemble(job: JobParams, records: list[ChunkRecord], fps: float, has_audio: bool,
             pixel_aspect: Fraction = Fraction(1)) -> None:
    """Join finished segments (in chunk order) into the final output."""
    if is_image_output(job.output.path, job.output.codec):
        _move_images(job, records)
        return
    from ..io.atomic import atomic_output
    from ..io.concat import concat_segments

    audio = job.input.path if (job.output.audio and has_audio) else None  # image sequences have none
    aac = None
    if audio:
        from ..io.audio import audio_plan

        aac = audio_plan(audio, job.output.path, job.output.audio_codec, announce=True)
    audio_args = dict(audio_from=audio, audio_range=audio_range(job, records, fps), audio_aac=aac) if audio else {}
    try:
        with atomic_output(job.output.path, overwrite=job.output.overwrite, inputs=(job.input.path,)) as tmp:
            concat_segments([r.segment for r in records], tmp, durations=segment_durations(records, fps),
                            pixel_aspect=pixel_aspect, **audio_args)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {job.output.path}: {exc.strerror or exc}; chunks are kept, rerun to resume") from None


def _move_images(job: JobParams, records: list[ChunkRecord]) -> None:
    dest = os.path.dirname(os.path.abspath(job.output.path))
    moves = [(os.path.join(r.segment, name), os.path.join(dest, name)) for r in records for name in r.files or []]
    for _, target in moves:  # check everything before moving anything
        _refuse_existing(job, target)
    for source, target in moves:
        _refuse_existing(job, target)
        os.replace(source, target)


def _refuse_existing(job: JobParams, target: str) -> None:
    if os.path.exists(target) and not job.output.overwrite:
        raise OutputError(f"output {target} already exists; pass --overwrite to replace it")


def audio_range(job: JobParams, records: list[ChunkRecord], fps: float) -> Optional[tuple[float, Optional[float]]]:
    """The input's audio to carry: the packets overlapping the rendered frames, shifted to start
    with the video — the selection the streaming writer makes for a single pass of this range."""
    if not (job.input.first_frame > 0 or job.input.last_frame is not None):
        return None
    first = records[0].start_time
    t0 = float(first) if first is not None else job.input.first_frame / fps
    # the span of frame slots (on the frame-rate grid), not the count of frames: a variable
    # frame rate leaves slots empty
    t1 = None if job.input.last_frame is None else t0 + (records[-1].end - records[0].start + 1) / fps
    return max(0.0, t0), t1


def segment_durations(records: list[ChunkRecord], fps: float) -> list[float]:
    """Each segment's exact length: the source-time distance to the next chunk's first frame (right
    for variable frame rates too, as the writer keeps the source timestamps), the last one frames / fps."""
    out = []
    for k, r in enumerate(records):
        nxt = records[k + 1].start_time if k + 1 < len(records) else None
        cur = r.start_time
        out.append(float(nxt) - float(cur) if nxt is not None and cur is not None and nxt > cur else r.frames / fps)
    return out


def join_previews(job: JobParams, records: list[ChunkRecord], fps: float, pixel_aspect: Fraction = Fraction(1)) -> None:
    """Join the chunks' depth-preview segments into job.depth.preview (stream copy, atomic)."""
    from ..io.atomic import atomic_output
    from ..io.concat import concat_segments

    path = str(job.depth.preview)
    with atomic_output(path, overwrite=True, inputs=(job.input.path,)) as tmp:
        concat_segments([str(r.preview) for r in records], tmp, durations=[r.frames / fps for r in records],
                        pixel_aspect=pixel_aspect)
    log.info("depth preview written to %s", path)

"""Every side output of a job, written one way from what the frame loop saw (:class:`.loop.LoopResult`
for a single pass, the chunks' :class:`.manifest.ChunkRecord` for a chunked job): the
before/after image, the contact sheet, the focus-track export and plot, a .mkv ``--depth-out``.

So a single pass, in-process chunks, Ray chunks and farm tasks + ``--join`` write the same
files: the before/after image is the middle frame's input and rendered output as rendered (not
read back from an encoded file), the focus export and plot come from the rows the focus stage
recorded per frame (no stage is rebuilt to write them), the contact sheet captions carry the focus
each frame was rendered with.
"""
from __future__ import annotations

import logging
import os
import shutil
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from ..errors import OutputError
from ..io.frame import ClipInfo
from ..params import JobParams
from .stages.depth_out import finish_depth_video
from .summary import frame_runs

if TYPE_CHECKING:
    from .loop import LoopResult
    from .manifest import ChunkRecord
    from .plan import Chunk

log = logging.getLogger(__name__)


def write_single_pass_outputs(job: JobParams, info: ClipInfo, result: "LoopResult") -> None:
    """The side outputs of a single pass, from its loop result."""
    write_focus_exports(job, result.focus_rows, result.focus_keys)
    if result.frames:
        last = result.last_index if result.last_index is not None else job.input.first_frame + result.frames - 1
        finish_depth_video(job, info, job.input.first_frame, last)
    if result.before_after is not None and job.output.before_after:
        write_before_after(job.output.before_after, *result.before_after, pixel_aspect=float(info.pixel_aspect))
    if job.output.contact_sheet:
        first = job.input.first_frame
        write_contact_sheet(job, info, first, first + result.frames - 1, result.focus_values)


def write_chunked_outputs(job: JobParams, info: ClipInfo, chunks: Sequence["Chunk"], records: Sequence["ChunkRecord"]) -> None:
    """The side outputs of a chunked job, from its chunks' records (what each chunk's loop result held)."""
    write_focus_exports(job, [row for r in records for row in r.focus_rows],
                        next((r.focus_keys for r in records if r.focus_keys), []))
    finish_depth_video(job, info, chunks[0].start, chunks[-1].end)
    if job.output.before_after:
        place_before_after(job, next((r.before_after for r in records if r.before_after), None))
    if job.output.contact_sheet:
        focus = {i: a for r in records for i, a in r.focus_by_frame().items()}
        write_contact_sheet(job, info, chunks[0].start, chunks[-1].end, focus)


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


def place_before_after(job: JobParams, rendered: Optional[str]) -> None:
    """Copy the before/after image a chunk rendered (in the work folder) to the job's path (atomic)."""
    from ..io.atomic import atomic_output

    if not job.output.before_after:
        return
    if rendered is None:
        log.warning("no before/after image: the middle frame of %s was not rendered (a gap in a variable-frame-rate "
                    "clip)", job.input.path)
        return
    with atomic_output(str(job.output.before_after), overwrite=True) as tmp:
        shutil.copyfile(rendered, tmp)


def write_contact_sheet(job: JobParams, info: ClipInfo, first: int, last: int, focus: dict[int, float]) -> None:
    """The contact sheet of the written output, captions with the focus each frame was rendered with."""
    from .contact import write_contact_sheet as write_sheet
    from .plan import frame_rate

    path = write_sheet(str(job.output.contact_sheet), job, first, last, frame_rate(job, info), focus)
    log.info("contact sheet written to %s", path)


def write_focus_exports(job: JobParams, rows: Sequence[dict[str, Any]], keys: Sequence[Sequence[float]],
                        out_dir: Optional[str] = None) -> dict[str, str]:
    """The focus-track export (.json/.csv) and plot (.png) from the rows of every written frame.

    A path with a folder is used as given (relative to the working directory); a bare file name
    goes into `out_dir` (default: beside the output). Returns {what: path}."""
    from ..focus.export import plot_focus_track, write_focus_track
    from ..tracks import Key

    f = job.focus
    written: dict[str, str] = {}
    for first, last, why in lost_spans(rows):  # said whether or not the track is exported
        log.warning("subject track was lost on frames %d-%d (%s): focus was held there", first, last, why)
    if not rows or not (f.export or f.plot):
        return written
    if out_dir is None:
        out_dir = os.path.dirname(os.path.abspath(job.output.path))
    if f.export:
        written["focus_track"] = write_focus_track(rows, beside(f.export, out_dir))
    if f.plot:
        written["focus_plot"] = plot_focus_track(rows, beside(f.plot, out_dir), keys=[Key(a, b) for a, b in keys],
                                                 title=clip_title(job.input.path or ""), focus_range=float(f.range))
    return written


def lost_spans(rows: Sequence[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Runs of consecutive frames whose subject track was lost: (first, last, the first frame's reason)."""
    lost = [r for r in rows if r.get("status") == "lost"]
    why = {r["frame"]: str(r.get("note") or "lost") for r in reversed(lost)}  # a frame's first row wins
    return [(a, b, why[a]) for a, b in frame_runs([r["frame"] for r in lost])]


def beside(path: str, out_dir: str) -> str:
    """A bare file name goes into `out_dir` (the output's folder); a path with a folder stays."""
    if os.path.isabs(path) or os.path.dirname(path):
        return path
    return os.path.join(out_dir, path)


def clip_title(path: str) -> str:
    """The plot's title: the clip's file name, or folder/pattern for an image sequence."""
    name = os.path.basename(path)
    if any(ch in name for ch in "%#*?"):
        name = f"{os.path.basename(os.path.dirname(path))}/{name}"
    return name

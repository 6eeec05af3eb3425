"""``--depth-out``: the disparity the renderer used, written per frame after the bokeh stage.

It runs last in the tail, after :class:`~.render.BokehStage` (which clamps an *estimated*
disparity's blur reach, depth/sanitise.py) or BokehNet, so the file holds exactly the disparity the
picture was rendered from: estimation, alignment, smoothing and clamping included. A pure frame
stage: each frame's file is named by its source frame number (a plate sequence's own numbering,
else the frame index), so any worker in any order (chunks,
Ray, farm tasks) writes the same files as one pass.

A ``.mkv`` target is one 16-bit FFV1 video whose code scale spans the whole clip's disparity
range (io/depth_video.py), known only once every frame is rendered: the stage then keeps each
frame's float32 disparity in the work folder (``depth_out/<frame>.npy``, any worker, any order,
kept across a resume like the chunks), and :func:`finish_depth_video` codes them into the video
once the job's output is written (single pass, chunk join or ``--join``), then removes them.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any, Iterator, Optional

import numpy as np

from ...errors import InputError, OutputError
from ...io.atomic import atomic_output
from ...io.depth_export import check_depth_out, depth_out_file, is_depth_video, write_disparity_exr
from ...io.frame import ClipInfo
from ...record import FrameRecord


log = logging.getLogger(__name__)


def frames_dir(job: Any) -> str:
    """Where a .mkv ``--depth-out`` keeps the frames' disparity until the video is coded."""
    from ..manifest import default_work_dir

    return os.path.join(job.executor.work_dir or default_work_dir(job.output.path), "depth_out")


class DepthOutStage:
    """Writes rec.disparity (float32, as rendered) to ``pattern % (start number + rec.index)``, or
    for a .mkv target to ``frames/<rec.index>.npy`` (see the module doc)."""

    name = "depth_out"
    temporal = False

    def __init__(self, pattern: str, info: Optional[ClipInfo] = None, frames: Optional[str] = None) -> None:
        self.pattern = check_depth_out(pattern)
        self.frames = frames if is_depth_video(pattern) else None
        if is_depth_video(pattern) and frames is None:
            raise ValueError("a .mkv --depth-out needs the folder that keeps its frames (frames_dir(job))")
        self.pixel_aspect = float(info.pixel_aspect) if info is not None else 1.0
        # a plate sequence's numbering is kept (plate.1001.exr -> depth.1001.exr), as the image writer does
        seq = info is not None and info.kind == "sequence"
        self.start_number = int(info.metadata.get("start_number", 0)) if seq else 0  # type: ignore[union-attr]

    def process(self, rec: FrameRecord) -> FrameRecord:
        t0 = time.perf_counter()
        if rec.disparity is None:
            raise InputError(f"frame {rec.index}: no disparity to write to --depth-out (depth stage missing?)")
        if self.frames is not None:
            _keep_frame(self.frames, rec.index, rec.disparity)
        else:
            write_disparity_exr(depth_out_file(self.pattern, self.start_number + rec.index), rec.disparity,
                                self.pixel_aspect)
        rec.timings[self.name] = time.perf_counter() - t0
        return rec


def _keep_frame(folder: str, index: int, disparity: np.ndarray) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        with atomic_output(os.path.join(folder, f"{index:08d}.npy"), overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(disparity, dtype=np.float32), allow_pickle=False)
    except OSError as exc:
        raise OutputError(f"cannot keep frame {index} of --depth-out in {folder}: {exc.strerror or exc}") from None


def finish_depth_video(job: Any, info: ClipInfo, first: int, last: int) -> Optional[str]:
    """Code the kept frames first..last into the job's .mkv ``--depth-out`` (atomic), then remove
    them; the path written, or None when the job has no .mkv depth out."""
    from ...io.depth_video import DisparityCoding, write_disparity_video
    from ..plan import frame_rate

    path = job.depth.out
    if not path or not is_depth_video(path):
        return None
    folder = frames_dir(job)
    files = [(i, os.path.join(folder, f"{i:08d}.npy")) for i in range(first, last + 1)]
    files = [(i, f) for i, f in files if os.path.exists(f)]  # a gap of a variable-frame-rate clip stays a gap
    if not files:
        raise OutputError(f"--depth-out {path}: no rendered frame's disparity was kept in {folder}")
    lo, hi = float("inf"), float("-inf")
    for _, f in files:
        d = np.load(f, mmap_mode="r", allow_pickle=False)
        lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
    coding = DisparityCoding.for_range(lo, hi, first, files[-1][0] - first + 1)

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        for i, f in files:
            yield i, np.load(f, allow_pickle=False)

    n = write_disparity_video(path, frames(), coding, frame_rate(job, info), float(info.pixel_aspect))
    log.info("depth out: %d frames to %s (disparity %.6g..%.6g, 16-bit codes, error <= %.3g)", n, path, lo, hi,
             coding.max_error)
    shutil.rmtree(folder, ignore_errors=True)
    return path

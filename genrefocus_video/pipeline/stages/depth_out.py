"""``--depth-out``: the disparity the renderer used, written per frame after the bokeh stage.

It runs last in the tail, after :class:`~.render.BokehStage` (which clamps an *estimated*
disparity's blur reach, depth/sanitise.py) or BokehNet, so the file holds exactly the disparity the
picture was rendered from: estimation, alignment, smoothing and clamping included. A pure frame
stage: each frame's file is named by its source frame number (a plate sequence's own numbering,
else the frame index), so any worker in any order (chunks,
Ray, farm tasks) writes the same files as one pass.
"""
from __future__ import annotations

import time
from typing import Optional

from ...errors import InputError
from ...io.depth_export import check_depth_out, depth_out_file, write_disparity_exr
from ...io.frame import ClipInfo
from ...record import FrameRecord


class DepthOutStage:
    """Writes rec.disparity (float32, as rendered) to ``pattern % (start number + rec.index)``."""

    name = "depth_out"
    temporal = False

    def __init__(self, pattern: str, info: Optional[ClipInfo] = None) -> None:
        self.pattern = check_depth_out(pattern)
        self.pixel_aspect = float(info.pixel_aspect) if info is not None else 1.0
        # a plate sequence's numbering is kept (plate.1001.exr -> depth.1001.exr), as the image writer does
        seq = info is not None and info.kind == "sequence"
        self.start_number = int(info.metadata.get("start_number", 0)) if seq else 0  # type: ignore[union-attr]

    def process(self, rec: FrameRecord) -> FrameRecord:
        t0 = time.perf_counter()
        if rec.disparity is None:
            raise InputError(f"frame {rec.index}: no disparity to write to --depth-out (depth stage missing?)")
        write_disparity_exr(depth_out_file(self.pattern, self.start_number + rec.index), rec.disparity, self.pixel_aspect)
        rec.timings[self.name] = time.perf_counter() - t0
        return rec

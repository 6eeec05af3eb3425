"""Depth from files: a disparity / depth / normalised-depth sequence decoded by io.depthio.

Values arrive as disparity at the frame size (io.depthio does the kind conversion and the
edge-aware resampling); a file is trusted, so its confidence is 1 everywhere.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..record import FrameRecord
from .sources import DepthEstimate


class FileDepthSource:
    name = "file"
    warmup = 0

    def __init__(self, path: str, kind: str = "disparity", near: Optional[float] = None,
                 far: Optional[float] = None, scale: float = 1.0, size: tuple[int, int] = (0, 0),
                 channel: str = "auto") -> None:
        from ..io.depthio import open_depth

        self.path = path
        self.seq = open_depth(path, kind=kind, near=near, far=far, scale=scale, size=size, channel=channel)

    def reset(self) -> None:
        pass

    def read(self, index: int) -> np.ndarray:
        return np.asarray(self.seq.read(index), dtype=np.float32)

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        d = self.read(rec.index)
        return DepthEstimate(d, np.ones_like(d, dtype=np.float32), {"source": "file"})

"""Depth preview stage: the frame beside its colourised disparity, written to a video."""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from ...record import FrameRecord

log = logging.getLogger(__name__)


class DepthPreviewStage:
    """Writes frame | colourised disparity side by side to a video (atomic on finalize).

    The colour range is `rng` when given (``depth.preview_range``), else the first frame's 1st–99th
    percentile, fixed for the clip. Chunked runs call :meth:`begin_segment` before each chunk: the
    chunk's own frames (not its warm-up) go to a segment file that the driver joins afterwards.
    """

    name = "depth_preview"
    temporal = True
    warmup = 0

    def __init__(self, path: str, fps: float, rng: Optional[tuple[float, float]] = None,
                 pixel_aspect: float = 1.0) -> None:
        self.path, self.fps = path, fps
        self.pixel_aspect = pixel_aspect  # carried into the preview (H.264 VUI), so it plays unsqueezed
        self._fixed = rng
        self._writer: Any = None
        self._range: Optional[tuple[float, float]] = rng
        self._first: Optional[int] = None  # frames before this index are warm-up: not written

    def reset(self) -> None:
        pass

    def begin_segment(self, path: str, first_index: int) -> None:
        """Write the frames from `first_index` on to `path` (a chunk's preview segment)."""
        self.abort()
        self.path, self._first, self._range = path, first_index, self._fixed

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.disparity is None or (self._first is not None and rec.index < self._first):
            return rec
        if self._range is None:
            lo, hi = np.percentile(rec.disparity, [1, 99])
            self._range = (float(lo), float(max(hi, lo + 1e-6)))
        img = preview_image(rec.frame.rgb, rec.disparity, self._range)
        if self._writer is None:
            from ...focus.export import PreviewWriter

            self._writer = PreviewWriter(self.path, img.shape[1], img.shape[0], self.fps, self.pixel_aspect)
        self._writer.write(img)
        return rec

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            log.info("depth preview written to %s", self.path)
            self._writer = None

    def abort(self) -> None:
        """Drop an unfinished preview (its temp file), e.g. when a chunk fails."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None


def preview_image(rgb: np.ndarray, disparity: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    """8-bit RGB: the sRGB-encoded frame beside the disparity in the turbo colour map (near = red)."""
    import cv2

    from ...flow import _encode_rgb8

    lo, hi = rng
    u = np.clip((disparity - lo) / (hi - lo), 0, 1)
    col = cv2.applyColorMap((u * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    out = np.concatenate([_encode_rgb8(rgb), col], axis=1)
    h, w = out.shape[:2]
    return np.ascontiguousarray(out[: h - h % 2, : w - w % 2])

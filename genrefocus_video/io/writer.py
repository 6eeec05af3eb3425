"""One entry point for writing frames: video files (PyAV) or image sequences / single images.

Everything is atomic: a video is encoded into a temp file beside the final name and renamed on
``close()``; each image of a sequence is renamed into place when complete. ``abort()`` (or leaving
the ``with`` block with an exception) removes the partial file, so a failed or interrupted run
never leaves a half-written file under the final name.
"""
from __future__ import annotations

from typing import Optional, Union

from .frame import ClipInfo, Frame
from ..errors import OutputError
from .paths import path_kind, unsupported_reason
from .sequence import SequenceWriter
from .video_writer import VideoWriter


class FrameWriter:
    """Context manager around a video or sequence writer."""

    def __init__(self, impl: Union[VideoWriter, SequenceWriter]) -> None:
        self._impl = impl
        self.path = impl.path

    def write(self, frame: Frame) -> None:
        self._impl.write(frame)

    def close(self) -> None:
        """Finish and atomically publish the output."""
        self._impl.close()

    def close_into(self, path: str) -> None:
        """Finish the video written so far under `path` instead of the output's name: a failed
        job keeps its finished frames in its work folder (pipeline/keep.py). Videos only."""
        import os

        self._impl.final = os.path.abspath(path)  # type: ignore[union-attr]
        self._impl.overwrite = True
        self._impl.close()

    def path_for(self, index: int) -> str:
        """The file frame `index` is written to: the image of a sequence, the video itself."""
        return self._impl.path_for(index) if isinstance(self._impl, SequenceWriter) else self.path

    def abort(self) -> None:
        """Discard partial output (temp file); the final name is never touched."""
        self._impl.abort()

    @property
    def frames_written(self) -> int:
        return self._impl.frames_written

    @property
    def codec(self) -> str:
        return getattr(self._impl, "family", None) or getattr(self._impl, "fmt", "")

    @property
    def pix_fmt(self) -> Optional[str]:
        return getattr(self._impl, "pix_fmt", None)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_writer(path: str, like: ClipInfo, *, codec: str = "auto", pix_fmt: Optional[str] = None,
                transfer: str = "auto", crf: Optional[int] = None, exr_half: bool = True,
                audio_from: Optional[str] = None, overwrite: bool = False, audio_codec: str = "auto",
                segment: bool = False) -> FrameWriter:
    """Open an output like the input ``like`` (codec family, bit depth, chroma, tags, fps, timecode).

    ``audio_from``: a media file whose audio streams are copied packet-for-packet (video outputs);
    ``audio_codec`` 'auto' encodes PCM to AAC for MP4 only, 'copy' refuses that, 'aac' encodes all
    (io/audio.py). ``segment``: a chunk of a farm job, joined later by io.concat, which writes the
    container-level pixel aspect once for the whole file (no copy pass per segment).
    """
    if not path:
        raise OutputError("no output given; expected a video file or image sequence pattern (-o)")
    kind = path_kind(path)
    if kind == "unsupported":
        raise OutputError(f"output {path}: {unsupported_reason(path)}")
    if kind in ("sequence", "image"):
        return FrameWriter(SequenceWriter(path, like, codec=codec, transfer=transfer, exr_half=exr_half,
                                          overwrite=overwrite))
    return FrameWriter(VideoWriter(path, like, codec=codec, pix_fmt=pix_fmt, transfer=transfer, crf=crf,
                                   audio_from=audio_from, overwrite=overwrite, audio_codec=audio_codec,
                                   segment=segment))

"""One entry point for reading frames: video files, image sequences and single images.

``open_reader`` looks at the path: a frame-number pattern (``shot.%04d.exr``, ``shot.####.exr``)
or a glob is a sequence, an existing image file is a one-frame clip, anything else is opened with
PyAV as a video. Every reader streams: iterating yields :class:`~.frame.Frame` one at a time.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator, Optional, Union

from ..errors import InputError
from .frame import ClipInfo, Frame
from .paths import path_kind, unsupported_reason
from .sequence import SequenceReader
from .video_reader import VideoReader


class FrameReader:
    """Context manager over a video/sequence/image reader. ``.info`` describes the clip."""

    def __init__(self, impl: Union[VideoReader, SequenceReader]) -> None:
        self._impl = impl
        self.info: ClipInfo = impl.info

    @property
    def first_frame(self) -> int:
        return self._impl.first_frame

    @property
    def last_frame(self) -> Optional[int]:
        return self._impl.last_frame

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._impl)

    def __len__(self) -> int:
        return len(self._impl)

    def read(self, index: int) -> Frame:
        """Random access: direct for sequences and images, by seeking for video."""
        return self._impl.read(index)

    def read_range(self, first: int, last: int) -> Iterator[Frame]:
        """Frames first..last in order: one seek for a video (then decoding forward), plain reads for
        an image sequence (every file is its own random access)."""
        impl_range = getattr(self._impl, "read_range", None)
        if impl_range is not None:
            yield from impl_range(first, last)
            return
        for i in range(first, last + 1):
            yield self._impl.read(i)

    def read_decoded(self, index: int) -> Any:
        """Frame `index` in its most compact exact form: a video's decoded frame (``.frame()``
        converts it, identical to :meth:`read`), else the :class:`Frame` itself."""
        impl_read = getattr(self._impl, "read_decoded", None)
        return impl_read(index) if impl_read is not None else self._impl.read(index)

    def read_range_decoded(self, first: int, last: int) -> Iterator[Any]:
        """:meth:`read_range` in the form of :meth:`read_decoded`."""
        impl_range = getattr(self._impl, "read_range_decoded", None)
        if impl_range is not None:
            yield from impl_range(first, last)
            return
        yield from self.read_range(first, last)

    def close(self) -> None:
        self._impl.close()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(path: str, transfer: str = "auto", first_frame: int = 0, last_frame: Optional[int] = None,
                fps: Optional[float] = None, pixel_aspect: Optional[float] = None,
                deinterlace: str = "auto", allow_truncated: bool = False) -> FrameReader:
    """Open a clip for streaming reads. ``fps`` applies to sequences/images (videos carry their own);
    ``pixel_aspect`` replaces what the file says (or does not say) about its pixels' shape;
    ``deinterlace`` (auto|on|off) is for interlaced video (io.interlace); ``allow_truncated`` lets a
    video that holds fewer frames than its header says render the frames that decode (with a
    warning) instead of failing (io.truncation)."""
    if not path:
        raise InputError("no input given; expected a video file, image sequence pattern or image")
    if last_frame is not None and last_frame < first_frame:
        raise InputError(f"input {path}: last frame {last_frame} is before first frame {first_frame}")
    kind = path_kind(path)
    if kind == "unsupported":
        raise InputError(f"input {path}: {unsupported_reason(path)}")
    if kind in ("sequence", "image"):
        reader = FrameReader(SequenceReader(path, transfer, first_frame, last_frame, fps))
    else:
        reader = FrameReader(VideoReader(path, transfer, first_frame, last_frame, deinterlace,
                                         allow_truncated=allow_truncated))
    if pixel_aspect is not None:
        reader.info.pixel_aspect = Fraction(pixel_aspect).limit_denominator(1000)
    return reader

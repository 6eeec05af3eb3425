"""The job's input, opened the one way every stage and face needs it.

Transfer, frame rate, pixel aspect and deinterlacing all change what the frames are; a reader
opened without one of them would decode a different clip than the render (a contact sheet of
squeezed frames, a follower tracking combed ones). So every reader of the job's input comes from here.
"""
from __future__ import annotations

from typing import Any, Optional


def open_input(job: Any, first: int = 0, last: Optional[int] = None) -> Any:
    """A FrameReader over the job's input, frames `first`..`last` (default: the whole clip)."""
    from ..io.reader import open_reader

    i = job.input
    return open_reader(i.path, transfer=i.transfer, first_frame=first, last_frame=last, fps=i.fps,
                       pixel_aspect=i.pixel_aspect, deinterlace=i.deinterlace,
                       allow_truncated=i.allow_truncated)

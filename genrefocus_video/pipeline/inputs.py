"""The job's input, opened the one way every stage and face needs it.

Transfer, frame rate, pixel aspect and deinterlacing all change what the frames are; a reader
opened without one of them would decode a different clip than the render (a contact sheet of
squeezed frames, a follower tracking combed ones). So every reader of the job's input comes from here.

While the frame loop iterates its reader (:func:`reading`), the job's frame lookups on the same
thread borrow that reader (:func:`loop_reader`): their reads just ahead of the loop come from its
decoder (io/shared_stream.py) instead of a second decoder of their own.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional

_loop = threading.local()  # .readers: {input key: the reader the loop on this thread iterates}


def open_input(job: Any, first: int = 0, last: Optional[int] = None) -> Any:
    """A FrameReader over the job's input, frames `first`..`last` (default: the whole clip)."""
    from ..io.reader import open_reader

    i = job.input
    return open_reader(i.path, transfer=i.transfer, first_frame=first, last_frame=last, fps=i.fps,
                       pixel_aspect=i.pixel_aspect, deinterlace=i.deinterlace,
                       allow_truncated=i.allow_truncated)


def _key(job: Any) -> tuple:
    """What makes two readers of a job's input decode the same frames (open_input's options)."""
    i = job.input
    return (str(i.path), i.transfer, i.fps, i.pixel_aspect, i.deinterlace, i.allow_truncated)


@contextmanager
def reading(job: Any, reader: Any) -> Iterator[None]:
    """While the frame loop (on this thread) iterates `reader`: lend it to the job's frame lookups."""
    readers = _loop.__dict__.setdefault("readers", {})
    key = _key(job)
    before = readers.get(key)
    readers[key] = reader
    try:
        yield
    finally:
        if before is None:
            readers.pop(key, None)
        else:
            readers[key] = before


def loop_reader(job: Any) -> Optional[Any]:
    """The reader the frame loop on this thread iterates for this job's input, or None. Borrowed:
    not to be closed by the borrower."""
    return getattr(_loop, "readers", {}).get(_key(job))

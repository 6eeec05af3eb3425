"""One forward decoder shared by a video reader's iteration and its random reads just ahead of it.

A job decodes its clip in order (the frame loop), and its temporal stages read frames a few
steps ahead of that order through a frame lookup (motion depth up to 8 frames on, the depth
smoother's look-ahead 1 on). Before, the lookup had a decoder of its own: every frame was decoded
twice, a second HEVC decoder held ~100 MiB at 1080p, and each of the lookup's forward blocks
sought to the previous keyframe and decoded from there (on a long-GOP clip, the whole GOP again
for every block). Here the reads ahead take their frames from the iteration's own decoder: the
frames it decodes early wait in a short queue until the iteration reaches them. A read behind the
iteration, or more than `limit` frames past what was decoded, is not served (the reader then
seeks, as before).

Thread-safe: the frame loop may iterate on one thread (the overlapped executor's lead) while the
stages read ahead on another; each pull from the decoder is made under one lock.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterator, Optional

#: the most frames decoded ahead of the iteration and held for it (AVFrames: 6 MiB each at 1080p
#: 10-bit 4:2:0). The frame lookup reads at most its cache size ahead (10-16 frames).
AHEAD_LIMIT = 32


class SharedStream:
    """(index, AVFrame) pairs of one forward decode, handed to the iteration in order (:meth:`next`)
    and to reads ahead of it (:meth:`serve`)."""

    def __init__(self, frames: Iterator[tuple[int, Any]], limit: int = AHEAD_LIMIT) -> None:
        self._frames = frames
        self._pending: deque[tuple[int, Any]] = deque()  # decoded early: not yet handed to the iteration
        self._done = False  # the decoder has no more frames
        self._error: Optional[BaseException] = None  # what stopped the decoder, for the iteration to raise
        self._next_index = 0  # index after the last frame handed to the iteration
        self.limit = int(limit)
        self._lock = threading.Lock()
        self.served = 0  # frames handed to reads ahead (counted: tests, benchmarks)

    def _pull(self) -> Optional[tuple[int, Any]]:
        """The decoder's next frame (under the lock), None at its end. A decoder error (a damaged
        frame, an unreadable file) ends it and is kept: a read ahead just stops there, and the
        iteration raises it when it gets that far, as it would have decoding alone."""
        if self._done:
            return None
        try:
            item = next(self._frames, None)
        except Exception as exc:  # noqa: BLE001 - re-raised by next(), in the iteration's order
            self._error, item = exc, None
        if item is None:
            self._done = True
        return item

    def next(self) -> Optional[tuple[int, Any]]:
        """The iteration's next frame: one decoded early if any, else the decoder's next (or the
        error that stopped the decoder, once the frames before it are handed out)."""
        with self._lock:
            item = self._pending.popleft() if self._pending else self._pull()
            if item is not None:
                self._next_index = item[0] + 1
                return item
            error, self._error = self._error, None
        if error is not None:
            raise error
        return None

    def serve(self, first: int) -> Iterator[tuple[int, Any]]:
        """Frames from index `first` on, as far as they can be served: it stops (the caller goes on
        some other way) when `first` is behind the iteration, when `limit` frames wait already, or
        when the iteration has overtaken this read."""
        want = first
        while True:
            with self._lock:
                item = self._ahead_of(want)
            if item is None:
                return
            self.served += 1
            yield item
            want = item[0] + 1

    def _ahead_of(self, want: int) -> Optional[tuple[int, Any]]:
        """(under the lock) The first frame at index >= `want`, decoding ahead as needed; None if
        `want` is behind the iteration or past the limit, or the clip has ended."""
        if want < self._next_index:
            return None
        for item in self._pending:
            if item[0] >= want:
                return item
        while len(self._pending) < self.limit:
            item = self._pull()
            if item is None:
                return None
            self._pending.append(item)
            if item[0] >= want:
                return item
        return None

    def close(self) -> None:
        """Drop the frames decoded early (the iteration stopped)."""
        with self._lock:
            self._pending.clear()
            self._done = True

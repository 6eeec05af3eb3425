"""Carrying the head's state from one bridge request to the next: a host stepping t -> t + 1.

Every request brings the frames its window needs ([t − W, t], W the smoothing warm-up, plus an
estimated source's reach), and rebuilding the CLI's flow + depth + smoothing stages over that window
costs W + 1 smoothing steps per frame (W = 23 at strength 0.5). A :class:`Stream` is that stage chain
after frame t, with the content keys of the frames it has read; when the next request asks for
t + 1 of the same clip with the same settings, the chain takes that one frame (one flow, one
estimate, one smoothing step) instead of the whole window. Random access, a frame whose content
changed upstream (a key differs), or other settings build a fresh chain over the request's window.

A continued stream at t + 1 is the CLI's sequential run from where the stream started. When the
fresh window of t + 1 starts at the same frame (the clip's start, as in every frame of a clip shorter
than the window), the two are the same computation; further in, a fresh window starts W frames back
(the CLI's chunk warm-up) and the two differ by at most the warm-up's tolerance
(``depth.temporal.warmup_frames``: 1e-3 of the disparity range).

The frames a request delivers are views of the host's shared memory, reused for the next request:
a stream keeps only copies (the frame the flow stage pairs with next) and computed arrays, and
drops the request's :class:`Window` when the request ends.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional, Sequence

import numpy as np

from ..io.frame import Frame
from ..record import FrameRecord


class Window:
    """The frames one request delivered, clip indices first .. last, with a content key per frame
    (for a Depth clip: the source's and the depth's together)."""

    def __init__(self, first: int, frames: Sequence[np.ndarray], keys: Sequence[Hashable],
                 depths: Optional[Sequence[np.ndarray]] = None) -> None:
        self.first, self.frames, self.keys = first, list(frames), list(keys)
        self.depths = None if depths is None else list(depths)

    @property
    def last(self) -> int:
        return self.first + len(self.frames) - 1

    def _at(self, items: Optional[list], index: int) -> Any:
        i = index - self.first
        return items[i] if items is not None and 0 <= i < len(items) else None

    def frame(self, index: int) -> Optional[np.ndarray]:
        return self._at(self.frames, index)

    def depth(self, index: int) -> Optional[np.ndarray]:
        return self._at(self.depths, index)

    def key(self, index: int) -> Optional[Hashable]:
        return self._at(self.keys, index)


class WindowFrames:
    """A stream's bound window as frames by index, None outside it: what the depth stage's
    look-ahead reads frame t + 1 from (the CLI's stages.probe.FrameLookup in the bridge)."""

    def __init__(self, stream: "Stream") -> None:
        self.stream = stream

    def frame(self, index: int) -> Optional[Frame]:
        return self.stream.frame_copy(index)


class Stream:
    """The head's stage chain after frame `index`, fed oldest first since frame `first`.

    `keep`: how many frames before the newest the chain's state can still depend on frame by frame
    (a motion source's pair history): their keys are kept to check that a next request holds the
    same frames, and to key cached estimates by everything the source has seen."""

    def __init__(self, salt: Hashable, keep: int = 1) -> None:
        self.salt, self.keep = salt, max(1, keep)
        self.chain: list[Any] = []
        self.primer: Optional[Callable[[FrameRecord], None]] = None  # feeds a source's history only
        self.first: Optional[int] = None
        self.index: Optional[int] = None
        # content keys of the last request's frames and of those the source's history holds: a next
        # request continues only if every frame it shares with them is the same
        self.seen: dict[int, Hashable] = {}
        self.window: Optional[Window] = None
        # frames after the newest that its chain reads (1: the smoothing's look-ahead), and the last frame
        # the previous request held: a newest frame fed without its look-ahead is not a sequential run's
        self.ahead = 0
        self.reached: Optional[int] = None

    def continues(self, window: Window, t: int) -> bool:
        """Whether `window` (a request for frame t) is this stream's next frame of the same clip."""
        if self.index != t - 1 or window.key(t - 1) is None:
            return False
        if self.reached is None or self.reached < self.index + self.ahead:
            return False  # frame t - 1 went without its look-ahead (the request did not hold t)
        return all(window.key(i) in (None, k) for i, k in self.seen.items())

    def frame(self, index: int) -> Optional[np.ndarray]:
        """The bound request's frame `index` (the sources' frame lookup), None outside its window."""
        return None if self.window is None else self.window.frame(index)

    def frame_copy(self, index: int) -> Optional[Frame]:
        """Frame `index` of the bound request as a Frame of its own pixels (the flow stage keeps a
        frame to pair the next one with, and the host reuses its buffer), None outside the window."""
        rgb = self.frame(index)
        return None if rgb is None else Frame(index, np.array(rgb, dtype=np.float32))

    def key_of(self, index: int) -> Optional[Hashable]:
        """Content key of frame `index`: from the bound request, else from an earlier one."""
        key = None if self.window is None else self.window.key(index)
        return self.seen.get(index) if key is None else key

    def bind(self, window: Window) -> None:
        self.window = window

    def feed(self, index: int, prime: bool = False) -> FrameRecord:
        """Run frame `index` of the bound window through the chain (or only the primer)."""
        assert self.window is not None, "bind() a request's window first"
        frame = self.frame_copy(index)
        if frame is None:
            raise IndexError(f"frame {index} is not in the request's window {self.window.first}..{self.window.last}")
        rec = FrameRecord(frame)
        if self.first is None:
            self.first = index
        if prime:
            assert self.primer is not None
            self.primer(rec)
        else:
            for stage in self.chain:
                rec = stage.process(rec)
        self.index = index
        return rec

    def release(self) -> None:
        """End of the request: remember the keys the state may depend on, drop the host's frames."""
        if self.index is not None:  # older frames the source's history still holds, then the whole window
            self.seen = {i: k for i, k in self.seen.items() if i >= self.index - self.keep}
        if self.window is not None:
            self.seen.update((self.window.first + i, k) for i, k in enumerate(self.window.keys))
            self.reached = self.window.last
        self.window = None


class Streams:
    """The bridge's streams, most recently used kept (at most `max_streams`: about one per host
    instance stepping through a clip); a stream is taken out while one request advances it, so two
    render threads never share one."""

    def __init__(self, max_streams: int = 4) -> None:
        self.max_streams = max_streams
        self._items: OrderedDict[int, Stream] = OrderedDict()
        self._lock = threading.Lock()
        self.continued = self.started = 0

    def take(self, salt: Hashable, window: Window, t: int) -> Optional[Stream]:
        """The stream this request for frame t continues (removed from the store), or None."""
        with self._lock:
            for key, stream in self._items.items():
                if stream.salt == salt and stream.continues(window, t):
                    del self._items[key]
                    self.continued += 1
                    return stream
            self.started += 1
            return None

    def put(self, stream: Stream) -> None:
        with self._lock:
            self._items[id(stream)] = stream
            while len(self._items) > self.max_streams:
                self._items.popitem(last=False)


def run_window(streams: Streams, salt: Hashable, window: Window, t: int,
               build: Callable[[Stream], int]) -> FrameRecord:
    """Frame t's record after the chain: one step of a continued stream, or a fresh stream made by
    `build` over the window (it fills the chain, primer and keep, and returns how many leading frames
    of the window only prime the source's history)."""
    stream = streams.take(salt, window, t)
    if stream is None:
        stream = Stream(salt)
        primed = build(stream)
        frames = [(i, i < window.first + primed) for i in range(window.first, t + 1)]
    else:
        frames = [(t, False)]
    stream.bind(window)
    try:
        rec = None
        for index, prime in frames:
            rec = stream.feed(index, prime)
    finally:
        stream.release()
    assert rec is not None
    streams.put(stream)  # only after a whole success: a failed request leaves no half-advanced state
    return rec

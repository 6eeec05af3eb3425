"""Random access to a clip's frames and to the disparity of any frame, for focus picks.

* :class:`FrameLookup`: frames by index (own reader, small LRU cache), None outside the clip.
* :class:`DepthProbe`: the disparity the main pass computes at any frame (file depth read
  directly; estimated depth by a fresh depth chain over the frames before it).
* :func:`start_disparity`: the disparity a run starting at a frame feeds the renderer there.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

import numpy as np

from ...depth.sources import make_source
from ...errors import InputError
from ...io.frame import ClipInfo, Frame
from ...record import FrameRecord
from .depth import depth_chain


class FrameLookup:
    """Random access to clip frames (own reader, small LRU cache), None outside the clip.

    A video's frames are cached as the decoder made them (:class:`~genrefocus_video.io.video_reader.
    DecodedFrame`: 6 MiB at 1080p 10-bit 4:2:0 instead of 24 MiB of float32 RGB) and converted to
    linear float when asked for, with the reader's own conversion, so a frame is the same array
    values as a fresh read. Image sequences and stills are cached as frames (their files are the
    compact form). The cache holds the same number of frames either way (`size`, which focus
    following sizes its backward prefetch from)."""

    #: memory the cache's frame count is sized by (as float32 RGB frames): 16 frames at 720p, 10 at 1080p,
    #: 4 at 4K — enough for motion depth's look-ahead (max_gap 8 + the frame itself). It stays filled
    #: for the whole job; a video's frames are kept decoded, a quarter of this at 10-bit 4:2:0
    #: (1080p: ~60 MiB, 237 MiB as float frames before 2026-12-05)
    CACHE_BYTES = 256 * 2**20

    def __init__(self, job: Any, info: ClipInfo, cache: Optional[int] = None) -> None:
        self.job, self.info = job, info
        self._reader = None
        self._cache: OrderedDict[int, Any] = OrderedDict()  # index -> DecodedFrame or Frame
        if cache is None:
            frame_bytes = max(1, int(info.width or 1) * int(info.height or 1) * 3 * 4)
            cache = max(4, min(16, self.CACHE_BYTES // frame_bytes))
        self.size = cache
        # The whole clip, not just the rendered range: keyframes outside the range still shape the curve.
        self.first = 0
        self.last = info.n_frames - 1 if info.n_frames is not None else None

    def _open(self) -> Any:
        """The frame loop's own reader while it runs on this thread (its decoder serves the reads
        just ahead of the loop: pipeline/inputs.py), else a reader of the lookup's own."""
        from ..inputs import loop_reader, open_input

        shared = loop_reader(self.job)
        if shared is not None:
            if self._reader is not None:  # opened before the loop (focus planning): its decoder is freed
                self._reader.close()
                self._reader = None
            return shared
        if self._reader is None:
            self._reader = open_input(self.job)
        return self._reader

    def frame(self, index: int) -> Optional[Frame]:
        if index < self.first or (self.last is not None and index > self.last):
            return None
        if index in self._cache:
            self._cache.move_to_end(index)
            return _as_frame(self._cache[index])
        try:
            kept = self._open().read_decoded(index)
        except (InputError, IndexError, EOFError):
            return None
        self._keep(kept)
        return _as_frame(kept)

    def frame_ahead(self, index: int) -> Optional[Frame]:
        """Frame `index` for a reader stepping forward one frame at a time (the smoother's
        look-ahead): on a miss, this frame and the next ones up to the cache size are read in one
        forward pass (a video seeks once per block, not once per frame)."""
        if index not in self._cache:
            self.prefetch(index, index + self.size - 1)
        return self.frame(index)

    def cached_bytes(self) -> int:
        """Bytes the cache holds now (decoded planes, or the float frames of a sequence)."""
        return sum(int(getattr(k, "nbytes", 0)) or int(k.rgb.nbytes) for k in self._cache.values())

    def _keep(self, kept: Any) -> None:
        self._cache[kept.index] = kept
        self._cache.move_to_end(kept.index)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def prefetch(self, first: int, last: int) -> None:
        """Load frames first..last (at most the cache size) into the cache in one forward pass
        (for a video: one seek instead of one per frame, each of which decodes from a keyframe)."""
        first = max(first, self.first)
        if self.last is not None:
            last = min(last, self.last)
        last = min(last, first + self.size - 1)
        if last < first:
            return
        try:
            frames = list(self._open().read_range_decoded(first, last))
        except (InputError, IndexError, EOFError):
            return  # a frame that cannot be read is reported by frame() when it is asked for
        for kept in frames:
            self._keep(kept)

    def __call__(self, index: int) -> Optional[np.ndarray]:
        fr = self.frame(index)
        return None if fr is None else fr.rgb

    def __getstate__(self) -> dict:  # picklable for Ray: the reader reopens where it is used
        st = dict(self.__dict__)
        st["_reader"], st["_cache"] = None, OrderedDict()
        return st


def _as_frame(kept: Any) -> Frame:
    """A cached entry as a linear float frame (a video's decoded frame is converted now)."""
    return kept if isinstance(kept, Frame) else kept.frame()


class DepthProbe:
    """Disparity of any frame on demand (for picked points / keyframes / the box frame).

    File depth is read directly. Estimated depth runs a fresh copy of the depth chain over the
    frames [i - warmup, i], so the value matches what the main pass computes at frame i.
    """

    def __init__(self, job: Any, info: ClipInfo, lookup: FrameLookup, models: Any = None, aif: Any = None,
                 flows: Any = None) -> None:
        self.job, self.info, self.lookup = job, info, lookup
        self.models = models  # the head's depth.learned.DepthModelCache: the main pass's loaded model
        self.aif = aif  # the head's stages.aif.AllInFocus (deblur before depth): the same deblurred frames
        self.flows = flows  # the job's flow.PairFlows: flows shared with the main pass and the subject walk back
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # keys and boxes are re-probed
        self._file_source: Any = None
        self.size = max(8, lookup.size)  # holds a prefetched block (FrameLookup sizes it by memory)

    def __getstate__(self) -> dict:  # picklable: the depth file reopens where it is used
        st = dict(self.__dict__)
        st["_file_source"], st["_cache"], st["models"] = None, OrderedDict(), None  # weights reload where used
        return st

    def __call__(self, index: int) -> np.ndarray:
        if index not in self._cache:
            self._compute(index, index)
        self._cache.move_to_end(index)
        return self._cache[index]

    def _keep(self, index: int, d: np.ndarray) -> None:
        self._cache[index] = d
        self._cache.move_to_end(index)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def prefetch(self, first: int, last: int) -> None:
        """Disparities of frames first..last computed in one forward pass (for walking them
        backwards): a depth video is decoded forward once instead of from its start for every
        frame, and an estimated depth chain runs its warm-up once per block, not per frame."""
        try:
            self._compute(max(first, self.lookup.first), last)
        except InputError:
            pass  # what cannot be read is reported when that frame is asked for

    def _compute(self, first: int, last: int) -> None:
        """Cache the disparities of frames first..last (at most the cache size); InputError names
        a frame that cannot be read."""
        last = min(last, first + self.size - 1)
        todo = [i for i in range(first, last + 1) if i not in self._cache]
        if not todo:
            return
        if self.job.depth.source == "file":
            if self._file_source is None:  # opened once: following back probes every earlier frame
                self._file_source = make_source(self.job, self.info)
            for i in todo:
                self._keep(i, self._file_source.read(i))  # type: ignore[attr-defined]
            return
        chain = depth_chain(self.job, self.info, self.lookup, models=self.models, aif=self.aif, flows=self.flows)
        warm = max((getattr(s, "warmup", 0) for s in chain), default=0)
        start = max(self.lookup.first, first - warm)
        self.lookup.prefetch(start, last)
        for i in range(start, last + 1):
            fr = self.lookup.frame(i)
            if fr is None:
                raise InputError(f"frame {i} of {self.job.input.path} cannot be read (needed for the depth at frame {first})")
            rec = FrameRecord(fr)
            for s in chain:
                rec = s.process(rec)
            if i >= first:
                assert rec.disparity is not None
                self._keep(i, rec.disparity)


def start_disparity(job: Any, info: ClipInfo, index: int) -> np.ndarray:
    """The disparity a run starting at frame `index` feeds the renderer there (depth source, then
    smoothing with fresh state): what the depth preview of a single pass is coloured by."""
    lookup = FrameLookup(job, info)
    fr = lookup.frame(index)
    if fr is None:
        raise InputError(f"frame {index} of {job.input.path} cannot be read")
    rec = FrameRecord(fr)
    for s in depth_chain(job, info, lookup):
        rec = s.process(rec)
    assert rec.disparity is not None
    return rec.disparity

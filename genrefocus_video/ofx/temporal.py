"""Depth smoothing in the bridge: the CLI's own temporal stages over the frames the host sent.

The plugin fetches Source and Depth for [max(first, t − W), t] (W = the smoothing warm-up,
``depth.temporal.warmup_frames``) and declares them in GetFramesNeeded. Here they run, oldest
first, through the pipeline's :class:`FlowStage` (flow from the source frames, the job's flow
quality), a :class:`DepthStage` that takes the host's depth as the file source takes a file
(confidence 1), and :class:`DepthSmoothStage`. The window starts fresh on every request, so
the result depends only on the clip and t, never on the order in which a host renders frames;
a window that starts at the clip's first frame gives exactly the CLI's frame t.

Flow between two frames is cached (:class:`ArrayCache`, keyed by both frames' content hashes and
the flow quality), so a host stepping forward computes one new flow per frame instead of W: a
cached flow is the very array the stage computed, so the result cannot depend on what was cached.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Optional, Sequence

import numpy as np

from ..depth.sources import DepthEstimate
from ..io.frame import Frame
from ..pipeline.stages.depth import DepthSmoothStage, DepthStage
from ..pipeline.stages.flow import FlowStage
from ..record import FrameRecord


class HostDepthSource:
    """Depth the host delivered, per frame index, trusted as a depth file is (confidence 1)."""

    name = "host"
    warmup = 0

    def __init__(self, by_index: dict[int, np.ndarray]) -> None:
        self.by_index = by_index

    def reset(self) -> None:
        pass

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        d = np.asarray(self.by_index[rec.index], dtype=np.float32)
        return DepthEstimate(d, np.ones_like(d, dtype=np.float32), {"source": "host"})


def content_key(rgb: np.ndarray) -> bytes:
    """A frame's identity for the flow cache: a hash of its shape and pixels."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).data)
    return h.digest()


def _nbytes(item: Any) -> int:
    if isinstance(item, np.ndarray):
        return item.nbytes
    return sum(x.nbytes for x in item if isinstance(x, np.ndarray))


class ArrayCache:
    """Arrays by key, least recently used dropped beyond `max_bytes`, shared by the bridge's render
    threads: flow results (flow t -> t-1, its mask, scene-cut notes) per (frame, previous frame,
    quality), or smoothed disparities per window (:func:`window_key`)."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple, item: Any) -> None:
        size = _nbytes(item)
        with self._lock:
            if key in self._items or size > self.max_bytes:
                return
            self._items[key] = item
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= _nbytes(old)


class CachedFlowStage(FlowStage):
    """The pipeline's FlowStage, its per-pair result looked up in / stored to a :class:`ArrayCache`."""

    NOTES = ("scene_cut", "flow_explained")

    def __init__(self, quality: str, cache: ArrayCache) -> None:
        super().__init__(quality)
        self.cache = cache
        self.prev_key: Optional[bytes] = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        key = content_key(rec.frame.rgb)
        pair = (key, self.prev_key, self.quality)
        contiguous = self.prev is not None and self.prev_index == rec.index - 1
        hit = self.cache.get(pair) if contiguous else None
        if hit is not None:
            rec.flow_to_prev, rec.flow_valid = hit[0], hit[1]
            rec.extras.update(hit[2])
            self.prev, self.prev_gray, self.prev_index = rec.frame.rgb, None, rec.index  # gray made if needed
        else:
            rec = super().process(rec)
            if contiguous and rec.flow_to_prev is not None and rec.flow_valid is not None:
                notes = {k: rec.extras[k] for k in self.NOTES if k in rec.extras}
                self.cache.put(pair, (rec.flow_to_prev, rec.flow_valid, notes))
        self.prev_key = key
        return rec


def window_key(job: Any, sources: Sequence[np.ndarray], depths: Sequence[np.ndarray], time: float) -> tuple:
    """What a window's smoothed disparity depends on: the frames' contents, t, strength, flow quality."""
    return (int(round(time)), job.depth.smoothing_strength, job.depth.flow_quality,
            tuple(content_key(x) for x in sources), tuple(content_key(x) for x in depths))


def smoothed_disparity(job: Any, sources: Sequence[np.ndarray], depths: Sequence[np.ndarray], time: float,
                       flows: Optional[ArrayCache] = None, results: Optional[ArrayCache] = None) -> np.ndarray:
    """The smoothed disparity at frame `time` from frames time, time−1, ... (newest first).

    `results` caches it per window (:func:`window_key`): a frame rendered again with other lens
    settings (K, aperture, focus) does not run the smoothing again."""
    key = window_key(job, sources, depths, time) if results is not None else None
    if results is not None:
        hit = results.get(key)
        if hit is not None:
            return hit
    t = int(round(time))
    n = len(depths)
    indices = [t - i for i in range(n)]
    flow = CachedFlowStage(job.depth.flow_quality, flows) if flows is not None else FlowStage(job.depth.flow_quality)
    chain = [flow, DepthStage(HostDepthSource(dict(zip(indices, depths)))),
             DepthSmoothStage(job.depth.smoothing_strength)]
    rec = None
    for i in reversed(range(n)):  # oldest first, as the CLI's frame loop feeds them
        rgb = np.ascontiguousarray(sources[i], dtype=np.float32)
        rec = FrameRecord(Frame(indices[i], rgb))
        for stage in chain:
            rec = stage.process(rec)
    assert rec is not None and rec.disparity is not None
    if results is not None:
        rec.disparity.flags.writeable = False  # shared by later requests: nobody may change it
        results.put(key, rec.disparity)
    return rec.disparity

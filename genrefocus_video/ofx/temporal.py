"""Depth smoothing in the bridge: the CLI's own temporal stages over the frames the host sent.

The plugin fetches Source and Depth for [max(first, t − W), t + 1] (W = the smoothing warm-up,
``depth.temporal.warmup_frames``; t + 1 is the smoothing's look-ahead) and declares them in
GetFramesNeeded. Here frames up to t run, oldest first, through the pipeline's :class:`FlowStage`
(flow from the source frames, the job's flow quality), a :class:`DepthStage` that takes the host's
depth as the file source takes a file (confidence 1) and reads the next frame of the window as the
CLI's reads it from the clip, and :class:`DepthSmoothStage`. A window that starts at the clip's first frame
gives exactly the CLI's frame t. A request for t + 1 right after t continues the chain the request
for t left (:mod:`.stream`: one flow and one smoothing step instead of W + 1); any other order
starts a fresh chain over the request's window.

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
from ..errors import GenRefocusError
from ..flow import PairFlows
from ..pipeline.stages.depth import DepthSmoothStage, DepthStage
from ..pipeline.stages.flow import FlowStage
from ..record import FrameRecord
from .stream import Stream, Streams, Window, WindowFrames, run_window


class HostDepthSource:
    """Depth the host delivered with the request, per frame index, trusted as a depth file is
    (confidence 1)."""

    name = "host"
    warmup = 0

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def reset(self) -> None:
        pass

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        window = self.stream.window
        depth = None if window is None else window.depth(rec.index)
        if depth is None:
            raise GenRefocusError(f"frame {rec.index}: the host sent no Depth frame for it")
        d = np.array(depth, dtype=np.float32)  # a copy: the host's buffer is reused after the request
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

    def __init__(self, quality: str, cache: ArrayCache, flows: Optional[PairFlows] = None) -> None:
        # `flows`: the stream's PairFlows, shared with the smoothing's look-ahead (which computes the
        # pair t, t + 1 first and hands it over to this stage at t + 1)
        super().__init__(quality, flows, consume=flows is not None, hand_over=flows is not None)
        self.cache = cache
        self.prev_key: Optional[bytes] = None

    def process(self, rec: FrameRecord) -> FrameRecord:
        key = content_key(rec.frame.rgb)
        pair = (key, self.prev_key, self.quality)
        contiguous = self.prev is not None and self.prev_index == rec.index - 1
        hit = self.cache.get(pair) if contiguous else None
        if hit is not None:
            if self.flows is not None:  # a look-ahead's pair for this frame is not needed: drop it
                self.flows.discard(rec.index, rec.index - 1, self.quality, rec.frame.rgb.shape[:2])
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


def build_depth_chain(stream: Stream, job: Any, source: Any, flow_cache: ArrayCache) -> None:
    """Give a fresh stream the CLI's depth head over its window: with smoothing, flow + depth +
    smoothing, the look-ahead reading frame t + 1 from the window and the pair t, t + 1 handed over
    between the smoothing and the flow stage through one PairFlows per stream (its frame indices
    name one content each: Stream.continues); without, the depth stage alone."""
    if job.depth.smoothing_strength <= 0:
        stream.chain = [DepthStage(source)]
        return
    flows = PairFlows()
    stream.chain = [CachedFlowStage(job.depth.flow_quality, flow_cache, flows),
                    DepthStage(source, frames=WindowFrames(stream)),
                    DepthSmoothStage(job.depth.smoothing_strength, flows, job.depth.flow_quality)]
    stream.ahead = 1


def uncached(caches: Optional[dict[str, Any]]) -> dict[str, Any]:
    """`caches` with every missing cache ("flows", "results", "estimates", "streams") one that keeps nothing."""
    out = dict(caches or {})
    for name in ("flows", "results", "estimates"):
        out.setdefault(name, ArrayCache(0))
    out.setdefault("streams", Streams(0))
    return out


def smoothed_disparity(job: Any, sources: Sequence[np.ndarray], depths: Sequence[np.ndarray], time: float,
                       caches: Optional[dict[str, Any]] = None, later: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The smoothed disparity at frame `time` from Source frames time, time−1, ... (newest first)
    and `later` (time+1, ...: the look-ahead; none at the clip's end), Depth frames in the same
    order (one per Source frame, the later ones last): the CLI's flow + depth + smoothing stages
    over the window, or one step of the stream the previous request for time − 1 left (:mod:`.stream`).

    `caches`: "flows" and "results" (:class:`ArrayCache`: a frame rendered again with other lens
    settings, K, aperture, focus, does not run the smoothing again) and "streams"; a missing one
    keeps nothing (:func:`uncached`)."""
    caches = uncached(caches)
    t, n = int(round(time)), len(depths) - len(later)
    src = [np.ascontiguousarray(x, dtype=np.float32) for x in [*reversed(sources[:n]), *later]]  # oldest first
    dep = [*reversed(depths[:n]), *depths[n:]]
    keys = [(content_key(a), content_key(b)) for a, b in zip(src, dep)]
    config = (job.depth.smoothing_strength, job.depth.flow_quality)
    key = ("host", *config, n, tuple(keys))  # n: which frame of the window is t (t + 1 may be in it)
    hit = caches["results"].get(key)
    if hit is not None:
        return hit
    window = Window(t - n + 1, src, keys, dep)

    def build(stream: Stream) -> int:
        build_depth_chain(stream, job, HostDepthSource(stream), caches["flows"])
        return 0

    rec = run_window(caches["streams"], ("host", *config, src[0].shape), window, t, build)
    assert rec.disparity is not None
    rec.disparity.flags.writeable = False  # shared by later requests: nobody may change it
    caches["results"].put(key, rec.disparity)
    return rec.disparity

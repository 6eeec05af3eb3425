"""Estimated depth in the bridge: the CLI's depth source over the Source frames the host sent.

With Depth Source = motion / model / marigold the plugin connects no Depth clip's pixels: it
fetches Source over ``[max(first, t − before − W_smooth), min(last, t + after + L)]`` (declared in
GetFramesNeeded), where (before, after) is :func:`source_reach` of the source — the frames before
a frame its estimate depends on (motion: its pair history, and a held map's frame's; a relative
model: the alignment warm-up) and after it (motion: the frames it triangulates against when no
earlier one has enough parallax, and a held map's frame's) — W_smooth the smoothing warm-up and
L = 1 with smoothing (its look-ahead estimates frame t + 1, with that frame's own reach). The bridge runs the pipeline's own head over that
window, oldest first: :class:`FlowStage` (with smoothing), :class:`DepthStage` on
``depth.sources.make_source`` (sanitised, as in the CLI) with a frame lookup over the window, and
:class:`DepthSmoothStage`. A window that starts at the clip's first frame gives the CLI's
disparity at t.

(before, after) are written into the bundle at build time (``Resources/sources.tsv``, from
:func:`to_sources_tsv`) so the C plugin and Python share one definition.

Costs are bounded by carrying the chain from t to t + 1 when a host steps forward (:mod:`.stream`:
one estimate, one flow and one smoothing step per frame) and by caching what another order would
otherwise recompute: a model's prediction per frame content (:class:`CachedModels`), the motion
estimate per frame and the frames it could see (:class:`CachedEstimates`), flows per frame pair,
and the final disparity per window (all bounded in bytes, least recently used dropped).
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Sequence

import numpy as np

from ..depth.sources import SOURCES, DepthEstimate
from ..depth.temporal import warmup_frames
from ..io.frame import ClipInfo
from ..record import FrameRecord
from .stream import Stream, Window, run_window
from .temporal import ArrayCache, build_depth_chain, content_key

ESTIMATED = tuple(s for s in SOURCES if s != "file")  # sources the bridge runs on Source frames


def source_reach(source: str) -> tuple[int, int]:
    """(frames before, frames after) t whose pixels the source's estimate at t depends on."""
    if source == "motion":
        from ..depth.motion import MotionDepthSource

        m = MotionDepthSource()
        # pair history and held maps' neighbours (warmup); the frames after t its estimate may read
        return int(m.warmup), int(m.reach_after)
    if source == "model":
        from ..depth.learned_source import align_warmup

        return align_warmup(), 0  # a relative model's temporal alignment (metric models use none of it)
    if source == "marigold":
        from ..depth.marigold import MarigoldDepthSource

        return int(MarigoldDepthSource.warmup), 0
    return 0, 0  # file: the host's Depth clip at the frames smoothing reads


def default_smoothing(source: str) -> float:
    """The smoothing strength the schema's default Depth Smoothing ("auto") gives `source`
    (DepthParams.smoothing_strength)."""
    from ..params.depth import DepthParams

    return DepthParams(source=source).smoothing_strength


def to_sources_tsv() -> str:
    """The bundle resource sources.tsv, per depth source choice: 'source<TAB>before<TAB>after<TAB>
    default smoothing' (the plugin's strength for a Depth Smoothing below 0, the OFX face of "auto")."""
    return "# depth source\tframes before t\tframes after t its estimate reads\tdefault smoothing " \
        "(genrefocus_video.ofx.estimate)\n" + \
        "".join(f"{s}\t{b}\t{a}\t{default_smoothing(s)!r}\n" for s in SOURCES for b, a in [source_reach(s)])


class CachedModel:
    """A loaded depth model whose per-frame predictions are kept by frame content (and the focal
    hint): a host stepping forward predicts one new frame, the alignment re-runs over the rest."""

    def __init__(self, model: Any, cache: ArrayCache) -> None:
        self._model, self._cache = model, cache

    def __getattr__(self, name: str) -> Any:  # config, kind, family, device of the loaded model
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._model, name)

    def predict(self, frames: Sequence[np.ndarray], width_over_focal: Optional[float] = None) -> list[Any]:
        out = []
        for f in frames:  # one by one: a batch would change nothing but rounding, and hits are the common case
            key = ("model", str(self._model.path), str(self._model.device), width_over_focal, content_key(f))
            hit = self._cache.get(key)
            if hit is None:
                pred = self._model.predict([f], width_over_focal)[0]
                pred.disparity.flags.writeable = False  # shared by later requests
                hit = (pred.disparity, pred)  # the cache sizes an entry by its arrays
                self._cache.put(key, hit)
            out.append(hit[1])
        return out


class CachedModels:
    """The bridge's depth.learned.DepthModelCache (weights loaded once per process), handing out
    models whose predictions are cached; thread-safe (the bridge serves one thread per request)."""

    def __init__(self, predictions: ArrayCache) -> None:
        from ..depth.learned import DepthModelCache

        self.models = DepthModelCache()
        self.predictions = predictions
        self._lock = threading.Lock()

    def get(self, path: Optional[str], device: str = "auto") -> CachedModel:
        with self._lock:
            return CachedModel(self.models.get(path, device), self.predictions)


class CachedEstimates:
    """A motion source whose estimate of frame j is kept, keyed by the content of every frame it
    can see (j's history since the stream's first frame, capped at its reach, and the frames after j
    in the request's window up to its reach): the estimate is a function of exactly those, so a hit
    is the very array it computes. :meth:`prime` feeds a frame to the history without estimating it."""

    def __init__(self, inner: Any, stream: Stream, reach: tuple[int, int], cache: ArrayCache, salt: tuple) -> None:
        self.inner, self.stream, self.reach, self.cache, self.salt = inner, stream, reach, cache, salt
        self.name, self.warmup = inner.name, inner.warmup

    def reset(self) -> None:
        self.inner.reset()

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        j, stream = rec.index, self.stream
        assert stream.first is not None and stream.window is not None
        lo, hi = max(stream.first, j - self.reach[0]), min(stream.window.last, j + self.reach[1])
        key = (self.salt, j - lo, tuple(stream.key_of(i) for i in range(lo, hi + 1)))
        hit = self.cache.get(key)
        if hit is not None:
            self.prime(rec)
            return DepthEstimate(hit[0], hit[1], dict(hit[2]), hit[3])
        est = self.inner.estimate(rec)
        est.disparity.flags.writeable = est.confidence.flags.writeable = False  # shared by later requests
        self.cache.put(key, (est.disparity, est.confidence, dict(est.notes), est.affine_ambiguous))
        return est

    def prime(self, rec: FrameRecord) -> None:
        """Keep the source's history as if it had estimated `rec` (later frames pair against it, and a
        frame without motion depth of its own may hold its map)."""
        self.inner.inner.prime(rec.index, rec.frame.rgb)


def _primed_frames(n: int, history: int, smoothing_warmup: int) -> int:
    """How many of a window's n frames up to t only prime a history-only source (motion).

    A full window (n = history + W + 1) estimates frames t − W … t, each with its whole history
    before it, as the CLI's run does, and the smoothing starts at t − W (the CLI's chunk warm-up): so
    frame j's estimate is the same in every window that holds it (cached once, one new estimate per
    step). A window cut short (the clip's start, a frame the host did not deliver) estimates and
    smooths every frame from its start: a CLI run starting there, exactly."""
    return history if n >= history + smoothing_warmup + 1 else 0


def estimated_disparity(job: Any, past: Sequence[np.ndarray], later: Sequence[np.ndarray], time: float,
                        pixel_aspect: float, caches: dict[str, Any]) -> np.ndarray:
    """The CLI's disparity at frame `time` estimated from Source frames `past` (time, time−1, ...,
    newest first) and `later` (time+1, ...): the head's flow, depth and smoothing stages over them,
    or one step of the stream the previous request for time − 1 left (:mod:`.stream`).

    `caches`: "flows", "estimates", "results" (:class:`ArrayCache`), "models" (:class:`CachedModels`)
    and "streams" (:class:`~.stream.Streams`)."""
    t, n = int(round(time)), len(past)
    frames = [np.ascontiguousarray(x, dtype=np.float32) for x in [*reversed(past), *later]]
    keys = [content_key(x) for x in frames]
    d = job.depth
    config = (d.source, d.model, d.smoothing_strength, d.flow_quality, d.static_fallback, float(pixel_aspect))
    key = ("estimated", *config, n, tuple(keys))
    hit = caches["results"].get(key)
    if hit is not None:
        return hit
    window = Window(t - n + 1, frames, keys)

    def build(stream: Stream) -> int:
        return _build_estimated(stream, job, window, n, pixel_aspect, caches)

    rec = run_window(caches["streams"], ("estimated", *config, frames[0].shape), window, t, build)
    assert rec.disparity is not None
    rec.disparity.flags.writeable = False  # shared by later requests: nobody may change it
    caches["results"].put(key, rec.disparity)
    return rec.disparity


def _build_estimated(stream: Stream, job: Any, window: Window, n: int, pixel_aspect: float,
                     caches: dict[str, Any]) -> int:
    """Fill a fresh stream's chain for an estimated source; the number of leading frames that only prime."""
    from ..depth.sources import READS_AHEAD, make_source

    h, w = window.frames[0].shape[:2]
    info = ClipInfo(path="<ofx host>", kind="sequence", width=w, height=h, pixel_aspect=pixel_aspect)
    reads_ahead = job.depth.source in READS_AHEAD  # as the CLI's head builds it
    # quiet: every request repeats most of the previous one's window; notices go to the log at INFO
    source = make_source(job, info, stream.frame if reads_ahead else None, quiet=True, models=caches["models"])
    primed = 0  # leading frames only fed to the source's history (their estimates are not needed)
    if job.depth.source == "motion":
        reach = source_reach("motion")
        salt = ("motion", job.depth.static_fallback, float(pixel_aspect))
        source = CachedEstimates(source, stream, reach, caches["estimates"], salt)
        stream.keep, stream.primer = reach[0], source.prime
        primed = _primed_frames(n, reach[0], warmup_frames(job.depth.smoothing_strength))
    build_depth_chain(stream, job, source, caches["flows"])
    return primed

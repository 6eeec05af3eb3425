"""Deblur before depth: estimated depth sees the all-in-focus frame when a deblur stage runs.

The Genfocus reference estimates depth on its deblurred output (a monocular or motion estimate is
brittle on defocused input). So when ``backends.deblur`` is not ``none`` and depth is estimated
(any source but a depth file), the deblur stage moves from the tail to the head, before the depth
stage (:func:`deblur_before_depth`); the tail then has no deblur, and each frame is deblurred once:

* :class:`AllInFocus` holds the one deblur stage and a small cache of its results by frame index;
* :meth:`AllInFocus.stage` is the head's stage that fills ``rec.aif`` (from the cache when a depth
  source already read that frame ahead);
* :meth:`AllInFocus.lookup` is what a source reads neighbouring frames through (motion's later
  frames, a learned model's batches): the same deblurred pixels, from the same cache;
* under Ray streaming a generative deblur is routed (:func:`route_deblur`) to the tail workers,
  which hold the one FLUX base BokehNet uses: the driver runs the head but loads no FLUX;
* the depth stage estimates on ``rec.aif`` (stages/depth.py), the focus probes' depth chains
  include the same deblur (stages/depth.py ``depth_chain``), and the bokeh stage renders from
  ``rec.sharp`` = ``rec.aif`` as before. Flow (for smoothing and subject following) stays on the
  frames as shot.

The deblur stages are pure frame stages (DeblurNet is seeded by frame index), so a frame deblurred
ahead for a source equals the one deblurred in order.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Optional

import numpy as np

from ...io.frame import ClipInfo, Frame
from ...record import FrameRecord


def deblur_before_depth(job: Any) -> bool:
    """A deblur stage runs and depth is estimated: deblur goes to the head, before depth."""
    return job.backends.deblur != "none" and job.depth.source != "file"


class AllInFocus:
    """One deblur stage and its results by frame index (LRU of `size` frames)."""

    def __init__(self, deblur: Any, size: int = 16) -> None:
        self.deblur = deblur
        self.size = max(2, int(size))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.runs = 0  # deblur calls made (each frame once while it stays cached)

    def of(self, frame: Frame) -> np.ndarray:
        """The all-in-focus RGB of `frame` (deblurred once, then cached)."""
        hit = self._cache.get(frame.index)
        if hit is not None:
            self._cache.move_to_end(frame.index)
            return hit
        aif = self.deblur.process(FrameRecord(frame)).aif
        self.runs += 1
        self._cache[frame.index] = aif
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return aif

    def stage(self) -> "AllInFocusStage":
        return AllInFocusStage(self)

    def lookup(self, frames: Any) -> Callable[[int], Optional[np.ndarray]]:
        """`frames` (a probe.FrameLookup) with each frame's all-in-focus RGB instead of its pixels."""
        def deblurred(index: int) -> Optional[np.ndarray]:
            fr = frames.frame(index)
            return None if fr is None else self.of(fr)
        return deblurred

    def __getstate__(self) -> dict:  # picklable for Ray: the cache stays behind
        st = dict(self.__dict__)
        st["_cache"] = OrderedDict()
        return st


class AllInFocusStage:
    """Head stage: rec.aif = the deblurred frame (a frame stage: no state of its own)."""

    temporal = False

    def __init__(self, aif: AllInFocus) -> None:
        self.aif = aif
        self.name = getattr(aif.deblur, "name", "deblur")

    def process(self, rec: FrameRecord) -> FrameRecord:
        rec.aif = self.aif.of(rec.frame)
        return rec


def route_deblur(stages: Any, deblur: Any) -> bool:
    """Give the head's generative deblur-before-depth another runner of the same deblur stage (Ray
    streaming: the tail workers, where BokehNet's FLUX base already is, so the driver loads none).
    A classical deblur stays where it is (cheap, no model). True when one was routed."""
    for s in stages:
        if isinstance(s, AllInFocusStage) and getattr(s.aif.deblur, "name", "") == "deblur_deblurnet":
            s.aif.deblur = deblur
            s.aif._cache.clear()
            return True
    return False


def all_in_focus(job: Any, info: ClipInfo, size: int = 16) -> Optional[AllInFocus]:
    """The job's deblur-before-depth, or None when deblur stays in the tail (or does not run)."""
    if not deblur_before_depth(job):
        return None
    from .generative import build_deblur_stage

    deblur = build_deblur_stage(job, info)  # a generative deblur shares the process's FLUX base
    return None if deblur is None else AllInFocus(deblur, size)

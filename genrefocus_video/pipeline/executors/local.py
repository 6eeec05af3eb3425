"""The in-process executor: every stage runs here, in frame order, one frame at a time.

Used for single passes, every chunk of a chunked job (in process, as a Ray task or as a farm
task), plugins (OFX) and as the reference the Ray streaming executor must match bit for bit.
Memory holds a bounded number of frame records at a time (one, or up to six with the overlap of
:mod:`.overlap`: the tails of frames i and i+1 on a worker thread while this thread runs the head of
frame i+2 and a lead thread decodes and runs the flow stage of frames i+3 and i+4), so it is flat
for any clip length.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator, Optional, Sequence

from ...io.frame import ClipInfo
from ...params import JobParams
from ...record import FrameRecord, Stage
from ...render.alloc import RELEASE_EVERY_OVERLAPPED, apply_memory_policy, release_freed_memory
from ..stages import DEFAULT_FACTORY, StageFactory, check_stages, last_temporal, reset_all
from .overlap import overlapped


def run_stages(rec: FrameRecord, stages: Sequence[Stage], trim: bool = True) -> FrameRecord:
    """Apply `stages` in order, adding each one's wall time to ``rec.timings[stage.name]``; then
    (`trim`) hand the freed heap back to the OS (the one heap policy, render/alloc.py: memory flat
    across frames and threads)."""
    for stage in stages:
        before = rec.timings.get(stage.name, 0.0)  # stages may also write their own entry: ours wins
        t0 = time.perf_counter()
        out = stage.process(rec)
        rec = out if out is not None else rec
        rec.timings[stage.name] = before + (time.perf_counter() - t0)
    if trim:
        release_freed_memory()
    return rec


def run_split(rec: FrameRecord, stages: Sequence[Stage], n_head: int) -> FrameRecord:
    """One frame at a time: the head (temporal) stages, then the tail, handing the freed heap back
    after each part. The head's freed temporaries (flow, motion depth, smoothing: ~100-200 MiB at
    1080p) sit in the caller's arena, which the renderer's layer threads do not reuse (their own
    arenas), so without the trim between them they stay resident under the render's working set
    (docs/benchmarks/memory.md "Trim between head and tail"). Same output as :func:`run_stages`."""
    if 0 < n_head < len(stages):
        rec = run_stages(rec, stages[:n_head])
        stages = stages[n_head:]
    return run_stages(rec, stages)


def _untrimmed(rec: FrameRecord, stages: Sequence[Stage]) -> FrameRecord:
    return run_stages(rec, stages, trim=False)


class StageCache:
    """Stages built once per job and factory and kept for the next chunk of the same job (a model
    loads once per process, not once per chunk). Holds at most `size` jobs: a farm worker that
    moves on to another shot frees the old models.

    An explicit object: a run of chunks in process makes one; a Ray worker process keeps one for
    the chunk tasks it runs (:mod:`.ray`)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._stages: dict[tuple, tuple[list[Stage], list[Stage]]] = {}

    def get(self, job: JobParams, info: ClipInfo, factory: StageFactory, fp: str) -> tuple[list[Stage], list[Stage]]:
        """(head, tail) stages of the job with fingerprint `fp`."""
        # repr: a dataclass factory shows its settings; functions show module-level identities.
        key = (fp, job.input.path, type(factory).__qualname__, repr(factory))
        stages = self._stages.get(key)
        if stages is None:
            if len(self._stages) >= self.size:
                self._stages.clear()
            stages = (check_stages(factory.head(job, info)), check_stages(factory.tail(job, info)))
            self._stages[key] = stages
        return stages


#: frames up to this many pixels overlap (:mod:`.overlap`); above it the head's and the tail's working
#: sets together would pass the 2 GiB budget (1080p motion depth + smoothing: peak 2680 MiB overlapped,
#: 2052 MiB one frame at a time; docs/benchmarks/speed.md), so larger frames run one at a time
OVERLAP_MAX_PIXELS = 1280 * 720


#: tails in flight (rendered on the worker while this thread runs later heads): two let a frame whose
#: render is slow (many layers) be absorbed by the heads of the next two instead of stalling them
OVERLAP_TAILS = 2


def overlap_fits(info: Optional[ClipInfo]) -> bool:
    """Whether frames of this clip are small enough to overlap within the memory budget (no clip
    information: records handed in by an embedder or a test, overlapped)."""
    return info is None or int(info.width or 0) * int(info.height or 0) <= OVERLAP_MAX_PIXELS


class LocalExecutor:
    """Runs head (temporal) and tail (frame) stages in this process.

    `overlap` (default on, for frames up to :data:`OVERLAP_MAX_PIXELS`): the tail of a frame runs on
    a worker thread while the next frame is decoded and goes through the head (:mod:`.overlap`);
    output identical to `overlap=False`."""

    name = "local"
    workers = 1

    def __init__(self, factory: StageFactory = DEFAULT_FACTORY, cache: Optional[StageCache] = None,
                 fingerprint: Optional[str] = None, overlap: bool = True) -> None:
        self.factory = factory
        self.overlap = overlap
        self.cache, self.fingerprint = cache, fingerprint
        self.head_stages: list[Stage] = []
        self.stages: list[Stage] = []

    @property
    def local_stages(self) -> list[Stage]:
        """The stages that run in this process (all of them)."""
        return self.stages

    def prepare(self, job: JobParams, info: ClipInfo) -> None:
        """Build (and validate) the stages before any frame is decoded or any file opened."""
        apply_memory_policy()  # before the decoder's, encoder's and layer threads make their arenas
        if self.cache is not None and self.fingerprint is not None:
            head, tail = self.cache.get(job, info, self.factory, self.fingerprint)
        else:
            head, tail = check_stages(self.factory.head(job, info)), check_stages(self.factory.tail(job, info))
        self.head_stages = head
        self.stages = head + tail

    def reset(self) -> None:
        """Start every temporal stage from a clean state (a clip's or a chunk's start)."""
        reset_all(self.stages)

    def warm(self, rec: FrameRecord) -> FrameRecord:
        """A warm-up frame: through the stages up to the last temporal one, output discarded."""
        return run_stages(rec, self.stages[: last_temporal(self.stages) + 1])

    def map(self, records: Iterable[FrameRecord], job: JobParams, info: ClipInfo,
            reset: bool = True) -> Iterator[FrameRecord]:
        """Yield each record fully processed, in input order (`reset`: from a clean state)."""
        if not self.stages:
            self.prepare(job, info)
        if reset:
            self.reset()
        stages, n_head = self.stages, len(self.head_stages)
        if self.overlap and 0 < n_head < len(stages) and overlap_fits(info):
            frames = overlapped(records, stages[:n_head], stages[n_head:], _untrimmed, depth=OVERLAP_TAILS)
            for i, rec in enumerate(frames, 1):
                if i % RELEASE_EVERY_OVERLAPPED == 0:
                    release_freed_memory()
                yield rec
            return
        for rec in records:
            yield run_split(rec, stages, n_head)

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The in-process executor: every stage runs here, in frame order, one frame at a time.

Used for plugins (OFX), debugging, tiny clips, and as the reference the Ray executor must match
bit for bit. Memory holds one frame record at a time, so it is flat for any clip length.
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator, Sequence

from ..io.frame import ClipInfo
from ..params import JobParams
from ..record import FrameRecord, Stage
from .stages import DEFAULT_FACTORY, StageFactory, check_stages, reset_all


def run_stages(rec: FrameRecord, stages: Sequence[Stage]) -> FrameRecord:
    """Apply `stages` in order, adding each one's wall time to ``rec.timings[stage.name]``."""
    for stage in stages:
        before = rec.timings.get(stage.name, 0.0)  # stages may also write their own entry: ours wins
        t0 = time.perf_counter()
        out = stage.process(rec)
        rec = out if out is not None else rec
        rec.timings[stage.name] = before + (time.perf_counter() - t0)
    return rec


class LocalExecutor:
    """Runs head (temporal) and tail (frame) stages in this process."""

    name = "local"
    workers = 1

    def __init__(self, factory: StageFactory = DEFAULT_FACTORY) -> None:
        self.factory = factory
        self.head_stages: list[Stage] = []
        self.stages: list[Stage] = []

    def prepare(self, job: JobParams, info: ClipInfo) -> None:
        """Build (and validate) the stages before any frame is decoded or any file opened."""
        self.head_stages = check_stages(self.factory.head(job, info))
        self.stages = self.head_stages + check_stages(self.factory.tail(job, info))

    def map(self, records: Iterable[FrameRecord], job: JobParams, info: ClipInfo) -> Iterator[FrameRecord]:
        """Yield each record fully processed, in input order."""
        if not self.stages:
            self.prepare(job, info)
        stages = self.stages
        reset_all(stages)
        for rec in records:
            yield run_stages(rec, stages)

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

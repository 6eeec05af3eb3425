"""Ray streaming (one pass, ``--executor ray``): the ordered head on the driver, the tail on actors.

The driver decodes and runs the ordered head (temporal depth / flow / focus stages); frame records
travel through the object store to tail actors (deblur + bokeh) that load their models once; at
most ``max_in_flight`` frames are outstanding (back-pressure), and outputs come back in
submission order, so memory is flat for any clip length and the encoder sees frames in order. The
frame loop (:mod:`..loop`) drives it exactly as it drives the local executor.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, Iterable, Iterator, Optional

import ray

from ...errors import JobError
from ...io.frame import ClipInfo
from ...params import JobParams
from ...record import FrameRecord
from ..stages import DEFAULT_FACTORY, StageFactory, check_stages, reset_all
from ..stages.aif import route_deblur
from .local import run_stages
from .ray_runtime import CHUNK_RETRIES, RayRuntime, cluster_cpus, gpu_share, unwrap, worker_count

log = logging.getLogger(__name__)


@ray.remote
class TailWorker:
    """Loads the tail stages (deblur, bokeh: the models) once and renders frame records."""

    def __init__(self, job: JobParams, info: ClipInfo, factory: StageFactory) -> None:
        # A construction error (bad parameter, missing weights) is kept and raised by describe():
        # a failing actor constructor would be restarted and retried by Ray for nothing.
        self.error: Optional[BaseException] = None
        self.stages: list[Any] = []
        self.job, self.info, self._deblur = job, info, None
        try:
            self.stages = check_stages(factory.tail(job, info))
            reset_all(self.stages)
        except Exception as exc:
            self.error = exc

    def describe(self) -> tuple[list[tuple[str, bool]], int]:
        if self.error is not None:
            raise self.error
        return [(s.name, bool(s.temporal)) for s in self.stages], os.getpid()

    def process(self, rec: FrameRecord) -> tuple[Any, Any, dict[str, float], dict[str, Any]]:
        rec = run_stages(rec, self.stages)
        return rec.output, rec.output_alpha, rec.timings, rec.extras

    def deblur(self, frame: Any) -> Any:
        """The head's generative deblur (stages/aif.route_deblur), on this worker's FLUX base."""
        if self._deblur is None:
            from ..stages.generative import build_deblur_stage

            self._deblur = build_deblur_stage(self.job, self.info)
        return self._deblur.process(FrameRecord(frame)).aif

    def flux_stats(self) -> dict[str, Any]:
        """This worker's FLUX bases (generative.shared): loads, adapters, switches, lock wait."""
        from ...generative.shared import flux_registry

        return flux_registry().stats()


class RemoteDeblur:
    """The head's generative deblur run on the tail workers (frame i on worker i mod n): the driver
    holds no FLUX base, each worker one for DeblurNet and BokehNet together."""

    name = "deblur_deblurnet"
    temporal = False

    def __init__(self, actors: list[Any]) -> None:
        self.actors = actors

    def process(self, rec: FrameRecord) -> FrameRecord:
        try:
            rec.aif = ray.get(self.actors[rec.index % len(self.actors)].deblur.remote(rec.frame))
        except ray.exceptions.RayError as exc:
            err = unwrap(exc)
            if err is not exc:
                raise err from None
            raise JobError(f"frame {rec.index}: the Ray worker's deblur failed: {str(exc).splitlines()[0]}") from None
        return rec


class RayExecutor:
    """Streaming executor: ordered head on the driver, tail on actors, bounded frames in flight."""

    name = "ray"

    def __init__(self, job: JobParams, factory: StageFactory = DEFAULT_FACTORY,
                 max_in_flight: Optional[int] = None) -> None:
        self.factory = factory
        self.runtime = RayRuntime(job.executor.ray_address, job.executor.workers)
        self.runtime.__enter__()
        self.workers = worker_count(job)
        if self.workers > cluster_cpus():  # actors beyond the cluster's CPUs would never start
            log.warning("--workers %d > %d CPUs in the Ray cluster; using %d", self.workers, cluster_cpus(),
                        cluster_cpus())
            self.workers = cluster_cpus()
        self.max_in_flight = max_in_flight or max(2, 2 * self.workers)
        self.actors: list[Any] = []
        self.head_stages: list[Any] = []
        self.prepared = False
        self.tail_temporal = False
        self.tail_pids: list[int] = []

    def prepare(self, job: JobParams, info: ClipInfo) -> None:
        """Build the head here and the tail on the actors; surface construction errors now."""
        self.head_stages = check_stages(self.factory.head(job, info))
        gpus = gpu_share(job, self.workers)
        opts = dict(num_cpus=1 if not gpus else 0, num_gpus=gpus, max_restarts=CHUNK_RETRIES,
                    max_task_retries=CHUNK_RETRIES)
        self.actors = [TailWorker.options(**opts).remote(job, info, self.factory) for _ in range(self.workers)]
        try:
            described = ray.get([a.describe.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            err = unwrap(exc)
            if err is not exc:
                raise err from None
            raise JobError(f"Ray workers could not start: {str(exc).splitlines()[0]}") from None
        self.tail_pids = [pid for _, pid in described]
        self.tail_temporal = any(t for _, t in described[0][0])
        if self.tail_temporal:  # a stateful tail (BokehNet noise warp) must see frames in order: one actor
            log.info("tail stages are temporal; rendering them on one ordered worker")
            for a in self.actors[1:]:
                ray.kill(a)
            self.actors = self.actors[:1]
        if route_deblur(self.head_stages, RemoteDeblur(self.actors)):
            log.info("generative deblur before depth runs on the tail workers (one FLUX base per process)")
        self.prepared = True

    @property
    def local_stages(self) -> list[Any]:
        """The stages that run in this process (the head, on the driver)."""
        return self.head_stages

    def reset(self) -> None:
        """Start the head from a clean state (the actors' tail stages are reset when built)."""
        reset_all(self.head_stages)

    def warm(self, rec: FrameRecord) -> FrameRecord:
        """A warm-up frame through the head (a single pass has none; a stateful tail is not warmed)."""
        return run_stages(rec, self.head_stages)

    def map(self, records: Iterable[FrameRecord], job: JobParams, info: ClipInfo,
            reset: bool = True) -> Iterator[FrameRecord]:
        if not self.prepared:
            self.prepare(job, info)
        head = self.head_stages
        if reset:
            reset_all(head)
        actors = self.actors
        tail_temporal = self.tail_temporal
        pending: deque[tuple[FrameRecord, Any]] = deque()
        i = 0
        for rec in records:
            rec = run_stages(rec, head)
            if not tail_temporal:  # frame stages never look at flow: do not ship it
                rec.flow_to_prev = None
                rec.flow_valid = None
            ref = actors[i % len(actors)].process.remote(rec)
            i += 1
            pending.append((rec, ref))
            while len(pending) >= self.max_in_flight:
                yield self._finish(*pending.popleft())
        while pending:
            yield self._finish(*pending.popleft())

    def _finish(self, rec: FrameRecord, ref: Any) -> FrameRecord:
        t0 = time.perf_counter()
        try:
            output, output_alpha, timings, extras = ray.get(ref)
        except ray.exceptions.RayError as exc:
            err = unwrap(exc)
            if err is not exc:
                raise err from None
            raise JobError(f"frame {rec.index}: a Ray worker failed: {str(exc).splitlines()[0]}") from None
        rec.output, rec.output_alpha = output, output_alpha
        rec.timings.update(timings)
        rec.extras.update(extras)
        rec.timings["ray_wait"] = rec.timings.get("ray_wait", 0.0) + (time.perf_counter() - t0)
        # Drop the per-frame inputs the driver no longer needs.
        rec.disparity = rec.depth_confidence = rec.aif = None
        return rec

    def close(self) -> None:
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # already gone
                pass
        self.actors = []
        self.runtime.__exit__(None, None, None)

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



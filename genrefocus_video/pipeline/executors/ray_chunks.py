"""Ray chunks (``--chunks N --executor ray``): each chunk an independent Ray task.

Each task runs the same chunk job as an in-process or farm chunk (:func:`..chunks.run_chunk`):
it reads its own frame range (with warm-up), writes its own segment atomically and a chunk
record. A worker killed mid-chunk makes Ray rerun the task from scratch; the dead attempt's temp
file never reaches a final name. Workers report progress to a tiny actor that the driver polls for
the one job progress bar.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Sequence

import ray

from ...errors import JobError, raise_if_stop_requested
from ..manifest import ChunkRecord
from ..plan import JobPlan
from ..stages import StageFactory
from .local import StageCache
from .ray_runtime import CHUNK_RETRIES, gpu_share, unwrap, worker_count

log = logging.getLogger(__name__)

#: The stages of the chunk tasks this Ray worker process runs: kept from one chunk of a job to
#: the next (models load once per worker). One per worker process, handed to each chunk explicitly.
WORKER_STAGES = StageCache()

#: Seconds the driver waits for chunk tasks to stop by themselves before it cancels them.
STOP_GRACE_S = 20.0


class ChunkStopped(Exception):
    """Raised inside a chunk task that the driver asked to stop (its temp segment is removed)."""


@ray.remote(num_cpus=0)
class ProgressActor:
    """Frames done per chunk (an attempt restart resets its chunk), the pid running each chunk, and
    the driver's request to stop (tasks read it with every progress report)."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}
        self.pids: dict[int, int] = {}
        self.stopping = False

    def start(self, chunk: int, pid: int) -> bool:
        self.done[chunk] = 0
        self.pids[chunk] = pid
        return self.stopping

    def add(self, chunk: int, n: int) -> bool:
        self.done[chunk] = self.done.get(chunk, 0) + n
        return self.stopping

    def stop(self) -> None:
        self.stopping = True

    def snapshot(self) -> tuple[int, dict[int, int], dict[int, int]]:
        return sum(self.done.values()), dict(self.done), dict(self.pids)


def _stop_tasks(progress: Any, pending: list[Any]) -> None:
    """Stop the chunk tasks still running; each removes its temp segment.

    First by asking: tasks read the stop flag with every progress report and stop between frames.
    ``ray.cancel`` only for those still running after STOP_GRACE_S (a very slow frame): cancelling a
    task that is just completing can crash Ray's driver ("Tried to complete task that was not
    pending", Ray 2.x), which turned a clean Ctrl-C or SIGTERM into an abort now and then.
    """
    if not pending:
        return
    with contextlib.suppress(Exception):
        progress.stop.remote()
    _, running = ray.wait(pending, num_returns=len(pending), timeout=STOP_GRACE_S)
    for ref in running:
        ray.cancel(ref)  # the task sees KeyboardInterrupt and aborts its temp segment
    if running:
        ray.wait(running, num_returns=len(running), timeout=10.0)


@ray.remote(max_retries=CHUNK_RETRIES, retry_exceptions=False)
def _chunk_task(plan: JobPlan, chunk: Any, work_root: str, factory: StageFactory, progress: Any) -> ChunkRecord:
    from ..chunks import run_chunk
    from ..workdir import WorkDir

    def asked_to_stop(call: Any) -> bool:
        try:
            return bool(ray.get(call))
        except ray.exceptions.RayActorError:  # progress is a side channel: its loss must not fail the chunk
            return False

    def report(n: int) -> None:
        if asked_to_stop(progress.add.remote(chunk.index, n)):
            raise ChunkStopped(f"chunk {chunk.index}: stopped by the driver")

    if asked_to_stop(progress.start.remote(chunk.index, os.getpid())):
        raise ChunkStopped(f"chunk {chunk.index}: stopped by the driver before it started")
    return run_chunk(plan, chunk, WorkDir(work_root), factory, WORKER_STAGES, on_frames=report)


def run_chunks_ray(plan: JobPlan, chunks: Sequence[Any], work_root: str, factory: StageFactory,
                   on_progress: Callable[[int], None], poll_s: float = 0.5) -> list[ChunkRecord]:
    """Run chunk tasks on the cluster; return their records in chunk order.

    ``on_progress(frames_done_in_these_chunks)`` is called as workers report. The first chunk
    that fails with a user-facing error (e.g. OutputError for a full disk) cancels the rest and is
    re-raised; chunks that finished keep their segments and manifest entries for a resume.
    """
    progress = ProgressActor.remote()
    n_workers = worker_count(plan.job)
    gpus = gpu_share(plan.job, n_workers)
    task = _chunk_task.options(num_cpus=1 if not gpus else 0, num_gpus=gpus)
    queue = list(chunks)
    refs: dict[Any, Any] = {}
    results: dict[int, ChunkRecord] = {}
    pending: list[Any] = []
    try:
        while queue or pending:
            while queue and len(pending) < n_workers:  # at most --workers chunks at a time
                c = queue.pop(0)
                ref = task.remote(plan, c, work_root, factory, progress)
                refs[ref] = c
                pending.append(ref)
            ready, pending = ray.wait(pending, num_returns=1, timeout=poll_s)
            for ref in ready:
                chunk = refs[ref]
                try:
                    results[chunk.index] = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    err = unwrap(exc)
                    if err is not exc:
                        raise err from None
                    raise JobError(f"chunk {chunk.index} (frames {chunk.start}-{chunk.end}) failed after "
                                   f"{CHUNK_RETRIES} retries: {str(exc).splitlines()[0]}") from None
            on_progress(ray.get(progress.snapshot.remote())[0])
            raise_if_stop_requested()  # a stop whose raise Python dropped (errors.py)
    except BaseException:
        _stop_tasks(progress, pending)
        raise
    finally:
        ray.kill(progress)
    return [results[c.index] for c in chunks]

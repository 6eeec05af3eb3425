"""The Ray face: a local Ray instance sized to the machine, or an existing cluster.

Two ways of using it, both running the same stages as :mod:`.local`:

* **Streaming** (:class:`RayExecutor`, one chunk): the driver decodes and runs the ordered head
  (temporal depth / flow / focus stages); frame records travel through the object store to tail
  actors (deblur + bokeh) that load their models once; at most ``max_in_flight`` frames are
  outstanding (back-pressure), and outputs come back in submission order, so memory is flat for
  any clip length and the encoder sees frames in order.
* **Chunks** (:func:`run_chunks_ray`, ``--chunks N`` and farm jobs): each chunk is an independent
  Ray task (``max_retries``) that reads its own frame range (with warm-up), writes its own segment
  atomically and a manifest entry. A worker killed mid-chunk makes Ray rerun the task from scratch;
  the dead attempt's temp file never reaches a final name.

Workers report progress to a tiny actor that the driver polls for the one job progress bar.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import ray

from ..errors import STOP_SIGNALS, BackendUnavailableError, GenRefocusError, JobError
from ..io.frame import ClipInfo
from ..params import JobParams
from .local import run_stages
from ..record import FrameRecord
from .stages import DEFAULT_FACTORY, StageFactory, check_stages, reset_all

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to a cluster address before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Seconds ray.init may take to join a reachable cluster before giving up.
JOIN_TIMEOUT_S = 60.0
#: Times Ray reruns a chunk task whose worker process died.
CHUNK_RETRIES = 3


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_address(address: str) -> tuple[str, int]:
    """host:port or ray://host:port -> (host, port) with Ray's default ports."""
    addr = address.strip()
    default_port = 6379
    if addr.startswith("ray://"):
        addr, default_port = addr[len("ray://"):], 10001
    host, _, port = addr.rpartition(":") if ":" in addr else (addr, "", "")
    if not host:
        host, port = addr, ""
    try:
        return host.strip("[]"), int(port) if port else default_port
    except ValueError:
        raise BackendUnavailableError(f"--ray-address {address!r}: expected host:port or ray://host:port") from None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (within `timeout` s) with one clear line when nothing listens at `address`."""
    host, port = parse_address(address)
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        why = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        raise BackendUnavailableError(
            f"Ray cluster at {address} is unreachable ({why} after {time.monotonic() - t0:.1f} s); "
            f"check --ray-address, or start one with `ray start --head`, or use --executor local"
        ) from None


def _keeping_stop_handlers(init: Callable[[], Any]) -> Any:
    """Run `init` (ray.init) and put back the Python handlers of SIGTERM / SIGHUP it replaced.

    Ray installs its own handlers in the driver, which abort the process on SIGTERM: a farm
    manager's cancel then left temp segments behind and printed a C++ stack instead of the CLI's
    line. The CLI's handlers unwind like Ctrl-C, which cancels the Ray tasks cleanly."""
    if threading.current_thread() is not threading.main_thread():
        return init()
    kept = {sig: signal.getsignal(sig) for sig in (getattr(signal, n, None) for n in STOP_SIGNALS)
            if sig is not None}
    try:
        return init()
    finally:
        for sig, handler in kept.items():
            if callable(handler):
                signal.signal(sig, handler)


def _call_with_timeout(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True, name="ray-init")
    th.start()
    th.join(timeout)
    if th.is_alive():
        raise BackendUnavailableError(f"{what} did not answer within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class RayRuntime:
    """Context manager: join `address`, reuse an already initialised Ray, or start a local one.

    A local instance gets ``num_cpus`` = the machine's cores (or `workers` if larger), a private
    temp dir (removed afterwards), no dashboard, and PYTHONPATH so workers import this package.
    """

    def __init__(self, address: Optional[str] = None, workers: int = 0) -> None:
        self.address = address or None
        self.workers = workers
        self.owned = False
        self.temp_dir: Optional[str] = None
        self.startup_s = 0.0

    def __enter__(self) -> "RayRuntime":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if ray.is_initialized():
            return self
        t0 = time.perf_counter()
        if self.address:
            check_reachable(self.address)
            _keeping_stop_handlers(lambda: _call_with_timeout(
                lambda: ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                                 logging_level=logging.WARNING),
                JOIN_TIMEOUT_S, f"Ray cluster at {self.address}"))
        else:
            root = _package_root()
            paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            if root not in paths:
                os.environ["PYTHONPATH"] = os.pathsep.join([root] + paths)
            self.temp_dir = tempfile.mkdtemp(prefix="grray_", dir="/tmp" if os.path.isdir("/tmp") else None)
            cpus = max(os.cpu_count() or 1, self.workers or 0)
            try:
                _keeping_stop_handlers(lambda: ray.init(
                    num_cpus=cpus, _temp_dir=self.temp_dir, include_dashboard=False, log_to_driver=False,
                    configure_logging=False, logging_level=logging.WARNING))
            except Exception as exc:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                raise BackendUnavailableError(f"could not start a local Ray instance: {exc}") from None
        self.owned = True
        self.startup_s = time.perf_counter() - t0
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            ray.shutdown()
            if self.temp_dir:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.owned = False


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def worker_count(job: JobParams) -> int:
    """`--workers`, or one per CPU of the (local or joined) cluster."""
    return job.executor.workers or cluster_cpus()


def gpu_share(job: JobParams, n_workers: int) -> float:
    """GPUs per worker when the job needs a GPU and the cluster has some (else 0)."""
    needs = (job.backends.bokeh == "bokehnet" or job.backends.deblur == "deblurnet" or job.render.device == "cuda")
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if not needs or gpus <= 0:
        return 0.0
    return min(1.0, gpus / max(1, n_workers))


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


def unwrap(exc: BaseException) -> BaseException:
    """The user-facing error inside a Ray error (our one-line errors survive the trip)."""
    cause = getattr(exc, "cause", None)
    while cause is not None and not isinstance(cause, GenRefocusError) and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    if isinstance(cause, (GenRefocusError, OSError, KeyboardInterrupt)):
        return cause
    return exc


@ray.remote
class TailWorker:
    """Loads the tail stages (deblur, bokeh: the models) once and renders frame records."""

    def __init__(self, job: JobParams, info: ClipInfo, factory: StageFactory) -> None:
        # A construction error (bad parameter, missing weights) is kept and raised by describe():
        # a failing actor constructor would be restarted and retried by Ray for nothing.
        self.error: Optional[BaseException] = None
        self.stages: list[Any] = []
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
        self.prepared = True

    def map(self, records: Iterable[FrameRecord], job: JobParams, info: ClipInfo) -> Iterator[FrameRecord]:
        if not self.prepared:
            self.prepare(job, info)
        head = self.head_stages
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


@ray.remote(max_retries=CHUNK_RETRIES, retry_exceptions=False)
def _chunk_task(job: JobParams, info: ClipInfo, chunk: Any, work_root: str, factory: StageFactory,
                progress: Any) -> dict[str, Any]:
    from .job import WorkDir, run_chunk

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
    return run_chunk(job, info, chunk, WorkDir(work_root), factory, on_frames=report)


def run_chunks_ray(job: JobParams, info: ClipInfo, chunks: Sequence[Any], work_root: str,
                   factory: StageFactory, on_progress: Callable[[int], None],
                   poll_s: float = 0.5) -> list[dict[str, Any]]:
    """Run chunk tasks on the cluster; return their manifest entries in chunk order.

    ``on_progress(frames_done_in_these_chunks)`` is called as workers report. The first chunk
    that fails with a user-facing error (e.g. OutputError for a full disk) cancels the rest and is
    re-raised; chunks that finished keep their segments and manifest entries for a resume.
    """
    progress = ProgressActor.remote()
    n_workers = worker_count(job)
    gpus = gpu_share(job, n_workers)
    task = _chunk_task.options(num_cpus=1 if not gpus else 0, num_gpus=gpus)
    queue = list(chunks)
    refs: dict[Any, Any] = {}
    results: dict[int, dict[str, Any]] = {}
    pending: list[Any] = []
    try:
        while queue or pending:
            while queue and len(pending) < n_workers:  # at most --workers chunks at a time
                c = queue.pop(0)
                ref = task.remote(job, info, c, work_root, factory, progress)
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
    except BaseException:
        _stop_tasks(progress, pending)
        raise
    finally:
        ray.kill(progress)
    return [results[c.index] for c in chunks]

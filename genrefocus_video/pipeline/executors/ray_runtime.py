"""Ray for this package: a local instance sized to the machine or an existing cluster, joined with
a timeout, with the CLI's stop handlers kept; worker counts and GPU shares; Ray errors unwrapped to
our one-line errors. Used by the streaming executor (:mod:`.ray_stream`) and the chunk tasks
(:mod:`.ray_chunks`).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Optional

import ray

from ...errors import STOP_SIGNALS, BackendUnavailableError, GenRefocusError
from ...params import JobParams

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to a cluster address before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Seconds ray.init may take to join a reachable cluster before giving up.
JOIN_TIMEOUT_S = 60.0
#: Times Ray reruns a chunk task whose worker process died.
CHUNK_RETRIES = 3



def _package_root() -> str:
    here = os.path.abspath(__file__)  # genrefocus_video/pipeline/executors/ray_runtime.py
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))


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


def needs_gpu(job: JobParams) -> bool:
    """Whether a worker of this job must hold a GPU: the generative nets on `cuda`
    (`--generative-device cpu` runs them on the CPU) or the renderer forced to `cuda`."""
    generative = job.backends.bokeh == "bokehnet" or job.backends.deblur == "deblurnet"
    return (generative and job.backends.device == "cuda") or job.render.device == "cuda"


def gpu_share(job: JobParams, n_workers: int, cluster_gpus: Optional[float] = None) -> float:
    """GPUs per worker (a fraction when workers share one) when the job needs a GPU and the
    cluster has some, else 0. `cluster_gpus` defaults to the running cluster's GPU count."""
    gpus = float(ray.cluster_resources().get("GPU", 0)) if cluster_gpus is None else float(cluster_gpus)
    if not needs_gpu(job) or gpus <= 0:
        return 0.0
    return min(1.0, gpus / max(1, n_workers))


def unwrap(exc: BaseException) -> BaseException:
    """The user-facing error inside a Ray error (our one-line errors survive the trip)."""
    cause = getattr(exc, "cause", None)
    while cause is not None and not isinstance(cause, GenRefocusError) and getattr(cause, "cause", None) is not None:
        cause = cause.cause
    if isinstance(cause, (GenRefocusError, OSError, KeyboardInterrupt)):
        return cause
    return exc


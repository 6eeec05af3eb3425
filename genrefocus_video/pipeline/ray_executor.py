"""Kept for existing imports: the Ray face lives in :mod:`.executors.ray_runtime` (joining or
starting Ray), :mod:`.executors.ray_stream` (one pass, tail on actors) and
:mod:`.executors.ray_chunks` (one Ray task per chunk)."""
from .executors.ray_chunks import ChunkStopped, ProgressActor, run_chunks_ray
from .executors.ray_runtime import (CHUNK_RETRIES, RayRuntime, check_reachable, cluster_cpus, gpu_share,
                                    parse_address, unwrap, worker_count)
from .executors.ray_stream import RayExecutor, TailWorker

__all__ = ["CHUNK_RETRIES", "ChunkStopped", "ProgressActor", "RayExecutor", "RayRuntime", "TailWorker",
           "check_reachable", "cluster_cpus", "gpu_share", "parse_address", "run_chunks_ray", "unwrap",
           "worker_count"]

"""Executor section: where and how frames run (in process, local Ray, a farm cluster)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .schema import param


@dataclass
class ExecutorParams:
    """Scheduling. The same stages run under every executor and give the same frames."""

    executor: str = param("auto", "run frames in process or on Ray; 'auto' = Ray for clips of 120+ frames "
                          "on a multi-core machine or cluster, else in process", choices=("auto", "local", "ray"))
    workers: int = param(0, "parallel workers (0 = one per core)", min=0)
    ray_address: Optional[str] = param(None, "join an existing Ray cluster (host:port or ray://...)")
    chunks: int = param(1, "split the clip into this many independently resumable chunks", min=1)
    work_dir: Optional[str] = param(None, "folder for chunk segments, manifest, logs and report.json (default: OUTPUT.work beside the output)")
    progress: bool = param(True, "show a progress bar")
    chunk: Optional[int] = param(None, "render only this chunk (0-based) of --chunks, in this process, and do not "
                                 "join: one farm task per chunk (Deadline, OpenCue, Tractor, Slurm); then --join",
                                 min=0)
    join: bool = param(False, "only join the finished chunks into the output (a farm's last task, after every "
                       "--chunk task); fails naming the chunks not done")

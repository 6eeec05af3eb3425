"""`genrefocus-video submit JOB.yaml`: run every shot of a farm job file (see :mod:`.farm`).

Shots run one after another on one Ray instance (local, or the cluster of ``--ray-address``);
each shot's chunks run in parallel across the workers. A rerun resumes each shot where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ..errors import GenRefocusError, JobError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("submit", help="run a farm job file (many shots, chunked, resumable)",
                              description="Run every shot of JOB.yaml. Flags override the file for all shots.")
    p.add_argument("jobfile", metavar="JOB.yaml", help="farm job file: 'defaults' + 'shots'")
    p.add_argument("--shot", action="append", metavar="NAME", help="run only this shot (repeatable)")
    p.add_argument("--executor", dest="executor.executor", choices=("auto", "local", "ray"), default=argparse.SUPPRESS,
                   help="where chunks run (default: the file's, else local)")
    p.add_argument("--workers", dest="executor.workers", default=argparse.SUPPRESS, metavar="N",
                   help="parallel workers (0 = one per core)")
    p.add_argument("--ray-address", dest="executor.ray_address", default=argparse.SUPPRESS, metavar="ADDR",
                   help="join an existing Ray cluster")
    p.add_argument("--chunks", dest="executor.chunks", default=argparse.SUPPRESS, metavar="N",
                   help="chunks per shot")
    p.add_argument("--no-progress", dest="executor.progress", action="store_false", default=argparse.SUPPRESS,
                   help="hide progress bars")
    p.add_argument("--chunk", dest="executor.chunk", type=int, default=argparse.SUPPRESS, metavar="N",
                   help="farm task: render only chunk N of each shot here, no join (see --tasks)")
    p.add_argument("--join", dest="executor.join", action="store_true", default=argparse.SUPPRESS,
                   help="farm task: only join each shot's finished chunks (after its --chunk tasks)")
    p.add_argument("--tasks", action="store_true",
                   help="print the job as farm tasks (JSON: one per chunk, then one join per shot that depends on "
                        "them) for Deadline, OpenCue, Tractor or Slurm, and exit")
    p.add_argument("--status", action="store_true",
                   help="print where each shot stands (chunks done / running / to do, next step; see `status`) and exit")
    p.add_argument("--dry-run", action="store_true", help="validate the job file and list the shots")
    p.add_argument("--keep-going", action="store_true", help="continue with the next shot when one fails")
    p.set_defaults(func=run_submit)


def farm_tasks(jobfile: str, shots: list[Any], overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """One task per chunk of every shot, then a join per shot that waits for its chunks.

    Each task is a command line that reruns this job file for one shot and one chunk, so a farm
    manager needs nothing but the list: ``name``, ``command`` (argv), ``after`` (the names it
    waits for), and for chunk tasks the frame range. Commands call ``genrefocus-video``, which
    must be on the render nodes' PATH, and read the job file and the work folders from storage
    that every node shares. The chunk count is planned here as every task plans it (a short H.264
    clip gets fewer chunks than asked).
    """
    from .farm import chunk_tasks
    from .run import planned_chunks

    base = ["genrefocus-video", "submit", os.path.abspath(jobfile)]
    if "executor.chunks" in overrides:  # every task must plan the same chunks
        base += ["--chunks", str(overrides["executor.chunks"])]
    tasks: list[dict[str, Any]] = []
    for s in shots:
        for t in chunk_tasks(s.name, planned_chunks(s.job), base + ["--shot", s.name, "--no-progress"],
                             s.job.output.path):
            tasks.append({"name": t.pop("name"), "shot": s.name, **t})
    return tasks


def run_submit(args: argparse.Namespace) -> int:
    from .farm import load_farm
    from .run import run_job

    overrides = {k: v for k, v in vars(args).items() if k.startswith("executor.")}
    shots = load_farm(args.jobfile, overrides, only=args.shot)
    if args.dry_run:
        for s in shots:
            print(f"{s.name}: {s.job.input.path} -> {s.job.output.path} "
                  f"({s.job.executor.executor}, {s.job.executor.chunks} chunks)")
        return 0
    if args.tasks:
        print(json.dumps(farm_tasks(args.jobfile, shots, overrides), indent=1))
        return 0
    if args.status:
        from .status import shot_line

        for s in shots:
            print(f"{s.name}: {shot_line(s.job)}")
        return 0
    from dataclasses import replace

    for s in shots:  # a farm job is what Ray is for: 'auto' means ray here; a farm task runs in process
        task = s.job.executor.chunk is not None or s.job.executor.join
        if s.job.executor.executor == "auto" or (task and s.job.executor.executor == "ray"):
            s.job = replace(s.job, executor=replace(s.job.executor, executor="local" if task else "ray"))
    use_ray = any(s.job.executor.executor == "ray" for s in shots)
    t0 = time.perf_counter()
    failed: list[str] = []
    runtime: Any = None
    if use_ray:  # one Ray instance for every shot: start-up is paid once
        from .executors.ray_runtime import RayRuntime

        first = next(s.job for s in shots if s.job.executor.executor == "ray")
        runtime = RayRuntime(first.executor.ray_address, first.executor.workers).__enter__()
    try:
        for s in shots:
            try:
                summary = run_job(s.job)
                print(f"{s.name}: {summary.line()}")
            except GenRefocusError as exc:
                if not args.keep_going:
                    raise type(exc)(f"shot '{s.name}': {exc}") from None
                print(f"{s.name}: FAILED: {exc}", file=sys.stderr)
                failed.append(s.name)
    finally:
        if runtime is not None:
            runtime.__exit__(None, None, None)
    print(f"submit: {len(shots) - len(failed)}/{len(shots)} shots done in {time.perf_counter() - t0:.1f} s")
    if failed:
        raise JobError(f"{args.jobfile}: shots failed: {', '.join(failed)}")
    return 0

"""`genrefocus-video submit JOB.yaml`: run every shot of a farm job file (see :mod:`.farm`).

Shots run one after another on one Ray instance (local, or the cluster of ``--ray-address``);
each shot's chunks run in parallel across the workers. A rerun resumes each shot where it stopped.
"""
from __future__ import annotations

import argparse
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
    p.add_argument("--dry-run", action="store_true", help="validate the job file and list the shots")
    p.add_argument("--keep-going", action="store_true", help="continue with the next shot when one fails")
    p.set_defaults(func=run_submit)


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
    from dataclasses import replace

    for s in shots:  # a farm job is what Ray is for: 'auto' means ray here
        if s.job.executor.executor == "auto":
            s.job = replace(s.job, executor=replace(s.job.executor, executor="ray"))
    use_ray = any(s.job.executor.executor == "ray" for s in shots)
    t0 = time.perf_counter()
    failed: list[str] = []
    runtime: Any = None
    if use_ray:  # one Ray instance for every shot: start-up is paid once
        from .ray_executor import RayRuntime

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

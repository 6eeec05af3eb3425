"""Where the end-to-end job's peak resident memory sits: the CLI run in this process while a thread
samples the resident set every 5 ms, tagged with the frame and the stage running then.

    PYTHONPATH=. python benchmarks/memory_stages.py render CLIP.mp4 -o out.mp4 --overwrite \
        --depth-source motion --depth-smoothing 0.8 --k 14 --last-frame 13 [--trim-before bokeh,flow]

Prints per frame the highest RSS (MiB) seen in each stage (``after_<stage>``: between that stage and
the next; ``write``: after the frame's stages, i.e. encoding it and decoding the next), the RSS right
after each frame's heap release, and the process's ru_maxrss. ``--trim-before`` adds a heap release
(render/alloc.py ``release_freed_memory``) before the named stages, to see what a trim there would
save before changing the executor. Numbers: docs/benchmarks/memory.md.
"""
from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Any, Sequence

from genrefocus_video.pipeline.executors import local
from genrefocus_video.render.alloc import release_freed_memory

PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20
state = {"frame": 0, "stage": "start"}
peaks: dict[tuple[int, str], float] = {}
floors: list[tuple[int, float]] = []


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MIB


def sample_forever() -> None:
    """Keep each (frame, stage)'s highest RSS (a daemon thread: ends with the process)."""
    while True:
        key, now = (state["frame"], state["stage"]), rss_mib()
        if now > peaks.get(key, 0.0):
            peaks[key] = now
        time.sleep(0.005)


def tagged_runner(trim_before: set[str]) -> Any:
    """local.run_stages with each stage's name published to the sampler (and optional trims)."""
    original = local.run_stages

    def run(rec: Any, stages: Sequence[Any], trim: bool = True) -> Any:
        if stages and getattr(stages[0], "temporal", False):
            state["frame"] += 1  # a head (or the whole frame): a new frame starts
        for stage in stages:
            def process(r: Any, inner: Any = stage.process, name: str = stage.name) -> Any:
                if name in trim_before:
                    release_freed_memory()
                state["stage"] = name
                out = inner(r)
                state["stage"] = "after_" + name
                return out
            stage.process = process
        try:
            out = original(rec, stages, trim)
        finally:
            for stage in stages:
                del stage.process  # back to the class's method
        state["stage"] = "write"
        floors.append((state["frame"], rss_mib()))
        return out
    return run


def report() -> None:
    for frame in sorted({f for f, _ in peaks}):
        print(frame, {name: round(v) for (f, name), v in peaks.items() if f == frame}, flush=True)
    print("after each release:", [(f, round(v)) for f, v in floors])
    print("ru_maxrss MiB", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))


def main(argv: list[str]) -> int:
    trim_before: set[str] = set()
    if "--trim-before" in argv:
        i = argv.index("--trim-before")
        trim_before, argv = set(argv[i + 1].split(",")), argv[:i] + argv[i + 2:]
    threading.Thread(target=sample_forever, daemon=True).start()
    local.run_stages = tagged_runner(trim_before)
    from genrefocus_video.cli import main as cli_main
    try:
        return cli_main(argv)
    finally:
        report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

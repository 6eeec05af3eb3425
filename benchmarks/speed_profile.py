"""CPU seconds per stage of one CLI render, frames run one at a time (no overlap).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/speed_profile.py [--overlap] CLIP -- [render options]

With the overlap off (default) each stage runs alone, so the process's CPU time (user + system, every
thread: DIS's second pass, the renderer's layer threads) over a stage is that stage's work in
core-seconds, independent of the machine's load. Prints per stage: wall and CPU seconds per
frame and CPU / wall (how many cores the stage keeps busy), then the totals: the core-seconds per
frame that bound what the overlapped run can reach on 2 cores (frames/s <= 2 / core-s).

`--overlap`: the job as the CLI runs it (frames overlapped across threads); prints the CPU seconds
per frame of the whole process and of the calling thread alone (the head's critical path: depth,
smoothing, focus, encode), and the frames/s a quiet 2-core machine allows at most,
1 / max(thread, process / 2) — a load-independent reading of the overlap.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--overlap", action="store_true", help="run overlapped, as the CLI does")
    p.add_argument("clip")
    p.add_argument("options", nargs=argparse.REMAINDER, help="after --: the render options")
    a = p.parse_args(argv)
    from genrefocus_video import cli
    from genrefocus_video.pipeline import loop
    from genrefocus_video.pipeline.executors import local

    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)

    def run_stages(rec, stages):
        for stage in stages:
            w0, c0 = time.perf_counter(), _cpu()
            out = stage.process(rec)
            rec = out if out is not None else rec
            wall[stage.name] += time.perf_counter() - w0
            cpu[stage.name] += _cpu() - c0
        local.release_freed_memory()
        return rec

    def timed(name, fn):
        def wrapper(*args, **kw):
            w0, c0 = time.perf_counter(), _cpu()
            try:
                return fn(*args, **kw)
            finally:
                wall[name] += time.perf_counter() - w0
                cpu[name] += _cpu() - c0
        return wrapper

    if a.overlap:
        return _overlapped(a.clip, [o for o in a.options if o != "--"])
    local.run_stages = run_stages
    local.overlap_fits = lambda info: False
    loop._write = timed("encode", loop._write)
    orig_decoded = loop.decoded

    def decoded(reader):
        it = orig_decoded(reader)
        while True:
            w0, c0 = time.perf_counter(), _cpu()
            rec = next(it, None)
            wall["decode"] += time.perf_counter() - w0
            cpu["decode"] += _cpu() - c0
            if rec is None:
                return
            yield rec

    loop.decoded = decoded
    opts = [o for o in a.options if o != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        w0, c0 = time.perf_counter(), _cpu()
        rc = cli.main(["render", a.clip, "-o", os.path.join(tmp, "out.mp4"), *opts])
        total_w, total_c = time.perf_counter() - w0, _cpu() - c0
    n = max(1, int(os.environ.get("PROFILE_FRAMES", "0")) or _frames(a.clip))
    print(f"{'stage':14s} {'wall s/frame':>12s} {'CPU s/frame':>12s} {'cores':>6s}")
    for name in sorted(cpu, key=lambda k: -cpu[k]):
        print(f"{name:14s} {wall[name] / n:12.3f} {cpu[name] / n:12.3f} {cpu[name] / max(wall[name], 1e-9):6.2f}")
    staged = sum(cpu.values())
    print(f"{'stages':14s} {sum(wall.values()) / n:12.3f} {staged / n:12.3f}")
    print(f"{'job (all)':14s} {total_w / n:12.3f} {total_c / n:12.3f}   frames {n}, exit {rc}, "
          f"load {os.getloadavg()[0]:.2f}")
    return rc


def _overlapped(clip: str, opts: list[str]) -> int:
    """The CLI's own (overlapped) run: process and calling-thread CPU seconds per frame of the loop."""
    from genrefocus_video import cli
    from genrefocus_video.pipeline import chunks, keep, loop

    spent: list[tuple[float, float, float]] = []  # (wall, process CPU, calling thread CPU) per loop
    orig = loop.run_frames

    def run_frames(*args, **kw):
        w0, c0, t0 = time.perf_counter(), _cpu(), time.thread_time()
        try:
            return orig(*args, **kw)
        finally:
            spent.append((time.perf_counter() - w0, _cpu() - c0, time.thread_time() - t0))

    loop.run_frames = keep.run_frames = chunks.run_frames = run_frames
    with tempfile.TemporaryDirectory() as tmp:
        rc = cli.main(["render", clip, "-o", os.path.join(tmp, "out.mp4"), *opts])
    n = _frames(clip)
    wall, cpu, thread = (sum(x[i] for x in spent) / n for i in range(3))
    print(f"overlapped frame loop: wall {wall:.3f} s/frame, process CPU {cpu:.3f} s/frame, calling thread "
          f"{thread:.3f} s/frame; quiet 2-core bound {1.0 / max(thread, cpu / 2):.2f} frames/s "
          f"(frames {n}, exit {rc}, load {os.getloadavg()[0]:.2f})")
    return rc


def _frames(clip: str) -> int:
    import av

    with av.open(clip) as c:
        return sum(1 for _ in c.decode(video=0))


if __name__ == "__main__":
    sys.exit(main())

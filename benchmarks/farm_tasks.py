"""Farm tasks (`--chunk N` per task, then `--join`) against one process and against Ray chunks.

    .venv/bin/python benchmarks/farm_tasks.py [--size 1920x1080] [--frames 48] [--chunks 4] [--slots 2]

The same job (synthetic clip, layered disparity, hexagon K 12, lossless FFV1 out) three ways, one
after another in this session: (a) one pass in process (the baseline); (b) one CLI process per
chunk, `--slots` at a time as a farm manager with that many slots on this machine would run them,
then the join task; (c) `--executor ray --workers SLOTS --chunks N`. Reports wall seconds, the ratio
to (a), the join task's seconds, the per-task start-up (a task of a finished chunk: interpreter,
imports, probe, manifest), and whether (b) and (c) decode to the same frames as (a).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_scaling import REPO, RENDER_FLAGS, add_input_args, inputs_for  # noqa: E402  (sets RAY_AUTH_MODE, sys.path)


def cli(args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_AUTH_MODE="disabled")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return time.perf_counter() - t0


def frames(path: str) -> list[np.ndarray]:
    import av

    with av.open(path) as c:
        return [f.to_ndarray(format="gbrpf32le") if f.format.name.endswith("f32le") else f.to_ndarray(format="rgb48le")
                for f in c.decode(video=0)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_args(p)
    p.add_argument("--chunks", type=int, default=4)
    p.add_argument("--slots", type=int, default=2, help="tasks at a time (and Ray workers)")
    a = p.parse_args()
    work, clip, depth = inputs_for(a, "farm_tasks_")
    common = [clip, "--depth", depth, *RENDER_FLAGS, "--codec", "ffv1", "--overwrite"]
    res: dict = {"size": a.size, "frames": a.frames, "chunks": a.chunks, "slots": a.slots,
                 "load_before": os.getloadavg()[0]}
    one = str(work / "one.mkv")
    res["one_pass_s"] = cli(["render", *common, "-o", one, "--executor", "local"])
    print(f"(a) one pass in process: {res['one_pass_s']:.1f} s", flush=True)

    tasks_out = str(work / "tasks.mkv")
    task = ["render", *common, "-o", tasks_out, "--chunks", str(a.chunks)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    queue, running = list(range(a.chunks)), []
    while queue or running:
        while queue and len(running) < a.slots:
            i = queue.pop(0)
            running.append(subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", *task, "--chunk", str(i)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
        time.sleep(0.05)
        for pr in [x for x in running if x.poll() is not None]:
            if pr.returncode != 0:
                raise SystemExit(pr.stderr.read())
            running.remove(pr)
    res["chunk_tasks_s"] = time.perf_counter() - t0
    res["task_startup_s"] = cli([*task, "--chunk", "0"])  # a finished chunk: only start-up and checks
    res["join_s"] = cli([*task, "--join"])
    res["tasks_total_s"] = res["chunk_tasks_s"] + res["join_s"]
    print(f"(b) {a.chunks} chunk tasks, {a.slots} at a time: {res['chunk_tasks_s']:.1f} s + join {res['join_s']:.1f} s "
          f"= {res['tasks_total_s']:.1f} s ({res['one_pass_s'] / res['tasks_total_s']:.2f}x); a task's start-up "
          f"{res['task_startup_s']:.1f} s", flush=True)

    ray_out = str(work / "ray.mkv")
    res["ray_chunks_s"] = cli(["render", *common, "-o", ray_out, "--executor", "ray", "--workers", str(a.slots),
                               "--chunks", str(a.chunks)])
    print(f"(c) Ray, {a.slots} workers, {a.chunks} chunks: {res['ray_chunks_s']:.1f} s "
          f"({res['one_pass_s'] / res['ray_chunks_s']:.2f}x)", flush=True)
    ref = frames(one)
    res["tasks_identical"] = all(np.array_equal(x, y) for x, y in zip(ref, frames(tasks_out))) and len(ref) == a.frames
    res["ray_identical"] = all(np.array_equal(x, y) for x, y in zip(ref, frames(ray_out)))
    res["load_after"] = os.getloadavg()[0]
    print(f"frames identical to the one pass: tasks {res['tasks_identical']}, Ray {res['ray_identical']}")
    (work / "farm_tasks.json").write_text(json.dumps(res, indent=1))
    print(f"report {work / 'farm_tasks.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

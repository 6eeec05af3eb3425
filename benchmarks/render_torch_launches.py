"""The torch renderer on CPU torch, this tree vs a baseline tree: ops per frame and time, interleaved.

    .venv/bin/python benchmarks/render_torch_launches.py --base /work/wt/base [--size 960x540]
        [--radius 24] [--rounds 3] [--shape disc]

Issue 17 wants the torch path launch-light (a 1080p GPU frame was launch-bound). Without a GPU the
proxy is the number of aten operator calls per frame, counted with torch.profiler on CPU torch
(every call is at least one kernel launch on CUDA), and the CPU-torch time per frame. Each tree runs
in its own worker process (its own `genrefocus_video`); the workers render the same synthetic
scene (benchmarks/render_cuda_check.synthetic_scene, max blur radius `radius` px) alternately,
matte on and off, so both see the same machine load. Prints one JSON object (ratios = base / this).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(tree: str, size: str, radius: float, shape: str) -> None:
    """Line protocol on stdin/stdout: 'time <matte 0|1>' -> seconds; 'ops <matte>' -> aten calls/frame."""
    sys.path.insert(0, tree)
    sys.path.insert(1, HERE)
    import numpy as np
    import torch

    from genrefocus_video import render_bokeh
    from render_cuda_check import synthetic_scene

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    W, H = (int(v) for v in size.split("x"))
    img, disp = synthetic_scene(W, H)
    k = radius / float(np.abs(disp - 0.5).max())

    def render(matte: bool):
        return render_bokeh(img, disp, 0.5, k, shape, backend="torch", device="cpu", edge_matte=matte)

    for matte in (True, False):
        render(matte)  # warm-up (plan cache, allocator)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, matte = line.split()
        m = matte == "1"
        if cmd == "time":
            t0 = time.perf_counter()
            render(m)
            print(time.perf_counter() - t0, flush=True)
        elif cmd == "ops":
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                render(m)
            events = [e for e in prof.events() if e.name.startswith("aten::")]
            top = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
            print(json.dumps({"aten_calls": len(events), "top_level_aten_calls": len(top)}), flush=True)


def _ask(proc, cmd: str) -> str:
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=None, help="baseline tree (a checkout of the previous code)")
    p.add_argument("--size", default="960x540")
    p.add_argument("--radius", type=float, default=24.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--shape", default="disc")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker(a.worker, a.size, a.radius, a.shape)
        return 0
    if not a.base:
        p.error("--base is required (a checkout of the previous code, e.g. /work/wt/base)")
    trees = {"base": os.path.abspath(a.base), "this": os.path.dirname(HERE)}
    env = dict(os.environ, PYTHONPATH="")
    procs = {}
    for name, tree in trees.items():
        env_t = dict(env, PYTHONPATH=tree)
        procs[name] = subprocess.Popen([sys.executable, __file__, "--worker", tree, "--size", a.size,
                                        "--radius", str(a.radius), "--shape", a.shape],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env_t)
    for proc in procs.values():
        assert proc.stdout.readline().strip() == "ready"
    result = {"size": a.size, "radius_px": a.radius, "shape": a.shape, "torch_threads": 2,
              "load_before": os.getloadavg(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    for matte in ("1", "0"):
        key = "matte_on" if matte == "1" else "matte_off"
        ops = {n: json.loads(_ask(pr, f"ops {matte}")) for n, pr in procs.items()}
        times: dict = {n: [] for n in procs}
        for _ in range(a.rounds):
            for n, pr in procs.items():  # interleaved: base, this, base, this, ...
                times[n].append(float(_ask(pr, f"time {matte}")))
        med = {n: sorted(t)[len(t) // 2] for n, t in times.items()}
        result[key] = {"ops": ops, "s_per_frame_median": med, "s_all": times,
                       "time_ratio_base_over_this": round(med["base"] / med["this"], 2),
                       "aten_call_ratio": round(ops["base"]["aten_calls"] / ops["this"]["aten_calls"], 2)}
    result["load_after"] = os.getloadavg()
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

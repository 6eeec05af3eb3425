"""The renderer alone on the depth each checkout's smoother produces (e2e720's clip and command).

Run:  .venv/bin/python benchmarks/temporal_edge_select_render.py --baseline /work/wt/base
      [--other /path/to/another/checkout ...] [--frames 12] [--rounds 2] [--json out.json]

Why: edge selection made issue 17's 720p row's renderer stage 1.55x slower with the renderer's
code unchanged (docs/benchmarks/temporal.md, 2026-12-05). Each checkout renders the e2e720 clip
(benchmarks/speed_clips.py, ``--depth-source motion --depth-smoothing 0.8 --focus-track follow
--k 14``) in a child process with its package on PYTHONPATH, and every `render_bokeh` call's
inputs (frame, disparity, focus, K, options) are kept. Then one child (this checkout's renderer)
renders each frame on every checkout's depth, interleaved per frame (the machine's load hits all
alike), and reports per frame the render plan (layers; "work": the layers' regions in pixels at
their working scale, a load-free measure of the renderer's cost) and CPU seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
FOLLOW = ["--depth-source", "motion", "--depth-smoothing", "0.8", "--focus-track", "follow", "--k", "14",
          "--executor", "local", "--workers", "1"]


def capture(clip: dict, out: str) -> None:
    """(child, PYTHONPATH = a checkout) Render the clip with that checkout's CLI; keep every
    render_bokeh call's inputs in `out` (pickle)."""
    import genrefocus_video.render.api as api
    from genrefocus_video import cli

    calls, render = [], api.render_bokeh

    def keep(image, disparity, a, k, *args, **kw):
        calls.append({"img": image.copy(), "d": disparity.copy(), "a": float(a), "k": float(k), "args": args, "kw": kw})
        return render(image, disparity, a, k, *args, **kw)

    api.render_bokeh = keep
    folder = tempfile.mkdtemp(prefix="es_render_")
    try:
        cli.main(["render", clip["path"], "-o", os.path.join(folder, "out.mp4"), *FOLLOW, "--focus-box", clip["box"]])
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with open(out, "wb") as fh:
        pickle.dump(calls, fh)


def plan_stats(c: dict) -> dict:
    """Layers and work (Mpx: the layers' regions at their working scale) of a frame's render plan."""
    from genrefocus_video.render import api
    from genrefocus_video.render.plan import make_plan

    seen = []

    def spy(*a, **k):
        p = make_plan(*a, **k)
        seen.append(p)
        return p

    api.make_plan, old = spy, api.make_plan
    try:
        api.render_bokeh(c["img"], c["d"], c["a"], c["k"], *c["args"], **c["kw"])
    finally:
        api.make_plan = old
    work = sum((l.roi[1] - l.roi[0]) * (l.roi[3] - l.roi[2]) / l.scale ** 2 for p in seen for l in p.layers)
    return {"layers": sum(len(p.layers) for p in seen), "work_mpx": round(work / 1e6, 3)}


def time_renders(paths: list[str], rounds: int) -> list[dict]:
    """(child) Per checkout: plan stats and CPU seconds per frame, frames interleaved across checkouts."""
    from genrefocus_video.render.api import render_bokeh

    runs = []
    for p in paths:
        with open(p, "rb") as fh:
            runs.append(pickle.load(fh))
    n = min(len(r) for r in runs)
    cpu = [[0.0] * n for _ in runs]
    for r in range(rounds):
        for i in range(n):
            order = range(len(runs)) if (r + i) % 2 == 0 else reversed(range(len(runs)))
            for j in order:
                c = runs[j][i]
                t = time.process_time()
                render_bokeh(c["img"], c["d"], c["a"], c["k"], *c["args"], **c["kw"])
                cpu[j][i] += (time.process_time() - t) / rounds
    out = []
    for j, calls in enumerate(runs):
        frames = [{**plan_stats(calls[i]), "cpu_s": round(cpu[j][i], 3)} for i in range(n)]
        out.append({"frames": frames, "layers": sum(f["layers"] for f in frames),
                    "work_mpx": round(sum(f["work_mpx"] for f in frames), 2),
                    "cpu_s": round(sum(f["cpu_s"] for f in frames), 3)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="/work/wt/base")
    p.add_argument("--other", nargs="*", default=[], help="more checkouts whose smoother's depth to render")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--work", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--child-capture", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--child-time", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child_capture:
        capture(json.loads(a.child_capture[0]), a.child_capture[1])
        return 0
    if a.child_time:
        print(json.dumps(time_renders(a.child_time[1:], int(a.child_time[0]))))
        return 0
    import speed_clips

    work = a.work or tempfile.mkdtemp(prefix="es_render_work_")
    clip = speed_clips.handheld_clip(os.path.join(work, "clips"), (1280, 720), a.frames, hevc10=False)
    trees = [str(Path(a.baseline).resolve()), str(REPO), *[str(Path(o).resolve()) for o in a.other]]
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "nproc": os.cpu_count(),
           "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), "trees": trees}
    caps = []
    for i, tree in enumerate(trees):
        caps.append(os.path.join(work, f"calls_{i}.pkl"))
        env = dict(os.environ, PYTHONPATH=tree, RAY_AUTH_MODE="disabled")
        subprocess.run([sys.executable, __file__, "--child-capture", json.dumps(clip), caps[-1]], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, __file__, "--child-time", str(a.rounds), *caps], env=env, check=True,
                         capture_output=True, text=True).stdout
    res["renders"] = dict(zip(trees, json.loads(out.strip().splitlines()[-1])))
    res["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    base = res["renders"][trees[0]]
    for tree, r in res["renders"].items():
        print(f"{tree}: {r['layers']} layers, work {r['work_mpx']} Mpx, renderer {r['cpu_s']} CPU s "
              f"({r['cpu_s'] / base['cpu_s']:.3f}x baseline); per frame layers {[f['layers'] for f in r['frames']]}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

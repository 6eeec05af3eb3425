"""Speed of the classical renderer on the CPU: issue 17's rows as ratios against the previous code.

    .venv/bin/python benchmarks/render_speed.py [--rounds 3] [--repeats 3] [--baseline ../base]
        [--blender] [--4k] [--json OUT]

Rows (benchmarks/render_frames.py builds the frames once, shared by every run):
* "lfbench 1080p r24 disc": an lfbench frame of an unseen seed (7) at 1920×1080, GT disparity,
  max blur radius 24 px, disc aperture, edge matte on (the default render);
* "real 720p K14 smooth depth": a real RGB-D frame (../shared/data/rgbd_open3d) at 1280×720,
  smooth continuous disparity 0.2–1.2, K 14, focus 0.2 (radii 0–14 px, every layer populated).

Each measurement is a fresh child process (`PYTHONPATH` = the tree under test) that renders the
frame once to warm up and then `repeats` times: median wall time, median process CPU time (all
threads), and the process's peak RSS (VmHWM) minus that of a child that only loads the inputs.
A second child per round runs everything on one thread (cv2.setNumThreads(1), one layer thread):
its CPU time is the work per frame, the figure least moved by other jobs on a shared machine.
The tree under test and the baseline tree (`--baseline`, a checkout of the previous code; default
../base beside this checkout) alternate `rounds` times, so both see the same machine load; the
ratio is baseline ÷ new per round, and the load average (os.getloadavg) is recorded beside every
child. `--blender` adds Blender 3.4's Defocus node on the lfbench frame (benchmarks/render_blender.py),
`--4k` the banded 3840×2160 peak memory of the tree under test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_frames as rf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROWS = {"lfbench 1080p r24 disc": "lf", "real 720p K14 smooth depth": "real"}

_CHILD = r"""
import json, sys, time
import numpy as np
img = np.load(sys.argv[1]); disp = np.load(sys.argv[2]); a = float(sys.argv[3]); k = float(sys.argv[4])
repeats = int(sys.argv[5])
opts = {}
if sys.argv[6] == "one":  # all work on one thread: CPU time = the work per frame, whatever the load
    import cv2
    cv2.setNumThreads(1)
    from genrefocus_video.render import cpu
    if hasattr(cpu, "THREADS"):  # the original code's module global
        cpu.THREADS = 1
    else:
        opts["threads"] = 1
walls, cpus = [], []
if repeats > 0:
    from genrefocus_video import render_bokeh
    render_bokeh(img, disp, a, k, "disc", **opts)
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        render_bokeh(img, disp, a, k, "disc", **opts)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
import genrefocus_video
print(json.dumps({"walls": walls, "cpus": cpus, "vmhwm_kib": int(hwm), "module": genrefocus_video.__file__}))
"""


def child(tree: Path, files: tuple[str, str], a: float, k: float, repeats: int, one_thread: bool = False) -> dict:
    """One render process of `tree` (cwd and PYTHONPATH = tree, so `python -c` imports its package)."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1" if one_thread else os.environ.get("OMP_NUM_THREADS", ""))
    if not env["OMP_NUM_THREADS"]:
        del env["OMP_NUM_THREADS"]
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", _CHILD, files[0], files[1], repr(a), repr(k), str(repeats),
                          "one" if one_thread else "all"], env=env, capture_output=True, text=True, cwd=str(tree))
    if out.returncode != 0:
        raise RuntimeError(f"render child in {tree} failed: {out.stderr.strip().splitlines()[-1:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(res["module"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"child imported {res['module']}, not the tree under test {tree}")
    res["load1"] = round(load, 2)
    return res


def measure_row(key: str, files, a: float, k: float, trees: dict, rounds: int, repeats: int) -> dict:
    base_rss = child(trees["new"], files, a, k, 0)["vmhwm_kib"]
    runs: dict = {name: [] for name in trees}
    ratios = []
    one: dict = {name: [] for name in trees}
    for _ in range(rounds):
        for name in ("baseline", "new") if "baseline" in trees else ("new",):
            runs[name].append(child(trees[name], files, a, k, repeats))
            one[name].extend(child(trees[name], files, a, k, repeats, one_thread=True)["cpus"])
        if "baseline" in trees:
            ratios.append(float(np.median(runs["baseline"][-1]["walls"]) / np.median(runs["new"][-1]["walls"])))
    row: dict = {"focus": a, "k": k}
    for name, rs in runs.items():
        walls = [w for r in rs for w in r["walls"]]
        cpus = [c for r in rs for c in r["cpus"]]
        row[name] = {"wall_s_median": round(float(np.median(walls)), 4), "wall_s_min": round(float(min(walls)), 4),
                     "fps_median": round(1.0 / float(np.median(walls)), 2), "cpu_s_median": round(float(np.median(cpus)), 4),
                     "peak_mib_over_inputs": round((max(r["vmhwm_kib"] for r in rs) - base_rss) / 1024.0, 1),
                     "peak_rss_mib": round(max(r["vmhwm_kib"] for r in rs) / 1024.0, 1),
                     "load1_per_round": [r["load1"] for r in rs],
                     "one_thread_cpu_s_median": round(float(np.median(one[name])), 4)}
    if ratios:
        row["speedup_per_round"] = [round(r, 3) for r in ratios]
        row["speedup_median"] = round(float(np.median(ratios)), 3)
        row["cpu_ratio"] = round(row["baseline"]["cpu_s_median"] / row["new"]["cpu_s_median"], 3)
        row["one_thread_cpu_ratio"] = round(row["baseline"]["one_thread_cpu_s_median"]
                                            / row["new"]["one_thread_cpu_s_median"], 3)
    return row


def blender_row(img: np.ndarray, disp: np.ndarray, a: float, k: float, work: str) -> dict:
    import render_common as rc

    ok, why = rc.blender_available()
    if not ok:
        return {"available": False, "why": why}
    z_scale = rc.calibrate_blender_scale(work)
    ip, rp, op = (os.path.join(work, n) for n in ("b_img.exr", "b_r.exr", "b_out.exr"))
    rc.write_exr(ip, img)
    rc.write_exr(rp, np.abs(k * (disp - a)))
    H, W = disp.shape
    job = {"image": ip, "radius": rp, "out": op, "width": W, "height": H, "bokeh": "CIRCLE",
           "z_scale": z_scale, "blur_max": rf.LF_MAX_R * z_scale + 2}
    return {"available": True, "render_s": rc.run_blender([job], work)[op], "z_scale": z_scale}


def memory_4k(work: str, tree: Path) -> dict:
    import cv2

    img, disp, a, k = rf.lfbench_1080p()
    img4 = cv2.resize(img, (3840, 2160), interpolation=cv2.INTER_LINEAR)
    d4 = cv2.resize(disp, (3840, 2160), interpolation=cv2.INTER_NEAREST)
    files = (os.path.join(work, "img4k.npy"), os.path.join(work, "d4k.npy"))
    np.save(files[0], img4)
    np.save(files[1], d4)
    load = child(tree, files, a, 2 * k, 0)["vmhwm_kib"]
    run = child(tree, files, a, 2 * k, 1)
    return {"size": [3840, 2160], "max_radius_px": 2 * rf.LF_MAX_R, "wall_s": round(run["walls"][0], 3),
            "peak_mib_over_inputs": round((run["vmhwm_kib"] - load) / 1024.0, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline", default=str(REPO.parent / "base"),
                   help="checkout of the previous code (its genrefocus_video/ is imported); '' to skip")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--blender", action="store_true")
    p.add_argument("--4k", dest="fourk", action="store_true")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    trees = rf.trees_under_test(a.baseline)
    if trees is None:
        return 2
    work = tempfile.mkdtemp(prefix="render_speed_")
    frames = {"lf": rf.lfbench_1080p(a.seed), "real": rf.real_720p()}
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "python": platform.python_version(),
           "trees": {k: str(v) for k, v in trees.items()}, "loadavg_start": [round(v, 2) for v in os.getloadavg()],
           "rounds": a.rounds, "repeats": a.repeats, "rows": {}}
    for row, key in ROWS.items():
        img, disp, focus, k = frames[key]
        files = (os.path.join(work, f"{key}_img.npy"), os.path.join(work, f"{key}_disp.npy"))
        np.save(files[0], img)
        np.save(files[1], disp)
        r = measure_row(key, files, focus, k, trees, a.rounds, a.repeats)
        res["rows"][row] = r
        new = r["new"]
        line = (f"{row}: new {new['wall_s_median']:.3f} s ({new['fps_median']:.2f} frames/s, CPU {new['cpu_s_median']:.3f} s, "
                f"peak {new['peak_mib_over_inputs']:.0f} MiB over inputs, {new['peak_rss_mib']:.0f} MiB RSS)")
        if "baseline" in r:
            b = r["baseline"]
            line += (f"; baseline {b['wall_s_median']:.3f} s ({b['fps_median']:.2f} frames/s, CPU {b['cpu_s_median']:.3f} s, "
                     f"peak {b['peak_mib_over_inputs']:.0f} MiB); speed-up {r['speedup_median']:.2f}x "
                     f"(rounds {r['speedup_per_round']}), CPU ratio {r['cpu_ratio']:.2f}x, one-thread work "
                     f"{b['one_thread_cpu_s_median']:.3f} -> {new['one_thread_cpu_s_median']:.3f} s "
                     f"({r['one_thread_cpu_ratio']:.2f}x)")
        print(line + f"; load {new['load1_per_round']}", flush=True)
    if a.blender:
        img, disp, focus, k = frames["lf"]
        res["blender"] = b = blender_row(img, disp, focus, k, work)
        if b.get("available"):
            b["ratio_blender_over_new"] = round(b["render_s"] / res["rows"]["lfbench 1080p r24 disc"]["new"]["wall_s_median"], 1)
        print("Blender:", b, flush=True)
    if a.fourk:
        res["memory_4k"] = memory_4k(work, REPO)
        print("4K banded:", res["memory_4k"], flush=True)
    rf.finish_report(res, a.json)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

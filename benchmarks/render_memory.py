"""Working memory of the CPU renderer per frame: this checkout against the previous code (issue 17).

    .venv/bin/python benchmarks/render_memory.py [--baseline ../base] [--rounds 2] [--repeats 2]
        [--cases lf,real,heavy] [--json OUT]

Cases (frames built once by benchmarks/render_frames.py, saved as .npy, shared by every child):
* lf    — "lfbench 1080p r24 disc" of issue 17 (seed 7, GT disparity, max radius 24 px, edge matte on);
* real  — "real 720p K14 smooth depth" (RGB-D frame 0, disparity 0.2–1.2, K 14);
* heavy — the same real RGB-D frame at 1920×1080 focused on the far end (a 0.2) with K 30: a near
  subject blurred by up to 30 px over smooth depth, every layer of 0..30 px populated (the kind of
  frame that makes the 1080p end-to-end job's per-frame transient largest).

Each measurement is a fresh child process (PYTHONPATH = the tree under test) that renders the frame
once to warm up, then `repeats` times, each after a malloc_trim and a reset of the kernel's RSS
high-water mark (/proc/self/clear_refs 5): the figure is VmHWM − VmRSS before the render, i.e. the
resident memory the render adds on top of the inputs and the interpreter (what the 1080p job's
per-frame transient is). A second child per round measures tracemalloc's peak − current over one
render (numpy's and OpenCV's output arrays; not OpenCV's internal scratch buffers), and a checksum of
the output so the trees' outputs can be compared bit for bit. Trees alternate per round.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_frames as rf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HEAVY_FOCUS, HEAVY_K = 0.2, 30.0

_CHILD = r"""
import ctypes, hashlib, json, sys, tracemalloc
import numpy as np
img = np.load(sys.argv[1]); disp = np.load(sys.argv[2]); a = float(sys.argv[3]); k = float(sys.argv[4])
repeats, mode = int(sys.argv[5]), sys.argv[6]
from genrefocus_video import render_bokeh
libc = ctypes.CDLL("libc.so.6")
def status(key):
    return int([l.split()[1] for l in open("/proc/self/status") if l.startswith(key)][0])
out = render_bokeh(img, disp, a, k, "disc")
digest = hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()
del out
res = {"digest": digest, "rss_over_floor_mib": [], "traced_peak_mib": []}
for _ in range(repeats):
    libc.malloc_trim(0)
    if mode == "rss":
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        floor = status("VmRSS")
        out = render_bokeh(img, disp, a, k, "disc")
        res["rss_over_floor_mib"].append((status("VmHWM") - floor) / 1024.0)
    else:
        tracemalloc.start()
        cur0 = tracemalloc.get_traced_memory()[0]
        out = render_bokeh(img, disp, a, k, "disc")
        res["traced_peak_mib"].append((tracemalloc.get_traced_memory()[1] - cur0) / 2**20)
        tracemalloc.stop()
    del out
import genrefocus_video
res["module"] = genrefocus_video.__file__
print(json.dumps(res))
"""


def heavy_1080p() -> tuple[np.ndarray, np.ndarray, float, float]:
    """The real RGB-D frame at 1920×1080, focus on the far end, K 30 (radii 0–30 px, near subject)."""
    import cv2

    img, disp, _, _ = rf.real_720p(0)
    W, H = rf.LF_SIZE
    img = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
    disp = cv2.resize(disp, (W, H), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img), np.ascontiguousarray(disp), HEAVY_FOCUS, HEAVY_K


CASES = {"lf": ("lfbench 1080p r24 disc", lambda: rf.lfbench_1080p(7)),
         "real": ("real 720p K14 smooth depth", lambda: rf.real_720p(0)),
         "heavy": ("real frame 1080p, near subject, K30", heavy_1080p)}


def child(tree: Path, files, a: float, k: float, repeats: int, mode: str) -> dict:
    """One render process of `tree` (cwd and PYTHONPATH = tree)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", _CHILD, files[0], files[1], repr(a), repr(k), str(repeats), mode],
                         env=env, capture_output=True, text=True, cwd=str(tree))
    if out.returncode != 0:
        raise RuntimeError(f"render child in {tree} failed: {out.stderr.strip().splitlines()[-3:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(res["module"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"child imported {res['module']}, not the tree under test {tree}")
    res["load1"] = round(os.getloadavg()[0], 2)
    return res


def measure(files, a: float, k: float, trees: dict, rounds: int, repeats: int) -> dict:
    runs: dict = {name: {"rss": [], "traced": [], "digests": set(), "load1": []} for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            r = child(tree, files, a, k, repeats, "rss")
            t = child(tree, files, a, k, 1, "traced")
            runs[name]["rss"] += r["rss_over_floor_mib"]
            runs[name]["traced"] += t["traced_peak_mib"]
            runs[name]["digests"] |= {r["digest"], t["digest"]}
            runs[name]["load1"].append(r["load1"])
    row: dict = {"focus": a, "k": k}
    for name, v in runs.items():
        row[name] = {"rss_over_floor_mib_max": round(max(v["rss"]), 1),
                     "rss_over_floor_mib_median": round(float(np.median(v["rss"])), 1),
                     "traced_peak_mib": round(max(v["traced"]), 1), "load1": v["load1"],
                     "output_sha256": sorted(v["digests"])}
    if "baseline" in runs:
        row["identical_output"] = runs["baseline"]["digests"] == runs["new"]["digests"]
        row["rss_saved_mib"] = round(row["baseline"]["rss_over_floor_mib_median"] - row["new"]["rss_over_floor_mib_median"], 1)
        row["traced_saved_mib"] = round(row["baseline"]["traced_peak_mib"] - row["new"]["traced_peak_mib"], 1)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default=str(REPO.parent / "base"), help="checkout of the previous code; '' to skip")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--cases", default="lf,real,heavy")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    trees = rf.trees_under_test(a.baseline)
    if trees is None:
        return 2
    work = tempfile.mkdtemp(prefix="render_memory_")
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cpu_count": os.cpu_count(),
           "trees": {k: str(v) for k, v in trees.items()}, "loadavg_start": [round(v, 2) for v in os.getloadavg()],
           "rounds": a.rounds, "repeats": a.repeats, "rows": {}}
    for key in a.cases.split(","):
        name, build = CASES[key]
        img, disp, focus, k = build()
        files = (os.path.join(work, f"{key}_img.npy"), os.path.join(work, f"{key}_disp.npy"))
        np.save(files[0], img)
        np.save(files[1], disp)
        row = res["rows"][name] = measure(files, focus, k, trees, a.rounds, a.repeats)
        line = f"{name}: new RSS +{row['new']['rss_over_floor_mib_median']:.0f} MiB, traced {row['new']['traced_peak_mib']:.0f} MiB"
        if "baseline" in row:
            b = row["baseline"]
            line += (f"; baseline RSS +{b['rss_over_floor_mib_median']:.0f} MiB, traced {b['traced_peak_mib']:.0f} MiB; "
                     f"saved {row['rss_saved_mib']:.0f} / {row['traced_saved_mib']:.0f} MiB; identical {row['identical_output']}")
        print(line + f"; load {row['new']['load1']}", flush=True)
    rf.finish_report(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

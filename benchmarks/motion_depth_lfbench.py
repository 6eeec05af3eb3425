"""Motion depth (depth/motion.py) on lfbench clips: per-clip AbsRel, old vs new, and seconds/frame.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_lfbench.py --base ../base [--size 384x216]
      [--frames 24] [--seeds 1 2 3] [--speed-size 1280x720] [--json OUT]

Clips: tests/lfbench_motion_clips.py (pan, depth = subject moving in depth only, shake = handheld),
AIF + exact disparity rendered in memory with lfbench's Clip (K = 0, nothing written).
AbsRel per frame = mean |s Z_pred - Z_gt| / Z_gt over "measurable" pixels (GT d >= 0.1; the far
background at d < 0.1 is effectively at infinity for this parallax), Z = 1/d, s = median(Z_gt/Z_pred)
(scale-aligned, no shift); per clip the median over frames. Also: AbsRel on the subject (its own
motion is not the camera's), the subject's mean confidence vs the rest, and blockiness = spurious
gradient energy: mean |grad log d_pred| over pixels whose 5x5 GT neighbourhood is flat.
Each implementation runs in its own subprocess (`--base` points at another checkout, e.g. the
untouched original), one after the other, on the same clips.
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

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "tests"))
from lfbench_motion_clips import MOTIONS, absrel, blockiness, render_clip  # noqa: E402


def evaluate(npz: Path) -> dict:
    """Run this checkout's MotionDepthSource over one saved clip (called in a subprocess)."""
    sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord
    c = np.load(npz)
    aif, gt, subj = c["aif"], c["disparity"], c["subject"]
    n = len(aif)
    src = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < n else None)
    rows, t0 = [], time.perf_counter()
    for t in range(n):
        est = src.estimate(FrameRecord(Frame(t, aif[t])))
        g, s, conf = gt[t], subj[t], est.confidence
        rest = (~s) & (g >= 0.1)
        rows.append({"frame": t, "measurable": absrel(est.disparity, g, g >= 0.1),
                     "static": absrel(est.disparity, g, rest),
                     "subject": absrel(est.disparity, g, s),
                     "conf_subject": float(conf[s].mean()) if s.any() else float("nan"),
                     "conf_static": float(conf[rest].mean()) if rest.any() else float("nan"),
                     "blockiness": blockiness(est.disparity, g),
                     "fallback": est.notes.get("fallback")})
    return {"per_frame": rows, "seconds_per_frame": (time.perf_counter() - t0) / n}


def summarise(res: dict) -> dict:
    rows = res["per_frame"]
    med = {k: float(np.nanmedian([r[k] for r in rows])) for k in
           ("measurable", "static", "subject", "conf_subject", "conf_static", "blockiness")}
    med["worst_frame"] = float(np.nanmax([r["measurable"] for r in rows]))
    med["fallback_frames"] = sum(1 for r in rows if r["fallback"])
    med["seconds_per_frame"] = res["seconds_per_frame"]
    return med


def run_impl(checkout: Path, npz: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout.resolve()))
    out = subprocess.run([sys.executable, __file__, "--eval", str(npz)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval", help=argparse.SUPPRESS)
    p.add_argument("--base", default=str(REPO.parent / "base"), help="checkout to compare against")
    p.add_argument("--size", default="384x216")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--motions", nargs="+", default=list(MOTIONS), choices=MOTIONS)
    p.add_argument("--speed-size", default="1280x720", help="frame size of the seconds/frame run ('' = skip)")
    p.add_argument("--speed-frames", type=int, default=6)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.eval:
        print(json.dumps(evaluate(Path(a.eval))))
        return 0
    impls = {"old": Path(a.base), "new": REPO}
    work = Path(tempfile.mkdtemp(prefix="motion_bench_"))
    size = tuple(int(v) for v in a.size.split("x"))
    report = {"clips": [], "size": a.size, "frames": a.frames}
    for seed in a.seeds:
        for motion in a.motions:
            npz = work / f"{motion}_{seed}.npz"
            np.savez(npz, **render_clip(seed, size, a.frames, motion))
            row = {"seed": seed, "motion": motion}
            for name, path in impls.items():
                row[name] = summarise(run_impl(path, npz))
            report["clips"].append(row)
            o, n = row["old"], row["new"]
            print(f"seed {seed} {motion:6s} AbsRel old {o['measurable']:.3f} new {n['measurable']:.3f} | static "
                  f"{o['static']:.3f}/{n['static']:.3f} subject {o['subject']:.3f}/{n['subject']:.3f} | conf subj/static "
                  f"new {n['conf_subject']:.2f}/{n['conf_static']:.2f} | blocky {o['blockiness']:.3f}/{n['blockiness']:.3f}"
                  f" | fallback {o['fallback_frames']}/{n['fallback_frames']}", flush=True)
            npz.unlink()
    for name in impls:
        report[f"median_{name}"] = float(np.median([r[name]["measurable"] for r in report["clips"]]))
    print(f"median over clips: old {report['median_old']:.3f} new {report['median_new']:.3f}")
    if a.speed_size:
        ssize = tuple(int(v) for v in a.speed_size.split("x"))
        npz = work / "speed.npz"
        np.savez(npz, **render_clip(1, ssize, a.speed_frames, "shake"))
        sp = {name: run_impl(path, npz)["seconds_per_frame"] for name, path in impls.items()}
        sp["ratio"] = sp["new"] / sp["old"]
        report["speed"] = {"size": a.speed_size, **sp}
        print(f"seconds/frame at {a.speed_size}: old {sp['old']:.2f} new {sp['new']:.2f} ratio {sp['ratio']:.2f}")
        npz.unlink()
    report["load_average"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

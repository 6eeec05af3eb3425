"""Motion depth (depth/motion.py) on lfbench clips: per-clip AbsRel, old vs new, pyramid vs full
resolution, and seconds/frame at 720p as a ratio against the old code run interleaved.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_lfbench.py --base ../base [--size 384x216]
      [--frames 24] [--seeds 1 2 3] [--heldout 4 5 6] [--pyramid-size 768x432] [--pyramid-frames 12]
      [--speed-size 1280x720] [--speed-rounds 2] [--json OUT]

Clips: tests/lfbench_motion_clips.py (pan, depth = subject moving in depth only, shake = handheld),
AIF + exact disparity rendered in memory with lfbench's Clip (K = 0, nothing written).
AbsRel per frame = mean |s Z_pred - Z_gt| / Z_gt over "measurable" pixels (GT d >= 0.1; the far
background at d < 0.1 is effectively at infinity for this parallax), Z = 1/d, s = median(Z_gt/Z_pred)
(scale-aligned, no shift); per clip the median over frames. Also: AbsRel on the subject (its own
motion is not the camera's), the subject's mean confidence vs the rest, and blockiness = spurious
gradient energy: mean |grad log d_pred| over pixels whose 5x5 GT neighbourhood is flat.
"constant" = the AbsRel of a constant disparity map on the same pixels: what the metric gives for
no depth information at all (the scene's own depth spread), the reference every estimate must beat.
Seeds are reported in two groups: --seeds (the ones the estimator was tuned on) and --heldout.
Pyramid: on --pyramid-size clips (wider than the source's work_width, 640 px) the new code runs
at full resolution (work_width 0) and at its default pyramid level (half size), same clips.
Each implementation runs in its own subprocess (`--base` points at another checkout, e.g. the
untouched original), one after the other, on the same clips; the speed runs alternate old, new,
old, new ... (`--speed-rounds`) and the ratio is that of the medians; `uptime` load is recorded.
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


def evaluate(npz: Path, kwargs: dict) -> dict:
    """Run this checkout's MotionDepthSource over one saved clip (called in a subprocess)."""
    sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord
    c = np.load(npz)
    aif, gt, subj = c["aif"], c["disparity"], c["subject"]
    n = len(aif)
    src = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < n else None, **kwargs)
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
                     "constant": absrel(np.ones_like(g), g, g >= 0.1),
                     "fallback": est.notes.get("fallback")})
    return {"per_frame": rows, "seconds_per_frame": (time.perf_counter() - t0) / n}


def summarise(res: dict) -> dict:
    rows = res["per_frame"]
    med = {k: float(np.nanmedian([r[k] for r in rows])) for k in
           ("measurable", "static", "subject", "conf_subject", "conf_static", "blockiness", "constant")}
    med["worst_frame"] = float(np.nanmax([r["measurable"] for r in rows]))
    med["fallback_frames"] = sum(1 for r in rows if r["fallback"])
    med["seconds_per_frame"] = res["seconds_per_frame"]
    return med


def run_impl(checkout: Path, npz: Path, kwargs: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout.resolve()))
    out = subprocess.run([sys.executable, __file__, "--eval", str(npz), "--kwargs", json.dumps(kwargs or {})],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def clip_rows(seeds: list, motions: list, size: tuple, frames: int, work: Path, impls: dict) -> list:
    """One row per (seed, motion): each implementation's summary (impls: name -> (checkout, kwargs))."""
    rows = []
    for seed in seeds:
        for motion in motions:
            npz = work / f"{motion}_{seed}.npz"
            np.savez(npz, **render_clip(seed, size, frames, motion))
            row = {"seed": seed, "motion": motion}
            for name, (path, kw) in impls.items():
                row[name] = summarise(run_impl(path, npz, kw))
            rows.append(row)
            a, b = (row[k] for k in impls)
            print(f"{size[0]}x{size[1]} seed {seed} {motion:6s} AbsRel {' / '.join(impls)} {a['measurable']:.3f} / "
                  f"{b['measurable']:.3f} (constant map {b['constant']:.3f}) | static {a['static']:.3f}/{b['static']:.3f}"
                  f" subject {a['subject']:.3f}/{b['subject']:.3f} | conf subj/static {b['conf_subject']:.2f}/"
                  f"{b['conf_static']:.2f} | blocky {a['blockiness']:.3f}/{b['blockiness']:.3f} | fallback "
                  f"{a['fallback_frames']}/{b['fallback_frames']} | s/frame {a['seconds_per_frame']:.2f}/"
                  f"{b['seconds_per_frame']:.2f}", flush=True)
            npz.unlink()
    return rows


def medians(rows: list, names) -> dict:
    return {n: float(np.median([r[n]["measurable"] for r in rows])) for n in names} | \
        {"constant": float(np.median([r[list(names)[-1]]["constant"] for r in rows]))}


def speed(a, work: Path, impls: dict) -> dict:
    """Seconds per frame at --speed-size, old and new alternating; ratio of the medians."""
    ssize = tuple(int(v) for v in a.speed_size.split("x"))
    npz = work / "speed.npz"
    np.savez(npz, **render_clip(1, ssize, a.speed_frames, "shake"))
    runs: dict = {name: [] for name in impls}
    load = [os.getloadavg()]
    for _ in range(a.speed_rounds):
        for name, (path, kw) in impls.items():
            runs[name].append(run_impl(path, npz, kw)["seconds_per_frame"])
        load.append(os.getloadavg())
    npz.unlink()
    sp = {"size": a.speed_size, "frames": a.speed_frames, "runs": runs, "load_average": load}
    sp.update({name: float(np.median(v)) for name, v in runs.items()})
    sp["ratio"] = sp["new"] / sp["old"]
    print(f"seconds/frame at {a.speed_size}: old {runs['old']} new {runs['new']} -> ratio of medians "
          f"{sp['ratio']:.3f}; load {load}")
    return sp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval", help=argparse.SUPPRESS)
    p.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--base", default=str(REPO.parent / "base"), help="checkout to compare against")
    p.add_argument("--size", default="384x216")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3], help="seeds the estimator was tuned on")
    p.add_argument("--heldout", type=int, nargs="*", default=[4, 5, 6], help="seeds not looked at while tuning")
    p.add_argument("--motions", nargs="+", default=list(MOTIONS), choices=MOTIONS)
    p.add_argument("--pyramid-size", default="768x432", help="clip size of the pyramid-vs-full run ('' = skip)")
    p.add_argument("--pyramid-frames", type=int, default=12)
    p.add_argument("--pyramid-seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--speed-size", default="1280x720", help="frame size of the seconds/frame run ('' = skip)")
    p.add_argument("--speed-frames", type=int, default=6)
    p.add_argument("--speed-rounds", type=int, default=2)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.eval:
        print(json.dumps(evaluate(Path(a.eval), json.loads(a.kwargs))))
        return 0
    impls = {"old": (Path(a.base), {}), "new": (REPO, {})}
    work = Path(tempfile.mkdtemp(prefix="motion_bench_"))
    size = tuple(int(v) for v in a.size.split("x"))
    report: dict = {"size": a.size, "frames": a.frames, "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                    "load_average_start": os.getloadavg()}
    for group, seeds in (("clips", a.seeds), ("heldout", a.heldout)):
        if seeds:
            report[group] = clip_rows(seeds, a.motions, size, a.frames, work, impls)
            report[f"median_{group}"] = medians(report[group], impls)
            print(f"median over {group}: {report[f'median_{group}']}", flush=True)
    if a.pyramid_size:
        psize = tuple(int(v) for v in a.pyramid_size.split("x"))
        pyr = {"full": (REPO, {"work_width": 0}), "pyramid": (REPO, {})}
        report["pyramid"] = clip_rows(a.pyramid_seeds, a.motions, psize, a.pyramid_frames, work, pyr)
        report["median_pyramid"] = medians(report["pyramid"], pyr)
        print(f"median pyramid vs full at {a.pyramid_size}: {report['median_pyramid']}", flush=True)
    if a.speed_size:
        report["speed"] = speed(a, work, impls)
    report["load_average"] = os.getloadavg()
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Motion depth (depth/motion.py) on lfbench clips: per-clip AbsRel, old vs new, and seconds/frame.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_lfbench.py --base ../base [--size 384x216]
      [--frames 24] [--seeds 1 2 3] [--speed-size 1280x720] [--json OUT]

Clips (AIF + exact disparity rendered in memory with lfbench's Clip, K = 0, nothing written):
  pan    lfbench's own camera (a lateral pan of +-5 % of the width per unit disparity plus a vertical
         arc) and its subject walking toward the camera while drifting sideways;
  depth  the same without the subject's sideways drift (it moves in depth only);
  shake  handheld: the pan plus a per-frame random jitter of the camera (std 1.5 px per unit
         disparity per axis, a new draw every frame) — the subject as in `pan`.
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
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
MOTIONS = ("pan", "depth", "shake")


def render_clip(seed: int, size: tuple[int, int], frames: int, motion: str) -> dict:
    """AIF frames (linear RGB float32), GT disparity and subject masks of one lfbench clip."""
    sys.path.insert(0, str(SHARED / "lfbench"))
    from lfbench.render import layer_maps, render_view
    from lfbench.video import SUBJECT_UID, Clip

    class ShakyClip(Clip):
        """lfbench's pan plus handheld jitter (a new random offset every frame)."""

        def camera(self, t: int) -> tuple:
            x, y = super().camera(t)
            r = np.random.default_rng(seed * 1000 + t)
            jx, jy = 1.5 * r.standard_normal(2)
            return x + jx, y + jy

    cls = ShakyClip if motion == "shake" else Clip
    # k only sets the margin the layers are rendered with (K = 0 frames need none): room for the shake
    clip = cls(seed, size[0], size[1], frames, 8.0, "follow", None, drift=motion != "depth")
    aif, disp, subj = [], [], []
    for t in range(frames):
        layers = clip.layers(t)
        aif.append(render_view(layers, size).astype(np.float32))
        d, front, _ = layer_maps(layers, size)
        disp.append(d.astype(np.float32))
        subj.append(front == SUBJECT_UID)
    return {"aif": np.stack(aif), "disparity": np.stack(disp), "subject": np.stack(subj)}


def absrel(d_pred: np.ndarray, d_gt: np.ndarray, mask: np.ndarray) -> float:
    if mask.sum() < 16:
        return float("nan")
    z, zg = 1.0 / np.maximum(d_pred[mask], 1e-6), 1.0 / d_gt[mask]
    s = np.median(zg / z)
    return float(np.mean(np.abs(s * z - zg) / zg))


def blockiness(d_pred: np.ndarray, d_gt: np.ndarray) -> float:
    """Mean |grad log d_pred| (per px) where the GT is flat in a 5x5 window and measurable."""
    import cv2
    lg = np.log(np.maximum(d_gt, 1e-3)).astype(np.float32)
    flat = (cv2.dilate(lg, np.ones((5, 5))) - cv2.erode(lg, np.ones((5, 5))) < 1e-3) & (d_gt >= 0.1)
    lp = np.log(np.maximum(d_pred, 1e-4)).astype(np.float32)
    gx, gy = cv2.Sobel(lp, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(lp, cv2.CV_32F, 0, 1, ksize=3) / 8
    return float(np.mean(np.hypot(gx, gy)[flat])) if flat.any() else float("nan")


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

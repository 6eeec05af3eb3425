"""Relative learned depth over time, and what sanitising an estimate costs.

    PYTHONPATH=. .venv/bin/python benchmarks/depth_learned_align.py [--seeds 1 2 3] [--noise-seeds 0 1 2]

1. Alignment accuracy (no weights needed: the model's error is simulated). lfbench clips (layered
   light-field scenes with EXACT per-frame disparity, a subject walking toward the camera, lateral
   camera motion; 384x216, 24 frames, one clip per --seeds) stand in for the truth G_t. Each frame
   is observed as a relative model outputs it: s_t (G_t + n_t) + b_t, with a per-frame scale
   s_t = exp(U(-0.35, 0.35)), shift b_t = U(-0.15, 0.15) x the clip's disparity range and i.i.d.
   pixel noise n_t of 2 % of the range (one noise draw per --noise-seeds). Methods: per-frame
   normalisation only (90th percentile = 1), the source's TemporalAffineAligner at its default
   memory (0.9) and fully chained (memory 1). Scores, against the truth:
   * scale jitter: std/mean over frames of the per-frame least-squares scale (output vs truth) —
     the flicker a single K turns into blur flicker;
   * one-map error: RMS residual after ONE affine map fitted over the whole clip, / the range —
     what a user who sets one K and one focus sees; the per-frame oracle (a separate exact affine
     fit every frame) is the floor the pixel noise leaves.
2. Cost of sanitising one estimate (depth.sanitise.sanitise_disparity) and of one alignment step,
   1280x720 and 1920x1080, as ratios to a classical render of the same frame (render_bokeh, disc,
   max blur 16 px) timed interleaved in the same session. Median of --repeats.
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

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LFBENCH = REPO.parent / "shared" / "lfbench"
sys.path.insert(0, str(REPO))

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.depth.learned_source import TemporalAffineAligner, normalise_relative  # noqa: E402
from genrefocus_video.depth.sanitise import sanitise_disparity  # noqa: E402


def make_clip(seed: int, out: Path) -> list[np.ndarray]:
    subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", str(seed), "--size", "384x216",
                    "--frames", "24", "--track", "follow", "--k", "6", "--out", str(out)], cwd=LFBENCH, check=True,
                   capture_output=True)
    return [np.load(out / "disparity" / f"{t:04d}.npy").astype(np.float32) for t in range(24)]


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return tuple(np.polyfit(x.ravel().astype(np.float64), y.ravel().astype(np.float64), 1))


def scores(outputs: list[np.ndarray], truth: list[np.ndarray], rng_: float) -> dict:
    scales = np.array([_fit(g, o)[0] for o, g in zip(outputs, truth)])
    a, b = _fit(np.concatenate([o.ravel() for o in outputs]), np.concatenate([g.ravel() for g in truth]))
    resid = np.sqrt(np.mean(np.concatenate([(a * o + b - g).ravel() ** 2 for o, g in zip(outputs, truth)])))
    return {"scale_jitter": float(np.std(scales) / abs(np.mean(scales))), "one_map_rms": float(resid / rng_)}


def alignment(truth: list[np.ndarray], noise_seed: int) -> dict:
    rng = np.random.default_rng(noise_seed)
    lo, hi = np.percentile(np.stack(truth), [1, 99])
    r = float(hi - lo)
    obs = [float(np.exp(rng.uniform(-0.35, 0.35))) * (g + rng.normal(0, 0.02 * r, g.shape).astype(np.float32))
           + float(rng.uniform(-0.15, 0.15)) * r for g in truth]
    per_frame = [normalise_relative(o) for o in obs]
    default, chained = TemporalAffineAligner(), TemporalAffineAligner(memory=1.0)
    out = {"per-frame normalisation": scores(per_frame, truth, r),
           "aligned, memory 0.9 (default)": scores([default(o)[0] for o in obs], truth, r),
           "aligned, memory 1 (chained)": scores([chained(o)[0] for o in obs], truth, r)}
    oracle = [np.sqrt(np.mean((np.polyval(_fit(o, g), o) - g) ** 2)) / r for o, g in zip(obs, truth)]
    out["per-frame oracle"] = {"scale_jitter": 0.0, "one_map_rms": float(np.mean(oracle))}
    return out


def _median_time(fn, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return float(np.median(walls))


def costs(truth: np.ndarray, repeats: int) -> dict:
    res = {}
    for w, h in ((1280, 720), (1920, 1080)):
        g = cv2.resize(truth, (w, h), interpolation=cv2.INTER_NEAREST)
        rng = np.random.default_rng(0)
        est = (g + rng.normal(0, 0.01, g.shape)).astype(np.float32)
        idx = rng.choice(est.size, est.size // 10000, replace=False)  # 0.01 % wild pixels
        est.ravel()[idx] = 107.7
        conf = np.full(est.shape, 0.5, np.float32)
        img = rng.random((h, w, 3)).astype(np.float32)
        a = 0.5
        k = 16.0 / float(np.abs(g - a).max())
        aligner = TemporalAffineAligner()
        aligner(est)
        t_render, t_san, t_align = [], [], []
        for _ in range(repeats):  # interleaved: load hits all three alike
            t_render.append(_median_time(lambda: render_bokeh(img, g, a, k), 1))
            t_san.append(_median_time(lambda: sanitise_disparity(est, conf), 1))
            t_align.append(_median_time(lambda: aligner(est), 1))
        r, s, al = (float(np.median(v)) for v in (t_render, t_san, t_align))
        res[f"{w}x{h}"] = {"render_s": r, "sanitise_s": s, "align_s": al,
                           "sanitise_vs_render": s / r, "align_vs_render": al / r}
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--noise-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the JSON here too")
    args = ap.parse_args()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor() or
                    platform.machine(), "cpus": os.cpu_count(), "load": os.getloadavg()[0], "alignment": {}}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {s: make_clip(s, Path(tmp) / f"seed{s}") for s in args.seeds}
    for s, truth in clips.items():
        for n in args.noise_seeds:
            report["alignment"][f"seed {s}, noise {n}"] = alignment(truth, n)
    report["cost"] = costs(clips[args.seeds[0]][12], args.repeats)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

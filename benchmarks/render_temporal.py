"""Temporal stability of the bokeh renderer itself: lfbench clips rendered with GROUND-TRUTH depth.

    .venv/bin/python benchmarks/render_temporal.py [--size 384x216] [--frames 24] [--keep DIR] [--json OUT]

Two lfbench clips (`video --track follow --k 8` and `video --track rack --k 16`, seed 3, disc) are
rendered with `render_bokeh` from their AIF frames, GT disparity and the clip's own focus track
(meta.json `focus_track`) and scored with lfbench.metrics score-video (mean PSNR / SSIM per frame,
temporal instability = mean |(warp(pred₊₁) − pred) − (warp(gt₊₁) − gt)| along the GT flow; 0 for
the GT). With perfect depth every bit of instability is the renderer's own. Each clip is rendered
in the same process with each layer plan (render option `layer_grid`, render/plan.py):
"adaptive" (the plan before 2026-11-26: layers spaced evenly between the frame's extreme blur
radii), "lattice" (t ∈ ℤ only) and "anchored" (the default: the lattice anchored at r = 0 plus the
frame's extreme radii). It also reports which share of the instability lies within 6 px of a
depth discontinuity (GT disparity jump), where the renderer's occlusion approximation acts.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_common as rc  # noqa: E402,F401  (puts lfbench and the repo on sys.path)

from genrefocus_video import render_bokeh  # noqa: E402

GRIDS = ("adaptive", "lattice", "anchored")
CLIPS = {"follow_k8": ("follow", 8), "rack_k16": ("rack", 16)}


def make_clip(out: Path, size: str, frames: int, track: str, k: float, seed: int) -> Path:
    if not (out / "meta.json").exists():
        subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", str(seed), "--size", size,
                        "--frames", str(frames), "--fps", "24", "--track", track, "--k", str(k),
                        "--shape", "disc", "--out", str(out)],
                       cwd=rc.SHARED / "lfbench", check=True, capture_output=True)
    return out


def render_and_score(clip: Path, grid: str, work: Path) -> dict:
    from lfbench.io import read_float
    from lfbench.metrics import cmd_score_video

    meta = json.loads((clip / "meta.json").read_text())
    folder = work / f"{clip.name}_{grid}"
    folder.mkdir(parents=True, exist_ok=True)
    t_render = 0.0
    for t in range(int(meta["frames"])):
        aif = read_float(str(clip / "aif" / f"{t:04d}.exr")).astype(np.float32)
        disp = np.load(clip / "disparity" / f"{t:04d}.npy").astype(np.float32)
        t0 = time.perf_counter()
        out = render_bokeh(aif, disp, float(meta["focus_track"][t]), float(meta["k"]), "disc", layer_grid=grid)
        t_render += time.perf_counter() - t0
        np.save(folder / f"{t:04d}.npy", out)
    res = cmd_score_video(SimpleNamespace(gt=str(clip), pred=str(folder), radius=None))
    near = edge_share(clip, folder, int(meta["frames"]))
    return {"edge_share": near,"psnr": res["mean"]["psnr"], "ssim": res["mean"]["ssim"],
            "boundary_psnr": res["mean"].get("boundary_psnr"),
            "instability": res["temporal_instability"], "render_s_per_frame": t_render / int(meta["frames"])}


def edge_share(clip: Path, pred: Path, frames: int) -> float:
    """Share of the temporal instability (as lfbench computes it) within 6 px of a depth edge."""
    import cv2
    from lfbench.io import read_float, srgb_encode

    def enc(x):
        return np.clip(srgb_encode(x), 0, 1)

    num = den = 0.0
    prev_p = prev_g = None
    for t in range(frames):
        p = enc(np.load(pred / f"{t:04d}.npy"))
        g = enc(read_float(str(clip / "gt" / f"{t:04d}.exr")))
        if t > 0:
            f = np.load(clip / "flow" / f"{t - 1:04d}.npy")
            valid = cv2.imread(str(clip / "flow" / f"{t - 1:04d}_valid.png"), cv2.IMREAD_GRAYSCALE) > 0
            H, W = f.shape[:2]
            yy, xx = np.mgrid[:H, :W].astype(np.float32)
            mx, my = xx + f[..., 0], yy + f[..., 1]
            warp = lambda im: cv2.remap(im, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # noqa: E731
            e = np.abs((warp(p) - prev_p) - (warp(g) - prev_g)).mean(-1)
            d = np.load(clip / "disparity" / f"{t - 1:04d}.npy").astype(np.float32)
            jump = cv2.morphologyEx(d, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0.01
            near = cv2.dilate(jump.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
            num += float(e[valid & near].sum())
            den += float(e[valid].sum())
        prev_p, prev_g = p, g
    return num / max(den, 1e-12)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="384x216")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--keep", help="folder for the generated clips (reused when present)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clips_dir = Path(args.keep) if args.keep else Path(tmp) / "clips"
        report = {"size": args.size, "frames": args.frames, "seed": args.seed, "clips": {}}
        for name, (track, k) in CLIPS.items():
            clip = make_clip(clips_dir / f"{name}_{args.size}_{args.frames}_s{args.seed}", args.size, args.frames,
                             track, k, args.seed)
            rows = {grid: render_and_score(clip, grid, Path(tmp) / "pred") for grid in GRIDS}
            report["clips"][name] = rows
            for grid, r in rows.items():
                print(f"{name:10s} {grid:9s} PSNR {r['psnr']:.2f}  SSIM {r['ssim']:.4f}  "
                      f"instability {r['instability']:.5f} ({100 * r['edge_share']:.0f}% near depth edges)  render {r['render_s_per_frame']:.3f} s/frame", flush=True)
            for grid in GRIDS[1:]:
                ratio = rows[grid]["instability"] / rows["adaptive"]["instability"]
                print(f"{name:10s} instability {grid} / adaptive = {ratio:.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

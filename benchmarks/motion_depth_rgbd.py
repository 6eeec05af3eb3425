"""Motion depth on the real RGB-D clip (../shared/data/rgbd_open3d, 5 handheld 640x480 frames):
scale-aligned AbsRel of MotionDepthSource's raw estimate against the sensor depth, every frame,
this checkout vs another (`--base`), with the default focal length and with the sensor's (525 px).

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_rgbd.py --base ../base

Unlike benchmarks/depth_source_previews.py (frame 2 of the CLI's used disparity, after the
pipeline's smoothing), this scores the source itself, so it isolates the estimator. Frames are
decoded sRGB -> linear light as the CLI does; sensor holes (0) are excluded.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RGBD = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared")) / "data" / "rgbd_open3d"


def _linear(path: Path) -> np.ndarray:
    """sRGB 8-bit file -> linear-light float32 RGB (the IEC 61966-2-1 curve)."""
    x = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _absrel(d: np.ndarray, index: int) -> float:
    """Scale-aligned AbsRel in depth against the sensor (median scale, holes excluded)."""
    z = cv2.imread(str(RGBD / "depth" / f"{index:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
    ok = z > 0
    zp = 1.0 / np.maximum(d[ok], 1e-6)
    return float(np.mean(np.abs(np.median(z[ok] / zp) * zp - z[ok]) / z[ok]))


def evaluate(focal: float | None) -> list[float]:
    """Per-frame AbsRel of this process's MotionDepthSource (PYTHONPATH picks the checkout)."""
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord
    frames = [_linear(p) for p in sorted((RGBD / "color").glob("*.jpg"))]
    src = MotionDepthSource(focal_px=focal, frame_lookup=lambda i: frames[i] if 0 <= i < len(frames) else None)
    return [_absrel(src.estimate(FrameRecord(Frame(t, f))).disparity, t) for t, f in enumerate(frames)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=str(REPO.parent / "base"))
    p.add_argument("--eval", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.eval is not None:
        print(json.dumps(evaluate(float(a.eval) if a.eval else None)))
        return
    for focal in ("", "525"):
        for name, checkout in (("old", Path(a.base)), ("new", REPO)):
            env = dict(os.environ, PYTHONPATH=str(checkout.resolve()))
            out = subprocess.run([sys.executable, __file__, "--eval", focal], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            errs = json.loads(out)
            print(f"focal {focal or 'default':7s} {name}: per frame {' '.join(f'{e:.3f}' for e in errs)}"
                  f"  median {np.median(errs):.3f}", flush=True)


if __name__ == "__main__":
    main()

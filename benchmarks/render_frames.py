"""The two frames of issue 17's renderer rows, built the same way in every benchmark that times them.

* `lfbench_1080p(seed)`: an lfbench scene (../shared/lfbench) at 1920×1080, AIF + GT disparity
  (piecewise constant), focus a = 0.5, K such that the largest blur radius is 24 px. Seed 7 is
  not used by any tuning benchmark (render_quality.py scores seeds 1–10 at 320×240, render_speed.py
  seed 1): the issue asks for an unseen seed.
* `real_720p(index)`: a real RGB-D frame (../shared/data/rgbd_open3d, colour JPEG + 16-bit depth in
  mm, MIT licence) resized to 1280×720, colour linearised, disparity = 1/depth with the holes
  (0 = no measurement) filled from their neighbours, smoothed and mapped linearly onto 0.2–1.2
  (smooth continuous depth: every layer populated), focus a = 0.7, K 14 (radii up to 7 px: every
  layer at full resolution, the renderer's worst case per pixel).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))

LF_SIZE = (1920, 1080)
LF_MAX_R = 24.0
LF_FOCUS = 0.5
REAL_SIZE = (1280, 720)
REAL_K = 14.0
REAL_FOCUS = 0.2


def lfbench_1080p(seed: int = 7) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(image H×W×3 linear float32, disparity H×W float32, focus a, K)."""
    import sys

    if str(SHARED / "lfbench") not in sys.path:
        sys.path.insert(0, str(SHARED / "lfbench"))
    from lfbench.render import layer_maps, render_view
    from lfbench.scene import build_scene

    W, H = LF_SIZE
    scene = build_scene(seed, W, H, 8)
    img = render_view(scene.layers, (W, H)).astype(np.float32)
    disp = layer_maps(scene.layers, (W, H))[0].astype(np.float32)
    k = LF_MAX_R / float(np.abs(disp - LF_FOCUS).max())
    return np.ascontiguousarray(img), np.ascontiguousarray(disp), LF_FOCUS, k


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def real_720p(index: int = 0) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(image, disparity 0.2–1.2, focus a, K) from the real RGB-D frame `index` (0–4)."""
    import cv2

    root = SHARED / "data" / "rgbd_open3d"
    bgr = cv2.imread(str(root / "color" / f"{index:05d}.jpg"), cv2.IMREAD_COLOR)
    depth = cv2.imread(str(root / "depth" / f"{index:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
    if bgr is None or depth is None:
        raise FileNotFoundError(f"{root}: RGB-D frame {index} not readable")
    W, H = REAL_SIZE
    rgb = _srgb_to_linear(cv2.resize(bgr[..., ::-1], (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255)
    valid = depth > 0
    disp = np.zeros_like(depth)
    disp[valid] = 1000.0 / depth[valid]  # 1/m
    # fill holes by normalised convolution, then smooth: a continuous disparity field
    w = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), 8)
    f = cv2.GaussianBlur(disp, (0, 0), 8) / np.maximum(w, 1e-6)
    disp = np.where(valid, disp, f)
    disp = cv2.GaussianBlur(disp, (0, 0), 2)
    disp = cv2.resize(disp, (W, H), interpolation=cv2.INTER_LINEAR)
    lo, hi = np.percentile(disp, [0.5, 99.5])
    disp = 0.2 + np.clip((disp - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.ascontiguousarray(np.clip(rgb, 0, None)), disp.astype(np.float32), REAL_FOCUS, REAL_K


def trees_under_test(baseline: str) -> dict | None:
    """{"baseline": the previous code's checkout (if given), "new": this checkout}, or None (after
    saying why) when `baseline` holds no genrefocus_video/ package."""
    trees: dict = {}
    if baseline:
        if not (Path(baseline) / "genrefocus_video").is_dir():
            print(f"--baseline {baseline}: no genrefocus_video/ there (expected a checkout of the previous code)")
            return None
        trees["baseline"] = Path(baseline).resolve()
    trees["new"] = REPO
    return trees


def finish_report(res: dict, path: str | None) -> None:
    """Record the load average at the end and write the results as JSON to `path` (if given)."""
    import json

    res["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    if path:
        with open(path, "w") as f:
            json.dump(res, f, indent=1)

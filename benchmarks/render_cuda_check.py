"""CUDA check of the bokeh renderer: torch-on-GPU output vs the numpy CPU path, and GPU timings.

    .venv/bin/python benchmarks/render_cuda_check.py [--sizes 1920x1080,3840x2160] [--repeats 5]

Prints one JSON object. Without CUDA it prints {"cuda": false, ...} and exits 0 (nothing to check).
For each size it builds a synthetic scene (smooth texture, ~200 HDR point lights, cards at several
depths, a depth ramp; self-contained, so it needs no ../shared), renders it with
backend="numpy" (CPU) and backend="torch", device="cuda", for the disc and the heart, at a max
blur radius of 24 px, and reports max / mean absolute difference (linear light) and the GPU time
per frame (median of `repeats`, after one warm-up; host<->device copies included). It exits 1
if a difference exceeds the tolerance (mean 1e-4, max 5e-2 — float32 FFT vs direct convolution on
HDR values up to 50).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genrefocus_video import render_bokeh  # noqa: E402


def synthetic_scene(W: int, H: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((H // 16 + 1, W // 16 + 1, 3), dtype=np.float32)
    img = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC) * 0.6
    img += rng.random((H, W, 3), dtype=np.float32) * 0.1
    yy, xx = np.mgrid[:H, :W]
    disp = (0.05 + 0.1 * xx / W).astype(np.float32)  # background ramp
    for j in range(6):
        cx, cy = rng.integers(0, W), rng.integers(0, H)
        rad = rng.integers(H // 12, H // 4)
        m = (xx - cx) ** 2 + (yy - cy) ** 2 < rad * rad
        disp[m] = 0.2 + 0.13 * j
        img[m] = rng.random(3).astype(np.float32) * 0.8
    n = 200
    ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
    img[ys, xs] = rng.uniform(10, 50, (n, 1)).astype(np.float32)
    return np.clip(img, 0, None).astype(np.float32), disp


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--shapes", default="disc,heart")
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(json.dumps({"cuda": False, "reason": "torch not importable"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"cuda": False, "reason": "torch.cuda.is_available() is False"}))
        return 0
    result = {"cuda": True, "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "cases": []}
    ok = True
    for size in a.sizes.split(","):
        W, H = (int(v) for v in size.split("x"))
        img, disp = synthetic_scene(W, H)
        focus = 0.5
        k = 24.0 / float(np.abs(disp - focus).max())
        for shape in a.shapes.split(","):
            t0 = time.perf_counter()
            ref = render_bokeh(img, disp, focus, k, shape, backend="numpy", device="cpu")
            t_cpu = time.perf_counter() - t0
            render_bokeh(img, disp, focus, k, shape, device="cuda")  # warm-up (kernels, cuDNN)
            times = []
            for _ in range(a.repeats):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = render_bokeh(img, disp, focus, k, shape, device="cuda")
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            torch.cuda.reset_peak_memory_stats()
            render_bokeh(img, disp, focus, k, shape, device="cuda")
            peak = torch.cuda.max_memory_allocated() / 2 ** 20
            diff = np.abs(out - ref)
            case = {"size": size, "shape": shape, "max_radius_px": 24.0, "cpu_numpy_s": round(t_cpu, 3),
                    "cuda_s_median": round(float(np.median(times)), 4),
                    "cuda_fps": round(1.0 / float(np.median(times)), 2),
                    "speedup_vs_cpu": round(t_cpu / float(np.median(times)), 1),
                    "cuda_peak_mem_mib": round(peak, 1),
                    "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
            case["ok"] = bool(case["mean_abs_diff"] < 1e-4 and case["max_abs_diff"] < 5e-2)
            ok &= case["ok"]
            result["cases"].append(case)
    result["all_ok"] = bool(ok)
    print(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

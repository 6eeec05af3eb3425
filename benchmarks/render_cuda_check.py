"""CUDA check of the bokeh renderer: torch-on-GPU output vs the numpy CPU path, and GPU timings.

    .venv/bin/python benchmarks/render_cuda_check.py [--sizes 1920x1080,3840x2160] [--repeats 5]
        [--shapes disc,heart] [--out docs/benchmarks/gpu/render_cuda_check.json]

Issue 17's CUDA row: 1080p, max blur radius 24 px, with the edge matte (on the device since
render/torch_matte.py) and without it; goal ≥ 60 frames/s with the matte, same output as the CPU
path within 1e-4. Prints one JSON object (and writes it to --out). Without CUDA it prints
{"cuda": false, ...} and exits 0 (nothing to check).
For each size it builds a synthetic scene (smooth texture, ~200 HDR point lights, cards at several
depths, a depth ramp; self-contained, so it needs no ../shared) and, when ../shared/lfbench is
there, the lfbench 1080p frame of benchmarks/render_frames.py; renders each with backend="numpy"
(CPU) and backend="torch", device="cuda", matte on and off, and reports the max / mean absolute
difference and the max difference relative to max(1, |CPU value|) (HDR lights reach 50), the GPU
time per frame (median of `repeats` after one warm-up; host↔device copies and the host-side layer
plan included) and the peak GPU memory. Exits 1 if a relative difference exceeds 1e-4.
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

REL_TOL = 1e-4


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


def scenes(sizes: str, lfbench: bool = True) -> list[tuple[str, np.ndarray, np.ndarray, float, float]]:
    """(name, image, disparity, focus, K) of every scene to check (max blur radius 24 px)."""
    out = []
    for size in sizes.split(","):
        W, H = (int(v) for v in size.split("x"))
        img, disp = synthetic_scene(W, H)
        out.append((f"synthetic {size}", img, disp, 0.5, 24.0 / float(np.abs(disp - 0.5).max())))
    if not lfbench:
        return out
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import render_frames as rf

        img, disp, a, k = rf.lfbench_1080p()
        out.append(("lfbench 1920x1080 seed 7", img, disp, a, k))
    except (ImportError, FileNotFoundError, OSError) as exc:
        print(f"lfbench frame skipped: {exc}", file=sys.stderr)
    return out


def time_cuda(torch, img, disp, focus, k, shape, matte: bool, repeats: int,
              device: str = "cuda") -> tuple[np.ndarray, float, float]:
    """(output, median s per frame, peak MiB) of the torch path on `device` (cpu: a dry run of this script)."""
    cuda = device == "cuda"
    opts = {"backend": "torch", "device": device, "edge_matte": matte}
    render_bokeh(img, disp, focus, k, shape, **opts)  # warm-up (kernels, cuDNN)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = render_bokeh(img, disp, focus, k, shape, **opts)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if not cuda:
        return out, float(np.median(times)), 0.0
    torch.cuda.reset_peak_memory_stats()
    render_bokeh(img, disp, focus, k, shape, **opts)
    return out, float(np.median(times)), torch.cuda.max_memory_allocated() / 2 ** 20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--shapes", default="disc,heart")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: run the torch path on the CPU (checks this script where no GPU is)")
    p.add_argument("--no-lfbench", action="store_true")
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(json.dumps({"cuda": False, "reason": "torch not importable"}))
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"cuda": False, "reason": "torch.cuda.is_available() is False"}))
        return 0
    gpu = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu (dry run)"
    result = {"cuda": a.device == "cuda", "device": gpu, "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cases": []}
    ok = True
    for name, img, disp, focus, k in scenes(a.sizes, not a.no_lfbench):
        for shape in a.shapes.split(","):
            for matte in (True, False):
                t0 = time.perf_counter()
                ref = render_bokeh(img, disp, focus, k, shape, backend="numpy", device="cpu", edge_matte=matte)
                t_cpu = time.perf_counter() - t0
                out, t_gpu, peak = time_cuda(torch, img, disp, focus, k, shape, matte, a.repeats, a.device)
                diff = np.abs(out - ref)
                rel = float((diff / np.maximum(1.0, np.abs(ref))).max())
                case = {"scene": name, "shape": shape, "edge_matte": matte, "cpu_numpy_s": round(t_cpu, 3),
                        "cuda_s_median": round(t_gpu, 4), "cuda_fps": round(1.0 / t_gpu, 2),
                        "speedup_vs_cpu": round(t_cpu / t_gpu, 1), "cuda_peak_mem_mib": round(peak, 1),
                        "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "max_rel_diff": rel,
                        "ok": bool(rel <= REL_TOL)}
                ok &= case["ok"]
                result["cases"].append(case)
                print(json.dumps(case), file=sys.stderr, flush=True)
    result["all_ok"] = bool(ok)
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

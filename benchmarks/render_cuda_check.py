"""CUDA check of the bokeh renderer: issue 17's CUDA row in one run (fps, equality to the CPU path).

    python benchmarks/render_cuda_check.py [--sizes 1920x1080] [--shapes disc,heart] [--repeats 20]
        [--out docs/benchmarks/gpu/render_cuda_check.json] [--no-lfbench] [--device cuda|cpu]

Issue 17's CUDA row: 1080p, max blur radius 24 px, edge matte on and off; goal ≥ 60 frames/s with
the matte and the CPU path's output within 1e-4. For each scene (a self-contained synthetic 1080p
frame: texture, ~200 HDR point lights, cards at several depths, a depth ramp; plus the lfbench
1080p frame of benchmarks/render_frames.py when ../shared/lfbench is there), aperture and matte
setting it renders the numpy CPU reference, then the torch path on the GPU without and with CUDA
graphs (the job parameter render.cuda_graphs, ``--cuda-graphs``; render/torch_impl.py), and reports
per setting:

* device_fps: the renderer on the GPU alone (frame and layer coordinates already uploaded, plan
  prepared; synchronised) — the renderer's own speed;
* e2e_fps: render_bokeh end to end (host-side layer plan, upload, download included);
* plan_ms: the host-side layer plan (render/plan.make_plan, numpy) alone — part of e2e;
* max_abs_diff / max_rel_diff (relative to max(1, |CPU value|): HDR lights reach 50) vs the CPU
  path, and the peak GPU memory.
Prints one JSON object (and writes it to --out); exits 1 if a relative difference exceeds 1e-4.

Without CUDA it says so on stderr, puts "cuda": false in the JSON and still checks the torch path
on CPU torch against numpy on a small frame (--dry-size), so the script itself is exercised.
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
RADIUS = 24.0


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
        out.append((f"synthetic {size}", img, disp, 0.5, RADIUS / float(np.abs(disp - 0.5).max())))
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


def _median_s(fn, repeats: int, sync) -> float:
    fn()  # warm-up (kernels, cuDNN algorithm choice, plan cache, graph capture)
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(torch, img, disp, focus, k, shape, matte: bool, graphs: bool, repeats: int, device: str) -> dict:
    """One setting: device-only and end-to-end times, the host plan's time, and the output."""
    from genrefocus_video.optics.coc import signed_blur
    from genrefocus_video.render.api import resolve_aperture
    from genrefocus_video.render.plan import Spacing, layer_coord, make_plan
    from genrefocus_video.render.torch_batch import prepare
    from genrefocus_video.params import load_job
    from genrefocus_video.render.options import render_options
    from genrefocus_video.render.torch_impl import _captured, render_frame

    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # the job's parameter (render.cuda_graphs / --cuda-graphs) through the one settings-to-options place
    job = load_job(overrides={"render.cuda_graphs": graphs, "render.device": device})
    opts = {**render_options(render_params=job.render), "backend": "torch", "edge_matte": matte}
    out = render_bokeh(img, disp, focus, k, shape, **opts)
    e2e = _median_s(lambda: render_bokeh(img, disp, focus, k, shape, **opts), repeats, sync)
    r = signed_blur(disp, focus, k)
    ap = resolve_aperture(shape, {})
    H, W = r.shape

    def plan():
        return make_plan(r, ap, Spacing(), edge_matte=matte)

    plan_s = _median_s(plan, max(1, repeats // 4), lambda: None)
    p = plan()
    dev = torch.device(device)
    prep = prepare(p, (H, W), (0, 0, H, W), dev)
    with torch.no_grad():
        I = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(dev)
        u = torch.from_numpy(layer_coord(r, p)).to(dev)
        if graphs:
            g = _captured(prep, matte, dev)
            dev_s = _median_s(lambda: g(I, u), repeats, sync)
        else:
            dev_s = _median_s(lambda: render_frame(prep, I, u, matte), repeats, sync)
        peak = 0.0
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            render_bokeh(img, disp, focus, k, shape, **opts)
            peak = torch.cuda.max_memory_allocated() / 2 ** 20
    return {"graphs": graphs, "device_s": round(dev_s, 5), "device_fps": round(1.0 / dev_s, 1),
            "e2e_s": round(e2e, 4), "e2e_fps": round(1.0 / e2e, 2), "plan_ms": round(plan_s * 1e3, 1),
            "layers": len(p.layers), "groups": len(prep.groups), "peak_mem_mib": round(peak, 1), "out": out}


def run_cases(torch, cases, shapes: str, repeats: int, device: str, graph_modes) -> tuple[list, bool]:
    rows, ok = [], True
    for name, img, disp, focus, k in cases:
        for shape in shapes.split(","):
            for matte in (True, False):
                t0 = time.perf_counter()
                ref = render_bokeh(img, disp, focus, k, shape, backend="numpy", device="cpu", edge_matte=matte)
                t_cpu = time.perf_counter() - t0
                for graphs in graph_modes:
                    try:
                        row = measure(torch, img, disp, focus, k, shape, matte, graphs, repeats, device)
                    except Exception as exc:  # noqa: BLE001 - a failed mode is a result to report, not a crash
                        row = {"graphs": graphs, "error": f"{type(exc).__name__}: {exc}"}
                        ok = False
                    else:
                        diff = np.abs(row.pop("out") - ref)
                        rel = float((diff / np.maximum(1.0, np.abs(ref))).max())
                        row.update(max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                                   max_rel_diff=rel, ok=bool(rel <= REL_TOL))
                        ok &= row["ok"]
                    row.update(scene=name, shape=shape, edge_matte=matte, cpu_numpy_s=round(t_cpu, 3))
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    return rows, ok


def summary(rows: list) -> list[str]:
    """One readable line per scene, aperture and matte setting: issue 17's CUDA row (graphs off / on)."""
    lines = []
    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r["scene"], r["shape"], r["edge_matte"]), []).append(r)
    for (scene, shape, matte), rs in by_key.items():
        parts = []
        for r in rs:
            if "error" in r:
                parts.append(f"graphs {'on' if r['graphs'] else 'off'}: ERROR {r['error']}")
                continue
            parts.append(f"graphs {'on' if r['graphs'] else 'off'}: device {r['device_fps']} fps, end to end "
                         f"{r['e2e_fps']} fps (plan {r['plan_ms']} ms), max abs diff {r['max_abs_diff']:.1e}")
        lines.append(f"ROW {scene} {shape} matte {'on' if matte else 'off'} | " + " | ".join(parts))
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1920x1080")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--shapes", default="disc,heart")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: run the torch path on CPU torch (checks this script where no GPU is)")
    p.add_argument("--dry-size", default="480x270", help="frame size of the CPU-torch check without CUDA")
    p.add_argument("--no-lfbench", action="store_true")
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(json.dumps({"cuda": False, "reason": "torch not importable"}))
        return 0
    cuda = a.device == "cuda" and torch.cuda.is_available()
    result = {"cuda": cuda, "torch": torch.__version__, "cpu_count": os.cpu_count(),
              "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "load": os.getloadavg()}
    if cuda:
        result["device"] = torch.cuda.get_device_name(0)
        cases = scenes(a.sizes, not a.no_lfbench)
        rows, ok = run_cases(torch, cases, a.shapes, a.repeats, "cuda", (False, True))
    else:
        if a.device == "cuda":
            msg = ("CUDA is absent (torch.cuda.is_available() is False): the CUDA row is NOT measured; "
                   f"checking the torch path on CPU torch against numpy at {a.dry_size} instead")
            print(msg, file=sys.stderr)
            result["reason"] = msg
        result["device"] = "cpu (dry run: CPU torch)"
        cases = scenes(a.dry_size, lfbench=False)
        rows, ok = run_cases(torch, cases, a.shapes, min(a.repeats, 2), "cpu", (False,))
    result["cases"] = rows
    result["all_ok"] = bool(ok)
    for line in summary(rows):
        print(line, file=sys.stderr)
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""End to end on a GPU machine: the demo render through the CLI with the renderer on CUDA vs CPU.

    python3 benchmarks/gpu_pipeline.py [--json OUT.json] [--frames 48]

Renders `samples/city.mp4` with `configs/rack_focus.yaml` (hexagonal bokeh, highlight recovery)
three times in one process — `--device cuda`, `--device cuda --cuda-graphs` (the render.cuda_graphs
parameter) and `--device cpu` — with the in-process executor, into
lossless FFV1 so that only the renderer can differ, times each, and compares the two clips frame
by frame (mean / max absolute difference of the decoded frames' Y/U/V codes). Without
CUDA it prints {"cuda": false} and exits 0. Exit 1 if any pixel differs by more than 1 code value
(the renderer's CUDA check holds the two paths to 5e-6 in linear light).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _frames(path: str) -> list[np.ndarray]:
    """Decoded frames in the file's own planes (Y, U, V codes): an RGB view would turn a one-code
    chroma difference into up to three codes of R/G/B."""
    import av

    with av.open(path) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--frames", type=int, default=48, help="frames of the sample to render")
    args = ap.parse_args()
    import torch

    result: dict = {"cuda": torch.cuda.is_available()}
    if not result["cuda"]:
        print(json.dumps(result))
        return 0
    from genrefocus_video.cli import main as cli

    result.update(device=torch.cuda.get_device_name(0), torch=torch.__version__, cpu_count=os.cpu_count(),
                  frames=args.frames)
    outs = {}
    with tempfile.TemporaryDirectory() as tmp:
        # "cuda_graphs": the same CUDA run with the job parameter render.cuda_graphs (--cuda-graphs)
        for name, dev, extra in (("cuda", "cuda", []), ("cuda_graphs", "cuda", ["--cuda-graphs"]), ("cpu", "cpu", [])):
            out = os.path.join(tmp, f"city_{name}.mkv")
            t0 = time.perf_counter()
            rc = cli(["render", os.path.join(REPO, "samples", "city.mp4"), "-o", out,
                      "--depth", os.path.join(REPO, "samples", "city_depth.mkv"),
                      "--config", os.path.join(REPO, "configs", "rack_focus.yaml"),
                      "--last-frame", str(args.frames - 1), "--device", dev, "--executor", "local",
                      "--codec", "ffv1", "--no-progress", "--no-audio", *extra])
            wall = time.perf_counter() - t0
            result[f"{name}_rc"] = rc
            result[f"{name}_s"] = round(wall, 2)
            result[f"{name}_fps"] = round(args.frames / wall, 2)
            outs[name] = _frames(out) if rc == 0 else []
        ok = True
        for name in ("cuda", "cuda_graphs"):
            a, b = outs[name], outs["cpu"]
            if len(a) != args.frames or len(b) != args.frames:
                ok = False
                continue
            diff = np.stack([np.abs(x.astype(np.int32) - y.astype(np.int32)) for x, y in zip(a, b)])
            tag = "" if name == "cuda" else "graphs_"
            result.update({f"{tag}mean_abs_diff_code": float(diff.mean()), f"{tag}max_abs_diff_code": int(diff.max())})
            ok &= result[f"{tag}max_abs_diff_code"] <= 1
            result[f"{tag}speedup_vs_cpu"] = round(result["cpu_s"] / result[f"{name}_s"], 2)
    result["ok"] = ok
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

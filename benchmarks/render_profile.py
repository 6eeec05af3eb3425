"""Where a classical render's time goes: per stage and per layer, on issue 17's two frames.

    .venv/bin/python benchmarks/render_profile.py [--repeats 3] [--json OUT]

The numpy renderer runs with one layer thread (`threads=1`, a plan field) so stage times add up
to the wall time; each stage function of render/cpu.py and render/plan.py is wrapped with a timer
for the run (the renderer itself carries no timing code). Stages: plan (layer coordinate, layer
regions, kernels), matte (edge-matte analysis), frame (RGBA + highlight list), and per layer:
planes (tent weights, premultiplied layer, known fraction, matte and highlight patches), down
(block means), fill (pull-push behind occluders), blur (aperture correlation), up (bilinear),
composite (over), then resolve (÷ accumulated alpha). Memory traffic per layer is estimated from
the arrays each stage reads and writes (float32 bytes; OpenCV's DFT scratch not counted).
Median over `repeats` renders after one warm-up. OpenCV keeps its own 2 threads inside each call.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_frames as rf  # noqa: E402

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.render import api, cpu  # noqa: E402

LAYER_STAGES = ("layer_planes", "downsample", "extend_layer", "blur", "upsample", "composite")
FRAME_STAGES = ("make_plan", "edge_matte", "frame_rgba", "resolve")


class Timers:
    """Wraps module functions with accumulating timers; per-layer stages are keyed by layer index."""

    def __init__(self) -> None:
        self.total: dict = defaultdict(float)
        self.per_layer: dict = defaultdict(lambda: defaultdict(float))
        self.layer_info: dict = {}
        self._saved: list = []

    def wrap(self, module, name: str, layer_arg: int | None = None) -> None:
        fn = getattr(module, name)
        self._saved.append((module, name, fn))

        def timed(*args, **kw):
            t0 = time.perf_counter()
            res = fn(*args, **kw)
            dt = time.perf_counter() - t0
            self.total[name] += dt
            if layer_arg is not None:
                L = args[layer_arg]
                self.per_layer[L.index][name] += dt
            return res

        setattr(module, name, timed)

    def restore(self) -> None:
        for module, name, fn in reversed(self._saved):
            setattr(module, name, fn)
        self._saved.clear()


def profile_frame(img, disp, a, k, repeats: int) -> dict:
    render_bokeh(img, disp, a, k, "disc", threads=1)  # warm-up: kernels cached
    runs = []
    for _ in range(repeats):
        tm = Timers()
        tm.wrap(api, "make_plan")
        tm.wrap(cpu, "edge_matte")
        tm.wrap(cpu, "frame_rgba")
        tm.wrap(cpu, "resolve")
        tm.wrap(cpu, "layer_planes", 0)
        tm.wrap(cpu, "blur", 1)
        tm.wrap(cpu, "composite", 1)
        for name in ("downsample", "extend_layer", "upsample"):
            tm.wrap(cpu, name)
        plans = []
        orig_plan = api.make_plan

        def keep(*args, **kw):
            p = orig_plan(*args, **kw)
            plans.append(p)
            return p

        api.make_plan = keep
        t0 = time.perf_counter()
        try:
            render_bokeh(img, disp, a, k, "disc", threads=1)
        finally:
            api.make_plan = orig_plan
            tm.restore()
        wall = time.perf_counter() - t0
        runs.append((wall, tm, plans[0]))
    runs.sort(key=lambda r: r[0])
    wall, tm, plan = runs[len(runs) // 2]
    H, W = disp.shape
    layers = []
    for L in plan.layers:
        y0, y1, x0, x1 = L.roi
        px = (y1 - y0) * (x1 - x0)
        n = L.kernels[0][1][0].shape[0]
        t = tm.per_layer[L.index]
        # bytes: planes read u + RGBA and write layer (4) + known (1) + temporaries (3); composite
        # reads blurred (4) + out (4) and writes out (4); blur at working res reads 4, writes 4
        lo = px / (L.scale * L.scale)
        traffic = 4 * (px * (1 + 4 + 4 + 1 + 3) + px * 12 + lo * 8 + (px * 4 + lo * 4 if L.scale > 1 else 0))
        layers.append({"index": L.index, "r": round(L.r, 2), "scale": L.scale, "kernel": n,
                       "roi_frac": round(px / (H * W), 3), "planes_ms": round(1e3 * t["layer_planes"], 1),
                       "blur_ms": round(1e3 * t["blur"], 1), "composite_ms": round(1e3 * t["composite"], 1),
                       "traffic_mb": round(traffic / 1e6, 1)})
    stages = {name: round(1e3 * tm.total[name], 1) for name in FRAME_STAGES + LAYER_STAGES}
    stages["other"] = round(1e3 * wall - sum(stages.values()), 1)
    return {"wall_ms": round(1e3 * wall, 1), "layers_n": len(plan.layers), "stages_ms": stages, "layers": layers}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    res = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cpu_count": os.cpu_count(),
           "loadavg_start": [round(v, 2) for v in os.getloadavg()], "frames": {}}
    for name, build in (("lfbench_1080p_r24", lambda: rf.lfbench_1080p(a.seed)), ("real_720p_k14", rf.real_720p)):
        img, disp, focus, k = build()
        r = profile_frame(img, disp, focus, k, a.repeats)
        res["frames"][name] = r
        print(f"\n{name}: {r['wall_ms']} ms on one layer thread, {r['layers_n']} layers")
        print("  stages ms: " + ", ".join(f"{k2} {v}" for k2, v in r["stages_ms"].items()))
        print("  layer  r      s  kernel roi   planes  blur  composite  traffic MB")
        for L in r["layers"]:
            print(f"  {L['index']:5d} {L['r']:6.2f} {L['scale']:2d} {L['kernel']:6d} {L['roi_frac']:5.2f} "
                  f"{L['planes_ms']:7.1f} {L['blur_ms']:5.1f} {L['composite_ms']:9.1f} {L['traffic_mb']:10.1f}")
    rf.finish_report(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

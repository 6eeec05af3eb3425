"""Speed of the bokeh renderer on the CPU: 1080p frames/s, ratio to Blender's Defocus, 4K memory.

    .venv/bin/python benchmarks/render_speed.py [--repeats 3] [--no-blender] [--no-4k]

Frames (1920×1080, max blur radius 24 px, focus a = 0.5, K = 24 / max|d − a|):
* "lfbench": lfbench seed 1 (night city, cards, lights) with its GT disparity — piecewise constant
  depth, so only the layers that hold a card do work;
* "continuous": the same image with a smooth depth ramp added to every pixel — every depth layer is
  populated (worst case for a layered renderer; real depth maps look like this).
For each frame and aperture (disc, heart): median wall time of `repeats` renders and the process
CPU time (both cores; the VM is shared with other jobs, so wall time varies with their load),
plus a cProfile split into convolution / elementwise+pull-push / other. Blender 3.4's Defocus
node renders the same lfbench frame (CIRCLE bokeh, calibrated z_scale) in the same session; the
ratio is Blender's render time / ours. Peak memory for a 3840×2160 frame is the max RSS of a child
process that renders one (default banding, and without bands) minus the RSS of one that only
loads the inputs.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_common as rc  # noqa: E402

from genrefocus_video import render_bokeh  # noqa: E402

W, H = 1920, 1080
MAX_R = 24.0


def frames():
    from lfbench.render import layer_maps, render_view
    from lfbench.scene import build_scene

    scene = build_scene(1, W, H, 8)
    aif = render_view(scene.layers, (W, H)).astype(np.float32)
    disp, _, _ = layer_maps(scene.layers, (W, H))
    yy, xx = np.mgrid[:H, :W]
    ramp = (0.08 * np.sin(xx / W * 3.1 + yy / H * 1.7)).astype(np.float32)
    return {"lfbench": (aif, disp.astype(np.float32)), "continuous": (aif, (disp + ramp).astype(np.float32))}


def time_render(img, disp, shape, repeats, **opts):
    a = 0.5
    k = MAX_R / float(np.abs(disp - a).max())
    render_bokeh(img[:64, :64], disp[:64, :64], a, k, shape)  # warm caches (kernels)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        render_bokeh(img, disp, a, k, shape, **opts)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    from genrefocus_video.render import cpu

    prof = cProfile.Profile()
    cpu.THREADS = 1  # profile on one thread (cProfile sees only the calling thread)
    prof.enable()
    c0, t0 = time.process_time(), time.perf_counter()
    render_bokeh(img, disp, a, k, shape, **opts)
    one_thread = time.perf_counter() - t0
    prof.disable()
    cpu.THREADS = None
    st = pstats.Stats(prof)
    conv = sum(v[2] for f, v in st.stats.items() if f[2] in ("filter2D",) or "filter2D" in f[2])
    total = sum(v[2] for v in st.stats.values())
    return {"wall_s_median": float(np.median(walls)), "cpu_s_median": float(np.median(cpus)),
            "fps": 1.0 / float(np.median(walls)), "k": k,
            "one_thread_wall_s": round(one_thread, 3),
            "profile_total_s": round(total, 3), "profile_filter2D_s": round(conv, 3)}


_CHILD = r"""
import sys, numpy as np
sys.path.insert(0, {repo!r})
img = np.load({img!r}); disp = np.load({disp!r})
mode = sys.argv[1]
if mode != "load":
    from genrefocus_video import render_bokeh
    out = render_bokeh(img, disp, 0.5, {k}, "disc", tile=(0 if mode == "bands" else 100000))
# VmHWM: this process's own peak RSS (ru_maxrss would include the parent's at fork time)
print([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
"""


def peak_memory(work: str, size: tuple[int, int] = (3840, 2160), modes=("load", "bands", "whole")) -> dict:
    import cv2

    img, disp = frames()["continuous"]
    img4 = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    d4 = cv2.resize(disp, size, interpolation=cv2.INTER_NEAREST)
    scale = size[0] / W
    ip, dp = os.path.join(work, "img4k.npy"), os.path.join(work, "disp4k.npy")
    np.save(ip, img4)
    np.save(dp, d4)
    k = scale * MAX_R / float(np.abs(d4 - 0.5).max())  # the same look: radius scales with width
    code = _CHILD.format(repo=str(rc.REPO), img=ip, disp=dp, k=k)
    res = {}
    for mode in modes:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True)
        res[mode + "_maxrss_mib"] = int(out.stdout.strip().splitlines()[-1]) / 1024.0
        res[mode + "_s"] = time.perf_counter() - t0
    for mode in modes[1:]:
        res[mode + "_peak_mib"] = res[mode + "_maxrss_mib"] - res["load_maxrss_mib"]
    res["max_radius_px"] = scale * MAX_R
    res["size"] = list(size)
    return res


def blender_time(img, disp, work) -> dict:
    ok, why = rc.blender_available()
    if not ok:
        return {"available": False, "why": why}
    a = 0.5
    k = MAX_R / float(np.abs(disp - a).max())
    z_scale = rc.calibrate_blender_scale(work)
    ip, rp, op = (os.path.join(work, n) for n in ("b_img.exr", "b_r.exr", "b_out.exr"))
    rc.write_exr(ip, img)
    rc.write_exr(rp, np.abs(k * (disp - a)))
    job = {"image": ip, "radius": rp, "out": op, "width": W, "height": H, "bokeh": "CIRCLE",
           "z_scale": z_scale, "blur_max": MAX_R * z_scale + 2}
    times = rc.run_blender([job], work)
    return {"available": True, "render_s": times[op], "z_scale": z_scale}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-blender", action="store_true")
    p.add_argument("--no-4k", action="store_true")
    p.add_argument("--8k", dest="eightk", action="store_true", help="also measure banded memory at 7680x4320")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="render_speed_")
    fr = frames()
    load = os.getloadavg()
    results = {"size": [W, H], "max_radius_px": MAX_R, "cpu_count": os.cpu_count(),
               "loadavg_at_start": [round(v, 2) for v in load], "cases": {}}
    runs = [(name, shape, {}) for name in fr for shape in ("disc", "heart")]
    runs.append(("continuous", "disc", {"draft": 0.5}))
    for name, shape, opts in runs:
        img, disp = fr[name]
        r = time_render(img, disp, shape, a.repeats, **opts)
        label = shape + (f" draft {opts['draft']}" if opts else "")
        results["cases"][f"{name}/{label}"] = r
        print(f"{name:10s} {label:5s} wall {r['wall_s_median']:.3f}s ({r['fps']:.2f} fps), "
              f"cpu {r['cpu_s_median']:.3f}s, filter2D {r['profile_filter2D_s']:.3f}s of "
              f"{r['profile_total_s']:.3f}s profiled on one thread", flush=True)
    if not a.no_blender:
        b = blender_time(*fr["lfbench"], work)
        results["blender"] = b
        if b.get("available"):
            ours = results["cases"]["lfbench/disc"]["wall_s_median"]
            b["ratio_blender_over_ours"] = b["render_s"] / ours
            print(f"Blender Defocus (same lfbench frame, disc): {b['render_s']:.2f}s -> ours is "
                  f"{b['ratio_blender_over_ours']:.1f}x faster", flush=True)
        else:
            print(f"Blender not run: {b['why']}")
    if not a.no_4k:
        m = peak_memory(work)
        results["memory_4k"] = m
        print(f"4K peak memory over inputs: banded {m['bands_peak_mib']:.0f} MiB ({m['bands_s']:.1f}s), "
              f"whole frame {m['whole_peak_mib']:.0f} MiB ({m['whole_s']:.1f}s); inputs loaded: "
              f"{m['load_maxrss_mib']:.0f} MiB RSS", flush=True)
    if a.eightk:
        m8 = peak_memory(work, (7680, 4320), ("load", "bands"))
        results["memory_8k"] = m8
        print(f"8K peak memory over inputs: banded {m8['bands_peak_mib']:.0f} MiB ({m8['bands_s']:.1f}s); "
              f"inputs loaded: {m8['load_maxrss_mib']:.0f} MiB RSS", flush=True)
    results["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(results, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ground-truth quality of the bokeh renderer on lfbench scenes, against three baselines.

    .venv/bin/python benchmarks/render_quality.py [--seeds 10] [--size 320x240] [--k 20] [--json OUT]

For every seed × focus (background, middle, near) × aperture (disc, hexagon, heart) an lfbench
scene is rendered (AIF, GT disparity, light-field GT refocus). Each method gets the AIF, the GT
disparity, the focus disparity a and K, and the aperture — for shapes other than the disc, the
*image* lfbench writes as aperture.png (the custom-aperture path), as the issue asks:

* ours: `genrefocus_video.render_bokeh` (layered, occlusion-aware; numpy CPU path);
* naive gather: every pixel averages under its own kernel (render/baselines.py);
* BokehMe-style scatter: every pixel splats its own soft aperture, normalised by accumulated weight;
* Blender 3.4 Defocus node (headless, Use Z-Buffer off, Z = K·|d − a| scaled by a z_scale
  calibrated with a point light so its blur radius matches); Blender's Defocus has no custom
  apertures: hexagon uses its HEXAGON bokeh, heart falls back to CIRCLE (noted in the table).

PSNR and boundary PSNR (lfbench.metrics: sRGB, clipped; band = K·max|d − a| px around depth
discontinuities) are averaged over all cases; per-shape and per-focus means are printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_common as rc  # noqa: E402

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.optics import make_aperture  # noqa: E402
from genrefocus_video.render.baselines import naive_gather, normalised_scatter  # noqa: E402

FOCI = ("background", "middle", "near")
SHAPES = ("disc", "hexagon", "heart")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--size", default="320x240")
    p.add_argument("--k", type=float, default=20.0)
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--no-blender", action="store_true")
    p.add_argument("--json", default=None, help="write all per-case scores here")
    a = p.parse_args(argv)
    W, H = (int(v) for v in a.size.split("x"))
    shapes = a.shapes.split(",")
    methods = ["ours", "gather", "scatter"]
    blender_note = None
    if not a.no_blender:
        ok, why = rc.blender_available()
        if ok:
            methods.append("blender")
        else:
            blender_note = why
    work = tempfile.mkdtemp(prefix="render_quality_")
    z_scale = rc.calibrate_blender_scale(work) if "blender" in methods else None
    rows, blender_jobs, timing = [], [], defaultdict(float)
    t_start = time.perf_counter()
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        for shape in shapes:
            for focus in FOCI:
                t0 = time.perf_counter()
                case = rc.make_case(seed, (W, H), focus, shape, a.k)
                timing["gt"] += time.perf_counter() - t0
                ap = make_aperture("disc") if shape == "disc" else make_aperture("image", image=case.aperture_png)
                r = (case.k * (case.disparity - case.focus)).astype(np.float32)
                row = {"seed": seed, "shape": shape, "focus": focus, "a": case.focus, "k": case.k}
                t0 = time.perf_counter()
                ours = render_bokeh(case.aif, case.disparity, case.focus, case.k, ap)
                timing["ours"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                gat = naive_gather(case.aif, r, ap)
                timing["gather"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                sca = normalised_scatter(case.aif, r, ap)
                timing["scatter"] += time.perf_counter() - t0
                for name, pred in (("ours", ours), ("gather", gat), ("scatter", sca)):
                    row[name] = rc.score(case, pred)
                if "blender" in methods:
                    stem = os.path.join(work, f"s{seed}_{shape}_{focus}")
                    rc.write_exr(stem + "_img.exr", case.aif)
                    rc.write_exr(stem + "_r.exr", np.abs(r))
                    blender_jobs.append({"image": stem + "_img.exr", "radius": stem + "_r.exr",
                                         "out": stem + "_blender.exr", "width": W, "height": H,
                                         "bokeh": rc.BLENDER_BOKEH.get(shape, "CIRCLE"), "z_scale": z_scale,
                                         "blur_max": float(np.abs(r).max() * z_scale + 2), "_case": case})
                rows.append(row)
                print(f"seed {seed} {shape:8s} {focus:10s} " + "  ".join(
                    f"{m} {row[m][0]:.2f}/{row[m][1]:.2f}" for m in ("ours", "gather", "scatter")), flush=True)
    if "blender" in methods:
        cases = [j.pop("_case") for j in blender_jobs]
        t0 = time.perf_counter()
        times = rc.run_blender(blender_jobs, work)
        timing["blender"] = sum(times.values())
        timing["blender_process"] = time.perf_counter() - t0
        for row, job, case in zip(rows, blender_jobs, cases):
            row["blender"] = rc.score(case, rc.read_exr(job["out"]))
    total = time.perf_counter() - t_start

    def mean(sel, m, i):
        vals = [r[m][i] for r in rows if sel(r)]
        return float(np.mean(vals)) if vals else float("nan")

    print(f"\n{len(rows)} cases, {W}x{H}, K={a.k}, seeds {a.first_seed}..{a.first_seed + a.seeds - 1}; "
          f"total {total:.0f}s (2-core VM shared with other jobs)")
    if blender_note:
        print(f"Blender baseline skipped: {blender_note}")
    header = "| subset | " + " | ".join(f"{m} PSNR / boundary" for m in methods) + " |"
    print(header)
    print("|" + "---|" * (len(methods) + 1))
    subsets = [("all", lambda r: True)] + [(f"shape={s}", (lambda s: lambda r: r["shape"] == s)(s)) for s in shapes] \
        + [(f"focus={f}", (lambda f: lambda r: r["focus"] == f)(f)) for f in FOCI]
    summary = {}
    for name, sel in subsets:
        vals = {m: (mean(sel, m, 0), mean(sel, m, 1)) for m in methods}
        summary[name] = vals
        print(f"| {name} | " + " | ".join(f"{vals[m][0]:.2f} / {vals[m][1]:.2f}" for m in methods) + " |")
    wins = {m: sum(r["ours"][0] > r[m][0] for r in rows) for m in methods if m != "ours"}
    bwins = {m: sum(r["ours"][1] > r[m][1] for r in rows) for m in methods if m != "ours"}
    print("cases where ours has the higher PSNR: " + ", ".join(f"vs {m} {wins[m]}/{len(rows)}" for m in wins))
    print("cases where ours has the higher boundary PSNR: " + ", ".join(f"vs {m} {bwins[m]}/{len(rows)}" for m in bwins))
    note = (f" (Blender: render calls only; process incl. start-up {timing.get('blender_process', 0):.0f}s)"
            if "blender" in methods else "")
    print("seconds per frame: " + ", ".join(f"{m} {timing[m] / len(rows):.3f}" for m in methods) + note)
    beats = all(summary["all"]["ours"][i] > summary["all"][m][i] for m in methods if m != "ours" for i in (0, 1))
    print("ours beats every baseline on mean PSNR and mean boundary PSNR:", beats)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"size": [W, H], "k": a.k, "rows": rows, "summary": summary, "timing_s": timing,
                       "blender_z_scale": z_scale, "blender_note": blender_note}, f, indent=1)
    return 0 if beats else 1


if __name__ == "__main__":
    sys.exit(main())

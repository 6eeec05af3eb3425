"""Does issue 4's "smoothing halves the instability" hold at any depth-noise level, and what limits it?

Run:  .venv/bin/python benchmarks/temporal_noise_sweep.py [--k 16] [--size 384x216] [--out DIR]

The issue-4 criterion (instability of the refocused clip, smoothed ÷ noisy <= 0.5) depends on how
strong the per-frame depth noise is: the renderer's own instability with exact depth (the floor) is
a fixed cost, so weak noise can never be halved. This sweep scales every term of the "estimator"
noise model (tests/temporal_fixtures.estimator_noise: global scale, shift, low-frequency warps,
local noise) by m = 1..4 and reports, for the same lfbench clip as temporal_quality.py, the
instability and PSNR of the noisy and the smoothed (strength 0.8, fine flow) renders, floor/noisy
and the excess ratio (smoothed - floor) / (noisy - floor).

Then, at the strongest level, it attributes the excess: the depth is replaced by the truth on one
region at a time (the near string of lights, the far background, the middle layers, the moving
subject) and the drop in instability is that region's share of the excess.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import temporal_quality as tq  # noqa: E402  (sets up sys.path for the repo, tests/ and lfbench)


REGIONS = {
    "string of lights (GT d > 0.86)": lambda c, t, g: g > 0.86,
    "far background (GT d < 0.1)": lambda c, t, g: g < 0.1,
    "middle layers": lambda c, t, g: (g >= 0.1) & (g <= 0.86),
    "moving subject": lambda c, t, g: np.abs(g - c.subject_disparity[t]) < 1e-3,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tq.add_clip_args(p)
    p.add_argument("--levels", default="1,2,3,4", help="noise multipliers m")
    p.add_argument("--strength", type=float, default=0.8)
    a = p.parse_args()
    t0 = time.perf_counter()
    work, c, gt, floor = tq.clip_with_floor(a, "noise_sweep_")
    f0 = floor["instability"]
    print(f"{'m':>3s} {'noisy':>8s} {'smoothed':>8s} {'raw':>6s} {'floor/noisy':>11s} {'excess':>6s} "
          f"{'PSNR noisy':>10s} {'PSNR sm.':>8s} {'depth MAE':>9s}")
    rows, last = [], None
    for m in [float(x) for x in a.levels.split(",")]:
        nz = [tq.scaled_estimator_noise(g, t, m) for t, g in enumerate(gt)]
        sm = tq.smooth_all(c, nz, a.strength, flow="fine")
        n = tq.render_and_score(c, nz, f"noisy_{m:g}", work)
        s = tq.render_and_score(c, sm, f"smoothed_{m:g}", work)
        r = {"m": m, "noisy": n, "smoothed": s, "raw_ratio": s["instability"] / n["instability"],
             "floor_over_noisy": f0 / n["instability"],
             "excess_ratio": (s["instability"] - f0) / max(n["instability"] - f0, 1e-12),
             "depth_mae": float(np.mean([np.abs(x - y).mean() for x, y in zip(nz, gt)]))}
        rows.append(r)
        print(f"{m:3g} {n['instability']:8.5f} {s['instability']:8.5f} {r['raw_ratio']:6.3f} {r['floor_over_noisy']:11.3f} "
              f"{r['excess_ratio']:6.2f} {n['psnr']:10.2f} {s['psnr']:8.2f} {r['depth_mae']:9.4f}", flush=True)
        last = (m, nz, sm, n["instability"], s["instability"])
    m, nz, sm, n_inst, s_inst = last
    shares: dict = {}
    for label, depth, full in (("noisy", nz, n_inst), ("smoothed", sm, s_inst)):
        shares[label] = {}
        for region, sel in REGIONS.items():
            fixed = [np.where(sel(c, t, g), g, depth[t]).astype(np.float32) for t, g in enumerate(gt)]
            inst = tq.render_and_score(c, fixed, "region", work)["instability"]
            shares[label][region] = (full - inst) / max(full - f0, 1e-12)
    print(f"share of the excess instability removed by exact depth on one region (m = {m:g}):")
    for region in REGIONS:
        print(f"  {region:32s} noisy {100 * shares['noisy'][region]:5.1f}%   smoothed {100 * shares['smoothed'][region]:5.1f}%")
    report = {"clip": vars(a), "floor": floor, "levels": rows, "attribution_m": m, "excess_shares": shares,
              "seconds": time.perf_counter() - t0}
    (work / "noise_sweep.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"total {report['seconds']:.0f} s; report {work / 'noise_sweep.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

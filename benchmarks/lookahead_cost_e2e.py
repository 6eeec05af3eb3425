"""End-to-end cost of the smoothing's look-ahead (issue 15 item 3 vs issue 17), a checkout vs a baseline.

Run:  .venv/bin/python benchmarks/lookahead_cost_e2e.py NEW_CHECKOUT BASELINE_CHECKOUT OUT.json [--rounds 2]

The 720p handheld lfbench clip of speed_table (H.264, 12 frames), both checkouts interleaved
(benchmarks/speed_e2e.py): (a) motion depth + smoothing 0.8 + follow (speed_table's e2e720
arguments); (b) depth from a file (the clip's disparity with per-frame low-frequency noise,
tests/depth_error_models.lowfreq, as .npy) + smoothing 0.5 — the look-ahead reads frame t + 1
through the job's frame lookup, which a file-depth job did not use before; (c) the real ProRes clip
of speed_table's `real` row. Reported per row: frames/s and CPU ratios new / baseline, per-stage ms
per frame and peak RSS (in OUT.json), with the machine's load and date.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests"), str(SHARED / "lfbench"), str(REPO)]

import speed_clips  # noqa: E402
import speed_e2e  # noqa: E402
import speed_table  # noqa: E402
from depth_error_models import lowfreq  # noqa: E402
from lfbench_motion_clips import render_clip  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("new", type=Path)
    p.add_argument("baseline", type=Path)
    p.add_argument("out")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="lookahead_e2e_")
    clip = speed_clips.handheld_clip(os.path.join(work, "clips"), (1280, 720), 12, hevc10=False)
    truth = render_clip(speed_clips.SEED, (1280, 720), 12, "shake")["disparity"]
    depth = os.path.join(work, "noisy.npy")
    np.save(depth, np.stack([lowfreq(np.asarray(g, np.float32), t) for t, g in enumerate(truth)]))
    trees = {"baseline": a.baseline.resolve(), "new": a.new.resolve()}
    res: dict = {"machine": speed_table.machine()}
    res["motion_follow"] = speed_e2e.interleaved(trees, clip["path"], speed_table.FOLLOW + ["--focus-box", clip["box"]],
                                                 work, a.rounds, "mf")
    res["file_smooth"] = speed_e2e.interleaved(trees, clip["path"], ["--depth", depth, "--depth-kind", "disparity",
                                                                     "--depth-smoothing", "0.5", "--k", "14",
                                                                     "--focus-disparity", "0.5"], work, a.rounds, "fs")
    if speed_table.MERIDIAN.exists():
        res["real_meridian"] = speed_e2e.interleaved(trees, str(speed_table.MERIDIAN),
                                                     speed_table.FOLLOW + ["--focus-box", "560,280,160,160"],
                                                     work, a.rounds, "real")
    res["machine_after"] = speed_table.machine()
    Path(a.out).write_text(json.dumps(res, indent=1, default=str))
    for row in ("motion_follow", "file_smooth", "real_meridian"):
        if row in res:
            r = res[row]
            print(f"{row}: frames/s {r['baseline']['fps_median']} -> {r['new']['fps_median']} "
                  f"(x{r['speedup_median']}), CPU ratio {r['cpu_ratio']}, "
                  f"peak {r['baseline']['peak_rss_mib']} -> {r['new']['peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

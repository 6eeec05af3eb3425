"""`make bench`: run every CPU benchmark in sequence; each writes or prints its own results.

The numbers in docs/BENCHMARKS.md come from these scripts (and from gpu_check.sh on GPU machines).
Run on a quiet machine: speed figures are ratios against baselines run in the same session.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["io_throughput.py"],
    ["render_quality.py", "--seeds", "10"],
    ["render_speed.py", "--rounds", "3", "--blender", "--4k"],
    ["pixel_aspect_cost.py"],
    ["interlace_cost.py"],
    ["temporal_quality.py", "--size", "384x216"],
    ["temporal_quality.py", "--size", "384x216", "--skip-motion", "--k", "16"],
    ["render_floor.py", "--k", "16"],
    ["temporal_noise_sweep.py"],
    ["temporal_noise_sweep.py", "--k", "8"],
    ["temporal_bounds.py"],
    ["temporal_bounds.py", "--k", "8"],
    ["pipeline_scaling.py"],
    ["stop_latency.py"],
    ["farm_tasks.py"],
    ["ofx_bridge.py"],
    ["deblur_quality.py"],
]


def main() -> int:
    failed = []
    for args in RUNS:
        t0 = time.perf_counter()
        print(f"== {' '.join(args)}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / args[0]), *args[1:]], cwd=HERE.parent)
        print(f"== {args[0]}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(args[0])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

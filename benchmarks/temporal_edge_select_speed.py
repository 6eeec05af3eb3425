"""Cost of edge selection (depth/edge_select.py) inside temporal smoothing, against a baseline checkout.

Run:  .venv/bin/python benchmarks/temporal_edge_select_speed.py --base ../base [--size 1280x720]
      [--frames 6] [--rounds 3] [--strength 0.8] [--models edges lowfreq]

As benchmarks/temporal_smoothing_speed.py (whose child runner it uses: each checkout's
TemporalDepthSmoother in its own subprocess, rounds interleaved base, new, base, new, ... so the
shared machine's load hits both alike), with the depth noise of the chosen error models of
tests/depth_error_models.py: `edges` (displaced depth edges, where edge selection has the most
disputed pixels to look at) and `lowfreq` (what temporal_smoothing_speed.py uses). Reported per
model: seconds per smoothed frame (median over frames 1.. and rounds), the ratio new / base and
the added seconds per frame, with the machine, `uptime` load and date.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests"), str(SHARED / "lfbench")]

from temporal_smoothing_speed import run_child  # noqa: E402


def prepare(work: Path, size: str, frames: int, models: list[str]) -> dict[str, Path]:
    """One lfbench clip (seed 3, follow, K 8), its DIS flows, and per model the noisy depth: one .npz each."""
    from depth_error_models import ERROR_MODELS
    from temporal_error_models import clip_flows, make_clip

    c = make_clip(work / "clip", size, frames, 3, "follow", 8.0)
    rgb = np.stack([c.aif(t) for t in range(frames)])
    flows = [fl[:2] for fl in clip_flows(c)[1:]]  # (flow t -> t-1, its validity)
    out = {}
    for m in models:
        out[m] = work / f"inputs_{m}.npz"
        np.savez(out[m], rgb=rgb, depth=np.stack([ERROR_MODELS[m](c.disparity(t), t) for t in range(frames)]),
                 flow=np.stack([f for f, _ in flows]), valid=np.stack([v for _, v in flows]))
    return out


def interleaved(base: Path, inputs: Path, strength: float, rounds: int) -> dict:
    """Seconds per frame of the base and this checkout on the same inputs, rounds interleaved."""
    runs: dict[str, list[float]] = {"base": [], "new": []}
    for _ in range(rounds):
        for name, checkout in (("base", base), ("new", REPO)):
            runs[name].extend(run_child(checkout, inputs, strength))
    med = {name: float(np.median(v)) for name, v in runs.items()}
    return {"s_per_frame": med, "ratio_new_over_base": med["new"] / med["base"],
            "added_s_per_frame": med["new"] - med["base"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the baseline checkout (e.g. ../base)")
    for opt, default in (("--size", "1280x720"), ("--frames", 6), ("--rounds", 3), ("--strength", 0.8)):
        p.add_argument(opt, type=type(default), default=default)
    p.add_argument("--models", nargs="+", default=["edges", "lowfreq"])
    a = p.parse_args()
    inputs = prepare(Path(tempfile.mkdtemp(prefix="tes_")), a.size, a.frames, a.models)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_before": os.getloadavg(), "size": a.size, "strength": a.strength,
              "models": {m: interleaved(Path(a.base).resolve(), path, a.strength, a.rounds)
                         for m, path in inputs.items()}}
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of temporal depth smoothing per frame, this checkout against a baseline checkout (issue 17).

Run:  .venv/bin/python benchmarks/temporal_smoothing_speed.py --base ../base [--size 1280x720]
      [--frames 6] [--rounds 3] [--strength 0.8] [--lookahead [--base-lookahead]]

An lfbench clip (seed 3, follow track) at `--size` is generated once; its DIS flows (medium, the
default) and a noisy depth per frame (tests/depth_error_models.lowfreq) are computed once and saved.
Each checkout then runs TemporalDepthSmoother over the same frames in its own subprocess (its own
package on PYTHONPATH), rounds interleaved (base, new, base, new, ...) so that the shared machine's
load hits both alike. Reported: seconds per smoothed frame (median over frames 1.. and rounds) and
the ratio new / base, with the machine, `uptime` load and date. `--lookahead`: this checkout's run
gives the smoother frame t + 1 (depth/temporal_ahead.py) and its timing includes what the pipeline's
smoothing stage adds for it (the consistency of the flow t -> t + 1 and the scene-cut test; the flow
itself is the flow stage's of frame t + 1, handed over, so not counted). `--base-lookahead`: the
baseline's run too (a change to the look-ahead against a baseline that has one).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))

CHILD = r"""
import sys, time, json, numpy as np
import genrefocus_video
from genrefocus_video.depth.temporal import TemporalDepthSmoother
print(genrefocus_video.__file__, file=sys.stderr)
with np.load(sys.argv[1]) as npz:  # into memory once: an npz member is read from the file on every access
    z = {k: npz[k] for k in npz.files}
sm = TemporalDepthSmoother(float(sys.argv[2]))
lookahead = sys.argv[3] == "1"
if lookahead:
    from genrefocus_video.depth.temporal_ahead import Ahead
    from genrefocus_video.flow import consistency, detect_scene_cut, to_gray8
n = z["depth"].shape[0]
times = []
for t in range(n - 1 if lookahead else n):  # the look-ahead run stops where the clip's last frame has none
    f, v = (None, None) if t == 0 else (z["flow"][t - 1], z["valid"][t - 1])
    t0 = time.perf_counter()
    kw = {}
    if lookahead:  # what stages/depth.DepthSmoothStage._ahead adds (the pair's flows are the flow stage's)
        back, fwd = z["flow"][t], z["bflow"][t]
        g0, g1 = to_gray8(z["rgb"][t]), to_gray8(z["rgb"][t + 1])
        detect_scene_cut(z["rgb"][t + 1], z["rgb"][t], back, z["valid"][t], grays=(g1, g0))
        kw["ahead"] = Ahead(z["depth"][t + 1], z["rgb"][t + 1], fwd, consistency(fwd, back))
    sm(z["rgb"][t], z["depth"][t], None, f, v, **kw)
    if t > 0:
        times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def prepare(work: Path, size: str, frames: int) -> Path:
    """Clip, flows and noisy depth of the run, saved to one .npz (computed with this checkout)."""
    sys.path[:0] = [str(REPO), str(REPO / "tests"), str(SHARED / "lfbench")]
    from depth_error_models import lowfreq
    from genrefocus_video.flow import forward_backward
    from temporal_fixtures import LfClip

    subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", "3", "--size", size, "--frames",
                    str(frames), "--fps", "24", "--track", "follow", "--k", "8", "--shape", "disc",
                    "--out", str(work / "clip")], cwd=SHARED / "lfbench", check=True, capture_output=True)
    c = LfClip(work / "clip")
    rgb = [c.aif(t) for t in range(frames)]
    flows = [forward_backward(rgb[t], rgb[t - 1], "medium") for t in range(1, frames)]
    out = work / "inputs.npz"
    np.savez(out, rgb=np.stack(rgb), depth=np.stack([lowfreq(c.disparity(t), t) for t in range(frames)]),
             flow=np.stack([f for f, _, _ in flows]), bflow=np.stack([b for _, b, _ in flows]),
             valid=np.stack([v for _, _, v in flows]))
    return out


def run_child(checkout: Path, inputs: Path, strength: float, lookahead: bool = False) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # run from the inputs' folder: `python -c` puts the working directory first on sys.path, which
    # from inside a checkout would import that checkout instead of `checkout`
    res = subprocess.run([sys.executable, "-c", CHILD, str(inputs), str(strength), "1" if lookahead else "0"],
                         env=env, check=True, capture_output=True, text=True, cwd=inputs.parent)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the baseline checkout (e.g. ../base)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--strength", type=float, default=0.8)
    p.add_argument("--lookahead", action="store_true", help="this checkout's run with the one-frame look-ahead")
    p.add_argument("--base-lookahead", action="store_true", help="the baseline's run with it as well")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tss_"))
    inputs = prepare(work, a.size, a.frames)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"base": [], "new": []}
    for _ in range(a.rounds):
        times["base"] += run_child(Path(a.base).resolve(), inputs, a.strength, a.base_lookahead)
        times["new"] += run_child(REPO, inputs, a.strength, a.lookahead)
    med = {k: float(np.median(v)) for k, v in times.items()}
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
              "size": a.size, "strength": a.strength, "lookahead": a.lookahead,
              "base_lookahead": a.base_lookahead, "s_per_frame": med, "ratio_new_over_base": med["new"] / med["base"],
              "samples": times}
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

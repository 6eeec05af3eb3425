"""What does a depth edge k px off cost the refocused picture, grown versus shrunk, clip by clip?

Issue 15's `edges` model moves every depth edge of a frame by a random -3..3 px; the smoother's edge
selection puts them back from its history and the frame's colour, and gets some wrong. Whether a
wrong pixel costs much depends on its direction and the focus: on lfbench's fixed-focus clips (focus
0.5) near surfaces grown into the background cost far more than shrunk ones, on rack and follow
(focus on the subject) the reverse (docs/benchmarks/temporal.md, 2026-12-06, twenty-second session).
This measures it with no smoothing: every frame's exact disparity displaced by the same k px
(tests/depth_error_models.displaced: grey dilation for k > 0, the nearer surfaces grown; erosion for
k < 0), rendered at the clip's own focus track (render_bokeh, disc) and scored against the
light-field ground truth with lfbench `score-video`: dPSNR against the exact render.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/edge_displacement_cost.py [--seeds 2 3 5 8 11 14 17]
      [--tracks fixed rack follow] [--moves -2 -1 1 2] [--json OUT]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from depth_error_models import displaced  # noqa: E402
from temporal_error_models import SHARED, add_grid_clip_args, close_report, lfbench_clips, run_info  # noqa: E402
from temporal_quality import render_and_score  # noqa: E402

sys.path.insert(0, str(SHARED / "lfbench"))

from lfbench.video import TRACKS  # noqa: E402


def clip_costs(c, work: Path, moves: list[int]) -> dict:
    """{'exact': score, 'moves': {k: dPSNR (dB) against exact}} for one clip."""
    gt = [c.disparity(t) for t in range(c.frames)]
    exact = render_and_score(c, gt, "exact", work)
    out = {"exact": exact, "moves": {}}
    for k in moves:
        r = render_and_score(c, [displaced(g, k) for g in gt], f"k{k}", work)
        out["moves"][str(k)] = r["psnr"] - exact["psnr"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5, 8, 11, 14, 17])
    p.add_argument("--tracks", nargs="+", default=list(TRACKS), choices=TRACKS)
    p.add_argument("--moves", type=int, nargs="+", default=[-2, -1, 1, 2],
                   help="px the depth edges move (> 0: nearer surfaces grown)")
    add_grid_clip_args(p)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edc_"))
    t0 = time.time()
    report = run_info(size=a.size, frames=a.frames, k=a.k, clips={})
    print("| clip | exact PSNR | " + " | ".join(f"{k:+d} px" for k in a.moves) + " |")
    print("|---|---|" + "---|" * len(a.moves))
    try:
        for seed, track, c in lfbench_clips(work, a.seeds, a.tracks, a.size, a.frames, a.k):
            r = clip_costs(c, work / f"r_{seed}_{track}", a.moves)
            report["clips"][f"seed {seed} {track}"] = r
            print(f"| seed {seed} {track} | {r['exact']['psnr']:.2f} | "
                  + " | ".join(f"{r['moves'][str(k)]:+.2f}" for k in a.moves) + " |", flush=True)
            shutil.rmtree(work / f"r_{seed}_{track}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = time.time() - t0
    close_report(report, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU cost of motion depth's infinity votes (depth/plane_sweep.py `infinity_vote`, `guided_vote`):
MotionDepthSource over one lfbench clip with no vote, the semi-global vote alone and both (the
default), interleaved, process time per frame, this checkout.

Run:  GENREFOCUS_SHARED=../shared PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_vote_cost.py \
          --sizes 384x216 1280x720 1920x1080 --rounds 3

The clip is lfbench seed 1 'shake' (the middle of a 48-frame take at 720p and above, as
benchmarks/motion_depth_hd.py's slow clips); frames at 720p and above are estimated at a pyramid
level (640 and 480 px wide), so the votes' cost follows the working level, not the frame.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from lfbench_motion_clips import render_clip  # noqa: E402

from genrefocus_video.depth.motion import MotionDepthSource  # noqa: E402
from genrefocus_video.io.frame import Frame  # noqa: E402
from genrefocus_video.record import FrameRecord  # noqa: E402


def seconds_per_frame(aif: list, **votes) -> float:
    """Process CPU seconds per frame of one MotionDepthSource run over `aif`, in order (`votes`: its
    `infinity_vote` and `guided_vote`)."""
    src = MotionDepthSource(quiet=True, frame_lookup=lambda i: aif[i] if 0 <= i < len(aif) else None, **votes)
    start = time.process_time()
    for t, rgb in enumerate(aif):
        src.estimate(FrameRecord(Frame(t, rgb)))
    return (time.process_time() - start) / len(aif)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["384x216", "1280x720", "1920x1080"])
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    for size in a.sizes:
        w, h = (int(x) for x in size.split("x"))
        aif = list(render_clip(1, (w, h), a.frames, "shake", span=48 if w >= 1280 else 0)["aif"])
        default = MotionDepthSource()
        configs = {"none": dict(infinity_vote=None, guided_vote=None),
                   "semi-global": dict(infinity_vote=default.infinity_vote, guided_vote=None),
                   "both": dict(infinity_vote=default.infinity_vote, guided_vote=default.guided_vote)}
        runs: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(a.rounds):
            for name, votes in configs.items():
                runs[name].append(seconds_per_frame(aif, **votes))
        med = {name: float(np.median(v)) for name, v in runs.items()}
        print(f"{size}: no vote {med['none']:.3f} s/frame, semi-global {med['semi-global']:.3f}, both "
              f"{med['both']:.3f} (medians of {a.rounds} interleaved rounds): both / semi-global "
              f"{med['both'] / med['semi-global']:.2f}x, both / none {med['both'] / med['none']:.2f}x", flush=True)


if __name__ == "__main__":
    main()

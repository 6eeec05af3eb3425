"""CPU cost of motion depth's infinity vote (depth/plane_sweep.py `infinity_vote`): MotionDepthSource
over one lfbench clip with the vote off and on, interleaved, process time per frame, this checkout.

Run:  GENREFOCUS_SHARED=../shared PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_vote_cost.py \
          --sizes 384x216 1280x720 1920x1080 --rounds 3

The clip is lfbench seed 1 'shake' (the middle of a 48-frame take at 720p and above, as
benchmarks/motion_depth_hd.py's slow clips); frames at 720p and above are estimated at a pyramid
level (640 and 480 px wide), so the vote's cost follows the working level, not the frame.
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


def seconds_per_frame(aif: list, vote) -> float:
    """Process CPU seconds per frame of one MotionDepthSource run over `aif`, in order."""
    src = MotionDepthSource(infinity_vote=vote, quiet=True,
                            frame_lookup=lambda i: aif[i] if 0 <= i < len(aif) else None)
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
        runs: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(a.rounds):
            runs["off"].append(seconds_per_frame(aif, None))
            runs["on"].append(seconds_per_frame(aif, MotionDepthSource().infinity_vote))
        off, on = np.median(runs["off"]), np.median(runs["on"])
        print(f"{size}: vote off {off:.3f} s/frame, on {on:.3f} (medians of {a.rounds} interleaved rounds): "
              f"{on / off:.2f}x", flush=True)


if __name__ == "__main__":
    main()

"""What non-square pixels cost: render time and the Matroska copy pass, as ratios to square pixels.

    .venv/bin/python benchmarks/pixel_aspect_cost.py [--repeats 3] [--frames 48]

1. Renderer: the 1440x1080 crop of render_speed.py's two frames (lfbench seed 1 with its
   piecewise-constant depth, and with a smooth ramp added so every layer is populated; max blur
   24 px), disc aperture, pixel aspect 1, 4/3 (HDV), 10/11 (NTSC DV), 2 (anamorphic). Kernels
   stay square with their side from the wider axis, so P < 1 makes them 1/P larger. Median wall
   time of `repeats` renders each, interleaved so that machine load hits every variant alike.
2. Writer: `frames` 1440x1080 frames into FFV1 .mkv (the only place a copy pass runs: Matroska
   keeps the flag in its track header, which PyAV cannot write) at pixel aspect 1 and 4/3.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_speed as rs  # noqa: E402  (puts the repo and lfbench on sys.path)

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.io.frame import ClipInfo, Frame  # noqa: E402
from genrefocus_video.io.video_writer import VideoWriter  # noqa: E402

ASPECTS = {"1 (square)": 1.0, "4/3 (HDV)": 4 / 3, "10/11 (NTSC DV)": 10 / 11, "2 (anamorphic)": 2.0}


def render_times(img: np.ndarray, disp: np.ndarray, repeats: int) -> dict:
    a = 0.5
    k = rs.MAX_R / float(np.abs(disp - a).max())
    for p in ASPECTS.values():  # warm the kernel caches of every variant
        render_bokeh(img, disp, a, k, "disc", pixel_aspect=p)
    walls: dict[str, list[float]] = {name: [] for name in ASPECTS}
    for _ in range(repeats):
        for name, p in ASPECTS.items():
            t0 = time.perf_counter()
            render_bokeh(img, disp, a, k, "disc", pixel_aspect=p)
            walls[name].append(time.perf_counter() - t0)
    base = float(np.median(walls["1 (square)"]))
    return {name: {"wall_s_median": float(np.median(w)), "ratio_to_square": float(np.median(w)) / base}
            for name, w in walls.items()}


def writer_times(img: np.ndarray, frames: int, work: str) -> dict:
    rgb = np.ascontiguousarray(img, dtype=np.float32)
    out = {}
    for label, p in (("square", Fraction(1)), ("4/3", Fraction(4, 3))):
        like = ClipInfo(path="", kind="sequence", width=rgb.shape[1], height=rgb.shape[0], fps=Fraction(24),
                        pixel_aspect=p, transfer="srgb")
        path = os.path.join(work, f"w_{label.replace('/', '_')}.mkv")
        t0 = time.perf_counter()
        w = VideoWriter(path, like, codec="ffv1", overwrite=True)
        for i in range(frames):
            w.write(Frame(i, rgb))
        w.close()
        out[label] = {"seconds": time.perf_counter() - t0, "bytes": os.path.getsize(path)}
    out["ratio_4/3_to_square"] = out["4/3"]["seconds"] / out["square"]["seconds"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    res: dict = {}
    for frame, (img, disp) in rs.frames().items():
        x0 = (img.shape[1] - 1440) // 2
        img, disp = np.ascontiguousarray(img[:, x0:x0 + 1440]), np.ascontiguousarray(disp[:, x0:x0 + 1440])
        res[f"render_1440x1080_{frame}"] = r_ = render_times(img, disp, a.repeats)
        for name, r in r_.items():
            print(f"render ({frame}), pixel aspect {name:16s}: {r['wall_s_median']:.2f} s  "
                  f"({r['ratio_to_square']:.2f}x square)")
    with tempfile.TemporaryDirectory() as work:
        res["ffv1_mkv_writer"] = w = writer_times(img, a.frames, work)
    print(f"FFV1 .mkv, {a.frames} frames: square {w['square']['seconds']:.2f} s, 4/3 {w['4/3']['seconds']:.2f} s "
          f"({w['ratio_4/3_to_square']:.2f}x: the copy pass that records the flag)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

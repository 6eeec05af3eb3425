"""What deinterlacing on read costs and buys: 1080i decode time and closeness to the progressive frame.

    .venv/bin/python benchmarks/interlace_cost.py [--frames 24] [--repeats 3]

A 1920x1080 50p picture that scrolls sideways (testsrc2 + scroll) is interlaced by the ffmpeg
program into 25i (tinterlace, top field first) and coded as ProRes 422 HQ 10-bit, the usual
broadcast master. The reader decodes it to linear float32 with --deinterlace auto (bwdif) and off,
interleaved `repeats` times; the time ratio is the deinterlacer's cost on the read path. Quality:
mean PSNR of each read frame against the progressive frame of its first field (frame 2i of the
50p source, read with the same reader).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from genrefocus_video.io.reader import open_reader  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=24, help="interlaced frames (25i)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        prog, inter = os.path.join(work, "p50.mkv"), os.path.join(work, "i25.mov")
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=50:d={a.frames / 25}",
                        "-vf", "scroll=h=0.004", "-c:v", "ffv1", prog], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-i", prog, "-vf", "tinterlace=interleave_top,fieldorder=tff",
                        "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-flags", "+ildct+ilme", inter],
                       check=True)
        times: dict[str, list[float]] = {"auto": [], "off": []}
        for _ in range(a.repeats):  # timing: frames are dropped as read (no memory growth in the loop)
            for mode in ("off", "auto"):
                t0 = time.perf_counter()
                with open_reader(inter, deinterlace=mode) as r:
                    n = sum(1 for _ in r)
                times[mode].append(time.perf_counter() - t0)
        with open_reader(prog) as r:
            progressive = [f.rgb for i, f in enumerate(r) if i % 2 == 0]
        scores: dict[str, list[float]] = {}
        for mode in ("off", "auto"):
            with open_reader(inter, deinterlace=mode) as r:
                scores[mode] = [psnr(f.rgb, progressive[k]) for k, f in enumerate(r)]
    res: dict = {mode: {"seconds_median": float(np.median(t)), "fps": n / float(np.median(t)),
                        "psnr_vs_first_field_frame": float(np.mean(scores[mode]))} for mode, t in times.items()}
    res["time_ratio_auto_to_off"] = res["auto"]["seconds_median"] / res["off"]["seconds_median"]
    for mode in ("off", "auto"):
        r = res[mode]
        print(f"--deinterlace {mode:4s}: {r['fps']:.2f} frames/s read, PSNR vs the progressive frame "
              f"{r['psnr_vs_first_field_frame']:.2f} dB")
    print(f"deinterlacing costs {res['time_ratio_auto_to_off']:.2f}x the read time")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""I/O benchmark: 1080p 10-bit decode -> float32 linear -> encode throughput, and peak memory vs clip length.

What it measures (all on this machine, in this session):

1. Synthetic sources made with the ffmpeg program: 1920×1080 ProRes 422 HQ, 10-bit 4:2:2 BT.709
   (``testsrc2``), SHORT and LONG seconds long at FPS frames/s (default 5 s and 60 s at 6 fps:
   a 60-second clip at a reduced frame rate so the run stays within minutes on 2 cores; memory
   depends on how many frames pass through, which still grows 12× between the two clips).
2. For each clip, a fresh child process runs genrefocus_video's reader -> writer (decode, 4:2:2 ->
   4:4:4 float, BT.709 matrix, inverse OETF to linear float32, then the exact reverse, ProRes 422 HQ
   encode by default, or ``--codec h264`` for H.264 10-bit 4:2:2). Frames/s excludes interpreter
   start-up; peak RSS is the child's ``ru_maxrss`` (resource.getrusage), cross-checked with the
   parent's RUSAGE_CHILDREN.
3. Baseline in the same session: the ffmpeg program transcoding the short clip with the same
   encoder, natively in 10-bit integers (no float conversion) — the ratio says what our float
   pipeline costs relative to plain FFmpeg.

Run: ``.venv/bin/python benchmarks/io_throughput.py [--fps 6 --short 5 --long 60 --codec prores]``.
Prints a Markdown table (paste into docs/benchmarks/io.md).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENC = {"prores": ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
       "h264": ["-c:v", "libx264", "-crf", "12", "-preset", "medium", "-pix_fmt", "yuv422p10le"]}


def child(src: str, out: str, codec: str) -> None:
    sys.path.insert(0, REPO)
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.io.writer import open_writer

    t0 = time.perf_counter()
    n = 0
    peak_at_30 = None
    with open_reader(src) as r, open_writer(out, r.info, codec=codec, overwrite=True) as w:
        for f in r:
            w.write(f)
            n += 1
            if n == 30:  # peak so far: shows whether memory keeps growing after the first second of work
                peak_at_30 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    dt = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"frames": n, "seconds": dt, "peak_rss_mib": rss_kib / 1024.0, "peak_rss_at_30_mib": peak_at_30}))


def make_source(path: str, seconds: float, fps: float) -> float:
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r={fps}:d={seconds}",
                    *ENC["prores"], "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
                    path], check=True)
    return time.perf_counter() - t0


def run_child(src: str, out: str, codec: str) -> dict:
    res = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", src, out, "--codec", codec],
                         check=True, capture_output=True, text=True)
    d = json.loads(res.stdout.strip().splitlines()[-1])
    d["children_max_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("SRC", "OUT"))
    ap.add_argument("--codec", default="prores", choices=("prores", "h264"))
    ap.add_argument("--fps", type=float, default=6.0)
    ap.add_argument("--short", type=float, default=5.0)
    ap.add_argument("--long", type=float, default=60.0)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.codec)
        return
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg program is needed to make the synthetic sources")
    tmp = tempfile.mkdtemp(prefix="gfv_io_bench_")
    ext = ".mov"
    try:
        results = {}
        base = []
        for name, secs in (("short", args.short), ("long", args.long)):
            src = os.path.join(tmp, f"{name}_src.mov")
            gen = make_source(src, secs, args.fps)
            print(f"made {name} source ({secs:g} s @ {args.fps:g} fps) in {gen:.1f} s", file=sys.stderr)
            results[name] = run_child(src, os.path.join(tmp, f"{name}_out{ext}"), args.codec)
            print(name, results[name], file=sys.stderr)
            if name == "short":
                # baseline right after our short run (same load window): the ffmpeg program transcoding
                # the same clip natively in 10-bit integers with the same encoder; twice, best kept.
                for _ in range(2):
                    t0 = time.perf_counter()
                    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, *ENC[args.codec],
                                    os.path.join(tmp, f"ffmpeg_out{ext}")], check=True)
                    base.append(results["short"]["frames"] / (time.perf_counter() - t0))
        base_fps = max(base)
        load = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s, l_ = results["short"], results["long"]
    ours = s["frames"] / s["seconds"]
    ours_long = l_["frames"] / l_["seconds"]
    codec = {"prores": "ProRes 422 HQ (prores_ks)", "h264": "H.264 10-bit 4:2:2 (libx264 crf 12 medium)"}[args.codec]
    print("| measurement | value |\n|---|---|")
    print(f"| source | 1920×1080 ProRes 422 HQ 10-bit 4:2:2, testsrc2, {args.fps:g} fps |")
    print(f"| output codec | {codec} |")
    print(f"| genrefocus decode→float→encode, {args.short:g} s clip ({s['frames']} frames) | {ours:.2f} frames/s |")
    print(f"| genrefocus decode→float→encode, {args.long:g} s clip ({l_['frames']} frames) | {ours_long:.2f} frames/s |")
    print(f"| ffmpeg program, same transcode natively in 10-bit ints (baseline) | {base_fps:.2f} frames/s |")
    print(f"| ratio genrefocus / ffmpeg | {ours / base_fps:.2f} |")
    print(f"| peak RSS, {args.short:g} s clip | {s['peak_rss_mib']:.0f} MiB |")
    print(f"| peak RSS, {args.long:g} s clip | {l_['peak_rss_mib']:.0f} MiB |")
    print(f"| peak RSS ratio long/short (flat = 1.0) | {l_['peak_rss_mib'] / s['peak_rss_mib']:.3f} |")
    if l_["peak_rss_at_30_mib"] is not None:
        print(f"| peak RSS of the {args.long:g} s run after its first 30 frames | {l_['peak_rss_at_30_mib']:.0f} MiB |")
    print(f"| parent RUSAGE_CHILDREN max after both | {l_['children_max_rss_mib']:.0f} MiB |")
    print(f"| load average at the end (1/5/15 min, 2 cores) | {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} |")


if __name__ == "__main__":
    main()

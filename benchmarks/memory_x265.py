"""What libx265 itself holds at 1080p, and what its look-ahead setting costs in quality and size.

    PYTHONPATH=. python benchmarks/memory_x265.py --clip CLIP.mp4 [--params "" "rc-lookahead=10" ...]

Per x265-params set (the writer's own options, io/video_writer.py: CRF 14, preset medium, the
clip's 10-bit 4:2:0), in a child process each: the clip's frames are decoded first, then encoded
while the child's RSS above its level before the encoder is read after every frame (the encoder's
own growth, frames ramping up to its pool), then malloc's in-use bytes (mallinfo2) and the RSS
after malloc_trim (memory in use vs freed and kept), bytes written and luma PSNR of the decoded
result against the frames encoded (10-bit code values).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def rss_mib() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]


def one(clip: str, params: str) -> dict:
    """Encode `clip`'s frames with these x265-params; memory, size and quality."""
    import av

    with av.open(clip) as src:
        frames = [f.reformat(format="yuv420p10le").to_ndarray() for f in src.decode(video=0)]
    h = frames[0].shape[0] * 2 // 3
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    out = av.open(path, "w")
    opts = {"crf": "14", "preset": "medium", "x265-params": ":".join(["log-level=error"] + ([params] if params else []))}
    vs = out.add_stream("libx265", rate=24, options=opts)
    vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], h, "yuv420p10le"
    base, growth = rss_mib(), []
    for a in frames:
        for p in vs.encode(av.VideoFrame.from_ndarray(a, format="yuv420p10le")):
            out.mux(p)
        growth.append(round(rss_mib() - base))
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    mi = libc.mallinfo2()
    before_trim = rss_mib()
    libc.malloc_trim(0)
    trimmed = before_trim - rss_mib()
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    with av.open(path) as c:
        dec = [f.to_ndarray() for f in c.decode(video=0)]
    mse = float(np.mean([np.mean((a[:h].astype(np.float64) - b[:h]) ** 2) for a, b in zip(frames, dec)]))
    size = os.path.getsize(path)
    os.remove(path)
    return {"params": params or "(writer default)", "frames": len(frames), "rss_growth_mib_per_frame": growth,
            "max_growth_mib": max(growth), "malloc_in_use_mib": round((mi.uordblks + mi.hblkhd) / 2**20),
            "malloc_free_kept_mib": round(mi.fordblks / 2**20), "trim_returned_mib": round(trimmed),
            "bytes": size, "luma_psnr_db": round(10 * np.log10(1023.0 ** 2 / mse), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True, help="a 10-bit 4:2:0 clip (e.g. speed_clips' 1080p HEVC clip)")
    ap.add_argument("--params", nargs="*", default=["", "rc-lookahead=10", "rc-lookahead=5"])
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    if a.one is not None:
        print(json.dumps(one(a.clip, a.one)))
        return 0
    rows = []
    for p in a.params:
        res = subprocess.run([sys.executable, __file__, "--clip", a.clip, "--one", p], check=True,
                             capture_output=True, text=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['params']}: growth {r['max_growth_mib']} MiB (per frame {r['rss_growth_mib_per_frame'][::8]}), "
              f"in use {r['malloc_in_use_mib']} MiB, trim returned {r['trim_returned_mib']} MiB, "
              f"{r['bytes']} bytes, luma PSNR {r['luma_psnr_db']} dB", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"clip": a.clip, "load1": os.getloadavg()[0], "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Same outputs from two checkouts: a small render corpus run with each, compared by digest.

Not a speed benchmark: a refactor of io/ (or anything on the path from file to file) must leave the
encoded outputs, the decoded frames and what `probe` says unchanged. Each checkout renders the same
jobs in its own process (PYTHONPATH=checkout), then every output is digested: file bytes (MP4,
MOV, EXR), packets and stream parameters for Matroska (whose muxer writes a random segment UID per
file), the decoded float frames with their timestamps, and the probe JSON.

    python benchmarks/io_identity.py /path/to/before /path/to/after [--runs 3]

The H.264-to-H.264 job (b.mp4, i.mp4) gives one of two outputs from run to run with either checkout
(seen 2026-12-04 on the 2-core session machine, both before and after the io/ split; the same
frames encoded alone, or from an FFV1 input, are reproducible), so each checkout runs --runs times
and a digest matches when the two sets of outcomes share one.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

JOBS = [  # (name, input, extra flags)
    ("a.mkv", "ffv1.mkv", []),
    ("b.mp4", "h264.mp4", []),
    ("c.mov", "prores.mov", []),
    ("d.mov", "h264.mp4", ["--codec", "prores_4444"]),
    ("e.%04d.exr", "prores.mov", []),
    ("f.mp4", "ffv1.mkv", ["--codec", "h265", "--crf", "20"]),
    ("g.mkv", "tone.mkv", []),
    ("h.mkv", "ffv1.mkv", ["--chunks", "3"]),
    ("i.mp4", "h264.mp4", ["--chunks", "2"]),
]

DIGEST = r'''
import glob, hashlib, json, os, sys
import av
from genrefocus_video.io.probe import probe, to_json
from genrefocus_video.io.reader import open_reader
out, names = sys.argv[1], sys.argv[2:]
res = {}
for name in names:
    p = os.path.join(out, name)
    files = sorted(glob.glob(p.replace("%04d", "*"))) if "%" in name else [p]
    h = hashlib.sha256()
    for f in files:
        if f.endswith(".mkv"):
            with av.open(f) as c:
                for s in c.streams:
                    h.update(repr((s.type, s.codec_context.name, s.time_base, dict(s.metadata),
                                   bytes(s.codec_context.extradata or b""))).encode())
                for k in c.demux():
                    h.update(bytes(k) + repr((k.stream.index, k.pts, k.dts, k.duration, k.is_keyframe)).encode())
        else:
            h.update(open(f, "rb").read())
    res["bytes " + name] = h.hexdigest()
    h = hashlib.sha256()
    with open_reader(p) as r:
        for fr in r:
            h.update(fr.rgb.tobytes() + repr(fr.time).encode())
    res["frames " + name] = h.hexdigest()
    res["probe " + name] = hashlib.sha256(to_json(probe(p)).replace(out, "OUT").encode()).hexdigest()
print(json.dumps(res))
'''


def make_sources(src: Path) -> None:
    """A 10-frame FFV1 clip, its H.264, 10-bit ProRes 422 HQ + PCM and FFV1 + FLAC copies, a depth map."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_pipeline_kit import make_clip

    make_clip(str(src / "ffv1.mkv"), n=10, w=64, h=48)
    np.save(src / "d.npy", np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1)))
    ff = ["ffmpeg", "-v", "error", "-y", "-i", str(src / "ffv1.mkv")]
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=0.5", "-shortest"]
    subprocess.run([*ff, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src / "h264.mp4")], check=True)
    subprocess.run([*ff, *tone, "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le",
                    "-c:a", "pcm_s16le", str(src / "prores.mov")], check=True)
    subprocess.run([*ff, *tone, "-c:v", "copy", "-c:a", "flac", str(src / "tone.mkv")], check=True)


def run_checkout(checkout: str, src: Path, out: Path) -> dict[str, str]:
    """Every job and the digests with `checkout`'s package. The children run in `out`: `python -m` and
    `-c` put the working directory first on sys.path, so run from a checkout's root they imported
    that checkout whatever PYTHONPATH said (until 2026-12-06: both sides then ran the same code)."""
    env = dict(os.environ, PYTHONPATH=checkout, RAY_AUTH_MODE="disabled")
    out.mkdir(parents=True)
    for name, clip, extra in JOBS:
        cmd = [sys.executable, "-m", "genrefocus_video.cli", "render", str(src / clip), "-o", str(out / name),
               "--depth", str(src / "d.npy"), "--k", "3", "--focus-disparity", "0.4", "--no-progress",
               "--executor", "local", *extra]
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=out)
    names = [n for n, _, _ in JOBS] + [f"../src/{c}" for c in ("ffv1.mkv", "h264.mp4", "prores.mov", "tone.mkv")]
    done = subprocess.run([sys.executable, "-c", DIGEST, str(out), *names], env=env, check=True,
                          capture_output=True, text=True, cwd=out)
    return json.loads(done.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        make_sources(src)
        seen: dict[str, dict[str, set[str]]] = {"before": {}, "after": {}}
        for side, checkout in (("before", a.before), ("after", a.after)):
            for k in range(a.runs):
                for key, dig in run_checkout(checkout, src, Path(tmp) / f"{side}{k}").items():
                    seen[side].setdefault(key, set()).add(dig)
    bad = [k for k in seen["before"] if not seen["before"][k] & seen["after"].get(k, set())]
    for k in sorted(seen["before"]):
        varies = len(seen["before"][k] | seen["after"][k]) > 1
        print(f"{'DIFFERS' if k in bad else 'same   '} {k}{'  (varies between runs)' if varies else ''}")
    print(f"{len(seen['before']) - len(bad)} of {len(seen['before'])} digests identical")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

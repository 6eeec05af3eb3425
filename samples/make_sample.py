"""Regenerate the bundled sample clip and its depth (provenance of everything in samples/).

The sample is a procedurally rendered layered scene from ../shared/lfbench (a night city with point
lights, cards at several depths and a subject that moves in depth, camera panning), rendered all
in focus (K = 0), so the demo has exact depth to refocus with:

- `samples/city.mp4`        H.264 8-bit 4:2:0 BT.709, 24 fps, 96 frames (4 s), 640×360, with a
                            stereo AAC tone track (to show that audio is carried over untouched)
- `samples/city_depth.mkv`  FFV1 gray16le: disparity × 65535 (disparity in [0, 1], larger = nearer)
- `samples/city_meta.json`  lfbench's per-frame metadata (subject disparity, camera path, ...)

Run from the repo root: `.venv/bin/python samples/make_sample.py` (needs ../shared/lfbench; the
product and the demo do not — the generated files are committed).
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LFBENCH = REPO.parent / "shared" / "lfbench"
W, H, FRAMES, FPS, SEED = 640, 360, 96, 24, 7


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    """BT.709 OETF (the clip is tagged BT.709), float in [0, 1]."""
    x = np.clip(lin, 0.0, 1.0)
    return np.where(x < 0.018, 4.5 * x, 1.099 * np.power(x, 0.45) - 0.099)


def main() -> int:
    if not (LFBENCH / "lfbench").is_dir():
        print(f"make_sample: needs lfbench at {LFBENCH}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", str(SEED), "--size", f"{W}x{H}",
                        "--frames", str(FRAMES), "--fps", str(FPS), "--track", "fixed", "--focus", "0.5",
                        "--k", "0", "--out", tmp], cwd=LFBENCH, check=True)
        src = Path(tmp)
        _write_clip(src, REPO / "samples" / "city.mp4")
        _write_depth(src, REPO / "samples" / "city_depth.mkv")
        meta = json.loads((src / "meta.json").read_text())
        keep = {k: meta[k] for k in ("seed", "size", "frames", "fps", "per_frame", "layers") if k in meta}
        (REPO / "samples" / "city_meta.json").write_text(json.dumps(keep, indent=1))
    for p in sorted((REPO / "samples").glob("city*")):
        print(f"{p.relative_to(REPO)}: {p.stat().st_size / 1e6:.2f} MB")
    return 0


def _load_aif(src: Path, i: int) -> np.ndarray:
    return np.load(src / "aif" / f"{i:04d}.npy") if (src / "aif" / f"{i:04d}.npy").exists() else _read_exr(src / "aif" / f"{i:04d}.exr")


def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        ch = f.channels()
        if "RGB" in ch:
            return np.asarray(ch["RGB"].pixels, dtype=np.float32)
        return np.stack([np.asarray(ch[c].pixels, dtype=np.float32) for c in "RGB"], -1)


def _write_clip(src: Path, out: Path) -> None:
    tmp = out.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.options = {"crf": "16", "preset": "slow", "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709"}
        v.codec_context.color_primaries = 1
        v.codec_context.color_trc = 1
        v.codec_context.colorspace = 1
        a = c.add_stream("aac", rate=48000, layout="stereo")
        for i in range(FRAMES):
            rgb8 = np.round(srgb_encode(_load_aif(src, i)) * 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb8, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for p in v.encode(frame.reformat(format="yuv420p", dst_colorspace="itu709")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        n = 1024
        for j in range(math.ceil(FRAMES / FPS * 48000 / n)):
            t = (np.arange(n) + j * n) / 48000.0
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, j * n
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    shutil.move(tmp, out)


def _write_depth(src: Path, out: Path) -> None:
    tmp = out.with_suffix(".tmp.mkv")
    with av.open(str(tmp), "w") as c:
        v = c.add_stream("ffv1", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "gray16le"
        for i in range(FRAMES):
            d = np.load(src / "disparity" / f"{i:04d}.npy").astype(np.float64)
            code = np.round(np.clip(d, 0, 1) * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(code, format="gray16le")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    shutil.move(tmp, out)


if __name__ == "__main__":
    sys.exit(main())

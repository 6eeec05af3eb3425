"""Handheld test clips for the end-to-end rows of issue 17 (benchmarks/speed_table.py).

There is no long real handheld clip on this machine, so the clips are lfbench's: handheld camera
(pan + per-frame jitter, tests/lfbench_motion_clips.py "shake") with the subject walking toward
the camera. The all-in-focus linear frames are sRGB-encoded and written as a phone would:

* 720p: H.264 (libx264, yuv420p, CRF 12);
* 1080p: 10-bit HEVC (libx265, yuv420p10le, CRF 14) from 16-bit RGB, like a phone's HDR clip.

The subject's box at frame 0 (x, y, w, h in px, from lfbench's subject mask) is returned for
``--focus-box``. Clips are cached by their parameters in `folder` (built once per run).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SEED = 11  # an lfbench seed whose subject is large and textured at both sizes


def srgb16(linear: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB-encoded 16-bit (highlights clipped), the codec's input."""
    x = np.clip(linear, 0.0, 1.0)
    enc = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(enc * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


def subject_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the subject mask's bounding box."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def encode(frames: np.ndarray, path: str, hevc10: bool, fps: int = 24) -> None:
    """Write linear float frames (T, H, W, 3) as H.264 8-bit or HEVC 10-bit (atomic)."""
    import av

    tmp = f"{path}.{os.getpid()}.tmp.mp4"
    with av.open(tmp, "w") as out:
        st = out.add_stream("libx265" if hevc10 else "libx264", rate=fps)
        st.width, st.height = frames.shape[2], frames.shape[1]
        st.pix_fmt = "yuv420p10le" if hevc10 else "yuv420p"
        st.options = {"crf": "14", "x265-params": "log-level=error"} if hevc10 else {"crf": "12"}
        for f in frames:
            rgb = srgb16(f)
            vf = (av.VideoFrame.from_ndarray(rgb, format="rgb48le") if hevc10
                  else av.VideoFrame.from_ndarray((rgb >> 8).astype(np.uint8), format="rgb24"))
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    os.replace(tmp, path)


def handheld_clip(folder: str, size: tuple[int, int], frames: int, hevc10: bool) -> dict:
    """{"path", "box": "x,y,w,h", "frames", "size", "codec"} of a cached handheld lfbench clip."""
    from lfbench_motion_clips import render_clip

    codec = "hevc10" if hevc10 else "h264"
    name = f"handheld_{size[0]}x{size[1]}_{frames}f_{codec}"
    path, meta_path = os.path.join(folder, name + ".mp4"), os.path.join(folder, name + ".json")
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as fh:
            return json.load(fh)
    os.makedirs(folder, exist_ok=True)
    clip = render_clip(SEED, size, frames, "shake")
    encode(clip["aif"], path, hevc10)
    meta = {"path": path, "box": ",".join(map(str, subject_box(clip["subject"][0]))), "frames": frames,
            "size": list(size), "codec": codec}
    with open(meta_path, "w") as fh:
        json.dump(meta, fh)
    return meta

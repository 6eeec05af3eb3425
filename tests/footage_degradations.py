"""What real footage does to a clean rendered clip: sensor noise, exposure flicker, lossy compression.

Shared by tests/test_motion_depth.py and benchmarks/motion_depth_hd.py (`--degrade`). Every
function takes and returns linear-light float32 frames (T, H, W, 3), as the pipeline carries them,
and is seeded:
  noise     signal-dependent sensor noise, Poisson-Gaussian in linear light: variance a x + b
            (a = 0.002, b = 1e-5: about 6 gray levels of the 8-bit sRGB frame at mid-gray and 9 in
            the shadows, a phone at high ISO before its own denoiser);
  flicker   an auto-exposure that hunts: each frame times exp(N(0, 0.06)) (6 % gain steps);
  h264      an 8-bit 4:2:0 H.264 round trip (libx264 CRF 28, PyAV), which smooths the noise away and
            leaves blocks and ringing instead;
  phone     all three, milder: 3 % flicker, then the noise, then CRF 26.
"""
from __future__ import annotations

import io

import av
import numpy as np

from genrefocus_video.colour import from_linear, to_linear

DEGRADATIONS = ("clean", "noise", "flicker", "h264", "phone")


def sensor_noise(clip: np.ndarray, seed: int, a: float = 0.002, b: float = 1e-5) -> np.ndarray:
    """Poisson-Gaussian noise of variance a x + b on each linear value x (clipped at 0)."""
    rng = np.random.default_rng(seed + 77)
    x = np.clip(clip, 0.0, None)
    return np.clip(x + rng.standard_normal(x.shape) * np.sqrt(a * x + b), 0.0, None).astype(np.float32)


def exposure_flicker(clip: np.ndarray, seed: int, std: float = 0.06) -> np.ndarray:
    """Each frame times its own gain exp(N(0, std)) (linear light)."""
    gain = np.exp(np.random.default_rng(seed).normal(0.0, std, len(clip)))
    return (clip * gain[:, None, None, None]).astype(np.float32)


def h264_round_trip(clip: np.ndarray, crf: int = 28) -> np.ndarray:
    """Encoded to 8-bit sRGB H.264 (yuv420p, libx264 at `crf`) in memory and decoded back to linear."""
    t, h, w, _ = clip.shape
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in clip:
            code = (np.clip(from_linear(frame, "srgb"), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(code, format="rgb24")))
        out.mux(stream.encode(None))
    buf.seek(0)
    with av.open(buf) as src:
        frames = [to_linear(f.to_ndarray(format="rgb24").astype(np.float32) / 255.0, "srgb") for f in src.decode(video=0)]
    if len(frames) != t:
        raise RuntimeError(f"H.264 round trip returned {len(frames)} frames for {t}")
    return np.stack(frames).astype(np.float32)


def degrade(name: str, clip: np.ndarray, seed: int) -> np.ndarray:
    """`clip` as footage of kind `name` (one of DEGRADATIONS) would show it."""
    if name == "clean":
        return clip
    if name == "noise":
        return sensor_noise(clip, seed)
    if name == "flicker":
        return exposure_flicker(clip, seed)
    if name == "h264":
        return h264_round_trip(clip)
    if name == "phone":
        return h264_round_trip(sensor_noise(exposure_flicker(clip, seed, 0.03), seed), crf=26)
    raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {name!r}")

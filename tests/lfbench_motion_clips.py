"""lfbench clips for motion depth, rendered in memory, and the measures motion depth is judged by.

Shared by tests/test_motion_depth.py and benchmarks/motion_depth_lfbench.py. Clips are all-in-focus
frames (K = 0: one view, fast) with exact disparity and the subject's mask, from lfbench's Clip:
  pan    lfbench's camera (a lateral pan of +-5 % of the width per unit disparity plus a vertical
         arc) and its subject walking toward the camera while drifting sideways;
  depth  the same without the subject's sideways drift (it moves in depth only);
  shake  handheld: the pan plus a per-frame random camera jitter (std 1.5 px per unit disparity
         per axis, a new draw every frame), the subject as in `pan`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(os.environ.get("GENREFOCUS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MOTIONS = ("pan", "depth", "shake")


def render_clip(seed: int, size: tuple[int, int], frames: int, motion: str, span: int = 0) -> dict:
    """{"aif": (T, H, W, 3) linear RGB, "disparity": (T, H, W), "subject": (T, H, W) bool}.

    `span` > `frames`: the middle `frames` of a clip `span` frames long (its camera and subject move
    frames / span as far per frame as in a `frames`-frame clip: a slow handheld shot), the shake's
    jitter scaled alike; 0: the whole `frames`-frame clip."""
    if str(SHARED / "lfbench") not in sys.path:
        sys.path.insert(0, str(SHARED / "lfbench"))
    from lfbench.render import layer_maps, render_view
    from lfbench.video import SUBJECT_UID, Clip

    slow = span > frames
    jitter = 1.5 * (frames - 1) / (span - 1) if slow else 1.5

    class SlowClip(Clip):
        """The middle `frames` of a `span`-frame clip (the fastest part of lfbench's motion)."""

        def tau(self, t: int) -> float:
            return 0.5 + (t - 0.5 * (frames - 1)) / (span - 1) if slow else super().tau(t)

    class ShakyClip(SlowClip):
        """lfbench's pan plus handheld jitter."""

        def camera(self, t: int) -> tuple:
            x, y = super().camera(t)
            jx, jy = jitter * np.random.default_rng(seed * 1000 + t).standard_normal(2)
            return x + jx, y + jy

    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}")
    cls = ShakyClip if motion == "shake" else SlowClip
    # k only sets the margin the layers are rendered with (K = 0 frames need none): room for the shake
    clip = cls(seed, size[0], size[1], frames, 8.0, "follow", None, drift=motion != "depth")
    aif, disp, subj = [], [], []
    for t in range(frames):
        layers = clip.layers(t)
        aif.append(render_view(layers, size).astype(np.float32))
        d, front, _ = layer_maps(layers, size)
        disp.append(d.astype(np.float32))
        subj.append(front == SUBJECT_UID)
    return {"aif": np.stack(aif), "disparity": np.stack(disp), "subject": np.stack(subj)}


def absrel(d_pred: np.ndarray, d_gt: np.ndarray, mask: np.ndarray) -> float:
    """Scale-aligned AbsRel in depth Z = 1/d: mean |s Z_pred - Z_gt| / Z_gt, s = median(Z_gt / Z_pred)."""
    if mask.sum() < 16:
        return float("nan")
    z, zg = 1.0 / np.maximum(d_pred[mask], 1e-6), 1.0 / d_gt[mask]
    s = np.median(zg / z)
    return float(np.mean(np.abs(s * z - zg) / zg))


def blockiness(d_pred: np.ndarray, d_gt: np.ndarray) -> float:
    """Spurious gradient energy: mean |grad log d_pred| (per px) where the GT is flat over 5x5 and
    measurable (d >= 0.1). The GT has 0 there; patchy estimates put their patch edges there."""
    lg = np.log(np.maximum(d_gt, 1e-3)).astype(np.float32)
    kernel = np.ones((5, 5), np.uint8)
    flat = (cv2.dilate(lg, kernel) - cv2.erode(lg, kernel) < 1e-3) & (d_gt >= 0.1)
    lp = np.log(np.maximum(d_pred, 1e-4)).astype(np.float32)
    gx = cv2.Sobel(lp, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(lp, cv2.CV_32F, 0, 1, ksize=3) / 8
    return float(np.mean(np.hypot(gx, gy)[flat])) if flat.any() else float("nan")


def thin_structures(measurable: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """Static measurable pixels that a 5x5 opening removes: twigs, wires, letter strokes <= 4 px."""
    k = np.ones((5, 5), np.uint8)
    opened = cv2.dilate(cv2.erode(measurable.astype(np.uint8), k), k).astype(bool)
    return measurable & ~opened & ~subject


def near_thin_structures(d_gt: np.ndarray, subject: np.ndarray, shape: tuple) -> np.ndarray:
    """Pixels within 2 px of the thin structures (`thin_structures`), on a frame of `shape` (height,
    width; the refocus's, resized by area): where the picture shows a twig's depth error."""
    thin = cv2.dilate(thin_structures(d_gt >= 0.1, subject).astype(np.uint8), np.ones((5, 5), np.uint8))
    return cv2.resize(thin.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0.25


def refocus_renders(rgb: np.ndarray, d_pred: np.ndarray, d_gt: np.ndarray, subject: np.ndarray,
                    width: int = 640) -> tuple[np.ndarray, np.ndarray]:
    """(refocus with the exact disparity, refocus with `d_pred`), sRGB-encoded, at `width` px: `rgb`
    refocused with `d_pred` scaled to the truth by the median ratio on measurable pixels (GT d >= 0.1),
    disc aperture, focus on the subject's median true disparity, K giving 1.5 % of the width at the
    farthest measurable layer."""
    from genrefocus_video import render_bokeh
    from genrefocus_video.colour import from_linear

    m = d_gt >= 0.1
    a = float(np.median(d_gt[subject])) if subject.any() else float(np.median(d_gt[m]))
    k = 0.015 * width / max(float(np.abs(d_gt[m] - a).max()), 1e-3)
    d = d_pred * float(np.median(d_gt[m] / np.maximum(d_pred[m], 1e-6)))
    small = resize_to_width(rgb, width)
    ref, out = (from_linear(np.clip(render_bokeh(small, resize_to_width(x, width), a, k), 0, 1), "srgb")
                for x in (d_gt, d))
    return ref, out


def resize_to_width(x: np.ndarray, width: int) -> np.ndarray:
    """`x` (a frame, a map or a float mask) resized to `width` px, aspect kept (area interpolation)."""
    return cv2.resize(x, (width, width * x.shape[0] // x.shape[1]), interpolation=cv2.INTER_AREA)


def psnr(ref: np.ndarray, out: np.ndarray, within: np.ndarray | None = None) -> float:
    """PSNR in dB of `out` against `ref` (values in [0, 1]), over the pixels of the mask `within`
    when given (same height and width)."""
    sq = (ref - out) ** 2
    if within is not None:
        sq = sq[within]
    return float(10 * np.log10(1.0 / max(float(np.mean(sq)), 1e-12)))


def refocus_psnr(rgb: np.ndarray, d_pred: np.ndarray, d_gt: np.ndarray, subject: np.ndarray,
                 width: int = 640) -> float:
    """What a user sees of a depth error: PSNR in dB of the refocus with `d_pred` against the
    refocus with the exact disparity (`refocus_renders`).
    Scale-aligned AbsRel can favour a flat map (lfbench seed 1, slow 720p: a constant disparity
    scores 0.12, below many motion-depth frames); the refocus cannot."""
    return psnr(*refocus_renders(rgb, d_pred, d_gt, subject, width))

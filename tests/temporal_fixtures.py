"""Shared fixtures of the temporal tests: ONE tiny lfbench video clip per test session.

lfbench's `video` command renders a layered light-field clip with known per-frame disparity, GT
forward flow and a subject that moves in depth. It is generated once (192x108, 24 frames, ~2 s)
into a session temp folder and shared by every temporal test module through a module-level cache
(the fixture is imported by several modules, so the cache, not pytest's scoping, makes it once).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_CACHE: dict[str, Any] = {}


class LfClip:
    """Paths and ground truth of a generated lfbench clip."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = json.loads((root / "meta.json").read_text())
        self.frames = int(self.meta["frames"])
        self.width, self.height = self.meta["size"]
        self.aif_pattern = str(root / "aif" / "%04d.exr")
        self.disp_pattern = str(root / "disparity" / "%04d.npy")

    def disparity(self, t: int) -> np.ndarray:
        return np.load(self.root / "disparity" / f"{t:04d}.npy").astype(np.float32)

    def aif(self, t: int) -> np.ndarray:
        from lfbench.io import read_float

        return read_float(str(self.root / "aif" / f"{t:04d}.exr")).astype(np.float32)

    def flow(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        f = np.load(self.root / "flow" / f"{t:04d}.npy")
        v = cv2.imread(str(self.root / "flow" / f"{t:04d}_valid.png"), cv2.IMREAD_GRAYSCALE) > 0
        return f, v

    @property
    def subject_disparity(self) -> np.ndarray:
        return np.array([p["subject_disparity"] for p in self.meta["per_frame"]])

    @property
    def disparity_range(self) -> float:
        lo, hi = self.meta["disparity_range"]
        return float(hi - lo)

    def subject_box(self, t: int = 0) -> tuple[int, int, int, int]:
        """Bounding box of the subject's visible pixels near its centre at frame t (from GT)."""
        g = self.disparity(t)
        p = self.meta["per_frame"][t]
        ys, xs = np.nonzero(np.abs(g - p["subject_disparity"]) < 1e-3)
        cx, cy = p["subject_center"]
        sel = (np.abs(xs - cx) < 40) & (np.abs(ys - cy) < 40)
        x0, x1, y0, y1 = xs[sel].min(), xs[sel].max(), ys[sel].min(), ys[sel].max()
        return int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)


@pytest.fixture(scope="session")
def lf_follow_clip(lfbench, tmp_path_factory) -> LfClip:
    """192x108x24 lfbench clip, subject moving in depth (seed 3: subject unoccluded at frame 0)."""
    if "follow" not in _CACHE:
        out = tmp_path_factory.mktemp("lfbench") / "follow"
        root = Path(lfbench.__file__).resolve().parents[1]
        subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", "3", "--size", "192x108",
                        "--frames", "24", "--fps", "24", "--track", "follow", "--k", "6", "--shape", "disc",
                        "--out", str(out)], cwd=root, check=True, capture_output=True)
        _CACHE["follow"] = LfClip(out)
    return _CACHE["follow"]


def estimator_noise(g: np.ndarray, t: int, scale: float = 0.07, shift: float = 0.10, warp: float = 0.05,
                    pixel: float = 0.02, seed: int = 2000) -> np.ndarray:
    """What a per-frame monocular depth estimator does to a clip's disparity, frame by frame.

    Per-frame estimators (MiDaS/DPT/Depth-Anything style, run on each frame alone) are
    affine-invariant: each frame's map comes with its own global scale and shift, plus
    low-frequency warps of the depth layout and a little local noise. Modelled as
        d_t = s_t * g * exp(warp * F_t + pixel * n_t) + b_t,
    s_t = exp(scale * N(0,1)) (a global scale jitter, +-7% at the default), b_t = shift * p2(g) *
    N(0,1) (a shift of the order of the farthest disparity: a shift of the range's size would
    push the far background negative), F_t a unit-variance Gaussian random field with correlation
    length 1/8 of the frame (low-frequency warps), n_t i.i.d. per pixel; all new every frame.
    """
    r = np.random.default_rng(seed + t)
    import cv2

    h, w = g.shape
    f = cv2.GaussianBlur(r.standard_normal((h, w)).astype(np.float32), (0, 0), max(h, w) / 8)
    f /= f.std()
    s = math.exp(scale * r.standard_normal())
    b = shift * float(np.percentile(g, 2)) * r.standard_normal()
    d = s * g * np.exp(warp * f + pixel * r.standard_normal((h, w)).astype(np.float32)) + b
    return np.maximum(d, 1e-3 * float(np.percentile(g, 98))).astype(np.float32)


def render_score(c: LfClip, maps: list, folder: Path) -> tuple[float, float]:
    """(temporal instability, mean PSNR) of the clip refocused with `maps` at its own focus track
    (render_bokeh, disc aperture), scored by lfbench score-video against its ground truth."""
    from types import SimpleNamespace

    from genrefocus_video import render_bokeh
    from lfbench.metrics import cmd_score_video

    folder.mkdir()
    for t in range(c.frames):
        img = render_bokeh(c.aif(t), maps[t], c.meta["focus_track"][t], float(c.meta["k"]), aperture="disc")
        np.save(folder / f"{t:04d}.npy", img)
    r = cmd_score_video(SimpleNamespace(gt=str(c.root), pred=str(folder), radius=None))
    return r["temporal_instability"], r["mean"]["psnr"]

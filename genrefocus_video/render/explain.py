"""Explain a render before it runs: the signed blur map and a focus-plane overlay.

* `blur_map` r = K (d − a) px, written as a float EXR (exact values) and a colour-coded PNG
  (diverging: red = in front of the focus plane, blue = behind, white = in focus; full colour at
  the frame's largest |r|, with a legend-free scale printed in the file name's JSON sidecar).
* `focus overlay`: the frame (sRGB preview) with pixels within `tolerance_px` of the focus plane
  tinted green and the rest dimmed, so a user sees where focus lies before a long render.

Files are written atomically (temp file in the same folder + os.replace).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from ..errors import OutputError
from ..io.atomic import commit, discard, temp_path_for
from ..optics.coc import signed_blur


def signed_blur_map(disparity: np.ndarray, focus_disparity: float, k: float, focus_range: float = 0.0) -> np.ndarray:
    """r = K (d − a), float32 H×W; r > 0 in front of the focus plane (optics.coc: the same r the
    renderer uses, focus range included)."""
    return signed_blur(disparity, focus_disparity, k, focus_range)


def colour_blur_map(r: np.ndarray, scale: Optional[float] = None) -> np.ndarray:
    """Diverging colour code of r as uint8 H×W×3 RGB: white at 0, red for r > 0, blue for r < 0."""
    s = float(scale) if scale else max(float(np.abs(r).max()), 1e-6)
    t = np.clip(r / s, -1.0, 1.0)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.empty(r.shape + (3,), np.float32)
    rgb[..., 0] = 1.0 - 0.75 * neg  # behind -> blue
    rgb[..., 1] = 1.0 - 0.8 * np.maximum(pos, neg)
    rgb[..., 2] = 1.0 - 0.75 * pos  # front -> red
    return np.round(rgb * 255).astype(np.uint8)


def _srgb8(lin: np.ndarray) -> np.ndarray:
    x = np.clip(lin, 0.0, 1.0)
    enc = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(enc * 255).astype(np.uint8)


def focus_overlay(image: np.ndarray, r: np.ndarray, tolerance_px: float = 1.0) -> np.ndarray:
    """uint8 H×W×3 RGB preview: in-focus pixels (|r| <= tolerance) tinted green, the rest dimmed."""
    base = _srgb8(image).astype(np.float32)
    infocus = (np.abs(r) <= tolerance_px).astype(np.float32)[..., None]
    green = np.array([40.0, 255.0, 40.0], np.float32)
    out = infocus * (0.5 * base + 0.5 * green) + (1 - infocus) * 0.45 * base
    edge = cv2.morphologyEx((infocus[..., 0] > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    out[edge > 0] = green
    return np.clip(out, 0, 255).astype(np.uint8)


def _atomic_write(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(str(path.resolve()))
    try:
        writer(tmp)
    except Exception as exc:
        discard(tmp)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"{path}: cannot write ({exc})") from None
    commit(tmp, str(path))


def _write_png(path: Path, rgb8: np.ndarray) -> None:
    def w(tmp: str) -> None:
        if not cv2.imwrite(tmp, cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR)):
            raise OutputError(f"{path}: PNG encoder failed")
    _atomic_write(path, w)


def _write_exr(path: Path, r: np.ndarray) -> None:
    import OpenEXR

    def w(tmp: str) -> None:
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with OpenEXR.File(header, {"Y": np.ascontiguousarray(r, dtype=np.float32)}) as f:
            f.write(tmp)
    _atomic_write(path, w)


def write_explain(out_dir: str | os.PathLike, index: int, image: np.ndarray, disparity: np.ndarray,
                  focus_disparity: float, k: float, tolerance_px: float = 1.0,
                  focus_range: float = 0.0) -> dict[str, str]:
    """Write blur_NNNN.exr (float r), blur_NNNN.png (colour code), focus_NNNN.png (overlay), blur_NNNN.json."""
    d = Path(out_dir)
    r = signed_blur_map(disparity, focus_disparity, k, focus_range)
    stem = f"{int(index):04d}"
    files = {"blur_exr": d / f"blur_{stem}.exr", "blur_png": d / f"blur_{stem}.png",
             "focus_png": d / f"focus_{stem}.png", "json": d / f"blur_{stem}.json"}
    _write_exr(files["blur_exr"], r)
    scale = max(float(np.abs(r).max()), 1e-6)
    _write_png(files["blur_png"], colour_blur_map(r, scale))
    _write_png(files["focus_png"], focus_overlay(image, r, tolerance_px))
    meta = {"frame": int(index), "focus_disparity": float(focus_disparity), "k": float(k),
            "focus_range": float(focus_range),
            "r_min_px": float(r.min()), "r_max_px": float(r.max()), "colour_scale_px": scale,
            "in_focus_fraction": float(np.mean(np.abs(r) <= tolerance_px)),
            "convention": "r = K (d - a) px; r > 0 (red) in front of the focus plane, r < 0 (blue) behind"}
    _atomic_write(files["json"], lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
    return {k2: str(v) for k2, v in files.items()}

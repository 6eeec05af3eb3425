"""Shared helpers of the renderer benchmarks: lfbench scenes in memory and their scores.

lfbench (../shared/lfbench, put on sys.path, never installed) renders ground truth by integrating
views of a layered light field over the aperture; this module builds one scene at a given size,
focus setting and aperture and returns AIF, GT disparity, GT refocus and the boundary band used by
lfbench.metrics (pixels within K·max|d − a| of a depth discontinuity).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
if str(SHARED / "lfbench") not in sys.path:
    sys.path.insert(0, str(SHARED / "lfbench"))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lfbench import metrics as lfm  # noqa: E402
from lfbench.io import srgb_encode  # noqa: E402
from lfbench.render import Aperture as LfAperture  # noqa: E402
from lfbench.render import layer_maps, render_refocus, render_view  # noqa: E402
from lfbench.scene import build_scene  # noqa: E402


@dataclass
class Case:
    seed: int
    focus_name: str
    focus: float
    shape: str
    k: float
    aif: np.ndarray
    disparity: np.ndarray
    gt: np.ndarray
    band: np.ndarray
    aperture_png: np.ndarray  # lfbench's normalised aperture image (upright), float32 0..1


def focus_value(layers, name: str) -> float:
    """background = the far layer, near = the nearest card, middle = the card closest to the mid disparity."""
    cards = sorted((L for L in layers if L.kind != "lights"), key=lambda L: L.disparity)
    if name == "background":
        return float(cards[0].disparity)
    if name == "near":
        return float(cards[-1].disparity)
    mid = 0.5 * (cards[0].disparity + cards[-1].disparity)
    return float(min(cards[1:-1] or cards, key=lambda L: abs(L.disparity - mid)).disparity)


def make_case(seed: int, size: tuple[int, int], focus_name: str, shape: str, k: float,
              max_samples: int = 3000) -> Case:
    W, H = size
    margin = int(math.ceil(k)) + 4
    scene = build_scene(seed, W, H, margin)
    focus = focus_value(scene.layers, focus_name)
    ap = LfAperture.from_spec(shape)
    aif = render_view(scene.layers, (W, H))
    disparity, _front, coverage = layer_maps(scene.layers, (W, H))
    gt, info = render_refocus(scene.layers, (W, H), focus, k, ap, max_samples)
    matte = np.clip(sum(c for uid, c in coverage.items() if uid != 0), 0, 1).astype(np.float32)
    band = lfm.boundary_band(lfm.discontinuities(disparity, matte), info["max_blur_px"])
    return Case(seed, focus_name, focus, shape, k, aif.astype(np.float32), disparity.astype(np.float32),
                gt.astype(np.float32), band, ap.image())


def score(case: Case, pred: np.ndarray) -> tuple[float, float]:
    """(PSNR, boundary PSNR) on sRGB-encoded, clipped images, as lfbench.metrics scores them."""
    g = np.clip(srgb_encode(case.gt), 0, 1)
    p = np.clip(srgb_encode(np.clip(pred, 0, None)), 0, 1)
    return lfm.psnr(g, p), lfm.psnr(g, p, case.band)


# ----------------------------------------------------------------------------- Blender baseline
BLENDER_SCRIPT = Path(__file__).resolve().parent / "render_blender.py"
BLENDER_BOKEH = {"disc": "CIRCLE", "hexagon": "HEXAGON", "triangle": "TRIANGLE"}


def write_exr(path: str, rgb: np.ndarray) -> None:
    import OpenEXR

    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGB": rgb}) as f:
        f.write(path)


def read_exr(path: str) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(path) as f:
        ch = f.channels()
        if "RGB" in ch:
            return np.asarray(ch["RGB"].pixels, np.float32)
        if "RGBA" in ch:
            return np.asarray(ch["RGBA"].pixels, np.float32)[..., :3]
        return np.stack([np.asarray(ch[c].pixels, np.float32) for c in "RGB"], -1)


def blender_available() -> tuple[bool, str]:
    import shutil
    import subprocess

    exe = shutil.which("blender")
    if exe is None:
        return False, "no `blender` executable on PATH (apt-get install -y blender)"
    try:
        p = subprocess.run([exe, "-b", "--factory-startup", "--python-expr", "import bpy; print('BPY_OK')"],
                           capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"blender failed to start: {exc}"
    if "BPY_OK" not in p.stdout:
        return False, "blender ran but its Python did not: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return True, exe


def run_blender(jobs: list[dict], workdir: str, timeout: float = 3600) -> dict[str, float]:
    """Run Defocus jobs in ONE Blender process; returns {out_path: seconds} (render calls only)."""
    import json as _json
    import subprocess

    ok, exe = blender_available()
    if not ok:
        raise RuntimeError(exe)
    jpath = os.path.join(workdir, "blender_jobs.json")
    with open(jpath, "w") as f:
        _json.dump(jobs, f)
    p = subprocess.run([exe, "-b", "--factory-startup", "--python", str(BLENDER_SCRIPT), "--", jpath],
                       capture_output=True, text=True, timeout=timeout)
    times = {}
    for line in p.stdout.splitlines():
        if line.startswith("BLENDER_TIME "):
            rec = _json.loads(line[len("BLENDER_TIME "):])
            times[rec["out"]] = rec["seconds"]
    if len(times) != len(jobs):
        raise RuntimeError("blender did not render every job: " + (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ["?"])[-1])
    return times


def calibrate_blender_scale(workdir: str, radius: float = 10.0, bokeh: str = "CIRCLE") -> float:
    """z_scale such that Blender's Defocus blur radius equals the radius map's value in px.

    Renders a point light on black with a constant radius map R and measures the radius of the
    bokeh disc from its area (area = π ρ²); returns R / ρ.
    """
    W = H = 96
    img = np.zeros((H, W, 3), np.float32)
    img[H // 2, W // 2] = 1000.0
    ip, rp, op = (os.path.join(workdir, n) for n in ("cal_img.exr", "cal_r.exr", "cal_out.exr"))
    write_exr(ip, img)
    write_exr(rp, np.full((H, W), radius, np.float32))
    run_blender([{"image": ip, "radius": rp, "out": op, "width": W, "height": H, "bokeh": bokeh,
                  "z_scale": 1.0, "blur_max": 4 * radius}], workdir)
    out = read_exr(op)[..., 0]
    area = float((out > out.max() * 0.25).sum())
    rho = math.sqrt(area / math.pi)
    return radius / rho

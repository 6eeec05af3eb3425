"""Classical pre-deblur quality on lfbench ground truth (refocused image in, all-in-focus target).

For each scene: PSNR (sRGB-encoded, clipped, as lfbench.metrics) of the blurry input and of the
pre-deblurred frame against the AIF, over the whole frame and away from point-light highlights
(where clipped bokeh discs violate any deconvolution model); the same with the *true* blur radius
map K·|d − a| given instead of the estimate (oracle: separates estimation from deconvolution);
and a synthetic control (piecewise-constant frame, uniform disc blur). Prints a Markdown table.

    .venv/bin/python benchmarks/deblur_quality.py [--size 256] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO.parent / "shared" / "lfbench"))

from genrefocus_video.deblur.classical import disc_psf, predeblur, srgb_encode  # noqa: E402

SCENES = [(1, 0.5, 8.0), (2, 0.04, 6.0), (3, 0.9, 5.0), (4, 0.3, 10.0), (5, 0.6, 4.0), (6, 0.85, 12.0)]


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (np.clip(srgb_encode(a), 0, 1) - np.clip(srgb_encode(b), 0, 1)) ** 2
    mse = float(d[mask].mean()) if mask is not None else float(d.mean())
    return 100.0 if mse <= 1e-10 else 10 * math.log10(1.0 / mse)


def _blocks(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 0.2, np.float32)
    for _ in range(int(h * w / 200)):
        x0, y0 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        img[y0:y0 + rng.integers(4, 40), x0:x0 + rng.integers(4, 40)] = rng.uniform(0.02, 0.9, 3)
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from lfbench.render import Aperture, layer_maps, render_refocus, render_view
    from lfbench.scene import build_scene

    rows = []
    W = H = a.size
    for seed, focus, k in SCENES:
        scene = build_scene(seed, W, H, int(math.ceil(k)) + 4)
        aif = render_view(scene.layers, (W, H))
        gt, info = render_refocus(scene.layers, (W, H), focus, k, Aperture.from_spec("disc"))
        disp = layer_maps(scene.layers, (W, H))[0]
        true_r = np.abs(k * (disp - focus)).astype(np.float32)
        t0 = time.perf_counter()
        out = predeblur(gt)
        dt = time.perf_counter() - t0
        oracle = predeblur(gt, radius=true_r)
        hot = (gt.max(axis=2) > 0.95).astype(np.uint8)
        rad = int(math.ceil(info["max_blur_px"])) + 2
        away = cv2.dilate(hot, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2)) == 0
        rows.append({
            "scene": f"seed {seed}, a={focus}, K={k}", "max_blur_px": info["max_blur_px"],
            "psnr_blurry": _psnr(gt, aif), "psnr_predeblur": _psnr(out, aif), "psnr_oracle_radius": _psnr(oracle, aif),
            "away_fraction": float(away.mean()),
            "psnr_blurry_away": _psnr(gt, aif, away), "psnr_predeblur_away": _psnr(out, aif, away),
            "seconds": dt})
    ctrl = []
    for r in (1.5, 3.0, 5.0):
        sharp = _blocks(H, W, 7)
        blurry = cv2.filter2D(sharp, -1, disc_psf(r), borderType=cv2.BORDER_REFLECT)
        ctrl.append({"radius": r, "psnr_blurry": _psnr(blurry, sharp), "psnr_predeblur": _psnr(predeblur(blurry), sharp)})

    print(f"# classical pre-deblur on lfbench ({W}x{H}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| scene | max blur px | blurry dB | pre-deblur dB | gain | oracle-radius gain | "
          "away from lights: blurry / pre-deblur dB (frac) | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scene']} | {r['max_blur_px']:.1f} | {r['psnr_blurry']:.2f} | {r['psnr_predeblur']:.2f} | "
              f"{r['psnr_predeblur'] - r['psnr_blurry']:+.2f} | {r['psnr_oracle_radius'] - r['psnr_blurry']:+.2f} | "
              f"{r['psnr_blurry_away']:.2f} / {r['psnr_predeblur_away']:.2f} ({r['away_fraction']:.2f}) | "
              f"{r['seconds']:.2f} |")
    gains = [r["psnr_predeblur"] - r["psnr_blurry"] for r in rows]
    print(f"\nmean gain {np.mean(gains):+.3f} dB (min {min(gains):+.3f}, max {max(gains):+.3f})")
    print("\n| synthetic control: disc radius | blurry dB | pre-deblur dB | gain |\n|---|---|---|---|")
    for c in ctrl:
        print(f"| {c['radius']} | {c['psnr_blurry']:.2f} | {c['psnr_predeblur']:.2f} | "
              f"{c['psnr_predeblur'] - c['psnr_blurry']:+.2f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"scenes": rows, "control": ctrl}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

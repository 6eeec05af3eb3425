"""Where the renderer's own temporal instability (GT depth) lies on an lfbench follow clip.

    .venv/bin/python benchmarks/render_floor.py [--size 384x216] [--k 16] [--image OUT.jpg] [--keep DIR]

Issue 4 asks depth smoothing to halve the refocused clip's instability; the renderer fed with
*exact* depth already has an instability of 46–73 % of the noisy-depth value (docs/benchmarks/
temporal.md), so this script splits that floor by region to show what would have to change:

* the near string of lights (1 px wire, bulbs of radius 0.5–1.5 px; within its blur radius);
* the followed subject's rim (±4 px);
* other depth edges (≤ 6 px of a GT disparity jump: twigs, poles, wires, card edges);
* bokeh of bright lights (linear > 2) away from those;
* the rest.

Instability per pixel is lfbench's: |(warp(P₊₁) − P) − (warp(G₊₁) − G)| along the GT flow on valid
pixels (sRGB, clipped). `--image` writes a contact sheet (AIF | GT disparity / render | mean
instability map) for a person to look at.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_common as rc  # noqa: E402  (puts lfbench and the repo on sys.path)
from render_temporal import make_clip  # noqa: E402

from genrefocus_video import render_bokeh  # noqa: E402

sys.path.insert(0, str(rc.REPO / "tests"))
from temporal_fixtures import LfClip  # noqa: E402

STRING_MIN_D = 0.87  # lfbench's string of lights lies at d 0.88–0.98, every other layer below 0.83


def _enc(x: np.ndarray) -> np.ndarray:
    from lfbench.io import srgb_encode

    return np.clip(srgb_encode(x), 0.0, 1.0).astype(np.float32)


def _disc(mask: np.ndarray, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def regions(c: LfClip, t: int, k: float) -> dict[str, np.ndarray]:
    """Disjoint region masks of frame t (first match wins, in this order)."""
    from lfbench.metrics import discontinuities

    g = c.disparity(t)
    a = float(c.meta["focus_track"][t])
    string = _disc(g >= STRING_MIN_D, int(np.ceil(k * abs(0.93 - a))) + 2)
    subject = np.abs(g - c.meta["per_frame"][t]["subject_disparity"]) < 1e-4
    rim = _disc(subject, 4) & ~(cv2.erode(subject.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    edges = cv2.distanceTransform((~discontinuities(g, None)).astype(np.uint8), cv2.DIST_L2, 3) <= 6
    bright = _disc(c.aif(t).max(axis=2) > 2.0, int(np.ceil(k * abs(float(g.min()) - a))) + 2)
    out, taken = {}, np.zeros(g.shape, bool)
    for name, m in (("string of lights", string), ("subject rim", rim), ("other depth edges", edges),
                    ("bright-light bokeh", bright), ("rest", np.ones(g.shape, bool))):
        out[name] = m & ~taken
        taken |= m
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="384x216")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--k", type=float, default=16.0)
    ap.add_argument("--image", help="write the contact sheet here (.jpg/.png)")
    ap.add_argument("--keep", help="folder for the generated clip (reused when present)")
    args = ap.parse_args()
    from lfbench.io import read_float
    from lfbench.metrics import warp_from_next

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp) / f"follow_k{args.k:g}_{args.size}_{args.frames}_s{args.seed}"
        c = LfClip(make_clip(root, args.size, args.frames, "follow", args.k, args.seed))
        T = c.frames
        P = [_enc(render_bokeh(c.aif(t), c.disparity(t), float(c.meta["focus_track"][t]), args.k, "disc"))
             for t in range(T)]
        G = [_enc(read_float(str(c.root / "gt" / f"{t:04d}.exr"))) for t in range(T)]
        sums: dict[str, list[float]] = {}
        acc = np.zeros(P[0].shape[:2])
        total_px = 0
        for t in range(T - 1):
            f, v = c.flow(t)
            err = np.abs((warp_from_next(P[t + 1], f) - P[t]) - (warp_from_next(G[t + 1], f) - G[t])).mean(axis=2)
            acc += err * v
            total_px += int(v.sum())
            for name, m in regions(c, t, args.k).items():
                s = sums.setdefault(name, [0.0, 0.0])
                s[0] += float(err[m & v].sum())
                s[1] += float((m & v).sum())
        whole = sum(s[0] for s in sums.values())
        print(f"GT-depth instability {whole / total_px:.5f} (lfbench follow clip, seed {args.seed}, "
              f"{args.size}x{T}, K {args.k:g})")
        print(f"  {'region':22s} {'share':>6s} {'of pixels':>9s}")
        for name, (e, n) in sums.items():
            print(f"  {name:22s} {e / whole:6.2f} {n / total_px:9.2f}")
        if args.image:
            t = T // 2
            g = c.disparity(t)
            top = np.concatenate([_enc(c.aif(t)), np.repeat((g / g.max())[..., None], 3, 2)], 1)
            bottom = np.concatenate([P[t], np.repeat(np.clip(acc / (T - 1) / 0.04, 0, 1)[..., None], 3, 2)], 1)
            sheet = (np.concatenate([top, bottom], 0) * 255 + 0.5).astype(np.uint8)[..., ::-1]
            cv2.imwrite(args.image, sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
            print(f"contact sheet (AIF | GT disparity / render | mean instability, white = 0.04): {args.image}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the renderer's own temporal instability (GT depth) lies on an lfbench follow clip.

    .venv/bin/python benchmarks/render_floor.py [--size 384x216] [--k 16] [--image OUT.jpg] [--keep DIR]
                                                [--oracle-matte]

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

`--oracle-matte` also renders the clip with a *perfect* edge matte built from lfbench's layers
(every pixel that mixes two layers split by their true coverages and colours, both sides of the
edge) in place of render/matte.py's estimate: the ceiling of what better matting could give
(`--oracle-matte far` only on the far-side pixels, `detected` only on the ones the estimate's
jump test flags).
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
from genrefocus_video.render import api as render_api  # noqa: E402
from genrefocus_video.render import cpu as render_cpu  # noqa: E402
from genrefocus_video.render import plan as render_plan  # noqa: E402
from genrefocus_video.render.matte import EDGE_JUMP, EdgeMatte  # noqa: E402

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


class OracleMatte:
    """A perfect edge matte for lfbench clip frames, from the scene's layers (see module doc)."""

    def __init__(self, c: LfClip, k: float, which: str) -> None:
        from lfbench.video import Clip

        self.clip = Clip(c.meta["seed"], c.width, c.height, c.frames, k, c.meta["track"])
        self.k, self.which = k, which
        self.t, self.a, self.plan = 0, 0.0, None

    def hook(self) -> None:
        """Route render_bokeh's plan and edge matte through this object (benchmark process only)."""
        make_plan = render_api.make_plan

        def plan_hook(r, *args, **kw):
            self.plan = make_plan(r, *args, **kw)
            return self.plan

        render_api.make_plan = plan_hook
        render_cpu.edge_matte = self.matte

    def layers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Disparities (far → near), visible coverage and visible premultiplied colour per layer."""
        W, H = self.clip.W, self.clip.H
        layers = sorted(self.clip.layers(self.t), key=lambda L: L.disparity)
        cov = np.zeros((len(layers), H, W), np.float32)
        col = np.zeros((len(layers), H, W, 3), np.float32)
        transmit = np.ones((H, W), np.float32)
        for i in range(len(layers) - 1, -1, -1):  # near → far
            L = layers[i]
            M = np.array([[1.0, 0.0, L.margin + L.offset[0]], [0.0, 1.0, L.margin + L.offset[1]]])
            rgba = cv2.warpAffine(np.ascontiguousarray(L.rgba), M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            cov[i] = rgba[..., 3] * transmit
            col[i] = rgba[..., :3] * transmit[..., None]
            transmit = transmit * (1.0 - rgba[..., 3])
        return np.array([L.disparity for L in layers], np.float32), cov, col

    def matte(self, img: np.ndarray, u: np.ndarray, cap: float = 1.0, jump=None, **_bands) -> EdgeMatte:
        disp, cov, col = self.layers()
        order = np.argsort(-cov, axis=0)
        yy, xx = np.mgrid[: u.shape[0], : u.shape[1]]
        i1, i2 = order[0], order[1]
        near, far = np.maximum(i1, i2), np.minimum(i1, i2)
        cn, cf = cov[near, yy, xx], cov[far, yy, xx]
        split = (cov[i1, yy, xx] < 0.995) & (cov[i2, yy, xx] > 0.005)
        if self.which in ("far", "detected"):
            split &= cn <= cf  # the depth map labels these pixels with the far layer
        if self.which == "detected":
            k3 = np.ones((3, 3), np.uint8)
            umax, umin = cv2.dilate(u, k3, borderType=cv2.BORDER_REPLICATE), cv2.erode(u, k3, borderType=cv2.BORDER_REPLICATE)
            split &= ((umax - umin) > EDGE_JUMP) & (u < 0.5 * (umax + umin))
        ys, xs = np.nonzero(split)
        n_, f_ = near[ys, xs], far[ys, xs]
        alpha = (cn[ys, xs] / (cn[ys, xs] + cf[ys, xs])).astype(np.float32)
        C = img[ys, xs]
        pn, pf = col[n_, ys, xs], col[f_, ys, xs]
        scale = np.where(pn + pf > 1e-6, C / np.maximum(pn + pf, 1e-6), 1.0)  # parts sum to the pixel
        pn, pf = pn * scale, pf * scale

        def coord(d):
            return render_plan._coord((self.k * (d - self.a)).astype(np.float32), self.plan.knots,
                                      self.plan.spacing).astype(np.float32)

        fg4 = np.concatenate([pn, alpha[:, None]], 1).astype(np.float32)
        bg4 = np.concatenate([pf, 1.0 - alpha[:, None]], 1).astype(np.float32)
        f = (cap / np.maximum(C.max(1), cap)).astype(np.float32)[:, None]
        fg4c, bg4c = fg4.copy(), bg4.copy()
        fg4c[:, :3] *= f
        bg4c[:, :3] *= f
        return EdgeMatte(ys.astype(np.int64), xs.astype(np.int64), coord(disp[n_]), coord(disp[f_]), alpha,
                         fg4, bg4, fg4c, bg4c)


def instability(c: LfClip, P: list, G: list) -> float:
    from lfbench.metrics import warp_from_next

    vals = []
    for t in range(c.frames - 1):
        f, v = c.flow(t)
        vals.append(float(np.abs((warp_from_next(P[t + 1], f) - P[t]) - (warp_from_next(G[t + 1], f) - G[t])).mean(axis=2)[v].mean()))
    return float(np.mean(vals))


def mean_psnr(P: list, G: list) -> float:
    return float(np.mean([10 * np.log10(1.0 / max(float(np.mean((p - g) ** 2)), 1e-12)) for p, g in zip(P, G)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="384x216")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--k", type=float, default=16.0)
    ap.add_argument("--image", help="write the contact sheet here (.jpg/.png)")
    ap.add_argument("--keep", help="folder for the generated clip (reused when present)")
    ap.add_argument("--oracle-matte", nargs="?", const="all", choices=("all", "far", "detected"),
                    help="also render with a perfect edge matte from lfbench's layers (see module doc)")
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
        print(f"estimated edge matte: PSNR {mean_psnr(P, G):.2f} dB, instability {instability(c, P, G):.5f}")
        if args.oracle_matte:
            oracle = OracleMatte(c, args.k, args.oracle_matte)
            oracle.hook()
            Po = []
            for t in range(T):
                oracle.t, oracle.a = t, float(c.meta["focus_track"][t])
                Po.append(_enc(render_bokeh(c.aif(t), c.disparity(t), oracle.a, args.k, "disc")))
            print(f"oracle edge matte ({args.oracle_matte}): PSNR {mean_psnr(Po, G):.2f} dB, instability {instability(c, Po, G):.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

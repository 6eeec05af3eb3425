"""Temporal quality benchmark: motion depth accuracy, smoothing vs flicker, follow-focus accuracy.

Run:  .venv/bin/python benchmarks/temporal_quality.py [--size 384x216] [--frames 24] [--out DIR]

1. Motion depth (depth/motion.py) per frame, scale-aligned AbsRel = mean |s Z_pred - Z_gt| / Z_gt
   with s = median(Z_gt / Z_pred) (Z = 1 / disparity):
   a) lfbench clip: over all pixels, over "measurable" pixels (GT disparity >= 0.1: the far
      background at d < 0.1 moves < 0.3 px over the whole clip and is effectively at infinity), and
      over pixels the source marks confident (> 0.3);
   b) real RGB-D frames (../shared/data/rgbd_open3d, metric depth, holes excluded).
2. Temporal instability (lfbench.metrics score-video) and mean PSNR of the refocused clip rendered
   with genrefocus_video.render_bokeh at the clip's own focus track, from: GT depth; GT depth with
   per-frame noise of three models, (i) "iid": multiplicative 10% i.i.d. per pixel + a smooth 6%
   field, (ii) "estimator": what per-frame monocular estimators do (global scale jitter 7%, a
   shift, low-frequency warps 5%, 2% local noise; tests/temporal_fixtures.estimator_noise), and
   (iii) "estimator_strong" (scale 15%, warps 10%, 3% local); a new draw every frame; the same noisy
   depth after flow-guided smoothing at several strengths (and at 0.8 without the global scale
   alignment, for comparison). Also the depth's own flicker along the GT flow.
3. Follow focus: RMS of the followed subject's focus vs its true disparity, in % of the clip's
   disparity range (file depth = GT, and the noisy depth smoothed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(SHARED / "lfbench"))

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.depth.motion import MotionDepthSource  # noqa: E402
from genrefocus_video.depth.temporal import TemporalDepthSmoother  # noqa: E402
from genrefocus_video.flow import forward_backward  # noqa: E402
from genrefocus_video.io.frame import Frame  # noqa: E402
from genrefocus_video.record import FrameRecord  # noqa: E402
from lfbench_motion_clips import absrel  # noqa: E402
from temporal_fixtures import LfClip, estimator_noise  # noqa: E402


def noisy_depth(g: np.ndarray, t: int, pixel: float = 0.10, field: float = 0.06) -> np.ndarray:
    """GT disparity with per-frame multiplicative noise: d exp(pixel n1 + field n2).

    n1: i.i.d. per pixel; n2: a smooth random field (Gaussian-blurred, sigma 8 px, unit std); a
    new draw every frame. Relative (log-normal) errors are what depth estimators make, keep the
    disparity positive and leave no clipping bias.
    """
    r = np.random.default_rng(1000 + t)
    low = cv2.GaussianBlur(r.standard_normal(g.shape).astype(np.float32), (0, 0), 8)
    low /= low.std()
    n = pixel * r.standard_normal(g.shape).astype(np.float32) + field * low
    return (g * np.exp(n)).astype(np.float32)


def make_clip(out: Path, size: str, frames: int, seed: int, k: float = 8.0) -> LfClip:
    subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", str(seed), "--size", size,
                    "--frames", str(frames), "--fps", "24", "--track", "follow", "--k", f"{k:g}", "--shape", "disc",
                    "--out", str(out)], cwd=SHARED / "lfbench", check=True, capture_output=True)
    return LfClip(out)


def scaled_estimator_noise(g: np.ndarray, t: int, m: float) -> np.ndarray:
    """The "estimator" noise model with every term (scale, shift, warps, local noise) times m."""
    return estimator_noise(g, t, scale=0.07 * m, shift=0.10 * m, warp=0.05 * m, pixel=0.02 * m)


def add_clip_args(p: argparse.ArgumentParser, k: float = 16.0) -> None:
    """The lfbench clip options shared by the smoothing studies (temporal_noise_sweep, temporal_bounds)."""
    p.add_argument("--size", default="384x216")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--k", type=float, default=k)
    p.add_argument("--out", default=None, help="keep work files here (default: a temp folder)")


def clip_with_floor(a: argparse.Namespace, prefix: str) -> tuple[Path, LfClip, list[np.ndarray], dict]:
    """Work folder, the lfbench clip of `add_clip_args`, its GT disparities and the renderer's
    floor (the refocused clip's score with exact depth); prints the floor."""
    work = Path(a.out or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    c = make_clip(work / "clip", a.size, a.frames, a.seed, a.k)
    gt = [c.disparity(t) for t in range(c.frames)]
    floor = render_and_score(c, gt, "gt", work)
    print(f"clip {a.size}x{a.frames} seed {a.seed} K {a.k:g}; GT depth: instability {floor['instability']:.5f}, "
          f"PSNR {floor['psnr']:.2f}")
    return work, c, gt, floor


def bench_motion_lfbench(c: LfClip) -> dict:
    aif = [c.aif(t) for t in range(c.frames)]
    src = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < c.frames else None)
    rows = []
    t0 = time.perf_counter()
    for t in range(c.frames):
        est = src.estimate(FrameRecord(Frame(t, aif[t])))
        g = c.disparity(t)
        rows.append({"frame": t, "all": absrel(est.disparity, g, g > 0),
                     "measurable": absrel(est.disparity, g, g >= 0.1),
                     "confident": absrel(est.disparity, g, (est.confidence > 0.3) & (g >= 0.1)),
                     "confident_fraction": float(np.mean(est.confidence > 0.3)),
                     "fallback": est.notes.get("fallback")})
    return {"per_frame": rows, "seconds_per_frame": (time.perf_counter() - t0) / c.frames}


def bench_motion_rgbd() -> dict:
    d = SHARED / "data" / "rgbd_open3d"

    def lin(x: np.ndarray) -> np.ndarray:
        x = x / 255.0
        return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)

    rgb = [lin(cv2.cvtColor(cv2.imread(str(d / "color" / f"{i:05d}.jpg")), cv2.COLOR_BGR2RGB)) for i in range(5)]
    depth = [cv2.imread(str(d / "depth" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000 for i in range(5)]
    rows = []
    for focal, label in ((525.0, "focal 525 px (sensor's)"), (None, "focal unknown (= width)")):
        src = MotionDepthSource(focal_px=focal, frame_lookup=lambda i: rgb[i] if 0 <= i < 5 else None)
        for t in range(5):
            est = src.estimate(FrameRecord(Frame(t, rgb[t])))
            ok = depth[t] > 0
            dg = np.where(ok, 1.0 / np.maximum(depth[t], 1e-6), 0)
            rows.append({"intrinsics": label, "frame": t, "all": absrel(est.disparity, dg, ok),
                         "confident": absrel(est.disparity, dg, ok & (est.confidence > 0.3)),
                         "confident_fraction": float(np.mean(est.confidence > 0.3))})
    return {"per_frame": rows}


def render_and_score(c: LfClip, depths: list[np.ndarray], name: str, work: Path) -> dict:
    from lfbench.metrics import cmd_score_video

    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(c.frames):
        a = c.meta["focus_track"][t]
        out = render_bokeh(c.aif(t), depths[t], a, float(c.meta["k"]), aperture="disc")
        np.save(folder / f"{t:04d}.npy", out.astype(np.float32))
    res = cmd_score_video(SimpleNamespace(gt=str(c.root), pred=str(folder), radius=None))
    return {"psnr": res["mean"]["psnr"], "ssim": res["mean"]["ssim"], "instability": res["temporal_instability"]}


def depth_flicker(c: LfClip, maps: list[np.ndarray]) -> float:
    """Mean |(warp(D_t+1) - D_t) - (warp(G_t+1) - G_t)| along the GT flow on valid pixels: the
    depth map's own temporal instability, in disparity units."""
    from lfbench.metrics import warp_from_next

    errs = []
    for t in range(c.frames - 1):
        f, v = c.flow(t)
        dd = warp_from_next(maps[t + 1], f) - maps[t]
        dg = warp_from_next(c.disparity(t + 1), f) - c.disparity(t)
        errs.append(float(np.abs(dd - dg)[v].mean()))
    return float(np.mean(errs))


def smooth_all(c: LfClip, depths: list[np.ndarray], strength: float, flow: str = "medium", **kw) -> list[np.ndarray]:
    sm = TemporalDepthSmoother(strength, **kw)
    prev, out = None, []
    for t in range(c.frames):
        img = c.aif(t)
        f = v = None
        if prev is not None:
            f, _, v = forward_backward(img, prev, flow)
        s, _, _ = sm(img, depths[t], None, f, v)
        out.append(s)
        prev = img
    return out


def follow_records(c: LfClip, depth_path: str, smoothing: float, box_frame: int = 0,
                   **overrides: object) -> list[FrameRecord]:
    """The temporal stages (depth, smoothing, follow focus) run over the clip, one record per frame."""
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.params.job import load_job
    from genrefocus_video.pipeline.stages.temporal import build_temporal_stages

    x, y, w, h = c.subject_box(box_frame)
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": depth_path, "depth.smoothing": smoothing,
                              "focus.track": "follow", "focus.box": f"{x},{y},{w},{h}@{box_frame}", **overrides})
    recs = []
    with open_reader(job.input.path) as r:
        stages = build_temporal_stages(job, r.info)
        for fr in r:
            rec = FrameRecord(fr)
            for s in stages:
                rec = s.process(rec)
            recs.append(rec)
    return recs


def bench_follow(c: LfClip, depth_path: str, smoothing: float, box_frame: int = 0) -> float:
    a = np.array([r.focus_disparity for r in follow_records(c, depth_path, smoothing, box_frame)])
    return float(np.sqrt(np.mean((a - c.subject_disparity) ** 2)) / c.disparity_range * 100)


def bench_range_subject(c: LfClip, depth_path: str, smoothing: float) -> dict:
    """Disparity of the followed subject left outside the sharp band (a ± w/2), RMS and max, with a
    plain follow focus (w = 0) and with --focus-range-subject (w from the subject's depth band)."""
    out = {}
    for rs in (False, True):
        recs = follow_records(c, depth_path, smoothing, **{"focus.range_subject": rs})
        a, band = [r.focus_disparity for r in recs], [r.focus_range or 0.0 for r in recs]
        miss = np.maximum(np.abs(c.subject_disparity - np.array(a)) - np.array(band) / 2, 0.0)
        out["range_subject" if rs else "plain"] = {"rms": float(np.sqrt(np.mean(miss ** 2))), "max": float(miss.max()),
                                                   "mean_band": float(np.mean(band))}
    return out


def smoothing_markdown(sm: dict) -> str:
    """The smoothing tables of docs/benchmarks/temporal.md, from the report."""
    floor = sm["GT depth"]
    out = [f"GT depth (the renderer's floor): PSNR {floor['psnr']:.2f}, SSIM {floor['ssim']:.4f}, "
           f"instability {floor['instability']:.5f}", ""]
    for mname in ("iid", "estimator", "estimator_strong"):
        rows = sm[mname]
        out += [f"**{mname}** (floor/noisy = {floor['instability'] / rows['noisy']['instability']:.2f})", "",
                "| depth | PSNR | SSIM | instability | raw ÷ noisy | excess/noisy | depth flicker | depth MAE |",
                "|---|---|---|---|---|---|---|---|"]
        for k, r in rows.items():
            out.append(f"| {k} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['instability']:.5f} | {r['raw_ratio']:.3f} | "
                       f"{r['excess_vs_noisy']:.2f} | {r['depth_flicker']:.5f} | {r['depth_mae']:.4f} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="384x216")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--k", type=float, default=8.0, help="bokeh level of the lfbench clip (blur radius px per unit disparity)")
    p.add_argument("--out", default=None, help="keep work files here (default: a temp folder)")
    p.add_argument("--skip-motion", action="store_true", help="skip the motion-depth section (1)")
    args = p.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="temporal_bench_"))
    t0 = time.perf_counter()
    c = make_clip(work / "clip", args.size, args.frames, args.seed, args.k)
    report: dict = {"clip": {"size": args.size, "frames": args.frames, "seed": args.seed, "k": args.k}}

    if not args.skip_motion:
        m = bench_motion_lfbench(c)
        report["motion_lfbench"] = m
        print(f"motion depth, lfbench {args.size}x{args.frames} (scale-aligned AbsRel per frame):")
        print(" frame   all  measurable confident conf.frac fallback")
        for r in m["per_frame"]:
            print(f" {r['frame']:5d} {r['all']:6.3f} {r['measurable']:9.3f} {r['confident']:9.3f} {r['confident_fraction']:8.2f} "
                  f"{r['fallback'] or ''}")
        for k in ("all", "measurable", "confident"):
            print(f"  median {k}: {np.nanmedian([r[k] for r in m['per_frame']]):.3f}")
        rg = bench_motion_rgbd()
        report["motion_rgbd"] = rg
        print("motion depth, real RGB-D frames (rgbd_open3d, metric GT):")
        for r in rg["per_frame"]:
            print(f"  {r['intrinsics']:26s} frame {r['frame']}: AbsRel all {r['all']:.3f}  confident {r['confident']:.3f} "
                  f"({100 * r['confident_fraction']:.0f}% of pixels)")

    gt = [c.disparity(t) for t in range(c.frames)]
    floor_row = render_and_score(c, gt, "gt", work)  # the renderer's own instability with perfect depth
    floor = floor_row["instability"]
    print(f"refocused clip (render_bokeh at the clip's focus track), lfbench score-video; GT depth: PSNR "
          f"{floor_row['psnr']:.2f} SSIM {floor_row['ssim']:.4f} instability {floor:.5f} (the renderer's floor)")
    models = {"iid": lambda g, t: noisy_depth(g, t),
              "estimator": lambda g, t: estimator_noise(g, t),
              "estimator_strong": lambda g, t: estimator_noise(g, t, scale=0.15, warp=0.10, pixel=0.03)}
    report["smoothing"] = {"GT depth": {**floor_row, "depth_flicker": 0.0}}
    noisy = []
    for mname, fn in models.items():
        nz = [fn(g, t) for t, g in enumerate(gt)]
        if mname == "iid":
            noisy = nz
        rows = {"noisy": {**render_and_score(c, nz, f"{mname}_noisy", work), "depth_flicker": depth_flicker(c, nz),
                          "depth_mae": float(np.mean([np.abs(a - b).mean() for a, b in zip(nz, gt)]))}}
        variants = [(s_, True, "medium") for s_ in (0.5, 0.8, 0.9)] + [(0.8, False, "medium"), (0.8, True, "fine"),
                                                                      (0.9, True, "fine")]
        for s_, align, flow in variants:
            sm = smooth_all(c, nz, s_, flow=flow, global_align=align)
            key = f"smoothing {s_}" + ("" if align else ", no global alignment") + (", fine flow" if flow == "fine" else "")
            rows[key] = {**render_and_score(c, sm, f"{mname}_s{s_}_{align}_{flow}", work), "depth_flicker": depth_flicker(c, sm),
                         "depth_mae": float(np.mean([np.abs(a - b).mean() for a, b in zip(sm, gt)]))}
        base = rows["noisy"]["instability"]
        for r in rows.values():
            r["raw_ratio"] = r["instability"] / base
            r["excess_vs_noisy"] = (r["instability"] - floor) / max(base - floor, 1e-12)
        report["smoothing"][mname] = rows
        print(f" noise model {mname}: floor/noisy = {floor / base:.2f} (the raw ratio if smoothing removed ALL depth-caused flicker)")
        print(f"  {'depth':34s} {'PSNR':>7s} {'SSIM':>7s} {'instab.':>9s} {'raw ÷noisy':>10s} {'excess/noisy':>12s} "
              f"{'depth flicker':>13s} {'depth MAE':>9s}")
        for k, r in rows.items():
            print(f"  {k:34s} {r['psnr']:7.2f} {r['ssim']:7.4f} {r['instability']:9.5f} {r['raw_ratio']:10.3f} "
                  f"{r['excess_vs_noisy']:12.3f} {r['depth_flicker']:13.5f} {r['depth_mae']:9.4f}")
    sg = smooth_all(c, gt, 0.8)
    report["smoothing"]["GT depth, smoothing 0.8"] = {**render_and_score(c, sg, "gt_smooth", work),
                                                     "depth_mae": float(np.mean([np.abs(a - b).mean() for a, b in zip(sg, gt)]))}
    r = report["smoothing"]["GT depth, smoothing 0.8"]
    print(f"  GT depth, smoothing 0.8: PSNR {r['psnr']:.2f} instability {r['instability']:.5f} depth MAE {r['depth_mae']:.4f}")

    np.save(work / "noisy.npy", np.stack(noisy))
    mid = c.frames // 2
    fol = {"file GT depth": bench_follow(c, c.disp_pattern, 0.0),
           "noisy depth, smoothing 0.8": bench_follow(c, str(work / "noisy.npy"), 0.8),
           f"file GT depth, box drawn at frame {mid} (followed back to frame 0)": bench_follow(c, c.disp_pattern, 0.0, mid),
           f"noisy depth, smoothing 0.8, box at frame {mid}": bench_follow(c, str(work / "noisy.npy"), 0.8, mid)}
    report["follow_rms_percent_of_range"] = fol
    for k, v in fol.items():
        print(f"follow focus RMS error vs true subject disparity ({k}): {v:.2f}% of the disparity range")
    rsub = {"file GT depth": bench_range_subject(c, c.disp_pattern, 0.0),
            "noisy depth, smoothing 0.8": bench_range_subject(c, str(work / "noisy.npy"), 0.8)}
    report["range_subject"] = rsub
    for k, v in rsub.items():
        print(f"subject disparity outside the sharp band ({k}): plain follow RMS {v['plain']['rms']:.4f} "
              f"(max {v['plain']['max']:.4f}); --focus-range-subject RMS {v['range_subject']['rms']:.4f} "
              f"(max {v['range_subject']['max']:.4f}, mean band {v['range_subject']['mean_band']:.4f})")
    report["seconds"] = time.perf_counter() - t0
    (work / "smoothing.md").write_text(smoothing_markdown(report["smoothing"]))
    (work / "report.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"total {report['seconds']:.1f} s; report {work / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

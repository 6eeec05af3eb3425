"""Where motion depth's AbsRel comes from, per lfbench clip: the error split by kind of pixel.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_errors.py [--size 384x216] [--frames 12]
      2:pan 4:pan 5:pan 3:depth 1:shake

Each measurable pixel (GT d >= 0.1) of a frame falls in one class: the independently moving
subject; thin static structure (removed by a 5x5 opening of the measurable mask: twigs, wires,
strokes <= 4 px); depth border (log-disparity range > 0.05 over 5x5); interior with confidence
< 0.3 (filled) or >= 0.3. Per class: its share of the measurable pixels, its contribution to the
frame's AbsRel (sum of its pixels' |s Z - Z_gt| / Z_gt over all measurable pixels, s as in absrel())
and its own mean error; "too far" = pixels predicted more than twice too far. Median over frames.
Run it with PYTHONPATH pointing at another checkout (e.g. ../base) to compare.

Per clip also (2026-12-08): `subject_exact`, the AbsRel the frame would have with the subject's pixels
set to the truth (times the scale that aligns the static measurable pixels: what a perfect answer for
the independently moving subject alone would give); `static_only`, the AbsRel over the static
measurable pixels, aligned on them; the mean confidence on the subject and on the static measurable
pixels. Medians over frames, and over clips at the end; `--json` keeps every frame's numbers.
And the frames whose pose reads as a forward move (|t_z| > 0.5 in the notes' unit `translation`):
lfbench's camera only moves sideways, so those poses were taken from the subject walking up to it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lfbench_motion_clips import absrel, render_clip  # noqa: E402

FORWARD_TZ = 0.5  # |t_z| of the unit translation beyond which a pose reads as a forward move (lfbench's camera moves sideways)
CLASSES = ("subject", "thin", "border", "interior_low_conf", "interior_confident", "too_far")


def classes(gt: np.ndarray, subject: np.ndarray, conf: np.ndarray, z_aligned: np.ndarray) -> dict:
    """{class: bool mask} over the measurable pixels of one frame."""
    meas = gt >= 0.1
    k = np.ones((5, 5), np.uint8)
    lg = np.log(np.maximum(gt, 1e-3)).astype(np.float32)
    edge = (cv2.dilate(lg, k) - cv2.erode(lg, k)) > 0.05
    thin = meas & ~cv2.dilate(cv2.erode(meas.astype(np.uint8), k), k).astype(bool) & ~subject
    inner = meas & ~edge & ~thin & ~subject
    return {"subject": meas & subject, "thin": thin, "border": meas & edge & ~thin & ~subject,
            "interior_low_conf": inner & (conf < 0.3), "interior_confident": inner & (conf >= 0.3),
            "too_far": meas & (z_aligned > 2.0 / np.maximum(gt, 1e-6))}


def frame_row(d: np.ndarray, conf: np.ndarray, gt: np.ndarray, subject: np.ndarray) -> dict:
    meas = gt >= 0.1
    z, zg = 1.0 / np.maximum(d, 1e-6), 1.0 / np.maximum(gt, 1e-6)
    s = np.median(zg[meas] / z[meas])
    err = np.where(meas, np.abs(s * z - zg) / zg, 0.0)
    n = meas.sum()
    row = {"absrel": float(err[meas].mean())}
    static = meas & ~subject
    if static.sum() >= 16:
        level = float(np.median(d[static] / gt[static]))  # the map's units per unit of true disparity
        row["subject_exact"] = absrel(np.where(subject, gt * level, d), gt, meas)
        row["static_only"] = absrel(d, gt, static)
    else:
        row["subject_exact"] = row["static_only"] = float("nan")
    row["conf_subject"] = float(conf[meas & subject].mean()) if (meas & subject).any() else float("nan")
    row["conf_static"] = float(conf[static].mean()) if static.any() else float("nan")
    for name, m in classes(gt, subject, conf, s * z).items():
        row[name] = (m.sum() / n, err[m].sum() / n, float(err[m].mean()) if m.any() else float("nan"))
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="+", help="seed:motion, e.g. 2:pan")
    p.add_argument("--size", default="384x216")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--json", type=Path, help="every frame's row, per clip")
    a = p.parse_args()
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord
    size = tuple(int(v) for v in a.size.split("x"))
    out, summary = [], []
    for spec in a.clips:
        seed, motion = spec.split(":")
        clip = render_clip(int(seed), size, a.frames, motion)
        aif = clip["aif"]
        src = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < len(aif) else None, quiet=True)
        rows = []
        for t in range(a.frames):
            est = src.estimate(FrameRecord(Frame(t, aif[t])))
            rows.append(frame_row(est.disparity, est.confidence, clip["disparity"][t], clip["subject"][t]))
            rows[-1]["translation"] = est.notes.get("translation")  # None: held or on the fallback
        med = {k: float(np.nanmedian([r[k] for r in rows]))
               for k in ("absrel", "subject_exact", "static_only", "conf_subject", "conf_static")}
        summary.append(med)
        out.append({"seed": int(seed), "motion": motion, "median": med, "frames": rows})
        fwd = [r["absrel"] for r in rows if r["translation"] and abs(r["translation"][2]) > FORWARD_TZ]
        med["forward_frames"] = len(fwd)
        print(f"seed {seed} {motion}: AbsRel {med['absrel']:.3f} (subject exact {med['subject_exact']:.3f}, static "
              f"only {med['static_only']:.3f}); confidence subject {med['conf_subject']:.2f}, static {med['conf_static']:.2f}; "
              f"{len(fwd)} frames posed as a forward move" + (f" (their AbsRel {np.mean(fwd):.3f})" if fwd else ""))
        for name in CLASSES:
            share, contrib, mean = (float(np.nanmedian([r[name][i] for r in rows])) for i in range(3))
            print(f"   {name:19s} share {share:.3f} contribution {contrib:.3f} mean {mean:.3f}")
    if len(summary) > 1:
        print("median of the clips' medians: " + ", ".join(
            f"{k} {np.nanmedian([m[k] for m in summary]):.4f}" for k in summary[0] if k != "forward_frames")
              + f"; frames posed as a forward move {sum(m['forward_frames'] for m in summary)} of {len(summary) * a.frames}")
    if a.json:
        import genrefocus_video
        a.json.write_text(json.dumps({"size": a.size, "frames": a.frames, "package": genrefocus_video.__file__,
                                      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                      "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
                                      "clips": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

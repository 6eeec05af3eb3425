"""Run the temporal head (estimated depth, smoothing, focus track) on the real clips in ../shared/data
and write the depth previews and focus plots shown in docs/temporal.md (docs/images/temporal_*.png).

    .venv/bin/python benchmarks/temporal_real_footage.py [--images docs/images]

* rgbd_open3d colour frames (5 x 640x480 JPEG, a moving camera): motion depth, smoothing 0.5,
  a rack from a near point to a far point with ease in/out. Its metric depth (holes excluded) gives
  the scale-aligned AbsRel of the estimate.
* Meridian (5 x 1280x720 ProRes HDR10 PQ, a nearly static camera): motion depth falls back to the
  defocus cue (logged), smoothing 0.5, following the face box.
* lfbench follow clip (384x216 x 24, subject moving in depth, GT depth): the follow-focus plot
  with the subject's depth band.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(SHARED / "lfbench"))

from genrefocus_video.io.reader import open_reader  # noqa: E402
from genrefocus_video.params.job import load_job  # noqa: E402
from genrefocus_video.record import FrameRecord  # noqa: E402
from genrefocus_video.pipeline.stages.temporal import (build_temporal_stages, finalize_temporal,  # noqa: E402
                                                       preview_image)


def run(overrides: dict, still: str, still_frame: int) -> list[FrameRecord]:
    job = load_job(overrides=overrides)
    recs = []
    with open_reader(job.input.path) as r:
        stages = build_temporal_stages(job, r.info)
        rng = None
        for fr in r:
            rec = FrameRecord(fr)
            for s in stages:
                rec = s.process(rec)
            if rng is None:
                lo, hi = np.percentile(rec.disparity, [1, 99])
                rng = (float(lo), float(hi))
            if rec.index == still_frame:
                img = preview_image(rec.frame.rgb, rec.disparity, rng)
                h, w = img.shape[:2]
                scale = min(1.0, 1280 / w)
                img = cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
                cv2.imwrite(still, img[..., ::-1])
            recs.append(rec)
    finalize_temporal(stages)
    return recs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(REPO / "docs" / "images"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.images)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    d = SHARED / "data" / "rgbd_open3d"
    recs = run({"input.path": str(d / "color" / "%05d.jpg"), "depth.source": "motion", "depth.smoothing": 0.5,
                "focus.keyframes": "0:@330/420,4:@560/60", "focus.ease": "ease",
                "focus.plot": str(out / "temporal_focus_rgbd.png")}, str(out / "temporal_depth_rgbd.png"), 2)
    for r in recs:
        z = cv2.imread(str(d / "depth" / f"{r.index:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
        ok = z > 0
        zp = 1.0 / np.maximum(r.disparity[ok], 1e-6)
        s = np.median(z[ok] / zp)
        print(f"rgbd frame {r.index}: AbsRel {np.mean(np.abs(s * zp - z[ok]) / z[ok]):.3f} "
              f"depth {r.extras['depth']} focus a={r.focus_disparity:.4f}")

    recs = run({"input.path": str(SHARED / "data" / "meridian" / "Meridian-Apple_ProResProxy-HDR10.mp4"),
                "depth.source": "motion", "depth.smoothing": 0.5, "focus.track": "follow",
                "focus.box": "560,160,160,200", "focus.plot": str(out / "temporal_focus_meridian.png")},
               str(out / "temporal_depth_meridian.png"), 2)
    for r in recs:
        print(f"meridian frame {r.index}: {r.extras['depth'].get('fallback', 'motion')} "
              f"focus a={r.focus_disparity:.4f} ({r.extras['focus']['status']})")

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip"
        subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", "3", "--size", "384x216", "--frames",
                        "24", "--fps", "24", "--track", "follow", "--k", "8", "--out", str(clip)],
                       cwd=SHARED / "lfbench", check=True, capture_output=True)
        from temporal_fixtures import LfClip

        c = LfClip(clip)
        x, y, w, h = c.subject_box(0)
        recs = run({"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "focus.track": "follow",
                    "focus.box": f"{x},{y},{w},{h}", "focus.plot": str(out / "temporal_focus_lfbench_follow.png")},
                   str(out / "temporal_depth_lfbench.png"), 12)
        a = np.array([r.focus_disparity for r in recs])
        print(f"lfbench follow: RMS {np.sqrt(np.mean((a - c.subject_disparity) ** 2)) / c.disparity_range * 100:.2f}% "
              "of the disparity range")
    print(f"done in {time.perf_counter() - t0:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

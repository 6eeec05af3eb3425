"""Issue 15, followed focus on a subject that moves on its own: how far looming (the subject's
image-scale change, depth/independent_motion.py) can carry its disparity on lfbench clips.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/looming_lfbench.py [--frames 40] [--json OUT]

Clips: tests/lfbench_motion_clips.py (pan, depth, shake; the subject approaches from disparity
~0.29 to ~0.78); "-rev" = the same frames in reverse order (a receding subject, the camera's path
reversed). Two measurements:

1. Looming accuracy vs frame size: the chained ratio s(t)/s(0) from looming_ratio() on the DIS
   flow t -> t-1 ("medium" = what FlowStage gives the follow focus, "fine") over the subject's
   TRUE mask (eroded 3x3), against the true ratio d(t)/d(0). Reported: the final ratio and the
   RMS of log(estimate / truth) over the clip.
2. The followed focus at the test's size (128x72) with the test's depth path (motion depth +
   smoothing 0.8, FlowStage's "medium" flow): the subject's disparity, aligned per frame to lfbench
   units by the static scene's scale (as tests/test_long_handheld.py does), RMS against its true
   disparity as a fraction of its travel, for
   map      the estimate inside the subject's true mask (what the follow focus measures today);
   loom     anchored at frame 0 on the map's value there, propagated by measured looming ratios and
            each frame's map level against the anchor's (map_level: median of the confident
            pixels off the subject);
   oracle   anchored on the map at frame 0, propagated by the TRUE ratios (perfect looming);
   trueanc  anchored on the TRUE value at frame 0, measured looming (perfect anchor);
   perfect  TRUE anchor and TRUE ratios: what is left is the map's own frame-to-frame scale,
            which the per-frame alignment of the test sees and map_level does not fully follow.
   Also: mean IoU of independent_region() (rigid residual + low confidence) with the subject mask.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from lfbench_motion_clips import render_clip  # noqa: E402

from genrefocus_video.depth.independent_motion import (independent_region, looming_ratio,  # noqa: E402
                                                       map_level, rigid_residual)
from genrefocus_video.flow import forward_backward, to_gray8  # noqa: E402


def _clip(seed: int, motion: str, size: tuple[int, int], frames: int) -> dict:
    c = render_clip(seed, size, frames, motion.removesuffix("-rev"))
    if motion.endswith("-rev"):
        c = {k: v[::-1].copy() for k, v in c.items()}
    c["truth"] = np.array([np.median(g[m]) for g, m in zip(c["disparity"], c["subject"])])
    return c


def _eroded(m: np.ndarray) -> np.ndarray:
    return cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def looming_accuracy(c: dict, preset: str) -> dict:
    grays = [to_gray8(a) for a in c["aif"]]
    chain = [1.0]
    for t in range(1, len(grays)):
        r = looming_ratio(forward_backward(grays[t], grays[t - 1], preset)[0], _eroded(c["subject"][t]))
        chain.append(chain[-1] * (r if r is not None else 1.0))
    true = c["truth"] / c["truth"][0]
    return {"final_est": round(chain[-1], 3), "final_true": round(float(true[-1]), 3),
            "rms_log": round(float(np.sqrt(np.mean(np.log(np.array(chain) / true) ** 2))), 3)}


def _head(c: dict):
    """(disparity, confidence, flow) per frame through the test's head: flow, motion depth, smoothing."""
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.depth.sanitise import SanitisedSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.pipeline.stages.depth import DepthSmoothStage, DepthStage
    from genrefocus_video.pipeline.stages.flow import FlowStage
    from genrefocus_video.record import FrameRecord

    n = len(c["aif"])
    look = lambda i: c["aif"][i] if 0 <= i < n else None  # noqa: E731
    stages = [FlowStage("medium"), DepthStage(SanitisedSource(MotionDepthSource(frame_lookup=look), True)),
              DepthSmoothStage(0.8)]
    out = []
    for t in range(n):
        rec = FrameRecord(Frame(t, c["aif"][t].astype(np.float32), time=t / 24))
        for s in stages:
            rec = s.process(rec)
        out.append((rec.disparity, rec.depth_confidence, rec.flow_to_prev))
    return out


def focus_options(c: dict) -> dict:
    gt, subj, truth = c["disparity"], c["subject"], c["truth"]
    head = _head(c)
    n = len(head)

    def align(t: int) -> float:  # map units -> lfbench units, on the static scene (the test's rule)
        st = ~subj[t] & (gt[t] >= 0.1)
        return float(np.median(gt[t][st] / np.maximum(head[t][0][st], 1e-6)))

    mapv = np.array([np.median(head[t][0][subj[t]]) for t in range(n)])
    levels = np.array([map_level(d, (conf >= 0.3) & ~m) for (d, conf, _), m in zip(head, subj)])
    k = levels / levels[0]
    chain, ious = [1.0], []
    for t in range(1, n):
        d, conf, flow = head[t]
        r = looming_ratio(flow, _eroded(subj[t]))
        chain.append(chain[-1] * (r if r is not None else 1.0))
        region = independent_region(rigid_residual(flow, d, conf), conf)
        union = np.count_nonzero(region | subj[t])
        ious.append(np.count_nonzero(region & subj[t]) / union if union else 1.0)
    loom = mapv[0] * np.array(chain) * k
    oracle = mapv[0] * truth / truth[0] * k
    trueanc = truth[0] / align(0) * np.array(chain) * k
    perfect = truth[0] / align(0) * truth / truth[0] * k
    scale = np.array([align(t) for t in range(n)])
    travel = float(truth.max() - truth.min())

    def rms(v) -> float:
        return round(float(np.sqrt(np.mean((np.asarray(v) * scale - truth) ** 2)) / travel), 3)

    return {"map": rms(mapv), "loom": rms(loom), "oracle": rms(oracle), "trueanc": rms(trueanc), "perfect": rms(perfect),
            "anchor_aligned": round(float(mapv[0] * scale[0]), 3), "anchor_true": round(float(truth[0]), 3),
            "region_iou": round(float(np.mean(ious)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--focus-size", default="128x72", help="frame size of measurement 2 (the test's: 128x72)")
    ap.add_argument("--skip-accuracy", action="store_true", help="measurement 2 only")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    res: dict = {"frames": a.frames, "load": load, "accuracy": [], "focus": []}
    for seed, motion in () if a.skip_accuracy else ((2, "shake"), (3, "pan"), (2, "shake-rev")):
        for size in ((128, 72), (256, 144), (512, 288)):
            c = _clip(seed, motion, size, a.frames)
            for preset in ("medium", "fine"):
                row = {"clip": f"{motion} seed {seed}", "size": f"{size[0]}x{size[1]}", "flow": preset,
                       **looming_accuracy(c, preset)}
                res["accuracy"].append(row)
                print(row, flush=True)
    for seed, motion in ((2, "shake"), (3, "shake"), (2, "pan"), (2, "depth"), (2, "shake-rev")):
        size = tuple(int(v) for v in a.focus_size.split("x"))
        row = {"clip": f"{motion} seed {seed}", "size": a.focus_size, **focus_options(_clip(seed, motion, size, a.frames))}
        res["focus"].append(row)
        print(row, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

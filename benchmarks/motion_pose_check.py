"""Relative pose (depth/motion_pose.py) against known camera motion, for the package on PYTHONPATH:
lfbench clips (a camera that only translates: every rotation is an error), the real RGB-D clip's
recorded trajectory (../shared/data/rgbd_open3d/trajectory.log) and synthetic turning cameras.

Run (this checkout, then another to compare; the script prints which package it measured):
    PYTHONPATH=. .venv/bin/python benchmarks/motion_pose_check.py
    PYTHONPATH=../base .venv/bin/python benchmarks/motion_pose_check.py

Printed: lfbench pairs 1-3 frames apart (seeds 1-7 x pan / depth / shake, 384x216 x 12) whose
rotation exceeds 1 degree, with the largest; RGB-D pairs 1-2 frames apart at the sensor's focal
length (525 px) and at the default one: rotation and translation-direction errors; synthetic
matches of a camera turning 1.5 degrees while it moves, half of the points far away: errors per draw;
a camera that turns without moving (tripod pan): synthetic matches (1 degree, focal 1.3x the assumed
one) refused or not, and MotionDepthSource on 8 frames of the RGB-D room warped as a turn of 0.4
degrees per frame: what each frame gets.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "tests"))

import genrefocus_video  # noqa: E402
from genrefocus_video.depth import motion_pose as mp  # noqa: E402
from genrefocus_video.flow import to_gray8  # noqa: E402
from pose_scenes import (angle_deg, direction_error_deg, rgbd_gray, rgbd_relative_motion,  # noqa: E402
                         tripod_matches, tripod_pan_frames, turning_camera_matches)

RGBD = SHARED / "data" / "rgbd_open3d"


def lfbench_pairs() -> None:
    from lfbench_motion_clips import render_clip

    K = mp.intrinsics(384, 216, None)
    n, bad = 0, []
    for seed in range(1, 8):
        for motion in ("pan", "depth", "shake"):
            gray = [to_gray8(x) for x in render_clip(seed, (384, 216), 12, motion)["aif"]]
            for a in range(12):
                for gap in (1, 2, 3):
                    if a - gap < 0:
                        continue
                    try:
                        R, _, par, _ = mp.relative_pose(gray[a], gray[a - gap], K)
                    except mp.StaticCamera:
                        continue
                    n += 1
                    if angle_deg(R) > 1.0:
                        bad.append((round(angle_deg(R), 2), seed, motion, a, a - gap, round(par, 1)))
    print(f"lfbench: {len(bad)} of {n} pairs with a rotation > 1 degree (the camera only translates)")
    for row in sorted(bad, reverse=True)[:8]:
        print("  %.2f deg  seed %d %s frames %d -> %d, parallax %.1f px" % row)


def rgbd_pairs() -> None:
    gray = rgbd_gray(RGBD)
    for focal in (525.0, None):
        K = mp.intrinsics(640, 480, focal)
        rot, tra, ident = [], [], 0
        for a in range(5):
            for b in range(5):
                if a == b or abs(a - b) > 2:
                    continue
                R_true, t_true = rgbd_relative_motion(RGBD, a, b)
                R, t, _, _ = mp.relative_pose(gray[a], gray[b], K)
                rot.append(angle_deg(R @ R_true.T))
                tra.append(direction_error_deg(t, t_true))
                ident += int(np.allclose(R, np.eye(3)))
        print(f"RGB-D, focal {focal or 'default'}: {len(rot)} pairs, R = I on {ident}; rotation error median "
              f"{np.median(rot):.2f} max {max(rot):.2f} deg; translation direction median {np.median(tra):.1f} "
              f"max {max(tra):.1f} deg")


def synthetic() -> None:
    out = []
    for seed in range(6):
        p1, p2, K, R, t = turning_camera_matches(seed)
        R_e, t_e, _, n_in = mp.pose_from_matches(p1, p2, K)
        out.append(f"{angle_deg(R_e @ R.T):.2f}/{direction_error_deg(t_e, t):.1f}/{n_in}")
    print("synthetic turning camera, rotation / translation error (deg) / inliers of 400:", "  ".join(out))


def tripod() -> None:
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord

    out = []
    for seed in range(4):
        p1, p2, K = tripod_matches(seed)
        try:
            R_e, _, par, _ = mp.pose_from_matches(p1, p2, K)
            out.append(f"{'R = I' if np.allclose(R_e, np.eye(3)) else 'general'} (parallax {par:.2f} px)")
        except mp.StaticCamera as e:
            out.append(f"refused ({type(e).__name__})")
    print("synthetic tripod pan, 4 draws:", "; ".join(out))
    frames = tripod_pan_frames(RGBD)
    src = MotionDepthSource(frame_lookup=lambda i: frames[i] if 0 <= i < len(frames) else None, quiet=True)
    for t in range(len(frames)):
        e = src.estimate(FrameRecord(Frame(t, frames[t])))
        kind = "fallback" if "fallback" in e.notes else "held" if "held_from" in e.notes else "own"
        lo, hi = np.percentile(e.disparity, [5, 95])
        print(f"  tripod pan frame {t}: {kind}, confident {np.mean(e.confidence > 0.3):.2f}, "
              f"disparity 5-95 % {lo:.2f}-{hi:.2f} {e.notes.get('reason', '')[:60]}")


if __name__ == "__main__":
    print("package:", genrefocus_video.__file__)
    lfbench_pairs()
    rgbd_pairs()
    synthetic()
    tripod()

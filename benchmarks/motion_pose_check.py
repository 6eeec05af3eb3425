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

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "tests"))

import genrefocus_video  # noqa: E402
from genrefocus_video.depth import motion_pose as mp  # noqa: E402
from genrefocus_video.flow import to_gray8  # noqa: E402


def _angle(R: np.ndarray) -> float:
    return float(np.degrees(cv2.norm(cv2.Rodrigues(R)[0])))


def _dir_err(t: np.ndarray, truth: np.ndarray) -> float:
    cos = float(t @ truth / (np.linalg.norm(t) * np.linalg.norm(truth)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


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
                    if _angle(R) > 1.0:
                        bad.append((round(_angle(R), 2), seed, motion, a, a - gap, round(par, 1)))
    print(f"lfbench: {len(bad)} of {n} pairs with a rotation > 1 degree (the camera only translates)")
    for row in sorted(bad, reverse=True)[:8]:
        print("  %.2f deg  seed %d %s frames %d -> %d, parallax %.1f px" % row)


def rgbd_pairs() -> None:
    d = SHARED / "data" / "rgbd_open3d"
    rows = [ln.split() for ln in (d / "trajectory.log").read_text().splitlines() if ln.strip()]
    poses = [np.array(rows[5 * k + 1:5 * k + 5], dtype=np.float64) for k in range(len(rows) // 5)]
    gray = [cv2.cvtColor(cv2.imread(str(d / "color" / f"{k:05d}.jpg")), cv2.COLOR_BGR2GRAY) for k in range(5)]
    for focal in (525.0, None):
        K = mp.intrinsics(640, 480, focal)
        rot, tra, ident = [], [], 0
        for a in range(5):
            for b in range(5):
                if a == b or abs(a - b) > 2:
                    continue
                Ra, ca, Rb, cb = poses[a][:3, :3], poses[a][:3, 3], poses[b][:3, :3], poses[b][:3, 3]
                R, t, _, _ = mp.relative_pose(gray[a], gray[b], K)
                rot.append(_angle(R @ (Rb.T @ Ra).T))
                tra.append(_dir_err(t, Rb.T @ (ca - cb)))
                ident += int(np.allclose(R, np.eye(3)))
        print(f"RGB-D, focal {focal or 'default'}: {len(rot)} pairs, R = I on {ident}; rotation error median "
              f"{np.median(rot):.2f} max {max(rot):.2f} deg; translation direction median {np.median(tra):.1f} "
              f"max {max(tra):.1f} deg")


def synthetic() -> None:
    K = mp.intrinsics(384, 216, None)
    out = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        p1 = rng.uniform([0, 0], [384, 216], (400, 2))
        depth = np.where(rng.uniform(size=400) < 0.5, 1e4, rng.uniform(2, 10, 400))
        X = np.c_[(p1 - K[:2, 2]) / K[0, 0], np.ones(400)] * depth[:, None]
        R = cv2.Rodrigues(np.radians(1.5) * np.array([0.3, 1.0, 0.1]))[0]
        t = np.array([0.12, 0.02, 0.03])
        X2 = X @ R.T + t
        p2 = X2[:, :2] / X2[:, 2:3] * K[0, 0] + K[:2, 2] + rng.normal(0, 0.05, (400, 2))
        R_e, t_e, _, n_in = mp.pose_from_matches(p1.astype(np.float32), p2.astype(np.float32), K)
        out.append(f"{_angle(R_e @ R.T):.2f}/{_dir_err(t_e, t):.1f}/{n_in}")
    print("synthetic turning camera, rotation / translation error (deg) / inliers of 400:", "  ".join(out))


def tripod() -> None:
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord

    K = mp.intrinsics(384, 216, None)
    K_true = K.copy()
    K_true[0, 0], K_true[1, 1] = 1.3 * K[0, 0], 1.3 * K[1, 1]
    out = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p1 = rng.uniform([0, 0], [384, 216], (400, 2))
        R = cv2.Rodrigues(np.radians(1.0) * np.array([0.2, 1.0, 0.05]))[0]
        h = np.c_[p1, np.ones(400)] @ (K_true @ R @ np.linalg.inv(K_true)).T
        p2 = h[:, :2] / h[:, 2:3] + rng.normal(0, 0.05, (400, 2))
        try:
            R_e, _, par, _ = mp.pose_from_matches(p1.astype(np.float32), p2.astype(np.float32), K)
            out.append(f"{'R = I' if np.allclose(R_e, np.eye(3)) else 'general'} (parallax {par:.2f} px)")
        except mp.StaticCamera as e:
            out.append(f"refused ({type(e).__name__})")
    print("synthetic tripod pan, 4 draws:", "; ".join(out))
    img = cv2.cvtColor(cv2.imread(str(SHARED / "data" / "rgbd_open3d" / "color" / "00000.jpg")), cv2.COLOR_BGR2RGB)
    img = (img.astype(np.float32) / 255.0) ** 2.2
    K = mp.intrinsics(640, 480, None)
    frames = []
    for t in range(8):
        R = cv2.Rodrigues(np.radians(0.4 * t) * np.array([0.1, 1.0, 0.0]))[0]
        turned = cv2.warpPerspective(img, K @ R @ np.linalg.inv(K), (640, 480), borderMode=cv2.BORDER_REFLECT)
        frames.append(np.ascontiguousarray(turned[40:440, 60:580]))
    src = MotionDepthSource(frame_lookup=lambda i: frames[i] if 0 <= i < len(frames) else None, quiet=True)
    for t in range(8):
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

"""Camera motions with a known answer, for the relative pose (depth/motion_pose.py).

Shared by tests/test_motion_pose.py and benchmarks/motion_pose_check.py (as tests/lfbench_motion_clips.py
is by the motion-depth tests and benchmarks): synthetic matches of a turning camera and of a tripod pan,
the real RGB-D clip's frames and recorded trajectory, and the same clip's first frame warped as a pan.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from genrefocus_video.depth.motion_pose import intrinsics


def angle_deg(R: np.ndarray) -> float:
    """Rotation angle of R (degrees)."""
    return float(np.degrees(cv2.norm(cv2.Rodrigues(R)[0])))


def direction_error_deg(t: np.ndarray, truth: np.ndarray) -> float:
    """Angle between two translation directions (degrees)."""
    cos = float(t @ truth / (np.linalg.norm(t) * np.linalg.norm(truth)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def turning_camera_matches(seed: int, n: int = 400):
    """(p1, p2 float32 (n, 2) px, K, R, t) at 384x216: a camera turning 1.6 degrees while it moves
    (x_b = R x_a + t), half of the points far away (1e4: they move by the rotation alone, 10-25 px),
    the rest at depths 2-10; 0.05 px of tracking noise."""
    rng = np.random.default_rng(seed)
    K = intrinsics(384, 216, None)
    p1 = rng.uniform([0, 0], [384, 216], (n, 2))
    depth = np.where(rng.uniform(size=n) < 0.5, 1e4, rng.uniform(2, 10, n))
    X = np.c_[(p1 - K[:2, 2]) / K[0, 0], np.ones(n)] * depth[:, None]
    R = cv2.Rodrigues(np.radians(1.5) * np.array([0.3, 1.0, 0.1]))[0]
    t = np.array([0.12, 0.02, 0.03])
    X2 = X @ R.T + t
    p2 = X2[:, :2] / X2[:, 2:3] * K[0, 0] + K[:2, 2] + rng.normal(0, 0.05, (n, 2))
    return p1.astype(np.float32), p2.astype(np.float32), K, R, t


def tripod_matches(seed: int, n: int = 400, focal_scale: float = 1.3):
    """(p1, p2 float32 (n, 2) px, K) at 384x216: a 1-degree turn and no translation, seen through a
    focal length `focal_scale` x the one K assumes (a clip's focal length is a guess)."""
    rng = np.random.default_rng(seed)
    K = intrinsics(384, 216, None)
    K_true = K.copy()
    K_true[0, 0], K_true[1, 1] = focal_scale * K[0, 0], focal_scale * K[1, 1]
    p1 = rng.uniform([0, 0], [384, 216], (n, 2))
    R = cv2.Rodrigues(np.radians(1.0) * np.array([0.2, 1.0, 0.05]))[0]
    h = np.c_[p1, np.ones(n)] @ (K_true @ R @ np.linalg.inv(K_true)).T
    p2 = h[:, :2] / h[:, 2:3] + rng.normal(0, 0.05, (n, 2))
    return p1.astype(np.float32), p2.astype(np.float32), K


def rgbd_gray(rgbd: Path, count: int = 5) -> list[np.ndarray]:
    """The RGB-D clip's colour frames as 8-bit gray (640x480)."""
    return [cv2.cvtColor(cv2.imread(str(rgbd / "color" / f"{k:05d}.jpg")), cv2.COLOR_BGR2GRAY) for k in range(count)]


def rgbd_relative_motion(rgbd: Path, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with x_b = R x_a + t between frames a and b of the RGB-D clip, from its recorded
    camera-to-world poses (Open3D's trajectory.log: a header line, then 4 rows per frame)."""
    rows = [ln.split() for ln in (rgbd / "trajectory.log").read_text().splitlines() if ln.strip()]
    pa, pb = (np.array(rows[5 * k + 1:5 * k + 5], dtype=np.float64) for k in (a, b))
    return pb[:3, :3].T @ pa[:3, :3], pb[:3, :3].T @ (pa[:3, 3] - pb[:3, 3])


def tripod_pan_frames(rgbd: Path, frames: int = 8, deg_per_frame: float = 0.4) -> list[np.ndarray]:
    """Linear RGB frames (400x520) of a camera turning `deg_per_frame` about its centre: the RGB-D
    clip's first frame warped through its true 640 px focal length (an estimator assuming the crop's
    width, 520, sees it through the wrong one)."""
    img = cv2.cvtColor(cv2.imread(str(rgbd / "color" / "00000.jpg")), cv2.COLOR_BGR2RGB)
    img = (img.astype(np.float32) / 255.0) ** 2.2
    K = intrinsics(640, 480, None)
    out = []
    for t in range(frames):
        R = cv2.Rodrigues(np.radians(deg_per_frame * t) * np.array([0.1, 1.0, 0.0]))[0]
        turned = cv2.warpPerspective(img, K @ R @ np.linalg.inv(K), (640, 480), borderMode=cv2.BORDER_REFLECT)
        out.append(np.ascontiguousarray(turned[40:440, 60:580]))
    return out

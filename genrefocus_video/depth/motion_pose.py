"""Relative camera pose between two frames, and triangulation of a flow under that pose.

Used by depth/motion.py (see its module doc, steps 2-3): Shi-Tomasi corners tracked by pyramidal
LK, a pure-translation model (2-point RANSAC with a cheirality check) against the general essential
matrix (its decomposition and inliers scored by the same test), two bodies told apart by how much of
the frame their inliers cover (the features that stay put included: a far background moves by the
rotation alone), a pose refused where a pure rotation explains its matches (`PureRotation`: a tripod
pan has no parallax), and the translation direction re-fitted to a dense flow (robust IRLS). |t| = 1:
monocular scale is unknowable. tests/test_motion_pose.py checks it against a turning camera, lfbench's
translating one and the real RGB-D clip's recorded trajectory.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np


class StaticCamera(Exception):
    """No usable translation between this frame and its neighbours."""


class PureRotation(StaticCamera):
    """The camera turns without moving (a tripod pan): a rotation alone explains the matches."""


def intrinsics(width: int, height: int, focal_px: Optional[float], pixel_aspect: float = 1.0) -> np.ndarray:
    """Camera matrix of the stored pixel grid. `focal_px` is in pixel heights (default: the display
    width); pixels `pixel_aspect` times as wide as tall make the horizontal focal f / pixel_aspect."""
    f = float(focal_px) if focal_px else float(width) * pixel_aspect
    return np.array([[f / pixel_aspect, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1]],
                    dtype=np.float64)


def relative_pose(g_a: np.ndarray, g_b: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(R, t, translation parallax px (90th percentile), inliers) for corners of a tracked into b
    (x_b ~ R x_a + t); raises StaticCamera when too few corners track or nothing moves."""
    return relative_pose_tracks(g_a, g_b, K)[:4]


def corners(g: np.ndarray) -> Optional[np.ndarray]:
    """Shi-Tomasi corners of a frame, (N, 1, 2) float32 (deterministic: the same for every partner)."""
    return cv2.goodFeaturesToTrack(g, maxCorners=600, qualityLevel=0.005, minDistance=5, blockSize=5)


def relative_pose_tracks(g_a: np.ndarray, g_b: np.ndarray, K: np.ndarray, pts: Optional[np.ndarray] = None,
                         check_turn: bool = True):
    """relative_pose plus its inlier tracks: (R, t, parallax, inliers, corner index (M,), inverse depth
    rho (M,) with |t| = 1, the turn check). `pts`: corners(g_a) when the caller already has them. The
    indices let two partners' poses be put on one scale (the same corner triangulated against each).
    The turn check (`refuse_pure_rotation` on these matches: raises PureRotation) runs here unless
    `check_turn` is False; a partner search runs it on the candidate it would take only (~5 ms)."""
    pts = corners(g_a) if pts is None else pts
    if pts is None or len(pts) < 12:
        raise StaticCamera("too few features")
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(g_a, g_b, pts, None, winSize=(21, 21), maxLevel=3)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(g_b, g_a, nxt, None, winSize=(21, 21), maxLevel=3)
    good = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    p1, p2 = pts.reshape(-1, 2)[good], nxt.reshape(-1, 2)[good]
    if len(p1) < 12:
        raise StaticCamera("too few consistent feature tracks")
    R, t, par, n_in, inl = _pose_and_inliers(p1, p2, K)
    rho = triangulate_points(p1[inl], p2[inl], R, t, K)[0]

    def turn_check() -> None:
        refuse_pure_rotation(p1, p2, inl, K)

    if check_turn:
        turn_check()
    return R, t, par, n_in, np.flatnonzero(good)[inl], rho, turn_check


def pose_from_matches(p1: np.ndarray, p2: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(R, t, translation parallax px (90th percentile), inliers) from matched pixel positions
    (N, 2) of frame a and b; raises StaticCamera when no usable translation explains them
    (PureRotation where a rotation alone does)."""
    R, t, par, n_in, inl = _pose_and_inliers(p1, p2, K)
    refuse_pure_rotation(p1, p2, inl, K)
    return R, t, par, n_in


def refuse_pure_rotation(p1: np.ndarray, p2: np.ndarray, inl: np.ndarray, K: np.ndarray) -> None:
    """Raise PureRotation where a rotation alone explains the pose's inliers `inl` ((N,) bool over the
    matches p1 -> p2, (N, 2) px).

    A camera that turns without moving (a tripod pan) shows no parallax: the translation model took
    its turn for a sideways move over a scene at one depth (a flat map that most pixels trusted). No
    translation is measured where the rotation that explains the most matches (the still ones
    included: a still far background pins it) leaves fewer than 5 % of the inliers the pose rests
    on, or fewer than 3. A slow handheld camera leaves more: lfbench seed 5's moving features are
    mostly one layer, and 9-10 % of them (20-40 features) show parallax beyond a rotation; seed 4's
    slow 720p frames pose on 23-41 inliers, 22-37 % of them beyond (a floor of 12 refused those, and
    their refocus fell by up to 3.3 dB)."""
    n = int(inl.sum())
    beyond = int(np.count_nonzero(~_rotation_inliers(p1, p2, K)[inl]))
    if beyond < max(3.0, 0.05 * n):
        raise PureRotation(f"only {beyond} of the pose's {n} inliers show parallax beyond a rotation")


def _pose_and_inliers(p1: np.ndarray, p2: np.ndarray, K: np.ndarray):
    """pose_from_matches plus the inlier mask over the N matches."""
    disp = np.linalg.norm(p2 - p1, axis=1)
    if np.percentile(disp, 90) < 0.3:
        raise StaticCamera(f"features move {np.percentile(disp, 90):.2f} px")
    # Features that do not move (far away) satisfy every epipolar geometry: they would let an
    # independently moving object (a subject walking toward the camera) pick the pose. Score the
    # models on the features that move, when enough of them do.
    moving = disp >= max(0.5, 0.2 * float(np.percentile(disp, 90)))
    if moving.sum() < 12:
        moving[:] = True
    still1, still2 = p1[~moving], p2[~moving]
    p1, p2 = p1[moving], p2[moving]
    Kinv = np.linalg.inv(K)
    thr = 0.5 / max(K[0, 0], K[1, 1])  # epipolar distance threshold in normalised units (0.5 px)
    # Model 1: pure translation (R = I), t . (x1 x x2) = 0 — the common case between nearby frames,
    # and the only well-posed one when most features are far away (rotation then absorbs parallax).
    n1 = np.c_[p1, np.ones(len(p1))] @ Kinv.T
    n2 = np.c_[p2, np.ones(len(p2))] @ Kinv.T
    t_tr, in_tr = _translation_ransac(n1, n2, thr)
    # Two bodies: a second translation on what the first leaves; the camera's motion explains
    # matches all over the frame, an object moving on its own only where it is, so the model whose
    # inliers cover more of the frame (occupied cells of an 8x8 grid) is the camera's.
    cells = _cells(p1, K)
    if t_tr is not None and (~in_tr).sum() >= 12:
        t_b, in_b_sub = _translation_ransac(n1[~in_tr], n2[~in_tr], thr, seed=1)
        if t_b is not None and in_b_sub.sum() >= 12:
            in_b = np.zeros_like(in_tr)
            in_b[np.flatnonzero(~in_tr)[in_b_sub]] = True
            if _coverage(cells, in_b) > _coverage(cells, in_tr):
                t_tr, in_tr = t_b, in_b
    # Model 2: general motion (Nister 5-point + RANSAC).
    E, mask = cv2.findEssentialMat(p1, p2, K, method=cv2.RANSAC, prob=0.999, threshold=0.5)
    n_gen = 0
    if E is not None and E.shape == (3, 3):
        # of E's four decompositions the one with the most inliers, scored as the translation model
        # is (`_general_inliers`). cv2.recoverPose's count leaves out points beyond 50 baselines: a far
        # background then counted for the translation model only, which took a rotating camera's turn
        # for a sideways move (the real RGB-D clip: 0.75 degrees between frames, translation 100
        # degrees off; docs/benchmarks/motion_depth.md)
        R_a, R_b, t_e = cv2.decomposeEssentialMat(E)
        for R_c, t_c in ((R_a, t_e), (R_a, -t_e), (R_b, t_e), (R_b, -t_e)):
            inl_c = _general_inliers(p1, p2, R_c, t_c.ravel(), K)
            if inl_c.sum() > n_gen:
                R_g, t_g, gen_in, n_gen = R_c, t_c.ravel(), inl_c, int(inl_c.sum())
    # The general model's rotation must also explain the features that stay put: a far background
    # moves by the rotation alone. Both models' counts and coverage take them in, each by its own
    # test (every translation with R = I explains them); a rotation fitted to a subject and the near
    # scene together leaves them out (lfbench seed 6 pan: 10 degrees between adjacent frames whose
    # city moves 0.2 px, a "parallax" of 78 px, the map at one level), as does a turn of 0.9 degrees
    # taken for part of a sideways move (seed 2 depth: 109 inliers against the translation's 96).
    still_cells = _cells(still1, K)
    cov_tr = cov_gen = n_tr = 0
    if t_tr is not None:
        still_tr = _translation_inliers(np.c_[still1, np.ones(len(still1))] @ Kinv.T,
                                        np.c_[still2, np.ones(len(still2))] @ Kinv.T, t_tr, thr)[0]
        cov_tr, n_tr = _coverage(cells, in_tr, still_cells, still_tr), int(in_tr.sum() + still_tr.sum())
    if n_gen:
        still_gen = _general_inliers(still1, still2, R_g, t_g, K)
        cov_gen, n_gen = _coverage(cells, gen_in, still_cells, still_gen), int(n_gen + still_gen.sum())
    if t_tr is not None and (n_tr >= 0.9 * n_gen or cov_tr > cov_gen):
        R, t, inl = np.eye(3), t_tr, in_tr
    elif n_gen >= 10:
        R, t, inl = R_g, t_g, gen_in
    else:
        raise StaticCamera("no consistent relative pose")
    n_in = int(inl.sum())
    if n_in < 10:
        raise StaticCamera(f"only {n_in} pose inliers")
    # Translation parallax: displacement left after removing the rotation (infinite homography).
    h1 = np.c_[p1[inl], np.ones(n_in)] @ (K @ R @ Kinv).T
    rot_only = h1[:, :2] / h1[:, 2:3]
    parallax = float(np.percentile(np.linalg.norm(p2[inl] - rot_only, axis=1), 90))
    full = np.zeros(len(moving), bool)
    full[np.flatnonzero(moving)[inl]] = True
    return R, np.asarray(t, dtype=np.float64).ravel(), parallax, n_in, full


def _cells(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    """8x8 grid cell of each pixel position (grid over the frame, from the principal point)."""
    w, h = 2 * (K[0, 2] + 0.5), 2 * (K[1, 2] + 0.5)
    ij = np.clip((p / np.array([w, h]) * 8).astype(int), 0, 7)
    return ij[:, 1] * 8 + ij[:, 0]


def _coverage(cells: np.ndarray, inl: np.ndarray, more_cells: Optional[np.ndarray] = None,
              more_inl: Optional[np.ndarray] = None) -> int:
    """Cells of the 8x8 grid holding an inlier (of `cells`, and of `more_cells` where given)."""
    held = cells[inl] if more_cells is None else np.r_[cells[inl], more_cells[more_inl]]
    return int(np.unique(held).size)


def _translation_inliers(n1: np.ndarray, n2: np.ndarray, T: np.ndarray, thr: float) -> np.ndarray:
    """(H, N) bool: match n of (n1, n2) (normalised, z = 1, R = I) on an epipolar line of hypothesis
    T[h] (|t| = 1) AND in front of the camera (cheirality).

    With R = I a point at inverse depth rho moves along its epipolar line by rho |A| (A = x2 t_z -
    t_xy): away from the epipole for rho > 0. The line alone is satisfied on both sides, and a
    looming subject's translation (epipole inside the subject) would then also explain a lateral
    camera pan's flow on the far side of its epipole (moving toward it, i.e. rho < 0): that support
    is not counted with the sign check. Points that barely move (at infinity) pass.
    """
    T = np.atleast_2d(T)
    tx, ty, tz = (T[:, k:k + 1] for k in range(3))
    x1, y1 = n1[:, 0], n1[:, 1]
    x2, y2 = n2[:, 0], n2[:, 1]
    # epipolar line of x1 in image 2 is t x x1; its distance to x2 is |t . (x1 x x2)| / |line_xy|
    num = np.abs(T @ np.cross(n1, n2).T)
    line_norm = np.hypot(ty - tz * y1, tz * x1 - tx)
    dist = num / np.maximum(line_norm, 1e-12)
    bx, by = x1 - x2, y1 - y2
    a_dot_b = tz * (x2 * bx + y2 * by) - (tx * bx + ty * by)
    a_norm = np.hypot(x2 * tz - tx, y2 * tz - ty)
    return (dist < thr) & (a_dot_b > -thr * a_norm)


def _general_inliers(p1: np.ndarray, p2: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N,) bool: match on its epipolar line under (R, t) within 0.5 px AND not moving backward along
    it by more than 0.5 px (`_translation_inliers`' test: in front of the first camera, or at
    infinity) AND in front of the second camera (depth ratio Z2 / Z = (R x1)_z + rho t_z > 0), which
    tells E's twisted decomposition, 180 degrees about the baseline, from the true one."""
    rho, res, sens = triangulate_points(p1, p2, R, t, K)
    ray_z = (np.c_[(p1 - K[:2, 2]) / np.diag(K)[:2], np.ones(len(p1))] @ R.T)[:, 2]
    return (res < 0.5) & (rho * sens > -0.5) & (ray_z + np.maximum(rho, 0.0) * t[2] > 0)


def _rotation_inliers(p1: np.ndarray, p2: np.ndarray, K: np.ndarray, iters: int = 12) -> np.ndarray:
    """(N,) bool: the matches (N, 2) of the pure rotation (x2 ~ Kf R Kf^-1 x1) that takes the most of
    them within 0.5 px, over focal lengths 0.5-2x K's in steps of 2^(1/4) (a clip's focal length is
    often a guess, and a turn seen through the wrong one leaves residuals that grow with the angle):
    per focal, RANSAC over the rotations aligning two rays (a turning camera's matches are nearly
    all inliers, so a few samples find it; they are scored on at most 150 of the matches), the best
    re-fitted to its inliers (Kabsch)."""
    n = len(p1)
    best = np.zeros(n, bool)
    if n < 2:
        return best
    h1, h2 = np.c_[p1, np.ones(n)], np.c_[p2, np.ones(n)]
    rng = np.random.default_rng(0)
    pairs = rng.random((iters, n)).argsort(axis=1)[:, :2]  # two different matches each
    scored = rng.permutation(n)[:150]

    def within(Kf: np.ndarray, R: np.ndarray, rays: np.ndarray, to: np.ndarray) -> np.ndarray:
        q = rays @ np.swapaxes(Kf @ R, -1, -2)  # the rotation(s) applied to the rays, in px
        return np.linalg.norm(q[..., :2] / q[..., 2:3] - to, axis=-1) < 0.5

    for scale in 2.0 ** (np.arange(-4, 5) / 4):
        Kf = K.copy()
        Kf[0, 0], Kf[1, 1] = K[0, 0] * scale, K[1, 1] * scale
        Kinv = np.linalg.inv(Kf)
        a, b = h1 @ Kinv.T, h2 @ Kinv.T
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        A = np.concatenate([a[pairs], np.cross(a[pairs[:, 0]], a[pairs[:, 1]])[:, None]], axis=1)
        B = np.concatenate([b[pairs], np.cross(b[pairs[:, 0]], b[pairs[:, 1]])[:, None]], axis=1)
        R = _kabsch(A, B)  # (iters, 3, 3)
        inl = within(Kf, R[int(np.argmax(within(Kf, R, a[scored], p2[scored]).sum(axis=1)))], a, p2)
        if inl.sum() >= 3:
            refit = within(Kf, _kabsch(a[inl][None], b[inl][None])[0], a, p2)
            inl = refit if refit.sum() > inl.sum() else inl
        best = inl if inl.sum() > best.sum() else best
    return best


def _kabsch(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(S, 3, 3) rotations taking the unit vectors A[s] (S, M, 3) onto B[s] in least squares."""
    u, _, vt = np.linalg.svd(np.einsum("smi,smj->sij", B, A))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ (np.eye(3) * np.stack([np.ones_like(d), np.ones_like(d), d], axis=1)[:, None, :]) @ vt


def _translation_ransac(n1: np.ndarray, n2: np.ndarray, thr: float, iters: int = 200,
                        seed: int = 0) -> tuple[Optional[np.ndarray], np.ndarray]:
    """Translation direction t (|t| = 1) with x2 . (t x x1) = 0, RANSAC on 2-point samples.

    Each sample's t and -t are scored (same lines, opposite sides in front of the camera), all at
    once; the winner is re-fitted to its inliers by SVD.
    """
    c = np.cross(n1, n2)  # t . c = 0 for every inlier
    best_in = np.zeros(len(c), bool)
    if len(c) < 2:
        return None, best_in
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(c), iters)
    j = (i + rng.integers(1, len(c), iters)) % len(c)  # a second, different match
    T = np.cross(c[i], c[j])
    nt = np.linalg.norm(T, axis=1)
    T = T[nt > 1e-12] / nt[nt > 1e-12, None]
    if not len(T):
        return None, best_in
    T = np.concatenate([T, -T])
    inl = _translation_inliers(n1, n2, T, thr)
    k = int(np.argmax(inl.sum(axis=1)))
    best_t, best_in = T[k], inl[k]
    if best_in.sum() < 8:
        return None, best_in
    _, _, vt = np.linalg.svd(c[best_in])
    t = vt[-1] if vt[-1] @ best_t >= 0 else -vt[-1]
    refit = _translation_inliers(n1, n2, t, thr)[0]
    if refit.sum() >= best_in.sum():
        return t, refit
    return best_t, best_in


def triangulate_points(p1: np.ndarray, p2: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho = 1/Z with |t| = 1, epipolar residual px, sensitivity |A| f px per unit rho) of pixel
    positions p1 (..., 2) of frame a matched to p2 (..., 2) of frame b."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]  # fx != fy for non-square pixels
    p1, p2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    x1 = np.stack([(p1[..., 0] - cx) / fx, (p1[..., 1] - cy) / fy, np.ones(p1.shape[:-1])], axis=-1)
    x2x, x2y = (p2[..., 0] - cx) / fx, (p2[..., 1] - cy) / fy
    u = x1 @ R.T
    Ax, Ay = x2x * t[2] - t[0], x2y * t[2] - t[1]
    Bx, By = u[..., 0] - x2x * u[..., 2], u[..., 1] - x2y * u[..., 2]
    # least squares in stored px (each axis weighted by its focal), so residuals are pixel errors
    Ax, Ay, Bx, By = Ax * fx, Ay * fy, Bx * fx, By * fy
    a2 = Ax * Ax + Ay * Ay
    rho = (Ax * Bx + Ay * By) / np.maximum(a2, 1e-18)
    res = np.hypot(Bx - rho * Ax, By - rho * Ay)
    return rho.astype(np.float32), res.astype(np.float32), np.sqrt(a2).astype(np.float32)


def triangulate_flow(flow: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho = 1/Z with |t| = 1, epipolar residual px, sensitivity |A| f px per unit rho) per pixel."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    p1 = np.stack([xs, ys], axis=-1)
    return triangulate_points(p1, p1 + flow, R, t, K)


def flow_from_depth(rho: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 flow to a frame of pose (R, t) that a per-pixel inverse depth `rho` (in units
    of |t|) implies: proj(R x + rho t) - x, as triangulate_flow's convention. Points at or behind the
    other camera map far outside the frame (so inside_mask drops them). Elementwise in float32: 8 ms
    at 640x360 here, 13 through (H, W, 3) float64 matrix products."""
    h, w = rho.shape
    Kinv = np.linalg.inv(K)
    M = (K @ np.asarray(R, np.float64) @ Kinv).astype(np.float32)  # pixel -> pixel, at infinity
    kt = (K @ np.asarray(t, np.float64)).astype(np.float32)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    r = rho.astype(np.float32)
    px = M[0, 0] * xs + M[0, 1] * ys + M[0, 2] + r * kt[0]
    py = M[1, 0] * xs + M[1, 1] * ys + M[1, 2] + r * kt[1]
    pz = M[2, 0] * xs + M[2, 1] * ys + M[2, 2] + r * kt[2]
    ok = pz > 1e-6
    zs = np.where(ok, pz, np.float32(1.0))
    fx = np.where(ok, px / zs - xs, np.float32(-1e6))
    fy = np.where(ok, py / zs - ys, np.float32(-1e6))
    return np.stack([fx, fy], axis=-1).astype(np.float32)


def refine_translation(flow: np.ndarray, valid: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray,
                       samples: int = 20000, iters: int = 6) -> np.ndarray:
    """Translation direction re-fitted to the dense flow (R kept), by iteratively reweighted least squares.

    The sparse pose rests on a few hundred corners, mostly far away; a translation direction off by a
    degree leaves an epipolar residual that grows with the parallax, so near objects would fail the
    residual test. Every reliable flow vector constrains t linearly, t . (R x1 x x2) = 0; the rows
    are normalised to epipolar distances in px and weighted by a Cauchy kernel (scale 0.5 px) around
    the current t, so an object that moves on its own (an outlier) does not pull the fit and the
    camera's basin (chosen by coverage in `relative_pose`) is kept.
    """
    h, w = valid.shape
    idx = np.flatnonzero(valid.ravel() > 0.5)
    if idx.size < 50:
        return t
    rng = np.random.default_rng(0)
    if idx.size > samples:
        idx = rng.choice(idx, samples, replace=False)
    ys, xs = np.divmod(idx, w)
    fl = flow.reshape(-1, 2)[idx].astype(np.float64)
    Kinv = np.linalg.inv(K)
    x1 = np.c_[xs, ys, np.ones(idx.size)] @ Kinv.T @ R.T
    x2 = np.c_[xs + fl[:, 0], ys + fl[:, 1], np.ones(idx.size)] @ Kinv.T
    c = np.cross(x1, x2)  # t . c = 0
    f = 0.5 * (K[0, 0] + K[1, 1])
    t = np.asarray(t, np.float64) / max(np.linalg.norm(t), 1e-12)
    for _ in range(iters):
        line = np.cross(t, x1)  # epipolar line of x1 in image 2
        norm = np.maximum(np.linalg.norm(line[:, :2], axis=1), 1e-9)
        dist = f * np.abs(c @ t) / norm  # px
        wgt = 1.0 / (1.0 + (dist / 0.5) ** 2) / norm
        _, _, vt = np.linalg.svd(c * wgt[:, None], full_matrices=False)
        t_new = vt[-1] if vt[-1] @ t >= 0 else -vt[-1]
        if np.linalg.norm(t_new - t) < 1e-6:
            t = t_new
            break
        t = t_new
    return t

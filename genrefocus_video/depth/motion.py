"""Depth from camera motion: relative pose from feature matches, dense depth by triangulating flow.

For frame t we pick a neighbour frame s (the nearest earlier frame, up to `max_gap` back, whose
translation parallax reaches `target_parallax_px`; future frames through `frame_lookup` when no
earlier frame gives enough, e.g. at the clip start), then:

1. Features: Shi-Tomasi corners in t tracked into s with pyramidal Lucas-Kanade (and back, to
   drop inconsistent tracks).
2. Pose: two models, chosen by inlier count: pure translation (R = I, t from t.(x1 × x2) = 0 by
   2-point RANSAC; kept when it explains >= 90% as many matches) and the general essential
   matrix (Nistér 5-point RANSAC, cv2.findEssentialMat + cv2.recoverPose). Far-away features make
   the general model trade translation for rotation, hence the translation model first.
   Two bodies: a second translation is fitted to the first one's outliers, and of the models the
   one whose inliers cover more of the frame (cells of an 8x8 grid) is taken as the camera's — an
   object moving on its own (a subject walking toward the camera) explains matches only where it
   is, however many corners it has. The general model replaces the translation only when it has
   > 1/0.9 as many inliers and covers no fewer cells. |t| = 1 (monocular scale is unknowable).
   Intrinsics: focal length from the clip's camera metadata when present, else the width
   (≈ 53° horizontal field of view); principal point at the centre.
3. Dense flow: DIS t -> s (photometrically checked). For pixel x (normalised) with match
   x2, u = R x and X2 = Z u + t give x2 (u_z + rho t_z) = u_xy + rho t_xy with rho = 1/Z, i.e.
   rho A = B, A = x2 t_z - t_xy, B = u_xy - x2 u_z, solved in least squares rho = A.B / |A|^2.
   The residual |B - rho A| is the distance to the epipolar line. The translation direction is
   first re-fitted to the dense flow (robust IRLS, `refine_translation`).
4. Dense depth by plane sweep (depth/plane_sweep.py): 32 inverse-depth hypotheses in
   [0, 1.6 x the flow's 99.5th percentile], each a homography of the partner frame; per-pixel cost
   (gray + gradients, 3x3 box), best hypothesis + parabola. DIS alone drags thin structures (poles,
   letters, twigs) with the background around them and underestimated their parallax: the sweep
   cut the per-clip lfbench AbsRel from 0.42-4.7 to 0.13-0.46 (docs/benchmarks/temporal.md 3b).
   Disparities below half a hypothesis step are reported at that floor, not 0.
5. Confidence (honest, in [0, 1]): static term exp(-(median5(res) / 1.5 px)^2) (independently
   moving objects: their flow leaves the camera's epipolar lines) × distinctiveness of the sweep's
   minimum q / (q + 0.05) (textureless, repeated or occluded pixels) × parallax term
   1 / (1 + (sigma_rho / 0.05 rho_90)^2) with sigma_rho = 0.3 px / (f |A|): the disparity's
   expected error against 5% of the frame's disparity range (ill-conditioned near the epipole) ×
   0 where the sweep stays at infinity (unresolved).
6. Low-confidence pixels are filled from confident neighbours by a confidence-weighted guided
   filter (edge-aware), and the map is normalised so its 90th percentile is 1 (per frame: the
   result does not depend on where a chunk starts; temporal smoothing removes residual scale
   flicker).

When no neighbour gives at least `min_parallax_px` of translation parallax, or fewer than
`min_confident` (5%) of the pixels get a confident depth, the camera is considered static: the source falls back to the defocus cue (`fallback="defocus"`, logged and
recorded in the notes) or raises an InputError asking for a depth pass (`fallback="error"`).
Known limits: objects that move on their own get wrong depth where their motion is along the
epipolar lines (the residual test catches the rest); pure rotation gives no depth.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Optional

import cv2
import numpy as np

from ..errors import InputError
from ..flow import flow_dis, photometric_consistency, to_gray8
from ..record import FrameRecord
from .defocus import defocus_disparity
from .plane_sweep import plane_sweep
from .sources import DepthEstimate, FrameLookup

log = logging.getLogger(__name__)


class StaticCamera(Exception):
    """No usable translation between this frame and its neighbours."""


def intrinsics(width: int, height: int, focal_px: Optional[float], pixel_aspect: float = 1.0) -> np.ndarray:
    """Camera matrix of the stored pixel grid. `focal_px` is in pixel heights (default: the display
    width); pixels `pixel_aspect` times as wide as tall make the horizontal focal f / pixel_aspect."""
    f = float(focal_px) if focal_px else float(width) * pixel_aspect
    return np.array([[f / pixel_aspect, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1]],
                    dtype=np.float64)


def relative_pose(g_a: np.ndarray, g_b: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(R, t, median translation parallax px, inliers) for points of a mapped into b (x_b ~ R x_a + t)."""
    pts = cv2.goodFeaturesToTrack(g_a, maxCorners=600, qualityLevel=0.005, minDistance=5, blockSize=5)
    if pts is None or len(pts) < 12:
        raise StaticCamera("too few features")
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(g_a, g_b, pts, None, winSize=(21, 21), maxLevel=3)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(g_b, g_a, nxt, None, winSize=(21, 21), maxLevel=3)
    good = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    p1, p2 = pts.reshape(-1, 2)[good], nxt.reshape(-1, 2)[good]
    if len(p1) < 12:
        raise StaticCamera("too few consistent feature tracks")
    disp = np.linalg.norm(p2 - p1, axis=1)
    if np.percentile(disp, 90) < 0.3:
        raise StaticCamera(f"features move {np.percentile(disp, 90):.2f} px")
    # Features that do not move (far away) satisfy every epipolar geometry: they would let an
    # independently moving object (a subject walking toward the camera) pick the pose. Score the
    # models on the features that move, when enough of them do.
    moving = disp >= max(0.5, 0.2 * float(np.percentile(disp, 90)))
    if moving.sum() >= 12:
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
        n_gen, R_g, t_g, mask2 = cv2.recoverPose(E, p1, p2, K, mask=mask)
    if t_tr is not None and (in_tr.sum() >= 0.9 * n_gen
                             or _coverage(cells, in_tr) > _coverage(cells, mask2.ravel() > 0)):
        R, t, inl = np.eye(3), t_tr, in_tr
    elif n_gen >= 10:
        R, t, inl = R_g, t_g.ravel(), mask2.ravel() > 0
    else:
        raise StaticCamera("no consistent relative pose")
    n_in = int(inl.sum())
    if n_in < 10:
        raise StaticCamera(f"only {n_in} pose inliers")
    # Translation parallax: displacement left after removing the rotation (infinite homography).
    h1 = np.c_[p1[inl], np.ones(n_in)] @ (K @ R @ Kinv).T
    rot_only = h1[:, :2] / h1[:, 2:3]
    parallax = float(np.percentile(np.linalg.norm(p2[inl] - rot_only, axis=1), 90))
    return R, np.asarray(t, dtype=np.float64).ravel(), parallax, n_in


def _cells(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    """8x8 grid cell of each pixel position (grid over the frame, from the principal point)."""
    w, h = 2 * (K[0, 2] + 0.5), 2 * (K[1, 2] + 0.5)
    ij = np.clip((p / np.array([w, h]) * 8).astype(int), 0, 7)
    return ij[:, 1] * 8 + ij[:, 0]


def _coverage(cells: np.ndarray, inl: np.ndarray) -> int:
    return int(np.unique(cells[inl]).size)


def _translation_ransac(n1: np.ndarray, n2: np.ndarray, thr: float, iters: int = 200,
                        seed: int = 0) -> tuple[Optional[np.ndarray], np.ndarray]:
    """Translation direction t (|t| = 1) with x2 . (t x x1) = 0, RANSAC on 2-point samples.

    The sign is chosen so that most points triangulate in front of the camera.
    """
    c = np.cross(n1, n2)  # t . c = 0 for every inlier
    rng = np.random.default_rng(seed)
    best_in = np.zeros(len(c), bool)
    best_t = None
    if len(c) < 2:
        return None, best_in
    cn = np.linalg.norm(n2[:, :2] - n1[:, :2], axis=1) + 1e-12
    for _ in range(iters):
        i, j = rng.choice(len(c), 2, replace=False)
        t = np.cross(c[i], c[j])
        nt = np.linalg.norm(t)
        if nt < 1e-12:
            continue
        t /= nt
        # Epipolar distance of x2 to the line through x1 along t's image direction ~ |t . c| / |t_xy-ish|.
        line = np.cross(t, n1)  # epipolar line of x1 in image 2 (R = I)
        dist = np.abs(np.sum(line * n2, axis=1)) / np.maximum(np.linalg.norm(line[:, :2], axis=1), 1e-12)
        inl = dist < thr
        if inl.sum() > best_in.sum():
            best_in, best_t = inl, t
    if best_t is None or best_in.sum() < 8:
        return None, best_in
    _, _, vt = np.linalg.svd(c[best_in])
    t = vt[-1]
    del cn
    # Sign: with R = I, rho (x2 t_z - t_xy) = x1_xy - x2 x1_z must give rho > 0 for most points.
    A = n2[best_in, :2] * t[2] - t[:2]
    B = n1[best_in, :2] - n2[best_in, :2]
    if np.sum(np.sum(A * B, axis=1)) < 0:
        t = -t
    return t, best_in


def triangulate_flow(flow: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho = 1/Z with |t| = 1, epipolar residual px, sensitivity |A| f px per unit rho) per pixel."""
    h, w = flow.shape[:2]
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]  # fx != fy for non-square pixels
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x1 = np.stack([(xs - cx) / fx, (ys - cy) / fy, np.ones_like(xs)], axis=-1)
    x2x = (xs + flow[..., 0] - cx) / fx
    x2y = (ys + flow[..., 1] - cy) / fy
    u = x1 @ R.T
    Ax, Ay = x2x * t[2] - t[0], x2y * t[2] - t[1]
    Bx, By = u[..., 0] - x2x * u[..., 2], u[..., 1] - x2y * u[..., 2]
    # least squares in stored px (each axis weighted by its focal), so residuals are pixel errors
    Ax, Ay, Bx, By = Ax * fx, Ay * fy, Bx * fx, By * fy
    a2 = Ax * Ax + Ay * Ay
    rho = (Ax * Bx + Ay * By) / np.maximum(a2, 1e-18)
    res = np.hypot(Bx - rho * Ax, By - rho * Ay)
    return rho.astype(np.float32), res.astype(np.float32), np.sqrt(a2).astype(np.float32)


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


def fill_low_confidence(d: np.ndarray, conf: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Blend d with an edge-aware confidence-weighted average where confidence is low."""
    h, w = d.shape
    radius = max(3, int(round(max(h, w) / 32)))
    g = guide.astype(np.float32) / 255.0
    num = cv2.ximgproc.guidedFilter(g, (d * conf).astype(np.float32), radius, 1e-3)
    den = cv2.ximgproc.guidedFilter(g, conf.astype(np.float32), radius, 1e-3)
    wide = max(radius * 4 + 1, 9)
    wn, wd = cv2.blur(d * conf, (wide, wide)), cv2.blur(conf, (wide, wide))
    fallback = np.where(wd > 1e-4, wn / np.maximum(wd, 1e-6), np.median(d[conf > 0.1]) if np.any(conf > 0.1) else 1.0)
    filled = np.where(den > 0.05, num / np.maximum(den, 1e-6), fallback)
    return (conf * d + (1.0 - conf) * filled).astype(np.float32)


def refine_edge_aware(d: np.ndarray, conf: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Confidence-weighted guided filter of the whole map (radius ~ 1/50 of the frame, >= 2 px).

    The per-pixel sweep minimum is noisy on flat surfaces (spurious gradients: what reads as
    blotches); averaging with the image as guide removes that inside regions of one colour and
    keeps steps where the image has edges. Weights conf + 0.05: filled pixels count a little.
    """
    h, w = d.shape
    radius = max(2, int(round(max(h, w) / 50)))
    g = guide.astype(np.float32) / 255.0
    wgt = (conf + 0.05).astype(np.float32)
    num = cv2.ximgproc.guidedFilter(g, (d * wgt).astype(np.float32), radius, 1e-4)
    den = cv2.ximgproc.guidedFilter(g, wgt, radius, 1e-4)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), d).astype(np.float32)


class MotionDepthSource:
    """Monocular structure from motion per frame pair (see module doc)."""

    name = "motion"

    def __init__(self, focal_px: Optional[float] = None, max_gap: int = 8, target_parallax_px: float = 12.0,
                 min_parallax_px: float = 0.6, fallback: str = "defocus",
                 frame_lookup: Optional[FrameLookup] = None, flow_sigma_px: float = 0.3,
                 min_confident: float = 0.05, quiet: bool = False, pixel_aspect: float = 1.0,
                 hypotheses: int = 32, residual_px: float = 1.5, sweep_window: int = 3) -> None:
        self.sweep_window = sweep_window  # plane-sweep cost aggregation window (px; 3 keeps thin structures)
        self.hypotheses = hypotheses  # plane-sweep inverse-depth samples in [0, 1.6 x DIS's 99.5th pct]
        self.residual_px = residual_px  # epipolar residual (px, 5x5 median) at which confidence falls to 1/e
        self.quiet = quiet  # fallback notice at INFO (probes that repeat the main pass)
        self.pixel_aspect = float(pixel_aspect)  # non-square pixels: fx = fy / pixel_aspect
        self.min_confident = min_confident
        self.focal_px = focal_px
        self.max_gap = max_gap
        self.target = target_parallax_px
        self.min_parallax = min_parallax_px
        self.fallback = fallback
        self.frame_lookup = frame_lookup
        self.flow_sigma = flow_sigma_px
        self.warmup = max_gap
        self.history: deque[tuple[int, np.ndarray]] = deque(maxlen=max_gap)
        self.fallback_frames: list[int] = []

    def reset(self) -> None:
        self.history.clear()

    def _candidates(self, index: int):
        for j, g in reversed(self.history):  # nearest past frame first
            yield j, g
        if self.frame_lookup is not None:
            for k in range(1, self.max_gap + 1):
                rgb = self.frame_lookup(index + k)
                if rgb is None:
                    break
                yield index + k, to_gray8(rgb)

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        rgb = rec.frame.rgb
        g = to_gray8(rgb)
        h, w = g.shape
        K = intrinsics(w, h, self.focal_px, self.pixel_aspect)
        best = None
        tried = 0
        for j, gj in self._candidates(rec.index):
            tried += 1
            try:
                R, t, par, n_in = relative_pose(g, gj, K)
            except StaticCamera:
                continue
            if best is None or par > best[3]:
                best = (j, gj, (R, t), par, n_in)
            if par >= self.target:
                break
        self.history.append((rec.index, g))
        if not tried:  # a one-frame clip (or a still): nothing to triangulate against
            return self._fallback(rec, "no other frame of the clip within reach to triangulate against "
                                       "(a single frame)")
        if best is None or best[3] < self.min_parallax:
            par = 0.0 if best is None else best[3]
            return self._fallback(rec, f"camera translation parallax {par:.2f} px < {self.min_parallax} px: "
                                       "the camera does not move enough for motion depth")
        j, gj, (R, t), par, n_in = best
        fwd = flow_dis(g, gj, "fine")
        # photometric check only (no backward flow: the plane sweep, not the flow, gives the depth;
        # the flow serves the pose refit and the epipolar residual, both robust to its outliers)
        valid = photometric_consistency(g, gj, fwd)
        t = refine_translation(fwd, valid, R, t, K)
        rho, res, sens = triangulate_flow(fwd, R, t, K)
        pos = rho > 0
        if np.count_nonzero(pos & (valid > 0.5)) < 0.05 * rho.size:
            return self._fallback(rec, "triangulation failed (no points in front of the camera): the camera "
                                       "does not move enough for motion depth, or the scene moves with it")
        rho_ref = float(np.percentile(rho[pos & (valid > 0.5)], 90))
        sig_rho = self.flow_sigma / np.maximum(sens, 1e-6)
        c_par = 1.0 / (1.0 + (sig_rho / (0.05 * rho_ref)) ** 2)
        # Depth by plane sweep along the epipolar lines (DIS drags thin structures with their
        # background); DIS's epipolar residual marks what moves on its own.
        rho_hi = 1.6 * float(np.percentile(rho[pos & (valid > 0.5)], 99.5))
        rho_s, distinct = plane_sweep(g, gj, R, t, K, rho_hi, n=self.hypotheses, window=self.sweep_window)
        static = np.exp(-(cv2.medianBlur(res.astype(np.float32), 5) / self.residual_px) ** 2)
        measured = np.clip(static * distinct / (distinct + 0.05) * c_par, 0.0, 1.0)
        # the first hypothesis (infinity) has no sub-sample fit: unresolved, filled from neighbours
        # (but a far scene is a measurement: it counts against the static-camera fallback)
        conf = measured * (rho_s > 0)
        # below half a hypothesis step the sweep cannot tell a disparity from infinity: report that
        # resolution (a floor) rather than 0, whose inverse (depth) would be unbounded
        floor = 0.5 * rho_hi / (self.hypotheses - 1)
        rho = np.maximum(rho_s, floor)
        conf = np.clip(conf, 0.0, 1.0).astype(np.float32)
        if np.mean(measured > 0.3) < self.min_confident:
            return self._fallback(rec, f"only {100 * np.mean(measured > 0.3):.1f}% of the pixels get a confident depth "
                                       f"from {par:.2f} px of parallax: the camera does not move enough for "
                                       "motion depth")
        hi = np.percentile(rho[conf > 0.2], 99.5) if np.any(conf > 0.2) else rho_ref * 4
        rho = np.minimum(rho, 1.5 * hi)
        d = np.maximum(refine_edge_aware(fill_low_confidence(rho, conf, g), conf, g), floor)
        ref = d[conf > 0.3] if np.count_nonzero(conf > 0.3) > 0.02 * d.size else d.reshape(-1)
        scale = float(np.percentile(ref, 90))
        d = d / max(scale, 1e-12)
        notes = {"source": "motion", "pair": int(j), "parallax_px": round(par, 3), "pose_inliers": n_in,
                 "confident_fraction": round(float(np.mean(conf > 0.3)), 3)}
        return DepthEstimate(d.astype(np.float32), conf, notes, affine_ambiguous=True)

    def _fallback(self, rec: FrameRecord, why: str) -> DepthEstimate:
        if self.fallback == "error":
            raise InputError(f"frame {rec.index}: motion depth needs a moving camera ({why}); "
                             f"give a depth pass (--depth PATH) or use --depth-source marigold")
        if not self.fallback_frames:
            log.log(logging.INFO if self.quiet else logging.WARNING,
                    "frame %d: %s; using the weak defocus-cue estimate (assumes the sharpest region is "
                    "nearest). For reliable depth give a depth pass (--depth PATH) or --depth-source marigold",
                    rec.index, why)
        self.fallback_frames.append(rec.index)
        d, c = defocus_disparity(rec.frame.rgb)
        scale = float(np.percentile(d, 90))
        return DepthEstimate((d / max(scale, 1e-12)).astype(np.float32), c,
                             {"source": "motion", "fallback": "defocus", "reason": why}, affine_ambiguous=True)

"""Depth from camera motion: relative pose from feature matches, dense depth by triangulating flow.

For frame t we pick a neighbour frame s (the nearest earlier frame, up to `max_gap` back, whose
translation parallax reaches `target_parallax`, 1.8 % of the frame width capped at `max_target_px`
(12 full-frame px) where the frame is estimated at full or half size and at as many px of the working
level (6) where it is estimated smaller: 7 px at 384, 12 at 1280, 24 at 1920, 48 at 3840 (an uncapped
23 px at 1280 cost 0.67x speed; a cap of 12 full-frame px at 1920 and 3840, 3 and 1.5 px of their
480 px working level, sent slow handheld 1080p frames and every 4K frame to the defocus fallback);
future frames through `frame_lookup` when no
earlier frame gives enough, e.g. at the clip start) and, when `frame_lookup` reaches frames on the
other side of t, a second partner there (the nearest one reaching the target, kept when it gives at
least half the primary's parallax), then, at the working level (frames wider
than `work_width`, 640 px, are area-downsampled by powers of 2: 720p at half size; the
minimum parallax stays in full-resolution px, the target as a fraction of the width; depth/motion_pyramid.py):

1. Features: Shi-Tomasi corners in t tracked into s with pyramidal Lucas-Kanade (and back, to
   drop inconsistent tracks).
2. Pose (depth/motion_pose.py): two models, chosen by inlier count: pure translation (R = I, t
   from t.(x1 × x2) = 0 by 2-point RANSAC, an inlier on its epipolar line AND in front of the
   camera; kept when it explains >= 90% as many matches) and the general essential
   matrix (Nistér 5-point RANSAC, cv2.findEssentialMat + cv2.recoverPose). Far-away features make
   the general model trade translation for rotation, hence the translation model first.
   Two bodies: a second translation is fitted to the first one's outliers, and of the models the
   one whose inliers cover more of the frame (cells of an 8x8 grid) is taken as the camera's — an
   object moving on its own (a subject walking toward the camera) explains matches only where it
   is, however many corners it has. The general model replaces the translation only when it has
   > 1/0.9 as many inliers and covers no fewer cells. |t| = 1 (monocular scale is unknowable).
   Intrinsics: focal length from the clip's camera metadata when present, else the width
   (≈ 53° horizontal field of view); principal point at the centre.
3. Dense flow: DIS t -> s (photometrically checked; FlowStage's rec.flow_to_prev, resized, when
   s = t-1 and the pipeline already computed it). For pixel x (normalised) with match
   x2, u = R x and X2 = Z u + t give x2 (u_z + rho t_z) = u_xy + rho t_xy with rho = 1/Z, i.e.
   rho A = B, A = x2 t_z - t_xy, B = u_xy - x2 u_z, solved in least squares rho = A.B / |A|^2.
   The residual |B - rho A| is the distance to the epipolar line. The translation direction is
   first re-fitted to the dense flow (robust IRLS, `refine_translation`).
4. Dense depth by plane sweep (depth/plane_sweep.py): 16 inverse-depth hypotheses in
   [0, 1.6 x the flow's 99.5th percentile], each a homography of each partner frame; per-pixel cost
   (gray + gradients; with two partners the lower of the two: a strip occluded on one side is seen
   on the other), 3x3 box, best hypothesis + parabola. The second partner's translation is put on
   the primary's scale by the median ratio of the inverse depths the two pairs triangulate for the
   same corners. 16 rather than 32 hypotheses: on lfbench the finer grid let the finely textured
   far background win the cost of 1-2 px twigs and wires in front of it (thin-structure AbsRel
   0.76 -> 0.23 on seed 6; docs/benchmarks/motion_depth.md), at some cost in depth resolution on
   smooth real surfaces (rgbd_open3d, AbsRel against the sensor with its true focal length 0.114 on
   the single-partner 32-hypothesis code, 0.129 now; with the default focal 0.158 -> 0.156).
   DIS alone drags thin structures (poles,
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
   filter (edge-aware), brought back to full resolution by fast guided upsampling (steps placed on
   the full frame's edges), and normalised so its 90th percentile is 1 (per frame: the
   result does not depend on where a chunk starts; temporal smoothing removes residual scale
   flicker).

When the near partner leaves too few confident pixels and the search stopped at it, the frame
is estimated once more against the nearest partner reaching `retry_parallax` (3.1 % of the width, 12 px at 384;
capped like the target, so skipped where the target already reaches the 12 px cap, 720p and up).
When no neighbour gives at least `min_parallax_px` of translation parallax, or fewer than
`min_confident` (5%) of the pixels get a confident depth, the frame gets no motion depth of its own.
If the previous frame's map (measured, or itself held) comes from a frame within `max_hold` frames
(8), it is *held*: warped into this frame by the flow t -> t-1, its confidence times the flow's
photometric check and 0.8 per frame of distance, and re-fitted to this frame's edges like a measured
map (step 6; notes `held_from`, `hold_frames`). With nothing to hold (a clip's first frames, the first
after a change of scene) the map of the nearest later frame within `max_hold` that gets motion depth
of its own is *borrowed* the same way (the later frames are measured then, once, and their outcome
kept for their turn). A handheld camera that pauses for a few frames, or one frame whose partner
leaves too few confident pixels, keeps the scene's depth instead of switching to a cue that knows
nothing of it (lfbench slow 720p clips: docs/benchmarks/motion_depth.md). A hold never crosses a
change of scene: fewer than half of the pixels photometrically consistent under the flow and there
is nothing to hold. Where nothing can be held or borrowed (a long static stretch, a static camera)
the camera is considered static: the source falls back to the defocus cue (`fallback="defocus"`, logged and
recorded in the notes) or raises an InputError asking for a depth pass (`fallback="error"`).
Known limits: objects that move on their own get wrong depth where their motion is along the
epipolar lines (the residual test catches the rest); pure rotation gives no depth.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..errors import InputError
from ..flow import flow_dis, inside_mask, photometric_consistency, to_gray8, warp
from ..io.frame import Frame
from ..record import FrameRecord
from .defocus import defocus_disparity
from .motion_pyramid import downsample, level_intrinsics, pyramid_level, resize_flow, upsample_guided
from .motion_pose import (StaticCamera, corners, intrinsics, refine_translation, relative_pose_tracks,
                          triangulate_flow)
from .plane_sweep import plane_sweep
from .sources import DepthEstimate, FrameLookup

log = logging.getLogger(__name__)


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


def _rho_ratio(primary: tuple, other: tuple) -> Optional[float]:
    """rho_other / rho_primary of the same scene points (the baseline ratio of the two pairs): median
    over the corners both pairs triangulate in front of the camera, nearer half of them (far
    corners carry mostly noise); None when fewer than 8 are shared."""
    (ia, ra), (ib, rb) = primary[6:8], other[6:8]
    _, pa, pb = np.intersect1d(ia, ib, return_indices=True)
    ok = (ra[pa] > 0) & (rb[pb] > 0)
    ra, rb = ra[pa][ok], rb[pb][ok]
    if ra.size < 8:
        return None
    near = ra >= np.median(ra)
    return float(np.median(rb[near] / ra[near]))


@dataclass(frozen=True)
class _LastMap:
    """The latest frame's working-level motion depth, kept for a frame that gets none (`_hold`)."""

    index: int  # its frame
    gray: np.ndarray  # that frame's working-level gray (the hold's flow pair)
    rho: np.ndarray  # disparity in units of its primary's baseline, before upsampling
    conf: np.ndarray  # its confidence
    origin: int  # the frame whose own motion depth it is (itself, or that of the map it holds)


class MotionDepthSource:
    """Monocular structure from motion per frame pair (see module doc)."""

    name = "motion"

    def __init__(self, focal_px: Optional[float] = None, max_gap: int = 8, target_parallax: float = 7 / 384,
                 retry_parallax: float = 12 / 384, max_target_px: float = 12.0,
                 min_parallax_px: float = 0.6, fallback: str = "defocus",
                 frame_lookup: Optional[FrameLookup] = None, flow_sigma_px: float = 0.3,
                 min_confident: float = 0.05, quiet: bool = False, pixel_aspect: float = 1.0,
                 hypotheses: int = 16, residual_px: float = 1.5, sweep_window: int = 3,
                 work_width: int = 640, reuse_flow: bool = True, two_sided: bool = True,
                 sgm: Optional[tuple[float, float]] = None, max_hold: Optional[int] = None,
                 hold_decay: float = 0.8) -> None:
        self.sgm = None if sgm is None else (float(sgm[0]), float(sgm[1]))  # (P1, P2) of depth/sgm.py; None: box + WTA
        self.two_sided = two_sided  # sweep against a partner on each side of t when both exist
        self.sweep_window = sweep_window  # plane-sweep cost aggregation window (px; 3 keeps thin structures)
        self.hypotheses = hypotheses  # plane-sweep inverse-depth samples in [0, 1.6 x DIS's 99.5th pct]
        self.residual_px = residual_px  # epipolar residual (px, 5x5 median) at which confidence falls to 1/e
        self.quiet = quiet  # fallback notice at INFO (probes that repeat the main pass)
        self.pixel_aspect = float(pixel_aspect)  # non-square pixels: fx = fy / pixel_aspect
        self.min_confident = min_confident
        self.focal_px = focal_px
        self.max_gap = max_gap
        # 1.8 % of the width rather than 12 px (at 384 px wide 7 px; at 640 px the old partners: a real
        # RGB-D clip needs them): nearer partners in time see less occlusion and less of the subject's
        # own motion (lfbench seeds 1-3 0.228 -> 0.205, held-out 4-5 0.311 -> 0.246;
        # docs/benchmarks/motion_depth.md)
        self.target = target_parallax  # fraction of the frame width (an angle, the same at every size)
        self.retry_target = retry_parallax  # a farther partner when the near one fails (fraction of the width)
        # cap on both (full-frame px at full and half size, 6 px of the working level below: _target_px):
        # at 1280 px an uncapped 23 px target sent the search more frames back and made the 720p
        # end-to-end row 0.67x as fast (docs/benchmarks/motion_depth.md)
        self.max_target_px = max_target_px
        self.min_parallax = min_parallax_px  # px of the full frame
        self.fallback = fallback
        self.frame_lookup = frame_lookup
        self.flow_sigma = flow_sigma_px
        self.work_width = work_width  # frames wider are estimated at a pyramid level (motion_pyramid.py); 0 = never
        self.reuse_flow = reuse_flow  # take rec.flow_to_prev (FlowStage) when the partner is frame t-1
        self.warmup = max_gap
        self.history: deque[tuple[int, np.ndarray]] = deque(maxlen=max_gap)
        self._ahead: dict[tuple[int, int], np.ndarray] = {}  # (later frame, level) -> its gray (see _future)
        self.fallback_frames: list[int] = []
        self.held_frames: list[int] = []
        # a frame without motion depth of its own holds the last map within max_hold frames (at most
        # max_gap, the warm-up: a chunk then holds from the same frame an unsplit run does)
        self.max_hold = max_gap if max_hold is None else min(int(max_hold), max_gap)
        self.hold_decay = float(hold_decay)  # held confidence x this per frame of distance
        self._last: Optional[_LastMap] = None  # the latest working-level map, measured or held
        self._measured: dict[int, tuple] = {}  # later frame -> (its _measure outcome, working gray): _borrow

    def reset(self) -> None:
        self.history.clear()
        self._ahead = {}
        self._last = None
        self._measured = {}

    def _past(self):
        for j, g in reversed(self.history):  # nearest past frame first
            yield j, g

    def _future(self, index: int, level: int):
        if self.frame_lookup is not None:
            # later frames' working grays, kept while in reach: each is read and converted once, not once
            # for every frame within max_gap before it (the lookup keeps frames decoded, not as floats)
            self._ahead = {key: g for key, g in self._ahead.items() if key[0] > index}
            for k in range(1, self.max_gap + 1):
                g = self._ahead.get((index + k, level))
                if g is None:
                    rgb = self.frame_lookup(index + k)
                    if rgb is None:
                        break
                    g = self._ahead[(index + k, level)] = downsample(to_gray8(rgb), level)
                yield index + k, g

    def _target_px(self, fraction: float, width: float, scale: float) -> float:
        """Parallax target in full-frame px: `fraction` of the frame width, at most `max_target_px` for
        a frame estimated at full or half size (720p: 6 working px) and the same 6 working px for a
        frame estimated smaller (`scale`: full-frame px per working px). The sweep and the confidence's
        parallax term work at the working level, which is 480-640 px wide at every size from 720p up."""
        return min(fraction * width, self.max_target_px * max(1.0, scale / 2.0))

    def _search(self, candidates, g: np.ndarray, K: np.ndarray, pts, scale: float, target_px: float):
        """(nearest candidate reaching `target_px` of parallax, else the one with the most, or None;
        candidates tried): each a tuple (j, gray_j, R, t, parallax in full-frame px, inliers,
        corner index, corner rho)."""
        best, tried = None, 0
        for j, gj in candidates:
            if gj.shape != g.shape:
                continue
            tried += 1
            try:
                R, t, par, n_in, idx, rho = relative_pose_tracks(g, gj, K, pts)
            except StaticCamera:
                continue
            par *= scale
            if best is None or par > best[4]:
                best = (j, gj, R, t, par, n_in, idx, rho)
            if par >= target_px:
                break
        return best, tried

    def _pick_partners(self, index: int, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                       target_px: float):
        """[primary, second?] partners (tuples of `_search`), or a str saying why none serves.

        The primary is the nearest earlier frame reaching the target parallax (else the later one,
        e.g. at the clip start); the second, when frames on both sides exist, the nearest one on the
        other side with at least half the primary's parallax, its translation rescaled so that one
        rho is one depth in both pairs (median ratio of the corners both pairs triangulate). With
        two partners the sweep keeps, per hypothesis, the lower cost: a strip occluded on one side
        is seen on the other. `scale`: full-frame px per working px; `target_px`: full-frame px."""
        pts = corners(g)
        past, n_past = self._search(self._past(), g, K, pts, scale, target_px)
        future, n_future = self._search(self._future(index, level), g, K, pts, scale, target_px)
        if not n_past + n_future:  # a one-frame clip (or a still): nothing to triangulate against
            return "no other frame of the clip within reach to triangulate against (a single frame)"
        sides = [p for p in (past, future) if p is not None]
        if past is not None and future is not None and past[4] < min(target_px, future[4]):
            sides.reverse()  # the later frame gives the parallax the earlier ones lack
        if not sides or sides[0][4] < self.min_parallax:
            par = 0.0 if not sides else sides[0][4]
            return (f"camera translation parallax {par:.2f} px < {self.min_parallax} px: "
                    "the camera does not move enough for motion depth")
        picked = [sides[0]]
        if self.two_sided and len(sides) == 2 and sides[1][4] >= 0.5 * sides[0][4]:
            ratio = _rho_ratio(sides[0], sides[1])
            if ratio is not None:
                j, gj, R, t = sides[1][:4]
                picked.append((j, gj, R, t * ratio) + sides[1][4:])
        return picked

    def _partner_flow(self, rec: FrameRecord, j: int, g: np.ndarray, gj: np.ndarray) -> tuple[np.ndarray, bool]:
        """(flow t -> j at the working level, reused): the pipeline's flow t -> t-1 (FlowStage's
        rec.flow_to_prev) when that is the pair and it is already there, else DIS 'fine'."""
        f = rec.flow_to_prev if self.reuse_flow and j == rec.index - 1 else None
        if f is not None and f.shape[:2] == rec.frame.rgb.shape[:2]:
            return resize_flow(f, g.shape), True
        return flow_dis(g, gj, "fine"), False

    def _working(self, rgb: np.ndarray):
        """(full-size gray, working-level gray, its intrinsics, pyramid level, full-frame px per working
        px, parallax target and retry target in full-frame px) of a frame."""
        g_full = to_gray8(rgb)
        h, w = g_full.shape
        level = pyramid_level(w, self.work_width)
        g = downsample(g_full, level)
        K = level_intrinsics(intrinsics(w, h, self.focal_px, self.pixel_aspect), (h, w), g.shape)
        scale = w / g.shape[1]
        return g_full, g, K, level, scale, self._target_px(self.target, w, scale), self._target_px(self.retry_target, w, scale)

    def _measure(self, rec: FrameRecord, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                 target_px: float, retry_px: float):
        """This frame's own motion depth: (((rho, confidence) at the working level, notes), or why
        not (str)), against the partners of the target, else once more of the retry target."""
        out, stopped_early = self._estimate_level(rec, g, K, level, scale, target_px)
        if isinstance(out, str) and stopped_early and retry_px > target_px:
            # the near partner gave too few confident pixels and farther ones were not tried: try one
            out, _ = self._estimate_level(rec, g, K, level, scale, retry_px)
        return out

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        g_full, g, K, level, scale, target_px, retry_px = self._working(rec.frame.rgb)
        kept = self._measured.pop(rec.index, None)  # measured ahead, when an earlier frame borrowed
        out = kept[0] if kept is not None else self._measure(rec, g, K, level, scale, target_px, retry_px)
        if isinstance(out, str):
            out = self._hold(rec, g, out) or out
        self.history.append((rec.index, g))  # after the searches: a frame is not its own partner
        if isinstance(out, str):
            out = self._borrow(rec, g, out) or out
        if isinstance(out, str):
            self._last = None  # a defocus-cue frame ends what can be held
            return self._fallback(rec, out)
        (rho, conf), notes = out
        self._last = _LastMap(rec.index, g, rho, conf, int(notes.get("held_from", rec.index)))
        d, conf = upsample_guided(rho, conf, g_full)
        ref = d[conf > 0.3] if np.count_nonzero(conf > 0.3) > 0.02 * d.size else d.reshape(-1)
        d = d / max(float(np.percentile(ref, 90)), 1e-12)
        notes["confident_fraction"] = round(float(np.mean(conf > 0.3)), 3)
        return DepthEstimate(d.astype(np.float32), conf, notes, affine_ambiguous=True)

    def _estimate_level(self, rec: FrameRecord, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                        target_px: float):
        """(((rho, confidence) at the working level, notes) against the partners for `target_px`
        (full-frame px), or why not (str); whether the partner search stopped at the target, so
        that a farther partner may exist (not so for a static camera: every frame was tried))."""
        picked = self._pick_partners(rec.index, g, K, level, scale, target_px)
        if isinstance(picked, str):
            return picked, False
        j, gj, R, t, par, n_in = picked[0][:6]
        stopped_early = par >= target_px
        fwd, reused = self._partner_flow(rec, j, g, gj)
        out = self._depth(g, fwd, [p[1:4] for p in picked], K, par)
        if isinstance(out, str):
            return out, stopped_early
        notes = {"source": "motion", "pair": int(j), "partners": [int(p[0]) for p in picked],
                 "partner_scale": [round(float(np.linalg.norm(p[3])), 4) for p in picked], "parallax_px": round(par, 3),
                 "pose_inliers": n_in, "pyramid_level": level, "flow": "reused" if reused else "dis"}
        return (out, notes), stopped_early

    def _depth(self, g: np.ndarray, fwd: np.ndarray, partners: list, K: np.ndarray, par: float):
        """(disparity in units of the primary's baseline, confidence) at the working level, or why not
        (str). `partners`: [(gray, R, t)], the primary first (`fwd`: the flow to it)."""
        gj, R, t = partners[0]
        # photometric check only (no backward flow: the plane sweep, not the flow, gives the depth;
        # the flow serves the pose refit and the epipolar residual, both robust to its outliers)
        valid = photometric_consistency(g, gj, fwd)
        t_new = refine_translation(fwd, valid, R, t, K)
        partners = [(gj, R, t_new)] + [(gk, Rk, tk) for gk, Rk, tk in partners[1:]]
        t = t_new
        rho, res, sens = triangulate_flow(fwd, R, t, K)
        pos = (rho > 0) & (valid > 0.5)
        if np.count_nonzero(pos) < 0.05 * rho.size:
            return ("triangulation failed (no points in front of the camera): the camera "
                    "does not move enough for motion depth, or the scene moves with it")
        rho_ref = float(np.percentile(rho[pos], 90))
        sig_rho = self.flow_sigma / np.maximum(sens, 1e-6)
        c_par = 1.0 / (1.0 + (sig_rho / (0.05 * rho_ref)) ** 2)
        # Depth by plane sweep along the epipolar lines (DIS drags thin structures with their
        # background); DIS's epipolar residual marks what moves on its own.
        rho_hi = 1.6 * float(np.percentile(rho[pos], 99.5))
        rho_s, distinct, _ = plane_sweep(g, partners, K, rho_hi, n=self.hypotheses, window=self.sweep_window,
                                          sgm=self.sgm)
        static = np.exp(-(cv2.medianBlur(res.astype(np.float32), 5) / self.residual_px) ** 2)
        measured = np.clip(static * distinct / (distinct + 0.05) * c_par, 0.0, 1.0)
        if np.mean(measured > 0.3) < self.min_confident:
            return (f"only {100 * np.mean(measured > 0.3):.1f}% of the pixels get a confident depth "
                    f"from {par:.2f} px of parallax: the camera does not move enough for motion depth")
        # the first hypothesis (infinity) has no sub-sample fit: unresolved, filled from neighbours
        # (but a far scene is a measurement: it counts against the static-camera fallback)
        conf = np.clip(measured * (rho_s > 0), 0.0, 1.0).astype(np.float32)
        # below half a hypothesis step the sweep cannot tell a disparity from infinity: report that
        # resolution (a floor) rather than 0, whose inverse (depth) would be unbounded
        floor = 0.5 * rho_hi / (self.hypotheses - 1)
        rho = np.maximum(rho_s, floor)
        hi = np.percentile(rho[conf > 0.2], 99.5) if np.any(conf > 0.2) else rho_ref * 4
        rho = np.minimum(rho, 1.5 * hi)
        return np.maximum(refine_edge_aware(fill_low_confidence(rho, conf, g), conf, g), floor), conf

    def _hold(self, rec: FrameRecord, g: np.ndarray, why: str):
        """((rho, confidence) at the working level, notes): the latest map (`_last`) warped into this
        frame (`_warped`), or None where nothing can be held: no map, or its measured origin more
        than `max_hold` frames away."""
        last = self._last
        if last is None or not 0 < rec.index - last.index or abs(rec.index - last.origin) > self.max_hold:
            return None
        return self._warped(rec, g, last, why)

    def _borrow(self, rec: FrameRecord, g: np.ndarray, why: str):
        """Like `_hold`, from the nearest later frame within `max_hold` that gets motion depth of its
        own, for a frame with nothing to hold (a clip's first frames, the first after a change of
        scene). The later frames are measured now, once: each one's outcome is kept for its own
        turn (`_measured`), so a static stretch costs no more than frame by frame."""
        if self.frame_lookup is None or self.max_hold <= 0:
            return None
        self._measured = {u: v for u, v in self._measured.items() if u > rec.index}
        for u in range(rec.index + 1, rec.index + self.max_hold + 1):
            if u not in self._measured:
                rgb = self.frame_lookup(u)
                if rgb is None:
                    break
                _, g_u, K, level, scale, target_px, retry_px = self._working(rgb)
                if g_u.shape != g.shape:
                    break
                self._measured[u] = (self._measure(FrameRecord(Frame(u, rgb)), g_u, K, level, scale, target_px,
                                                   retry_px), g_u)
            out, g_u = self._measured[u]
            if not isinstance(out, str):
                (rho, conf), _ = out
                return self._warped(rec, g, _LastMap(u, g_u, rho, conf, u), why)
        return None

    def _warped(self, rec: FrameRecord, g: np.ndarray, src: _LastMap, why: str):
        """((rho, confidence), notes): `src`'s map warped into this frame by the flow t -> its frame,
        its confidence times the flow's photometric check and `hold_decay` per frame of distance,
        filled and re-fitted to this frame's edges as a measured map is; None where fewer than half
        of the pixels are photometrically consistent under the flow (the scene changed)."""
        if src.gray.shape != g.shape:
            return None
        fwd, reused = self._partner_flow(rec, src.index, g, src.gray)
        seen = photometric_consistency(g, src.gray, fwd) * inside_mask(fwd)
        if np.mean(seen > 0.5) < 0.5:
            return None
        decay = self.hold_decay ** abs(rec.index - src.index)
        conf = np.clip(warp(src.conf, fwd) * seen * decay, 0.0, 1.0).astype(np.float32)
        floor = float(src.rho.min())
        rho = np.maximum(refine_edge_aware(fill_low_confidence(warp(src.rho, fwd), conf, g), conf, g), floor)
        notes = {"source": "motion", "held_from": int(src.origin), "hold_frames": abs(rec.index - src.origin),
                 "reason": why, "flow": "reused" if reused else "dis"}
        if not self.held_frames:
            log.log(logging.INFO if self.quiet else logging.WARNING,
                    "frame %d: %s; holding frame %d's motion depth, warped by the flow (up to %d frames away)",
                    rec.index, why, src.origin, self.max_hold)
        self.held_frames.append(rec.index)
        return (rho, conf), notes

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

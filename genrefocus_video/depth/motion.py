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
   camera; kept when it explains >= 90% as many matches) and the general essential matrix
   (Nistér 5-point RANSAC, cv2.findEssentialMat, the best of its four decompositions). Far-away
   features make the general model trade translation for rotation, hence the translation model first.
   Two bodies: a second translation is fitted to the first one's outliers, and of the models the
   one whose inliers cover more of the frame (cells of an 8x8 grid) is taken as the camera's — an
   object moving on its own (a subject walking toward the camera) explains matches only where it
   is, however many corners it has. The general model replaces the translation only when it has
   > 1/0.9 as many inliers and covers no fewer cells. Both are scored alike: on its epipolar line
   within 0.5 px and in front of both cameras or at infinity (until 2026-12-07 the general model
   took cv2.recoverPose's count, which leaves out points beyond 50 baselines: a turning camera's
   far background then counted for the translation only, which won with the rotation read as a
   sideways move); the counts and the coverage take in the features that stay put too, each model
   by its own test (a far background moves by the rotation alone: a rotation fitted to a subject
   and the near scene leaves it out). A camera that turns without moving (a tripod pan) has no
   parallax, and the translation model took its turn for a sideways move over a scene at one depth
   (a flat map that most pixels trusted): a pose whose inliers a pure rotation explains (fewer than
   5 % of them, or than 3, left; over focal lengths 0.5-2x the assumed one) is refused, and a frame
   whose every neighbour is refused so says why when it falls back.
   |t| = 1 (monocular scale is unknowable).
   Intrinsics: focal length from the clip's camera metadata when present, else the width
   (≈ 53° horizontal field of view); principal point at the centre.
3. Dense flow: DIS t -> s (photometrically checked; FlowStage's rec.flow_to_prev, resized, when
   s = t-1 and the pipeline already computed it). For pixel x (normalised) with match
   x2, u = R x and X2 = Z u + t give x2 (u_z + rho t_z) = u_xy + rho t_xy with rho = 1/Z, i.e.
   rho A = B, A = x2 t_z - t_xy, B = u_xy - x2 u_z, solved in least squares rho = A.B / |A|^2.
   The residual |B - rho A| is the distance to the epipolar line. The translation direction is
   first re-fitted to the dense flow (robust IRLS, `refine_translation`; notes `translation`, the
   unit t: a pose taken from a subject walking up to the camera reads as a forward move, |t_z| near 1,
   where the camera moved sideways: docs/benchmarks/motion_depth.md, level35). Before any comparison of
   gray levels each partner is brought to this frame's exposure (auto exposure hunts): the gain is
   the median ratio of the same surfaces' linear light, matched by this flow for the primary and by
   the pose and the depth it triangulates for the other partner (a step found there is measured
   again on that partner's own DIS flow: `_matched_others`); within 1 % of 1 it is what frames of
   one exposure measure, and only the excess is applied (depth/exposure_match.py; notes
   `exposure_gain`).
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
   Which pixels lie at infinity two votes over the cost volume decide, a semi-global one and an
   edge-aware local one (plane_sweep.py: a pixel whose own minimum lies within 2 hypotheses of
   infinity goes there when either aggregation of its surroundings' costs says so; noise,
   resampling and a city's fine texture leave specks of small wrong disparity in a far
   background, which the refocus left half sharp).
   Disparities below half a hypothesis step are reported at that floor, not 0. The frames are
   smoothed before the sweep's costs (depth/noise_level.sweep_presmooth): clean ones by 0.7 px
   (the refocus of all 18 lfbench clips at 384 rose; 1-2 px twigs lose depth, not the picture near them),
   noisy ones (sensor noise beyond 1 gray level) by 0.5 px per level beyond (at most 1.5): the
   partner's resampling averages its noise away, and a far surface matched better at a wrong
   disparity (lfbench with ~6 gray levels of noise: the far city as near as the subject;
   plane_sweep.py).
5. Confidence (honest, in [0, 1]): static term exp(-(median5(res) / 1.5 px)^2) (independently
   moving objects: their flow leaves the camera's epipolar lines) × distinctiveness of the sweep's
   minimum q / (q + 0.05) (textureless, repeated or occluded pixels) × its margin above the frames'
   noise beyond 1 gray level (plane_sweep.py: on noise alone the ratio q stays at 0.13-0.17) × parallax term
   1 / (1 + (sigma_rho / 0.05 rho_99)^2) with sigma_rho = 0.3 px / (f |A|): the disparity's
   expected error against 5% of the frame's disparity range, its 99th percentile (ill-conditioned
   near the epipole; `RANGE_PERCENTILE`: the 90th was the far background's where it fills the frame) ×
   0 where the sweep stays at infinity (unresolved).
6. Low-confidence pixels are filled from confident neighbours by a confidence-weighted guided
   filter (edge-aware; it gives way to the measured value where the confident neighbours' depths
   disagree, at a depth edge the gray image may not show: `fill_low_confidence`), except a far
   background (`far_background`: a distinct static match at infinity, whatever the parallax, two
   or more px inside such a region), which stays beyond one hypothesis step (until 2026-12-06 it
   was filled from what was measured near it: a city behind an approaching subject came out as
   near as the subject; until 2026-12-07 the test took in the parallax term, and on HD frames most
   of the city failed it). The map is brought back to full resolution by fast guided upsampling
   (steps placed on the full frame's edges), and normalised so its 90th percentile is 1 (per
   frame: the result does not depend on where a chunk starts; temporal smoothing removes residual
   scale flicker).

When the near partner leaves too few confident pixels and the search stopped at it, the frame
is estimated once more against the nearest partner reaching `retry_parallax` (3.1 % of the width, 12 px at 384;
capped like the target, so skipped where the target already reaches the 12 px cap, 720p and up).
When no neighbour gives at least `min_parallax_px` of translation parallax, or fewer than
`min_confident` (5%) of the pixels get a confident depth, the frame gets no motion depth of its own
(the reason then names the tracked features' parallax and the dense flow's: a subject walking up to a
slow camera can make most of the first while the scene barely moves).
Such a frame then *holds* the map of the nearest frame within `max_hold` (8) frames that has motion
depth of its own (the earlier one first at equal distance; at a clip's start, or after a change of
scene, a later one): that frame's map warped into this one by the flow t -> it, its confidence times
the flow's photometric check and 0.8 per frame of distance, filled and re-fitted to this frame's
edges as a measured map is (notes `held_from`, `hold_frames`). A neighbour whose map the flow cannot
carry here (fewer than half of the pixels photometrically consistent: another scene) is passed
over. The neighbour's own depth is estimated from the frames alone (DIS flow, `_probe`) and kept, so
a held map does not depend on which frames were estimated before: a frame's estimate reads the
frames max_gap + max_hold on either side (`warmup`, `reach_after`: a chunk's warm-up, the OpenFX
window). A handheld camera that pauses for a few frames, or one frame whose partner leaves too few
confident pixels, keeps the scene's depth instead of switching to a cue that knows nothing of it
(lfbench slow 720p clips: the refocus of 19 such frames 18.2 -> 20.8 dB against the exact depth's;
docs/benchmarks/motion_depth.md). Where no neighbour within reach has motion depth (a long static
stretch, a static camera) the camera is considered static: the source falls back to the defocus
cue (`fallback="defocus"`, logged and recorded in the notes) or raises an InputError asking for a
depth pass (`fallback="error"`).
Known limits: objects that move on their own get wrong depth where their motion is along the
epipolar lines (the residual test catches the rest); pure rotation gives no depth (detected: the
fallback above, its reason "the camera turns without moving").
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import cv2
import numpy as np

from ..errors import InputError
from ..flow import flow_dis, inside_mask, photometric_consistency, to_gray8, warp
from ..record import FrameRecord
from .defocus import defocus_disparity
from .motion_pyramid import downsample, level_intrinsics, pyramid_level, resize_flow, upsample_guided
from .exposure_match import applied_gain, apply_gain, match_exposure, measure_gain
from .motion_pose import (PureRotation, StaticCamera, corners, flow_from_depth, intrinsics, refine_translation,
                          relative_pose_tracks, triangulate_flow)
from .noise_level import excess_noise, sweep_presmooth
from .plane_sweep import plane_sweep
from .sources import DepthEstimate, FrameLookup

log = logging.getLogger(__name__)


# Percentile of the triangulated disparity that stands for the frame's range in the parallax term
# (step 5): the 90th until 2026-12-07, which on a frame whose near structure covers under a tenth of
# it (wires and twigs before a far city, lfbench seeds 11 and 12) was the far background's own
# disparity: every pixel then read as imprecise (the term at ~0.2), the frame was refused and held
# from a neighbour, or measured only where a wrong pose inflated the range. The 99th is the nearest
# structure's, as the sweep's own range is (1.6 x the 99.5th; docs/benchmarks/motion_depth.md).
RANGE_PERCENTILE = 99
FILL_SPREAD = 0.8  # std of log disparity among the confident neighbours that halves the fill's weight


def fill_low_confidence(d: np.ndarray, conf: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Blend d with an edge-aware confidence-weighted average where confidence is low.

    The average is a ratio of two guided filters, which (unlike a box average) can leave the range of
    what it averages where the weights' filter nears zero: it is kept within d's range.

    Its weight is 1 - conf, divided by 1 + (spread / FILL_SPREAD)^2, the spread being the standard
    deviation of log d over the confident pixels of the filter's window: where they agree (a flat
    surface) the fill averages as it always did; where they differ by a factor of several (a depth
    edge the gray guide does not separate: a dark near card in front of a dark city, whose average
    across the edge lies on neither side) a measured pixel keeps more of its own value. With the
    1 - conf blend alone a card's ~0.3 confidence (the parallax term's level at the partner target)
    let the average pull it toward the city (lfbench seed 5 pan frame 8, the 'W' card: truth 0.81,
    measured 0.86, filled 0.62, now 0.64). FILL_SPREAD 0.8, not less: at 0.3 the 384 px clips gained
    up to 0.4 dB more, but a subject moving on its own, whose measured depth is noise, kept its
    blotches (the no-blotches test's flat-surface gradient 0.027 -> 0.033, over its 0.03; at 0.8
    0.029; docs/benchmarks/motion_depth.md)."""
    h, w = d.shape
    radius = max(3, int(round(max(h, w) / 32)))
    g = guide.astype(np.float32) / 255.0
    num = cv2.ximgproc.guidedFilter(g, (d * conf).astype(np.float32), radius, 1e-3)
    den = cv2.ximgproc.guidedFilter(g, conf.astype(np.float32), radius, 1e-3)
    wide = max(radius * 4 + 1, 9)
    wn, wd = cv2.blur(d * conf, (wide, wide)), cv2.blur(conf, (wide, wide))
    fallback = np.where(wd > 1e-4, wn / np.maximum(wd, 1e-6), np.median(d[conf > 0.1]) if np.any(conf > 0.1) else 1.0)
    filled = np.clip(np.where(den > 0.05, num / np.maximum(den, 1e-6), fallback), float(d.min()), float(d.max()))
    weight = (1.0 - conf) / (1.0 + (confident_spread(d, conf, radius) / FILL_SPREAD) ** 2)
    return ((conf * d + weight * filled) / np.maximum(conf + weight, 1e-6)).astype(np.float32)


def confident_spread(d: np.ndarray, conf: np.ndarray, radius: int) -> np.ndarray:
    """Standard deviation of log d over the (2 radius + 1)^2 window, each pixel weighted by its
    confidence (0 where the window holds no confident pixel)."""
    size = (2 * radius + 1, 2 * radius + 1)
    ld = np.log(np.maximum(d, 1e-6)).astype(np.float32)
    c = conf.astype(np.float32)
    total = np.maximum(cv2.blur(c, size), 1e-6)
    mean = cv2.blur(ld * c, size) / total
    return np.sqrt(np.maximum(cv2.blur(ld * ld * c, size) / total - mean * mean, 0.0))


def refine_edge_aware(d: np.ndarray, conf: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Confidence-weighted guided filter of the whole map (radius ~ 1/50 of the frame, >= 2 px).

    The per-pixel sweep minimum is noisy on flat surfaces (spurious gradients: what reads as
    blotches); averaging with the image as guide removes that inside regions of one colour and
    keeps steps where the image has edges. Weights conf + 0.05: filled pixels count a little.
    The ratio of the two guided filters is kept within the range of d over the filter's support (2
    radius on each side): where the weights' filter nears zero on a noisy guide it can leave any
    average's range, and did, by up to 100x the map's 90th percentile on single pixels (lfbench
    seed 2 pan, 384x216, with and without sensor noise; docs/benchmarks/motion_depth.md).
    """
    h, w = d.shape
    radius = max(2, int(round(max(h, w) / 50)))
    g = guide.astype(np.float32) / 255.0
    wgt = (conf + 0.05).astype(np.float32)
    num = cv2.ximgproc.guidedFilter(g, (d * wgt).astype(np.float32), radius, 1e-4)
    den = cv2.ximgproc.guidedFilter(g, wgt, radius, 1e-4)
    support = np.ones((4 * radius + 1, 4 * radius + 1), np.uint8)
    out = np.where(den > 1e-3, num / np.maximum(den, 1e-3), d)
    return np.clip(out, cv2.erode(d, support), cv2.dilate(d, support)).astype(np.float32)


def fit_to_frame(d: np.ndarray, conf: np.ndarray, guide: np.ndarray, floor: float,
                 far: Optional[np.ndarray] = None) -> np.ndarray:
    """A working-level disparity made a map of the frame `guide`: unconfident pixels filled from
    confident neighbours, the whole refined on the frame's edges, kept at or above `floor` (step 6 of
    the module doc; a measured map and a held one take the same step). `far`: pixels known to lie
    beyond one hypothesis step (2 x `floor`, `far_background`): they take no part in the fill and
    the refinement (a far city would pull a twig in front of it back) and keep the fit's value only
    where it is that far."""
    weight = conf if far is None else np.where(far, 0.0, conf).astype(np.float32)
    fitted = np.maximum(refine_edge_aware(fill_low_confidence(d, weight, guide), weight, guide), floor)
    return fitted if far is None else np.where(far, np.minimum(fitted, 2 * floor), fitted).astype(np.float32)


def far_background(rho_s: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Pixels whose sweep minimum is confidently at infinity, two or more px inside such a region.
    `matched`: the match's confidence (static, distinct, above the noise) without the parallax term.

    The fill of `fit_to_frame` used to treat every unresolved pixel like an unconfident one, and a
    far background (a skyline, a wall across the street: lfbench's city at disparity 0.05, 80 % of
    the frame) then took the disparity of whatever was measured near it: beside a subject walking up
    to the camera the city turned as near as the subject and the refocus left it sharp (lfbench seed
    2 pan, frames 14-23: 15-16 dB against the exact refocus; docs/benchmarks/motion_depth.md). Two
    px inside, not one: a 1-2 px twig in front of the city matches it over the 3x3 sweep window (its
    own pixel too, where it is anti-aliased) and would be pushed back with it (lfbench seed 6,
    scale-aligned AbsRel on the measurable pixels: 0.12 -> 0.18 with one px, 0.14 with two).
    Without the parallax term: it rates a triangulated disparity's precision against the frame's
    range, while "beyond one step" is a bound that a distinct match at infinity states at any
    parallax. With it, at the ~6 working px that HD frames are estimated from (c_par ~0.5, less
    where the partner falls short of the target), most of the city failed the 0.3 and was filled as
    near as the cards (lfbench seed 1, 720p, a quarter-size level: the city's aligned median 0.165 ->
    0.083 with it left out; docs/benchmarks/motion_depth.md)."""
    far = (rho_s <= 0) & (matched > 0.3)
    return cv2.erode(far.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


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
                 hold_decay: float = 0.8, infinity_vote: Optional[tuple[float, float]] = (0.5, 4.0),
                 guided_vote: Optional[tuple[int, float]] = (2, 1e-3)) -> None:
        self.sgm = None if sgm is None else (float(sgm[0]), float(sgm[1]))  # (P1, P2) of depth/sgm.py; None: box + WTA
        # (P1, P2) of the semi-global vote on which pixels lie at infinity (plane_sweep.py); None: none
        self.infinity_vote = None if infinity_vote is None else (float(infinity_vote[0]), float(infinity_vote[1]))
        # (radius in working px, eps) of the guided-filter vote on the same question; None: none
        self.guided_vote = None if guided_vote is None else (int(guided_vote[0]), float(guided_vote[1]))
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
        # a frame without motion depth of its own takes the map of the nearest frame within max_hold
        # that has one (`_hold`); that frame's own estimate reads max_gap frames on either side
        self.max_hold = max_gap if max_hold is None else max(0, int(max_hold))
        self.hold_decay = float(hold_decay)  # held confidence x this per frame of distance
        self.warmup = max_gap + self.max_hold  # frames before t its estimate depends on (a chunk's warm-up)
        self.reach_after = max_gap + self.max_hold  # frames after t it may read
        self.history: dict[int, np.ndarray] = {}  # frame -> working gray, for the last `warmup` frames
        self._ahead: dict[tuple[int, int], np.ndarray] = {}  # (later frame, level) -> its gray (see _gray)
        self._picks: dict[tuple[int, int, float], Any] = {}  # (frame, level, target px) -> _pick_partners'
        self._probes: dict[int, Any] = {}  # frame -> its own depth as a hold source (_probe), or why not
        self._now = -1  # the frame being estimated: later frames are read through frame_lookup
        self.fallback_frames: list[int] = []
        self.held_frames: list[int] = []

    def reset(self) -> None:
        self.history.clear()
        self._ahead, self._picks, self._probes = {}, {}, {}
        self._now = -1

    def prime(self, index: int, rgb: np.ndarray) -> None:
        """Keep frame `index` as history without estimating it (the OpenFX bridge's window start):
        later frames pair against it, and a hold may estimate it (`_probe`), as if it had run."""
        self.history[index] = downsample(to_gray8(rgb), pyramid_level(rgb.shape[1], self.work_width))
        self._forget(index)

    def _forget(self, index: int) -> None:
        """Drop what no frame from `index` on can need (before index - warmup)."""
        first = index - self.warmup
        self.history = {j: g for j, g in self.history.items() if j >= first}
        self._picks = {k: v for k, v in self._picks.items() if k[0] >= first}
        self._probes = {j: v for j, v in self._probes.items() if j >= index - self.max_hold}
        self._ahead = {k: g for k, g in self._ahead.items() if k[0] > index}

    def _gray(self, j: int, level: int) -> Optional[np.ndarray]:
        """Frame j's working gray: from the history (frames estimated or primed), or for a frame after
        the one being estimated through `frame_lookup` (read and converted once, kept while in
        reach); None where there is none (before the history, past the clip's end)."""
        g = self.history.get(j)
        if g is not None or j <= self._now or self.frame_lookup is None:
            return g
        g = self._ahead.get((j, level))
        if g is None:
            rgb = self.frame_lookup(j)
            if rgb is None:
                return None
            g = self._ahead[(j, level)] = downsample(to_gray8(rgb), level)
        return g

    def _past(self, index: int, level: int):
        """Frames index-1 ... index-max_gap (nearest first) with their grays, where known."""
        for j in range(index - 1, index - self.max_gap - 1, -1):
            g = self._gray(j, level)
            if g is not None:
                yield j, g

    def _future(self, index: int, level: int):
        """Frames index+1 ... index+max_gap (nearest first) with their grays, up to the clip's end."""
        for j in range(index + 1, index + self.max_gap + 1):
            g = self._gray(j, level)
            if g is None:
                break
            yield j, g

    def _target_px(self, fraction: float, width: float, scale: float) -> float:
        """Parallax target in full-frame px: `fraction` of the frame width, at most `max_target_px` for
        a frame estimated at full or half size (720p: 6 working px) and the same 6 working px for a
        frame estimated smaller (`scale`: full-frame px per working px). The sweep and the confidence's
        parallax term work at the working level, which is 480-640 px wide at every size from 720p up."""
        return min(fraction * width, self.max_target_px * max(1.0, scale / 2.0))

    def _search(self, candidates, g: np.ndarray, K: np.ndarray, pts, scale: float, target_px: float):
        """(nearest candidate reaching `target_px` of parallax, else the one with the most, or None;
        candidates tried; of those, how many a rotation alone explains): each a tuple (j, gray_j, R,
        t, parallax in full-frame px, inliers, corner index, corner rho). The turn check (~5 ms) runs
        on a candidate about to be taken only; one it refuses is passed over."""
        short, tried, turned = [], 0, 0  # short: (candidate, its turn check) below the target
        for j, gj in candidates:
            if gj.shape != g.shape:
                continue
            tried += 1
            try:
                R, t, par, n_in, idx, rho, turn_check = relative_pose_tracks(g, gj, K, pts, check_turn=False)
            except StaticCamera:
                continue
            cand = (j, gj, R, t, par * scale, n_in, idx, rho)
            if cand[4] < target_px:
                short.append((cand, turn_check))
            elif self._turns(turn_check):
                turned += 1
            else:
                return cand, tried, turned
        for cand, turn_check in sorted(short, key=lambda f: -f[0][4]):  # the most parallax first
            if not self._turns(turn_check):
                return cand, tried, turned
            turned += 1
        return None, tried, turned

    @staticmethod
    def _turns(turn_check) -> bool:
        """Whether a candidate's matches are a pure rotation (its pose shows no translation)."""
        try:
            turn_check()
        except PureRotation:
            return True
        return False

    def _pick_partners(self, index: int, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                       target_px: float):
        """[primary, second?] partners (tuples of `_search`), or a str saying why none serves.

        The primary is the nearest earlier frame reaching the target parallax (else the later one,
        e.g. at the clip start); the second, when frames on both sides exist, the nearest one on the
        other side with at least half the primary's parallax, its translation rescaled so that one
        rho is one depth in both pairs (median ratio of the corners both pairs triangulate). With
        two partners the sweep keeps, per hypothesis, the lower cost: a strip occluded on one side
        is seen on the other. `scale`: full-frame px per working px; `target_px`: full-frame px."""
        key = (index, level, target_px)
        if key not in self._picks:  # a function of the frames alone: an estimate and a probe share it
            self._picks[key] = self._pick_partners_now(index, g, K, level, scale, target_px)
        return self._picks[key]

    def _pick_partners_now(self, index: int, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                           target_px: float):
        pts = corners(g)
        past, n_past, turned_past = self._search(self._past(index, level), g, K, pts, scale, target_px)
        future, n_future, turned_future = self._search(self._future(index, level), g, K, pts, scale, target_px)
        if not n_past + n_future:  # a one-frame clip (or a still): nothing to triangulate against
            return "no other frame of the clip within reach to triangulate against (a single frame)"
        sides = [p for p in (past, future) if p is not None]
        if past is not None and future is not None and past[4] < min(target_px, future[4]):
            sides.reverse()  # the later frame gives the parallax the earlier ones lack
        if not sides and turned_past + turned_future:
            return (f"the camera turns without moving (a rotation alone explains its motion to "
                    f"{turned_past + turned_future} of the {n_past + n_future} frames within reach): "
                    "a turn shows no parallax, so no motion depth")
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

    def _may_reuse(self, rec: FrameRecord) -> bool:
        """Whether this frame's own estimate may take the pipeline's flow (and so differ from a probe's)."""
        f = rec.flow_to_prev
        return self.reuse_flow and f is not None and f.shape[:2] == rec.frame.rgb.shape[:2]

    def _partner_flow(self, rec: Optional[FrameRecord], j: int, g: np.ndarray, gj: np.ndarray) -> tuple[np.ndarray, bool]:
        """(flow t -> j at the working level, reused): the pipeline's flow t -> t-1 (FlowStage's
        rec.flow_to_prev) when that is the pair and it is already there, else DIS 'fine'."""
        if rec is not None and j == rec.index - 1 and self._may_reuse(rec):
            return resize_flow(rec.flow_to_prev, g.shape), True
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

    def _measure(self, index: int, g: np.ndarray, K: np.ndarray, level: int, scale: float, target_px: float,
                 retry_px: float, rec: Optional[FrameRecord] = None):
        """(frame `index`'s own motion depth: ((rho, confidence) at the working level, notes), or why
        not (str); whether it took the pipeline's flow from `rec`), against the partners of the
        target, else once more of the retry target. Without `rec` (a probe) the flow is DIS's."""
        out, stopped_early, reused = self._estimate_level(index, g, K, level, scale, target_px, rec)
        if isinstance(out, str) and stopped_early and retry_px > target_px:
            # the near partner gave too few confident pixels and farther ones were not tried: try one
            out, _, again = self._estimate_level(index, g, K, level, scale, retry_px, rec)
            reused = reused or again
        return out, reused

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        g_full, g, K, level, scale, target_px, retry_px = geom = self._working(rec.frame.rgb)
        self._now = rec.index
        self._forget(rec.index)
        probed = self._probes.get(rec.index)
        if probed is not None and not self._may_reuse(rec):  # a hold measured it already, as this would
            out = probed[0]
        else:
            out, reused = self._measure(rec.index, g, K, level, scale, target_px, retry_px, rec)
            if not reused:  # what a probe of this frame computes: kept for the frames that may hold it
                self._probes[rec.index] = (out, g)
        self.history[rec.index] = g  # after its own search: a frame is not its own partner
        if isinstance(out, str):
            out = self._hold(rec, g, geom[1:], out) or out
        if isinstance(out, str):
            return self._fallback(rec, out)
        (rho, conf), notes = out
        d, conf = upsample_guided(rho, conf, g_full)
        ref = d[conf > 0.3] if np.count_nonzero(conf > 0.3) > 0.02 * d.size else d.reshape(-1)
        d = d / max(float(np.percentile(ref, 90)), 1e-12)
        notes = dict(notes, confident_fraction=round(float(np.mean(conf > 0.3)), 3))
        return DepthEstimate(d.astype(np.float32), conf, notes, affine_ambiguous=True)

    def _estimate_level(self, index: int, g: np.ndarray, K: np.ndarray, level: int, scale: float,
                        target_px: float, rec: Optional[FrameRecord] = None):
        """(((rho, confidence) at the working level, notes) against the partners for `target_px`
        (full-frame px), or why not (str); whether the partner search stopped at the target, so
        that a farther partner may exist (not so for a static camera: every frame was tried);
        whether the flow was the pipeline's, from `rec`)."""
        picked = self._pick_partners(index, g, K, level, scale, target_px)
        if isinstance(picked, str):
            return picked, False, False
        j, gj, R, t, par, n_in = picked[0][:6]
        stopped_early = par >= target_px
        fwd, reused = self._partner_flow(rec, j, g, gj)
        out = self._depth(g, fwd, [p[1:4] for p in picked], K, par, scale)
        if isinstance(out, str):
            return out, stopped_early, reused
        out, gains, floor, t_dir = out
        notes = {"source": "motion", "pair": int(j), "partners": [int(p[0]) for p in picked], "sweep_floor": floor,
                 "translation": [round(float(v), 3) for v in t_dir],
                 "partner_scale": [round(float(np.linalg.norm(p[3])), 4) for p in picked], "parallax_px": round(par, 3),
                 "pose_inliers": n_in, "pyramid_level": level, "flow": "reused" if reused else "dis",
                 "exposure_gain": [round(x, 4) for x in gains]}
        return (out, notes), stopped_early, reused

    def _depth(self, g: np.ndarray, fwd: np.ndarray, partners: list, K: np.ndarray, par: float, scale: float):
        """((disparity in units of the primary's baseline, confidence) at the working level, the
        linear-light gains applied to the partners' exposure, the sweep's disparity floor: half a
        hypothesis step, what the map reports for infinity, the primary pair's unit translation t as
        refined on the flow: X_partner = R X + t in camera coordinates, x right, y down, z forward, so
        minus the partner camera's centre where R = I), or why not (str). `partners`: [(gray, R,
        t)], the primary first (`fwd`: the flow to it); `par`: the partner search's parallax and
        `scale` full-frame px per working px (both for the reason a refused frame is given)."""
        gj, R, t = partners[0]
        # photometric check only (no backward flow: the plane sweep, not the flow, gives the depth;
        # the flow serves the pose refit and the epipolar residual, both robust to its outliers);
        # its tolerance (15 codes) takes exposure steps of a few per cent as they come
        valid = photometric_consistency(g, gj, fwd)
        # the primary at this frame's exposure (auto exposure hunts), measured on what the flow matches
        gj, gain = match_exposure(g, gj, fwd)
        t = refine_translation(fwd, valid, R, t, K)
        rho, res, sens = triangulate_flow(fwd, R, t, K)
        pos = (rho > 0) & (valid > 0.5)
        if np.count_nonzero(pos) < 0.05 * rho.size:
            return ("triangulation failed (no points in front of the camera): the camera "
                    "does not move enough for motion depth, or the scene moves with it")
        matched = self._matched_others(g, partners[1:], rho, pos & (res < self.residual_px), K)
        partners = [(gj, R, t)] + [p[:3] for p in matched]
        gains = [gain] + [p[3] for p in matched]
        rho_ref = float(np.percentile(rho[pos], RANGE_PERCENTILE))
        sig_rho = self.flow_sigma / np.maximum(sens, 1e-6)
        c_par = 1.0 / (1.0 + (sig_rho / (0.05 * rho_ref)) ** 2)
        # Depth by plane sweep along the epipolar lines (DIS drags thin structures with their
        # background); DIS's epipolar residual marks what moves on its own.
        rho_hi = 1.6 * float(np.percentile(rho[pos], 99.5))
        noise = excess_noise(g, [p[0] for p in partners])
        rho_s, distinct, above_noise = plane_sweep(g, partners, K, rho_hi, n=self.hypotheses, window=self.sweep_window,
                                                    sgm=self.sgm, presmooth=sweep_presmooth(noise), noise=noise,
                                                    infinity_vote=self.infinity_vote, guided_vote=self.guided_vote)
        static = np.exp(-(cv2.medianBlur(res.astype(np.float32), 5) / self.residual_px) ** 2)
        matched = np.clip(static * distinct / (distinct + 0.05) * above_noise, 0.0, 1.0)
        measured = matched * c_par
        confident = float(np.mean(measured > 0.3))
        if confident < self.min_confident:
            # the features' parallax chose the partner; an approaching subject's looming can make
            # most of it while the scene itself barely moves (the dense flow says how much it does)
            dense = scale * float(np.percentile((rho * sens)[pos], 90))
            return (f"only {100 * confident:.1f}% of the pixels get a confident depth: the "
                    f"tracked features show {par:.2f} px of parallax, the dense flow {dense:.2f} px (90th "
                    "percentiles, full-frame px): the camera does not move enough for motion depth, or "
                    "what moves is a subject rather than the camera")
        # the first hypothesis (infinity) has no sub-sample fit: unresolved, filled from neighbours
        # (but a far scene is a measurement: it counts against the static-camera fallback)
        resolved = np.clip(measured * (rho_s > 0), 0.0, 1.0).astype(np.float32)
        # below half a hypothesis step the sweep cannot tell a disparity from infinity: report that
        # resolution (a floor) rather than 0, whose inverse (depth) would be unbounded
        floor = 0.5 * rho_hi / (self.hypotheses - 1)
        rho = np.maximum(rho_s, floor)
        hi = np.percentile(rho[resolved > 0.2], 99.5) if np.any(resolved > 0.2) else rho_ref * 4
        rho = np.minimum(rho, 1.5 * hi)
        # a far background keeps confidence 0 like every unresolved pixel (it is a bound, "beyond one
        # step", not a triangulated depth): given the match's confidence, the follower's confident
        # pixels in a box on an independently moving subject (itself unconfident) were the city behind
        # it (lfbench's long handheld clip: box measurement RMS 0.087 -> 0.121 of the span)
        return ((fit_to_frame(rho, resolved, g, floor, far_background(rho_s, matched)), resolved), gains, floor,
                t / max(float(np.linalg.norm(t)), 1e-12))

    @staticmethod
    def _matched_others(g: np.ndarray, others: list, rho: np.ndarray, trusted: np.ndarray, K: np.ndarray) -> list:
        """[(gray at `g`'s exposure, R, t, the gain applied)] of the partners after the primary. They have
        no flow of their own: the pose and the inverse depth `rho` the primary's flow triangulates say
        where each `trusted` pixel (in front, photometrically consistent, on its epipolar line) lies in
        them. That placement is good to 0.1-0.3 px at the median but not everywhere, and the gain it
        measures on frames of one exposure was up to 2.2 % off (lfbench clean pairs; 0.5 % on the
        frames' own flow): a step beyond the tolerance is measured again on DIS flow to that partner,
        which costs a flow only where the exposure moved."""
        rho_k = np.where(trusted, rho, 0.0)
        out = []
        for gk, Rk, tk in others:
            gain_k = applied_gain(measure_gain(g, gk, flow_from_depth(rho_k, Rk, tk, K), trusted))
            if gain_k != 1.0:
                gain_k = applied_gain(measure_gain(g, gk, flow_dis(g, gk, "fine")))
            out.append((apply_gain(gk, gain_k), Rk, tk, gain_k))
        return out

    def _hold(self, rec: FrameRecord, g: np.ndarray, geom: tuple, why: str):
        """((rho, confidence) at the working level, notes) for a frame without motion depth of its
        own: the map of the nearest frame within `max_hold` that has one (the earlier first at equal
        distance), warped into this frame (`_warped`); None where none has, or none of those the flow
        can carry here. `geom`: this frame's (gray, K, level, scale, target px, retry px)."""
        for k in range(1, self.max_hold + 1):
            for j in (rec.index - k, rec.index + k):
                source = self._probe(j, geom)
                held = self._warped(rec, g, j, source, why) if source is not None else None
                if held is not None:
                    return held
        return None

    def _probe(self, j: int, geom: tuple) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
        """(rho, confidence, gray, the sweep's floor) of frame j's own motion depth at the working
        level, or None where it has none (or is out of reach). Estimated with DIS flow from the frames
        alone (history and frame_lookup), and kept: the same whichever frame asks, or when, so a frame's
        held map does not depend on where a chunk or an OpenFX window starts (within the source's
        warm-up / reach)."""
        g, K, level, scale, target_px, retry_px = geom
        if j not in self._probes:
            gj = self._gray(j, level)
            if gj is None or gj.shape != g.shape:
                return None
            self._probes[j] = (self._measure(j, gj, K, level, scale, target_px, retry_px)[0], gj)
        out, gj = self._probes[j]
        if isinstance(out, str):
            return None
        (rho, conf), notes = out
        return rho, conf, gj, notes["sweep_floor"]

    def _warped(self, rec: FrameRecord, g: np.ndarray, j: int, source: tuple, why: str):
        """((rho, confidence), notes): frame j's map (`source`: rho, confidence, gray, the sweep's
        floor) warped into this frame by the flow t -> j, its confidence times the flow's photometric
        check and `hold_decay` per frame of distance, filled and re-fitted to this frame's edges as a
        measured map is; None where fewer than half of the pixels are photometrically consistent under
        the flow (another scene, or a flow that cannot follow)."""
        rho_j, conf_j, gj, floor = source
        fwd, reused = self._partner_flow(rec, j, g, gj)
        seen = photometric_consistency(g, gj, fwd) * inside_mask(fwd)
        if np.mean(seen > 0.5) < 0.5:
            return None
        decay = self.hold_decay ** abs(rec.index - j)
        conf = np.clip(warp(conf_j, fwd) * seen * decay, 0.0, 1.0).astype(np.float32)
        rho = warp(rho_j, fwd)
        # what frame j's map keeps beyond one step (its far background) is kept there here too; the
        # floor is the sweep's, not the map's minimum: a map whose far background is all at twice the
        # floor (no pixel left at the floor itself) gave twice the floor, and the held far background
        # came out twice as near (lfbench shake 720p at a quarter size, frame 2, the city's aligned
        # median 0.14 -> 0.25 once the infinity vote had taken its last specks to the far background)
        rho = fit_to_frame(rho, conf, g, floor, (rho <= 2 * floor) & (seen > 0.5))
        notes = {"source": "motion", "held_from": int(j), "hold_frames": abs(rec.index - j), "reason": why,
                 "flow": "reused" if reused else "dis"}
        if not self.held_frames:
            log.log(logging.INFO if self.quiet else logging.WARNING,
                    "frame %d: %s; holding frame %d's motion depth, warped by the flow (a frame with motion depth "
                    "within %d frames)", rec.index, why, j, self.max_hold)
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

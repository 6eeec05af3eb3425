"""The temporal depth smoother's level (depth/temporal.py steps 0. and 7., and the low band's floor
of 3.): how a frame's global scale and shift are pulled toward the prediction, when a frame is an
outlier, when the state is the odd one out, and how much the observations' own level jitters.

Per-frame estimators jitter the whole map's scale and shift; the gates of the per-pixel step take a
global jump for a real change and let it through, so the level is settled first, on its own share
of the state's memory. A mixin of `TemporalDepthSmoother`, so that one set of attributes (the
smoother's) configures every step and every face; it keeps its own per-run state (`_reset_level`).
"""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

from .edge_select import discontinuities
from .temporal_ahead import WarpedNext
from .temporal_align import GlobalFit, consensus_level, fit_affine
from .temporal_analysis import FlowSampler


class LevelAlignment:
    """The smoother's global level (module doc). Expects `_sampler` (the frame's flow sampler) and
    `edge_select` (whether displaced edges are selected: then an outlier is refitted away from them)
    on the instance."""

    _sampler: FlowSampler
    edge_select: bool

    def _init_level(self) -> None:
        """The level's settings, at their defaults."""
        # the global alignment may use this part of the state's (log) budget: pull share
        # 1 - (1 - r_max)^align_budget, the per-pixel blend keeps the rest
        self.align_budget = 0.5
        # a global jump beyond exp(+-0.3) (35 %) between frames on pixels that do not loom is the
        # estimator's: the frame is aligned fully to the prediction. The jump is the largest log
        # change the scale-and-shift fit makes within the frame's range (a scale jump, or a shift
        # jump at the far end: `largest_log_change`)
        self.outlier_log_scale = 0.3  # 0.2 also caught 2.5-sigma frames of 8 % scale jitter (-0.4 dB)
        # an outlier level that new_level_frames consecutive observations keep is a new level
        # (2 let two large i.i.d. shift draws in a row through: lfbench seed 11 rack)
        self.new_level_frames = 3
        # an outlier's scale and shift refitted jointly (Theil-Sen over depth bands) when that
        # explains the frame's bands clearly better (< 0.7x): a shift jump read as a scale jump
        # scaled the near subject wrongly on a fully aligned frame
        self.affine_refit = True
        # a frame that is an outlier against the state but not against the level of the observations
        # around it (the previous and next ones) is aligned to that level instead (`_consensus`)
        self.level_consensus = True
        # after a reset the alignment pulls toward the state's level as toward a running mean (7.)
        self.level_warmup = True
        # the low-band gate's floor (3.), a share of the log disparity range: from low_gate_floor[0] where
        # the observations hold their level (exact depth: a slow change in depth is real) up to [1]
        # where it jitters by jitter_ref (log) or more (the median over the last 5 frames of the
        # largest log change of each raw observation's global fit to the previous one)
        self.low_gate_floor = (0.005, 0.01)
        self.jitter_ref = 0.02

    def _reset_level(self) -> None:
        """Forget the observations seen (a reset: chunk or scene start)."""
        self.prev_raw: Optional[np.ndarray] = None  # the last observation before alignment, `_align`
        self.level_votes = 0  # consecutive outlier frames at the previous one's level, `_align`
        self._jitter: list[float] = []  # the observations' recent level changes (3.'s floor)

    def _fit_global(self, d: np.ndarray, P: np.ndarray, loom: Optional[np.ndarray], m: np.ndarray,
                    c: Optional[np.ndarray]) -> GlobalFit:
        """Global log-scale and shift taking d to the (looming-corrected) prediction.

        Fitted where the flow shows no looming (|log s| < 1%): there the true depth did not change,
        so a scale change is the estimator's; a camera dolly (everything looms) leaves too few
        pixels and no alignment. Scale: binned log-ratio median; shift: median residual
        (estimated sources know depth only up to an affine map; for files it rejects most of an
        outlier frame). The prediction keeps those pixels' small looming: fitting against P itself
        (tried 2026-12-06) halved exact depth's level drift on lfbench but would hold a slow dolly's
        real sub-1 % change per frame back, and cost twice the tuned scale/shift jitter 2 rows."""
        P_fit = P * np.exp(loom) if loom is not None else P
        steady = (np.abs(loom) < 0.01) if loom is not None else np.ones(d.shape, bool)
        sel = m * steady if c is None else m * (c > 0.3) * steady
        return fit_affine(d, P_fit, sel, self.outlier_log_scale, self.affine_refit)

    def _aligned(self, d: np.ndarray, fit: GlobalFit, share: float, floor: float) -> np.ndarray:
        """d pulled by `share` of the fit toward the prediction's global scale and shift."""
        if share <= 0:
            return d
        out = d * np.float32(math.exp(share * fit.log_scale)) + np.float32(share * fit.shift)
        return np.maximum(out, np.float32(floor)).astype(np.float32)

    def _align(self, d: np.ndarray, P: np.ndarray, loom: Optional[np.ndarray], m: np.ndarray,
               c: Optional[np.ndarray], r_level: float, floor: float, warped: Optional[WarpedNext] = None,
               to_prev: Optional[GlobalFit] = None) -> tuple[np.ndarray, float, bool]:
        """depth/temporal.py 0.: (d aligned, the pull share, whether the frame is an outlier). `to_prev`:
        d's fit to the previous observation (`_fit_to_previous`), None without one.

        The pull share f = 1 - (1 - r_level)^align_budget (r_level: the state level's share, 7.); an
        outlier (a jump > outlier_log_scale) is aligned fully, its sensitivity to the state 1 (the
        budget below stays as reserved). Three vetoes: displaced depth edges can fake a jump (not if
        the pixels away from them see none); a frame whose neighbours share its level is aligned to
        their median level instead (`_consensus`: the state is the odd one); and a jump that
        `new_level_frames` consecutive observations make alike is a new level, not an outlier: it is
        taken as observed (no pull toward the old level). Without it a state that went
        wrong (or an estimator that changed its level for good) called every later frame an outlier
        and pinned it to the old level for ever."""
        fit = self._fit_global(d, P, loom, m, c)
        if fit.outlier and self.edge_select:
            calm = self._fit_global(d, P, loom, m * ~discontinuities(d, P), c)
            if abs(calm.log_scale) > 0.0 and calm.change < 0.5 * self.outlier_log_scale:  # 0: no fit
                fit = calm
        pull = 1.0 - (1.0 - r_level) ** self.align_budget
        to_prev = to_prev if fit.outlier else None
        consensus = self._consensus(d, fit, to_prev, loom, m, c, warped)
        if consensus is not None:  # the state is the odd one out, not d
            self.level_votes = 0
            return self._aligned(d, consensus, 1.0, floor), pull, False
        repeats = to_prev is not None and to_prev.change < 0.25 * self.outlier_log_scale  # the previous level
        self.level_votes = self.level_votes + 1 if repeats else 0
        if self.level_votes >= self.new_level_frames - 1:
            return d, pull, False  # the new level, taken as observed (the budget stays reserved)
        return self._aligned(d, fit, 1.0 if fit.outlier else pull, floor), pull, fit.outlier

    def _fit_to_previous(self, d: np.ndarray, loom: Optional[np.ndarray], m: np.ndarray,
                         c: Optional[np.ndarray], maps) -> Optional[GlobalFit]:
        """d's global fit to the previous observation (warped; before alignment), None without one:
        the new-level vote (its change within a quarter of the outlier threshold: the same level)
        and the consensus both use it."""
        if self.prev_raw is None or self.prev_raw.shape != d.shape:
            return None
        return self._fit_global(d, self._sampler.sample(self.prev_raw, maps, cv2.INTER_NEAREST), loom, m, c)

    def _consensus(self, d: np.ndarray, fit: GlobalFit, to_prev: Optional[GlobalFit], loom: Optional[np.ndarray],
                   m: np.ndarray, c: Optional[np.ndarray], warped: Optional[WarpedNext]) -> Optional[GlobalFit]:
        """`temporal_align.consensus_level` of d (an outlier against the state: `fit`) with the
        observations t - 1 (`to_prev`: d's fit to it) and t + 1 (warped, before alignment); None
        without both, or when d is no outlier. A state that took a first frame's level jump (or any
        level the observations since have left) called frame after frame an outlier, aligned each to
        its wrong level and kept it: lfbench scale/shift noise of another draw lost 1.5 dB at
        strength 0.8."""
        if not (self.level_consensus and fit.outlier) or warped is None or to_prev is None:
            return None
        to_next = self._fit_global(d, warped.d, None if loom is None else -loom, m * warped.valid, c)
        return consensus_level(d, fit, [to_prev, to_next], self.outlier_log_scale)

    def _low_floor(self, fit: Optional[GlobalFit]) -> float:
        """The low-band gate's floor (3.), a share of the log range, from the observations' own level
        jitter (`fit`: this raw observation's fit to the previous one, None without one; observations
        only: the chunk bound stays)."""
        lo, hi = self.low_gate_floor
        if fit is not None:
            self._jitter = (self._jitter + [fit.change])[-5:]
        if len(self._jitter) < 2:
            return hi
        return lo + (hi - lo) * min(1.0, self._level_jitter() / self.jitter_ref)

    def _level_jitter(self) -> float:
        """The observations' level jitter (log): the median of the last 5 frames' largest log change
        of the raw map's global fit to the previous one (recorded by `_low_floor`), 0 before two."""
        return float(np.median(self._jitter)) if len(self._jitter) >= 2 else 0.0

"""The temporal depth smoother's level handling (depth/temporal.py 0. and 7.) on per-frame scale and
shift jitter of other draws than the benchmark grid's: a first frame off level must not set the
level of the frames after it, and a state the observations have left must not call them outliers.

Before 2026-12-05 (level warm-up and the neighbours' consensus both off) the draw 93100 of
tests/depth_error_models.scale_shift on this clip kept the first frame's level (+18 % scale, +21 %
of the far disparity as shift) for most of the clip: 0.22 of the excess instability removed and
-1.17 dB at strength 0.8; the draw 3100 lost 0.28 dB.
"""
from __future__ import annotations

import numpy as np
import pytest

from depth_error_models import scale_shift
from temporal_fixtures import lf_follow_clip, render_score  # noqa: F401
from test_depth_lookahead import _clip_flows, _smooth

pytestmark = pytest.mark.slow


def _smoothed(c, flows, depths, strength: float, **options) -> list:
    """The clip smoothed in order with the look-ahead, as a list; `options`: smoother attributes."""
    return list(_smooth(c, flows, depths, strength, **options).values())


@pytest.fixture(scope="module")
def flows(lf_follow_clip):
    return _clip_flows(lf_follow_clip)


@pytest.mark.parametrize("draw", [93100, 3100, 13100])
def test_scale_and_shift_jitter_of_any_draw_is_smoothed_without_losing_psnr(lf_follow_clip, flows, tmp_path, draw):
    """At strength 0.8 the smoothed clip removes at least 55 % of the instability the jitter adds
    over the exact-depth render and loses at most 0.2 dB against the unsmoothed one (measured
    0.69 / +0.09 dB, 0.58 / -0.19 dB, 0.64 / -0.15 dB for the three draws). The bound was 0.08 dB
    until the renderer became continuous in depth (2026-12-06, render/plan.extreme_knots and the
    interpolated aperture kernel): on this small clip (192x108, K 6) that raised the unsmoothed
    renders by 0.14-0.27 dB and the smoothed ones by -0.01-0.16 dB (before: -0.05 / -0.04 dB);
    on the benchmark grid (256x144, 21 clips) every scale/shift row still meets the criterion."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [scale_shift(g, t, seed=draw) for t, g in enumerate(gt)]
    floor, _ = render_score(c, gt, tmp_path / "gt")
    i_noisy, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    i, p = render_score(c, _smoothed(c, flows, noisy, 0.8), tmp_path / "smoothed")
    removed = (i_noisy - i) / (i_noisy - floor)
    assert removed >= 0.55 and p - p_noisy >= -0.2, (removed, p - p_noisy)
    if draw == 93100:  # the failure this guards against: both level mechanisms off
        i_off, p_off = render_score(c, _smoothed(c, flows, noisy, 0.8, level_warmup=False, level_consensus=False),
                                    tmp_path / "off")
        assert p_off - p_noisy < -0.5, p_off - p_noisy


def test_a_state_the_observations_left_is_not_their_reference(lf_follow_clip, flows):
    """A first frame 1.5x too near (a blunder the smoother cannot tell on frame 0), then frames whose
    level alternates +-6 %: each jumps > 35 % against the state, and no two in a row agree within
    the new-level vote's 7.5 %, so the outlier test alone aligned every one of them to the first
    frame's level for the whole clip. Against the observations around them (t - 1 and t + 1,
    `_consensus`) they are not outliers: from frame 2 on the output's level is theirs (median |log|
    level error at most the observations' own 0.06 plus 0.01; measured 0.06 on frames 2-3, 0.02-0.05
    after; with the consensus off 0.40 on every frame)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    level = [np.log(1.5)] + [0.06 * (-1) ** t for t in range(1, c.frames)]
    noisy = [(g * np.float32(np.exp(v))).astype(np.float32) for g, v in zip(gt, level)]

    def level_errors(out: list) -> np.ndarray:
        return np.array([abs(float(np.median(np.log(o / g)))) for o, g in zip(out, gt)])

    on = level_errors(_smoothed(c, flows, noisy, 0.8))
    off = level_errors(_smoothed(c, flows, noisy, 0.8, level_consensus=False))
    assert on[2:].max() < 0.07, on
    assert off[2:].min() > 0.3, off



def test_a_gross_outliers_scale_beyond_2x_is_fitted(lf_follow_clip, flows):
    """Outlier noise with jumps x2 on 30 % of the frames (tests/depth_error_models.outlier: the
    wrong frames also carry a smooth field of 0.3 log amplitude, so the per-pixel gates let them
    in): the global fit must take each wrong frame back to the state's level, scale included.
    Until 2026-12-05 it fitted a scale only within 0.5..2 and a shift alone beyond, so x2.3 frames
    entered the state at +0.2..0.3 (log) and the good frames after them were pulled toward it for
    ten frames (lfbench: up to -1.06 dB, 48 % removed; docs/benchmarks/temporal.md). The median
    |log| level error of the output, measured: at most 0.038 (0.256 with the old window, and
    still 0.031 at the clip's end)."""
    from depth_error_models import is_outlier_frame, outlier

    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [outlier(g, t, prob=0.3, jump=2.0) for t, g in enumerate(gt)]
    out = _smoothed(c, flows, noisy, 0.8)
    err = np.array([abs(float(np.median(np.log(o / g)))) for o, g in zip(out, gt)])
    wrong = [t for t in range(c.frames) if is_outlier_frame(t, prob=0.3)]
    assert 4 <= len(wrong) <= 12  # the draw has wrong frames to show it (2, 3, 5 and 9)
    assert err.max() < 0.06, err

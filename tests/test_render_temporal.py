"""Temporal behaviour of the layer plan: what a focus pull / follow focus does frame to frame.

Physics (DESIGN.md): a surface at the focus plane (d = a) is imaged without blur, whatever else
is in the frame. In a follow-focus shot the subject's disparity and a(t) move together while the
frame's blur-radius range moves with them; a plan that re-spreads its layers over that range
every frame splits the subject between two blurred layers by an amount that changes per frame —
visible flicker on the one thing the shot is about.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.render.plan import layer_knots


def _follow_scene(d_subject: float):
    """96×64: textured background ramp (d 0.05..0.25), a subject card at d_subject, a near post."""
    rng = np.random.default_rng(5)
    H, W = 64, 96
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 0.8) * 1.5
    img[8, 10] = 20.0  # a highlight in the background
    xx = np.arange(W, dtype=np.float32)[None, :].repeat(H, 0)
    disp = 0.05 + 0.2 * xx / (W - 1)
    subject = np.zeros((H, W), bool)
    subject[20:44, 24:56] = True
    disp[subject] = d_subject
    disp[:, 86:] = 0.95  # near post, ≥ 30 px from the subject (its blur is ≤ 12 px)
    return img, disp.astype(np.float32), subject


@pytest.mark.parametrize("grid", ["anchored", "lattice"])
def test_follow_focus_keeps_the_subject_exactly_sharp_every_frame(grid):
    k = 20.0
    worst = 0.0
    for d_s in np.linspace(0.35, 0.7, 9):  # the subject moves in depth, focus follows it
        img, disp, subject = _follow_scene(float(d_s))
        out = render_bokeh(img, disp, float(d_s), k, "disc", layer_grid=grid)
        worst = max(worst, float(np.abs(out[subject] - img[subject]).max()))
        assert np.abs(out[~subject] - img[~subject]).mean() > 0.01  # the rest is blurred
    assert worst < 1e-5


def test_the_former_adaptive_plan_flickers_on_the_followed_subject():
    """The known failure the anchored plan removes (kept reachable as layer_grid='adaptive')."""
    k = 20.0
    errs = []
    for d_s in np.linspace(0.35, 0.7, 9):
        img, disp, subject = _follow_scene(float(d_s))
        out = render_bokeh(img, disp, float(d_s), k, "disc", layer_grid="adaptive")
        errs.append(float(np.abs(out[subject] - img[subject]).mean()))
    assert max(errs) > 1e-3 and max(errs) - min(errs) > 1e-3  # blurred, by an amount varying per frame


def test_anchored_knots_do_not_move_with_the_frame_range():
    """Interior layers lie on the fixed lattice t ∈ ℤ; only the extreme knots follow the range."""
    for tmin, tmax in [(-5.3, 7.2), (-5.31, 7.9), (-4.9, 3.0), (0.4, 6.6), (-9.0, -2.2)]:
        knots = layer_knots(tmin, tmax, "anchored")
        assert knots[0] == pytest.approx(tmin) and knots[-1] == pytest.approx(tmax)
        inner = knots[1:-1]
        np.testing.assert_array_equal(inner, np.round(inner))
        assert np.all(np.diff(knots) > 0) and np.all(np.diff(knots) <= 1.0 + 1e-9)
        if tmin < 0 < tmax:
            assert 0.0 in knots
    assert len(layer_knots(2.5, 2.5, "anchored")) == 1  # constant depth: one exact layer


@pytest.mark.parametrize("grid", ["anchored", "lattice"])
def test_focus_sweep_changes_the_render_continuously(grid):
    """Rendering one frame with a swept in small steps: no step changes the output by much more
    than the typical step (a plan switch would show as an outlier), and halving the step halves
    the typical change (a continuous, not a jumping, dependence on a)."""
    img, disp, _ = _follow_scene(0.5)

    def steps(da):
        prev, out = None, []
        for a in np.arange(0.40, 0.46, da):
            cur = render_bokeh(img, disp, float(a), 12.0, "disc", layer_grid=grid)
            if prev is not None:
                out.append(float(np.abs(cur - prev).mean()))
            prev = cur
        return np.array(out)

    s1, s2 = steps(0.004), steps(0.002)
    assert s1.max() < 2.0 * np.median(s1)
    assert 0.35 < np.median(s2) / np.median(s1) < 0.65


def test_unknown_layer_grid_is_a_config_error():
    from genrefocus_video.errors import ConfigError

    img, disp, _ = _follow_scene(0.5)
    with pytest.raises(ConfigError, match="layer_grid"):
        render_bokeh(img, disp, 0.5, 10.0, "disc", layer_grid="fixed")

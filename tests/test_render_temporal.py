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
from genrefocus_video.render.plan import KNOT_MERGE_GAP, layer_knots


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
        assert abs(knots[0] - tmin) < KNOT_MERGE_GAP and abs(knots[-1] - tmax) < KNOT_MERGE_GAP
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


def test_knots_closer_than_the_merge_gap_become_one():
    from genrefocus_video.render.plan import KNOT_RAMP_GAP

    np.testing.assert_allclose(layer_knots(2.97, 3.05, "anchored"), [3.0])  # both extremes on 3
    np.testing.assert_allclose(layer_knots(0.0, 3.05, "anchored"), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(layer_knots(2.31, 2.36, "anchored"), [2.335])  # a near-constant frame
    np.testing.assert_allclose(layer_knots(-1.0, 0.3, "anchored"), [-1.0, 0.0, 0.3])
    np.testing.assert_allclose(layer_knots(1.2, 1.2 + KNOT_RAMP_GAP, "anchored"), [1.2, 1.2 + KNOT_RAMP_GAP])


def test_extreme_knots_move_continuously_across_the_merge_gap():
    """The extreme knots are Lipschitz functions of the frame's range (slope ≤ g2 / (g2 − g1)),
    within KNOT_MERGE_GAP of their surface — across the merge gap, a lattice point entering the
    range, and a near-constant frame crossing a lattice point. The hard merge before 2026-12-06
    jumped by the whole gap (0.1 layer) there."""
    from genrefocus_video.render.plan import KNOT_RAMP_GAP

    slope = KNOT_RAMP_GAP / (KNOT_RAMP_GAP - KNOT_MERGE_GAP)
    x = np.linspace(-1.5, 1.5, 12001)
    dx = float(x[1] - x[0])
    for span in [lambda v: (-4.3, 2.0 + v), lambda v: (v - 2.0, 4.5), lambda v: (v, v),
                 lambda v: (v, v + 0.05), lambda v: (v, v + 0.15), lambda v: (v, v + 0.3)]:
        ends = []
        for v in x:
            tmin, tmax = span(float(v))
            k = layer_knots(tmin, tmax, "anchored")
            assert abs(k[0] - tmin) <= KNOT_MERGE_GAP + 1e-9 and abs(k[-1] - tmax) <= KNOT_MERGE_GAP + 1e-9
            assert np.all(np.diff(k) > 0)
            ends.append((k[0], k[-1]))
        steps = np.abs(np.diff(np.array(ends), axis=0))
        assert steps.max() <= slope * dx + 1e-9, (steps.max(), dx)


def test_aperture_kernel_is_continuous_in_the_radius():
    """A kernel rasterised at one radius is a step function of it (a ring of 4×4 samples enters
    the disc at once: +12 % on some kernel pixels between r 3.630 and 3.631 px). Interpolated
    between rasterisations on a 1/4-px grid, it changes in proportion to the radius change."""
    from genrefocus_video.optics.aperture import make_aperture

    ap = make_aperture("disc")
    prev, worst = None, 0.0
    for r in np.arange(3.55, 3.75, 0.0005):
        k = ap.kernel(float(r), front=True)
        assert abs(float(k.sum()) - 1.0) < 1e-5
        if prev is not None:
            pad = (k.shape[0] - prev.shape[0]) // 2
            a, b = (np.pad(prev, pad), k) if pad >= 0 else (prev, np.pad(k, -pad))
            worst = max(worst, float(np.abs(a - b).max() / k.max()))
        prev = k
    assert worst < 0.01, worst  # 0.0005 px of radius; the rasterisation alone jumps 0.125
    np.testing.assert_array_equal(ap.kernel(3.0), ap._rasterise(3.0, False, None, 4))  # on the grid


def test_nearest_surface_moving_across_the_merge_gap_changes_the_render_smoothly():
    """A near surface with highlights moves in depth so its distance δ to the lattice point below
    it sweeps 0.05 … 0.3 layer (across KNOT_MERGE_GAP) in 50 steps of 0.005 layer. Continuous: no
    step carries more than a tenth of the sweep's total change (measured 3.5 %; its steps over
    [0.1, 0.2] are 2.9× those beyond: twice the rate, and the kernel's rate differs between
    radius-grid cells). The hard merge jumped the surface by 0.1 layer at δ = 0.1: one step 37 % of
    the total; a kernel rasterised at the exact radius left the render unchanged for most steps
    beyond the gap and jumped in others."""
    rng = np.random.default_rng(7)
    H, W = 48, 80
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.0) * 0.5
    img[22:26, 20:60:6] = 30.0  # highlights on the near surface
    k, a = 8.0, 0.5  # t = r = 8 (d − a) below the knee: the lattice point 3 is at d = 0.875

    def render(delta: float) -> np.ndarray:
        disp = np.full((H, W), 0.3, np.float32)
        disp[16:32, 12:68] = a + (3.0 + delta) / k
        return render_bokeh(img, disp, a, k, "disc")

    deltas = np.round(np.arange(0.05, 0.3001, 0.005), 4)
    outs = [render(float(d)) for d in deltas]
    steps = np.array([float(np.abs(b - c).mean()) for b, c in zip(outs[1:], outs[:-1])])
    assert steps[deltas[:-1] > 0.2 + 1e-9].min() > 0  # beyond the ramp the blur follows δ
    assert steps.max() < 0.1 * steps.sum(), (steps.max() / steps.sum(), float(deltas[int(steps.argmax())]))


def _worst_change_from_noise(img: np.ndarray, disp: np.ndarray, amp: float, k: float) -> float:
    """Largest mean relative change of the render (focus 0.5, disc) over three draws of
    log-normal depth noise of `amp`, against the noise-free render."""
    ref = render_bokeh(img, disp, 0.5, k, "disc")
    errs = []
    for seed in range(3):
        noise = np.random.default_rng(seed).standard_normal(disp.shape).astype(np.float32)
        out = render_bokeh(img, disp * np.exp(amp * noise), 0.5, k, "disc")
        errs.append(float(np.abs(out - ref).mean() / np.abs(ref).mean()))
    return max(errs)


def test_a_flat_surface_with_slight_depth_noise_renders_whole(monkeypatch):
    """Depth noise far too small to change the blur (±0.03 px here) must not change the render:
    each frame's noise draw would otherwise split the flat background between two knots a few
    hundredths of a layer apart and over-composite the halves (flicker). Without the merge (gap 0)
    this is the known failure."""
    from genrefocus_video.render import plan

    rng = np.random.default_rng(2)
    H, W = 48, 64
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.0) * 2.0
    img[10, 12] = img[30, 40] = 30.0  # highlights, whose bokeh rims are the most sensitive
    flat = np.full((H, W), 0.05, np.float32)

    def worst_change(gap: float) -> float:
        monkeypatch.setattr(plan, "KNOT_MERGE_GAP", gap)
        return _worst_change_from_noise(img, flat, 0.01, k=12.0)

    merged, split = worst_change(plan.KNOT_MERGE_GAP), worst_change(0.0)
    assert merged < 2e-3, merged
    assert split > 5 * merged, (split, merged)


def test_a_noisy_nearest_surface_keeps_its_radius(monkeypatch):
    """The extreme knots are rendered at exactly their radius. Placed at the frame's maximum, a
    nearest surface with slight depth noise (any estimated or smoothed depth; here 0.3 %, so
    ±0.03 px of blur) is rendered ~3 sigma too blurred, and its highlights show it (lfbench seed
    17: −0.25 dB). The knot at the median of the extreme cluster keeps the noise-free render;
    with the cluster off (the maximum, the code before) this is the known failure."""
    from genrefocus_video.render import plan

    rng = np.random.default_rng(4)
    H, W = 48, 96
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.0) * 0.5
    disp = np.full((H, W), 0.05, np.float32)
    disp[20:28, :] = 0.95  # a near string of lights across the frame (r 3.6 px at K 8, a 0.5)
    img[22:26, 4::8] = 40.0

    def worst_change(cluster: float) -> float:
        monkeypatch.setattr(plan, "EXTREME_CLUSTER", cluster)
        return _worst_change_from_noise(img, disp, 0.003, k=8.0)

    clustered, at_max = worst_change(plan.EXTREME_CLUSTER), worst_change(0.0)
    assert clustered < 0.015, clustered  # what the noise's split between knots leaves (1 %)
    assert at_max > 4 * clustered, (at_max, clustered)  # measured 7x


def test_extreme_knots_of_piecewise_constant_depth_are_its_extremes():
    """Exact (piecewise-constant) depth: the extreme surfaces are the extremes, to the last bit
    (renders of ground-truth depth do not change); a ramp ending at the frame's extreme keeps its
    end within the cluster width."""
    from genrefocus_video.render.plan import EXTREME_CLUSTER, Spacing, extreme_surfaces

    sp = Spacing()
    r = np.zeros((32, 64), np.float32)
    r[:, :20], r[:, 40:] = -2.75, 6.3
    t = extreme_surfaces(r, float(r.min()), float(r.max()), sp)
    assert t == (float(sp.t_of_r(np.array(float(r.min())))), float(sp.t_of_r(np.array(float(r.max())))))
    ramp = np.linspace(-3.0, 9.0, 64 * 32, dtype=np.float32).reshape(32, 64)
    lo, hi = extreme_surfaces(ramp, -3.0, 9.0, sp)
    assert 0 < float(sp.t_of_r(np.array(9.0))) - hi < EXTREME_CLUSTER
    assert 0 < lo - float(sp.t_of_r(np.array(-3.0))) < EXTREME_CLUSTER

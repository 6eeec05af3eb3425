"""Edge selection (depth/edge_select.py): depth edges displaced by an estimator are put back where
the history and the frame's colour say, exact or already aligned depth is left alone (issue 15,
item 3: smoothing that helps on displaced depth edges)."""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video.depth.edge_select import select_edges
from genrefocus_video.depth.temporal import TemporalDepthSmoother
from genrefocus_video.depth.temporal_ahead import Ahead
from genrefocus_video.flow import forward_backward
from depth_error_models import displaced, edges
from temporal_fixtures import lf_follow_clip, render_score  # noqa: F401

NEAR, FAR = 0.5, 0.05
COLOUR_NEAR, COLOUR_FAR = (0.60, 0.25, 0.10), (0.05, 0.08, 0.20)


def _scene(mask: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(linear RGB, disparity) of a near surface `mask` on a far background, each surface its own
    colour with a little texture (+-0.02) so that colours are not exactly equal."""
    r = np.random.default_rng(seed)
    rgb = np.where(mask[..., None], np.float32(COLOUR_NEAR), np.float32(COLOUR_FAR))
    rgb = (rgb + r.uniform(-0.02, 0.02, rgb.shape)).astype(np.float32)
    return rgb, np.where(mask, NEAR, FAR).astype(np.float32)


def _disc(h: int = 64, w: int = 80, radius: int = 14) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= radius ** 2


def _fence(h: int = 64, w: int = 96) -> np.ndarray:
    """Six 5-px posts 14 px apart (lfbench's poles and twigs, simplified)."""
    m = np.zeros((h, w), bool)
    for x0 in range(12, w - 6, 14):
        m[8:h - 8, x0:x0 + 5] = True
    return m


@pytest.mark.parametrize("scene,k", [("fence", k) for k in (-3, -2, -1, 1, 2, 3)]
                         + [("disc", k) for k in (-3, -2, 2, 3)])
def test_displaced_edge_is_restored_to_the_image_edge(scene, k):
    """Near surfaces whose depth edges are k px off (grown or shrunk) come back exactly to their
    true outline, the one the image's colour edges show, given the history (the true map). A single
    disc displaced by 1 px is the known exception (next test)."""
    rgb, truth = _scene(_fence() if scene == "fence" else _disc())
    observed = displaced(truth, k)
    assert np.count_nonzero(observed != truth) > 0
    out, info = select_edges(rgb, observed, truth)
    assert info.switched == np.count_nonzero(observed != truth)
    np.testing.assert_array_equal(out, truth)


def test_isolated_one_pixel_shift_is_kept():
    """Known limit: a lone disc grown by 1 px disputes too few pixels (its 1-px ring is under 3 % of
    a 16-px Gaussian window) to count as a displaced edge rather than a few chance disputes (which
    on lfbench are a pole's soft fringe or a clipped light, where colour misleads): left as observed."""
    rgb, truth = _scene(_disc())
    observed = displaced(truth, 1)
    out, info = select_edges(rgb, observed, truth)
    assert info.disputed == 0
    np.testing.assert_array_equal(out, observed)


def test_exact_depth_is_unchanged():
    rgb, truth = _scene(_disc())
    out, info = select_edges(rgb, truth, truth.copy())
    assert info.disputed == 0
    np.testing.assert_array_equal(out, truth)


def test_misregistered_history_of_a_thin_structure_is_ignored():
    """The flow gives a 2-px wire the background's motion: the history's wire is a pixel off, and
    the wire has the background's colour (lfbench's string of lights), so colour cannot tell. The
    near surface moved (grew on one side, shrank on the other), it did not grow: no pixel is
    disputed and the exact observation is kept (with the one-sidedness test off, all 96 are)."""
    mask = np.zeros((48, 64), bool)
    mask[:, 30:32] = True
    _, truth = _scene(mask)
    rgb, _ = _scene(np.zeros_like(mask))
    out, info = select_edges(rgb, truth, np.roll(truth, 1, axis=1))
    assert info.disputed == 0
    np.testing.assert_array_equal(out, truth)


def test_colour_vouches_for_the_observation_over_a_wrong_history():
    """The history's disc is 2 px too large (an earlier displaced frame), this frame's depth edge
    sits on the colour edge: the observation is kept."""
    rgb, truth = _scene(_disc())
    out, _ = select_edges(rgb, truth, displaced(truth, 2))
    np.testing.assert_array_equal(out, truth)


@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("alike", [False, True], ids=["own_colour", "background_colour"])
def test_smoothing_keeps_a_thin_structure_on_one_surface_or_the_other(width, alike, monkeypatch):
    """Posts 1-2 px wide (a string of lights, wires) whose outline the estimator dilates and erodes
    by up to 3 px, differently every frame, on a still camera: every output pixel of the smoother
    (with its look-ahead) is the near or the far surface, none a depth between them, which the
    renderer would draw sharp near the focus plane, also where the posts have the background's colour
    and edge selection cannot tell them apart. (Before keep_one_surface: 276-2496 such pixels on 3-8
    of the 16 frames.)"""
    if alike:
        monkeypatch.setitem(globals(), "COLOUR_NEAR", COLOUR_FAR)
    mask = np.zeros((64, 96), bool)
    for x0 in range(12, 90, 14):
        mask[8:56, x0:x0 + width] = True
    ks = [2, -2, 3, -1, -3, 2, 1, -2, 3, -3, 2, -1, 3, 3, -2, -3]
    frames = [_scene(mask, seed=t) for t in range(len(ks))]
    observed = [displaced(d, k) for (_, d), k in zip(frames, ks)]
    still, ones = np.zeros(mask.shape + (2,), np.float32), np.ones(mask.shape, np.float32)
    sm = TemporalDepthSmoother(0.5)
    for t, (rgb, _) in enumerate(frames):
        ahead = Ahead(observed[t + 1], frames[t + 1][0], still, ones) if t + 1 < len(ks) else None
        out = sm(rgb, observed[t], None, None if t == 0 else still, None if t == 0 else ones, ahead=ahead)[0]
        between = (out > FAR * 1.15) & (out < NEAR / 1.15)
        assert not between.any(), (t, int(between.sum()))


def test_no_intermediate_depths_on_a_real_frame(lf_follow_clip):
    """On an lfbench frame (twigs, wires, lights; several surfaces) with its edges displaced by 2 px
    either way, every output pixel carries the observation's or the history's value, never a mix,
    and the selection moves the depth toward the truth."""
    c = lf_follow_clip
    truth = c.disparity(5)
    for k in (-2, 2):
        observed = displaced(truth, k)
        out, info = select_edges(c.aif(5), observed, truth)
        assert info.switched > 0
        assert np.all((out == observed) | (out == truth))
        wrong_before = np.count_nonzero(np.abs(np.log(observed / truth)) > 0.1)
        wrong_after = np.count_nonzero(np.abs(np.log(out / truth)) > 0.1)
        assert wrong_after < 0.6 * wrong_before, (k, wrong_after, wrong_before)


def _flows(c) -> list:
    out = [None]
    for t in range(1, c.frames):
        f, _, v = forward_backward(c.aif(t), c.aif(t - 1))
        out.append((f, v))
    return out


def _smooth(c, flows, depths, strength: float, edge_select: bool) -> list[np.ndarray]:
    sm = TemporalDepthSmoother(strength)
    sm.edge_select = edge_select
    res = []
    for t in range(c.frames):
        f, v = flows[t] if flows[t] is not None else (None, None)
        res.append(sm(c.aif(t), depths[t], None, f, v)[0])
    return res


def test_strength_zero_is_a_no_op(lf_follow_clip):
    c = lf_follow_clip
    flows = _flows(c)
    noisy = [edges(c.disparity(t), t) for t in range(c.frames)]
    for t, s in enumerate(_smooth(c, flows, noisy, 0.0, True)):
        np.testing.assert_array_equal(s, noisy[t])


def test_displaced_edges_flicker_halved_and_psnr_kept(lf_follow_clip, tmp_path):
    """The issue's criterion at test size (192x108x24, seed 3, follow focus): depth edges displaced
    by a random -3..3 px every frame (tests/depth_error_models.edges); smoothing removes at least
    half of the refocused clip's excess temporal instability (lfbench score-video) and keeps its
    mean PSNR (measured 2026-12-05: 72-75 % removed, +0.19 to +0.28 dB; without edge selection
    1-3 %)."""
    c = lf_follow_clip
    flows = _flows(c)
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [edges(g, t) for t, g in enumerate(gt)]
    i_exact, _ = render_score(c, gt, tmp_path / "exact")
    i_noisy, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    for s in (0.5, 0.8):
        i_s, p_s = render_score(c, _smooth(c, flows, noisy, s, True), tmp_path / f"s{s}")
        removed = (i_noisy - i_s) / (i_noisy - i_exact)
        assert removed >= 0.5, (s, removed)
        assert p_s >= p_noisy - 0.05, (s, p_s, p_noisy)


def test_a_proposed_surface_is_clipped_to_the_given_range():
    """`limits`: the fence's posts, eroded away in the observation, come back from the history,
    but no nearer than the recent observations' range allows (a value only the history holds,
    e.g. from an estimator's blunder, is not put back); with the posts' depth inside the range
    they come back exactly."""
    rgb, truth = _scene(_fence())
    observed = displaced(truth, -3)
    out, info = select_edges(rgb, observed, truth, limits=(FAR, 0.3))
    restored = (out != observed)
    assert info.switched == np.count_nonzero(restored) > 0
    np.testing.assert_array_equal(out[restored], np.float32(0.3))
    out, _ = select_edges(rgb, observed, truth, limits=(FAR, NEAR))
    np.testing.assert_array_equal(out, truth)


def test_the_smoother_bounds_proposals_by_depths_two_observations_reached():
    """The e2e720 clip's failure (docs/benchmarks/temporal.md, 2026-12-05): a history holding an
    estimator's blunder (posts at 3x their depth) proposes it at every displaced edge, and selecting
    it back kept it alive frame after frame. The smoother's hook (`_select_edges`) skips the frame
    after a gross outlier and clips proposals to the range at least two recent observations
    reached: a blunder one observation showed (max 1.5) does not count, the posts' true depth,
    seen on every other frame, does."""
    rgb, truth = _scene(_fence())
    eroded = displaced(truth, -3)
    carried = np.where(truth == NEAR, np.float32(3 * NEAR), truth)  # the history after a blunder
    sm = TemporalDepthSmoother(0.8)
    np.testing.assert_array_equal(sm._select_edges(rgb, eroded, carried, outlier=True), eroded)
    np.testing.assert_array_equal(sm._select_edges(rgb, eroded, carried, outlier=False), eroded)  # the next
    sm._select_edges(rgb, truth, truth, outlier=False)
    blunder = truth.copy()
    blunder[0, 0] = 1.5  # one frame's blunder the outlier test does not see
    sm._select_edges(rgb, blunder, truth, outlier=False)
    out = sm._select_edges(rgb, eroded, carried, outlier=False)
    restored = out != eroded
    assert np.count_nonzero(restored) == np.count_nonzero(eroded != truth)
    np.testing.assert_array_equal(out[restored], np.float32(NEAR))


def test_a_looming_surface_keeps_its_observed_outline():
    """An approaching subject grows on all sides, as an estimator's displaced edge does; at small
    sizes the flow sees only part of that growth (tests/test_long_handheld.py: DIS 1.00-1.33x of a
    2.71x growth at 128x72), so the history's outline is too small and selecting it shrank the
    subject back (the followed focus measured it 0.148 of the span off, tolerance 0.12). Where the
    smoother's looming field says a surface changes scale (|log| >= 0.01 per frame) the observed
    outline stands; elsewhere the displaced edge is still put back."""
    rgb, truth = _scene(_fence())
    eroded = displaced(truth, -2)
    loom = np.zeros_like(truth)
    loom[:, : truth.shape[1] // 2] = 0.08  # the left half looms (8 % a frame)
    sm = TemporalDepthSmoother(0.8)
    out = sm._select_edges(rgb, eroded, truth, outlier=False, loom=loom)
    left, right = np.s_[:, : truth.shape[1] // 2], np.s_[:, truth.shape[1] // 2:]
    np.testing.assert_array_equal(out[left], eroded[left])
    np.testing.assert_array_equal(out[right], truth[right])


@pytest.mark.parametrize("level", ["gain 0.8", "gain 1.2", "ramp"])
def test_a_displaced_edge_is_restored_at_the_observations_own_level(level):
    """A learned estimator misplaces its depth edges *and* jitters its level (a low-frequency field;
    the scale the global fit leaves): the observation is the displaced map times a smooth factor,
    up to 20 % (log 0.18-0.22) here. The edges come back where the colour says, with the history's
    surface at the observation's level (the history times that factor), and nothing else changes.
    Until 2026-12-06 nothing was selected where the level differed by more than 5 %, so edges that
    came with any other error were left displaced (docs/benchmarks/temporal.md: 6 of 36 rows)."""
    rgb, truth = _scene(_fence())
    h, w = truth.shape
    factor = {"gain 0.8": np.full((h, w), 0.8, np.float32), "gain 1.2": np.full((h, w), 1.2, np.float32),
              "ramp": np.exp(np.linspace(-0.15, 0.15, w, dtype=np.float32))[None, :].repeat(h, 0)}[level]
    eroded = displaced(truth, -2)
    observed = eroded * factor
    out, info = select_edges(rgb, observed, truth)
    moved = eroded != truth
    assert info.switched == np.count_nonzero(moved) > 0
    np.testing.assert_array_equal(out[~moved], observed[~moved])
    # the level is measured as a smooth (16-px Gaussian) mean beside the band: a ramp's within 3 %
    np.testing.assert_allclose(out[moved], (truth * factor)[moved], rtol=0.03 if level == "ramp" else 1e-6)


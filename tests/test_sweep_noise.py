"""The plane sweep on noisy frames (depth/plane_sweep.py, depth/noise_level.py): a far textured plane
with independent noise in each frame, its true disparity 0 (it does not move between the frames).

Why these tests: every hypothesis but infinity resamples the partner at fractional positions, and the
bilinear resample averages its noise away, so a noisy far plane matched better at a wrong disparity;
and the sweep's distinctiveness, a ratio of costs, stayed at 0.2-0.3 on noise alone, which the motion
estimate counted as confident. Numbers when written (2026-12-07): far pixels that leave infinity with noise of 2 / 4
gray levels, no smoothing 29 / 59 %, 1 px 7 / 23 %; on noise alone the distinctiveness ratio's median
0.13-0.17, the margin above the noise's 0.18-0.19, above 0.5 on 15-16 % of the pixels, at 1-8 levels.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.noise_level import gray_noise_sigma
from genrefocus_video.depth.plane_sweep import plane_sweep

H, W = 108, 192
K = np.array([[192.0, 0, 95.5], [0, 192.0, 53.5], [0, 0, 1.0]])
SIDEWAYS = (np.eye(3), np.array([1.0, 0.0, 0.0]))  # a sideways move: the far plane does not shift


def _texture(seed: int, amplitude: float) -> np.ndarray:
    """A smooth random texture (gray levels around 80; blob size ~2 px) standing for a far surface."""
    noise = np.random.default_rng(seed).standard_normal((H, W)).astype(np.float32)
    return 80.0 + amplitude * cv2.GaussianBlur(noise, (0, 0), 2.0) / 0.14


def _frame(texture: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(texture + rng.standard_normal(texture.shape) * sigma + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0, 8.0])
def test_noise_level_reads_the_added_noise_on_a_textured_frame(sigma):
    """White noise of sigma on a textured frame (texture std 12 gray levels, edges and all): the
    estimate within 15 %; without noise it reads below 0.6 (8-bit quantisation: ~0.3)."""
    rng = np.random.default_rng(3)
    texture = _texture(1, 12.0)
    assert gray_noise_sigma(_frame(texture, 0.0, rng)) < 0.6
    assert gray_noise_sigma(_frame(texture, sigma, rng)) == pytest.approx(sigma, rel=0.15)


def _sweep_far(sigma: float, presmooth: float, amplitude: float = 12.0, seed: int = 0, noise=None):
    """(rho, distinctiveness, margin above the noise) of the far plane; `noise`: the level the
    sweep is told (None: the frames' own estimate)."""
    rng = np.random.default_rng(seed)
    texture = _texture(seed + 10, amplitude)
    a, b = _frame(texture, sigma, rng), _frame(texture, sigma, rng)
    if noise is None:
        noise = float(np.hypot(gray_noise_sigma(a), gray_noise_sigma(b)) / np.sqrt(2))
    # hypotheses up to 8 px of parallax in 16 steps: 0.53 px apart
    return plane_sweep(a, [(b,) + SIDEWAYS], K, 8.0 / 192, n=16, presmooth=presmooth, noise=noise)


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_smoothing_keeps_a_noisy_far_plane_at_infinity_more_often(sigma):
    """Without smoothing many far pixels leave infinity (29 % at 2 gray levels, 59 % at 4); 1 px of
    smoothing leaves there fewer than half as many, and their mean error falls by half."""
    rho0 = _sweep_far(sigma, 0.0)[0]
    rho1 = _sweep_far(sigma, 1.0)[0]
    assert np.mean(rho0 > 0) > 0.25
    assert np.mean(rho1 > 0) < 0.5 * np.mean(rho0 > 0)
    assert np.mean(rho1) < 0.5 * np.mean(rho0)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0, 8.0])
def test_the_margin_above_noise_marks_noise_alone_and_keeps_texture(sigma):
    """A flat gray with noise alone: the distinctiveness ratio stays high (what used to count as
    confident) but the margin above the noise is small on most pixels; a clean textured plane keeps
    a margin near 1."""
    rho, distinct, above = _sweep_far(sigma, 1.0, amplitude=0.0)
    assert np.median(distinct) > 0.1  # the ratio alone does not see it
    assert np.median(above) < 0.3 and np.mean(above > 0.5) < 0.25
    _, _, clean = _sweep_far(0.0, 1.0, amplitude=12.0, noise=0.0)
    assert (clean == 1.0).all()  # no noise given: nothing to stand above
    _, _, textured = _sweep_far(0.5, 1.0, amplitude=12.0)
    assert np.median(textured) > 0.8


BAR_COL, BAR_WIDTH, BAR_SHIFT = W // 2, 2, 4  # a 2 px bar, 4 px of parallax: 7.5 hypotheses out


def _far_plane_and_bar(seed: int, sigma: float, rng: np.random.Generator):
    """(frame, partner, the noise the sweep is told, far pixels) of the far plane of `seed` with a
    bar in front (its own texture, 60 gray levels brighter), white noise of `sigma` in each frame;
    the far pixels keep 3 px clear of the bar in both frames."""
    plane, bar = _texture(seed + 10, 12.0), _texture(seed + 20, 12.0) + 60.0
    col, width, shift = BAR_COL, BAR_WIDTH, BAR_SHIFT
    a, b = plane.copy(), plane.copy()
    a[:, col:col + width] = bar[:, col:col + width]
    b[:, col + shift:col + shift + width] = bar[:, col:col + width]
    a, b = _frame(a, sigma, rng), _frame(b, sigma, rng)
    noise = float(np.hypot(gray_noise_sigma(a), gray_noise_sigma(b)) / np.sqrt(2))
    far = np.ones((H, W), bool)
    far[:, col - 3:col + width + shift + 3] = False
    return a, b, noise, far


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_infinity_vote_keeps_a_noisy_far_plane_far_and_a_bar_in_front_of_it(seed):
    """The semi-global vote on which pixels lie at infinity (plane_sweep's `infinity_vote`, on by
    default in motion depth): the far plane with 2 / 4 gray levels of noise and 1 px of smoothing
    left infinity on 5-8 / 19-24 % of its pixels without it, on none / under 3 % with it; a 2 px bar
    in front (4 px of parallax, 7.5 hypotheses out, beyond the vote's reach of 2; 60 gray levels
    brighter, its own texture) keeps the disparity it had without the vote, pixel for pixel."""
    rng = np.random.default_rng(seed)
    col, width, shift = BAR_COL, BAR_WIDTH, BAR_SHIFT
    for sigma, was, now in ((2.0, 0.05, 0.001), (4.0, 0.18, 0.03)):
        a, b, noise, far = _far_plane_and_bar(seed, sigma, rng)
        free, voted = (plane_sweep(a, [(b,) + SIDEWAYS], K, 8.0 / 192, n=16, presmooth=1.0, noise=noise,
                                   infinity_vote=vote) for vote in (None, (0.5, 4.0)))
        assert np.mean(free[0][far] > 0) > was
        assert np.mean(voted[0][far] > 0) < now
        np.testing.assert_array_equal(voted[0][:, col:col + width], free[0][:, col:col + width])
        assert np.median(np.abs(voted[0][:, col:col + width] * 192 - shift)) < 0.3
        for free_term, voted_term in zip(free[1:], voted[1:]):  # the confidence terms are the box costs'
            np.testing.assert_array_equal(free_term, voted_term)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_guided_vote_takes_most_far_specks_and_leaves_the_bar_alone(seed):
    """The second infinity vote (plane_sweep's `guided_vote`: each hypothesis's costs averaged by a
    guided filter of the frame, radius 2 px; on by default in motion depth) on the scene above: on its
    own it leaves infinity on at most half as many far pixels as no vote (2 / 4 gray levels of noise,
    1 px of smoothing: 5-8 / 20-22 % without a vote, about 1 / 10 % with it); with the semi-global
    vote beside it never more than that vote alone; the 2 px bar, beyond the reach, keeps its
    disparity pixel for pixel, and the confidence terms stay the box costs'."""
    rng = np.random.default_rng(seed)
    col, width = BAR_COL, BAR_WIDTH
    for sigma in (2.0, 4.0):
        a, b, noise, far = _far_plane_and_bar(seed, sigma, rng)
        free, guided, semi, both = (
            plane_sweep(a, [(b,) + SIDEWAYS], K, 8.0 / 192, n=16, presmooth=1.0, noise=noise,
                        infinity_vote=semi_global, guided_vote=local)
            for semi_global, local in ((None, None), (None, (2, 1e-3)), ((0.5, 4.0), None), ((0.5, 4.0), (2, 1e-3))))
        left = {name: float(np.mean(out[0][far] > 0)) for name, out in
                (("free", free), ("guided", guided), ("semi", semi), ("both", both))}
        assert left["free"] > 0.04
        assert left["guided"] <= 0.5 * left["free"]
        assert left["both"] <= left["semi"]
        for out in (guided, both):
            np.testing.assert_array_equal(out[0][:, col:col + width], free[0][:, col:col + width])
            for free_term, term in zip(free[1:], out[1:]):
                np.testing.assert_array_equal(free_term, term)
            assert np.all((out[0] == free[0]) | (out[0] == 0))  # a vote only ever moves a pixel to infinity


def test_the_guided_vote_is_its_filtered_costs_argmin_at_infinity():
    """The vote keeps a running minimum instead of the filtered volume: it must equal the argmin of
    the volume written out (cv2's guided filter of each hypothesis's cost), within the reach."""
    from genrefocus_video.depth.plane_sweep import INFINITY_VOTE_REACH, _features

    rng = np.random.default_rng(5)
    texture = _texture(7, 12.0)
    a, b = _frame(texture, 4.0, rng), _frame(texture, 4.0, rng)
    rho_max, n = 8.0 / 192, 16
    free = plane_sweep(a, [(b,) + SIDEWAYS], K, rho_max, n=n, presmooth=1.0)[0]
    voted = plane_sweep(a, [(b,) + SIDEWAYS], K, rho_max, n=n, presmooth=1.0, guided_vote=(2, 1e-3))[0]
    fa, fb = _features(a, 1.0), _features(b, 1.0)
    filt = cv2.ximgproc.createGuidedFilter(fa[:, :, 0], 2, 1e-3)
    volume, box = [], []
    for rho in np.linspace(0.0, rho_max, n):  # a sideways move by rho * f px: warp by a pure x shift
        H_ = K @ (np.eye(3) + rho * np.outer([1.0, 0.0, 0.0], [0.0, 0.0, 1.0])) @ np.linalg.inv(K)
        warped = cv2.warpPerspective(fb, H_, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REPLICATE)
        c = np.abs(warped - fa).sum(axis=2).astype(np.float32)
        volume.append(filt.filter(c))
        box.append(cv2.boxFilter(c, -1, (3, 3)))
    expected = (np.argmin(np.stack(volume), axis=0) == 0) & (np.argmin(np.stack(box), axis=0) <= INFINITY_VOTE_REACH)
    assert 0.02 < np.mean(expected & (free > 0)) < 0.5  # the vote has specks to take
    np.testing.assert_array_equal(voted == 0, (free == 0) | expected)

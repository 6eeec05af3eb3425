"""Looming (image-scale change) of a region that moves on its own: depth/independent_motion.py.

Against analytic cases: exact similarities, a textured plane scaled by a known factor (the real DIS
flow between the two images), a synthetic flow field of a translating camera with one region moving
on its own, and a map whose scale changes by a known factor.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.independent_motion import (LoomingDisparity, Similarity, feathered_replace,
                                                       independent_region, looming_ratio, map_level,
                                                       rigid_residual, robust_similarity, similarity_fit)
from genrefocus_video.flow import forward_backward


def test_similarity_fit_recovers_an_exact_similarity_and_ignores_zero_weights():
    rng = np.random.default_rng(0)
    P = rng.uniform(0, 100, (50, 2))
    truth = Similarity(1.3, 0.2, 4.0, -7.5)
    Q = truth.apply(P)
    fit = similarity_fit(P, Q)
    assert fit.scale == pytest.approx(1.3, abs=1e-9) and fit.angle == pytest.approx(0.2, abs=1e-9)
    assert (fit.tx, fit.ty) == pytest.approx((4.0, -7.5), abs=1e-7)
    Q_bad = Q.copy()
    Q_bad[:10] += 40.0  # outliers with weight 0 change nothing
    w = np.r_[np.zeros(10), np.ones(40)]
    assert similarity_fit(P, Q_bad, w).scale == pytest.approx(1.3, abs=1e-9)
    with pytest.raises(ValueError, match="do not spread"):
        similarity_fit(np.ones((5, 2)), np.ones((5, 2)))


def test_robust_similarity_resists_a_fifth_of_gross_outliers():
    rng = np.random.default_rng(1)
    P = rng.uniform(0, 60, (200, 2))
    Q = Similarity(0.9, -0.05, 2.0, 1.0).apply(P) + rng.normal(0, 0.1, P.shape)
    Q[:40] = rng.uniform(0, 60, (40, 2))  # background dragged into the region
    assert similarity_fit(P, Q).scale == pytest.approx(0.9, abs=0.2)  # plain LS pulled away...
    assert abs(similarity_fit(P, Q).scale - 0.9) > 0.02
    assert robust_similarity(P, Q).scale == pytest.approx(0.9, abs=0.01)  # ...the Huber fit is not


def _textured_plane(size: int, seed: int) -> np.ndarray:
    """Linear-light float RGB of band-limited random texture (what DIS can lock onto)."""
    rng = np.random.default_rng(seed)
    g = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5)
    g = (g - g.min()) / (g.max() - g.min())
    return np.repeat((0.05 + 0.8 * g)[..., None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("factor", [1.06, 1 / 1.06])
def test_looming_ratio_of_a_textured_plane_scaled_by_a_known_factor(factor):
    """Frame t-1: a plane; frame t: the same plane scaled by `factor` about an off-centre point
    (an approaching / receding subject). The DIS flow t -> t-1 over a disc gives the factor
    within 1 %."""
    prev = _textured_plane(192, 3)
    cx, cy = 90.0, 100.0
    M = np.array([[factor, 0, cx - factor * cx], [0, factor, cy - factor * cy]], np.float32)
    cur = cv2.warpAffine(prev, M, (192, 192), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    flow, _, valid = forward_backward(cur, prev, "fine")
    yy, xx = np.mgrid[:192, :192]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 45 ** 2
    ratio = looming_ratio(flow, disc, valid=valid)
    assert ratio == pytest.approx(factor, rel=0.01)
    assert looming_ratio(flow, disc & (xx < 0)) is None  # no pixels: no ratio


def _camera_flow(seed: int, moving: bool):
    """Flow t -> t-1 of a translating camera (f = T d + b) over a random disparity map, and, when
    `moving`, a disc that also looms (scale 1.05) and drifts sideways; the depth source's
    confidence is low on the disc, its disparity there a fill from the neighbours."""
    rng = np.random.default_rng(seed)
    h, w = 72, 128
    d = cv2.resize(rng.uniform(0.1, 1.0, (6, 10)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    T, b = np.array([2.5, -1.2]), np.array([0.3, 0.1])
    flow = (d[..., None] * T + b).astype(np.float32)
    conf = np.full((h, w), 0.8, np.float32)
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - 80) ** 2 + (yy - 36) ** 2 < 12 ** 2
    if moving:
        s = 1.05  # this frame's size / the previous frame's: the previous position is p / s about the centre
        flow[disc, 0] = (80 + (xx[disc] - 80) / s) - xx[disc] + 2.0
        flow[disc, 1] = (36 + (yy[disc] - 36) / s) - yy[disc] - 1.5
        conf[disc] = 0.05
        d[disc] = 0.3  # motion depth fills what it cannot triangulate from its static neighbours
    return flow, d, conf, disc


def test_independent_region_is_the_disc_that_moves_on_its_own_and_its_looming_is_measured():
    flow, d, conf, disc = _camera_flow(4, True)
    region = independent_region(rigid_residual(flow, d, conf), conf)
    iou = np.count_nonzero(region & disc) / np.count_nonzero(region | disc)
    assert iou > 0.8, iou
    assert looming_ratio(flow, region) == pytest.approx(1.05, rel=2e-3)


def test_nothing_moving_on_its_own_changes_nothing():
    flow, d, conf, _ = _camera_flow(5, False)
    res = rigid_residual(flow, d, conf)
    assert res is not None and float(res.max()) < 1e-3  # the camera's model explains every pixel
    region = independent_region(res, conf)
    assert not region.any()
    assert feathered_replace(d, region, 0.7) is d  # the very same array: exact no-op
    assert not independent_region(None, conf).any()  # no camera model (too few confident pixels)
    assert rigid_residual(flow, d, np.zeros_like(conf)) is None


def test_feathered_replace_sets_the_region_and_blends_only_near_its_border():
    d = np.full((40, 40), 0.2, np.float32)
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    out = feathered_replace(d, region, 0.9, feather_px=2.0)
    assert np.all(out[region] == np.float32(0.9))
    assert np.all(out[:4] == np.float32(0.2)) and np.all(out[:, 36:] == np.float32(0.2))  # far away: untouched
    ring = out[8, 10:30]  # two pixels outside the edge: between the two values
    assert np.all((ring > 0.2) & (ring < 0.9))


def test_looming_disparity_propagates_ratios_into_each_frames_map_units():
    lo = LoomingDisparity()
    assert lo.step(1.1) is None  # no anchor yet
    lo.anchor(0.3, level=0.5)
    ratios = [1.02, 1.05, None, 0.97]
    for r in ratios[:-1]:
        lo.step(r)
    # the last frame's map is normalised twice as high: the same subject reads twice the value
    assert lo.step(ratios[-1], level=1.0) == pytest.approx(2 * 0.3 * 1.02 * 1.05 * 0.97, rel=1e-12)
    assert lo.value == pytest.approx(0.3 * 1.02 * 1.05 * 0.97, rel=1e-12)  # kept in the anchor's units
    with pytest.raises(ValueError, match="positive"):
        lo.anchor(0.0)


def test_map_level_is_the_static_median_and_follows_a_rescale():
    rng = np.random.default_rng(6)
    d = rng.uniform(0.2, 1.0, (40, 60)).astype(np.float32)
    static = np.zeros((40, 60), bool)
    static[:, :50] = True
    d2 = d.copy()
    d2[:, 50:] = 9.0  # a subject off the static pixels does not move the level
    assert map_level(d2, static) == pytest.approx(float(np.median(d[:, :50])))
    assert map_level(1.2 * d2, static) / map_level(d2, static) == pytest.approx(1.2, rel=1e-6)
    assert map_level(d, np.zeros_like(static)) == pytest.approx(float(np.median(d)))  # too few: all pixels

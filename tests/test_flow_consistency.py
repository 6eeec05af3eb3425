"""flow.consistency (one plane at a time, in place, the pixel grid kept per size) against the
whole-array formula of Sundaram et al. it implements, written out here with numpy's bilinear
sampling done by cv2.remap as the module's warp() does: equal bit for bit."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.flow import consistency, flow_dis, inside_mask, warp


def _formula(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    h, w = flow_ab.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    back = cv2.remap(flow_ba, xs + flow_ab[..., 0], ys + flow_ab[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    err = np.sum((flow_ab + back) ** 2, axis=-1)
    tol = alpha * (np.sum(flow_ab ** 2, axis=-1) + np.sum(back ** 2, axis=-1)) + beta
    valid = np.exp(-0.5 * (err / tol) ** 2).astype(np.float32)
    tx, ty = xs + flow_ab[..., 0], ys + flow_ab[..., 1]
    inside = ((tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)).astype(np.float32)
    return valid * inside


@pytest.mark.parametrize("shape,scale", [((37, 53), 3.0), ((64, 48), 12.0), ((5, 9), 0.6)])
def test_consistency_equals_the_formula_on_random_flows(shape, scale):
    rng = np.random.default_rng(sum(shape))
    fab = (rng.standard_normal(shape + (2,)) * scale).astype(np.float32)
    fba = (-fab + rng.standard_normal(shape + (2,)) * 0.7).astype(np.float32)  # mostly consistent, not exactly
    got = consistency(fab, fba)
    want = _formula(fab, fba)
    assert got.dtype == np.float32 and got.shape == shape
    assert np.array_equal(got, want)
    assert 0.0 < got.mean() < 1.0  # both consistent and inconsistent pixels occur
    assert np.all(got[inside_mask(fab) == 0] == 0)  # targets leaving the frame are invalid
    assert np.array_equal(consistency(fab, fba, alpha=0.05, beta=2.0), _formula(fab, fba, 0.05, 2.0))


def test_consistency_of_a_real_pair_and_inputs_untouched():
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.random((90, 120)).astype(np.float32), (0, 0), 2.0)
    a = base[5:85, 6:116]
    b = base[7:87, 3:113]  # content moves by (+3, -2) px from a to b
    fab, fba = flow_dis(a, b), flow_dis(b, a)
    fab0, fba0 = fab.copy(), fba.copy()
    got = consistency(fab, fba)
    assert np.array_equal(got, _formula(fab, fba))
    assert np.array_equal(fab, fab0) and np.array_equal(fba, fba0)
    assert got[10:-10, 10:-10].mean() > 0.8  # a pure translation is consistent inside the frame
    assert np.allclose(warp(b, fab)[10:-10, 10:-10], a[10:-10, 10:-10], atol=0.05)


def test_scene_cut_check_with_the_callers_grays_is_the_same_check():
    from genrefocus_video.flow import detect_scene_cut, forward_backward, to_gray8

    rng = np.random.default_rng(5)
    a = cv2.GaussianBlur(rng.random((60, 80, 3)).astype(np.float32), (0, 0), 1.5)
    b = np.roll(a, 2, axis=1)
    other = cv2.GaussianBlur(rng.random((60, 80, 3)).astype(np.float32), (0, 0), 1.5) ** 2
    for cur in (b, other):  # a pan (no cut) and a different scene (a cut)
        f, _, valid = forward_backward(cur, a)
        plain = detect_scene_cut(cur, a, f, valid)
        assert detect_scene_cut(cur, a, f, valid, grays=(to_gray8(cur), to_gray8(a))) == plain
    assert detect_scene_cut(b, a, *forward_backward(b, a)[::2])[0] is False


def _gray8_formula(img: np.ndarray) -> np.ndarray:
    """flow.to_gray8's float path as one whole-array expression (before it was made in place)."""
    x = np.asarray(img, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722
    x = np.clip(x, 0.0, 1.0)
    enc = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(enc * 255.0 + 0.5, 0, 255).astype(np.uint8)


def test_to_gray8_equals_the_formula():
    from genrefocus_video.flow import to_gray8

    rng = np.random.default_rng(11)
    # every 251st float32 in [0, 1] (4 M values, both segments of the sRGB curve, every code)
    sweep = np.arange(0, int(np.float32(1.0).view(np.uint32)) + 1, 251, dtype=np.uint32).view(np.float32)
    for img in (sweep.reshape(1, -1), rng.uniform(-0.2, 1.4, (57, 83, 3)).astype(np.float32),
                rng.uniform(0.0, 0.01, (40, 30, 3)), rng.uniform(0.0, 1.2, (33, 47)).astype(np.float32)):
        assert np.array_equal(to_gray8(img), _gray8_formula(img))


def test_photometric_consistency_equals_the_formula():
    from genrefocus_video.flow import photometric_consistency, to_gray8

    rng = np.random.default_rng(12)
    a = cv2.GaussianBlur(rng.random((48, 64, 3)).astype(np.float32), (0, 0), 1.5)
    b = np.roll(a, 2, axis=1) * np.float32(1.05)
    f = (rng.standard_normal((48, 64, 2)) * 2.0).astype(np.float32)
    ga = to_gray8(a).astype(np.float32) / 255.0
    gb = warp(to_gray8(b).astype(np.float32) / 255.0, f)
    want = np.exp(-(cv2.GaussianBlur(np.abs(ga - gb), (3, 3), 0.7) / 0.06) ** 2).astype(np.float32)
    assert np.array_equal(photometric_consistency(a, b, f), want)

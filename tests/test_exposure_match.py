"""Exposure matching of motion depth's partner frames (depth/exposure_match.py) and the projection
that carries it to the second partner (motion_pose.flow_from_depth).

Expectations are independent of the code: a gain applied to a synthetic frame in linear light before
its 8-bit encoding (the measure must return it), the sRGB transfer function (the correction must be a
linear-light gain), triangulation of the flow the projection implies (a round trip), and on lfbench
the gains tests/footage_degradations.exposure_flicker drew.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.exposure_match import applied_gain, apply_gain, match_exposure, measure_gain
from genrefocus_video.depth.motion_pose import flow_from_depth, triangulate_flow
from genrefocus_video.flow import to_gray8


def _texture(seed: int, h: int = 240, w: int = 400) -> np.ndarray:
    """Linear-light gray texture spanning the dark tones to mid-gray (0.004-0.5), as a frame has."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5 + seed % 3)
    t = (t - t.min()) / (t.max() - t.min())
    return (0.004 + 0.5 * t ** 2).astype(np.float32)


def _pair(seed: int, gain: float, shift: tuple[float, float], intruder: bool = False):
    """(reference gray8, partner gray8 at `gain` x the exposure, flow ref -> partner): the partner sees
    the same texture moved by `shift` px; `intruder`: a fifth of the reference is another surface
    (something that moved on its own), which the flow does not match."""
    base = _texture(seed)
    ref = base[20:200, 20:340].copy()
    M = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])  # moved(p) = base(p - shift)
    moved = cv2.warpAffine(base, M, (base.shape[1], base.shape[0]), flags=cv2.INTER_CUBIC)[20:200, 20:340]
    if intruder:
        ref[40:120, 60:200] = _texture(seed + 100)[:80, :140] * 1.7
    flow = np.zeros(ref.shape + (2,), np.float32)
    flow[..., 0], flow[..., 1] = shift
    return to_gray8(ref), to_gray8(np.clip(moved * gain, 0, None)), flow


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gain", [0.88, 0.97, 1.02, 1.12])
def test_measure_gain_returns_the_partners_exposure_step(seed, gain):
    """The measure is reference / partner: 1 / gain, within 0.3 % (a gain of 2 % moves mid-gray by
    about one code), at whole and fractional shifts and with a fifth of the frame moving on its own."""
    for shift, intruder in (((3.0, 1.0), False), ((2.4, -1.3), True)):
        ref, other, flow = _pair(seed, gain, shift, intruder)
        measured = measure_gain(ref, other, flow)
        assert measured is not None
        assert abs(np.log(measured * gain)) < 0.003, (seed, gain, shift, intruder, measured)


@pytest.mark.parametrize("gain", [0.985, 1.015])
def test_measure_gain_is_not_held_at_1_by_flat_shadows(gain):
    """Seven eighths of the frame a flat shadow at code 56 in both frames (a step of 1.5 % in linear
    light moves code 56 by less than half a code, so that region's ratio reads exactly 1): the
    measure, on the tones from code 64 up, still returns the step within 0.3 % (counting codes from
    20 up, it read exactly 1)."""
    ref, other, flow = _pair(3, gain, (2.0, 1.0))
    shadow = np.full((1, 1), ((56 / 255 + 0.055) / 1.055) ** 2.4, np.float32)
    assert to_gray8(shadow)[0, 0] == 56 and to_gray8(shadow * gain)[0, 0] == 56
    ref[:, :280] = 56
    other[:, :282] = 56
    measured = measure_gain(ref, other, flow)
    assert abs(np.log(measured * gain)) < 0.003, measured


def test_measure_gain_says_nothing_without_mid_tones_or_trusted_pixels():
    ref, other, flow = _pair(0, 1.05, (1.0, 0.0))
    assert measure_gain(np.zeros_like(ref), other, flow) is None  # black: no code measures a gain
    assert measure_gain(np.full_like(ref, 255), other, flow) is None  # clipped white
    assert measure_gain(ref, other, flow, mask=np.zeros(ref.shape, np.float32)) is None
    far = flow + 1000.0  # every match outside the partner
    assert measure_gain(ref, other, far) is None


def test_applied_gain_shrinks_the_log_by_the_tolerance_and_is_continuous():
    """Soft threshold on log(gain): within the tolerance nothing, beyond only the excess; no jump at
    the threshold for a frame's measure to flicker across; None or non-positive: 1."""
    tol = 0.01
    assert applied_gain(np.exp(0.009), tol) == 1.0 and applied_gain(np.exp(-0.009), tol) == 1.0
    assert applied_gain(np.exp(0.05), tol) == pytest.approx(np.exp(0.04), rel=1e-12)
    assert applied_gain(np.exp(-0.05), tol) == pytest.approx(np.exp(-0.04), rel=1e-12)
    assert applied_gain(np.exp(tol + 1e-7), tol) == pytest.approx(1.0, abs=1e-6)
    assert applied_gain(None) == 1.0 and applied_gain(0.0) == 1.0 and applied_gain(-2.0) == 1.0


def test_apply_gain_is_a_gain_in_linear_light_without_rounding():
    """Decoded to linear light, the result is gain x the input's linear value (codes below white after
    the gain), unrounded (float32 codes); gain 1 returns the input itself."""
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert apply_gain(codes, 1.0) is codes
    for gain in (0.8, 1.07):
        out = apply_gain(codes, gain)
        assert out.dtype == np.float32

        def decode(c):
            x = np.asarray(c, np.float64) / 255.0
            return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)

        lin_in, lin_out = decode(codes), decode(out)
        below = lin_in * gain < 1.0
        np.testing.assert_allclose(lin_out[below], gain * lin_in[below], rtol=1e-5, atol=1e-7)
        assert np.all(out[~below] == 255.0)
    assert np.any(apply_gain(codes, 1.07) % 1.0 != 0.0)  # not re-quantised


def test_match_exposure_brings_the_partner_to_the_reference():
    ref, other, flow = _pair(1, 0.93, (2.0, 1.0))
    matched, gain = match_exposure(ref, other, flow)
    assert gain == pytest.approx(np.exp(np.log(1 / 0.93) - 0.01), rel=0.004)
    ratio = measure_gain(ref, np.clip(np.round(matched), 0, 255).astype(np.uint8), flow)
    assert abs(np.log(ratio)) < 0.012  # what is left: the tolerance


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flow_from_depth_round_trips_through_triangulate_flow(seed):
    """The flow a depth and a pose imply, triangulated with that pose, gives the depth back (rho to
    1e-4 relative, epipolar residual below 1e-3 px) wherever the point lands in front of the camera."""
    rng = np.random.default_rng(seed)
    h, w = 60, 90
    K = np.array([[80.0, 0, w / 2], [0, 78.0, h / 2], [0, 0, 1]])
    rvec = rng.normal(0, 0.02, 3)
    R, _ = cv2.Rodrigues(rvec)
    t = rng.normal(0, 1, 3)
    t[2] *= 0.3
    t /= np.linalg.norm(t)
    rho = (0.05 + rng.random((h, w)) * 0.3).astype(np.float32)
    flow = flow_from_depth(rho, R, t, K)
    back, res, _ = triangulate_flow(flow, R, t, K)
    np.testing.assert_allclose(back, rho, rtol=1e-4, atol=1e-6)
    assert float(res.max()) < 1e-3
    at_infinity = flow_from_depth(np.zeros((h, w), np.float32), R, t, K)
    back0, _, _ = triangulate_flow(at_infinity, R, t, K)
    assert float(np.abs(back0).max()) < 1e-5

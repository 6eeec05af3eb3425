"""Transfer functions and Y'CbCr matrices against published reference values."""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video import colour


@pytest.mark.parametrize("transfer", colour.TRANSFERS)
def test_round_trip(transfer):
    lin = np.concatenate([np.linspace(0, 1, 101), np.linspace(1, 12, 23)]).astype(np.float32)
    if transfer == "pq":
        lin = np.concatenate([lin, [20.0, 49.26]]).astype(np.float32)
    back = colour.to_linear(colour.from_linear(lin, transfer), transfer)
    np.testing.assert_allclose(back, lin, rtol=2e-4, atol=2e-6)


def test_pq_reference_points():
    # BT.2408: HDR reference white 203 cd/m² is PQ signal 58 %; PQ 1.0 = 10 000 cd/m² = 10000/203 linear.
    assert colour.from_linear(np.float32(1.0), "pq") == pytest.approx(0.5807, abs=5e-4)
    assert colour.to_linear(np.float32(1.0), "pq") == pytest.approx(10000 / 203, rel=1e-4)
    # ST 2084: 100 cd/m² ≈ 0.5081 code.
    assert colour.from_linear(np.float32(100 / 203), "pq") == pytest.approx(0.5081, abs=5e-4)


def test_hlg_reference_points():
    # 75 % HLG = reference white = linear 1.0; 50 % signal = 1/12 of HLG peak scene light.
    assert colour.to_linear(np.float32(0.75), "hlg") == pytest.approx(1.0, abs=1e-6)
    assert colour.to_linear(np.float32(0.5), "hlg") * colour.HLG_REFERENCE_WHITE == pytest.approx(1 / 12, rel=1e-5)
    assert colour.HLG_REFERENCE_WHITE == pytest.approx(0.2650, abs=2e-4)


def test_srgb_and_bt709_points():
    assert colour.to_linear(np.float32(0.5), "srgb") == pytest.approx(0.21404, abs=1e-5)
    assert colour.from_linear(np.float32(0.01), "bt709") == pytest.approx(0.045, abs=1e-6)  # 4.5·L segment
    assert colour.from_linear(np.float32(0.018), "bt709") == pytest.approx(0.081, abs=3e-4)  # knee (rounded constants)
    assert colour.to_linear(np.float32(1.0), "bt709") == pytest.approx(1.0, abs=1e-6)
    # super-whites and negatives survive (sign-symmetric extension)
    x = np.array([-0.5, 2.0], np.float32)
    np.testing.assert_allclose(colour.to_linear(colour.from_linear(x, "srgb"), "srgb"), x, rtol=1e-5)


@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020nc"])
@pytest.mark.parametrize("rng_name,bits", [("tv", 10), ("pc", 10), ("tv", 12), ("tv", 8)])
def test_yuv_matrix_inverse_and_anchors(matrix, rng_name, bits):
    rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    y, u, v = colour.rgb_to_yuv(rgb, bit_depth=bits, matrix=matrix, color_range=rng_name)
    back = colour.yuv_to_rgb(y, u, v, bit_depth=bits, matrix=matrix, color_range=rng_name)
    np.testing.assert_allclose(back, rgb, atol=1e-5)
    # White and black land on the standard code values (e.g. 10-bit tv: Y 64..940, C 512).
    wy, wu, wv = colour.rgb_to_yuv(np.ones((1, 1, 3), np.float32), bit_depth=bits, matrix=matrix, color_range=rng_name)
    by, _, _ = colour.rgb_to_yuv(np.zeros((1, 1, 3), np.float32), bit_depth=bits, matrix=matrix, color_range=rng_name)
    m = 1 << (bits - 8)
    exp_w, exp_b = (235 * m, 16 * m) if rng_name == "tv" else ((1 << bits) - 1, 0)
    assert float(wy[0, 0]) == pytest.approx(exp_w, abs=1e-3)
    assert float(by[0, 0]) == pytest.approx(exp_b, abs=1e-3)
    mid = 128 * m if rng_name == "tv" else 1 << (bits - 1)
    assert float(wu[0, 0]) == pytest.approx(mid, abs=1e-3) and float(wv[0, 0]) == pytest.approx(mid, abs=1e-3)


def test_bt709_red_coefficients():
    # Pure red in BT.709: Y' = 0.2126, Cr = 0.5 (full scale).
    y, u, v = colour.rgb_to_yuv(np.array([[[1.0, 0.0, 0.0]]], np.float32), bit_depth=8, matrix="bt709", color_range="pc")
    assert float(y[0, 0]) == pytest.approx(0.2126 * 255, abs=1e-3)
    assert float(v[0, 0]) == pytest.approx(128 + 0.5 * 255, abs=1e-3)


def test_unknown_transfer_rejected():
    with pytest.raises(ValueError, match="unknown transfer"):
        colour.to_linear(np.zeros(1), "gamma9")

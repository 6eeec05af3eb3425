"""The oracle weightings behind benchmarks/temporal_bounds.py (the bounds quoted for issue 4).

Each oracle is a linear average of the per-frame errors; fed unit impulses, it must return exactly
the weights its docstring promises, or the bounds in docs/benchmarks/temporal.md mean nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
tb = pytest.importorskip("temporal_bounds")


def weights(oracle, frames: int, t: int) -> np.ndarray:
    """w_tau of output t: the oracle applied to the unit impulse at each tau."""
    w = np.zeros(frames)
    for tau in range(frames):
        seq = [np.array(1.0 if i == tau else 0.0) for i in range(frames)]
        w[tau] = float(oracle(seq)[t])
    return w


def test_causal_ema_weights_are_geometric_and_causal() -> None:
    s, T, t = 0.8, 12, 7
    w = weights(lambda e: tb.causal_ema(e, s), T, t)
    expect = np.array([s ** t if tau == 0 else (1 - s) * s ** (t - tau) if tau <= t else 0.0 for tau in range(T)])
    np.testing.assert_allclose(w, expect, atol=1e-12)
    assert w.sum() == pytest.approx(1.0)


def test_running_mean_weights_are_uniform_over_the_past() -> None:
    w = weights(tb.running_mean, 10, 4)
    np.testing.assert_allclose(w, [0.2] * 5 + [0.0] * 5, atol=1e-12)


def test_two_sided_ema_is_symmetric_exponential_in_the_interior() -> None:
    s, T, t = 0.8, 80, 40
    w = weights(lambda e: tb.two_sided_ema(e, s), T, t)
    k = np.abs(np.arange(T) - t)
    # sums to 1 over an infinite clip; the first and last frames also carry the tails beyond the clip
    np.testing.assert_allclose(w[1:-1], ((1 - s) / (1 + s) * s ** k)[1:-1], rtol=1e-9, atol=1e-15)
    assert w[0] > w[1] and w[-1] > w[-2]
    assert w.sum() == pytest.approx(1.0, abs=1e-9)


def test_whole_clip_mean_sees_every_frame() -> None:
    np.testing.assert_allclose(weights(tb.whole_clip_mean, 6, 0), [1 / 6] * 6, atol=1e-12)

"""The temporal smoother's output stays within what it was given: per pixel between the observation
and the prediction (a weighted mean of the two, depth/temporal.py step 4.), and the global alignment
never takes a map's own range to zero or below (step 0.).

Found on a 4K handheld clip (2026-12-06): three defocus-cue fallback frames (a flat map near 1), then
a motion-depth frame. The alignment fitted it x2.4 - 0.79 to the flat prediction, flooring its far half
at 0.001, and the band split of the blend, whose low band (a local mean of the innovation) and high
band pulled opposite ways, returned disparities up to 169 where neither input exceeded 4.3."""
from __future__ import annotations

import numpy as np

from genrefocus_video.depth.temporal import TemporalDepthSmoother
from genrefocus_video.depth.temporal_align import fit_affine
from genrefocus_video.depth.temporal_blend import between


def test_between_clips_to_the_interval_of_the_two_inputs_whichever_is_larger():
    a = np.array([0.0, 1.0, 2.0, -1.0, 5.0], np.float32)
    b = np.array([1.0, 0.0, 2.0, 3.0, 4.0], np.float32)
    x = np.array([2.0, -0.5, 7.0, 0.5, 4.5], np.float32)
    np.testing.assert_array_equal(between(x.copy(), a, b), [1.0, 0.0, 2.0, 0.5, 4.5])


def _textured(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A still frame with texture everywhere (photometric checks pass), linear RGB."""
    g = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return np.repeat((0.2 + 0.6 * g)[..., None], 3, axis=2)


def test_a_new_kind_of_map_after_a_flat_one_stays_within_what_either_showed():
    """A flat map (what the motion source's defocus-cue fallback gives a still frame), then a map
    with a far half at a twentieth of the near half's disparity, on a still camera: no output pixel
    lies beyond both the observation and the carried state, at either strength."""
    h, w = 72, 128
    rgb = _textured((h, w), 0)
    still, ones = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
    flat = np.full((h, w), 1.0, np.float32)
    new = np.full((h, w), 1.0, np.float32)
    new[:, : w // 2] = 0.05
    conf = np.where(new < 0.5, 0.1, 0.9).astype(np.float32)  # the far half less certain, as motion depth's is
    for strength in (0.5, 0.8):
        sm = TemporalDepthSmoother(strength)
        state = sm(rgb, flat, ones, None, None)[0]
        for t in range(1, 4):
            out = sm(rgb, new, conf, still, ones, affine_ambiguous=True)[0]
            lo, hi = np.minimum(new, state), np.maximum(new, state)
            assert out.min() >= 0.999 * lo.min() and out.max() <= 1.001 * hi.max(), (strength, t, out.min(), out.max())
            state = out


def test_an_alignment_that_would_floor_part_of_the_map_keeps_its_scale_only():
    """A two-level map (70 % near 1, 30 % near 0.2) fitted to a flat prediction: the band-voted scale
    (x4.6) and then the median residual (-3.6, the near majority's) would send the far part below
    zero (change inf, aligned fully as an outlier); the fit keeps the scale and drops that shift."""
    rng = np.random.default_rng(1)
    near = rng.random((64, 64)) < 0.7
    d = (np.where(near, 1.0, 0.2) * np.exp(0.02 * rng.standard_normal((64, 64)))).astype(np.float32)
    P, sel = np.full_like(d, 1.0), np.ones_like(d)
    for refit in (False, True):
        fit = fit_affine(d, P, sel, outlier_log=0.5, refit=refit)
        assert fit.shift == 0.0 and np.isfinite(fit.change), fit
        assert (d * np.exp(fit.log_scale) + fit.shift).min() > 0.0

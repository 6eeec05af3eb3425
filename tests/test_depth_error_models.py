"""Temporal smoothing against the per-frame error models of real depth estimators (issue 15, item 3),
scored against the lfbench clip's exact disparity."""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video.depth.temporal import TemporalDepthSmoother
from genrefocus_video.depth.temporal_stats import largest_log_change
from genrefocus_video.flow import forward_backward
from depth_error_models import (DISPLACEMENTS, ERROR_MODELS, EXTRA_ERROR_MODELS, combined, curve, displaced, edges,
                                is_outlier_frame, lowfreq, lowfreq_correlated, outlier, scale_shift, with_draw)
from temporal_fixtures import lf_follow_clip, render_score  # noqa: F401

_FLOWS: dict = {}


def _flows(c) -> list:
    """DIS flow t -> t-1 (+ validity) of the shared clip, once per session."""
    if c.root not in _FLOWS:
        out = [None]
        for t in range(1, c.frames):
            f, _, v = forward_backward(c.aif(t), c.aif(t - 1))
            out.append((f, v))
        _FLOWS[c.root] = out
    return _FLOWS[c.root]


def _smooth(c, depths, strength: float, estimate: bool) -> list[np.ndarray]:
    sm, flows, res = TemporalDepthSmoother(strength), _flows(c), []
    for t in range(c.frames):
        f, v = flows[t] if flows[t] is not None else (None, None)
        res.append(sm(c.aif(t), depths[t], None, f, v, affine_ambiguous=estimate)[0])
    return res


def _log_rms(maps, gt) -> np.ndarray:
    return np.array([float(np.sqrt(np.mean(np.log(d / g) ** 2))) for d, g in zip(maps, gt)])


def test_error_models_are_per_frame_and_reproducible(lf_follow_clip):
    """Each model changes the depth, differently every frame, and the same frame twice alike (the
    benchmark-only ones outside the issue's list too)."""
    g = lf_follow_clip.disparity(4)
    for name, model in {**ERROR_MODELS, **EXTRA_ERROR_MODELS}.items():
        a, b = model(g, 4), model(g, 5)
        assert np.array_equal(a, model(g, 4)), name
        assert a.dtype == np.float32 and a.shape == g.shape and np.all(a > 0), name
        assert not np.allclose(a, g) or name == "edges", name
        assert not np.allclose(a, b), name


def test_another_draw_is_another_noise_sequence(lf_follow_clip):
    """`with_draw` (the benchmark's per-clip draws) gives every model a different, reproducible
    sequence, offset 0 is the default draw, and `combined` moves all three of its parts."""
    g = lf_follow_clip.disparity(4)
    for name, model in {**ERROR_MODELS, **EXTRA_ERROR_MODELS}.items():
        moved = with_draw(model, 10_000)
        assert np.array_equal(model(g, 4, **with_draw(model, 0)), model(g, 4)), name
        assert np.array_equal(model(g, 4, **moved), model(g, 4, **moved)), name
        assert not all(np.array_equal(model(g, t, **moved), model(g, t)) for t in (4, 5, 6)), name
    k = 20_000
    parts = scale_shift(lowfreq(edges(g, 4, px=2, **with_draw(edges, k)), 4, amp=0.06, **with_draw(lowfreq, k)), 4,
                        scale=0.05, shift=0.08, **with_draw(scale_shift, k))
    assert np.array_equal(combined(g, 4, **with_draw(combined, k)), parts)


def test_the_edge_models_displacements_are_the_ones_they_draw(lf_follow_clip):
    """`DISPLACEMENTS` (the benchmark's edge vote) gives, per frame and draw, the radius the model
    itself moves the edges by: its map is the exact one displaced by that much."""
    g = lf_follow_clip.disparity(4)
    models = {**ERROR_MODELS, **EXTRA_ERROR_MODELS}
    for name, move in DISPLACEMENTS.items():
        for kw in ({}, with_draw(models[name], 10_000)):
            moves = [move(t, **kw) for t in range(12)]
            assert len(set(moves)) > 1, name
            for t in (3, 7):
                assert np.array_equal(models[name](g, t, **kw), displaced(g, moves[t])), (name, t)


def test_the_edge_vote_follows_a_lasting_displacement_after_half_the_memory():
    """benchmarks/temporal_error_models.vote: edges displaced by 3 px from frame 1 on stay exact
    while the exact first frame holds more than half the weight (r^t > 0.5, r = sqrt(s)), then jump
    to the whole 3 px at once (a vote: never part of the way); a displacement that holds from the
    start is kept from frame 0."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    bench = pytest.importorskip("temporal_error_models")
    g = np.full((12, 16), 0.05, np.float32)
    g[4:8, 6:10] = 0.5
    for s in (0.5, 0.8):
        r = np.sqrt(s)
        out = bench.vote([g] * 12, [0] + [3] * 11, s)
        for t, d in enumerate(out):
            expect = g if r ** t >= 0.5 else displaced(g, 3)
            np.testing.assert_array_equal(d, expect, err_msg=f"s {s} frame {t}")
        assert any(np.array_equal(d, g) for d in out[1:]) and np.array_equal(out[-1], displaced(g, 3))
        for d in bench.vote([g] * 5, [-2] * 5, s):
            np.testing.assert_array_equal(d, displaced(g, -2))


def test_displaced_edges_keep_interiors_exact(lf_follow_clip):
    """`edges` moves depth edges only: pixels farther than its radius from any edge are exact."""
    import cv2

    g = lf_follow_clip.disparity(6)
    d = edges(g, 6, px=3)
    edge = cv2.dilate((cv2.morphologyEx(g, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 1e-4).astype(np.uint8),
                      np.ones((9, 9), np.uint8)) > 0
    assert np.array_equal(d[~edge], g[~edge])


@pytest.mark.parametrize("estimate", [False, True], ids=["file", "estimate"])
@pytest.mark.parametrize("name", ["scale_shift", "lowfreq", "blotchy", "outlier"])
def test_smoothing_lowers_the_depth_error(lf_follow_clip, name, estimate):
    """Smoothed depth is closer to the truth (log-RMS over frames 1..) than the noisy input at the
    recommended strengths (measured 0.37-0.85 of it on this clip)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [ERROR_MODELS[name](g, t) for t, g in enumerate(gt)]
    e0 = _log_rms(noisy, gt)[1:].mean()
    for s in (0.5, 0.8):
        e = _log_rms(_smooth(c, noisy, s, estimate), gt)[1:].mean()
        assert e < 0.9 * e0, (s, e, e0)


def test_displaced_edges_are_not_made_worse(lf_follow_clip):
    """Known limit: edges displaced by up to 3 px are changes far above the noise level, which the
    gates pass as real; smoothing must at least not add error there (measured ratio 1.000-1.003)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [edges(g, t) for t, g in enumerate(gt)]
    e0 = _log_rms(noisy, gt)[1:].mean()
    for s in (0.5, 0.8):
        assert _log_rms(_smooth(c, noisy, s, False), gt)[1:].mean() <= 1.01 * e0


def test_outlier_frames_are_damped(lf_follow_clip):
    """A grossly wrong frame (scale x1.5 and a 30 % field) reaches the output with under 65 % of
    its error at 0.5 and 0.8 (a global jump > 35 % is aligned fully to the prediction; measured
    0.32-0.58, the worst a frame right after another outlier frame)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [outlier(g, t) for t, g in enumerate(gt)]
    bad = [t for t in range(c.frames) if is_outlier_frame(t)]
    assert bad, "the seed must draw an outlier frame on this clip"
    e0 = _log_rms(noisy, gt)
    for s in (0.5, 0.8):
        e = _log_rms(_smooth(c, noisy, s, False), gt)
        assert all(e[t] < 0.65 * e0[t] for t in bad), (s, [(e[t] / e0[t]) for t in bad])


def test_exact_depth_keeps_the_picture(lf_follow_clip, tmp_path):
    """With exact depth, smoothing changes the refocused clip's mean PSNR by at most 0.05 dB."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    _, p0 = render_score(c, gt, tmp_path / "exact")
    for s in (0.5, 0.8):
        for estimate in (False, True):
            _, p = render_score(c, _smooth(c, gt, s, estimate), tmp_path / f"s{s}_{estimate}")
            assert abs(p - p0) <= 0.05, (s, estimate, p, p0)


def test_estimates_and_files_take_the_same_path(lf_follow_clip):
    """Scale and shift are aligned for every source, so an estimate (affine-ambiguous) is smoothed
    exactly like the same maps given as a file; only with global_align off does the flag matter."""
    c = lf_follow_clip
    noisy = [ERROR_MODELS["scale_shift"](c.disparity(t), t) for t in range(6)]
    flows = _flows(c)
    outs = {}
    for estimate in (False, True):
        sm = TemporalDepthSmoother(0.5)
        outs[estimate] = [sm(c.aif(t), noisy[t], None, *(flows[t] or (None, None)), affine_ambiguous=estimate)[0]
                          for t in range(6)]
    assert all(np.array_equal(a, b) for a, b in zip(outs[False], outs[True]))
    assert not np.allclose(outs[True][5], noisy[5])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # spike_sigmas 0 divided by a zero band until 2026-12-06
@pytest.mark.parametrize("name", ["lowfreq", "blotchy"])
def test_regional_trust_removes_more_of_the_smooth_noise(lf_follow_clip, tmp_path, name):
    """Smooth per-frame error fields are as well registered one pixel off: with the photometric
    trust blurred over the band's scale on calm pixels (spikes keep the pixel's own), the refocused
    clip keeps clearly less of the noisy depth's excess instability over the exact-depth render than
    with the per-pixel trust (`spike_sigmas` 0, the smoother before 2026-12-05), at no PSNR cost;
    on low-frequency noise at least half of it goes at 0.5 (the issue's criterion at test size).
    Measured at 0.5 on this clip (2026-12-05): lowfreq keeps 0.46 of the excess (0.68 with the
    per-pixel trust), blotchy 0.63 (0.72); PSNR +0.57 / +0.25 dB over the noisy render."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [ERROR_MODELS[name](g, t) for t, g in enumerate(gt)]
    floor, _ = render_score(c, gt, tmp_path / "exact")
    i_noisy, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    flows = _flows(c)

    def kept(spike_sigmas: float) -> tuple[float, float]:
        sm, out = TemporalDepthSmoother(0.5), []
        sm.spike_sigmas = spike_sigmas
        for t in range(c.frames):
            f, v = flows[t] if flows[t] is not None else (None, None)
            out.append(sm(c.aif(t), noisy[t], None, f, v)[0])
        i, p = render_score(c, out, tmp_path / f"s{spike_sigmas}")
        return (i - floor) / (i_noisy - floor), p

    (k_new, p_new), (k_old, _) = kept(5.0), kept(0.0)
    assert k_new < (0.8 if name == "lowfreq" else 0.95) * k_old, (k_new, k_old)
    assert p_new >= p_noisy - 0.05, (p_new, p_noisy)
    if name == "lowfreq":
        assert k_new <= 0.5, k_new



def test_the_largest_log_change_of_a_fit():
    """Analytic: on disparities 0.1..1, a scale e^0.1 changes every pixel by 0.1 in log; a shift of
    -0.04 changes the far end most, log(0.06 / 0.1); a shift that makes the far end negative is an
    infinite change; a sky at disparity ~0 counts from 1/50 of the near end."""
    d = np.linspace(0.1, 1.0, 10001, dtype=np.float32).reshape(1, -1)
    lo, hi = np.percentile(d, [2, 98])
    assert largest_log_change(d, 0.1, 0.0) == pytest.approx(0.1, abs=1e-6)
    assert largest_log_change(d, 0.0, -0.04) == pytest.approx(abs(np.log(1 - 0.04 / lo)), rel=1e-4)
    assert largest_log_change(d, 0.0, -0.2) == np.inf
    sky = np.concatenate([np.full((1, 5000), 1e-4, np.float32), d], axis=1)
    hi_s = np.percentile(sky, 98)
    assert largest_log_change(sky, 0.0, 0.01) == pytest.approx(np.log(1 + 0.01 / (0.02 * hi_s)), rel=1e-4)


def test_a_level_the_estimator_keeps_is_followed(lf_follow_clip):
    """Depth that changes its global scale by x1.5 for good at frame 8 (an estimator that
    re-normalised; a file whose scale changed) is an outlier on frame 8 only: from the next frame
    on the jump is seen on consecutive observations, so it is a new level and the output follows it
    (log error under 0.05 within 6 frames) instead of being pinned to the old level for ever."""
    c = lf_follow_clip
    gt = [c.disparity(t) * np.float32(1.5 if t >= 8 else 1.0) for t in range(c.frames)]
    for s in (0.5, 0.8):
        e = _log_rms(_smooth(c, gt, s, False), gt)
        assert e[8] > 0.3 and max(e[14:]) < 0.05, (s, np.round(e, 3))


def test_a_shift_jump_does_not_rescale_the_near_subject(lf_follow_clip):
    """Frame 8 shifted by the far end's disparity (at least 1/50 of the nearest): the far end
    moves ~2x, the near half by ~3 %. It is an outlier, aligned fully; a scale-only fit reads
    the jump as a scale change and rescales the near half *worse* than the estimate was (log-RMS
    1.18x / 1.10x the estimate's at 0.5 / 0.8 with `affine_refit` off); the joint scale-and-shift
    refit keeps it under half (measured 0.22x / 0.41x)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    jump = lambda g: np.float32(max(np.percentile(g, 2), 0.02 * np.percentile(g, 98)))  # noqa: E731
    noisy = [g + jump(g) if t == 8 else g.copy() for t, g in enumerate(gt)]
    near = gt[8] > np.percentile(gt[8], 50)
    err = lambda d: float(np.sqrt(np.mean(np.log(d[near] / gt[8][near]) ** 2)))  # noqa: E731
    for s in (0.5, 0.8):
        assert err(_smooth(c, noisy, s, False)[8]) < 0.5 * err(noisy[8]), s


def test_the_curve_model_keeps_the_near_end_and_bends_the_far_one(lf_follow_clip):
    """Analytic: `curve` is a power law about the 98th percentile, so log(d / p98) / log(g / p98) is
    the frame's one exponent on every pixel (away from the floor) and differs between frames."""
    g = lf_follow_clip.disparity(4)
    top = np.percentile(g, 98)
    far = g < 0.8 * top
    exps = []
    for t in (4, 5):
        d = curve(g, t, amp=0.1)
        ratio = np.log(d[far] / top) / np.log(g[far] / top)
        assert np.ptp(ratio) < 1e-3, t
        exps.append(float(np.median(ratio)))
    assert abs(exps[0] - exps[1]) > 1e-3


def test_the_correlated_field_lingers_for_frames(lf_follow_clip):
    """`lowfreq_correlated`'s log error is an AR(1) field: consecutive frames correlate by about
    rho (0.6; measured over frames 1-12 of this clip), frames far apart hardly at all."""
    g = lf_follow_clip.disparity(0)
    e = [np.log(lowfreq_correlated(g, t, amp=0.1, rho=0.6) / g).ravel() for t in range(13)]
    lag1 = np.mean([np.corrcoef(e[t], e[t + 1])[0, 1] for t in range(12)])
    lag8 = np.mean([np.corrcoef(e[t], e[t + 8])[0, 1] for t in range(5)])
    assert 0.45 < lag1 < 0.75 and abs(lag8) < 0.3, (lag1, lag8)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known limit: the global alignment fits one scale and shift "
                   "to every depth band and moves the near surfaces (this clip at 0.5: -0.08 dB; with it off: passes)")
def test_a_per_frame_curve_change_is_not_made_worse(lf_follow_clip, tmp_path):
    """Known limit (docs/benchmarks/temporal.md, "Errors outside the issue's list"): a relative
    estimator whose depth *curve* changes per frame (`curve`: a power law about the near end, so
    the near surfaces stay put and the far ones move). The global alignment fits one scale and
    shift to all depth bands, which moves the near ones; smoothing then lowers the refocused
    clip's PSNR (lfbench unseen seeds 4 6 9 13: down to -0.38 dB at 0.5)."""
    c = lf_follow_clip
    noisy = [curve(c.disparity(t), t) for t in range(c.frames)]
    _, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    for s in (0.5, 0.8):
        _, p = render_score(c, _smooth(c, noisy, s, False), tmp_path / f"s{s}")
        assert p >= p_noisy - 0.05, (s, p, p_noisy)

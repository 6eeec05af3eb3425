"""Flow-guided temporal depth smoothing on an lfbench clip with per-frame noisy depth."""
from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.temporal import TemporalDepthSmoother, warmup_frames
from genrefocus_video.flow import forward_backward
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages.temporal import build_temporal_stages
from temporal_fixtures import estimator_noise, lf_follow_clip, render_score  # noqa: F401


def noisy_depth(g: np.ndarray, t: int) -> np.ndarray:
    """Per-frame multiplicative noise: 10% i.i.d. per pixel + a smooth 6% field, new every frame."""
    r = np.random.default_rng(1000 + t)
    low = cv2.GaussianBlur(r.standard_normal(g.shape).astype(np.float32), (0, 0), 8)
    low /= low.std()
    return (g * np.exp(0.10 * r.standard_normal(g.shape).astype(np.float32) + 0.06 * low)).astype(np.float32)


@pytest.fixture(scope="module")
def smoothed(lf_follow_clip):
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [noisy_depth(g, t) for t, g in enumerate(gt)]
    sm, sm_clean = TemporalDepthSmoother(0.8), TemporalDepthSmoother(0.8)
    out, clean, prev = [], [], None
    for t in range(c.frames):
        img = c.aif(t)
        f = v = None
        if prev is not None:
            f, _, v = forward_backward(img, prev)
        out.append(sm(img, noisy[t], None, f, v)[0])
        clean.append(sm_clean(img, gt[t], None, f, v)[0])
        prev = img
    return gt, noisy, out, clean


def _flicker(c, maps):
    """Mean |(warp(D_t+1) - D_t) - (warp(G_t+1) - G_t)| along the GT flow, on valid pixels."""
    from lfbench.metrics import warp_from_next

    errs = []
    for t in range(c.frames - 1):
        f, v = c.flow(t)
        g0, g1 = c.disparity(t), c.disparity(t + 1)
        dd = warp_from_next(maps[t + 1], f) - maps[t]
        dg = warp_from_next(g1, f) - g0
        errs.append(np.abs(dd - dg)[v].mean())
    return float(np.mean(errs))


def test_smoothing_removes_flicker_without_lag_or_smearing(lf_follow_clip, smoothed):
    c = lf_follow_clip
    gt, noisy, out, _ = smoothed
    assert _flicker(c, out) < 0.5 * _flicker(c, noisy)
    # accuracy: better everywhere, and not worse in the band around depth edges (no smearing)
    err = lambda maps, mask_fn: np.mean([np.abs(m - g)[mask_fn(g)].mean() for m, g in zip(maps, gt)])  # noqa: E731
    edge = lambda g: cv2.dilate((cv2.morphologyEx(g, cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0.02).astype(np.uint8),  # noqa: E731
                                np.ones((5, 5))) > 0
    assert err(out, lambda g: g > -1) < 0.7 * err(noisy, lambda g: g > -1)
    assert err(out, edge) < err(noisy, edge)
    # no lag: the subject moves toward the camera (disparity 0.28 -> 0.83 in 24 frames, up to 6% per
    # frame); its smoothed depth must be as close to the truth as the noisy input's own (whose smooth
    # noise field alone moves a subject's median by up to ~0.07)
    err_s = [abs(np.median(out[t][np.abs(gt[t] - c.subject_disparity[t]) < 1e-3]) - c.subject_disparity[t])
             for t in range(c.frames)]
    err_n = [abs(np.median(noisy[t][np.abs(gt[t] - c.subject_disparity[t]) < 1e-3]) - c.subject_disparity[t])
             for t in range(c.frames)]
    assert np.mean(err_s) <= np.mean(err_n) + 0.005 and max(err_s) <= max(err_n)
    assert max(err_s) < 0.06 * c.disparity_range


def test_clean_depth_is_left_alone(lf_follow_clip, smoothed):
    c = lf_follow_clip
    gt, _, _, clean = smoothed
    diff = np.array([np.abs(s - g).mean() for s, g in zip(clean, gt)])
    assert diff.max() < 0.002 * c.disparity_range
    assert np.array_equal(clean[0], gt[0])


def test_refocused_flicker_halved_and_psnr_kept(lf_follow_clip, smoothed, tmp_path):
    """The issue's criterion at test size: render with render_bokeh, score with lfbench score-video.

    Instability is measured in excess of the same renderer fed with GT depth (its own floor):
    smoothing must remove at least half of the excess flicker of the noisy input, and the mean
    per-frame PSNR must not drop."""
    from genrefocus_video import render_bokeh
    from lfbench.metrics import cmd_score_video

    c = lf_follow_clip
    gt, noisy, out, _ = smoothed
    res = {}
    for name, maps in (("gt", gt), ("noisy", noisy), ("smooth", out)):
        d = tmp_path / name
        d.mkdir()
        for t in range(c.frames):
            img = render_bokeh(c.aif(t), maps[t], c.meta["focus_track"][t], float(c.meta["k"]), aperture="disc")
            np.save(d / f"{t:04d}.npy", img)
        res[name] = cmd_score_video(SimpleNamespace(gt=str(c.root), pred=str(d), radius=None))
    floor = res["gt"]["temporal_instability"]
    excess_noisy = res["noisy"]["temporal_instability"] - floor
    excess_smooth = res["smooth"]["temporal_instability"] - floor
    assert excess_noisy > 0
    assert excess_smooth <= 0.5 * excess_noisy, (floor, excess_noisy, excess_smooth)
    assert res["smooth"]["mean"]["psnr"] >= res["noisy"]["mean"]["psnr"]


def _smooth_clip(c, depths, strength, flow="medium", **kw):
    sm = TemporalDepthSmoother(strength, **kw)
    out, prev = [], None
    for t in range(c.frames):
        img = c.aif(t)
        f = v = None
        if prev is not None:
            f, _, v = forward_backward(img, prev, flow)
        out.append(sm(img, depths[t], None, f, v)[0])
        prev = img
    return out


@pytest.mark.parametrize("model,excess_max", [({}, 0.75), ({"scale": 0.15, "warp": 0.10, "pixel": 0.03}, 0.5)],
                         ids=["estimator", "estimator_strong"])
def test_estimator_noise_flicker_halved(lf_follow_clip, tmp_path, model, excess_max):
    """Realistic per-frame estimator noise (global scale/shift jitter, low-frequency warps, a little
    local noise; temporal_fixtures.estimator_noise): smoothing 0.8 halves the depth's own flicker
    along the GT flow (the raw 2x cut, on the depth fed to the renderer), the global scale alignment
    is what does it (without it the cut is smaller), the subject moving in depth does not lag, and
    the refocused clip keeps its mean PSNR and loses at least half of the noisy depth's excess
    instability over the renderer's floor (GT depth) for the strong model. The moderate model adds
    so little flicker above the renderer's own (floor/noisy ~0.82 here) that the excess share is
    a ratio of small differences that measured 0.33-0.53 while the renderer and the smoother
    changed (02:20-02:41 UTC, 2026-11-26); it is held to 0.75. The raw refocused ratio cannot reach 0.5 while floor/noisy > 0.5 (see
    docs/benchmarks/temporal.md)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [estimator_noise(g, t, **model) for t, g in enumerate(gt)]
    out = _smooth_clip(c, noisy, 0.8)
    no_align = _smooth_clip(c, noisy, 0.8, global_align=False)
    f_noisy, f_out, f_no = _flicker(c, noisy), _flicker(c, out), _flicker(c, no_align)
    assert f_out <= 0.5 * f_noisy, (f_noisy, f_out)
    assert f_out < 0.9 * f_no, (f_out, f_no)
    subj = [np.abs(g - c.subject_disparity[t]) < 1e-3 for t, g in enumerate(gt)]
    lag = lambda maps: np.mean([abs(np.log(np.median(m[s]) / c.subject_disparity[t]))  # noqa: E731
                                for t, (m, s) in enumerate(zip(maps, subj))])
    assert lag(out) <= lag(noisy), (lag(out), lag(noisy))
    floor, _ = render_score(c, gt, tmp_path / "gt")
    i_noisy, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    i_out, p_out = render_score(c, out, tmp_path / "smooth")
    assert i_out - floor <= excess_max * (i_noisy - floor), (floor, i_noisy, i_out, "raw ratio", i_out / i_noisy)
    assert p_out >= p_noisy


def test_scene_cut_resets_state(lf_follow_clip):
    c = lf_follow_clip
    sm = TemporalDepthSmoother(0.8)
    a, b = c.aif(3), c.aif(4)
    sm(a, noisy_depth(c.disparity(3), 3), None, None, None)
    f, _, v = forward_backward(b, a)
    d = c.disparity(4)
    s, _, info = sm(b, d, None, f, v, scene_cut=True)
    assert info.reset and np.array_equal(s, d)


def test_chunked_run_matches_sequential(lf_follow_clip, tmp_path):
    """A chunk whose output starts at frame warmup + 2, started `warmup` frames early, equals the
    unsplit run within 1e-3 of the range (warmup at 0.4: memory r = sqrt(0.4), lambda = r / (1 - r)
    = 1.72: the level warm-up's ceil(lambda) = 2 frames, then ceil(ln 1e-3 / ln r) = 16; 0.4 because
    at 0.5 the warm-up, 3 + 20, leaves no frame of the 24 to compare)."""
    c = lf_follow_clip
    np.save(tmp_path / "noisy.npy", np.stack([noisy_depth(c.disparity(t), t) for t in range(c.frames)]))
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": str(tmp_path / "noisy.npy"),
                              "depth.smoothing": 0.4, "focus.disparity": 0.5})
    info = ClipInfo(path="mem", kind="sequence", width=c.width, height=c.height, fps=Fraction(24), n_frames=24)

    def run(start: int, first_out: int) -> dict[int, np.ndarray]:
        stages = build_temporal_stages(job, info)
        warm = max(getattr(s, "warmup", 0) for s in stages if s.temporal)
        assert warm == warmup_frames(0.4) == 18
        for s in stages:
            if s.temporal:
                s.reset()
        res = {}
        for t in range(start, c.frames):
            rec = FrameRecord(Frame(t, c.aif(t), None, t / 24))
            for s in stages:
                rec = s.process(rec)
            if t >= first_out:
                res[t] = rec.disparity
        return res

    first = warmup_frames(0.4) + 2
    seq = run(0, first)
    chunk = run(first - warmup_frames(0.4), first)
    worst = max(np.abs(seq[t] - chunk[t]).max() for t in seq)
    assert worst <= 1e-3 * c.disparity_range, worst


def test_fine_flow_lets_smoothing_remove_at_least_as_much_of_the_noise(lf_follow_clip, tmp_path):
    """--flow-quality fine: the smoother follows the 1-px string of lights instead of taking the
    background's motion there, so the refocused clip keeps no more of the noisy depth's excess
    instability, at no PSNR cost (measured 0.41 -> 0.33 of it here, 0.53 -> 0.43 at 384x216 K 16 with
    the per-pixel trust; since calm pixels take the regional trust, 2026-12-05, the flow's misses at
    thin structures hold the medium flow back less: 0.186 -> 0.184, and with the level warm-up of
    the same day 0.1792 -> 0.1795, a tie within 0.001: hence the tolerance)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [noisy_depth(g, t) for t, g in enumerate(gt)]
    floor, _ = render_score(c, gt, tmp_path / "gt")
    i_noisy, _ = render_score(c, noisy, tmp_path / "noisy")
    res = {q: render_score(c, _smooth_clip(c, noisy, 0.8, flow=q), tmp_path / q) for q in ("medium", "fine")}
    excess = {q: (i - floor) / (i_noisy - floor) for q, (i, _) in res.items()}
    assert excess["fine"] <= excess["medium"] + 0.005, excess
    assert res["fine"][1] >= res["medium"][1] - 0.02, res


def test_edge_search_moves_toward_the_neighbours_nearest_the_observation(lf_follow_clip):
    """The edge search (flat offsets into a padded map, only where prediction and observation
    disagree) equals the reference written with whole-frame warps: the 9 nearest-neighbour warps of
    the previous map with the flow shifted by up to one pixel each way, weighted by
    exp(-(|observation - candidate| / s)^2 / 2), s = 1.4826 median |residual|, the prediction moved
    toward their weighted mean by the share clip(|observation - prediction| / s - 1, 0, 1) (soft, so
    a chunk's state converges: a hard arg-min flipped with the state). The implementation takes s
    from a strided sample, hence the tolerance."""
    from genrefocus_video.flow import warp

    c = lf_follow_clip
    img0, img1 = c.aif(5), c.aif(6)
    f, _, _ = forward_backward(img1, img0)
    prev, cur = c.disparity(5), noisy_depth(c.disparity(6), 6)
    sm = TemporalDepthSmoother(0.5)
    sm.prev_s = prev
    eps = np.float32(1e-3 * float(np.percentile(cur, 98)))
    P_u = np.log(np.maximum(warp(prev, f, interpolation=cv2.INTER_NEAREST), eps))
    d_u = np.log(np.maximum(cur, eps))
    m = np.ones_like(cur)
    got = sm._edge_snap(d_u, P_u, f, m, eps)
    r = d_u - P_u
    s = 1.4826 * np.median(np.abs(r))
    num, den = np.zeros_like(P_u, dtype=np.float64), np.zeros_like(P_u, dtype=np.float64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            q = P_u if dx == dy == 0 else np.log(np.maximum(
                warp(prev, f + np.array([dx, dy], np.float32), interpolation=cv2.INTER_NEAREST), eps))
            w = np.exp(-0.5 * ((d_u - q) / s).astype(np.float64) ** 2)
            num, den = num + w * q, den + w
    share = np.clip(np.abs(r) / s - 1.0, 0.0, 1.0)
    want = np.where(den > 1e-300, P_u + share * (num / np.maximum(den, 1e-300) - P_u), got)  # far from all: underflow
    moved = np.abs(got - P_u) > 1e-6
    assert moved.mean() > 0.01
    assert np.mean(np.abs(got - want)) < 1e-3, np.mean(np.abs(got - want))
    assert np.mean(np.abs(got - want) > 0.05) < 2e-3  # rounding ties of nearest sampling (x.5) may differ


@pytest.fixture(scope="module")
def noisy_head(lf_follow_clip):
    """The clip's first 12 frames: (clip, exact disparity, `noisy_depth` of it, DIS flow t -> t-1
    with its validity; None at frame 0)."""
    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(12)]
    noisy = [noisy_depth(g, t) for t, g in enumerate(gt)]
    flows = [None] + [forward_backward(c.aif(t), c.aif(t - 1))[::2] for t in range(1, 12)]
    return c, gt, noisy, flows


def _smooth_head(head, depths, **options) -> list[np.ndarray]:
    """`depths` (the head's frames) smoothed at 0.8; `options`: smoother attributes."""
    c, _, _, flows = head
    sm, out = TemporalDepthSmoother(0.8), []
    for name, value in options.items():
        assert hasattr(sm, name), f"no smoother option {name!r}"  # a typo would test nothing
        setattr(sm, name, value)
    for t, d in enumerate(depths):
        f, v = flows[t] or (None, None)
        out.append(sm(c.aif(t), d, None, f, v)[0])
    return out


def _log_rms(maps, gt) -> float:
    """Mean over frames 1.. of the per-frame RMS log error against the truth."""
    return float(np.mean([np.sqrt(np.mean(np.log(m / g) ** 2)) for m, g in zip(maps[1:], gt[1:])]))


def test_reduced_resolution_analysis_keeps_the_benefit(noisy_head):
    """The low band and the looming field on a grid of half the frame size (what a 720p frame gets
    at a third of it) leave the smoothed depth as close to the truth as the full-size analysis
    (log-RMS within 5 % of the noisy input's error above it; measured 2026-12-06: 0.0422 against
    0.0422, input 0.117), well below the noisy input's, and exact depth still untouched."""
    c, gt, noisy, _ = noisy_head
    full = _log_rms(_smooth_head(noisy_head, noisy, analysis_side=c.width), gt)
    half = _log_rms(_smooth_head(noisy_head, noisy, analysis_side=c.width // 2), gt)
    before = _log_rms(noisy, gt)
    assert half <= full + 0.05 * before and half < 0.7 * before, (half, full, before)
    clean = _smooth_head(noisy_head, gt, analysis_side=c.width // 2)
    assert max(np.abs(s - g).mean() for s, g in zip(clean, gt)) < 0.002 * c.disparity_range


def test_edge_selection_leaves_noise_without_displaced_edges_alone(noisy_head):
    """Per-pixel noise with a fine field and no displaced edge (`noisy_depth`): smoothing with edge
    selection is as close to the truth as without it (log-RMS within 2 %). With steps of 0.1 in log
    counting as edges (before 2026-12-06) the noise flipped near/far labels at thin structures: up
    to 1.1 % of a frame's pixels were switched, half of them to a surface 0.1-0.8 off in log, and
    the log-RMS was 0.053 against 0.042 (0.054 with the 5 % level cap of before)."""
    _, gt, noisy, _ = noisy_head
    with_it = _log_rms(_smooth_head(noisy_head, noisy, edge_select=True), gt)
    without = _log_rms(_smooth_head(noisy_head, noisy, edge_select=False), gt)
    assert with_it <= 1.02 * without, (with_it, without)


def test_sampled_statistics_match_the_full_frame():
    """Medians on the strided ~20k-pixel sample give the full frame's robust level and global
    scale within 2 % on a 720p-sized map (independent of the sample's stride)."""
    from genrefocus_video.depth.temporal_stats import robust_scale_binned, robust_sigma

    r = np.random.default_rng(5)
    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w]
    g = (0.05 + 0.5 * (((xx - 640) ** 2 + (yy - 360) ** 2) < 250 ** 2) + 0.2 * (xx > 1000)).astype(np.float32)
    x = (0.03 * r.standard_normal((h, w))).astype(np.float32)
    m = np.ones((h, w), np.float32)
    full = 1.4826 * np.median(np.abs(x - np.median(x)))
    assert abs(robust_sigma(x, m) / full - 1) < 0.02
    noisy = (g * np.exp(0.05 * r.standard_normal((h, w)))).astype(np.float32)
    assert abs(robust_scale_binned(noisy, 1.2 * g, m) / 1.2 - 1) < 0.02


def test_transient_blotches_count_as_calm(lf_follow_clip, tmp_path):
    """Blotchy motion-stereo noise (tests/depth_error_models.blotchy: 30 % of 12-px cells get a new
    log error 0.25 N(0,1) every frame): a spike the previous frame's innovation does not back is
    transient and takes the regional trust (two-frame consistency). At 0.8 the refocused clip loses
    at least 55 % of the noise's excess instability over the exact-depth render (measured 0.58; with
    every spike on its own trust, `two_frame_calm` off = the code before 2026-12-05: 0.51) and gains
    PSNR over the unsmoothed render."""
    from depth_error_models import blotchy

    c = lf_follow_clip
    gt = [c.disparity(t) for t in range(c.frames)]
    noisy = [blotchy(g, t) for t, g in enumerate(gt)]
    floor, _ = render_score(c, gt, tmp_path / "gt")
    i_noisy, p_noisy = render_score(c, noisy, tmp_path / "noisy")
    res = {on: render_score(c, _smooth_clip(c, noisy, 0.8, two_frame_calm=on), tmp_path / str(on))
           for on in (True, False)}
    removed = {on: (i_noisy - i) / (i_noisy - floor) for on, (i, _) in res.items()}
    assert removed[True] >= 0.55, removed
    assert removed[True] >= removed[False] + 0.03, removed
    assert res[True][1] > p_noisy, (res, p_noisy)

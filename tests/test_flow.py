"""DIS flow, warping and the forward-backward mask against lfbench's GT flow and analytic shifts."""
from __future__ import annotations

import numpy as np

from genrefocus_video.flow import consistency, detect_scene_cut, flow_dis, forward_backward, warp
from temporal_fixtures import lf_follow_clip  # noqa: F401


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    x = (x - x.min()) / (x.max() - x.min())
    return np.repeat(x[..., None], 3, axis=2).astype(np.float32)


def test_translation_is_recovered_and_warp_inverts_it():
    img = _texture(96, 128)
    shifted = np.roll(img, (2, 3), axis=(0, 1))  # content moves +3 px in x, +2 px in y
    f = flow_dis(img, shifted)
    inner = f[12:-12, 12:-12]
    assert np.allclose(np.median(inner.reshape(-1, 2), axis=0), [3.0, 2.0], atol=0.15)
    back = warp(shifted, f)  # sample `shifted` at p + flow: should reproduce img
    assert np.abs(back - img)[12:-12, 12:-12].mean() < 0.02


def test_dis_matches_lfbench_gt_flow(lf_follow_clip):
    c = lf_follow_clip
    epe = []
    for t in (4, 12):
        gt, valid = c.flow(t)
        f = flow_dis(c.aif(t), c.aif(t + 1))
        epe.append(np.median(np.linalg.norm(f - gt, axis=-1)[valid]))
    assert max(epe) < 0.35, epe


def test_consistency_mask_flags_occlusion():
    bg = _texture(160, 160, 1)
    sq = _texture(40, 40, 2) * np.float32(0.5) + np.float32(0.5)  # textured, brighter than the background
    a, b = bg.copy(), bg.copy()
    a[60:100, 40:80] = sq
    b[60:100, 48:88] = sq  # the square moves 8 px right over a static background
    fab, fba, valid = forward_backward(a, b)
    assert abs(fab[80, 60, 0] - 8.0) < 0.3
    # Background pixels of a covered by the square in b (x 80..87) have no match: invalid.
    assert valid[65:95, 81:87].mean() < 0.3
    assert valid[10:50].mean() > 0.95  # static background away from the square stays valid
    assert valid[65:95, 45:75].mean() > 0.9  # so does the moving square itself
    assert np.allclose(consistency(fab, fba), valid)


def test_scene_cut_detected_only_on_a_cut(lf_follow_clip):
    c = lf_follow_clip
    a, b = c.aif(5), c.aif(6)
    f, _, v = forward_backward(b, a)
    assert not detect_scene_cut(b, a, f, v)[0]
    other = np.ascontiguousarray(a[::-1, ::-1] * np.float32(0.3) + np.float32(0.2))
    f2, _, v2 = forward_backward(other, a)
    assert detect_scene_cut(other, a, f2, v2)[0]


def test_fine_flow_follows_thin_structures_that_medium_smooths_over(lf_follow_clip):
    """lfbench's near string of lights (1 px wire, sub-pixel bulbs) moves much faster than the far
    background behind it; the medium preset's coarse patches mix in the background's motion, the
    fine preset's full-resolution patches (depth.flow_quality = fine) less (about 0.8x the error
    over these frames at this size; frame by frame it varies, so the mean is asserted)."""
    c = lf_follow_clip
    err = {"medium": [], "fine": []}
    for t in (4, 8, 12, 16, 20):
        gt, valid = c.flow(t)
        lights = (c.disparity(t) >= 0.87) & valid
        assert lights.sum() > 20
        for preset in err:
            f = flow_dis(c.aif(t), c.aif(t + 1), preset)
            err[preset].append(float(np.linalg.norm(f - gt, axis=-1)[lights].mean()))
    assert np.mean(err["fine"]) < 0.9 * np.mean(err["medium"]), err


def test_flow_quality_reaches_the_flow_stage(lf_follow_clip):
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.params.job import load_job
    from genrefocus_video.pipeline.stages.temporal import FlowStage, build_temporal_stages

    c = lf_follow_clip
    for quality in ("medium", "fine"):
        job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern,
                                  "depth.smoothing": 0.5, "depth.flow_quality": quality})
        with open_reader(job.input.path) as r:
            flows = [s for s in build_temporal_stages(job, r.info) if isinstance(s, FlowStage)]
        assert [s.quality for s in flows] == [quality]

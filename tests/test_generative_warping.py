"""Flow-warped noise stays N(0, 1), moves with the flow, and steadies static regions of a clip."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2", exc_type=ImportError)  # absent on bare GPU check machines (benchmarks/gpu_check.sh)
from genrefocus_video.generative import warping  # noqa: E402


def _noise(shape=(16, 48, 64), frame=0):
    return warping.fresh_noise(shape, seed=3, frame=frame)


def test_integer_translation_moves_noise_exactly():
    n = _noise()
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0  # pixel p came from p + (3, -2)
    w = warping.warp_noise(n, flow, seed=3, frame=1)
    assert np.array_equal(w[:, 2:, :-3], n[:, :-2, 3:])  # bit for bit where the source exists
    # Pixels whose source left the frame got fresh noise, not copies.
    assert not np.allclose(w[:, :2, :], n[:, :2, :])


@pytest.mark.parametrize("kind", ["subpixel", "shear", "zoom_in", "zoom_out", "occlusion"])
def test_warped_noise_keeps_zero_mean_unit_variance_and_independence(kind):
    n = _noise((16, 96, 128))
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    valid = None
    if kind == "subpixel":
        flow = np.stack([np.full_like(xx, 0.37), np.full_like(yy, -0.61)], -1)
    elif kind == "shear":
        flow = np.stack([0.02 * yy * 10, 0.4 * np.sin(xx / 9.0)], -1)
    elif kind == "zoom_in":  # expansion: many targets claim the same sources
        flow = np.stack([-(xx - 64) * 0.35, -(yy - 48) * 0.35], -1)
    elif kind == "zoom_out":
        flow = np.stack([(xx - 64) * 0.3, (yy - 48) * 0.3], -1)
    else:
        flow = np.stack([np.full_like(xx, 1.5), np.zeros_like(yy)], -1)
        valid = np.clip((xx - 40) / 40.0, 0, 1)  # soft occlusion mask
    w = warping.warp_noise(n, flow.astype(np.float32), valid, seed=3, frame=1)
    assert abs(float(w.mean())) < 0.02
    assert abs(float(w.std()) - 1.0) < 0.02
    # Neighbouring pixels stay uncorrelated (no blur from warping).
    c = np.corrcoef(w[:, :, :-1].ravel(), w[:, :, 1:].ravel())[0, 1]
    assert abs(c) < 0.03
    # Normality: fraction within one sigma ~ 68.3 %.
    assert abs(float((np.abs(w) < 1).mean()) - 0.6827) < 0.01


def test_bilinear_warp_would_shrink_variance_but_ours_does_not():
    """The reason for the construction: naive interpolation of noise lowers its variance."""
    n = _noise((16, 96, 128))
    flow = np.zeros((96, 128, 2), np.float32)
    flow[..., 0] = 0.5
    naive = warping.warp_latents(n, flow)
    ours = warping.warp_noise(n, flow, seed=3, frame=1)
    assert float(naive.std()) < 0.8
    assert abs(float(ours.std()) - 1.0) < 0.02


def test_warped_noise_lowers_frame_to_frame_change_on_lfbench_clip(lfbench):
    """Noise chained along an lfbench clip's ground-truth flow changes far less between frames in
    static (|flow| < 0.25 px) regions — and along the true motion everywhere valid — than
    independent per-frame noise."""
    from lfbench.render import layer_maps
    from lfbench.video import Clip

    W, H, T = 128, 96, 4
    clip = Clip(seed=4, width=W, height=H, frames=T, k=3.0)
    fronts = [layer_maps(clip.layers(t), (W, H))[1] for t in range(T)]
    flows = [clip.flow(t, fronts[t], fronts[t + 1]) for t in range(T - 1)]  # t -> t+1
    h, w = H // 2, W // 2  # noise at half resolution (like a latent grid)
    # Chain backwards in time: for frame t the "previous" frame is t+1 and flow t->t+1 maps p to it.
    noise = {T - 1: warping.fresh_noise((4, h, w), 9, T - 1)}
    for t in range(T - 2, -1, -1):
        f, v = flows[t]
        fl = warping.resize_flow(f, h, w)
        val = warping.resize_mask(v.astype(np.float32), h, w)
        noise[t] = warping.warp_noise(noise[t + 1], fl, val, seed=9, frame=t)
    indep = {t: warping.fresh_noise((4, h, w), 9, 100 + t) for t in range(T)}
    static_w, static_i, moving_w, moving_i = [], [], [], []
    for t in range(T - 1):
        f, v = flows[t]
        fl = warping.resize_flow(f, h, w)
        val = warping.resize_mask(v.astype(np.float32), h, w) > 0.99
        static = val & (np.hypot(fl[..., 0], fl[..., 1]) < 0.25)
        assert static.sum() > 50
        static_w.append(np.abs(noise[t] - noise[t + 1])[:, static].mean())
        static_i.append(np.abs(indep[t] - indep[t + 1])[:, static].mean())
        along_w = np.abs(noise[t] - warping.warp_latents(noise[t + 1], fl))[:, val].mean()
        along_i = np.abs(indep[t] - warping.warp_latents(indep[t + 1], fl))[:, val].mean()
        moving_w.append(along_w)
        moving_i.append(along_i)
        assert abs(float(noise[t].std()) - 1.0) < 0.05
    assert np.mean(static_w) < 0.35 * np.mean(static_i)
    assert np.mean(moving_w) < 0.8 * np.mean(moving_i)

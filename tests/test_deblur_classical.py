"""Classical pre-deblur: PSF, deconvolution, defocus-map estimate, and lfbench ground truth."""
from __future__ import annotations

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", exc_type=ImportError)  # absent on bare GPU check machines (benchmarks/gpu_check.sh)
from genrefocus_video.deblur.classical import (PreDeblurOptions, disc_psf, estimate_defocus,  # noqa: E402
                                               predeblur, richardson_lucy, srgb_encode, wiener_deconvolve)


def _psnr(a, b):
    mse = float(np.mean((srgb_encode(a) - srgb_encode(b)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def _texture(h=96, w=96, seed=0, sigma=1.2):
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), sigma)
    t = (t - t.min()) / (t.max() - t.min())
    return (0.05 + 0.8 * t).astype(np.float32)


@pytest.mark.parametrize("r", [0.3, 1.0, 2.5, 4.0, 7.2])
def test_disc_psf_normalised_and_sized(r):
    k = disc_psf(r)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    if r >= 0.5:
        c = k.shape[0] // 2
        yy, xx = np.mgrid[-c:c + 1, -c:c + 1]
        assert k[(xx ** 2 + yy ** 2) > (r + 1) ** 2].sum() == 0  # nothing outside the disc
    if r >= 2.0:  # second moment of a pixel-integrated uniform disc: r²/4 + 1/12 (box of one pixel)
        assert (k * xx ** 2).sum() == pytest.approx(r * r / 4 + 1 / 12, rel=0.03)


def test_wiener_undoes_a_known_disc_blur():
    sharp = _texture()
    k = disc_psf(3.0)
    blurry = cv2.filter2D(sharp, -1, k, borderType=cv2.BORDER_REFLECT)
    rest = wiener_deconvolve(blurry, k, 1e-3)
    e0 = np.abs(blurry - sharp)[8:-8, 8:-8].mean()
    e1 = np.abs(rest - sharp)[8:-8, 8:-8].mean()
    assert e1 < 0.6 * e0


def test_richardson_lucy_undoes_a_known_disc_blur_and_stays_positive():
    sharp = _texture()
    sharp[40, 40] = 20.0  # an HDR point light: RL models it, it must not ring negative
    k = disc_psf(3.0)
    blurry = cv2.filter2D(sharp, -1, k, borderType=cv2.BORDER_REFLECT)
    rest = richardson_lucy(blurry, k, 20)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(rest - sharp)[inner].mean() < 0.8 * np.abs(blurry - sharp)[inner].mean()
    assert rest.min() >= 0.0
    assert rest.sum() == pytest.approx(blurry.sum(), rel=1e-3)  # RL preserves flux


def test_defocus_estimate_separates_sharp_and_blurred_halves():
    sharp = _texture(96, 128, seed=2, sigma=0.7)
    blurred = cv2.filter2D(sharp, -1, disc_psf(4.0), borderType=cv2.BORDER_REFLECT)
    img = sharp.copy()
    img[:, 64:] = blurred[:, 64:]
    r = estimate_defocus(img, PreDeblurOptions())
    left, right = float(np.median(r[:, 8:52])), float(np.median(r[:, 76:120]))
    assert right > left + 1.0
    assert left < 2.0


def _blocks(h=96, w=96, seed=5):
    """Piecewise-constant rectangles: a frame whose edges are truly sharp."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 0.2, np.float32)
    for _ in range(40):
        x0, y0 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        x1, y1 = x0 + rng.integers(4, 30), y0 + rng.integers(4, 30)
        img[y0:y1, x0:x1] = rng.uniform(0.02, 0.9, 3)
    return img


def test_predeblur_is_conservative_on_sharp_frames_and_helps_blurred_ones():
    sharp = _blocks()
    out = predeblur(sharp)
    assert _psnr(out, sharp) > 33.0  # barely touches an in-focus frame
    blurry = cv2.filter2D(sharp, -1, disc_psf(3.0), borderType=cv2.BORDER_REFLECT)
    rest = predeblur(blurry)
    assert _psnr(rest, sharp) > _psnr(blurry, sharp) + 1.0
    assert rest.dtype == np.float32 and (rest >= 0).all()


def test_predeblur_keeps_highlights_and_rejects_bad_shapes():
    img = _texture(48, 48)
    img[20, 20] = 30.0
    out = predeblur(img)
    assert out[20, 20, 0] == pytest.approx(30.0)
    with pytest.raises(ValueError):
        predeblur(img[..., 0])


@pytest.mark.parametrize("seed,focus,k", [(1, 0.5, 8.0), (2, 0.04, 6.0)])
def test_predeblur_gains_psnr_on_lfbench_refocus(lfbench, seed, focus, k):
    """Ground-truth refocus as input, the AIF as target (night scenes with point-light bokeh,
    occlusions and sub-pixel texture): the pre-deblur must raise PSNR (full table in
    docs/benchmarks/generative.md)."""
    from lfbench.metrics import psnr
    from lfbench.render import Aperture, render_refocus, render_view
    from lfbench.scene import build_scene

    W = H = 160
    scene = build_scene(seed, W, H, int(math.ceil(k)) + 4)
    aif = render_view(scene.layers, (W, H))
    gt, _ = render_refocus(scene.layers, (W, H), focus, k, Aperture.from_spec("disc"))
    out = predeblur(gt)
    enc = lambda x: np.clip(srgb_encode(x), 0, 1)  # noqa: E731
    assert psnr(enc(out), enc(aif)) > psnr(enc(gt), enc(aif)) + 0.1

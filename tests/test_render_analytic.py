"""Analytic checks of the layered renderer: identity, point-light bokeh, energy, convolution, occlusion."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.optics.aperture import make_aperture


def _point_scene(size=96, d=0.2, value=100.0):
    img = np.zeros((size, size, 3), np.float32)
    c = size // 2
    img[c, c] = value
    return img, np.full((size, size), d, np.float32), c


def test_k_zero_returns_input_exactly():
    rng = np.random.default_rng(0)
    img = rng.random((20, 30, 3), dtype=np.float32) * 5
    d = rng.random((20, 30), dtype=np.float32)
    out = render_bokeh(img, d, 0.4, 0.0, "star")
    assert out.dtype == np.float32 and np.array_equal(out, img)


def _blob_stats(ch: np.ndarray):
    w = ch / ch.sum()
    ys, xs = np.mgrid[: ch.shape[0], : ch.shape[1]]
    cy, cx = (w * ys).sum(), (w * xs).sum()
    return cx, cy


@pytest.mark.parametrize("d,front", [(0.2, False), (0.8, True)])
def test_point_light_images_as_scaled_aperture(d, front):
    k, a = 20.0, 0.5
    R = abs(k * (d - a))  # 6 px
    img, disp, c = _point_scene(d=d)
    ap = make_aperture("triangle")
    out = render_bokeh(img, disp, a, k, "triangle")[..., 0]
    # area: the lit region is the triangle scaled to R
    lit = out > out.max() * 0.5
    expect_area = ap.fill * math.pi * R * R
    assert abs(lit.sum() - expect_area) / expect_area < 0.15
    # centroid: the shape is centred on its centroid, i.e. on the point
    cx, cy = _blob_stats(out)
    assert abs(cx - c) < 0.25 and abs(cy - c) < 0.25
    # orientation: apex up behind the focus plane (narrow top rows), down in front
    rows = np.flatnonzero(lit.any(axis=1))
    top, bottom = lit[rows[0] + 1].sum(), lit[rows[-1] - 1].sum()
    assert (top > bottom) == front
    # and pixel for pixel it is the aperture kernel (rotated in front), energy preserved
    psf = ap.kernel(R, front=front) * 100.0
    h = psf.shape[0] // 2
    np.testing.assert_allclose(out[c - h: c + h + 1, c - h: c + h + 1], psf, atol=1e-3)


@pytest.mark.parametrize("shape,d", [("disc", 0.1), ("heart", 0.95), ("star", 0.3)])
def test_energy_conserved_for_isolated_points(shape, d):
    img = np.zeros((128, 128, 3), np.float32)
    pts = [(30, 30, 50.0), (90, 40, 20.0), (64, 100, 10.0)]
    for y, x, v in pts:
        img[y, x] = (v, v / 2, v / 4)
    disp = np.full((128, 128), d, np.float32)
    out = render_bokeh(img, disp, 0.5, 30.0, shape)  # radii 12 / 13.5 / 6 px, some multi-resolution
    np.testing.assert_allclose(out.sum(axis=(0, 1)), img.sum(axis=(0, 1)), rtol=1e-4)


@pytest.mark.parametrize("d,tol", [(0.3, 1e-4), (0.7, 1e-4), (-0.5, 0.02)])
def test_constant_disparity_is_a_convolution(d, tol):
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.random((80, 100, 3), dtype=np.float32), (0, 0), 1.0) * 2
    img[40, 50] = 30.0  # a highlight stays > 1 and makes a bright bokeh
    disp = np.full((80, 100), d, np.float32)
    k, a = 15.0, 0.0
    r = k * (d - a)
    ap = make_aperture("hexagon")
    psf = ap.kernel(abs(r), front=r > 0)
    ref = cv2.filter2D(img, cv2.CV_32F, psf[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT_101)
    out = render_bokeh(img, disp, a, k, "hexagon")
    # |r| = 4.5 and 10.5 render at full resolution (exact: s = round(|r| / r0) = 1 with r0 = 8);
    # r = -7.5 with r0 = 3 exercises the multi-resolution path (downsampled by 3), close but not exact
    if d < 0:
        out = render_bokeh(img, disp, a, k, "hexagon", r0=3.0)
    err = np.abs(out - ref)[10:-10, 10:-10]
    assert err.mean() < tol and out.max() > 1.0


def _two_plane(fg_d, bg_d, size=(64, 96)):
    H, W = size
    img = np.empty((H, W, 3), np.float32)
    img[:] = (0.1, 0.3, 0.9)  # background blue
    disp = np.full((H, W), bg_d, np.float32)
    fg = np.zeros((H, W), bool)
    fg[16:48, 30:60] = True
    img[fg] = (1.0, 0.5, 0.0)  # orange card
    disp[fg] = fg_d
    return img, disp, fg


def test_sharp_subject_is_not_smeared_by_blurred_background():
    img, disp, fg = _two_plane(fg_d=0.6, bg_d=0.1)
    rng = np.random.default_rng(2)
    img[~fg] += rng.random((int((~fg).sum()), 3), dtype=np.float32)  # textured, bright background
    out = render_bokeh(img, disp, 0.6, 24.0, "disc")  # background blur 12 px, subject in focus
    np.testing.assert_allclose(out[fg], img[fg], atol=1e-5)  # every subject pixel, edges included
    assert np.abs(out[~fg] - img[~fg]).mean() > 0.1  # while the background is blurred


def test_blurred_foreground_spreads_softly_without_dark_halo():
    img, disp, fg = _two_plane(fg_d=0.9, bg_d=0.2)
    out = render_bokeh(img, disp, 0.2, 20.0, "disc")  # foreground blur 14 px over a sharp background
    # far from the card the background is untouched (sharp, in focus)
    far = cv2.dilate(fg.astype(np.uint8), np.ones((35, 35), np.uint8)) == 0
    np.testing.assert_allclose(out[far], img[far], atol=1e-5)
    # the card spreads beyond its silhouette: outside pixels within the blur radius turn orange-ish
    ring = (cv2.dilate(fg.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~fg
    assert out[ring][:, 0].mean() > 0.3
    # and every pixel is a convex mix of the two colours: no dark or bright halo (hidden bg filled)
    orange, blue = np.array([1.0, 0.5, 0.0]), np.array([0.1, 0.3, 0.9])
    t = (out[..., 0] - blue[0]) / (orange[0] - blue[0])
    mix = blue + t[..., None] * (orange - blue)
    assert np.abs(out - mix).max() < 2e-3 and t.min() > -1e-3 and t.max() < 1 + 1e-3

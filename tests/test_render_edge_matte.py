"""Edge matte (render/matte.py): a depth edge moving by sub-pixel steps changes the render smoothly."""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video import render_bokeh


def _edge_frame(x_edge: float, H: int = 32, W: int = 64):
    """Flat blurred-to-be foreground (left, d 0.6) over a flat background (d 0.1); anti-aliased edge
    at x_edge; the depth map labels a pixel foreground when more than half of it is covered."""
    x = np.arange(W, dtype=np.float32)
    cov = np.clip(x_edge - x, 0.0, 1.0)  # pixel [x, x+1) covered up to x_edge
    F, B = np.array([0.8, 0.5, 0.2], np.float32), np.array([0.1, 0.2, 0.4], np.float32)
    row = cov[:, None] * F + (1.0 - cov[:, None]) * B
    img = np.repeat(row[None], H, 0).astype(np.float32)
    disp = np.repeat(np.where(cov > 0.5, 0.6, 0.1)[None], H, 0).astype(np.float32)
    return img, disp


def _steps(matte: bool, backend: str = "numpy") -> np.ndarray:
    outs = [render_bokeh(*_edge_frame(x), 0.1, 10.0, "disc", backend=backend, device="cpu", edge_matte=matte)
            for x in np.arange(30.05, 32.0, 0.1)]
    return np.array([np.abs(b - a).mean() for a, b in zip(outs, outs[1:])])


def test_subpixel_edge_motion_renders_continuously_with_the_matte():
    on, off = _steps(True), _steps(False)
    assert off.max() > 4 * np.median(off)  # without it: a jump when the edge pixel's label flips
    assert on.max() < 2.5 * np.median(on)  # with it: coverage moves with the edge
    assert on.sum() < 0.7 * off.sum()


def test_torch_matches_numpy_across_a_depth_edge():
    img, disp = _edge_frame(30.35)
    a = render_bokeh(img, disp, 0.1, 10.0, "disc", backend="numpy")
    b = render_bokeh(img, disp, 0.1, 10.0, "disc", backend="torch", device="cpu")
    assert np.abs(a - b).max() < 2e-5


def test_torch_matte_on_the_device_renders_the_same_subpixel_steps():
    """The device matte (render/torch_matte.py) splits the same pixels as the numpy one: the step
    sizes of a moving edge agree, and switching the matte off through the plan field changes both."""
    pytest.importorskip("torch")
    on_np, on_t = _steps(True), _steps(True, "torch")
    np.testing.assert_allclose(on_t, on_np, atol=1e-6)
    off_t = _steps(False, "torch")
    assert off_t.max() > 4 * np.median(off_t) and on_t.max() < 2.5 * np.median(on_t)


def test_matte_analysed_in_row_bands_equals_the_whole_frame():
    """The CPU path analyses the matte in row bands on its layer threads; each band's slab has a
    halo wide enough for every neighbourhood, so the split pixels and their values are identical."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import fields

    from genrefocus_video.render.matte import EdgeMatte, edge_matte

    rng = np.random.default_rng(3)
    H, W = 203, 96
    yy, xx = np.mgrid[:H, :W]
    u = np.where((xx - 40) ** 2 + (yy - 100) ** 2 < 60 ** 2, 5.0, 0.5).astype(np.float32)
    u[yy % 50 < 3] = 3.0  # horizontal depth edges near and across the band cuts
    img = np.where(u[..., None] > 1, [0.8, 0.5, 0.2], [0.1, 0.2, 0.4]).astype(np.float32)
    img = (img + 0.01 * rng.random((H, W, 3))).astype(np.float32)
    whole = edge_matte(img, u)
    assert whole is not None and whole.ys.size > 100
    with ThreadPoolExecutor(2) as pool:
        for bands in (2, 3):
            split = edge_matte(img, u, pool=pool, bands=bands)
            for f in fields(EdgeMatte):
                np.testing.assert_array_equal(getattr(split, f.name), getattr(whole, f.name))

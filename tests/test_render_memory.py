"""The CPU renderer's working memory (issue 17): strips, bands and blocks instead of frame-sized
temporaries, with output bit-identical to the straightforward whole-array composition."""
from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from genrefocus_video.optics.aperture import make_aperture
from genrefocus_video.optics.coc import signed_blur
from genrefocus_video.render import composite as comp
from genrefocus_video.render import convolve, cpu, matte
from genrefocus_video.render.plan import Spacing, layer_coord, make_plan


def _scene(H=300, W=256, seed=3):
    """Textured frame with point lights over a far plane, a mid disc and a near block (sharp
    depth edges for the matte) on a gentle ramp (pixels between layers)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.2) * 1.4
    img[rng.integers(0, H, 40), rng.integers(0, W, 40)] = 20.0  # highlights
    disp = np.full((H, W), 0.1, np.float32)
    yy, xx = np.mgrid[:H, :W]
    disp[(yy - 120) ** 2 + (xx - 100) ** 2 < 50 ** 2] = 0.5
    disp[(yy > 190) & (xx > 140)] = 0.9
    disp += (xx / W * 0.3).astype(np.float32)
    return img, disp


def _plan(img, disp, a=0.3, k=40.0, **kw):
    r = signed_blur(disp, a, k, 0.0)
    return r, make_plan(r, make_aperture("disc"), Spacing(), frame_box=(0, 0) + r.shape, **kw)


def _reference_render(img, r, plan):
    """The layered render as one whole-array pass per step: the whole frame's RGBA, the matte in one
    piece, each layer made at full resolution then block-averaged, its fill upsampled whole, the
    blurred layer upsampled whole, out·(1 − A) + C and the resolve by numpy broadcasting."""
    H, W = r.shape
    u = layer_coord(r, plan)
    rgba = cv2.cvtColor(img, cv2.COLOR_RGB2RGBA)
    m = matte._edge_matte_rows(img, u, cpu.FILL_CAP, None, 0, H) if plan.edge_matte else None
    frame = cpu.frame_rgba(img)
    out = np.zeros((H, W, 4), np.float32)
    for L in plan.layers:
        y0, y1, x0, x1 = L.roi
        layer, known, capped, need_fill = cpu.layer_planes(L, frame, u, m)
        w = np.maximum(np.float32(1.0) - np.abs(u[y0:y1, x0:x1] - np.float32(L.index)), np.float32(0.0))
        plain = rgba[y0:y1, x0:x1] * w[..., None]
        if m is None:  # without the matte the layer is just the weighted frame
            assert np.array_equal(layer, plain)
        layer, known, capped = cpu.downsample(layer, known, capped, L.scale)
        if isinstance(capped, cpu.CapValues):  # the capped layer as a whole array
            capped = capped.dense(layer)
        if need_fill:
            f = max(1, cpu.FILL_SCALE // L.scale)
            h, w_ = known.shape
            if f > 1 and min(h, w_) >= 2 * f:
                est = cpu.pull_push(cpu.block_mean_padded(capped, f), cpu.block_mean_padded(known, f))
                fill = cv2.resize(est, (est.shape[1] * f, est.shape[0] * f), interpolation=cv2.INTER_LINEAR)[:h, :w_]
            else:
                fill = cpu.pull_push_fill(capped, known)
            layer = layer + fill * (np.float32(1.0) - known)[..., None]
        b = cpu.blur(layer, L, plan, (0, 0, H, W))
        if L.scale > 1:
            b = cv2.resize(b, (b.shape[1] * L.scale, b.shape[0] * L.scale), interpolation=cv2.INTER_LINEAR)
        b = b[: y1 - y0, : x1 - x0]
        o = out[y0:y1, x0:x1]
        o[...] = o * (np.float32(1.0) - b[..., 3:4]) + b
    acc = out[..., 3]
    res = out[..., :3] * np.reciprocal(np.maximum(acc, np.float32(1e-4)))[..., None]
    res[acc <= 1e-4] = img[acc <= 1e-4]
    return res


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("edge", [True, False])
def test_render_is_bit_identical_to_the_whole_array_composition(threads, edge):
    """Strip-wise composite, banded reduced layers and matte, blocked convolution: every pixel the
    same float32 bits as composing the same layers with whole arrays (layers at scales 1, 2 and 4 here)."""
    img, disp = _scene()
    r, plan = _plan(img, disp, edge_matte=edge, threads=threads)
    assert {L.scale for L in plan.layers} >= {1, 2, 4}  # full-resolution and reduced layers take part
    got = cpu.render_numpy(img, r, plan, (0, 0) + r.shape)
    assert np.array_equal(got, _reference_render(img, r, plan))


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5, 7])
def test_upsampled_strips_are_the_rows_of_the_whole_resize(s):
    """Every strip equals the same rows and columns of cv2.resize of the whole source, also for
    windows that start and end inside a source block (the fill's hidden box)."""
    rng = np.random.default_rng(s)
    src = rng.random((53, 41, 4), dtype=np.float32)
    whole = cv2.resize(src, (41 * s, 53 * s), interpolation=cv2.INTER_LINEAR) if s > 1 else src
    for y_lo, y_hi, x_lo, x_hi in [(0, 53 * s, 0, 41 * s), (5, 53 * s - 3, 7, 41 * s - 2), (s + 1, 2 * s + 2, 0, 3)]:
        got = np.concatenate([rows for _, rows in comp.upsampled_strips(src, s, y_lo, y_hi, x_lo, x_hi)])
        starts = [y for y, _ in comp.upsampled_strips(src, s, y_lo, y_hi, x_lo, x_hi)]
        assert starts[0] == y_lo and starts == sorted(starts)
        assert np.array_equal(got, whole[y_lo:y_hi, x_lo:x_hi])


@pytest.mark.parametrize("n", [13, 15, 19, 21])
def test_blocked_strip_correlation_equals_the_padded_one_pass(n):
    """The row-strip route in blocks of BLOCK_ROWS: bit-identical to summing the strips over the
    whole reflect-101-padded frame (its definition), and within float rounding of cv2.filter2D."""
    rng = np.random.default_rng(n)
    H = 2 * convolve.BLOCK_ROWS + 37
    x = rng.random((H, 90, 4), dtype=np.float32)
    k = rng.random((n, n)).astype(np.float32)
    k /= k.sum()
    got = convolve.correlate(x, k)
    c, rows = n // 2, max(1, convolve.DIRECT_MAX_AREA // n)
    xp = cv2.copyMakeBorder(x, c, c, 0, 0, cv2.BORDER_REFLECT_101)
    ref = None
    for r0 in range(0, n, rows):
        ks = np.ascontiguousarray(k[r0:r0 + rows])
        part = cv2.filter2D(xp[r0:r0 + H + ks.shape[0] - 1], cv2.CV_32F, ks, anchor=(n // 2, 0),
                            borderType=cv2.BORDER_REFLECT_101)[:H]
        ref = part if ref is None else ref + part
    if n <= convolve.STRIP_MAX_SIZE:
        assert np.array_equal(got, ref)
    assert np.abs(got - cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)).max() < 1e-5


def test_edge_matte_in_bands_equals_the_one_piece_analysis():
    """Bands of at most BAND_MAX_ROWS rows (with and without a pool): the same split pixels, in
    the same order, with the same values as analysing the frame in one piece."""
    from concurrent.futures import ThreadPoolExecutor

    img, disp = _scene(H=3 * matte.BAND_MAX_ROWS + 20)
    r, plan = _plan(img, disp)
    u = layer_coord(r, plan)
    whole = matte._edge_matte_rows(img, u, cpu.FILL_CAP, None, 0, u.shape[0])
    assert whole is not None and whole.ys.size > 50
    with ThreadPoolExecutor(2) as pool:
        for m in (matte.edge_matte(img, u, cpu.FILL_CAP), matte.edge_matte(img, u, cpu.FILL_CAP, pool=pool, bands=2)):
            for f in ("ys", "xs", "uf", "ub", "alpha", "fg4", "bg4", "fg4c", "bg4c"):
                assert np.array_equal(getattr(m, f), getattr(whole, f)), f


def test_reduced_layer_is_built_without_a_full_resolution_copy():
    """A layer at working scale s: the same planes as making it at full resolution and then
    block-averaging, while the memory it allocates stays below one full-resolution RGBA copy of
    its region (bands of BAND_ROWS rows, not the region)."""
    img, disp = _scene(H=512, W=512)
    r, plan = _plan(img, disp)
    u = layer_coord(r, plan)
    frame = cpu.frame_rgba(img)
    m = matte.edge_matte(img, u, cpu.FILL_CAP)
    L = max((L for L in plan.layers if L.scale >= 2), key=lambda L: (L.roi[1] - L.roi[0]) * (L.roi[3] - L.roi[2]))
    y0, y1, x0, x1 = L.roi
    region = (y1 - y0) * (x1 - x0) * 16  # bytes of one RGBA float32 copy of the region
    assert region >= 4 * (cpu.BAND_ROWS * (x1 - x0) * 16)  # the region spans several bands
    tracemalloc.start()
    try:
        got = cpu.reduced_planes(L, frame, u, m)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    layer, known, capped, need_fill = cpu.layer_planes(L, frame, u, m, capped_always=True)
    want = cpu.downsample(layer, known, capped, L.scale)
    assert got[3] == need_fill
    for a, b in zip(got[:3], want):
        assert np.array_equal(a, b)
    assert peak < 0.75 * region, (peak, region)


def test_render_working_memory_is_a_few_frame_buffers():
    """tracemalloc peak of one render (one layer thread) on a frame whose layers are mostly reduced:
    the accumulator, the result and the layer map are frame-sized (4 + 3 + 1 floats per pixel); the
    layers add less than one more RGBA frame (the whole-array composition needs several: the RGBA
    frame, a full-resolution layer, its product, its convolution and its upsampled copy)."""
    img, disp = _scene(H=384, W=512)
    r, plan = _plan(img, disp, a=0.9, k=60.0, threads=1)
    assert sum(L.scale > 1 for L in plan.layers) >= 0.6 * len(plan.layers)
    frame_px = r.size
    cpu.render_numpy(img, r, plan, (0, 0) + r.shape)  # warm
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cpu.render_numpy(img, r, plan, (0, 0) + r.shape)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    fixed = frame_px * 4 * (4 + 3)  # accumulator RGBA + result RGB (float32)
    assert peak < fixed + frame_px * 16, (peak / (frame_px * 16), fixed / (frame_px * 16))


@pytest.mark.parametrize("f", [2, 4])
def test_sparse_capped_values_give_the_block_means_of_the_dense_copy(f):
    """A full-resolution layer's capped colour kept as values at its highlight pixels: the fill's
    block means, made band by band, equal those of the dense capped copy (odd sizes: padded blocks)."""
    rng = np.random.default_rng(f)
    h, w = 3 * cpu.BAND_ROWS + 13, 71
    layer = rng.random((h, w, 4), dtype=np.float32)
    py, px = rng.integers(0, h, 300), rng.integers(0, w, 300)
    py[:3], px[:3] = h - 1, w - 1  # the padded last block row and column
    cv = cpu.CapValues(py, px, rng.random((300, 4), dtype=np.float32))
    assert np.array_equal(cv.block_means(layer, f), cpu.block_mean_padded(cv.dense(layer), f))

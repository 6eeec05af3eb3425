"""The batched torch renderer (render/torch_batch.py, torch_ops.py) against the numpy path it mirrors.

Layers of different sizes share one canvas per group; each primitive must give, inside each
layer, what render/cpu.py gives on that layer alone. Checked primitive by primitive against the
CPU functions themselves, then whole renders (apertures, matte on/off, odd and tiny frames),
and the sync-free dense matte (the CUDA-graph route) against the sparse one.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.errors import ConfigError  # noqa: E402
from genrefocus_video.render import cpu, torch_ops  # noqa: E402
from genrefocus_video.render.torch_batch import border_index, clamp_index, group_layers, pyramid  # noqa: E402

SIZES = [(1, 1), (1, 6), (5, 1), (2, 3), (7, 9), (16, 11), (13, 13)]


def _up(a):
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.long() if a.dtype.kind in "iu" else t


def _stack(arrays, canvas, fill=np.nan):
    """Layers (h×w×c numpy) top-left in a B×c×H×W canvas; beyond them NaN (must never be read)."""
    c = arrays[0].shape[2]
    out = np.full((len(arrays), c) + canvas, fill, np.float32)
    for b, a in enumerate(arrays):
        out[b, :, : a.shape[0], : a.shape[1]] = a.transpose(2, 0, 1)
    return torch.from_numpy(out)


def test_canvas_pull_push_equals_each_layer_alone():
    """cpu.pull_push_fill per layer (odd sizes, 1×1, single rows) = one canvas pass, to float rounding;
    NaN beyond each layer proves nothing outside it leaks in."""
    rng = np.random.default_rng(1)
    nums, knowns = [], []
    for h, w in SIZES:
        k = np.clip(rng.random((h, w)) * 2 - 0.5, 0, 1).astype(np.float32)
        nums.append((rng.random((h, w, 4)) * k[..., None]).astype(np.float32))
        knowns.append(k)
    canvas = (max(h for h, _ in SIZES), max(w for _, w in SIZES))
    pyr = pyramid(SIZES, canvas)
    num = torch.nan_to_num(_stack(nums, canvas))
    known = torch.nan_to_num(_stack([k[..., None] for k in knowns], canvas))
    fill = torch_ops.pull_push_fill(num, known, pyr).numpy()
    for b, (h, w) in enumerate(SIZES):
        ref = cpu.pull_push_fill(nums[b], knowns[b])
        np.testing.assert_allclose(fill[b, :, :h, :w].transpose(1, 2, 0), ref, atol=2e-6)


@pytest.mark.parametrize("K", [1, 5, 9])
def test_canvas_correlation_equals_cv2_filter2d_per_layer(K):
    """Per-layer reflect-101 borders gathered into one padded canvas: each layer equals cv2.filter2D with
    its own kernel (zero-padded to the group's K), including layers smaller than the kernel."""
    rng = np.random.default_rng(K)
    sizes = [(9, 14), (3, 2), (12, 5)]
    xs = [rng.random((h, w, 4)).astype(np.float32) for h, w in sizes]
    own = [rng.random((k, k)).astype(np.float32) for k in (K, max(1, K - 4), K)]
    canvas = (12, 14)
    p = K // 2
    border = border_index(sizes, p, canvas)
    wt = np.zeros((4 * len(sizes), 1, K, K), np.float32)
    for b, k in enumerate(own):
        o = (K - k.shape[0]) // 2
        wt[4 * b: 4 * b + 4, 0, o: o + k.shape[0], o: o + k.shape[0]] = k
    x = torch.nan_to_num(_stack(xs, canvas), nan=7.0)
    out = torch_ops.correlate(x, border, [_up(wt)], (canvas[0] + 2 * p, canvas[1] + 2 * p)).numpy()
    for b, (h, w) in enumerate(sizes):
        ref = cv2.filter2D(xs[b], cv2.CV_32F, own[b], borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(out[b, :, :h, :w].transpose(1, 2, 0), ref.reshape(h, w, 4), atol=2e-6)


def test_clamped_canvas_upscale_equals_cv2_resize_per_layer():
    """Bilinear ×s of layers stacked in one canvas, each extended by its own last row/column first,
    equals cv2.resize(INTER_LINEAR) of that layer alone (cpu.upsample)."""
    rng = np.random.default_rng(3)
    sizes, s = [(5, 7), (2, 3), (6, 1)], 3
    xs = [rng.random((h, w, 4)).astype(np.float32) for h, w in sizes]
    canvas = (6, 7)
    ext = torch_ops.gather(_stack(xs, canvas), clamp_index(sizes, canvas, canvas), canvas)
    up = torch_ops.upscale(ext, s, (canvas[0] * s, canvas[1] * s)).numpy()
    for b, (h, w) in enumerate(sizes):
        ref = cpu.upsample(xs[b], s, (h * s, w * s)).reshape(h * s, w * s, 4)
        np.testing.assert_allclose(up[b, :, : h * s, : w * s].transpose(1, 2, 0), ref, atol=2e-6)


def _scene(H, W, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.2) * 1.4
    img[rng.integers(0, H, 6), rng.integers(0, W, 6)] = 20.0
    yy, xx = np.mgrid[:H, :W]
    disp = (0.1 + 0.1 * xx / max(W, 1)).astype(np.float32)
    disp[(yy - H // 2) ** 2 + (xx - W // 3) ** 2 < (min(H, W) // 3) ** 2] = 0.6
    disp[(yy > 2 * H // 3) & (xx > W // 2)] = 0.95
    img[disp == 0.6] = np.float32([0.9, 0.2, 0.1])  # flat-coloured card: its rim gets split by the matte
    return img, disp


@pytest.mark.parametrize("shape", ["disc", "hexagon", "heart"])
@pytest.mark.parametrize("matte", [True, False])
@pytest.mark.parametrize("size", [(61, 83), (40, 40)])
def test_batched_torch_render_matches_numpy(shape, matte, size):
    """Whole renders, odd and square frames, several layers per group: within float rounding of numpy."""
    img, disp = _scene(*size)
    a = render_bokeh(img, disp, 0.4, 30.0, shape, backend="numpy", edge_matte=matte)
    b = render_bokeh(img, disp, 0.4, 30.0, shape, backend="torch", device="cpu", edge_matte=matte)
    assert np.abs(a - b).max() < 1e-5


@pytest.mark.parametrize("opts", [{"tile": 40}, {"tile": 40, "cats_eye": 0.5, "chromatic": 0.6},
                                  {"pixel_aspect": 1.5, "cats_eye": 0.5}])
def test_bands_and_cats_eye_zones_match_numpy(opts):
    """Bands of a taller frame (frame_box offsets place each band's cat's-eye zone weights), per-channel
    chromatic kernels padded into one group kernel, anamorphic pixels: torch equals numpy."""
    img, disp = _scene(120, 72, seed=4)
    a = render_bokeh(img, disp, 0.4, 16.0, "hexagon", backend="numpy", **opts)
    b = render_bokeh(img, disp, 0.4, 16.0, "hexagon", backend="torch", device="cpu", **opts)
    assert np.abs(a - b).max() < 1e-5


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (3, 2), (9, 4)])
def test_tiny_frames_match_numpy(size):
    """Frames smaller than the kernels and the fill factor (1×1 layers, single rows), rendered from the plan
    directly (the API refuses blur radii beyond the frame; the renderers must not break on them)."""
    from genrefocus_video.optics.aperture import make_aperture
    from genrefocus_video.render.plan import Spacing, make_plan
    from genrefocus_video.render.torch_impl import render_torch

    img, disp = _scene(*size, seed=2)
    disp = disp + np.linspace(0, 0.6, disp.size, dtype=np.float32).reshape(disp.shape)
    r = (20.0 * (disp - 0.3)).astype(np.float32)
    plan = make_plan(r, make_aperture("disc"), Spacing())
    a = cpu.render_numpy(img, r, plan, (0, 0) + size)
    b = render_torch(img, r, plan, (0, 0) + size, "cpu")
    assert np.isfinite(b).all() and np.abs(a - b).max() < 1e-5


def test_groups_stack_several_layers():
    """The point of batching: a plan with many layers renders in fewer groups (launch units)."""
    from genrefocus_video.optics.aperture import make_aperture
    from genrefocus_video.render.plan import Spacing, make_plan

    img, disp = _scene(61, 83)
    plan = make_plan((30.0 * (disp - 0.4)).astype(np.float32), make_aperture("disc"), Spacing())
    groups = group_layers(plan)
    assert sorted(m.index for g in groups for m in g) == sorted(L.index for L in plan.layers)
    assert len(groups) < len(plan.layers) and max(len(g) for g in groups) >= 2


def test_dense_matte_route_equals_sparse_route():
    """The sync-free matte (every pixel analysed, kept by masks: the CUDA-graph route) gives the same maps
    as the sparse route, and the same frame."""
    from genrefocus_video.optics.aperture import make_aperture
    from genrefocus_video.render.plan import Spacing, layer_coord, make_plan
    from genrefocus_video.render.torch_batch import prepare
    from genrefocus_video.render.torch_impl import cap_frame, render_frame
    from genrefocus_video.render.torch_matte import dense_parts

    img, disp = _scene(61, 83)
    r = (30.0 * (disp - 0.4)).astype(np.float32)
    plan = make_plan(r, make_aperture("disc"), Spacing())
    I = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    u = torch.from_numpy(layer_coord(r, plan))
    F = torch.nn.functional
    sparse = dense_parts(torch, F, I, cap_frame(I), u, cpu.FILL_CAP, True)
    dense = dense_parts(torch, F, I, cap_frame(I), u, cpu.FILL_CAP, True, dense=True)
    assert sparse.a is not None and int((sparse.a > 0).sum()) > 10  # the card's rim is split
    for name in ("uf", "a", "fg4", "bg4", "fg4c", "bg4c"):
        np.testing.assert_allclose(getattr(dense, name).numpy(), getattr(sparse, name).numpy(), atol=1e-6)
    prep = prepare(plan, r.shape, (0, 0) + r.shape, torch.device("cpu"))
    a = render_frame(prep, I, u, True).numpy()
    b = render_frame(prep, I, u, True, dense_matte=True).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs it there)")
@pytest.mark.parametrize("matte", [True, False])
def test_cuda_graph_replay_matches_numpy_frame_after_frame(matte, monkeypatch):
    """CUDA graphs: the first frame of a plan layout captures, the next ones replay with new pixels in
    the static inputs; every frame equals the numpy path within 1e-4, and eager CUDA agrees too."""
    from genrefocus_video.render import torch_impl

    img, disp = _scene(61, 83)
    rng = np.random.default_rng(5)
    for step in range(3):  # same depth (same plan layout), new pixels each frame
        frame = (img * rng.uniform(0.5, 1.5, 3).astype(np.float32)).astype(np.float32)
        ref = render_bokeh(frame, disp, 0.4, 30.0, "heart", backend="numpy", edge_matte=matte)
        eager = render_bokeh(frame, disp, 0.4, 30.0, "heart", backend="torch", device="cuda", edge_matte=matte,
                             cuda_graphs=False)
        replay = render_bokeh(frame, disp, 0.4, 30.0, "heart", backend="torch", device="cuda", edge_matte=matte,
                              cuda_graphs=True)
        assert np.abs(eager - ref).max() < 1e-4 and np.abs(replay - ref).max() < 1e-4, step
        graphs = [g for key, g in torch_impl._GRAPHS.items() if key[-1] == matte]
        if step == 0:
            first = graphs
        assert graphs == first and len(graphs) == 1  # captured once, then replayed


def test_cuda_graphs_on_the_cpu_are_accepted_noted_once_and_change_nothing(monkeypatch, caplog):
    """render.cuda_graphs asked for on a CPU device: accepted, one note that graphs need CUDA, the
    render is the eager one (same pixels as without the option) and nothing is captured; on a CUDA
    device the switch is honoured."""
    import logging

    from genrefocus_video.render import options, torch_impl

    monkeypatch.setattr(options, "_NOTED", set())
    assert torch_impl.graphs_enabled("cuda", True) and not torch_impl.graphs_enabled("cpu", True)
    assert not torch_impl.graphs_enabled("cuda", False)
    img, disp = _scene(40, 52)
    a = render_bokeh(img, disp, 0.4, 20.0, "disc", backend="numpy")
    eager = render_bokeh(img, disp, 0.4, 20.0, "disc", backend="torch", device="cpu")
    with caplog.at_level(logging.WARNING, logger="genrefocus_video.render.options"):
        for _ in range(2):  # the second frame of a layout is where CUDA would capture
            b = render_bokeh(img, disp, 0.4, 20.0, "disc", backend="torch", device="cpu", cuda_graphs=True)
            assert np.array_equal(b, eager) and np.abs(a - b).max() < 1e-5
        c = render_bokeh(img, disp, 0.4, 20.0, "disc", backend="numpy", cuda_graphs=True)
        assert np.array_equal(c, a)
    notes = [r.getMessage() for r in caplog.records if "cuda_graphs" in r.getMessage()]
    assert len(notes) == 1 and "need a CUDA device" in notes[0] and "cpu" in notes[0]
    assert not any(key[0] == "cpu" for key in torch_impl._GRAPHS)
    with pytest.raises(ConfigError, match="cuda_graphs must be true or false"):
        render_bokeh(img, disp, 0.4, 20.0, "disc", backend="numpy", cuda_graphs="yes")

"""Torch path vs numpy path, bands vs whole frame, draft, options, highlights, explain files."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.render.explain import write_explain
from genrefocus_video.render.highlights import recover_highlights


def _scene(H=72, W=96, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.5) * 1.5
    img[rng.integers(0, H, 12), rng.integers(0, W, 12)] = 25.0  # point lights
    disp = np.full((H, W), 0.1, np.float32)
    yy, xx = np.mgrid[:H, :W]
    disp[(yy - 30) ** 2 + (xx - 40) ** 2 < 15 ** 2] = 0.5
    disp[(yy > 50) & (xx > 55)] = 0.9
    disp += (xx / W * 0.05).astype(np.float32)  # a gentle ramp: pixels between layers
    return img, disp


@pytest.mark.parametrize("opts", [{}, {"chromatic": 0.8}, {"cats_eye": 0.7}, {"r0": 3.0}, {"edge_matte": False}])
def test_torch_cpu_path_matches_numpy_path(opts):
    """Same output within 1e-4 (issue 17): the torch renderer, matte included, on CPU torch."""
    pytest.importorskip("torch")
    img, disp = _scene()
    a = render_bokeh(img, disp, 0.5, 24.0, "heart", backend="numpy", **opts)
    b = render_bokeh(img, disp, 0.5, 24.0, "heart", backend="torch", device="cpu", **opts)
    assert np.abs(a - b).max() < 1e-4 and np.abs(a - b).mean() < 1e-5


def test_torch_cpu_path_matches_numpy_on_an_lfbench_scene(lfbench_small):
    """A real lfbench scene (cards, HDR lights, anti-aliased depth edges): multi-resolution layers,
    highlights and the device edge matte all take part; max difference below 1e-4 (linear light)."""
    pytest.importorskip("torch")
    img, disp, focus, k = lfbench_small
    a = render_bokeh(img, disp, focus, k, "disc", backend="numpy")
    b = render_bokeh(img, disp, focus, k, "disc", backend="torch", device="cpu")
    assert np.abs(a - b).max() < 1e-4


@pytest.fixture(scope="module")
def lfbench_small():
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1].parent / "shared" / "lfbench"
    if not root.is_dir():
        pytest.skip("../shared/lfbench not present")
    sys.path.insert(0, str(root))
    from lfbench.render import layer_maps, render_view
    from lfbench.scene import build_scene

    W, H = 192, 128
    scene = build_scene(5, W, H, 8)
    img = render_view(scene.layers, (W, H)).astype(np.float32)
    disp = layer_maps(scene.layers, (W, H))[0].astype(np.float32)
    assert img.max() > 1.0  # the scene has highlights above the fill cap
    return img, disp, 0.5, 14.0 / float(np.abs(disp - 0.5).max())


def test_layer_threads_and_matte_are_plan_fields():
    """threads and edge_matte are explicit options (no module globals): any thread count gives the
    same pixels (layers composite in order), the matte changes edge pixels only, bad values refused."""
    from genrefocus_video.errors import ConfigError

    img, disp = _scene()
    one = render_bokeh(img, disp, 0.5, 24.0, "disc", threads=1)
    three = render_bokeh(img, disp, 0.5, 24.0, "disc", threads=3)
    np.testing.assert_array_equal(one, three)
    hard = render_bokeh(img, disp, 0.5, 24.0, "disc", edge_matte=False)
    assert np.abs(hard - one).max() > 1e-3
    with pytest.raises(ConfigError, match="edge_matte"):
        render_bokeh(img, disp, 0.5, 24.0, "disc", edge_matte="yes")
    with pytest.raises(ConfigError, match="threads"):
        render_bokeh(img, disp, 0.5, 24.0, "disc", threads=0)


@pytest.mark.parametrize("size", [5, 13, 17, 19, 25])
def test_correlate_matches_a_direct_sum_for_every_kernel_size(size):
    """render.convolve.correlate picks direct, row-strip or OpenCV-DFT routes by kernel size; every route
    equals the defining sum out(y, x) = Σ k(j, i)·in(y + j − c, x + i − c) with reflect-101 borders."""
    from genrefocus_video.render.convolve import correlate

    rng = np.random.default_rng(size)
    x = rng.random((37, 45, 4), dtype=np.float32)
    k = rng.random((size, size)).astype(np.float32)
    k /= k.sum()
    c = size // 2
    iy = np.abs(np.arange(-c, 37 + c)) % 72
    iy = np.where(iy < 37, iy, 72 - iy)
    ix = np.abs(np.arange(-c, 45 + c)) % 88
    ix = np.where(ix < 45, ix, 88 - ix)
    xp = x.astype(np.float64)[iy][:, ix]
    ref = sum(k[j, i] * xp[j:j + 37, i:i + 45] for j in range(size) for i in range(size))
    np.testing.assert_allclose(correlate(x, k), ref, atol=2e-6)


def test_bands_match_whole_frame():
    img, disp = _scene(H=120)
    whole = render_bokeh(img, disp, 0.5, 16.0, "disc")
    banded = render_bokeh(img, disp, 0.5, 16.0, "disc", tile=40)
    assert np.abs(whole - banded).mean() < 2e-3


def test_draft_is_a_close_preview():
    img, disp = _scene(H=96, W=128)
    full = render_bokeh(img, disp, 0.1, 20.0, "disc")
    draft = render_bokeh(img, disp, 0.1, 20.0, "disc", draft=0.5)
    assert draft.shape == full.shape and draft.dtype == np.float32
    assert np.abs(np.clip(draft, 0, 1) - np.clip(full, 0, 1)).mean() < 0.05


def test_chromatic_fringing_separates_channels_and_cats_eye_clips_corners():
    img = np.zeros((96, 160, 3), np.float32)
    img[48, 80] = 100.0
    img[8, 8] = 100.0  # a point near the corner
    disp = np.zeros((96, 160), np.float32)
    plain = render_bokeh(img, disp, 0.5, 20.0, "disc")
    chrom = render_bokeh(img, disp, 0.5, 20.0, "disc", chromatic=1.0)
    # longitudinal CA: behind the focus plane blue (focused nearer the lens) spreads wider than red
    area = lambda ch: (ch[30:66, 62:98] > 1e-3).sum()
    assert area(chrom[..., 2]) > area(chrom[..., 1]) > area(chrom[..., 0])
    front = render_bokeh(img, np.ones_like(disp), 0.5, 20.0, "disc", chromatic=1.0)
    assert area(front[..., 0]) > area(front[..., 1]) > area(front[..., 2])  # and the other way in front
    np.testing.assert_allclose(chrom[24:72, 56:104].sum(axis=(0, 1)), 100.0, rtol=1e-4)  # energy per channel
    cat = render_bokeh(img, disp, 0.5, 20.0, "disc", cats_eye=1.0)
    corner = lambda x: (x[:30, :30, 1] > x[:30, :30, 1].max() * 0.3).sum()
    centre = lambda x: (x[30:66, 62:98, 1] > x[30:66, 62:98, 1].max() * 0.3).sum()
    assert corner(cat) < 0.8 * corner(plain)  # the corner bokeh is clipped to a cat's eye
    assert abs(centre(cat) - centre(plain)) <= 0.1 * centre(plain)  # the centre one barely


def test_highlight_recovery_makes_clipped_lights_bloom():
    img = np.full((64, 64, 3), 0.05, np.float32)
    img[32, 32] = 1.0  # a clipped light
    rec = recover_highlights(img, 0.9, 8.0)
    assert rec[32, 32, 0] == pytest.approx(8.0) and rec[0, 0, 0] == pytest.approx(0.05)
    disp = np.zeros((64, 64), np.float32)
    dull = render_bokeh(img, disp, 0.5, 20.0, "disc")
    bright = render_bokeh(img, disp, 0.5, 20.0, "disc", highlight_recover=True, highlight_gain=8.0)
    assert bright[32, 36, 0] > 3 * dull[32, 36, 0] - 0.05 * 2


def test_explain_writes_blur_map_and_overlay(tmp_path):
    img, disp = _scene()
    files = write_explain(tmp_path / "explain", 7, img, disp, 0.5, 10.0)
    png = cv2.imread(files["blur_png"])
    assert png.shape == (72, 96, 3)
    meta = json.loads(open(files["json"]).read())
    r = 10.0 * (disp - 0.5)
    assert meta["r_min_px"] == pytest.approx(float(r.min()), abs=1e-5)
    import OpenEXR

    with OpenEXR.File(files["blur_exr"]) as f:
        exr = np.asarray(f.channels()["Y"].pixels)
    np.testing.assert_allclose(exr, r, atol=1e-6)
    over = cv2.imread(files["focus_png"])[..., ::-1]
    infocus = np.abs(r) <= 1.0
    assert over[infocus][:, 1].mean() > over[~infocus][:, 1].mean()  # in-focus pixels tinted green
    assert not list((tmp_path / "explain").glob(".*.partial*"))


def test_backend_selection_on_a_cuda_machine(monkeypatch):
    import genrefocus_video.render.api as api

    monkeypatch.setattr(api, "_cuda_available", lambda: True)
    assert api._resolve_backend({}) == ("torch", "cuda")
    assert api._resolve_backend({"backend": "numpy"}) == ("numpy", "cpu")
    assert api._resolve_backend({"device": "cpu"}) == ("numpy", "cpu")
    assert api._resolve_backend({"backend": "torch", "device": "cpu"}) == ("torch", "cpu")
    monkeypatch.setattr(api, "_cuda_available", lambda: False)
    assert api._resolve_backend({}) == ("numpy", "cpu")
    from genrefocus_video.errors import BackendUnavailableError

    with pytest.raises(BackendUnavailableError):
        api._resolve_backend({"device": "cuda"})


def test_plan_maps_in_two_row_halves_equal_one_pass():
    """Big frames map the layer coordinate and layer boxes in two row halves (threads): same plan."""
    from genrefocus_video.optics import make_aperture
    from genrefocus_video.render.plan import PARALLEL_MIN_PIXELS, Spacing, make_plan

    H, W = 720, 720
    assert H * W >= PARALLEL_MIN_PIXELS
    yy, xx = np.mgrid[:H, :W]
    r = (20.0 * np.sin(xx / 90.0) * np.cos(yy / 70.0)).astype(np.float32)
    r[300:420, 100:260] = 14.5  # a card: a box that only some rows hold
    one = make_plan(r, make_aperture("disc"), Spacing(), threads=1)
    two = make_plan(r, make_aperture("disc"), Spacing(), threads=2)
    np.testing.assert_array_equal(one.u, two.u)
    assert [(L.index, L.roi) for L in one.layers] == [(L.index, L.roi) for L in two.layers]


_HEAP_CHILD = """
import resource, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_render_backends import _scene
from genrefocus_video import render_bokeh
from genrefocus_video.render import alloc
if sys.argv[2] == "off":
    alloc._done = False  # as if the settings were unavailable ...
    import ctypes
    # ... with glibc's initial mmap threshold (128 KiB) held fixed: left dynamic, glibc raises it to
    # the largest block freed so far, and whether a later temporary is mmapped afresh then depends
    # on the allocation history (the renderer's temporaries are strips and bands, mostly smaller
    # than a layer), so the contrast would be a matter of luck
    ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)
img, disp = _scene(H=360, W=640)
first = render_bokeh(img, disp, 0.5, 16.0, "disc")
for _ in range(3):  # steady state: the layer threads' heaps have grown to a frame's needs
    render_bokeh(img, disp, 0.5, 16.0, "disc")
faults = []
for _ in range(3):  # the least of three: a render whose threads met their grown heaps
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    again = render_bokeh(img, disp, 0.5, 16.0, "disc")
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(min(faults), int(np.array_equal(first, again)))
"""


def test_frame_temporaries_reuse_heap_pages():
    """render.alloc keeps freed frame-sized blocks in the heap (glibc): in a fresh process a render
    of a frame seen before page-faults almost no memory in, while without the settings it faults
    in thousands of pages (one per 4 KiB of each layer temporary); the pixels are the same.
    (A child process: malloc state is per process, and the suite's own threads and arenas vary.)"""
    import subprocess
    import sys
    from pathlib import Path

    from genrefocus_video.render.alloc import apply_memory_policy

    if not apply_memory_policy():
        pytest.skip("not glibc: malloc settings unavailable")
    here = str(Path(__file__).resolve().parent)

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _HEAP_CHILD, here, mode], capture_output=True, text=True,
                             check=True, cwd=str(Path(here).parent)).stdout.split()
        assert out[1] == "1"  # same pixels
        return int(out[0])

    layer_pages = 360 * 640 * 16 // 4096  # one RGBA float32 temporary
    on, off = faults("on"), faults("off")
    assert on < layer_pages < off, (on, off)


@pytest.mark.parametrize("s", [2, 3])
def test_sparse_capped_layer_gives_the_block_means_of_the_dense_copy(s):
    """A reduced-scale layer's capped colour is kept as sparse changes (render.cpu.CapDelta); its
    block means equal those of the dense capped copy, replicated padding rows and columns included."""
    from genrefocus_video.render.cpu import CapDelta, _block_mean, _pad_to, downsample

    rng = np.random.default_rng(s)
    h, w = 3 * s + 1, 4 * s + (s - 1)  # not multiples of s: the last block is padded
    layer = rng.random((h, w, 4), dtype=np.float32)
    known = rng.random((h, w), dtype=np.float32)
    py = np.array([0, h - 1, h - 1, 2, h // 2])
    px = np.array([0, w - 1, 1, w - 1, w // 2])
    capped = layer.copy()
    capped[py, px] = rng.random((5, 4), dtype=np.float32) * 0.5
    _, _, sparse = downsample(layer, known, CapDelta(py, px, capped[py, px] - layer[py, px]), s)
    np.testing.assert_allclose(sparse, _block_mean(_pad_to(capped, s), s), atol=1e-6)


@pytest.mark.parametrize("shape", [(37, 45, 4), (36, 45, 4), (37, 44), (3, 45, 4), (37, 2)])
def test_block_means_without_padding_copy_equal_the_padded_definition(shape):
    """block_mean_padded averages whole blocks straight from the layer and pads only the last partial
    block row/column: bit for bit the replicate-pad-then-average definition the backends share."""
    from genrefocus_video.render.cpu import _block_mean, _pad_to, block_mean_padded

    x = np.random.default_rng(len(shape)).random(shape, dtype=np.float32)
    for s in (2, 3, 4):
        np.testing.assert_array_equal(block_mean_padded(x, s), _block_mean(_pad_to(x, s), s))

"""Focus range (depth of field kept sharp): r = K·sign(d − a)·max(|d − a| − w/2, 0), optics.coc.

Expectations are analytic: inside the band nothing blurs (the frame comes back unchanged); outside
it a plane blurs exactly as much as with the focus moved to the band's near edge, so the render
must equal the plain render with that focus.
"""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.cli import main
from genrefocus_video.optics.coc import blur_reach, signed_blur
from genrefocus_video.render.explain import write_explain


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(5)
    img = rng.random((40, 56, 3)).astype(np.float32)
    img[20, 28] = 30.0  # a point light
    return img


def test_signed_blur_formula():
    d = np.array([0.2, 0.45, 0.5, 0.55, 0.9], np.float32)
    np.testing.assert_allclose(signed_blur(d, 0.5, 10.0), 10 * (d - 0.5), atol=1e-6)
    np.testing.assert_allclose(signed_blur(d, 0.5, 10.0, focus_range=0.2), [-2.0, 0.0, 0.0, 0.0, 3.0], atol=1e-6)
    assert blur_reach(0.2, 0.9, 0.5, 10.0, 0.2) == pytest.approx(3.0)
    assert blur_reach(0.45, 0.55, 0.5, 10.0, 0.2) == 0.0


def test_two_planes_inside_the_band_stay_sharp(image):
    """A subject spread over two depths (0.50 and 0.56) with the focus between them: without a
    range both halves blur; with a range covering both the frame is returned unchanged."""
    d = np.full(image.shape[:2], 0.50, np.float32)
    d[:, 28:] = 0.56
    plain = render_bokeh(image, d, 0.53, 40.0)
    assert np.abs(plain - image).max() > 0.05
    kept = render_bokeh(image, d, 0.53, 40.0, focus_range=0.08)
    np.testing.assert_allclose(kept, image, atol=1e-6)


@pytest.mark.parametrize("d_plane,shifted_focus", [(0.85, 0.60), (0.15, 0.40)])  # in front of / behind the band
def test_a_plane_outside_the_band_blurs_as_with_the_focus_at_the_band_edge(image, d_plane, shifted_focus):
    d = np.full(image.shape[:2], d_plane, np.float32)
    with_range = render_bokeh(image, d, 0.5, 20.0, "hexagon", focus_range=0.2)
    moved_focus = render_bokeh(image, d, shifted_focus, 20.0, "hexagon")
    np.testing.assert_array_equal(with_range, moved_focus)
    assert np.abs(with_range - image).max() > 0.05


def test_blur_reach_check_counts_the_band():
    """A depth range whose raw reach exceeds the frame is fine when the band takes most of it."""
    img = np.zeros((16, 16, 3), np.float32)
    d = np.tile(np.linspace(0.0, 1.0, 16, dtype=np.float32), (16, 1))
    with pytest.raises(Exception, match="blur radius reaches"):
        render_bokeh(img, d, 0.5, 40.0)
    render_bokeh(img, d, 0.5, 40.0, focus_range=0.9)  # reach 40 · 0.05 = 2 px


def test_explain_map_shows_the_band(tmp_path, image):
    d = np.tile(np.linspace(0.3, 0.7, image.shape[1], dtype=np.float32), (image.shape[0], 1))
    import json

    files = write_explain(tmp_path, 0, image, d, 0.5, 10.0, focus_range=0.1)
    meta = json.loads(open(files["json"]).read())
    assert meta["focus_range"] == 0.1
    assert meta["r_max_px"] == pytest.approx(10 * (0.7 - 0.55), abs=1e-4)
    assert meta["in_focus_fraction"] > 0.35  # the band (a quarter of the ramp) plus the ±1 px tolerance


def test_cli_focus_range_reaches_the_render(tmp_path):
    """A constant-depth clip whose plane lies inside the band is written back unchanged (FFV1)."""
    import subprocess

    from test_pipeline_kit import read_all

    src = str(tmp_path / "src.mkv")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=0.125", "-c:v", "ffv1",
                    "-pix_fmt", "gbrp16le", src], check=True)
    depth = tmp_path / "d.npy"
    np.save(depth, np.full((48, 64), 0.53, np.float32))
    outs = {}
    for w in ("0", "0.1"):
        outs[w] = str(tmp_path / f"o{w}.mkv")
        assert main(["render", src, "-o", outs[w], "--depth", str(depth), "--focus-disparity", "0.5", "--k", "60",
                     "--focus-range", w, "--codec", "ffv1", "--no-progress"]) == 0
    ref = read_all(src)
    assert np.abs(read_all(outs["0"]) - ref).max() > 0.02
    np.testing.assert_allclose(read_all(outs["0.1"]), ref, atol=2e-4)  # the codec round trip only

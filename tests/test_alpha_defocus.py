"""Inputs with alpha: a CG element over transparency defocuses as premultiplied colour + coverage.

Independent expectation: a single flat element (one colour, one depth) blurred by a camera is
the element's premultiplied colour and its coverage convolved with the same kernel, so the
output's straight colour stays the element's colour wherever it has coverage, and its alpha is
the blurred coverage — whose total equals the element's area (a lens moves light, it does not
create or remove it).
"""
from __future__ import annotations

import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.cli import main
from genrefocus_video.render.api import render_bokeh_rgba

H, W = 96, 128
COLOUR = np.array([0.8, 0.3, 0.1], np.float32)


def element() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An anti-aliased disc of COLOUR at disparity 0.8; elsewhere transparent (straight colour junk)."""
    ss = 4
    yy, xx = np.mgrid[:H * ss, :W * ss] / ss
    cover = ((yy - 48) ** 2 + (xx - 64) ** 2 < 25 ** 2).astype(np.float32)
    a = cover.reshape(H, ss, W, ss).mean(axis=(1, 3))
    rgb = np.where(a[..., None] > 0, COLOUR, np.float32([0.0, 1.0, 0.0])).astype(np.float32)  # green junk outside
    d = np.where(a > 0.5, 0.8, 0.0).astype(np.float32)
    return rgb, a.astype(np.float32), d


@pytest.mark.parametrize("focus", [0.0, 0.4])
def test_defocused_element_keeps_its_colour_and_its_coverage(focus):
    rgb, a, d = element()
    out, out_a = render_bokeh_rgba(rgb, a, d, focus, 20.0, "hexagon")
    assert out_a.sum() == pytest.approx(a.sum(), rel=0.01)  # coverage moved, not created
    soft = (out_a > 0.02) & (out_a < 0.98)
    assert soft.sum() > 3 * ((a > 0.02) & (a < 0.98)).sum()  # the edge really got soft, in the alpha
    m = out_a > 0.05
    np.testing.assert_allclose(out[m], np.broadcast_to(COLOUR, out[m].shape), atol=0.003)  # no green junk
    # the old behaviour for comparison: colour refocused alone pulls the transparent junk in
    plain = render_bokeh(rgb, d, focus, 20.0, "hexagon")
    assert np.abs(plain[m] - COLOUR).max() > 0.05


def test_opaque_alpha_is_the_plain_render():
    rng = np.random.default_rng(0)
    img = rng.random((40, 56, 3)).astype(np.float32)
    d = np.tile(np.linspace(0, 1, 56, dtype=np.float32), (40, 1))
    out, out_a = render_bokeh_rgba(img, np.ones((40, 56), np.float32), d, 0.5, 12.0)
    assert np.array_equal(out, render_bokeh(img, d, 0.5, 12.0)) and (out_a == 1).all()


@pytest.mark.parametrize("mode", ["defocus", "keep"])
def test_rgba_exr_sequence_through_the_cli(tmp_path, mode):
    import OpenEXR

    rgb, a, _ = element()
    pre = rgb * a[..., None]
    chans = {"R": pre[..., 0], "G": pre[..., 1], "B": pre[..., 2], "A": a}
    for i in range(2):
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, chans) as f:
            f.write(str(tmp_path / f"el.{i:04d}.exr"))
    np.save(tmp_path / "d.npy", np.where(a > 0.5, 0.8, 0.0).astype(np.float32))
    assert main(["render", str(tmp_path / "el.%04d.exr"), "-o", str(tmp_path / "o.%04d.exr"), "--depth",
                 str(tmp_path / "d.npy"), "--focus-disparity", "0", "--k", "20", "--alpha", mode, "--no-exr-half",
                 "--no-progress"]) == 0
    with OpenEXR.File(str(tmp_path / "o.0001.exr"), separate_channels=True) as f:
        out_a = f.channels()["A"].pixels
    if mode == "keep":
        np.testing.assert_array_equal(out_a, a)
    else:
        assert out_a.sum() == pytest.approx(a.sum(), rel=0.01) and ((out_a > 0.02) & (out_a < 0.98)).sum() > 300


def test_exr_aovs_pass_through_untouched(tmp_path):
    """An EXR plate's other channels (depth, normals, ID mattes) reach an EXR output bit for bit, in
    their stored types; the colour is refocused; a video output simply has no room for them."""
    import OpenEXR

    rgb, a, d = element()
    rng = np.random.default_rng(3)
    aovs = {"depth.Z": (1.0 / np.maximum(d, 0.05)).astype(np.float32),
            "N.x": rng.random((H, W)).astype(np.float16),
            "crypto.R": rng.integers(0, 2 ** 20, (H, W)).astype(np.float32) * np.float32(1.7e-3)}
    for i in range(2):
        chans = {"R": rgb[..., 0] * a, "G": rgb[..., 1] * a, "B": rgb[..., 2] * a, "A": a, **aovs}
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, chans) as f:
            f.write(str(tmp_path / f"p.{i:04d}.exr"))
    from genrefocus_video.io.probe import describe, probe

    text = describe(probe(str(tmp_path / "p.%04d.exr")))
    assert "also N.x, crypto.R, depth.Z (passed through to EXR outputs; --depth on this file reads depth.Z)" in text
    common = ["--depth", str(tmp_path / "p.%04d.exr"), "--depth-kind", "depth", "--focus-depth", "20", "--k", "2",
              "--no-progress"]
    assert main(["render", str(tmp_path / "p.%04d.exr"), "-o", str(tmp_path / "o.%04d.exr")] + common) == 0
    with OpenEXR.File(str(tmp_path / "o.0001.exr"), separate_channels=True) as f:
        ch = {k: v.pixels for k, v in f.channels().items()}
    assert set(ch) == {"R", "G", "B", "A", *aovs}
    for name, plane in aovs.items():
        assert ch[name].dtype == plane.dtype and np.array_equal(ch[name], plane), name
    assert np.abs(ch["A"].astype(np.float32) - a).max() > 0.05  # the alpha itself was defocused
    assert main(["render", str(tmp_path / "p.%04d.exr"), "-o", str(tmp_path / "o.mov"), "--codec", "prores_4444"]
                + common) == 0

"""Depth files -> disparity at frame size: formats, kinds, edge-aware resampling, errors."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.io.depthio import open_depth, resample_edge_aware
from genrefocus_video.io.images import write_image

W, H = 64, 48


def depth_map(seed: int = 0) -> np.ndarray:
    """Metric depth in metres: a near box (1 m) over a far slanted wall (4..6 m)."""
    xx = np.mgrid[0:H, 0:W][1].astype(np.float32)
    z = 4.0 + 2.0 * xx / W
    z[10:30, 20 + seed: 40 + seed] = 1.0
    return z.astype(np.float32)


def test_exr_depth_kind_depth_gives_inverse(tmp_path):
    for i in range(3):
        write_image(str(tmp_path / f"z.{i:04d}.exr"), depth_map(i)[..., None], exr_half=False)
    seq = open_depth(str(tmp_path / "z.%04d.exr"), kind="depth", size=(W, H))
    assert seq.n_frames == 3
    for i in range(3):
        np.testing.assert_allclose(seq.read(i), 1.0 / depth_map(i), rtol=1e-6)
    with pytest.raises(InputError, match="3 frames; frame 3"):
        seq.read(3)


def test_png16_disparity_with_scale_and_normalized(tmp_path):
    disp = (1.0 / depth_map()).astype(np.float32)
    codes = np.round(disp * 60000).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), codes)
    seq = open_depth(str(tmp_path / "d.png"), kind="disparity", scale=1 / 60000, size=(W, H))
    assert seq.n_frames is None  # one map reused for every frame
    np.testing.assert_allclose(seq.read(7), codes / 60000.0, rtol=1e-5)
    # normalized: 16-bit codes / 65535 in [0,1], 1 = near (1 m), 0 = far (10 m), linear in depth
    v = np.linspace(0, 1, W, dtype=np.float32)[None].repeat(H, 0)
    cv2.imwrite(str(tmp_path / "n.png"), np.round(v * 65535).astype(np.uint16))
    n = open_depth(str(tmp_path / "n.png"), kind="normalized", near=1.0, far=10.0, size=(W, H)).read(0)
    np.testing.assert_allclose(n, 1.0 / (10.0 + v * (1.0 - 10.0)), rtol=1e-4)
    with pytest.raises(ConfigError, match="near"):
        open_depth(str(tmp_path / "n.png"), kind="normalized", size=(W, H))


def test_npy_and_pfm(tmp_path):
    stack = np.stack([1.0 / depth_map(i) for i in range(4)]).astype(np.float32)
    np.save(tmp_path / "d.npy", stack)
    seq = open_depth(str(tmp_path / "d.npy"), size=(W, H))
    assert seq.n_frames == 4
    np.testing.assert_array_equal(seq.read(2), stack[2])
    write_image(str(tmp_path / "d.pfm"), stack[1][..., None])
    np.testing.assert_array_equal(open_depth(str(tmp_path / "d.pfm"), size=(W, H)).read(0), stack[1])
    # PFM written by hand (big-endian, bottom-to-top rows) to check the reader against the spec
    with open(tmp_path / "be.pfm", "wb") as fh:
        fh.write(f"Pf\n{W} {H}\n1.0\n".encode())
        np.flipud(stack[3]).astype(">f4").tofile(fh)
    np.testing.assert_array_equal(open_depth(str(tmp_path / "be.pfm"), size=(W, H)).read(0), stack[3])


def test_grayscale_video_depth(tmp_path):
    path = str(tmp_path / "depth.mkv")
    vals = [np.tile(np.arange(W, dtype=np.uint16) * 1000, (H, 1)) + 100 * i for i in range(3)]
    with av.open(path, "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "gray16le"
        for i, v in enumerate(vals):
            f = av.VideoFrame.from_ndarray(v, format="gray16le")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    seq = open_depth(path, kind="disparity", scale=1 / 1000, size=(W, H))
    for i in (0, 2, 1):  # going back re-opens the video
        np.testing.assert_allclose(seq.read(i), vals[i] / 1000.0, rtol=1e-6)
    seq.close()


def test_edge_aware_resampling_never_mixes_layers():
    src = np.full((H, W), 0.2, np.float32)  # background disparity
    src[12:36, 16:40] = 1.0  # foreground box
    for size in ((150, 113), (32, 24), (97, 73)):
        out = resample_edge_aware(src, *size)
        assert out.shape == (size[1], size[0])
        values = np.unique(out)
        assert (np.isclose(values, 0.2, atol=1e-6) | np.isclose(values, 1.0, atol=1e-6)).all(), values  # no mix
        # the box lands where it should (nearest mapping)
        sx, sy = size[0] / W, size[1] / H
        assert out[int(24 * sy), int(28 * sx)] == pytest.approx(1.0)
        assert out[int(2 * sy), int(2 * sx)] == pytest.approx(0.2)
    # smooth regions are still interpolated smoothly (not blocky)
    ramp = np.tile(np.linspace(1.0, 1.04, W, dtype=np.float32), (H, 1))
    up = resample_edge_aware(ramp, 4 * W, 4 * H)
    assert len(np.unique(up[0])) > 2 * W


def test_zero_depth_is_filled_from_nearest_valid(tmp_path):
    z = depth_map()
    z[0:5, :] = 0.0  # sensor holes at the top border
    np.save(tmp_path / "z.npy", z)
    d = open_depth(str(tmp_path / "z.npy"), kind="depth", size=(W, H)).read(0)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d[0:5], np.broadcast_to(d[5], (5, W)), rtol=1e-6)


def test_rgbd_real_depth_png(shared_data):
    f = shared_data / "rgbd_open3d" / "depth" / "00000.png"
    if not f.exists():
        pytest.skip("rgbd depth frame not present")
    d = open_depth(str(f), kind="depth", scale=0.001, size=(320, 240)).read(0)
    assert d.shape == (240, 320) and np.isfinite(d).all() and d.min() > 0
    assert 0.05 < float(np.median(d)) < 5.0  # a living room: 0.2..20 m


@pytest.mark.parametrize("bad", ["nan", "inf", "neg"])
def test_nan_inf_negative_errors_name_file_and_frame(tmp_path, bad):
    stack = np.stack([1.0 / depth_map(i) for i in range(3)]).astype(np.float32)
    stack[1, 4, 5] = {"nan": np.nan, "inf": np.inf, "neg": -0.5}[bad]
    np.save(tmp_path / "bad.npy", stack)
    seq = open_depth(str(tmp_path / "bad.npy"), size=(W, H))
    seq.read(0)
    with pytest.raises(InputError) as e:
        seq.read(1)
    msg = str(e.value)
    assert "bad.npy" in msg and "frame 1" in msg and "\n" not in msg


def test_wrong_size_and_missing(tmp_path):
    write_image(str(tmp_path / "sq.exr"), np.ones((40, 40, 1), np.float32))
    with pytest.raises(InputError, match="aspect"):
        open_depth(str(tmp_path / "sq.exr"), size=(W, H)).read(0)
    with pytest.raises(InputError, match="does not exist"):
        open_depth(str(tmp_path / "missing.exr"), size=(W, H))
    with pytest.raises(InputError, match="no files match"):
        open_depth(str(tmp_path / "d.%04d.exr"), size=(W, H))


def test_npy_per_frame_sequence(tmp_path):
    for i in range(2):
        np.save(tmp_path / f"d.{i:04d}.npy", (1.0 / depth_map(i))[..., None])
    np.save(tmp_path / "rgb.0000.npy", np.ones((H, W, 3), np.float32))
    seq = open_depth(str(tmp_path / "d.%04d.npy"), size=(2 * W, 2 * H))
    assert seq.n_frames == 2 and seq.read(1).shape == (2 * H, 2 * W)
    with pytest.raises(InputError, match="H×W"):
        open_depth(str(tmp_path / "rgb.%04d.npy"), size=(W, H)).read(0)


def _exr(path, channels: dict) -> None:
    import OpenEXR

    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels) as f:
        f.write(str(path))


def test_cg_plate_exr_with_rgb_and_z_gives_its_z_channel(tmp_path):
    """A CG plate's EXR carries RGB and depth in one file; the red channel must never be taken."""
    z = depth_map()
    rgb = np.random.default_rng(1).random((H, W)).astype(np.float32)
    for name in ("Z", "depth.Z", "zDepth"):
        _exr(tmp_path / "plate.exr", {"R": rgb, "G": rgb * 0.5, "B": rgb * 0.2, name: z})
        np.testing.assert_allclose(open_depth(str(tmp_path / "plate.exr"), kind="depth", size=(W, H)).read(0), 1 / z,
                                   rtol=1e-6, err_msg=name)
    # an explicit channel name, and a multi-part file (beauty part + depth part)
    _exr(tmp_path / "two.exr", {"R": rgb, "G": rgb, "B": rgb, "fog.V": z * 3, "depth.Z": z})
    np.testing.assert_allclose(open_depth(str(tmp_path / "two.exr"), kind="depth", size=(W, H), channel="fog.V").read(0),
                               1 / (3 * z), rtol=1e-6)
    import OpenEXR

    def hdr():  # a header per part (OpenEXR.Part keeps it)
        return {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION}

    with OpenEXR.File([OpenEXR.Part(hdr(), {"R": rgb, "G": rgb * 0.5, "B": rgb}, name="beauty"),
                       OpenEXR.Part(hdr(), {"Z": z}, name="depth")]) as f:
        f.write(str(tmp_path / "multi.exr"))
    np.testing.assert_allclose(open_depth(str(tmp_path / "multi.exr"), kind="depth", size=(W, H)).read(0), 1 / z,
                               rtol=1e-6)


def test_colour_image_as_depth_is_refused_naming_its_channels(tmp_path):
    rgb = np.random.default_rng(2).random((H, W, 3)).astype(np.float32)
    _exr(tmp_path / "beauty.exr", {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]})
    with pytest.raises(InputError, match=r"beauty.exr \(frame 0\) has channels B, G, R but none named as depth"):
        open_depth(str(tmp_path / "beauty.exr"), size=(W, H)).read(0)
    with pytest.raises(InputError, match="has no channel 'Z'; it has B, G, R"):
        open_depth(str(tmp_path / "beauty.exr"), size=(W, H), channel="Z").read(0)
    cv2.imwrite(str(tmp_path / "colour.png"), (rgb * 65535).astype(np.uint16))
    with pytest.raises(InputError, match="colour.png \\(frame 0\\) is a colour image"):
        open_depth(str(tmp_path / "colour.png"), size=(W, H)).read(0)
    # one channel of it on request; a greyscale map saved as RGB is fine as it is
    g = open_depth(str(tmp_path / "colour.png"), size=(W, H), channel="G").read(0)
    np.testing.assert_allclose(g, (rgb[..., 1] * 65535).astype(np.uint16), atol=0.5)
    grey = np.repeat((depth_map() * 1000).astype(np.uint16)[..., None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "grey_rgb.png"), grey)
    np.testing.assert_allclose(open_depth(str(tmp_path / "grey_rgb.png"), kind="depth", scale=0.001, size=(W, H)).read(0),
                               1 / (grey[..., 0] * 0.001), rtol=1e-6)

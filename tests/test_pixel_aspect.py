"""Non-square pixels (sample aspect ratio): HDV 1440x1080 at 4:3, flagged 2x anamorphic, NTSC DV.

A player stretches such a clip to its display aspect. The output must keep the flag (or it plays
squeezed), bokeh must be round on the display (not in stored pixels), and the geometry that
depends on pixel size (motion-depth intrinsics, K from a physical camera, the pictures made for
people) must use display units. Expectations are analytic or come from ffprobe / the OpenEXR
header, not from the code under test.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import cv2
import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.cli import main
from genrefocus_video.depth.motion import intrinsics, triangulate_flow
from genrefocus_video.io.reader import open_reader
from media_helpers import audio_digest, clip_with_tone

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe programs not installed")


def ffprobe_video(path: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def _spread(img: np.ndarray) -> tuple[float, float]:
    """Standard deviation (px) of the green channel's distribution across x and down y."""
    w = img[..., 1].astype(np.float64)
    w = w / w.sum()
    yy, xx = np.mgrid[:w.shape[0], :w.shape[1]]
    cx, cy = (w * xx).sum(), (w * yy).sum()
    return float(np.sqrt((w * (xx - cx) ** 2).sum())), float(np.sqrt((w * (yy - cy) ** 2).sum()))


@pytest.mark.parametrize("k", [6.0, 20.0])  # below and above the multi-resolution knee (8 px)
@pytest.mark.parametrize("pixel_aspect", [4 / 3, 10 / 11, 2.0])
def test_point_light_bokeh_is_round_on_the_display(k, pixel_aspect):
    """A disc of radius R has a standard deviation of R/2 along each axis. With pixels p times as
    wide as tall it must span R/2 pixel heights down and R/(2p) stored pixels across."""
    img = np.zeros((81, 81, 3), np.float32)
    img[40, 40] = 1.0
    d = np.zeros((81, 81), np.float32)
    out = render_bokeh(img, d, 1.0, k, "disc", pixel_aspect=pixel_aspect)
    sx, sy = _spread(out)
    assert sy == pytest.approx(k / 2, rel=0.02, abs=0.05)
    assert sx == pytest.approx(k / 2 / pixel_aspect, rel=0.02, abs=0.05)
    np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-7)  # grey stays grey
    assert out[..., 1].sum() == pytest.approx(1.0, rel=1e-5)  # energy kept


def test_square_pixels_are_unchanged_and_backends_agree():
    rng = np.random.default_rng(0)
    img = rng.random((48, 64, 3)).astype(np.float32)
    d = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    assert np.array_equal(render_bokeh(img, d, 0.5, 9.0, "hexagon"), render_bokeh(img, d, 0.5, 9.0, "hexagon", pixel_aspect=1.0))
    pytest.importorskip("torch")
    for opts in ({}, {"cats_eye": 0.6}, {"chromatic": 0.5}):
        a = render_bokeh(img, d, 0.5, 14.0, "heart", pixel_aspect=0.9, backend="numpy", **opts)
        b = render_bokeh(img, d, 0.5, 14.0, "heart", pixel_aspect=0.9, backend="torch", device="cpu", **opts)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        assert np.abs(a - render_bokeh(img, d, 0.5, 14.0, "heart", backend="numpy", **opts)).max() > 1e-3


def test_bad_pixel_aspect_is_refused_with_its_name():
    img = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(Exception, match="pixel_aspect"):
        render_bokeh(img, np.zeros((8, 8), np.float32), 0.0, 2.0, pixel_aspect=0.0)


def test_motion_triangulation_with_non_square_pixels_recovers_inverse_depth():
    """Pinhole camera, pure translation t, stored pixels twice as wide as tall (fx = fy / 2): the
    flow of a point at depth Z is (fx tx / Z, fy ty / Z); triangulation must return 1/Z."""
    h, w, f, p = 24, 32, 40.0, 2.0
    K = intrinsics(w, h, f, pixel_aspect=p)
    assert K[0, 0] == pytest.approx(f / p) and K[1, 1] == pytest.approx(f)
    Z = np.random.default_rng(1).uniform(2.0, 9.0, (h, w))
    t = np.array([0.6, 0.8, 0.0])
    flow = np.stack([K[0, 0] * t[0] / Z, K[1, 1] * t[1] / Z], axis=-1).astype(np.float32)
    rho, res, _ = triangulate_flow(flow, np.eye(3), t, K)
    np.testing.assert_allclose(rho, 1.0 / Z, rtol=1e-4)
    assert float(res.max()) < 1e-3


@needs_ffmpeg
def test_clip_flag_is_read_kept_in_the_output_and_rotation_swaps_it(tmp_path):
    src = str(tmp_path / "hdv.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=96x72:r=24:d=0.25",
                    "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p", src], check=True)
    with open_reader(src) as r:
        assert r.info.pixel_aspect == Fraction(4, 3)
    out = str(tmp_path / "out.mov")
    assert main(["render", src, "-o", out, "--k", "4", "--depth-source", "motion", "--focus-disparity", "0.5",
                 "--codec", "prores"]) == 0
    s = ffprobe_video(out)
    assert (s["width"], s["height"], s["sample_aspect_ratio"], s["display_aspect_ratio"]) == (96, 72, "4:3", "16:9")
    # a phone-style display matrix on the same stream: frames come out upright, and a stored pixel's
    # width is now its height
    rot = str(tmp_path / "rot.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-c", "copy", "-metadata:s:v:0", "rotate=90", rot], check=True)
    with open_reader(rot) as r:
        assert (r.info.width, r.info.height, r.info.pixel_aspect) == (72, 96, Fraction(3, 4))


@needs_ffmpeg
def test_override_reaches_chunked_video_and_exr_outputs_and_the_contact_sheet(tmp_path):
    """--pixel-aspect 2 on a square-pixel clip: the chunked farm join keeps the flag, EXR frames
    carry pixelAspectRatio, and the contact sheet shows frames at their display aspect."""
    import OpenEXR

    src = str(tmp_path / "sq.mkv")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=0.25",
                    "-c:v", "ffv1", src], check=True)
    common = ["--k", "3", "--depth-source", "motion", "--focus-disparity", "0.5", "--pixel-aspect", "2"]
    out = str(tmp_path / "farm.mkv")
    sheet = str(tmp_path / "sheet.png")
    preview = str(tmp_path / "preview.mp4")
    assert main(["render", src, "-o", out, "--chunks", "2", "--contact-sheet", sheet, "--contact-frames", "2",
                 "--depth-preview", preview] + common) == 0
    s = ffprobe_video(out)
    assert (s["sample_aspect_ratio"], s["display_aspect_ratio"]) == ("2:1", "8:3")
    p = ffprobe_video(preview)  # frame | depth side by side, joined from the chunks' segments
    assert (p["width"], p["sample_aspect_ratio"]) == (128, "2:1")
    thumb_h = round(48 * 320 / (64 * 2))  # 320 px wide thumbnails of a 128x48 display frame
    sheet_img = cv2.imread(sheet)
    assert sheet_img.shape[0] == 2 * (thumb_h + 22 + 8)  # two frames, one column: thumbnail + caption + margins
    # a single pass into Matroska (FFV1 has no aspect field of its own): flag recorded, audio
    # carried bit for bit through the copy that records it
    toned = clip_with_tone(src, str(tmp_path / "toned.mkv"), 6)
    single = str(tmp_path / "single.mkv")
    assert main(["render", toned, "-o", single] + common) == 0
    s = ffprobe_video(single)
    assert (s["codec_name"], s["sample_aspect_ratio"]) == ("ffv1", "2:1")
    assert audio_digest(single) == audio_digest(toned)
    assert not list(tmp_path.glob(".single*"))  # no temp file left by the extra copy
    seq = str(tmp_path / "frames.%04d.exr")
    assert main(["render", src, "-o", seq, "--last-frame", "1"] + common) == 0
    with OpenEXR.File(str(tmp_path / "frames.0000.exr")) as f:
        assert f.header()["pixelAspectRatio"] == pytest.approx(2.0)
    with open_reader(seq) as r:  # and the flag is read back from the EXR header
        assert r.info.pixel_aspect == 2


def test_physical_camera_k_uses_the_display_width():
    """The sensor spans the display width: K (pixel heights) from a thin lens grows with p."""
    from genrefocus_video.io.frame import ClipInfo
    from genrefocus_video.params.job import load_job
    from genrefocus_video.pipeline.stages.render import resolve_k

    job = load_job(overrides={"blur.focal_length_mm": 50.0, "blur.f_number": 2.0, "blur.sensor_width_mm": 36.0})
    square = resolve_k(job, ClipInfo(path="x", kind="video", width=1440, height=1080))
    hdv = resolve_k(job, ClipInfo(path="x", kind="video", width=1440, height=1080, pixel_aspect=Fraction(4, 3)))
    assert hdv == pytest.approx(square * 4 / 3)

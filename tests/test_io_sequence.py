"""Image sequences and stills: EXR half/float, 16-bit PNG/TIFF, patterns, globs, numbering."""
from __future__ import annotations

import os

import numpy as np
import pytest

from genrefocus_video import colour
from genrefocus_video.errors import InputError, OutputError
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.writer import open_writer

W, H = 64, 48


def frames(n: int, seed: int = 0, hdr: bool = True) -> list[Frame]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rgb = rng.random((H, W, 3)).astype(np.float32)
        if hdr:
            rgb = (rgb * 20.0 - 1.0).astype(np.float32)  # super-whites and negatives are legal in EXR
        out.append(Frame(i, rgb))
    return out


def like(**kw) -> ClipInfo:
    base = dict(path="", kind="sequence", width=W, height=H, transfer="linear", metadata={"start_number": "1001"})
    base.update(kw)
    return ClipInfo(**base)


def test_exr_float_sequence_round_trips_exactly(tmp_path):
    src = frames(3)
    with open_writer(str(tmp_path / "shot.%04d.exr"), like(), exr_half=False) as w:
        for f in src:
            w.write(f)
    assert sorted(os.listdir(tmp_path)) == ["shot.1001.exr", "shot.1002.exr", "shot.1003.exr"]
    for pattern in ("shot.%04d.exr", "shot.####.exr", "shot.*.exr"):
        with open_reader(str(tmp_path / pattern)) as r:
            assert (r.info.kind, r.info.n_frames, r.info.transfer, len(r)) == ("sequence", 3, "linear", 3)
            got = list(r)
        for a, b in zip(src, got):
            assert a.index == b.index
            np.testing.assert_array_equal(a.rgb, b.rgb)


def test_exr_half_and_alpha(tmp_path):
    src = frames(1, hdr=False)[0]
    alpha = np.linspace(0.2, 1, W, dtype=np.float32)[None, :].repeat(H, 0)
    with open_writer(str(tmp_path / "h.%04d.exr"), like(has_alpha=True)) as w:
        w.write(Frame(0, src.rgb, alpha))
    with open_reader(str(tmp_path / "h.1001.exr")) as r:
        f = next(iter(r))
    np.testing.assert_allclose(f.alpha, alpha.astype(np.float16), rtol=1e-3)
    np.testing.assert_allclose(f.rgb, src.rgb, rtol=2e-3, atol=2e-3)  # half precision (+ premultiply)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_png_tiff_sequences(tmp_path, ext):
    src = frames(2, hdr=False)
    with open_writer(str(tmp_path / f"o.%04d.{ext}"), like(), transfer="srgb") as w:
        for f in src:
            w.write(f)
    with open_reader(str(tmp_path / f"o.%04d.{ext}")) as r:
        assert r.info.bit_depth == 16 and r.info.transfer == "srgb"
        got = list(r)
    for a, b in zip(src, got):
        code_a = colour.from_linear(a.rgb, "srgb")
        code_b = colour.from_linear(b.rgb, "srgb")
        assert np.abs(code_a - code_b).max() <= 0.6 / 65535  # 16-bit: within half a code value
    import cv2

    raw = cv2.imread(str(tmp_path / f"o.1001.{ext}"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16


def test_single_image_input_and_output(tmp_path):
    f = frames(1, hdr=False)[0]
    out = tmp_path / "still.png"
    with open_writer(str(out), like(kind="image", metadata={})) as w:
        w.write(f)
        with pytest.raises(OutputError, match="single image"):
            w.write(Frame(1, f.rgb))
    with open_reader(str(out)) as r:
        assert r.info.kind == "image" and len(r) == 1


def test_sequence_gap_and_size_errors(tmp_path):
    for i in (1, 2, 4):
        with open_writer(str(tmp_path / f"g.{i:04d}.exr"), like(kind="image", metadata={})) as w:
            w.write(frames(1)[0])
    with pytest.raises(InputError, match="gaps"):
        open_reader(str(tmp_path / "g.%04d.exr"))
    with pytest.raises(InputError, match="no files match"):
        open_reader(str(tmp_path / "none.%04d.exr"))


def test_sequence_writer_refuses_existing_frames(tmp_path):
    with open_writer(str(tmp_path / "e.%04d.exr"), like()) as w:
        w.write(frames(1)[0])
    with pytest.raises(OutputError, match="already exists"):
        with open_writer(str(tmp_path / "e.%04d.exr"), like()) as w:
            w.write(frames(1)[0])
    assert [p for p in os.listdir(tmp_path) if "partial" in p] == []


def test_sequence_to_video_keeps_high_bit_depth(tmp_path):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    smooth = np.stack([xx / W, yy / H, 0.3 + 0 * xx], axis=-1).astype(np.float32)  # survives 4:2:2
    src = [Frame(i, smooth * (0.5 + 0.5 * i)) for i in range(2)]  # within 0..1: video clips above
    with open_writer(str(tmp_path / "s.%04d.exr"), like(), exr_half=False) as w:
        for f in src:
            w.write(f)
    with open_reader(str(tmp_path / "s.%04d.exr"), fps=25) as r, open_writer(str(tmp_path / "v.mov"), r.info) as w:
        for f in r:
            w.write(f)
        assert w.codec == "prores" and w.pix_fmt == "yuv422p10le"
    with open_reader(str(tmp_path / "v.mov")) as r:
        assert r.info.transfer == "bt709"  # scene-linear EXR is not written as linear integer video
        back = list(r)
    assert abs(float(r.info.fps) - 25) < 1e-9 and len(back) == 2
    assert np.abs(back[1].rgb - src[1].rgb).mean() < 0.02


def test_exif_camera_metadata_of_a_still(tmp_path):
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    from genrefocus_video.io.probe import probe

    ex = Image.Exif()
    ifd = ex.get_ifd(0x8769)
    ifd[37386], ifd[33437], ifd[41989] = IFDRational(57, 10), IFDRational(18, 10), 26  # FocalLength, FNumber, 35mm
    Image.new("RGB", (W, H), (100, 120, 140)).save(tmp_path / "cam.jpg", exif=ex)
    info = probe(str(tmp_path / "cam.jpg"))
    assert info.kind == "image" and info.transfer == "srgb"
    assert info.camera["focal_length_mm"] == pytest.approx(5.7) and info.camera["f_number"] == pytest.approx(1.8)
    assert info.camera["sensor_width_mm"] == pytest.approx(36 * 5.7 / 26)


@pytest.mark.parametrize("orientation", [3, 6, 8, 5])
def test_exif_orientation_of_stills_is_applied(tmp_path, orientation):
    """Phone stills store pixels sideways with an EXIF Orientation tag: they must come out upright,
    exactly as Pillow's own exif_transpose shows them."""
    from PIL import Image, ImageOps

    img = np.zeros((H, W, 3), np.uint8)
    img[:16, :16] = (255, 0, 0)
    img[-8:, :, 2] = 255
    ex = Image.Exif()
    ex[274] = orientation
    path = tmp_path / "phone.png"
    Image.fromarray(img).save(path, exif=ex)
    with open_reader(str(path)) as r:
        got = next(iter(r)).rgb
    ref = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
    assert got.shape == ref.shape
    assert np.abs(colour.from_linear(got, "srgb") - ref).max() < 1e-3


def _exr_frames(folder, name: str, n: int, seed: int = 0) -> str:
    pattern = str(folder / f"{name}.%04d.exr")
    with open_writer(pattern, like(metadata={"start_number": "0"})) as w:
        for f in frames(n, seed):
            w.write(f)
    return pattern


def test_two_paddings_in_one_folder_stay_apart(tmp_path):
    """%04d reads exactly what printf writes for it (0007, 12345), not a 5-digit padded neighbour;
    %d (any number) with both paddings present names the clash instead of a bogus 'gap'."""
    from genrefocus_video.io.sequence import in_sequence, sequence_files

    p4 = _exr_frames(tmp_path, "s", 3)
    with open_writer(str(tmp_path / "s.%05d.exr"), like(metadata={"start_number": "0"})) as w:
        for f in frames(2, seed=1):
            w.write(f)
    assert [os.path.basename(f) for f in sequence_files(p4)] == ["s.0000.exr", "s.0001.exr", "s.0002.exr"]
    with open_reader(p4) as r:
        assert r.info.n_frames == 3
    with pytest.raises(InputError, match=r"frame 0 is both .*s\.0000\.exr and .*s\.00000\.exr"):
        open_reader(str(tmp_path / "s.%d.exr"))
    assert in_sequence(str(tmp_path / "s.0007.exr"), p4) and in_sequence(str(tmp_path / "s.12345.exr"), p4)
    assert not in_sequence(str(tmp_path / "s.00007.exr"), p4) and not in_sequence(str(tmp_path / "s.007.exr"), p4)
    assert not in_sequence(str(tmp_path / "t.0007.exr"), p4) and not in_sequence("/elsewhere/s.0007.exr", p4)


def test_no_output_writes_over_an_input_frame_even_with_overwrite(tmp_path, capsys):
    """A still named like one frame of the input sequence, or an output pattern over the depth
    pass, used to replace those input files when --overwrite was given."""
    from genrefocus_video.cli import main

    plate = _exr_frames(tmp_path, "plate", 4)
    np.save(tmp_path / "d.npy", np.full((H, W), 0.5, np.float32))
    depth = _exr_frames(tmp_path, "depth", 4, seed=2)
    before = {f: open(f, "rb").read() for f in sorted(tmp_path.glob("*.exr"))}
    base = ["render", plate, "--k", "2", "--focus-disparity", "0.5", "--no-progress", "--overwrite"]
    cases = [
        ([str(tmp_path / "plate.0002.exr"), "--depth", str(tmp_path / "d.npy"), "--first-frame", "2",
          "--last-frame", "2"], "is a frame of the input sequence"),
        ([str(tmp_path / "depth.####.exr"), "--depth", depth], "would write over .*depth.0000.exr, a file of the input"),
        ([str(tmp_path / "depth.%04d.exr"), "--depth", depth, "--chunks", "2", "--executor", "local"],
         "would write over"),
    ]
    import re

    for (out, *rest), text in cases:
        assert main([*base[:2], "-o", out, *base[2:], *rest]) == 4, out
        assert re.search(text, capsys.readouterr().err), out
    for f, data in before.items():
        assert open(f, "rb").read() == data, f"{f} was changed"
    # a different padding in the same folder writes other files and leaves the inputs alone
    assert main([*base[:2], "-o", str(tmp_path / "plate.%05d.exr"), *base[2:], "--depth", str(tmp_path / "d.npy")]) == 0
    assert all(open(f, "rb").read() == data for f, data in before.items())
    assert len(list(tmp_path.glob("plate.0000[0-3].exr"))) == 4

"""One table of path kinds (io/paths.py), and every place that classifies a path agrees with it.

The pipeline's output layout (WorkDir's segment paths), the reader and the writer used to keep their own
lists and disagreed (.dpx was a "sequence" to the pipeline and a video to the writer); now they all
ask io.paths, and a format nothing here can read or write (DPX, Cineon) is refused with one line.
"""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from genrefocus_video.errors import InputError, OutputError
from genrefocus_video.io import paths
from genrefocus_video.io.frame import ClipInfo
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.writer import open_writer
from genrefocus_video.pipeline.workdir import WorkDir

# path, kind, written as images (the output layout)
TABLE = [
    ("shot.%04d.exr", "sequence", True),
    ("shot.%d.png", "sequence", True),
    ("shot.####.exr", "sequence", True),
    ("shot.*.tif", "sequence", True),
    ("plate.exr", "image", True),
    ("still.PNG", "image", True),
    ("still.jpeg", "image", True),
    ("grade.tiff", "image", True),
    ("disp.pfm", "image", True),
    ("photo.webp", "image", True),
    ("clip.mov", "video", False),
    ("clip.MP4", "video", False),
    ("clip.mkv", "video", False),
    ("take #1.mp4", "video", False),  # a '#' in a video's name is not a frame number
    ("shot [final].mov", "video", False),
    ("scan.0001.dpx", "unsupported", True),
    ("scan.%04d.dpx", "unsupported", True),
    ("scan.####.cin", "unsupported", True),
]


@pytest.mark.parametrize("path,kind,images", TABLE)
def test_path_kind_table(path, kind, images):
    assert paths.path_kind(path) == kind
    assert (paths.unsupported_reason(path) is not None) == (kind == "unsupported")
    if kind != "unsupported":
        assert paths.is_image_output(path) == images
        # the pipeline's output layout asks the same table: image outputs get a folder per segment
        seg = WorkDir("/tmp/w").segment_path(0, path)
        assert (os.path.basename(os.path.dirname(seg)) == "seg_0000") == images, seg


def test_hashes_mean_the_same_as_printf():
    assert paths.normalise_pattern("a.####.exr") == "a.%04d.exr"
    assert paths.normalise_pattern("a.%04d.exr") == "a.%04d.exr"


def test_an_existing_file_is_never_a_pattern(tmp_path):
    still = tmp_path / "take #1.png"
    still.write_bytes(b"")
    assert paths.path_kind(str(still)) == "image" and not paths.is_pattern(str(still))
    assert paths.is_pattern(str(tmp_path / "take #2.png"))


def test_an_image_codec_makes_any_output_images():
    assert paths.is_image_output("out.mov", "exr") and not paths.is_image_output("out.mov", "prores")


def test_every_readable_image_kind_is_either_writable_or_read_only():
    from genrefocus_video.io.images import image_format

    readable = {image_format("x" + e) for e in paths.IMAGE_EXTENSIONS}
    assert set(paths.WRITABLE_IMAGE_FORMATS) <= readable


def test_dpx_is_refused_on_input_and_output_with_one_line(tmp_path):
    scan = tmp_path / "scan.0001.dpx"
    scan.write_bytes(b"SDPX" + bytes(2044))
    with pytest.raises(InputError) as e:
        open_reader(str(scan))
    assert "scan.0001.dpx" in str(e.value) and "DPX (.dpx) images are not supported" in str(e.value)
    like = ClipInfo(path="", kind="sequence", width=8, height=8, fps=Fraction(24), transfer="bt709")
    with pytest.raises(OutputError) as e:
        open_writer(str(tmp_path / "out.%04d.dpx"), like)
    assert "out.%04d.dpx" in str(e.value) and "not supported" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.0001.dpx"]


def test_dpx_output_through_the_cli_exits_4(tmp_path):
    from test_pipeline_kit import make_clip

    clip = make_clip(str(tmp_path / "in.mkv"), n=2)
    np.save(tmp_path / "d.npy", np.full((32, 48), 0.5, np.float32))
    proc = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "render", clip, "-o",
                           str(tmp_path / "out.%04d.dpx"), "--depth", str(tmp_path / "d.npy"), "--k", "2",
                           "--focus-disparity", "0.5", "--no-progress", "--executor", "local"],
                          capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip()
    assert proc.returncode == 4 and len(err.splitlines()) == 1 and "DPX" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npy", "in.mkv"]

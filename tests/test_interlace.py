"""Interlaced input: detected, deinterlaced on read (bwdif), identical in every read path.

The interlaced clip is made by the ffmpeg program from a 50p progressive clip that scrolls
sideways (tinterlace: the top field of frame 2i, the bottom field of frame 2i+1, flagged top field
first, losslessly coded, every frame a keyframe so that seeks land exactly on the frame asked), so the progressive frame 2i is the independent expectation for
interlaced frame i.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess

import numpy as np
import pytest

from genrefocus_video.cli import main
from genrefocus_video.io.reader import open_reader
from test_pipeline_kit import read_all

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg/ffprobe programs not installed")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("interlace")
    prog, inter = str(d / "p50.mkv"), str(d / "i25.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=50:d=0.48",
                    "-vf", "scroll=h=0.025", "-c:v", "ffv1", prog], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", prog, "-vf", "tinterlace=interleave_top,fieldorder=tff",
                    "-c:v", "libx264", "-qp", "0", "-g", "1", "-pix_fmt", "yuv444p", "-flags", "+ildct+ilme", "-top", "1",
                    inter],
                   check=True)
    with open_reader(prog) as r:
        progressive = [f.rgb for f in r]
    return prog, inter, progressive


def test_interlaced_frames_come_out_like_the_progressive_frame_of_their_first_field(clips, caplog):
    _, inter, progressive = clips
    with open_reader(inter) as r:
        assert (r.info.field_order, r.info.deinterlaced) == ("tff", True)
        deint = [f.rgb for f in r]
    with caplog.at_level(logging.WARNING), open_reader(inter, deinterlace="off") as r:
        combed = [f.rgb for f in r]
    assert "interlaced (tff) and --deinterlace off" in caplog.text
    assert len(deint) == len(combed) == 12
    for i, (a, b) in enumerate(zip(deint, combed)):
        # combing costs ~2 dB on every frame of this scrolling picture; bwdif wins it back
        assert psnr(a, progressive[2 * i]) > psnr(b, progressive[2 * i]) + 1.0, f"frame {i}"


def test_progressive_clip_is_untouched(clips):
    prog, _, progressive = clips
    with open_reader(prog) as r:
        assert r.info.field_order in (None, "progressive") and not r.info.deinterlaced
        assert all(np.array_equal(f.rgb, p) for f, p in zip(r, progressive))


def test_random_access_and_ranges_see_the_same_neighbours_as_a_full_pass(clips):
    """bwdif uses the previous and next frame: a seek must pre-roll one frame, and the last frame
    wanted must still get its next neighbour."""
    _, inter, _ = clips
    with open_reader(inter) as r:
        full = [f.rgb for f in r]
        for i in (0, 1, 5, 11):
            assert np.array_equal(r.read(i).rgb, full[i]), f"read({i})"
        got = [f.rgb for f in r.read_range(4, 7)]
        assert len(got) == 4 and all(np.array_equal(a, full[4 + k]) for k, a in enumerate(got))
    with open_reader(inter, first_frame=6, last_frame=8) as r:
        assert [np.array_equal(f.rgb, full[f.index]) for f in r] == [True, True, True]


def test_chunked_render_equals_single_pass_and_output_is_progressive(clips, tmp_path):
    _, inter, _ = clips
    common = ["--k", "3", "--depth-source", "motion", "--focus-disparity", "0.5", "--codec", "ffv1"]
    one, two = str(tmp_path / "one.mkv"), str(tmp_path / "two.mkv")
    assert main(["render", inter, "-o", one] + common) == 0
    assert main(["render", inter, "-o", two, "--chunks", "3"] + common) == 0
    assert np.array_equal(read_all(one), read_all(two))
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=field_order",
                          "-of", "json", one], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["streams"][0].get("field_order", "progressive") == "progressive"
    with open_reader(one) as r:
        assert not r.info.deinterlaced

"""Lossless joining of segments (stream copy): frames and bits identical to the segments."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from genrefocus_video.errors import InputError
from genrefocus_video.io.atomic import atomic_output
from genrefocus_video.io.concat import concat_segments
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.writer import open_writer
from media_helpers import audio_digest

W, H = 64, 48
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg program not installed")


@pytest.mark.parametrize("ext,codec", [(".mov", "prores"), (".mkv", "ffv1")])
def test_concat_is_lossless(tmp_path, ext, codec):
    like = ClipInfo(path="", kind="sequence", width=W, height=H, bit_depth=10, transfer="bt709")
    rng = np.random.default_rng(0)
    segs, decoded = [], []
    for k, (a, b) in enumerate(((0, 3), (3, 5))):
        seg = str(tmp_path / f"seg{k}{ext}")
        with open_writer(seg, like, codec=codec) as w:
            for i in range(a, b):
                w.write(Frame(i, rng.random((H, W, 3)).astype(np.float32)))
        with open_reader(seg) as r:
            decoded += [f.rgb for f in r]
        segs.append(seg)
    out = str(tmp_path / f"all{ext}")
    with atomic_output(out) as tmp:
        concat_segments(segs, tmp)
    with open_reader(out) as r:
        joined = [f for f in r]
    assert [f.index for f in joined] == list(range(5))
    for a, b in zip(decoded, joined):
        np.testing.assert_array_equal(a, b.rgb)  # stream copy: bit-identical pixels


def test_concat_missing_segment(tmp_path):
    with pytest.raises(InputError, match="seg9"):
        concat_segments([str(tmp_path / "seg9.mov")], str(tmp_path / "o.mov"))


def test_concat_with_audio_copied_from_the_source(tmp_path, shared_data):
    src = str(shared_data / "meridian" / "Meridian-Apple_ProResProxy-HDR10.mp4")
    segs = []
    with open_reader(src) as r:
        info = r.info
    for k, (a, b) in enumerate(((0, 1), (2, 4))):  # inclusive frame ranges
        seg = str(tmp_path / f"s{k}.mov")
        with open_reader(src, first_frame=a, last_frame=b) as r, open_writer(seg, info) as w:
            for f in r:
                w.write(f)
        segs.append(seg)
    out = str(tmp_path / "joined.mov")
    with atomic_output(out) as tmp:
        concat_segments(segs, tmp, audio_from=src)
    assert audio_digest(out) == audio_digest(src)
    with open_reader(out) as r:
        assert r.info.n_frames == 5 and r.info.codec == "prores"
        assert r.info.timecode == "00:01:15;26" and r.info.transfer == "pq"


def test_concat_audio_range_for_a_sub_range_render(tmp_path):
    import subprocess

    import av

    src = str(tmp_path / "src.mkv")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=24:d=1",
                    "-f", "lavfi", "-i", "sine=d=1:sample_rate=48000", "-c:v", "ffv1", "-c:a", "flac", src], check=True)
    with open_reader(src, first_frame=6, last_frame=11) as r, open_writer(str(tmp_path / "seg.mkv"), r.info) as w:
        for f in r:
            w.write(f)
    out = str(tmp_path / "o.mkv")
    concat_segments([str(tmp_path / "seg.mkv")], out, audio_from=src, audio_range=(6 / 24, 12 / 24))
    with av.open(out) as c:
        a = c.streams.audio[0]
        dur = sum(p.duration or 0 for p in c.demux(a) if p.size) * float(a.time_base)
        assert c.streams.video[0].codec_context.name == "ffv1"
    # the packets overlapping [0.25, 0.5) s: at least the range, at most one extra packet each side
    # (FLAC packets here are 4608 samples = 0.096 s); the whole source would be 1 s.
    assert 0.25 <= dur <= 0.25 + 2 * 0.096 + 1e-6


def test_joined_h264_mp4_keeps_a_constant_frame_rate(tmp_path):
    """H.264 segments in MP4 carry B-frames (negative start DTS, an edit list): joined by their
    container durations, every join stretched one frame by a few ticks (a variable-frame-rate
    clip, 23.992 instead of 24 fps). The join must keep every frame exactly 1/fps apart."""
    import av
    from fractions import Fraction

    like = ClipInfo(path="", kind="video", width=W, height=H, fps=Fraction(24))
    rng = np.random.default_rng(1)
    segs = []
    for k in range(3):
        seg = str(tmp_path / f"seg{k}.mp4")
        with open_writer(seg, like, codec="h264") as w:
            for i in range(8 * k, 8 * k + 8):
                w.write(Frame(i, rng.random((H, W, 3)).astype(np.float32)))
        segs.append(seg)
    out = str(tmp_path / "all.mp4")
    with atomic_output(out) as tmp:
        concat_segments(segs, tmp)
    with av.open(out) as c:
        s = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(s) if p.size)
        assert s.average_rate == 24
        step = float(1 / (24 * s.time_base))
    assert len(pts) == 24
    assert np.allclose(np.diff(pts), step), np.diff(pts)


def test_concat_failure_names_the_error_not_ffmpeg_bookkeeping():
    """ffmpeg logs the cause first; its last line is often 'Conversion failed!' or 'Last message repeated'."""
    from genrefocus_video.io.concat import _ffmpeg_reason

    log = (b"Input #0, concat, from 'list.txt':\n"
           b"[mp4 @ 0x1] Could not find tag for codec pcm_s24le in stream #1, codec not currently supported in container\n"
           b"    Last message repeated 1 times\n"
           b"[out#0/mp4 @ 0x2] Could not write header (incorrect codec parameters ?): Invalid argument\n"
           b"Conversion failed!\n")
    assert _ffmpeg_reason(log).startswith("[mp4 @ 0x1] Could not find tag for codec pcm_s24le")
    assert _ffmpeg_reason(b"just one line\nLast message repeated 2 times\n") == "just one line"
    assert _ffmpeg_reason(None) == "unknown error"

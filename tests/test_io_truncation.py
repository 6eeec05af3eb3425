"""A clip that holds fewer frames than its header says: exit 3 and one line, nothing written; or,
with --allow-truncated, the frames that decode.

The short files are real: a clip written with PyAV and cut to 60 % of its bytes, an MP4 whose
sample table (written first, faststart) lists all 24 frames and a Matroska file whose duration
implies them. How many frames still decode is counted independently here with PyAV.
"""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from genrefocus_video.cli import main
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.truncation import TruncatedInputError

W, H, N = 64, 48, 24


def _write(path: str, codec: str, pix_fmt: str, options: dict | None = None) -> str:
    yy, xx = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(7)  # grain: frames of similar size, so a cut lands mid-stream
    with av.open(path, "w", options=options or {}) as c:
        s = c.add_stream(codec, rate=Fraction(24, 1))
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        for i in range(N):
            img = np.zeros((H, W, 3), np.uint8)
            img[..., 0] = (xx * 4) % 256
            img[..., 1] = (yy * 5) % 256
            img[8:20, (3 * i) % (W - 12):(3 * i) % (W - 12) + 12] = 250
            img = np.clip(img.astype(np.int16) + rng.integers(-30, 31, img.shape), 0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _cut(src: str, dst: str, fraction: float = 0.6) -> str:
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return dst


def _decodable(path: str) -> int:
    """Frames PyAV decodes, packet by packet, a packet that fails skipped; with FFmpeg's decoder
    threads on, as every reader of the product decodes (a damaged H.264 stream gives fewer frames
    with frame threads than without)."""
    n = 0
    with av.open(path) as c:
        c.streams.video[0].thread_type = "AUTO"
        for packet in c.demux(video=0):
            try:
                n += len(packet.decode())
            except av.error.FFmpegError:
                pass
    return n


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("truncated")
    mp4 = _write(str(d / "full.mp4"), "libx264", "yuv420p", {"movflags": "+faststart"})
    mkv = _write(str(d / "full.mkv"), "ffv1", "yuv444p")
    mov = _write(str(d / "full.mov"), "prores_ks", "yuv422p10le")
    np.save(d / "disp.npy", np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1)))
    return {"dir": d, "mp4": mp4, "mkv": mkv, "cut_mp4": _cut(mp4, str(d / "cut.mp4")),
            "cut_mkv": _cut(mkv, str(d / "cut.mkv")), "depth": str(d / "disp.npy"), "mov": mov,
            "damaged_mov": _damage_frame(mov, str(d / "damaged.mov"), DAMAGED)}


#: the frame of the ProRes clip whose frame header is overwritten (ProRes refuses it: an error,
#: where H.264 and FFV1 decoders conceal damage and return a picture)
DAMAGED = 9


def _damage_frame(src: str, dst: str, index: int) -> str:
    with av.open(src) as c:
        packets = [(p.pts, p.pos, p.size) for p in c.demux(video=0) if p.size]
    _, pos, _ = sorted(packets)[index]
    data = bytearray(open(src, "rb").read())
    data[pos:pos + 24] = b"\xff" * 24
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return dst


def _args(clip: str, out: str, depth: str, *extra: str) -> list[str]:
    return ["render", clip, "-o", out, "--depth", depth, "--focus-disparity", "0.5", "--k", "3",
            "--no-progress", "--executor", "local", *extra]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrefocus_video.cli", *args], capture_output=True, text=True,
                          timeout=300)


def _expected_line(clips, kind: str) -> str:
    path = clips[f"cut_{kind}"]
    claim = "its header lists 24" if kind == "mp4" else "its duration implies about 24"
    return f"input {path}: {_decodable(path)} frames decode, but {claim};"


def test_the_cut_files_are_really_short(clips):
    """The premise: the full files decode all 24 frames, the cut ones between 1 and 20."""
    assert _decodable(clips["mp4"]) == N and _decodable(clips["mkv"]) == N
    for kind in ("mp4", "mkv"):
        assert 0 < _decodable(clips[f"cut_{kind}"]) < 20


@pytest.mark.parametrize("kind,out_name", [("mp4", "out.mp4"), ("mkv", "seq/out.%04d.exr")])
def test_truncated_input_exits_3_with_one_line_and_writes_nothing(clips, tmp_path, kind, out_name):
    out = tmp_path / out_name
    out.parent.mkdir(exist_ok=True)
    proc = _cli(*_args(clips[f"cut_{kind}"], str(out), clips["depth"]))
    err = proc.stderr.strip()
    assert proc.returncode == 3, err
    assert len(err.splitlines()) == 1, err
    assert _expected_line(clips, kind) in err and "--allow-truncated" in err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []  # no output, no temp, no frame


def test_allow_truncated_renders_the_frames_that_decode(clips, tmp_path):
    """The frames of the cut file, rendered, equal the first frames of the full file's render."""
    full_out, cut_out = str(tmp_path / "full.mkv"), str(tmp_path / "cut.mkv")
    assert main(_args(clips["mkv"], full_out, clips["depth"], "--codec", "ffv1")) == 0
    proc = _cli(*_args(clips["cut_mkv"], cut_out, clips["depth"], "--codec", "ffv1", "--allow-truncated"))
    assert proc.returncode == 0, proc.stderr
    found = _decodable(clips["cut_mkv"])
    assert f"rendering the {found} frames that decode, as --allow-truncated asks" in proc.stderr
    with open_reader(full_out) as a, open_reader(cut_out) as b:
        full = [f.rgb for f in a]
        cut = [f.rgb for f in b]
    assert len(full) == N and len(cut) == found
    for i in range(found):
        np.testing.assert_array_equal(cut[i], full[i])


def test_allow_truncated_from_a_yaml_job(clips, tmp_path):
    """The parameter lives in the schema: a job file sets it as the flag does."""
    job = tmp_path / "job.yaml"
    job.write_text("input:\n  allow_truncated: true\n")
    out = str(tmp_path / "out.mkv")
    assert main([*_args(clips["cut_mp4"], out, clips["depth"], "--codec", "ffv1"), "--config", str(job)]) == 0
    with open_reader(out) as r:
        assert sum(1 for _ in r) == _decodable(clips["cut_mp4"])


def test_a_farm_chunk_fails_with_the_same_line(clips, tmp_path):
    """Every --chunk task plans the job (the planner counts the frames): the chunk past the cut and
    the chunk before it both stop with the whole render's line, and leave no segment behind."""
    out = str(tmp_path / "farm.mp4")
    line = _expected_line(clips, "mp4")
    for chunk in ("2", "0"):
        proc = _cli(*_args(clips["cut_mp4"], out, clips["depth"], "--chunks", "3", "--chunk", chunk))
        err = proc.stderr.strip()
        assert proc.returncode == 3 and len(err.splitlines()) == 1 and line in err, err
    assert not os.path.exists(out)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".mp4", ".mkv", ".mov")]
    assert leftovers == []


def test_a_reader_over_frames_past_the_cut_raises_the_same_line(clips):
    """A chunk's reader (frames 16-23 of a file that ends near frame 11) does not come back empty."""
    with open_reader(clips["cut_mp4"], first_frame=16, last_frame=23) as r:
        with pytest.raises(TruncatedInputError) as e:
            list(r)
    assert _expected_line(clips, "mp4") in str(e.value)
    with open_reader(clips["cut_mp4"], first_frame=16, last_frame=23, allow_truncated=True) as r:
        assert list(r) == []  # allowed: the frames that are not there are simply not rendered


def test_probe_says_how_many_frames_decode_and_what_the_header_promised(clips):
    from genrefocus_video.io.probe import describe, probe

    for kind, promise in (("mp4", "24"), ("mkv", "about 24")):
        info = probe(clips[f"cut_{kind}"])
        found = _decodable(clips[f"cut_{kind}"])
        assert info.n_frames == found
        assert f"only {found} frames decode, the header promises {promise}" in describe(info)
        whole = probe(clips[kind])
        assert whole.n_frames == N and "  truncated " not in describe(whole)


def test_a_frame_that_fails_to_decode_is_named_and_skipped_only_when_allowed(clips, tmp_path):
    """All packets are there, one is damaged: exit 3 naming that frame (nothing written); with
    --allow-truncated the other frames are rendered, equal to those of the whole clip's render."""
    out = tmp_path / "out.mov"
    proc = _cli(*_args(clips["damaged_mov"], str(out), clips["depth"]))
    err = proc.stderr.strip()
    assert proc.returncode == 3 and len(err.splitlines()) == 1, err
    assert f"damaged.mov: frame {DAMAGED} cannot be decoded" in err and "--allow-truncated skips it" in err
    assert not out.exists()
    full_out, kept_out = str(tmp_path / "full.mkv"), str(tmp_path / "kept.mkv")
    assert main(_args(clips["mov"], full_out, clips["depth"], "--codec", "ffv1")) == 0
    assert main(_args(clips["damaged_mov"], kept_out, clips["depth"], "--codec", "ffv1", "--allow-truncated")) == 0
    with open_reader(full_out) as a, open_reader(kept_out) as b:
        full = [f.rgb for f in a]
        kept = [f.rgb for f in b]
    assert len(kept) == N - 1
    for got, want in zip(kept, full[:DAMAGED] + full[DAMAGED + 1:]):
        np.testing.assert_array_equal(got, want)


def test_a_seek_read_names_the_damaged_frame(clips):
    """Random access (the frame lookup's seek reader) that lands on the damaged frame names it, not
    frame 0 (after a seek nothing has decoded yet: the packet's time names it); skipped when allowed."""
    from genrefocus_video.errors import InputError

    with open_reader(clips["damaged_mov"]) as r:
        for first in (DAMAGED, DAMAGED - 2):  # the seek's first packet, and one met decoding forward
            with pytest.raises(InputError, match=f"damaged.mov: frame {DAMAGED} cannot be decoded"):
                list(r.read_range(first, DAMAGED + 1))
    with open_reader(clips["damaged_mov"], allow_truncated=True) as r:
        assert [f.index for f in r.read_range(DAMAGED - 1, DAMAGED + 1)] == [DAMAGED - 1]  # a gap ends a range


def test_a_longer_audio_track_is_not_a_cut_file(clips, tmp_path):
    """A Matroska duration is the longest stream's: 1 s of video with 3 s of audio is whole (the
    video just ends first), and stays an error when the file is cut inside its video."""
    from media_helpers import clip_with_tone

    long = clip_with_tone(clips["mkv"], str(tmp_path / "long.mkv"), 3 * N)
    with open_reader(long) as r:
        assert r.info.duration > 2.5 and r.info.n_frames > 2 * N  # the header implies 3 s of frames
        assert len(r) == N and sum(1 for _ in r) == N
    cut = _cut(long, str(tmp_path / "cut.mkv"), 0.3)
    assert 0 < _decodable(cut) < N
    with open_reader(cut) as r, pytest.raises(TruncatedInputError, match="but its duration implies about"):
        len(r)


def test_whole_files_pass_the_check_unchanged(clips):
    for kind in ("mp4", "mkv", "mov"):
        with open_reader(clips[kind]) as r:
            assert len(r) == N and sum(1 for _ in r) == N
        with open_reader(clips[kind], first_frame=20, last_frame=23) as r:
            assert [f.index for f in r] == [20, 21, 22, 23]

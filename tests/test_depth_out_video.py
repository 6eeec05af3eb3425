"""``--depth-out depth.mkv``: the rendered disparity as a lossless 16-bit gray FFV1 video with its
scale/offset in the container tags, read back by ``--depth depth.mkv``.

Expectations, independent of the writer: the codes in the file are exactly the nearest codes of the
float32 disparity that the EXR export (exact, tests/test_depth_out.py) holds for the same job; the
decoded disparity is within half a code step, (max − min)/131070, of it; a second generation
(render from the .mkv, export again) stores the same codes; single pass, chunks and farm tasks
write the same video; errors are one line with the right exit code."""
from __future__ import annotations

import os

import av
import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main
from genrefocus_video.io.depth_video import CODES, DisparityCoding, read_coding, write_disparity_video
from genrefocus_video.io.depthio import open_depth

N = 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("depthvideo")
    clip = kit.make_clip(str(d / "plate.mkv"), n=N)
    layers = 0.2 + 0.6 * (np.arange(kit.W) >= kit.W // 2)  # two layers + noise, a different range per frame
    drift = 0.02 * np.arange(N)[:, None, None]
    np.save(d / "seq.npy", (layers + drift + 0.05 * np.random.default_rng(11).random((N, kit.H, kit.W))).astype(np.float32))
    return d, clip, str(d / "seq.npy")


def _render(clip, out, *extra):
    return main(["render", clip, "-o", out, "--focus-disparity", "0.3", "--k", "6", "--codec", "ffv1", "--no-progress",
                 "--executor", "local", *extra])


def _codes(path):
    with av.open(path) as c:
        frames = [f for f in c.decode(video=0)]
        assert all(f.format.name == "gray16le" for f in frames)
        assert c.streams.video[0].codec_context.name == "ffv1"
        return np.stack([f.to_ndarray() for f in frames])


def _read(path, **kw):
    with open_depth(path, kind="disparity", **kw) as seq:
        return np.stack(list(seq))


def test_codes_are_the_nearest_codes_of_the_exact_export(shot):
    d, clip, depth = shot
    args = ["--depth", depth, "--depth-smoothing", "0.6"]  # smoothed: the export is not the input
    assert _render(clip, str(d / "e.mkv"), *args, "--depth-out", str(d / "e.%04d.exr")) == 0
    assert _render(clip, str(d / "v.mkv"), *args, "--depth-out", str(d / "v_depth.mkv")) == 0
    exact = _read(str(d / "e.%04d.exr"))
    coding = read_coding(str(d / "v_depth.mkv"))
    lo, hi = float(exact.min()), float(exact.max())
    assert coding.offset == lo and coding.scale == pytest.approx((hi - lo) / CODES, rel=1e-12) and coding.first == 0
    expected = np.clip(np.rint((exact.astype(np.float64) - lo) / coding.scale), 0, CODES).astype(np.uint16)
    codes = _codes(str(d / "v_depth.mkv"))
    assert np.array_equal(codes, expected)  # lossless: exactly the codes of the rendered disparity
    assert codes.min() == 0 and codes.max() == CODES  # the clip's range spans all 16 bits
    decoded = _read(str(d / "v_depth.mkv"))
    err = np.abs(decoded.astype(np.float64) - exact)
    assert err.max() <= coding.scale / 2 + 1e-7 * hi  # half a step (+ float32 rounding of the decoded value)
    assert err.max() > 0  # and it is a quantised copy, not the float itself


def test_second_generation_stores_the_same_codes(shot):
    d, clip, depth = shot
    assert _render(clip, str(d / "g1.mkv"), "--depth", depth, "--depth-out", str(d / "g1_depth.mkv")) == 0
    assert _render(clip, str(d / "g2.mkv"), "--depth", str(d / "g1_depth.mkv"), "--depth-out",
                   str(d / "g2_depth.mkv")) == 0
    assert np.array_equal(_codes(str(d / "g1_depth.mkv")), _codes(str(d / "g2_depth.mkv")))
    assert np.array_equal(_read(str(d / "g1_depth.mkv")), _read(str(d / "g2_depth.mkv")))


def test_chunks_and_farm_tasks_write_the_single_pass_video(shot):
    d, clip, depth = shot
    assert _render(clip, str(d / "s.mkv"), "--depth", depth, "--depth-out", str(d / "s_depth.mkv")) == 0
    assert _render(clip, str(d / "c.mkv"), "--depth", depth, "--depth-out", str(d / "c_depth.mkv"), "--chunks", "3") == 0
    farm = ["--depth", depth, "--depth-out", str(d / "f_depth.mkv"), "--chunks", "2"]
    assert _render(clip, str(d / "f.mkv"), *farm, "--chunk", "1") == 0
    assert _render(clip, str(d / "f.mkv"), *farm, "--chunk", "0") == 0
    assert not os.path.exists(d / "f_depth.mkv")  # written once, by the join
    assert _render(clip, str(d / "f.mkv"), *farm, "--join") == 0
    ref = _codes(str(d / "s_depth.mkv"))
    assert np.array_equal(ref, _codes(str(d / "c_depth.mkv"))) and np.array_equal(ref, _codes(str(d / "f_depth.mkv")))
    assert np.abs(_read(str(d / "s_depth.mkv")) - np.load(depth)).max() <= read_coding(str(d / "s_depth.mkv")).scale / 2 + 1e-6
    for out in ("s", "c", "f"):  # the kept frames are gone once the video is written; no temp files
        assert not os.path.exists(d / f"{out}.mkv.work" / "depth_out")
    assert not [f for f in os.listdir(d) if ".partial" in f]


def test_first_frame_is_recorded_and_read_back(shot, capsys):
    d, clip, depth = shot
    assert _render(clip, str(d / "ff.mkv"), "--depth", depth, "--first-frame", "3", "--depth-out",
                   str(d / "ff_depth.mkv")) == 0
    coding = read_coding(str(d / "ff_depth.mkv"))
    assert (coding.first, coding.frames) == (3, N - 3)
    back = _read(str(d / "ff_depth.mkv"))
    assert back.shape == (N - 3, kit.H, kit.W)
    assert np.abs(back - np.load(depth)[3:]).max() <= coding.scale / 2 + 1e-6
    assert _render(clip, str(d / "ff2.mkv"), "--depth", str(d / "ff_depth.mkv"), "--first-frame", "3") == 0
    assert _render(clip, str(d / "ff3.mkv"), "--depth", str(d / "ff_depth.mkv")) == 3  # frame 0 has no depth there
    err = capsys.readouterr().err
    assert "starts at clip frame 3" in err and err.strip().count("\n") == 0


def test_writer_and_reader_directly(tmp_path):
    """Constant disparity is exact (scale 0); a gap in the clip indices stays a gap; tags are read
    whatever their case; a plain 16-bit video without tags stays a code video."""
    flat = np.full((6, 10), 0.37, np.float32)
    coding = DisparityCoding.for_range(0.37, float(np.float32(0.37)), first=0, frames=2)
    path = str(tmp_path / "flat.mkv")
    assert write_disparity_video(path, [(0, flat), (1, flat)], coding, 25.0) == 2
    assert np.array_equal(_read(path), np.stack([flat, flat]))
    plain = str(tmp_path / "plain.mkv")
    with av.open(plain, "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 10, 6, "gray16le"
        f = av.VideoFrame.from_ndarray(np.full((6, 10), 1234, np.uint16), format="gray16le")
        f.pts = 0
        for p in list(s.encode(f)) + list(s.encode(None)):
            c.mux(p)
    assert read_coding(plain) is None
    with open_depth(plain) as seq:
        assert float(seq.read(0)[0, 0]) == 1234.0  # the code itself, as before


def test_bad_targets_and_kinds_are_one_line_errors(shot, capsys):
    d, clip, depth = shot
    cases = [(["--depth-out", str(d / "x.%04d.mkv")], 2, "one file"),
             (["--depth-out", str(d / "x.mov")], 2, ".mkv"),
             (["--depth-out", str(d / "nope" / "x.mkv")], 4, "does not exist"),
             (["--depth-out", str(d / "same.mkv")], 4, "output itself"),
             (["--depth-out", clip], 4, "input")]
    for extra, code, words in cases:
        out = str(d / "same.mkv")
        assert _render(clip, out, "--depth", depth, *extra) == code, extra
        err = capsys.readouterr().err
        assert words in err and err.strip().count("\n") == 0, err
        assert not os.path.exists(out)
    assert _render(clip, str(d / "k.mkv"), "--depth", depth, "--depth-out", str(d / "k_depth.mkv")) == 0
    capsys.readouterr()
    assert _render(clip, str(d / "k2.mkv"), "--depth", str(d / "k_depth.mkv"), "--depth-kind", "depth") == 2
    err = capsys.readouterr().err
    assert "--depth-kind disparity" in err and err.strip().count("\n") == 0


def test_a_failed_pass_keeps_its_depth_frames_and_the_rerun_completes_the_video(shot, tmp_path):
    """An estimator failure at frame 5 of a single pass: no video yet, frames 0-4 kept with the
    finished frames; the rerun resumes and writes the video of the unbroken pass."""
    from test_pipeline_keep import RealFlaky

    from genrefocus_video.errors import JobError
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.run import run_job

    d, clip, depth = shot

    def job(name):
        return load_job(None, {"input.path": clip, "output.path": str(tmp_path / f"{name}.mkv"), "output.codec": "ffv1",
                               "depth.path": depth, "focus.disparity": 0.3, "blur.k": 6, "executor.progress": False,
                               "executor.executor": "local", "depth.out": str(tmp_path / f"{name}_depth.mkv")})

    run_job(job("clean"))
    flag = tmp_path / "fail"
    flag.write_text("1")
    with pytest.raises(JobError, match="5 finished frames"):
        run_job(job("out"), factory=RealFlaky(5, str(flag)))
    assert not os.path.exists(tmp_path / "out_depth.mkv")
    assert sorted(os.listdir(tmp_path / "out.mkv.work" / "depth_out"))[:5] == [f"{i:08d}.npy" for i in range(5)]
    flag.unlink()
    assert run_job(job("out"), factory=RealFlaky(5, str(flag))).frames == N - 5
    assert np.array_equal(_codes(str(tmp_path / "out_depth.mkv")), _codes(str(tmp_path / "clean_depth.mkv")))
    assert read_coding(str(tmp_path / "out_depth.mkv")) == read_coding(str(tmp_path / "clean_depth.mkv"))
    assert not os.path.exists(tmp_path / "out.mkv.work" / "depth_out")

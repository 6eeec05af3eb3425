"""Bad inputs and outputs: one-line errors naming the file/frame, inputs untouched, nothing half-written."""
from __future__ import annotations

import hashlib
import os

import av
import numpy as np
import pytest

from genrefocus_video.errors import InputError, OutputError
from genrefocus_video.io.atomic import atomic_output
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.writer import open_writer

W, H = 64, 48


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and msg
    return msg


def make_clip(path: str, n: int = 24, codec: str = "ffv1", options: dict | None = None) -> None:
    with av.open(path, "w") as c:
        s = c.add_stream(codec, rate=24, options=options or {})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(n):
            img = np.full((H, W, 3), (i * 10) % 255, np.uint8)
            img[:, : (i * 3) % W] = 200
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def digest(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_missing_input(tmp_path):
    with pytest.raises(InputError) as e:
        open_reader(str(tmp_path / "nope.mov"))
    assert "nope.mov" in one_line(e.value) and "does not exist" in str(e.value)


def test_non_video_input(tmp_path):
    p = tmp_path / "notes.mov"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError) as e:
        open_reader(str(p))
    assert "notes.mov" in one_line(e.value)


@pytest.mark.parametrize("ext,codec,options", [(".mkv", "ffv1", None), (".mp4", "libx264", {"movflags": "+faststart"})])
def test_truncated_clip(tmp_path, ext, codec, options):
    good = str(tmp_path / f"good{ext}")
    make_clip(good, codec=codec)
    data = open(good, "rb").read()
    bad = tmp_path / f"cut{ext}"
    bad.write_bytes(data[: int(len(data) * 0.6)])
    before = digest(str(bad))
    with pytest.raises(InputError) as e:
        with open_reader(str(bad)) as r:
            for _ in r:
                pass
    msg = one_line(e.value)
    assert "cut" in msg and ("frame" in msg or "not a readable video" in msg)
    assert digest(str(bad)) == before  # input untouched


def test_corrupt_bytes_in_the_middle(tmp_path):
    good = str(tmp_path / "good.mkv")
    make_clip(good)
    data = bytearray(open(good, "rb").read())
    mid = len(data) // 2
    data[mid: mid + 400] = os.urandom(400)
    bad = tmp_path / "corrupt.mkv"
    bad.write_bytes(bytes(data))
    # Either a clean error naming file and frame, or the damaged frames are skipped by FFmpeg's
    # resynchronisation and every frame that comes out is still a valid float image.
    try:
        with open_reader(str(bad)) as r:
            frames = [f.rgb for f in r]
        assert all(np.isfinite(f).all() for f in frames)
    except InputError as e:
        assert "corrupt.mkv" in one_line(e)


def test_unwritable_output_path_fails_before_any_work(tmp_path):
    src = str(tmp_path / "in.mkv")
    make_clip(src, n=3)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with open_reader(src) as r:
        for bad in (str(tmp_path / "missing_dir" / "out.mkv"), str(blocker / "out.mkv"),
                    str(tmp_path / "missing_dir" / "out.%04d.exr")):
            with pytest.raises(OutputError) as e:
                open_writer(bad, r.info)
            assert "missing_dir" in one_line(e.value) or "afile" in str(e.value)


def test_refuses_to_overwrite_input_or_existing(tmp_path):
    src = str(tmp_path / "in.mkv")
    make_clip(src, n=3)
    before = digest(src)
    with open_reader(src) as r:
        with pytest.raises(OutputError, match="input"):
            open_writer(src, r.info, overwrite=True)
        existing = tmp_path / "exists.mkv"
        existing.write_bytes(b"keep me")
        with pytest.raises(OutputError, match="already exists"):
            open_writer(str(existing), r.info)
    assert digest(src) == before and existing.read_bytes() == b"keep me"


def test_failure_mid_write_leaves_nothing_under_final_name(tmp_path):
    src = str(tmp_path / "in.mkv")
    make_clip(src, n=6)
    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError, match="boom"):
        with open_reader(src) as r, open_writer(str(out), r.info) as w:
            for f in r:
                w.write(f)
                if f.index == 3:
                    raise RuntimeError("boom")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.mkv"]  # temp file removed too


def test_nan_frame_is_an_output_error_naming_the_frame(tmp_path):
    like = ClipInfo(path="", kind="sequence", width=W, height=H, transfer="bt709")
    out = tmp_path / "n.mkv"
    rgb = np.zeros((H, W, 3), np.float32)
    with pytest.raises(OutputError, match="frame 1"):
        with open_writer(str(out), like, codec="ffv1") as w:
            w.write(Frame(0, rgb))
            bad = rgb.copy()
            bad[3, 3, 1] = np.nan
            w.write(Frame(1, bad))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_atomic_output_contract(tmp_path):
    final = tmp_path / "report.json"
    with atomic_output(str(final)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(final)
        open(tmp, "w").write("{}")
        assert not final.exists()
    assert final.read_text() == "{}"
    with pytest.raises(OutputError, match="already exists"):
        with atomic_output(str(final)):
            pass
    with pytest.raises(ValueError):
        with atomic_output(str(final), overwrite=True) as tmp:
            open(tmp, "w").write("half")
            raise ValueError("fail")
    assert final.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


def test_cli_probe_exit_codes(tmp_path, capsys):
    from genrefocus_video.cli import main

    assert main(["probe", str(tmp_path / "missing.mp4")]) == InputError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.mp4" in err[0]


def test_cli_output_piped_into_a_closed_reader_is_not_a_traceback(tmp_path):
    """`genrefocus-video probe clip | head`: head may exit before the probe prints; the command
    then ends quietly with 0 instead of a BrokenPipeError traceback."""
    import subprocess
    import sys

    clip = str(tmp_path / "c.mkv")
    with open_writer(clip, ClipInfo(path="mem", kind="video", width=32, height=16, fps=24), codec="ffv1") as w:
        w.write(Frame(0, np.full((16, 32, 3), 0.5, np.float32)))
    p = subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", "probe", clip],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the (slow-starting) command prints anything
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and "Traceback" not in err, err


def test_outputs_get_the_usual_permissions_not_mkstemps(tmp_path):
    """Atomic outputs go through mkstemp (owner-only 0600); the finished files must carry what a
    plain open() gives (0666 minus the umask), or a farm's renders are unreadable to the people
    sharing the folder. Checked for a clip, a before/after PNG and a focus-track export."""
    from genrefocus_video.focus.export import write_focus_track
    from genrefocus_video.pipeline.outputs import write_before_after

    old = os.umask(0o022)
    try:
        info = ClipInfo(path="mem", kind="video", width=32, height=16, fps=24)
        clip = str(tmp_path / "clip.mkv")
        with open_writer(clip, info, codec="ffv1") as w:
            for i in range(2):
                w.write(Frame(i, np.full((16, 32, 3), 0.25, np.float32)))
        png = str(tmp_path / "ba.png")
        write_before_after(png, np.zeros((16, 32, 3), np.float32), np.ones((16, 32, 3), np.float32))
        track = write_focus_track([{"frame": 0, "focus_disparity": 0.5}], str(tmp_path / "track.json"))
        with atomic_output(str(tmp_path / "x.bin")) as tmp:
            open(tmp, "wb").write(b"x")
        for p in (clip, png, track, str(tmp_path / "x.bin")):
            assert os.stat(p).st_mode & 0o777 == 0o644, (p, oct(os.stat(p).st_mode))
    finally:
        os.umask(old)

"""Bad input through the real CLI: one-line errors, meaningful exit codes, nothing lost.

Each case runs `genrefocus-video render` as a user would and checks the exit code, that stderr is
a single line naming the culprit, that the input is untouched and that nothing appears under the
final output name.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

W, H, N = 48, 32, 4


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> dict[str, Path]:
    """A tiny FFV1 clip with a matching disparity stack, plus a NaN and a wrong-size depth."""
    root = tmp_path_factory.mktemp("cli_errors")
    clip = root / "clip.mkv"
    rng = np.random.default_rng(0)
    with av.open(str(clip), "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv444p"
        for i in range(N):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 24)
            for p in s.encode(f.reformat(format="yuv444p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    disp = np.tile(np.linspace(0.1, 0.9, W, dtype=np.float32), (N, H, 1))
    np.save(root / "depth.npy", disp)
    bad = disp.copy()
    bad[2, 5, 7] = np.nan
    np.save(root / "depth_nan.npy", bad)
    np.save(root / "depth_small.npy", disp[:, : H // 2 + 3, : W // 3])
    (root / "notes.mp4").write_text("this is not a video\n")
    return {"root": root, "clip": clip, "depth": root / "depth.npy", "depth_nan": root / "depth_nan.npy",
            "depth_small": root / "depth_small.npy", "not_video": root / "notes.mp4"}


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "render", *args, "--no-progress",
                           "--executor", "local"], capture_output=True, text=True, timeout=300)


def _check_failure(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err)
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    for needle in needles:
        assert needle in err, (needle, err)


def test_good_run_succeeds_as_reference(shot):
    out = shot["root"] / "ok.mkv"
    proc = _render(str(shot["clip"]), "-o", str(out), "--depth", str(shot["depth"]), "--focus-disparity", "0.5",
                   "--k", "3")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == N


@pytest.mark.parametrize("case", ["missing_input", "not_video", "negative_k", "unknown_shape", "nan_depth",
                                  "wrong_depth_size", "unwritable_output", "output_is_input"])
def test_bad_input_fails_cleanly(shot, case):
    clip, depth = shot["clip"], shot["depth"]
    before = {p: _sha(p) for p in (clip, depth, shot["depth_nan"], shot["depth_small"])}
    out = shot["root"] / f"{case}.mkv"
    base = ["--focus-disparity", "0.5", "--k", "3"]
    if case == "missing_input":
        proc = _render(str(shot["root"] / "nope.mov"), "-o", str(out), "--depth", str(depth), *base)
        _check_failure(proc, 3, "nope.mov")
    elif case == "not_video":
        proc = _render(str(shot["not_video"]), "-o", str(out), "--depth", str(depth), *base)
        _check_failure(proc, 3, "notes.mp4")
    elif case == "negative_k":
        proc = _render(str(clip), "-o", str(out), "--depth", str(depth), "--focus-disparity", "0.5", "--k", "-2")
        _check_failure(proc, 2, "blur.k")
    elif case == "unknown_shape":
        proc = _render(str(clip), "-o", str(out), "--depth", str(depth), *base, "--aperture", "hexagn")
        _check_failure(proc, 2, "aperture.shape", "hexagon")
    elif case == "nan_depth":
        proc = _render(str(clip), "-o", str(out), "--depth", str(shot["depth_nan"]), *base)
        _check_failure(proc, 3, "depth_nan.npy", "2")
    elif case == "wrong_depth_size":
        proc = _render(str(clip), "-o", str(out), "--depth", str(shot["depth_small"]), *base)
        _check_failure(proc, 3, "depth_small.npy")
    elif case == "unwritable_output":
        out = shot["root"] / "no_such_dir" / "out.mkv"
        proc = _render(str(clip), "-o", str(out), "--depth", str(depth), *base)
        _check_failure(proc, 4, "no_such_dir")
    elif case == "output_is_input":
        proc = _render(str(clip), "-o", str(clip), "--depth", str(depth), *base, "--overwrite")
        _check_failure(proc, 4, "clip.mkv")
    assert not out.exists() or case == "output_is_input"
    assert {p: _sha(p) for p in before} == before  # inputs untouched
    leftovers = [p.name for p in shot["root"].iterdir() if case in p.name]
    if case == "nan_depth":  # frames 0-1 finished before the bad depth frame 2: kept to resume (pipeline/keep.py)
        assert "2 finished frames (0-1) are kept" in proc.stderr
        kept = sorted(p.name for p in (shot["root"] / "nan_depth.mkv.work" / "kept").iterdir())
        assert kept == ["kept_0000.json", "kept_0000.mkv"]
        leftovers.remove("nan_depth.mkv.work")
    assert leftovers == [], leftovers  # no half-written file under any name derived from the output

"""One job, every face: a single pass, in-process chunks, Ray chunks and farm tasks + --join run
the one frame loop and write the same side outputs (before/after, contact sheet, focus export and
plot). Real stages and the real CLI on a tiny clip; the before/after is checked against the
middle frame itself."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main

N = 12  # frames; the middle frame (the before/after) is N // 2
KEYS = "0:0.2,11:0.8"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("faces")
    clip = kit.make_clip(str(d / "plate.mkv"), n=N)
    np.save(d / "disp.npy", np.tile(np.linspace(0.0, 1.0, kit.W, dtype=np.float32), (kit.H, 1)))
    return d, clip, str(d / "disp.npy")


def _render(shot, name: str, *extra: str) -> str:
    """Render the shot into folder `name` (side outputs beside the output); return the folder."""
    d, clip, depth = shot
    folder = d / name
    folder.mkdir()
    args = ["render", clip, "-o", str(folder / "out.mkv"), "--depth", depth, "--focus-keyframes", KEYS, "--k", "4",
            "--codec", "ffv1", "--no-progress", "--before-after", str(folder / "ba.png"),
            "--contact-sheet", str(folder / "sheet.png"), "--contact-frames", "4",
            "--export-focus-track", str(folder / "focus.json"), "--focus-plot", str(folder / "plot.png"), *extra]
    farm = "--farm" in extra
    if farm:
        args.remove("--farm")
        for i in (2, 0, 1):
            assert main([*args, "--chunk", str(i)]) == 0
        args.append("--join")
    assert main(args) == 0
    return str(folder)


def _side_outputs(folder: str) -> dict[str, object]:
    out: dict[str, object] = {n: cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED)
                              for n in ("ba.png", "sheet.png", "plot.png")}
    out["focus.json"] = json.load(open(os.path.join(folder, "focus.json")))
    return out


@pytest.fixture(scope="module")
def single(shot):
    return _render(shot, "single", "--executor", "local")


@pytest.mark.parametrize("face", [("--executor", "local", "--chunks", "3"),
                                  ("--executor", "local", "--chunks", "3", "--farm")],
                         ids=["in-process chunks", "farm tasks + join"])
def test_chunked_faces_write_the_single_pass_side_outputs(shot, single, face):
    folder = _render(shot, "_".join(a.strip("-") for a in face), *face)
    ref, got = _side_outputs(single), _side_outputs(folder)
    for name in ("ba.png", "sheet.png", "plot.png"):
        assert ref[name] is not None and np.array_equal(ref[name], got[name]), name
    assert got["focus.json"] == ref["focus.json"]
    assert np.array_equal(kit.read_all(os.path.join(folder, "out.mkv")), kit.read_all(os.path.join(single, "out.mkv")))


def test_ray_chunks_and_ray_streaming_write_the_single_pass_side_outputs(shot, single):
    pytest.importorskip("ray")
    ref = _side_outputs(single)
    for face in (("--executor", "ray", "--workers", "2", "--chunks", "3"), ("--executor", "ray", "--workers", "2")):
        got = _side_outputs(_render(shot, "ray" + str(len(face)), *face))
        for name in ("ba.png", "sheet.png", "plot.png"):
            assert np.array_equal(ref[name], got[name]), (face, name)
        assert got["focus.json"] == ref["focus.json"], face


def test_before_after_is_the_middle_frame_as_rendered(shot, single):
    """Left half: the input's frame N//2; right half: the output's frame N//2 (the rendered floats;
    the written clip is 8-bit 4:4:4 Y'CbCr, so its decode agrees within a few sRGB code values,
    while the neighbouring frame, whose bright square sits 3 px away, differs by far more)."""
    from genrefocus_video.colour import from_linear

    _, clip, _ = shot
    ba = cv2.imread(os.path.join(single, "ba.png"))[..., ::-1].astype(int)
    before, after = ba[:, :kit.W], ba[:, kit.W:]

    def srgb8(rgb):
        return (np.clip(from_linear(np.clip(rgb, 0, None), "srgb"), 0, 1) * 255 + 0.5).astype(int)

    assert np.abs(before - srgb8(kit.read_all(clip)[N // 2])).max() <= 1
    written = kit.read_all(os.path.join(single, "out.mkv"))
    assert np.abs(after - srgb8(written[N // 2])).max() <= 8
    assert np.abs(after - srgb8(written[N // 2 - 1])).max() > 100  # not a neighbour


def test_focus_export_follows_the_keyframes_on_every_frame(single):
    rows = json.load(open(os.path.join(single, "focus.json")))
    assert [r["frame"] for r in rows] == list(range(N))
    assert rows[0]["focus_disparity"] == pytest.approx(0.2) and rows[-1]["focus_disparity"] == pytest.approx(0.8)
    assert all(a["focus_disparity"] <= b["focus_disparity"] for a, b in zip(rows, rows[1:]))  # a monotone rack


def test_the_closing_line_counts_frames_in_words():
    """The summary line a wrangler reads says '1 frame', not '1 frames' (a single still or a one-frame
    chunk), and keeps the count a log parser greps for."""
    from genrefocus_video.pipeline.summary import RunSummary

    one = RunSummary("o.exr", 1, 2.0, "local", 1).line()
    many = RunSummary("o.mkv", 12, 2.0, "local", 1).line()
    chunk = RunSummary("o.mkv", 1, 2.0, "local", 1, chunks_total=3, only_chunk=(2, 8, 8)).line()
    assert one.startswith("wrote o.exr: 1 frame in 2.0 s (0.50 fps)"), one
    assert many.startswith("wrote o.mkv: 12 frames in 2.0 s (6.00 fps)"), many
    assert "rendered chunk 2 (frames 8-8): 1 frame in 2.0 s" in chunk, chunk

"""Depth estimated on the deblurred frame (issue #15 item 1, as the Genfocus reference does): with a
deblur stage and estimated depth, the deblur runs in the head before depth, once per frame, and the
depth source, its read-ahead and the focus probes all see the all-in-focus pixels.

The independent expectation is the explicit chain: deblur every frame first (the classical
deblur, written as a float32 EXR sequence), then render that sequence with the same estimated depth
and no deblur. Both must give the same disparity (--depth-out, exact float32) and the same picture,
bit for bit; the same job without deblur gives another disparity (the source really saw other
pixels)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.cli import main
from genrefocus_video.io.depthio import open_depth
from genrefocus_video.io.images import write_image
from genrefocus_video.io.reader import open_reader

W, H, N = 64, 48, 6


def _plate(i: int, rng_seed: int = 4) -> np.ndarray:
    """A panning textured wall and a nearer box moving faster (parallax for motion depth), softened
    by a lens blur so the deblur has something to do."""
    rng = np.random.default_rng(rng_seed)
    wall = cv2.GaussianBlur(rng.random((H, W + 40, 3)).astype(np.float32), (0, 0), 1.0)
    box = cv2.GaussianBlur(rng.random((18, 20, 3)).astype(np.float32), (0, 0), 0.8) * 0.6 + 0.4
    img = wall[:, 2 * i:2 * i + W].copy()
    x = 10 + 4 * i
    img[15:33, x:x + 20] = box
    return cv2.GaussianBlur(img, (0, 0), 1.3)


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    d = tmp_path_factory.mktemp("deblurdepth")
    for i in range(N):
        write_image(str(d / f"plate.{i:04d}.exr"), _plate(i))
    return d


def _render(src, out, *extra):
    return main(["render", src, "-o", out, "--k", "3", "--depth-source", "motion", "--depth-smoothing", "0",
                 "--no-progress", "--executor", "local", *extra])


def _frames(pattern):
    with open_reader(pattern) as r:
        return np.stack([f.rgb for f in r])


def _depth(pattern):
    with open_depth(pattern) as seq:
        return np.stack(list(seq))


def test_head_and_tail_place_deblur_by_depth_source(tmp_path):
    from genrefocus_video.io.frame import ClipInfo
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.stages import build_head, build_tail

    info = ClipInfo("x.mkv", "video", W, H)
    base = {"input.path": "x.mkv", "output.path": "y.mkv", "blur.k": 3.0, "focus.disparity": 0.5,
            "backends.deblur": "classical"}
    job = load_job(None, {**base, "depth.source": "motion"})
    head, tail = [s.name for s in build_head(job, info)], [s.name for s in build_tail(job, info)]
    assert head.index("deblur_classical") < head.index("depth_motion") and "deblur_classical" not in tail
    np.save(tmp_path / "d.npy", np.ones((H, W), np.float32))
    job = load_job(None, {**base, "depth.path": str(tmp_path / "d.npy")})  # a depth file: deblur stays in the tail, as before
    head, tail = [s.name for s in build_head(job, info)], [s.name for s in build_tail(job, info)]
    assert "deblur_classical" not in head and tail[:2] == ["deblur_classical", "bokeh"]


def test_depth_on_deblurred_frames_equals_the_explicit_chain(plates):
    from genrefocus_video.deblur.classical import predeblur

    d = plates
    focus = ["--focus-point", f"{W // 2},{H // 2}@3"]  # a focus probe: its depth chain must deblur too
    assert _render(str(d / "plate.%04d.exr"), str(d / "a.%04d.exr"), "--deblur", "classical",
                   "--depth-out", str(d / "da.%04d.exr"), *focus) == 0
    # the explicit chain: deblur, then the same render of the deblurred frames without deblur
    for i, rgb in enumerate(_frames(str(d / "plate.%04d.exr"))):
        write_image(str(d / f"aif.{i:04d}.exr"), predeblur(rgb), exr_half=False)  # exact float32
    assert _render(str(d / "aif.%04d.exr"), str(d / "b.%04d.exr"), "--depth-out", str(d / "db.%04d.exr"), *focus) == 0
    assert np.array_equal(_depth(str(d / "da.%04d.exr")), _depth(str(d / "db.%04d.exr")))
    assert np.array_equal(_frames(str(d / "a.%04d.exr")), _frames(str(d / "b.%04d.exr")))
    # without deblur the motion estimate sees the blurred frames: another disparity
    assert _render(str(d / "plate.%04d.exr"), str(d / "c.%04d.exr"), "--depth-out", str(d / "dc.%04d.exr"),
                   *focus) == 0
    assert not np.array_equal(_depth(str(d / "da.%04d.exr")), _depth(str(d / "dc.%04d.exr")))


def test_each_frame_is_deblurred_once(plates):
    """Motion reads later frames ahead at the clip start: through the head's cache, so the whole
    pass (head + tail) deblurs every frame exactly once."""
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.executors.local import run_stages
    from genrefocus_video.pipeline.stages import build_head, build_tail
    from genrefocus_video.pipeline.stages.aif import AllInFocusStage
    from genrefocus_video.record import FrameRecord

    d = plates
    job = load_job(None, {"input.path": str(d / "plate.%04d.exr"), "output.path": str(d / "o.%04d.exr"),
                          "blur.k": 3.0, "focus.disparity": 0.5, "backends.deblur": "classical",
                          "depth.source": "motion"})
    with open_reader(job.input.path) as r:
        info, frames = r.info, list(r)
    head, tail = build_head(job, info), build_tail(job, info)
    aif = next(s for s in head if isinstance(s, AllInFocusStage)).aif
    looked_ahead = []
    for fr in frames:
        rec = run_stages(FrameRecord(fr), head + tail)
        assert rec.aif is not None and rec.output is not None
        looked_ahead.append(aif.runs)
    assert aif.runs == N
    assert looked_ahead[0] > 1  # frame 0's motion depth read later frames, deblurred ahead of the pass

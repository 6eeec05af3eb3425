"""The frame lookup (pipeline/stages/probe.FrameLookup) keeps a video's frames decoded, not as
float32 RGB (issue 17: 237 -> ~60 MiB at 1080p 10-bit 4:2:0), and hands out exactly the frames a
fresh read gives."""
from __future__ import annotations

import tracemalloc

import numpy as np

from genrefocus_video.io.frame import Frame
from genrefocus_video.io.reader import open_reader
from genrefocus_video.params.job import load_job
from genrefocus_video.pipeline.stages.probe import FrameLookup
from test_pipeline_kit import write_clip

W, H, N = 320, 192, 12


def _clip_10bit_420(path: str) -> str:
    """A lossless 10-bit 4:2:0 FFV1 clip (the pixel layout of issue 17's HEVC clip): a moving
    square over smooth gradients, so every frame differs and chroma is not flat."""
    yy, xx = np.mgrid[0:H, 0:W]
    images = []
    for i in range(N):
        img = np.zeros((H, W, 3), np.uint16)
        img[..., 0] = xx * 65535 // (W - 1)
        img[..., 1] = yy * 65535 // (H - 1)
        img[..., 2] = (1000 * i) % 65535
        img[10:26, (5 * i) % (W - 16):(5 * i) % (W - 16) + 16] = 60000
        images.append(img)
    return write_clip(path, images, "yuv420p10le", "rgb48le")


def _lookup(path: str, cache: int | None = None) -> FrameLookup:
    job = load_job(overrides={"input.path": path, "depth.source": "motion"})
    with open_reader(path) as r:
        info = r.info
    return FrameLookup(job, info, cache)


def test_lookup_frames_are_fresh_reads_bit_for_bit(tmp_path):
    path = _clip_10bit_420(str(tmp_path / "c.mkv"))
    with open_reader(path) as r:
        streamed = list(r)
    lookup = _lookup(path, cache=4)
    assert lookup.frame(-1) is None and lookup.frame(N) is None
    lookup.prefetch(2, 9)  # one forward pass; only the cache size (4) is kept
    order = [3, 5, 2, 11, 0, 5, 4, 7, 3, 3, 10, 1]  # hits, misses (seeks) and evicted frames
    for i in order:
        fr = lookup.frame(i)
        assert isinstance(fr, Frame) and fr.index == i
        assert fr.rgb.dtype == np.float32 and np.array_equal(fr.rgb, streamed[i].rgb)
        assert fr.time == streamed[i].time
        assert np.array_equal(lookup(i), streamed[i].rgb)
    assert len(lookup._cache) == 4  # the count is the size it was given


def test_lookup_holds_decoded_frames_not_float_rgb(tmp_path):
    """The cache's bytes: decoded 10-bit 4:2:0 planes are 2 bytes x 1.5 samples a pixel, a float32
    RGB frame 12: the full cache holds < 0.3 of the float frames (the float cache: 1.0), and numpy
    holds none of it between calls (tracemalloc: the float cache kept every frame traced)."""
    path = _clip_10bit_420(str(tmp_path / "c.mkv"))
    lookup = _lookup(path)
    float_bytes = H * W * 3 * 4
    assert lookup.size == 16  # sized as before by float frames (focus follow's prefetch count)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lookup.prefetch(0, N - 1)
        for i in range(N):
            assert lookup(i) is not None
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(lookup._cache) == N
    assert held < 0.3 * N * float_bytes, f"numpy keeps {held} bytes for {N} frames of {float_bytes}"
    assert lookup.cached_bytes() < 0.3 * N * float_bytes


def test_sequence_lookup_keeps_frames(tmp_path):
    """An image sequence has no decoded form: the lookup keeps its frames, equal to a read."""
    import cv2

    for i in range(5):
        img = np.full((H, W, 3), 40 * i, np.uint8)
        img[:, : W // 2] = 200
        cv2.imwrite(str(tmp_path / f"f.{i:04d}.png"), img)
    pattern = str(tmp_path / "f.%04d.png")
    lookup = _lookup(pattern, cache=3)
    with open_reader(pattern) as r:
        for i in (4, 0, 2, 4, 1):
            assert np.array_equal(lookup(i), r.read(i).rgb)
    assert lookup.cached_bytes() == 3 * H * W * 3 * 4


def test_motion_depth_reads_each_later_frame_once(lfbench):
    """Motion depth asks the lookup for each later frame once per run (the lookup converts decoded
    frames on every call), and its depth is the same as when every frame re-reads its later frames."""
    from collections import Counter

    from lfbench_motion_clips import render_clip

    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.record import FrameRecord

    aif = render_clip(1, (256, 144), 8, "shake")["aif"]
    asked: Counter = Counter()

    def lookup(i: int):
        asked[i] += 1
        return aif[i] if 0 <= i < len(aif) else None

    kept = MotionDepthSource(frame_lookup=lookup)
    fresh = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < len(aif) else None)
    for t in range(len(aif)):
        fresh._ahead = {}  # no later gray kept: every frame reads its later frames again (the old way)
        a = kept.estimate(FrameRecord(Frame(t, aif[t])))
        b = fresh.estimate(FrameRecord(Frame(t, aif[t])))
        assert np.array_equal(a.disparity, b.disparity) and np.array_equal(a.confidence, b.confidence)
    assert asked and max(n for i, n in asked.items() if i < len(aif)) == 1, asked

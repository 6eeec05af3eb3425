"""One decoder per job (io/shared_stream.py, pipeline/inputs.py): the frame loop's reader serves
the reads just ahead of it (motion depth's later frames, the smoother's look-ahead), so a frame is
decoded once and the frame lookup opens no decoder of its own while the loop runs (issue 17: a
second HEVC decoder held ~100 MiB at 1080p; a long-GOP clip was decoded from its keyframe again
for every block the lookup read ahead)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.shared_stream import SharedStream
from genrefocus_video.params.job import load_job
from genrefocus_video.pipeline import inputs
from genrefocus_video.pipeline.stages.probe import FrameLookup
from test_pipeline_lookup_memory import N, _clip_10bit_420


def test_stream_hands_every_frame_once_in_order_to_the_iteration():
    stream = SharedStream(iter([(i, f"f{i}") for i in range(10)]), limit=4)
    assert stream.next() == (0, "f0")
    assert [i for i, _ in stream.serve(3)] == [3, 4]  # 1..4 decoded early: the limit (4) stops it at 4
    assert list(stream.serve(0)) == []  # behind the iteration: not served (the reader seeks)
    got = [stream.next() for _ in range(9)]
    assert [i for i, _ in got] == list(range(1, 10)) and stream.next() is None
    assert stream.served == 2


def test_a_decoder_error_met_reading_ahead_is_raised_by_the_iteration_in_order():
    """A damaged frame found by a read ahead must not end the clip quietly: the iteration gets the
    frames before it, then the decoder's error (io.video_reader names the frame in it)."""
    def frames():
        yield from [(0, "f0"), (1, "f1"), (2, "f2")]
        raise ValueError("frame 3 cannot be decoded")

    stream = SharedStream(frames())
    assert stream.next() == (0, "f0")
    assert [i for i, _ in stream.serve(1)] == [1, 2]  # stops at the damaged frame
    assert stream.next() == (1, "f1") and stream.next() == (2, "f2")
    with pytest.raises(ValueError, match="frame 3"):
        stream.next()
    assert stream.next() is None


def test_stream_serves_across_threads_without_losing_or_repeating_frames():
    """The overlapped executor iterates on its lead thread while the head reads ahead on another."""
    stream = SharedStream(iter([(i, i) for i in range(400)]), limit=8)
    seen: list[int] = []

    def iterate() -> None:
        while (item := stream.next()) is not None:
            seen.append(item[0])

    t = threading.Thread(target=iterate)
    t.start()
    for first in range(0, 400, 3):
        for i, v in stream.serve(first):
            assert i == v and i >= first
            if i > first + 2:
                break
    t.join()
    assert seen == list(range(400))


def test_reads_ahead_of_the_iteration_come_from_its_decoder_bit_for_bit(tmp_path):
    path = _clip_10bit_420(str(tmp_path / "c.mkv"))
    with open_reader(path) as r:
        fresh = [r.read(i) for i in range(N)]  # random access: the seek decoder
    with open_reader(path) as r:
        impl = r._impl
        for fr in r:
            assert np.array_equal(fr.rgb, fresh[fr.index].rgb) and fr.time == fresh[fr.index].time
            ahead = list(r.read_range_decoded(fr.index + 1, min(fr.index + 3, N - 1)))
            assert [d.index for d in ahead] == list(range(fr.index + 1, min(fr.index + 3, N - 1) + 1))
            for d in ahead:
                assert np.array_equal(d.frame().rgb, fresh[d.index].rgb)
            if fr.index >= 2:  # behind the iteration: read by seeking, the same values
                assert np.array_equal(r.read_decoded(fr.index - 2).frame().rgb, fresh[fr.index - 2].rgb)
        assert impl._stream is None  # iteration over: reads go to the seek decoder again
        assert impl._seek_container is not None


def test_the_frame_lookup_borrows_the_loop_reader_and_frees_its_own(tmp_path):
    path = _clip_10bit_420(str(tmp_path / "c.mkv"))
    job = load_job(overrides={"input.path": path, "depth.source": "motion"})
    with open_reader(path) as r:
        info = r.info
    lookup = FrameLookup(job, info, cache=4)
    assert lookup.frame(0) is not None and lookup._reader is not None  # before the loop: its own reader
    with open_reader(path) as loop_reader, inputs.reading(job, loop_reader):
        frames = iter(loop_reader)
        first = next(frames)
        assert lookup.frame(1) is not None  # read ahead of the loop: served by the loop's decoder
        assert lookup._reader is None  # its own reader (and decoder) closed
        stream = loop_reader._impl._stream
        assert stream is not None and stream.served >= 1
        lookup.prefetch(2, 4)
        rest = [fr.index for fr in frames]
        assert first.index == 0 and rest == list(range(1, N))  # the loop still gets every frame once
    assert inputs.loop_reader(job) is None  # lent only while the loop runs


def test_a_damaged_frame_read_ahead_still_fails_the_iteration_naming_it(tmp_path):
    """A real damaged ProRes frame (io.truncation's test clip): a read ahead that meets it stops,
    and the loop still gets every frame before it, then the one-line error naming the frame."""
    from genrefocus_video.errors import InputError
    from test_io_truncation import DAMAGED, _damage_frame, _write

    clip = _damage_frame(_write(str(tmp_path / "full.mov"), "prores_ks", "yuv422p10le"),
                         str(tmp_path / "damaged.mov"), DAMAGED)
    got = []
    with open_reader(clip) as r:
        with pytest.raises(InputError, match=f"frame {DAMAGED} cannot be decoded"):
            for fr in r:
                got.append(fr.index)
                try:  # as the frame lookup reads ahead: a frame that cannot be read is None there
                    list(r.read_range_decoded(fr.index + 1, fr.index + 4))
                except InputError:
                    pass
    assert got == list(range(DAMAGED))


def test_a_render_with_motion_depth_and_smoothing_opens_one_decoder(tmp_path, monkeypatch):
    """The whole job (the CLI in process, overlapped executor): motion depth reads up to 8 frames
    ahead and the smoother 1 ahead, all through the loop's reader. Every reader the job opens is
    counted (a spy that calls through): the loop's and nothing else."""
    from genrefocus_video.cli import main

    path = _clip_10bit_420(str(tmp_path / "c.mkv"))
    opened: list[str] = []
    real = inputs.open_input

    def counted(job, *a, **k):
        opened.append(str(job.input.path))
        return real(job, *a, **k)

    monkeypatch.setattr(inputs, "open_input", counted)  # every reader of the job's input comes from here
    out = str(tmp_path / "out.mkv")
    assert main(["render", path, "-o", out, "--depth-source", "motion", "--depth-smoothing", "0.8",
                 "--focus-disparity", "0.5", "--k", "4", "--no-progress", "--codec", "ffv1"]) == 0
    assert opened == [path]
    with open_reader(out) as r:
        assert len(r) == N

"""The in-process executor's overlap (pipeline/executors/overlap.py): the tail of frame i on a
worker thread while frame i+1 is decoded and goes through the head.

Checked: the tail really runs beside the next head (a tail that waits for the next frame's head
would time out in a sequential loop), records come out in order, failures behave as in the
sequential loop (a head failure still writes every frame before it; a tail failure stops there),
and the real stages (motion depth, smoothing, a followed subject, bokeh) give bit-identical
output with and without the overlap.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.pipeline.executors.local import LocalExecutor, run_stages
from genrefocus_video.pipeline.executors.overlap import overlapped
from genrefocus_video.pipeline.loop import decoded
from genrefocus_video.record import FrameRecord


class Head:
    name, temporal = "head", True

    def __init__(self, started: dict, fail_at: int = -1) -> None:
        self.started, self.fail_at = started, fail_at

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index == self.fail_at:
            raise RuntimeError(f"head failed at frame {rec.index}")
        self.started.setdefault(rec.index, threading.Event()).set()
        rec.extras["head_thread"] = threading.current_thread().name
        return rec


class Tail:
    """Frame i's tail waits (bounded) until frame i+1's head has started: only an overlap lets it."""
    name, temporal = "tail", False

    def __init__(self, started: dict, last: int, fail_at: int = -1) -> None:
        self.started, self.last, self.fail_at = started, last, fail_at

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index == self.fail_at:
            raise RuntimeError(f"tail failed at frame {rec.index}")
        if rec.index < self.last:
            rec.extras["overlapped"] = self.started.setdefault(rec.index + 1, threading.Event()).wait(5.0)
        rec.extras["tail_thread"] = threading.current_thread().name
        rec.output = rec.frame.rgb * 2
        return rec


def test_the_tail_runs_beside_the_next_head_in_order():
    started: dict = {}
    out = list(overlapped(kit.records(6), [Head(started)], [Tail(started, 5)], run_stages))
    assert [r.index for r in out] == list(range(6))
    assert all(r.extras["overlapped"] for r in out[:-1])
    assert {r.extras["tail_thread"] for r in out} != {r.extras["head_thread"] for r in out}
    ref = list(kit.records(6))
    assert all(np.array_equal(r.output, q.frame.rgb * 2) for r, q in zip(out, ref))


def test_a_head_failure_still_yields_every_frame_before_it():
    started: dict = {}
    seen = []
    with pytest.raises(RuntimeError, match="head failed at frame 4"):
        for r in overlapped(kit.records(8), [Head(started, fail_at=4)], [Tail(started, 3)], run_stages):
            seen.append(r.index)
    assert seen == [0, 1, 2, 3]


def test_a_tail_failure_stops_at_that_frame():
    started: dict = {}
    seen = []
    with pytest.raises(RuntimeError, match="tail failed at frame 2"):
        for r in overlapped(kit.records(8), [Head(started)], [Tail(started, 0, fail_at=2)], run_stages):
            seen.append(r.index)
    assert seen == [0, 1]


def _render(job, overlap: bool) -> list[np.ndarray]:
    from genrefocus_video.pipeline.inputs import open_input

    reader = open_input(job)
    ex = LocalExecutor(overlap=overlap)
    ex.prepare(job, reader.info)
    return [(r.output.copy(), r.focus_disparity, r.disparity.copy()) for r in ex.map(decoded(reader), job, reader.info)]


def test_real_stages_give_the_same_output_with_and_without_the_overlap(tmp_path):
    from genrefocus_video.params import load_job

    clip = kit.make_clip(str(tmp_path / "src.mkv"), n=8, w=96, h=64)
    job = load_job(None, {"input.path": clip, "output.path": str(tmp_path / "o.mkv"), "executor.progress": False,
                          "depth.source": "motion", "depth.smoothing": 0.8, "focus.track": "follow",
                          "focus.box": "30,20,24,20", "blur.k": 6.0})
    seq, ovl = _render(job, False), _render(job, True)
    assert len(seq) == len(ovl) == 8
    for (o1, a1, d1), (o2, a2, d2) in zip(seq, ovl):
        assert a1 == a2 and np.array_equal(d1, d2) and np.array_equal(o1, o2)
    from genrefocus_video.pipeline.inputs import open_input

    sources = [r.frame.rgb for r in decoded(open_input(job))]
    assert max(float(np.abs(o - src).max()) for (o, _, _), src in zip(seq, sources)) > 1e-2  # it did refocus


class _Info:
    def __init__(self, w: int, h: int) -> None:
        self.width, self.height = w, h


def test_frames_over_the_memory_bound_run_one_at_a_time():
    from genrefocus_video.pipeline.stages import StageFactory

    def threads(info) -> set:
        started: dict = {}
        factory = StageFactory(head=lambda j, i: [Head(started)], tail=lambda j, i: [Tail(started, -1)])
        ex = LocalExecutor(factory)
        ex.prepare(None, info)
        out = list(ex.map(kit.records(3), None, info))
        return {r.extras["tail_thread"] for r in out} | {r.extras["head_thread"] for r in out}

    assert len(threads(_Info(1280, 720))) == 2  # 720p: the tail on its own thread
    assert len(threads(_Info(1920, 1080))) == 1  # 1080p: head and tail in the caller's thread


class Lead:
    """A leading head stage (``runs_ahead``): records its thread and when each frame reached it."""
    name, temporal, runs_ahead = "lead", True, True

    def __init__(self, reached: dict, fail_at: int = -1) -> None:
        self.reached, self.fail_at = reached, fail_at

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index == self.fail_at:
            raise RuntimeError(f"lead failed at frame {rec.index}")
        rec.extras["lead_thread"] = threading.current_thread().name
        self.reached.setdefault(rec.index, threading.Event()).set()
        return rec


class AfterLead(Head):
    """Frame i's head waits (bounded) until frame i+1 has passed the lead: only running ahead lets it."""

    def __init__(self, started: dict, reached: dict, last: int) -> None:
        super().__init__(started)
        self.reached, self.last = reached, last

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index < self.last:
            rec.extras["ahead"] = self.reached.setdefault(rec.index + 1, threading.Event()).wait(5.0)
        return super().process(rec)


def test_lead_stages_run_a_frame_ahead_on_their_own_thread():
    started: dict = {}
    reached: dict = {}
    head = [Lead(reached), AfterLead(started, reached, 5)]
    out = list(overlapped(kit.records(6), head, [Tail(started, 5)], run_stages))
    assert [r.index for r in out] == list(range(6))
    assert all(r.extras["ahead"] for r in out[:-1]) and all(r.extras["overlapped"] for r in out[:-1])
    threads = [{r.extras[k] for r in out} for k in ("lead_thread", "head_thread", "tail_thread")]
    assert all(len(t) == 1 for t in threads) and len(set.union(*threads)) == 3
    ref = list(kit.records(6))
    assert all(np.array_equal(r.output, q.frame.rgb * 2) for r, q in zip(out, ref))


def test_a_lead_failure_still_yields_every_frame_before_it():
    started: dict = {}
    seen = []
    with pytest.raises(RuntimeError, match="lead failed at frame 3"):
        for r in overlapped(kit.records(8), [Lead({}, fail_at=3), Head(started)], [Tail(started, 2)], run_stages):
            seen.append(r.index)
    assert seen == [0, 1, 2]


def test_only_a_leading_run_of_runs_ahead_stages_leads():
    from genrefocus_video.pipeline.executors.overlap import lead_count

    assert lead_count([Lead({}), Lead({}), Head({})]) == 2
    assert lead_count([Head({}), Lead({})]) == 0  # a stage that must see frames first stays in front
    assert lead_count([Lead({})]) == 0  # nothing behind it: no third thread
    assert lead_count([]) == 0


def test_an_early_stop_finishes_the_lead_frame_in_flight():
    started: dict = {}
    gen = overlapped(kit.records(8), [Lead({}), Head(started)], [Tail(started, -1)], run_stages)
    first = next(gen)
    gen.close()  # the consumer stops: no thread is left running
    assert first.index == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(("genrefocus-lead", "genrefocus-tail"))]

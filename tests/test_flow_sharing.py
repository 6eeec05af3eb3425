"""One flow per frame pair (flow.PairFlows): the flow stage, a followed subject walked back from
its box frame and the focus probes' depth chains share each pair's DIS flows.

Checked against the flows computed directly (DIS is deterministic, so shared = recomputed, bit
for bit), the cache's bound and its consume-behind-the-main-pass rule, and a real head (motion
depth, smoothing, a subject boxed mid-clip) with and without sharing: same focus and disparity
on every frame, and the main pass served flows the walk back and the probes computed.
"""
from __future__ import annotations

import numpy as np

import test_pipeline_kit as kit
from genrefocus_video.flow import PairFlows, forward_backward


def _frames(n: int = 3):
    return [r.frame.rgb for r in kit.records(n, 64, 48)]


def test_shared_flows_equal_direct_ones_in_both_directions():
    a, b = _frames(2)
    ref = forward_backward(a, b)
    pf = PairFlows()
    got = pf.forward_backward(5, 6, a, b)
    assert all(np.array_equal(x, y) for x, y in zip(got, ref)) and pf.misses == 2 and pf.hits == 0
    back = pf.forward_backward(6, 5, b, a)  # the reversed pair: both flows from the cache
    ref_back = forward_backward(b, a)
    assert all(np.array_equal(x, y) for x, y in zip(back, ref_back)) and pf.hits == 2 and pf.misses == 2


def test_consume_empties_the_cache_and_the_bound_holds():
    a, b, c = _frames(3)
    flow_bytes = 64 * 48 * 2 * 4
    mask_bytes = 64 * 48 * 4  # the consistency mask of the first frame, kept with its flow
    pf = PairFlows(max_bytes=3 * flow_bytes)
    pf.forward_backward(0, 1, a, b)
    assert pf._bytes == 2 * flow_bytes + mask_bytes
    pf.forward_backward(1, 2, b, c)  # 4 flows + 2 masks > bound: the oldest go
    assert pf._bytes <= 3 * flow_bytes and (0, 1, "medium", (48, 64)) not in pf._flows
    assert list(pf._flows) == [(1, 2, "medium", (48, 64)), (2, 1, "medium", (48, 64))]
    pf.forward_backward(2, 1, c, b, keep=False, consume=True)
    assert pf.hits == 2 and not pf._flows and pf._bytes == 0


def test_a_hand_over_gives_the_second_user_the_first_users_mask():
    """The smoother's look-ahead at t and the flow stage at t + 1 ask for the same pair: whichever
    comes second takes the flows and the consistency mask out (computed once, the same values)."""
    a, b = _frames(2)
    ref = forward_backward(a, b)
    pf = PairFlows()
    first = pf.forward_backward(1, 0, a, b, keep=True, consume=True)
    second = pf.forward_backward(1, 0, a, b, keep=True, consume=True)
    assert all(np.array_equal(x, y) for x, y in zip(first, ref)) and pf.misses == 2
    assert all(x is y for x, y in zip(first, second)) and pf.hits == 2 and not pf._flows


def _head_run(job, share: bool):
    from genrefocus_video.pipeline.inputs import open_input
    from genrefocus_video.pipeline.loop import decoded
    from genrefocus_video.pipeline.stages import build_head

    reader = open_input(job)
    head = build_head(job, reader.info)
    flows = head[0].flows
    if not share:
        head[0].flows = None
        next(s for s in head if s.name == "focus").probe.flows = None
    out = []
    for rec in decoded(reader):
        for s in head:
            rec = s.process(rec) or rec
        out.append((rec.focus_disparity, rec.disparity.copy(), None if rec.flow_to_prev is None else rec.flow_to_prev.copy()))
    return out, flows


def test_a_head_with_a_mid_clip_box_gives_the_same_frames_with_shared_flows(tmp_path):
    from genrefocus_video.params import load_job

    clip = kit.make_clip(str(tmp_path / "src.mkv"), n=8, w=96, h=64)
    job = load_job(None, {"input.path": clip, "output.path": str(tmp_path / "o.mkv"), "executor.progress": False,
                          "depth.source": "motion", "depth.smoothing": 0.8, "focus.track": "follow",
                          "focus.box": "30,20,24,20@5", "blur.k": 6.0})
    shared, flows = _head_run(job, True)
    alone, _ = _head_run(job, False)
    for (a1, d1, f1), (a2, d2, f2) in zip(shared, alone):
        assert a1 == a2 and np.array_equal(d1, d2)
        assert (f1 is None and f2 is None) or np.array_equal(f1, f2)
    assert flows.hits >= 8  # the main pass's pairs 1..4 came from the walk back / probes (2 flows each)

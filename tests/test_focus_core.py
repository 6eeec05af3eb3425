"""The focus algorithms of focus/ called directly (arrays and plain values, no pipeline): point
pick, centre focus, the mode plan and its checks, per-frame resolution, follow focus forward and
back on an lfbench clip. The pipeline's FocusStage is a thin adapter over these functions; the
last test checks that it gives exactly what they give."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, JobError
from genrefocus_video.flow import detect_scene_cut, forward_backward
from genrefocus_video.focus.follow import ClipAccess, SubjectFollow
from genrefocus_video.focus.modes import clip_frames, plan_focus, resolve_focus
from genrefocus_video.focus.point import centre_disparity, point_disparity
from genrefocus_video.focus.resolve import ROW_KEYS, FocusResolver
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from temporal_fixtures import lf_follow_clip  # noqa: F401

W, H = 160, 90


def _focus(**kw):
    """A focus section as the schema builds it (defaults of params.focus), with overrides."""
    return load_job(overrides={f"focus.{k}": v for k, v in kw.items()}).focus


def _subject_scene(subject: float = 0.4, background: float = 0.1, spikes: float = 0.05, seed: int = 0) -> np.ndarray:
    """Background plane with a fronto-parallel subject card (x 60-100, y 30-70) and depth spikes."""
    rng = np.random.default_rng(seed)
    d = np.full((H, W), background, np.float32)
    d[30:70, 60:100] = subject
    spike = rng.random((H, W)) < spikes
    d[spike] = rng.choice([0.0, 5.0], size=int(spike.sum())).astype(np.float32)
    return d


def test_point_pick_returns_the_subject_plane_despite_spikes():
    d = _subject_scene()
    v, lo, hi = point_disparity(d, 80, 50)
    assert v == pytest.approx(0.4, abs=1e-7) and lo == pytest.approx(0.4, abs=1e-7) and hi == pytest.approx(0.4, abs=1e-7)
    # one pixel inside the card's left edge: the window (2 % of the width each side) is mostly card
    assert point_disparity(d, 63, 50)[0] == pytest.approx(0.4, abs=1e-7)
    assert point_disparity(d, 10, 10)[0] == pytest.approx(0.1, abs=1e-7)  # the background


def test_point_pick_on_a_sloped_plane_is_the_value_under_the_pixel():
    """On a plane d = c + g·x the window's median is the plane's value at its centre."""
    x = np.arange(W, dtype=np.float32)
    d = np.tile(0.2 + 0.001 * x, (H, 1)).astype(np.float32)
    assert point_disparity(d, 70, 40)[0] == pytest.approx(0.2 + 0.001 * 70, abs=1e-6)


def test_centre_focus_measures_the_middle_of_the_frame():
    d = _subject_scene()
    assert centre_disparity(d) == pytest.approx(0.4, abs=1e-7)  # the card covers the middle 20 %


def _clip(n: int = 30, first: int = 0, last=None):
    return clip_frames(first, last, n, W, H, Fraction(24000, 1001), None)


def test_modes_resolve_to_their_analytic_values():
    planes = {t: np.full((H, W), 0.1 + 0.01 * t, np.float32) for t in range(30)}
    at = planes.__getitem__
    assert resolve_focus(_focus(depth=2.0), _clip(), 7, at) == 0.5
    assert resolve_focus(_focus(disparity=0.33), _clip(), 7, at) == pytest.approx(0.33)
    # the point is picked on its own frame (5), whatever frame is asked for
    assert resolve_focus(_focus(point="20,20@5"), _clip(), 17, at) == pytest.approx(0.15, abs=1e-6)
    # keyframes: a point key on frame 10, a depth key on frame 20, linear in between
    focus = _focus(keyframes="10:@30/40,20:4m", ease="linear")
    plan = plan_focus(focus, _clip(), at)
    assert plan.mode == "keyframes/linear" and [k.frame for k in plan.keys] == [10, 20]
    assert plan.at(10) == pytest.approx(0.2, abs=1e-6) and plan.at(20) == pytest.approx(0.25)
    assert plan.at(15) == pytest.approx(0.225, abs=1e-6) and plan.at(3) == pytest.approx(0.2, abs=1e-6)
    # no focus given: the centre of the first rendered frame
    assert resolve_focus(_focus(), _clip(first=4), 9, at) == pytest.approx(0.14, abs=1e-6)


@pytest.mark.parametrize("kw, message", [
    ({"range_subject": True, "disparity": 0.2}, "'focus.range_subject' (--focus-range-subject) needs a followed subject"),
    ({"track": "follow"}, "'focus.track' follow needs 'focus.box'"),
    ({"track": "follow", "box": "10,10,20,20@40"}, "'focus.box' frame 40 is outside the clip's frames 0..29"),
    ({"point": "500,10"}, "'focus.point' (500, 10) is outside the 160x90 frame"),
    ({"point": "10,10@31"}, "'focus.point' frame 31 is outside the clip's frames 0..29"),
    ({"depth": 0.0}, "'focus.depth' must be > 0, got 0.0"),
])
def test_contradictory_settings_give_one_line(kw, message):
    with pytest.raises(ConfigError) as exc:
        plan_focus(_focus(**kw), _clip(), lambda t: np.zeros((H, W), np.float32))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_follow_is_resolved_frame_by_frame_not_in_closed_form():
    plan = plan_focus(_focus(track="follow", box="10,10,20,20@3"), _clip(), lambda t: None)
    assert plan.follow and plan.box == (10.0, 10.0, 20.0, 20.0) and plan.box_frame == 3
    with pytest.raises(ConfigError):
        plan.at(5)


def _follow_forward(c, box_frame: int = 0):
    """SubjectFollow on the lfbench clip, frames in order, with the flow the FlowStage computes."""
    x, y, w, h = c.subject_box(box_frame)
    follow = SubjectFollow((x, y, w, h), box_frame, 0, 24.0, 0.15)
    out, prev = {}, None
    for t in range(box_frame, c.frames):
        rgb = c.aif(t)
        flow = cut = None
        if prev is not None:
            flow, _, valid = forward_backward(rgb, prev)
            cut = detect_scene_cut(rgb, prev, flow, valid)[0]
        out[t] = follow.forward(t, rgb, c.disparity(t), None, flow, bool(cut))
        prev = rgb
    return follow, out


def test_follow_forward_on_lfbench_within_documented_rms(lf_follow_clip):
    """docs/temporal.md: following from the GT box has RMS error < 5 % of the clip's disparity range."""
    c = lf_follow_clip
    follow, steps = _follow_forward(c)
    a = np.array([steps[t].focus for t in range(c.frames)])
    rms = float(np.sqrt(np.mean((a - c.subject_disparity) ** 2)))
    assert rms < 0.05 * c.disparity_range, (rms, c.disparity_range)
    assert all(s.fields["status"] == "tracking" and s.lost is None for s in steps.values())
    assert follow.lost_spans == []


def test_follow_back_from_a_mid_clip_box_within_documented_rms(lf_follow_clip):
    """A box on frame 12 is followed back to frame 0 (docs/temporal.md: within 5 % of the range)."""
    c = lf_follow_clip
    follow = SubjectFollow(c.subject_box(12), 12, 0, 24.0, 0.15)
    access = ClipAccess(c.disparity, c.aif)
    steps = {t: follow.before_box(t, access) for t in range(12)}
    a = np.array([steps[t].focus for t in range(12)])
    truth = c.subject_disparity[:12]
    rms = float(np.sqrt(np.mean((a - truth) ** 2)))
    assert rms < 0.05 * c.disparity_range, (rms, c.disparity_range)
    assert float(np.sqrt(np.mean((c.subject_disparity[12] - truth) ** 2))) > 2 * rms  # holding would be wrong
    # without frame access the box frame's depth is held
    held = SubjectFollow(c.subject_box(12), 12, 0, 24.0, 0.15).before_box(3, ClipAccess(c.disparity))
    assert held.fields["status"] == "before-box"
    assert held.focus == pytest.approx(c.subject_disparity[12], abs=0.05 * c.disparity_range)


def test_follow_needs_the_box_frame_first(lf_follow_clip):
    c = lf_follow_clip
    follow = SubjectFollow(c.subject_box(2), 2, 0, 24.0, 0.15)
    with pytest.raises(JobError, match="warm-up too short"):
        follow.forward(5, c.aif(5), c.disparity(5), None, None, False)


def test_the_focus_stage_gives_what_the_core_functions_give(lf_follow_clip):
    """FocusStage (the CLI/Ray/farm path) is an adapter: its per-frame focus and rows equal
    FocusResolver's, and for keyframes equal resolve_focus (what the OFX bridge can call)."""
    from genrefocus_video.pipeline.stages.focus import FocusStage

    c = lf_follow_clip
    info = ClipInfo(path="unused.%04d.exr", kind="sequence", width=c.aif(0).shape[1], height=c.aif(0).shape[0],
                    fps=Fraction(24), n_frames=c.frames)
    job = load_job(overrides={"input.path": "unused.%04d.exr", "focus.keyframes": "0:@40/30,12:0.5,23:@10/10",
                              "focus.ease": "ease"})
    stage = FocusStage(job, info, c.disparity)
    clip = clip_frames(0, None, c.frames, info.width, info.height, info.fps)
    for t in range(c.frames):
        rec = stage.process(FrameRecord(Frame(index=t, rgb=c.aif(t), time=t / 24)))
        assert rec.focus_disparity == resolve_focus(job.focus, clip, t, c.disparity)
        assert list(rec.extras["focus"]) == list(ROW_KEYS)
    resolver = FocusResolver(job.focus, clip, ClipAccess(c.disparity))
    assert [resolver.frame(t, t / 24).row for t in range(c.frames)] == stage.rows
    assert stage.mode == "keyframes/ease" and not stage.temporal

"""Following a subject on an lfbench clip, lost tracks, scene cuts, exports and the plot."""
from __future__ import annotations

import json
import logging
from fractions import Fraction

import numpy as np
import pytest

from genrefocus_video.errors import ConfigError
from genrefocus_video.focus.export import read_focus_track
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.reader import open_reader
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages.temporal import FocusStage, build_temporal_stages, finalize_temporal
from temporal_fixtures import lf_follow_clip  # noqa: F401


def _run(job, frames=None):
    with open_reader(job.input.path) as r:
        stages = build_temporal_stages(job, r.info)
        recs = []
        for fr in (frames if frames is not None else r):
            rec = FrameRecord(fr)
            for s in stages:
                rec = s.process(rec)
            recs.append(rec)
    return stages, recs


def test_follow_track_rms_under_5_percent_of_range(lf_follow_clip, tmp_path):
    c = lf_follow_clip
    x, y, w, h = c.subject_box(0)
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern,
                              "focus.track": "follow", "focus.box": f"{x},{y},{w},{h}",
                              "focus.export": str(tmp_path / "track.json"), "focus.plot": str(tmp_path / "track.png")})
    stages, recs = _run(job)
    a = np.array([r.focus_disparity for r in recs])
    rms = float(np.sqrt(np.mean((a - c.subject_disparity) ** 2)))
    assert rms < 0.05 * c.disparity_range, (rms, c.disparity_range)
    assert all(r.extras["focus"]["status"] == "tracking" for r in recs)
    written = finalize_temporal(stages)
    rows = json.loads((tmp_path / "track.json").read_text())
    assert [r["frame"] for r in rows] == list(range(c.frames))
    assert np.allclose([r["focus_disparity"] for r in rows], a)
    assert {"subject_disparity", "subject_lo", "subject_hi", "box_x", "status"} <= set(rows[0])
    png = (tmp_path / "track.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert set(written) == {"focus_track", "focus_plot"}


def test_scene_cut_mid_track_holds_focus_and_says_so(lf_follow_clip, tmp_path, caplog):
    """Frames 0-9 of the clip, then 6 frames of unrelated content: the track is lost at the cut."""
    c = lf_follow_clip
    cut = 10
    rgb = [c.aif(t) for t in range(cut)]
    other = [np.ascontiguousarray(c.aif(t)[::-1, ::-1] * np.float32(0.25)) for t in range(6)]
    disp = [c.disparity(t) for t in range(cut)] + [c.disparity(t)[::-1, ::-1] for t in range(6)]
    np.save(tmp_path / "d.npy", np.stack(disp))
    x, y, w, h = c.subject_box(0)
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": str(tmp_path / "d.npy"),
                              "focus.track": "follow", "focus.box": f"{x},{y},{w},{h}"})
    info = ClipInfo(path="mem", kind="sequence", width=c.width, height=c.height, fps=Fraction(24), n_frames=16)
    stages = build_temporal_stages(job, info)
    recs = []
    with caplog.at_level(logging.WARNING):
        for t, img in enumerate(rgb + other):
            rec = FrameRecord(Frame(t, img, None, t / 24))
            for s in stages:
                rec = s.process(rec)
            recs.append(rec)
    assert recs[cut].extras["scene_cut"] is True
    assert recs[cut].extras["focus"]["status"] == "lost"
    assert "scene cut" in recs[cut].extras["focus_track_lost"]
    held = recs[cut - 1].focus_disparity
    for r in recs[cut:]:
        if r.extras["focus"]["status"] == "lost":
            assert r.focus_disparity == pytest.approx(held)  # held, never a silent jump to other content
    assert any(f"frame {cut}: subject track lost (scene cut)" in m for m in caplog.messages)
    finalize_temporal(stages)
    assert any("subject track was lost on frames 10-" in m for m in caplog.messages)


def test_follow_config_errors(lf_follow_clip):
    c = lf_follow_clip
    base = {"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "focus.track": "follow"}
    info = ClipInfo(path="mem", kind="sequence", width=c.width, height=c.height, fps=Fraction(24), n_frames=24)
    with pytest.raises(ConfigError, match="needs 'focus.box'"):
        build_temporal_stages(load_job(overrides=base), info)
    with pytest.raises(ConfigError, match="lies outside the 192x108 frame"):
        build_temporal_stages(load_job(overrides={**base, "focus.box": "300,10,20,20"}), info)
    with pytest.raises(ConfigError, match="'focus.box' frame 40 is outside the clip's frames 0..23"):
        build_temporal_stages(load_job(overrides={**base, "focus.box": "10,10,20,20@40"}), info)
    with pytest.raises(ConfigError, match="needs a followed subject"):
        build_temporal_stages(load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern,
                                                  "focus.disparity": 0.5, "focus.range_subject": True}), info)


def test_focus_range_subject_keeps_the_moving_subject_inside_the_sharp_band(lf_follow_clip, tmp_path):
    """The subject crosses the disparity range in a second; a followed focus lags it (by up to
    ~0.03), so the subject blurs a little. With --focus-range-subject the band grows to cover it:
    the subject's true disparity stays within a ± w/2 up to a small lag of the band itself, and the
    band is exported per frame."""
    c = lf_follow_clip
    x, y, w, h = c.subject_box(0)
    miss = {}
    for rs in (False, True):
        job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "focus.track": "follow",
                                  "focus.box": f"{x},{y},{w},{h}", "focus.range_subject": rs, "focus.range": 0.0,
                                  "focus.export": str(tmp_path / f"t{rs}.csv")})
        stages, recs = _run(job)
        a = np.array([r.focus_disparity for r in recs])
        band = np.array([r.focus_range for r in recs], float)
        miss[rs] = np.maximum(np.abs(c.subject_disparity - a) - band / 2, 0.0)  # disparity left outside the band
        finalize_temporal(stages)
        rows = read_focus_track(str(tmp_path / f"t{rs}.csv"))
        np.testing.assert_allclose([r["focus_range"] for r in rows], band, atol=1e-9)
    assert np.sqrt(np.mean(miss[True] ** 2)) < 0.25 * np.sqrt(np.mean(miss[False] ** 2))
    assert miss[True].max() < 0.01 * c.disparity_range * 2  # < 2 % of the range, even at the fastest motion
    assert miss[False].max() > 0.02  # the plain follow focus really does lag


def test_rack_keyframes_point_key_and_csv_export(lf_follow_clip, tmp_path):
    """Background -> subject rack: exact at keys; a picked-point key resolves to the subject's depth."""
    c = lf_follow_clip
    x, y, w, h = c.subject_box(20)
    cx, cy = x + w // 2, y + h // 2
    bg = c.meta["layers"][0]["disparity"]
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern,
                              "focus.keyframes": f"4:{bg},20:@{cx}/{cy}", "focus.ease": "ease",
                              "focus.export": str(tmp_path / "t.csv")})
    info = ClipInfo(path=c.aif_pattern, kind="sequence", width=c.width, height=c.height, fps=Fraction(24), n_frames=24)
    stages = build_temporal_stages(job, info)
    focus = [s for s in stages if isinstance(s, FocusStage)][0]
    assert not focus.temporal  # keyframed focus is stateless: chunks need no warm-up
    assert focus.keys[1].value == pytest.approx(c.subject_disparity[20], abs=1e-4)
    for t in range(24):
        rec = FrameRecord(Frame(t, np.zeros((c.height, c.width, 3), np.float32), None, t / 24))
        rec.disparity = c.disparity(t)
        focus.process(rec)
    finalize_temporal(stages)
    rows = read_focus_track(str(tmp_path / "t.csv"))
    a = np.array([r["focus_disparity"] for r in rows])
    assert a[4] == pytest.approx(bg) and a[20] == pytest.approx(c.subject_disparity[20], abs=1e-4)
    assert (np.diff(a) >= 0).all() and a[:5].max() == pytest.approx(bg) and a[20:].min() == pytest.approx(a[20])
    assert rows[0]["mode"] == "keyframes/ease" and rows[0]["frame"] == 0


def test_subject_picked_mid_clip_is_followed_back_to_the_first_frame(lf_follow_clip):
    """The box is drawn on frame 12, where the subject is clearly visible; it moves in depth over
    the whole clip, so holding its frame-12 depth before that frame (the former behaviour) is far
    off. Followed back from the box, frames 0-11 stay within 5 % of the range, like the forward pass."""
    c = lf_follow_clip
    x, y, w, h = c.subject_box(12)
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern,
                              "focus.track": "follow", "focus.box": f"{x},{y},{w},{h}@12"})
    _, recs = _run(job)
    a = np.array([r.focus_disparity for r in recs])
    truth = c.subject_disparity
    before = slice(0, 12)
    rms_before = float(np.sqrt(np.mean((a[before] - truth[before]) ** 2)))
    rms_hold = float(np.sqrt(np.mean((truth[12] - truth[before]) ** 2)))
    assert rms_before < 0.05 * c.disparity_range, (rms_before, c.disparity_range)
    assert rms_hold > 2 * rms_before  # the clip is one where holding would be wrong
    rows = [r.extras["focus"] for r in recs[:12]]
    assert all(r["status"] in ("tracking", "reacquired") and "followed back" in r["note"] for r in rows)
    assert abs(a[11] - a[12]) < 0.05 * c.disparity_range  # no jump where the two passes meet


def test_following_back_on_a_video_reads_forward_in_blocks(lf_follow_clip, tmp_path, monkeypatch):
    """On a long-GOP video every random read seeks to a keyframe and decodes forward: following
    back frame by frame would cost O(frames x GOP). The follower prefetches blocks in one forward
    pass, so the seeks are about one per block; the result matches the image sequence's."""
    from genrefocus_video.io.video_reader import VideoReader
    from genrefocus_video.io.writer import open_writer

    c = lf_follow_clip
    clip = str(tmp_path / "clip.mkv")
    with open_reader(c.aif_pattern) as r, open_writer(clip, r.info, codec="ffv1") as w:
        for fr in r:
            w.write(fr)
    seeks = []
    frames = VideoReader._frames

    def counting(self, container, start):
        if start > 0:
            seeks.append(start)
        return frames(self, container, start)

    monkeypatch.setattr(VideoReader, "_frames", counting)
    x, y, w, h = c.subject_box(20)
    job = load_job(overrides={"input.path": clip, "depth.path": c.disp_pattern,
                              "focus.track": "follow", "focus.box": f"{x},{y},{w},{h}@20"})
    _, recs = _run(job)
    a = np.array([r.focus_disparity for r in recs])
    rms = float(np.sqrt(np.mean((a[:20] - c.subject_disparity[:20]) ** 2)))
    assert rms < 0.05 * c.disparity_range, rms
    assert len(seeks) <= 4, seeks  # 20 frames back in blocks of 15 (+ the box frame itself)


def test_chunked_follow_from_a_mid_clip_box_equals_one_pass(lf_follow_clip, tmp_path):
    """Chunks replay the clip from its start (the follower's warm-up): with the box on frame 12 and
    3 chunks, the exported focus track equals the single pass's, frames before the box included."""
    from genrefocus_video.pipeline.run import run_job

    c = lf_follow_clip
    x, y, w, h = c.subject_box(12)
    tracks = {}
    for chunks in (1, 3):
        job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "focus.track": "follow",
                                  "focus.box": f"{x},{y},{w},{h}@12", "blur.k": 6.0, "executor.progress": False,
                                  "executor.chunks": chunks, "output.path": str(tmp_path / f"o{chunks}.mkv"),
                                  "focus.export": str(tmp_path / f"t{chunks}.json")})
        run_job(job)
        tracks[chunks] = [r["focus_disparity"] for r in json.loads((tmp_path / f"t{chunks}.json").read_text())]
    assert len(tracks[3]) == c.frames and tracks[3] == tracks[1]


def test_following_back_reads_a_depth_video_forward_in_blocks(lf_follow_clip, tmp_path, monkeypatch):
    """Following back probes every earlier frame's depth in reverse order. A depth video must not be
    decoded from its start for each of them (it was: O(frames²)): the follower prefetches each
    block's depth in one forward pass and the depth reader seeks, so there are about as many
    (re)starts as blocks, and the depth read back equals a sequential read."""
    from genrefocus_video.io.depthio import open_depth
    from genrefocus_video.io.video_reader import VideoReader
    from genrefocus_video.io.writer import open_writer

    c = lf_follow_clip
    depth_clip = str(tmp_path / "depth.mkv")
    with open_writer(depth_clip, ClipInfo(path="", kind="video", width=c.width, height=c.height, fps=Fraction(24)),
                     codec="ffv1", pix_fmt="gray16le") as w:
        for t in range(c.frames):
            w.write(Frame(t, np.repeat(c.disparity(t)[..., None], 3, axis=2)))
    seq = open_depth(depth_clip, size=(c.width, c.height))
    forward = [seq.read(t) for t in range(c.frames)]
    back = open_depth(depth_clip, size=(c.width, c.height))
    for t in (20, 19, 5, 23, 0, 12):  # backwards, far back, forward, the start, the middle
        np.testing.assert_array_equal(back.read(t), forward[t])

    starts = []
    original = VideoReader.raw_frames

    def counting(self, first):
        if self.path == depth_clip:
            starts.append(first)
        return original(self, first)

    monkeypatch.setattr(VideoReader, "raw_frames", counting)
    x, y, w_, h = c.subject_box(20)
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": depth_clip,
                              "focus.track": "follow", "focus.box": f"{x},{y},{w_},{h}@20"})
    _, recs = _run(job)
    assert len(recs) == c.frames
    assert all("followed back" in r.extras["focus"]["note"] for r in recs[:20])
    assert len(starts) <= 6, starts  # main pass, box frame, 2 blocks (frame by frame: ~22)

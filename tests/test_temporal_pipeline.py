"""The temporal head end to end on real footage: motion depth, smoothing, focus point, exports, preview."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.temporal import warmup_frames
from genrefocus_video.focus.export import read_focus_track
from genrefocus_video.io.reader import open_reader
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages.temporal import (DepthSmoothStage, FlowStage, FocusStage,
                                                       build_temporal_stages, finalize_temporal)
from temporal_fixtures import lf_follow_clip  # noqa: F401


def test_real_rgbd_clip_motion_depth_point_focus_and_outputs(shared_data, tmp_path):
    d = shared_data / "rgbd_open3d"
    job = load_job(overrides={"input.path": str(d / "color" / "%05d.jpg"),
                              "depth.source": "motion", "depth.smoothing": 0.5, "focus.point": "330,420@1",
                              "depth.preview": str(tmp_path / "preview.mp4"),
                              "focus.export": "track.csv", "focus.plot": str(tmp_path / "plot.png")})
    recs = []
    with open_reader(job.input.path) as r:
        stages = build_temporal_stages(job, r.info)
        assert [type(s) for s in stages[:1]] == [FlowStage]
        assert any(isinstance(s, DepthSmoothStage) for s in stages)
        warm = {s.name: s.warmup for s in stages if s.temporal}
        assert warm["flow"] == 1 and warm["depth_motion"] == 16 and warm["depth_smooth"] == warmup_frames(0.5)
        for fr in r:
            rec = FrameRecord(fr)
            for s in stages:
                rec = s.process(rec)
            recs.append(rec)
    written = finalize_temporal(stages, str(tmp_path))
    assert len(recs) == 5
    for rec in recs:
        assert rec.disparity.shape == (480, 640) and np.isfinite(rec.disparity).all() and (rec.disparity > 0).all()
        assert 0 <= rec.depth_confidence.min() and rec.depth_confidence.max() <= 1
        assert "fallback" not in rec.extras["depth"] and "held_from" not in rec.extras["depth"]
    # metric check of the estimate (scale-aligned AbsRel vs the sensor's depth; focal length unknown)
    for t in (1, 3):
        z = cv2.imread(str(d / "depth" / f"{t:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000
        ok = z > 0
        zp = 1.0 / recs[t].disparity[ok]
        s = np.median(z[ok] / zp)
        assert np.mean(np.abs(s * zp - z[ok]) / z[ok]) < 0.2
    # the picked point's disparity is the focus for every frame, and it is the depth there at frame 1
    a = [r.focus_disparity for r in recs]
    assert len(set(a)) == 1
    assert abs(a[1] - np.median(recs[1].disparity[414:427, 324:337])) < 0.05 * a[1]
    rows = read_focus_track(str(tmp_path / "track.csv"))  # bare name: placed in out_dir
    assert [r["frame"] for r in rows] == [0, 1, 2, 3, 4] and np.allclose([r["focus_disparity"] for r in rows], a)
    assert written["focus_plot"] == str(tmp_path / "plot.png") and (tmp_path / "plot.png").stat().st_size > 5000
    import av

    with av.open(str(tmp_path / "preview.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (480, 1280, 3)
    assert not list(tmp_path.glob(".*.partial*"))  # atomic writes leave nothing behind
    assert isinstance(stages[-2], FocusStage) and stages[-2].mode == "point"


def _decode(path: str) -> list:
    import av

    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def test_chunked_job_writes_the_same_depth_preview_as_a_single_pass(lf_follow_clip, tmp_path):
    """A farm job (3 chunks, each with a warm-up) writes one depth preview of exactly the clip's
    frames, coloured like a single pass (the driver fixes the range from the first frame). (Resume
    of a lost preview segment: the next test.)"""
    from genrefocus_video.pipeline.run import run_job

    c = lf_follow_clip
    base = {"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "depth.smoothing": 0.5,
            "focus.disparity": 0.5, "blur.k": 6.0, "executor.progress": False}
    runs = {}
    for chunks in (1, 3):
        job = load_job(overrides={**base, "output.path": str(tmp_path / f"out{chunks}.mkv"),
                                  "depth.preview": str(tmp_path / f"preview{chunks}.mp4"), "executor.chunks": chunks})
        runs[chunks] = (job, run_job(job))
        assert (tmp_path / f"preview{chunks}.mp4").exists()
    single, chunked = _decode(str(tmp_path / "preview1.mp4")), _decode(str(tmp_path / "preview3.mp4"))
    assert len(single) == len(chunked) == c.frames
    # Same frames in the same order with the same colours. H.264 differs (the segments are encoded
    # separately and x264's look-ahead sees other frames: ~2 codes per pixel), so compare what the
    # encoder cannot move: each frame's mean colour of the colour-mapped disparity half, and that
    # frame i of the chunked preview is nearer frame i of the single pass than frame i + 3 (a chunk
    # writing its warm-up frames, or losing some, would shift the order).
    W = c.width
    means = [np.abs(a[:, W:].mean((0, 1)) - b[:, W:].mean((0, 1))).max() for a, b in zip(single, chunked)]
    assert max(means) < 0.6, means

    def dist(a, b):
        return float(np.abs(a[:, W:] - b[:, W:]).mean())

    for i in range(c.frames - 3):
        assert dist(chunked[i], single[i]) < dist(chunked[i], single[i + 3]), i
    # the colour range spans the clip's disparities (first-frame 1st-99th percentile)
    assert np.abs(chunked[0][:, W:] - chunked[0][:, W:][::-1]).mean() > 10

    assert runs[3][1].chunks_rendered == 3


def test_chunked_depth_preview_resumes_a_chunk_whose_segment_was_lost(lf_follow_clip, tmp_path):
    """Interrupted in its last chunk, the job keeps chunks 0 and 1 with their preview segments;
    if chunk 1's preview segment is then lost, the rerun renders chunks 1 and 2 again."""
    import os
    from dataclasses import dataclass

    from genrefocus_video.pipeline.workdir import WorkDir
    from genrefocus_video.pipeline.run import run_job
    from genrefocus_video.pipeline.stages import DEFAULT_FACTORY
    from test_pipeline_kit import Interrupter

    @dataclass
    class Interrupting:  # the real stages, plus a Ctrl-C at frame `at` while `flag` exists
        at: int
        flag: str

        def head(self, job, info):
            return DEFAULT_FACTORY.head(job, info)

        def tail(self, job, info):
            return DEFAULT_FACTORY.tail(job, info) + [Interrupter(self.at, self.flag)]

    c = lf_follow_clip
    flag = tmp_path / "interrupt"
    flag.write_text("1")
    out, preview = str(tmp_path / "out.mkv"), str(tmp_path / "preview.mp4")
    job = load_job(overrides={"input.path": c.aif_pattern, "depth.path": c.disp_pattern, "focus.disparity": 0.5,
                              "blur.k": 6.0, "executor.progress": False, "executor.chunks": 3,
                              "output.path": out, "depth.preview": preview})
    factory = Interrupting(20, str(flag))  # chunks 0-7, 8-15, 16-23
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=factory)
    work = WorkDir(out + ".work")
    segs = [work.read_json(work.entry_path(i)) for i in (0, 1)]
    assert all(os.path.isfile(e["preview"]) for e in segs) and not os.path.exists(preview)
    os.remove(segs[1]["preview"])
    flag.unlink()
    s = run_job(job, factory=factory)
    assert (s.chunks_skipped, s.chunks_rendered) == (1, 2)
    assert len(_decode(preview)) == c.frames


def test_preview_range_is_checked():
    from genrefocus_video.errors import ConfigError

    for bad in ("0.5", "0.8,0.2", "a,b"):
        with pytest.raises(ConfigError, match="depth.preview_range"):
            load_job(overrides={"input.path": "x.mp4", "depth.preview_range": bad})
    assert load_job(overrides={"input.path": "x.mp4", "depth.preview_range": "0.1,0.9"}).depth.preview_limits == (0.1, 0.9)


def test_a_probe_does_not_repeat_the_main_passs_fallback_warning(tmp_path, caplog):
    """A focus point probes frame 0's depth before the main pass computes it again; the motion
    source's fallback notice must appear once, not twice, in a wrangler's log."""
    import logging

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "still.png"), (rng.random((48, 64, 3)) * 255).astype(np.uint8))
    job = load_job(overrides={"input.path": str(tmp_path / "still.png"), "depth.source": "motion",
                              "focus.point": "30,20"})
    with caplog.at_level(logging.INFO), open_reader(job.input.path) as r:
        stages = build_temporal_stages(job, r.info)
        for fr in r:
            rec = FrameRecord(fr)
            for s in stages:
                rec = s.process(rec)
    notices = [rec for rec in caplog.records if "defocus-cue" in rec.getMessage()]
    assert [n.levelno for n in notices] == [logging.INFO, logging.WARNING], notices

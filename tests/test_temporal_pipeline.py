"""The temporal head end to end on real footage: motion depth, smoothing, focus point, exports, preview."""
from __future__ import annotations

import cv2
import numpy as np

from genrefocus_video.depth.temporal import warmup_frames
from genrefocus_video.focus.export import read_focus_track
from genrefocus_video.io.reader import open_reader
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages_temporal import (DepthSmoothStage, FlowStage, FocusStage,
                                                       build_temporal_stages, finalize_temporal)


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
        assert warm["flow"] == 1 and warm["depth_motion"] == 8 and warm["depth_smooth"] == warmup_frames(0.5)
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
        assert "fallback" not in rec.extras["depth"]
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
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave nothing behind
    assert isinstance(stages[-2], FocusStage) and stages[-2].mode == "point"

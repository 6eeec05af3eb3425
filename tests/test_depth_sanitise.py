"""Estimates never sink a job; depth files keep the renderer's refusal (issue 15's failure).

The issue's render stopped at frame 95 with "blur radius reaches 1498 px (K=14, disparity
0.0003..107.7)": the disparity was our own estimate. Here the same values go through the real
depth and bokeh stages twice: as an estimate (sanitised, rendered, warned about, counted) and as a
user's depth file (refused, as before).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from genrefocus_video.depth.sanitise import SanitisedSource, fit_blur_reach, sanitise_disparity  # noqa: E402
from genrefocus_video.depth.sources import DepthEstimate  # noqa: E402
from genrefocus_video.errors import ConfigError  # noqa: E402
from genrefocus_video.io.frame import ClipInfo, Frame  # noqa: E402
from genrefocus_video.params import JobParams  # noqa: E402
from genrefocus_video.pipeline.stages.render import BokehStage  # noqa: E402
from genrefocus_video.pipeline.stages.temporal import DepthStage  # noqa: E402
from genrefocus_video.record import FrameRecord  # noqa: E402

H, W, K = 48, 64, 14.0


def _issue_disparity() -> np.ndarray:
    """A plausible estimate (0.5..2, a near box) with the issue's extreme pixels: 0.0003 and 107.7."""
    d = np.tile(np.linspace(0.5, 1.2, W, dtype=np.float32), (H, 1))
    d[10:30, 20:40] = 2.0
    d[3, 5], d[40, 60], d[22, 50] = 107.7, 0.0003, 95.0
    return d


class FixedEstimator:
    """A depth estimator whose output is given (the estimate under test): affine-ambiguous, like motion."""

    name = "fixed"
    warmup = 0

    def __init__(self, d: np.ndarray) -> None:
        self.d = d

    def reset(self) -> None:
        pass

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        return DepthEstimate(self.d.copy(), np.full(self.d.shape, 0.8, np.float32), {"source": "motion"}, True)


def _bokeh(info: ClipInfo) -> BokehStage:
    job = JobParams()
    job.blur.k, job.focus.disparity = K, 1.0
    return BokehStage(job, info)


@pytest.fixture()
def info() -> ClipInfo:
    return ClipInfo(path="clip.mkv", kind="video", width=W, height=H, n_frames=1)


def _rec() -> FrameRecord:
    rgb = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    return FrameRecord(Frame(0, rgb))


def test_issue_estimate_renders_with_a_warning_and_counts(info, caplog):
    d = _issue_disparity()
    caplog.set_level(logging.WARNING)
    rec = DepthStage(SanitisedSource(FixedEstimator(d))).process(_rec())
    counts = rec.extras["depth"]["sanitised"]
    # 107.7 and 95 are outliers; 0.0003 is a plausible far disparity (it blurs at most K x a) and stays
    assert counts["clamped_high"] == 2 and counts["clamped_low"] == 0 and counts["nonfinite"] == 0
    assert "2 unusable pixels" in caplog.text and "frame 0" in caplog.text
    assert rec.depth_confidence[3, 5] == 0 and rec.depth_confidence[0, 0] == pytest.approx(0.8)
    untouched = np.ones_like(d, bool)
    untouched[[3, 22], [5, 50]] = False
    np.testing.assert_array_equal(rec.disparity[untouched], d[untouched])  # the rest is left alone
    out = _bokeh(info).process(rec).output
    assert out.shape == (H, W, 3) and np.isfinite(out).all()


def test_same_values_as_a_user_depth_file_are_refused(info, tmp_path):
    from genrefocus_video.depth.external import FileDepthSource

    np.save(tmp_path / "d.npy", _issue_disparity()[None])
    rec = DepthStage(FileDepthSource(str(tmp_path / "d.npy"), size=(W, H))).process(_rec())
    with pytest.raises(ConfigError, match=r"blur radius reaches .* disparity 0.0003..107.7"):
        _bokeh(info).process(rec)


def test_estimate_beyond_the_frame_is_clamped_not_refused(info, caplog):
    """No outliers, but K x range beyond the frame: an estimate is clamped to the largest radius the
    renderer accepts (and says so); as a file the same depth would be refused."""
    d = np.tile(np.linspace(0.0, 12.0, W, dtype=np.float32), (H, 1))
    caplog.set_level(logging.WARNING)
    rec = DepthStage(SanitisedSource(FixedEstimator(d))).process(_rec())
    assert rec.extras["depth"]["sanitised"]["clamped_high"] == 0
    out = _bokeh(info).process(rec)
    assert np.abs(K * (out.disparity - 1.0)).max() <= max(H, W)
    assert "would blur beyond the 64 px frame" in caplog.text
    with pytest.raises(ConfigError, match="blur radius reaches"):
        from genrefocus_video.render.api import render_bokeh

        render_bokeh(_rec().frame.rgb, d, 1.0, K)


def test_clean_estimate_is_returned_unchanged():
    d = _issue_disparity()
    d[3, 5], d[40, 60], d[22, 50] = 1.0, 1.0, 1.0
    out, conf, counts = sanitise_disparity(d, np.ones_like(d))
    assert out is d and counts["nonfinite"] + counts["clamped_low"] + counts["clamped_high"] == 0


def test_small_near_object_is_kept():
    """0.2 % of the pixels far nearer than the rest (a hand in front of the lens) is depth, not an outlier."""
    d = np.tile(np.linspace(0.5, 1.0, W, dtype=np.float32), (H, 1))
    d[20:22, 30:33] = 1.4  # 6 px
    out, _, counts = sanitise_disparity(d, None)
    assert counts["clamped_high"] == 0 and out[21, 31] == pytest.approx(1.4)


def test_non_finite_pixels_are_inpainted_from_neighbours():
    d = np.full((H, W), 0.7, np.float32)
    d[:, W // 2:] = 0.3
    d[10, 10], d[30, 50], d[5, 40] = np.nan, np.inf, -np.inf
    out, conf, counts = sanitise_disparity(d, np.ones_like(d))
    assert counts["nonfinite"] == 3 and np.isfinite(out).all()
    assert out[10, 10] == pytest.approx(0.7, abs=1e-4) and out[30, 50] == pytest.approx(0.3, abs=1e-4)
    assert conf[10, 10] == 0 and conf[0, 0] == 1


def test_fit_blur_reach_keeps_depth_within_reach_untouched():
    d = np.tile(np.linspace(0.5, 1.5, W, dtype=np.float32), (H, 1))
    assert fit_blur_reach(d, 1.0, K) is d

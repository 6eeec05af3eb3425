"""BokehStage and resolve_k: K from --k, a physical camera, or clip metadata (logged), else an error."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.optics.lens import k_from_camera
from genrefocus_video.params import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages.render import BokehStage, resolve_k


def _info(**camera):
    return ClipInfo(path="clip.mov", kind="video", width=64, height=48, camera=dict(camera))


def test_resolve_k_order_and_metadata_default(caplog):
    info = _info(focal_length_mm=50.0, f_number=2.0, sensor_width_mm=36.0)
    assert resolve_k(load_job(overrides={"blur.k": "7"}), info) == 7.0
    job = load_job(overrides={"blur.focal_length_mm": "50", "blur.f_number": "4", "blur.sensor_width_mm": "36"})
    assert resolve_k(job, info) == pytest.approx(k_from_camera(50, 4, 36, 64))
    with caplog.at_level(logging.INFO, logger="genrefocus_video.render"):
        k_meta = resolve_k(load_job(), info)
    assert k_meta == pytest.approx(k_from_camera(50, 2, 36, 64))
    assert "metadata" in caplog.text
    # halving the f-number in the job doubles K (physical camera path)
    job2 = load_job(overrides={"blur.f_number": "2"})  # focal length and sensor from metadata
    assert resolve_k(job2, info) == pytest.approx(2 * resolve_k(load_job(overrides={"blur.f_number": "4"}), info))
    with pytest.raises(ConfigError, match="no blur amount"):
        resolve_k(load_job(), _info())
    with pytest.raises(ConfigError, match="no blur amount"):
        resolve_k(load_job(overrides={"blur.use_metadata": "false"}), info)


def test_bokeh_stage_renders_the_record():
    job = load_job(overrides={"blur.k": "10", "aperture.shape": "star"})
    stage = BokehStage(job, _info())
    assert stage.name == "bokeh" and stage.temporal is False
    rng = np.random.default_rng(0)
    rgb = rng.random((48, 64, 3), dtype=np.float32)
    rec = FrameRecord(frame=Frame(3, rgb), disparity=np.full((48, 64), 0.5, np.float32), focus_disparity=0.5)
    out = stage.process(rec)
    np.testing.assert_allclose(out.output, rgb, atol=1e-6)  # everything in the focus plane: unchanged
    assert out.k == 10.0 and "bokeh" in out.timings
    rec2 = FrameRecord(frame=Frame(4, rgb), disparity=np.zeros((48, 64), np.float32), focus_disparity=0.5)
    assert np.abs(stage.process(rec2).output - rgb).mean() > 0.05
    with pytest.raises(InputError, match="frame 5"):
        stage.process(FrameRecord(frame=Frame(5, rgb), disparity=np.zeros((10, 10), np.float32), focus_disparity=0.5))


def test_bokeh_stage_writes_explain_files(tmp_path):
    job = load_job(overrides={"blur.k": "8", "render.explain": str(tmp_path / "ex")})
    stage = BokehStage(job, _info())
    disp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    rec = FrameRecord(frame=Frame(12, np.full((48, 64, 3), 0.5, np.float32)), disparity=disp, focus_disparity=0.25)
    stage.process(rec)
    names = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert names == ["blur_0012.exr", "blur_0012.json", "blur_0012.png", "focus_0012.png"]

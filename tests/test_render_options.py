"""Job settings become renderer options in one place (render/options.py), with one set of limits:
the CLI, a YAML config and render_bokeh refuse the same values with the same words, and the
classical bokeh stage and the OpenFX bridge's render_from_params render the same pixels."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from genrefocus_video.cli import main
from genrefocus_video.errors import ConfigError
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.render.api import render_bokeh, render_from_params
from genrefocus_video.render.options import LIMITS, job_aperture, render_options

# schema path of each limited renderer option, and a value just below its minimum
BELOW_MIN = {"draft": ("render.draft", 0.01), "pixel_aspect": ("input.pixel_aspect", 0.01),
             "cats_eye": ("aperture.cats_eye", -0.5), "chromatic": ("aperture.chromatic", -0.5),
             "tile": ("render.tile", -1), "highlight_threshold": ("highlights.threshold", -0.5),
             "highlight_gain": ("highlights.gain", 0.5)}


def _scene(h: int = 40, w: int = 56):
    rng = np.random.default_rng(3)
    img = rng.random((h, w, 3)).astype(np.float32)
    img[10:14, 10:14] = 1.0  # a highlight
    d = np.full((h, w), 0.2, np.float32)
    d[:, w // 2:] = 0.6
    return img, d


def test_every_limited_option_is_known_to_the_schema():
    assert set(BELOW_MIN) == set(LIMITS)


@pytest.mark.parametrize("option", sorted(BELOW_MIN))
def test_schema_and_renderer_refuse_below_the_same_minimum(option):
    path, value = BELOW_MIN[option]
    lo = LIMITS[option][0]
    with pytest.raises(ConfigError) as schema_err:
        load_job(overrides={path: value})
    assert f"'{path}' must be >= {lo}, got {value}" in str(schema_err.value)
    img, d = _scene()
    opts = {option: value}
    if option.startswith("highlight_"):
        opts["highlight_recover"] = True
    with pytest.raises(ConfigError) as render_err:
        render_bokeh(img, d, 0.2, 4.0, "disc", **opts)
    assert f"render option {option} must be >= {lo}, got {float(value)}" in str(render_err.value)


def test_draft_limit_reads_the_same_from_cli_and_yaml(tmp_path, capsys):
    """--draft 0.01 and a YAML 'render: {draft: 0.01}' give the same line (exit 2); so does render_bokeh."""
    cfg = tmp_path / "job.yaml"
    cfg.write_text("render:\n  draft: 0.01\n")
    base = ["render", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.mp4"), "--k", "3"]
    assert main(base + ["--draft", "0.01"]) == 2
    cli = capsys.readouterr().err.strip().splitlines()[-1]
    assert main(base + ["--config", str(cfg)]) == 2
    yaml = capsys.readouterr().err.strip().splitlines()[-1]
    want = "'render.draft' must be >= 0.05, got 0.01"
    assert cli.endswith(f"command line: {want}") and yaml.endswith(f"{cfg}: {want}")
    img, d = _scene()
    with pytest.raises(ConfigError, match="render option draft must be >= 0.05, got 0.01"):
        render_bokeh(img, d, 0.2, 4.0, draft=0.01)
    render_bokeh(img, d, 0.2, 4.0, draft=0.05)  # the minimum itself is accepted by both
    assert load_job(overrides={"render.draft": 0.05}).render.draft == 0.05


def test_bokeh_stage_and_ofx_bridge_render_the_same_pixels():
    """Classical stage (CLI, Ray, farm) and render_from_params (OFX) read one option builder."""
    from genrefocus_video.pipeline.stages.render import BokehStage

    img, d = _scene()
    job = load_job(overrides={"blur.k": 6.0, "aperture.shape": "polygon", "aperture.blades": 5,
                              "aperture.rotation_deg": 20.0, "aperture.cats_eye": 0.4, "aperture.chromatic": 0.3,
                              "highlights.recover": True, "highlights.threshold": 0.8, "render.draft": 0.5,
                              "focus.range": 0.05})
    info = ClipInfo(path="in.exr", kind="image", width=img.shape[1], height=img.shape[0], fps=Fraction(24),
                    pixel_aspect=Fraction(4, 3))
    rec = FrameRecord(Frame(index=0, rgb=img))
    rec.disparity, rec.focus_disparity = d, 0.2
    staged = BokehStage(job, info).process(rec).output
    bridged = render_from_params(img, d, 0.2, 6.0, job.aperture, job.highlights, job.render,
                                 pixel_aspect=4 / 3, focus_range=0.05)
    assert np.array_equal(staged, bridged)
    # and both are the documented render_bokeh call with the options spelled out
    spelled = render_bokeh(img, d, 0.2, 6.0, "polygon", blades=5, rotation_deg=20.0, cats_eye=0.4, chromatic=0.3,
                           highlight_recover=True, highlight_threshold=0.8, highlight_gain=4.0, draft=0.5,
                           pixel_aspect=4 / 3, focus_range=0.05)
    assert np.array_equal(staged, spelled)
    assert not np.array_equal(staged, render_bokeh(img, d, 0.2, 6.0, "polygon", blades=5, pixel_aspect=4 / 3))


def test_options_hold_only_what_the_schema_has():
    """No option the schema lacks (the old 'backend' read) reaches the renderer."""
    job = load_job()
    opts = render_options(job.aperture, job.highlights, job.render, 1.0)
    assert set(opts) == {"pixel_aspect", "cats_eye", "chromatic", "device", "draft", "tile", "cuda_graphs"}
    assert job_aperture(job.aperture).name == "disc"


def test_a_disc_with_an_aperture_image_is_the_image_in_every_renderer(tmp_path):
    """--aperture-image with the default shape means the image, for the classical renderer and
    for BokehNet's conditioning alike (both take job_aperture)."""
    import cv2

    from genrefocus_video.pipeline.stages.generative import _aperture_from_job

    mask = np.zeros((33, 33), np.uint8)
    cv2.fillPoly(mask, [np.array([[16, 2], [30, 30], [2, 30]])], 255)  # a triangle
    path = tmp_path / "tri.png"
    cv2.imwrite(str(path), mask)
    job = load_job(overrides={"aperture.image": str(path)})
    assert job_aperture(job.aperture).name == f"image:{path}"
    assert _aperture_from_job(job).name == f"image:{path}"

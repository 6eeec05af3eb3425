"""Pipeline stages for --deblur none|classical|deblurnet and --bokeh bokehnet (tiny models)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from genrefocus_video.errors import BackendUnavailableError, ConfigError
from genrefocus_video.generative import loaders
from genrefocus_video.generative.tiny import save_components, tiny_components, write_genfocus_lora
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from genrefocus_video.pipeline.stages.generative import (BokehNetStage, ClassicalDeblurStage, DeblurNetStage,
                                                         build_bokehnet_stage, build_deblur_stage)

DEVICE = os.environ.get("GENREFOCUS_TEST_DEVICE", "cpu")
INFO = ClipInfo(path="x.mp4", kind="video", width=32, height=24)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(loaders.ENV_FLUX, raising=False)
    monkeypatch.delenv(loaders.ENV_LORA, raising=False)


@pytest.fixture(scope="module")
def comp():
    return tiny_components(1, device=DEVICE)


def _job(k=10.0, **kw):
    over = {f"backends.{name}": v for name, v in kw.items()}
    if k is not None:
        over["blur.k"] = k
    return load_job(overrides=over)


def test_deblur_builder_choices():
    pytest.importorskip("cv2", exc_type=ImportError)
    assert build_deblur_stage(_job(deblur="none"), INFO) is None
    st = build_deblur_stage(_job(deblur="classical"), INFO)
    assert isinstance(st, ClassicalDeblurStage) and not st.temporal
    rgb = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    rec = st.process(FrameRecord(Frame(0, rgb)))
    assert rec.aif is not None and rec.aif.shape == rgb.shape and rec.sharp is rec.aif


def test_generative_builders_without_weights_name_the_fallback():
    with pytest.raises(BackendUnavailableError, match="--deblur classical"):
        build_deblur_stage(_job(deblur="deblurnet"), INFO)
    with pytest.raises(BackendUnavailableError, match="--bokeh classical"):
        build_bokehnet_stage(_job(bokeh="bokehnet"), INFO)


def test_bokehnet_without_k_fails_when_the_stage_is_built_not_at_the_first_frame():
    """No --k and no camera: a ConfigError from the builder, before any weights are looked at."""
    with pytest.raises(ConfigError, match="--k"):
        build_bokehnet_stage(_job(k=None, bokeh="bokehnet"), INFO)


def test_generative_builders_with_local_weights(comp, tmp_path, monkeypatch):
    """Weights from the environment: no GPU -> a clear error; with a GPU the stage loads and runs."""
    root = tmp_path / "flux"
    save_components(comp, root)
    loras = tmp_path / "loras"
    loras.mkdir()
    write_genfocus_lora(comp.transformer, str(loras / "bokehNet.safetensors"))
    monkeypatch.setenv(loaders.ENV_FLUX, str(root))
    monkeypatch.setenv(loaders.ENV_LORA, str(loras))
    job = _job(bokeh="bokehnet", steps=1, noise_warp=False)
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="CUDA.*--bokeh classical"):
            build_bokehnet_stage(job, INFO)
        return
    st = build_bokehnet_stage(job, INFO)
    rgb = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    rec = FrameRecord(Frame(0, rgb), disparity=np.full((24, 32), 0.3, np.float32), focus_disparity=0.5, k=10.0)
    out = st.process(rec).output
    assert out.shape == rgb.shape and np.isfinite(out).all()
    assert next(st._net.comp.transformer.parameters()).dtype == torch.bfloat16


def test_deblurnet_stage_with_predeblur(comp):
    pytest.importorskip("cv2", exc_type=ImportError)
    st = DeblurNetStage(_job(deblur="deblurnet", steps=1), comp=comp, with_predeblur=True)
    rgb = np.random.default_rng(1).random((24, 32, 3), dtype=np.float32) * 0.5
    a = st.process(FrameRecord(Frame(3, rgb))).aif
    b = st.process(FrameRecord(Frame(3, rgb))).aif
    assert a.shape == rgb.shape and np.array_equal(a, b)  # seed + frame index: repeatable


def test_bokehnet_stage_warps_noise_along_flow_and_resets(comp, monkeypatch):
    pytest.importorskip("cv2", exc_type=ImportError)
    from genrefocus_video.generative import warping

    job = _job(bokeh="bokehnet", steps=1, noise_warp=True, latent_warp=0.5)
    st = BokehNetStage(job, INFO, comp=comp, k=8.0)
    assert st.temporal and st.warmup == 1
    seen = []
    orig = warping.warp_noise
    monkeypatch.setattr(warping, "warp_noise", lambda *a, **k: seen.append(k["frame"]) or orig(*a, **k))
    rng = np.random.default_rng(2)
    disp = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (24, 1))
    flow = np.zeros((24, 32, 2), np.float32)
    flow[..., 0] = 4.0  # p came from p + (4, 0): one latent pixel of the 2x tiny VAE
    outs = []
    for t in range(3):
        rec = FrameRecord(Frame(t, rng.random((24, 32, 3), dtype=np.float32)), disparity=disp,
                          focus_disparity=0.5, flow_to_prev=flow if t else None,
                          flow_valid=np.ones((24, 32), np.float32) if t else None)
        outs.append(st.process(rec).output)
        if t == 0:
            n0 = st._prev["noise"]
    assert seen == [1, 2]
    # Frame 1's noise is frame 0's noise moved 2 latent px (4 image px / 2) — exactly, inside.
    st2 = BokehNetStage(job, INFO, comp=comp, k=8.0)
    st2.process(FrameRecord(Frame(0, rng.random((24, 32, 3), dtype=np.float32)), disparity=disp,
                            focus_disparity=0.5))
    st2.process(FrameRecord(Frame(1, rng.random((24, 32, 3), dtype=np.float32)), disparity=disp,
                            focus_disparity=0.5, flow_to_prev=flow, flow_valid=np.ones((24, 32), np.float32)))
    n1 = st2._prev["noise"]
    assert np.array_equal(n1[:, :, :-2], n0[:, :, 2:])
    assert all(o.shape == (24, 32, 3) and np.isfinite(o).all() for o in outs)
    st.reset()
    seen.clear()
    st.process(FrameRecord(Frame(7, outs[0]), disparity=disp, focus_disparity=0.5, flow_to_prev=flow))
    assert seen == []  # after reset (chunk start) the chain restarts from fresh noise


@pytest.mark.parametrize("module", ["genrefocus_video.render.options", "genrefocus_video.pipeline.stages.render"])
def test_bokehnet_builder_does_not_swallow_our_own_import_errors(monkeypatch, module):
    """A broken install of our own module is an ImportError at build time, not a BokehNet that
    silently runs without an aperture or without the resolved K."""
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    with pytest.raises(ImportError):
        build_bokehnet_stage(_job(bokeh="bokehnet"), INFO)

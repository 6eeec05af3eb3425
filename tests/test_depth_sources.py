"""Depth sources: file, motion (real RGB-D with metric GT), static-camera fallback, defocus cue, Marigold."""
from __future__ import annotations

import json
import logging
import shutil
from fractions import Fraction

import cv2
import numpy as np
import pytest

from genrefocus_video.depth.defocus import defocus_disparity
from genrefocus_video.depth.motion import MotionDepthSource
from genrefocus_video.depth.sources import make_source
from genrefocus_video.errors import BackendUnavailableError, ConfigError, InputError
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.record import FrameRecord
from temporal_fixtures import lf_follow_clip  # noqa: F401


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = x / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


@pytest.fixture(scope="module")
def rgbd(shared_data):
    d = shared_data / "rgbd_open3d"
    rgb = [_srgb_to_linear(cv2.cvtColor(cv2.imread(str(d / "color" / f"{i:05d}.jpg")), cv2.COLOR_BGR2RGB))
           for i in range(5)]
    depth = [cv2.imread(str(d / "depth" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
             for i in range(5)]
    return rgb, depth


def _absrel(d_pred: np.ndarray, z_gt: np.ndarray, mask: np.ndarray) -> float:
    z = 1.0 / np.maximum(d_pred[mask], 1e-6)
    s = np.median(z_gt[mask] / z)
    return float(np.mean(np.abs(s * z - z_gt[mask]) / z_gt[mask]))


def _info(w: int, h: int) -> ClipInfo:
    return ClipInfo(path="mem", kind="sequence", width=w, height=h, fps=Fraction(24), n_frames=24)


def test_file_source_reads_disparity(lf_follow_clip):
    c = lf_follow_clip
    job = load_job(overrides={"depth.path": c.disp_pattern})
    src = make_source(job, _info(c.width, c.height))
    est = src.estimate(FrameRecord(Frame(7, c.aif(7))))
    assert np.array_equal(est.disparity, c.disparity(7)) and (est.confidence == 1).all()
    with pytest.raises(ConfigError, match="needs 'depth.path'"):
        make_source(load_job(), _info(8, 8))


def test_motion_depth_on_real_rgbd_frames(rgbd):
    """Metric depth of a real moving RGB-D sequence: scale-aligned AbsRel well under 20%."""
    rgb, depth = rgbd
    src = MotionDepthSource(focal_px=525.0, frame_lookup=lambda i: rgb[i] if 0 <= i < 5 else None)
    for t in (0, 2, 4):
        est = src.estimate(FrameRecord(Frame(t, rgb[t])))
        ok = depth[t] > 0
        assert "fallback" not in est.notes and est.affine_ambiguous
        assert _absrel(est.disparity, depth[t], ok) < 0.2
        conf = est.confidence > 0.3
        assert conf.mean() > 0.5
        # confidence is honest: confident pixels are at least as accurate as the rest
        assert _absrel(est.disparity, depth[t], ok & conf) <= _absrel(est.disparity, depth[t], ok & ~conf) + 0.02


def test_static_camera_falls_back_loudly(rgbd, caplog):
    rgb, _ = rgbd
    still = [rgb[0]] * 3
    src = MotionDepthSource(frame_lookup=lambda i: still[i] if 0 <= i < 3 else None)
    with caplog.at_level(logging.WARNING):
        est = src.estimate(FrameRecord(Frame(0, still[0])))
    assert est.notes["fallback"] == "defocus" and est.confidence.max() <= 0.25
    assert any("does not move enough for motion depth" in m and "--depth PATH" in m for m in caplog.messages)
    strict = MotionDepthSource(fallback="error", frame_lookup=lambda i: still[i] if 0 <= i < 3 else None)
    with pytest.raises(InputError, match=r"frame 0: motion depth needs a moving camera .*--depth PATH"):
        strict.estimate(FrameRecord(Frame(0, still[0])))


def test_defocus_cue_ranks_sharp_above_blurred():
    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.random((40, 80)).astype(np.float32), (160, 80), interpolation=cv2.INTER_NEAREST)
    img = tex.copy()
    img[:, 80:] = cv2.GaussianBlur(tex, (0, 0), 2.5)[:, 80:]
    d, c = defocus_disparity(np.repeat(img[..., None], 3, axis=2))
    assert np.median(d[:, 10:70]) > np.median(d[:, 90:150]) + 0.1
    assert c.max() <= 0.25 + 1e-6


def test_marigold_from_a_local_tiny_model(tmp_path):
    """A tiny random Marigold (UNet + VAE + CLIP built from configs, tokenizer from a local vocab)."""
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from genrefocus_video.depth.marigold import MarigoldDepthSource

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=8, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    vae = diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16),
                                  latent_channels=4, norm_num_groups=4, sample_size=16)
    sched = diffusers.DDIMScheduler(num_train_timesteps=1000, prediction_type="v_prediction", timestep_spacing="trailing")
    tokdir = tmp_path / "vocab"
    tokdir.mkdir()
    (tokdir / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2, "a</w>": 3, "a": 4}))
    (tokdir / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(tokdir / "vocab.json"), str(tokdir / "merges.txt"), model_max_length=8)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=5, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=8, bos_token_id=0,
                                      eos_token_id=1, pad_token_id=1))
    pipe = diffusers.MarigoldDepthPipeline(unet=unet, vae=vae, scheduler=sched, text_encoder=te, tokenizer=tok,
                                           prediction_type="depth", default_denoising_steps=1,
                                           default_processing_resolution=32)
    model = tmp_path / "marigold"
    pipe.save_pretrained(str(model), safe_serialization=True)
    assert not list(model.rglob("*.bin"))  # safetensors only

    src = MarigoldDepthSource(str(model), device="cpu")
    img = np.random.default_rng(1).random((36, 52, 3)).astype(np.float32)
    e1 = src.estimate(FrameRecord(Frame(3, img)))
    e2 = src.estimate(FrameRecord(Frame(3, img)))
    assert e1.disparity.shape == (36, 52) and np.isfinite(e1.disparity).all() and (e1.disparity > 0).all()
    assert np.array_equal(e1.disparity, e2.disparity)  # seeded per frame: reproducible
    assert e1.affine_ambiguous and e1.notes["source"] == "marigold"

    # Without tokenizer/text encoder: the empty-prompt embedding ships as a safetensors file.
    from safetensors.torch import save_file

    bare = tmp_path / "bare"
    shutil.copytree(model, bare)
    shutil.rmtree(bare / "tokenizer")
    shutil.rmtree(bare / "text_encoder")
    idx = json.loads((bare / "model_index.json").read_text())
    idx["tokenizer"] = idx["text_encoder"] = [None, None]
    (bare / "model_index.json").write_text(json.dumps(idx))
    save_file({"embedding": src.pipe.empty_text_embedding.contiguous()}, str(bare / "empty_text_embedding.safetensors"))
    e3 = MarigoldDepthSource(str(bare), device="cpu").estimate(FrameRecord(Frame(3, img)))
    assert np.allclose(e3.disparity, e1.disparity, atol=1e-5)

    with pytest.raises(BackendUnavailableError, match="no model_index.json"):
        MarigoldDepthSource(str(tmp_path / "vocab"))
    broken = tmp_path / "broken"  # a half-copied folder: its index lacks the pipeline class
    broken.mkdir()
    (broken / "model_index.json").write_text("{}")
    with pytest.raises(BackendUnavailableError, match=r"broken: cannot load Marigold \(a config file lacks the key "
                                                      r"'_class_name' \(incomplete download\?\)\)"):
        MarigoldDepthSource(str(broken), device="cpu")


def test_marigold_without_weights_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("GENREFOCUS_MARIGOLD", raising=False)
    job = load_job(overrides={"depth.source": "marigold"})
    with pytest.raises(BackendUnavailableError, match="needs local weights"):
        make_source(job, _info(8, 8))


def test_single_frame_says_there_is_nothing_to_triangulate(caplog):
    """A still or a one-frame clip has no neighbour: the fallback says so, not 'the camera does not move'."""
    rng = np.random.default_rng(0)
    img = rng.random((48, 64, 3)).astype(np.float32)
    src = MotionDepthSource(frame_lookup=lambda i: img if i == 0 else None)
    with caplog.at_level(logging.WARNING):
        est = src.estimate(FrameRecord(Frame(0, img)))
    assert est.notes["fallback"] == "defocus"
    assert any("single frame" in m and "does not move" not in m for m in caplog.messages), caplog.messages

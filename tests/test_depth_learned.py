"""`--depth-source model`: tiny random models of every transformers depth family, built from configs
and saved as local safetensors folders (depth_model_fixtures), loaded through our code.

Expectations come from the models themselves (transformers' own processors and post-processing
where they run here, the configs' declared output type, Depth Pro's published focal-length
formula with a field-of-view head fixed at 60 degrees) and from lfbench's exact disparity.
"""
from __future__ import annotations

import math
import pickle
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from depth_model_fixtures import DEPTH_PRO_FOV, FAMILIES, METRIC_MAX_DEPTH, build  # noqa: E402

from genrefocus_video.depth.learned import DepthModelCache, display_srgb  # noqa: E402
from genrefocus_video.depth.learned_source import LearnedDepthSource, TemporalAffineAligner  # noqa: E402
from genrefocus_video.errors import BackendUnavailableError  # noqa: E402
from genrefocus_video.io.frame import Frame  # noqa: E402
from genrefocus_video.record import FrameRecord  # noqa: E402

H, W = 30, 40


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("depth_models")
    return {fam: build(fam, root / fam) for fam in FAMILIES}


@pytest.fixture(scope="module")
def cache() -> DepthModelCache:
    return DepthModelCache()


def _frame(seed: int = 0) -> np.ndarray:
    """A linear-RGB frame with structure (a bright square on a gradient)."""
    rng = np.random.default_rng(seed)
    img = np.tile(np.linspace(0.05, 0.6, W, dtype=np.float32), (H, 1))[..., None].repeat(3, 2)
    img[8:20, 10:25] = 0.9
    return (img + 0.05 * rng.random((H, W, 3))).astype(np.float32)


def _raw_output(model, rgb: np.ndarray):
    """The model's own forward pass on the processor's pixel values (transformers, not our post-processing)."""
    import torch

    with torch.no_grad():
        return model.model(pixel_values=model._pixel_values([display_srgb(rgb)]))


def test_processor_gets_display_srgb_code_values(folders, cache):
    """Linear 0.2140 is sRGB code 0.5: the processor must see 0.5 (then its own normalisation)."""
    m = cache.get(str(folders["depth_anything"]))
    lin = np.full((H, W, 3), 0.21404114, np.float32)
    px = m._pixel_values([display_srgb(lin)]).numpy()
    mean, std = np.array(m.processor.image_mean), np.array(m.processor.image_std)
    # (transformers' PIL-backend processors hold images as 8-bit: within one code value)
    np.testing.assert_allclose(px[0, :, 5, 5] * std + mean, 0.5, atol=1.0 / 255)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_output_kind_and_units(folders, cache, family):
    m = cache.get(str(folders[family]))
    rgb = _frame()
    pred = m.predict([rgb])[0]
    assert pred.disparity.shape == (H, W) and pred.disparity.dtype == np.float32
    declared = getattr(m.config, "depth_estimation_type", None)
    if family in ("depth_anything", "dpt"):
        # relative inverse depth: exactly the model's output, resized as transformers' DPT post-processing does
        assert declared in (None, "relative") and not pred.metric
        expect = m.processor.post_process_depth_estimation(_raw_output(m, rgb), target_sizes=[(H, W)])[0]
        np.testing.assert_allclose(pred.disparity, expect["predicted_depth"].numpy(), rtol=1e-4, atol=1e-12)
    elif family == "depth_anything_metric":
        # metric depth in metres (sigmoid x max_depth): our disparity x the model's depth == 1
        assert declared == "metric" and pred.metric
        depth = m.processor.post_process_depth_estimation(_raw_output(m, rgb), target_sizes=[(H, W)])[0]
        depth = depth["predicted_depth"].numpy()
        assert 0 < depth.min() and depth.max() <= METRIC_MAX_DEPTH
        np.testing.assert_allclose(pred.disparity * depth, 1.0, rtol=1e-4)
    elif family == "zoedepth":
        # metric depth, bins within [min_depth, max_depth] of the config: disparity x depth == 1, and
        # the padding the processor added is cut away (compare with the raw map's centre crop)
        assert pred.metric
        bins = m.config.bin_configurations[0]
        depth = 1.0 / pred.disparity
        assert bins["min_depth"] * 0.99 <= depth.min() and depth.max() <= bins["max_depth"] * 1.01
        raw = _raw_output(m, rgb).predicted_depth[0].numpy()
        assert raw.min() * 0.999 <= depth.min() and depth.max() <= raw.max() * 1.001
    else:  # depth_pro: canonical inverse depth x W/f, f from its field-of-view head (60 degrees here)
        assert pred.metric and pred.fov_deg == pytest.approx(DEPTH_PRO_FOV, abs=1e-3)
        canonical = _raw_output(m, rgb).predicted_depth[0].numpy()
        w_over_f = 2 * math.tan(math.radians(DEPTH_PRO_FOV) / 2)  # f = 0.5 W / tan(fov / 2)
        assert pred.disparity.mean() == pytest.approx(canonical.mean() * w_over_f, rel=0.05)
        with_meta = m.predict([rgb], width_over_focal=1.0)[0]  # a 53-degree lens from metadata wins
        np.testing.assert_allclose(with_meta.disparity * w_over_f, pred.disparity, rtol=1e-5, atol=1e-7)


def test_depth_pro_focal_estimate_exposed(folders, cache):
    src = LearnedDepthSource(cache.get(str(folders["depth_pro"])))
    assert src.metric and src.warmup == 0
    est = src.estimate(FrameRecord(Frame(0, _frame())))
    expect = 18.0 / math.tan(math.radians(DEPTH_PRO_FOV / 2))  # 36 mm sensor: 31.18 mm
    assert est.notes["focal_35mm"] == pytest.approx(expect, rel=1e-4) and not est.affine_ambiguous
    assert src.camera_estimate()["focal_length_35mm"] == pytest.approx(expect, rel=1e-4)


def test_relative_source_is_flagged_and_temporal(folders, cache):
    src = LearnedDepthSource(cache.get(str(folders["dpt"])))
    assert not src.metric and src.warmup > 0
    est = src.estimate(FrameRecord(Frame(0, _frame())))
    assert est.affine_ambiguous and est.notes["metric"] is False
    d = est.disparity
    assert np.percentile(d[d > 0], 90) == pytest.approx(1.0, rel=1e-3)  # normalised like motion depth


def test_batched_read_ahead_equals_frame_by_frame(folders, cache):
    m = cache.get(str(folders["depth_anything_metric"]))
    frames = [_frame(s) for s in range(5)]
    lookup = lambda i: frames[i] if 0 <= i < len(frames) else None  # noqa: E731
    one = LearnedDepthSource(m, batch=1)
    many = LearnedDepthSource(m, frame_lookup=lookup, batch=3)
    for i, f in enumerate(frames):
        a = one.estimate(FrameRecord(Frame(i, f))).disparity
        b = many.estimate(FrameRecord(Frame(i, f))).disparity
        np.testing.assert_allclose(a, b, rtol=1e-5)


def _per_frame_affine(aligned: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    A = np.c_[truth.ravel(), np.ones(truth.size)]
    return tuple(np.linalg.lstsq(A, aligned.ravel(), rcond=None)[0])


def _scene(t: int) -> np.ndarray:
    """Exact disparity of a static scene seen by a panning camera (1 px per frame): a floor ramp,
    a wall and two objects at their own depths."""
    yy, xx = np.mgrid[0:72, 0:160].astype(np.float32)
    xx = xx + t
    d = 0.1 + 0.8 * (yy / 71.0) ** 2
    d = np.where((xx > 40) & (xx < 70) & (yy > 10) & (yy < 50), 0.6, d)
    d = np.where((xx - 110) ** 2 + (yy - 30) ** 2 < 15 ** 2, 1.2, d)
    return d.astype(np.float32)


def test_alignment_recovers_a_known_affine_sequence():
    """A random affine map per frame on an exact disparity sequence: fully aligned (memory 1) the
    whole sequence comes out as ONE affine map of the truth; the default memory cuts the jitter of
    the per-frame maps at least 3x against per-frame normalisation."""
    from genrefocus_video.depth.learned_source import normalise_relative

    rng = np.random.default_rng(5)
    truth = [_scene(t) for t in range(24)]
    observed = [(rng.uniform(0.5, 2.0) * g + rng.uniform(-0.3, 0.3)) for g in truth]
    full, default = TemporalAffineAligner(memory=1.0), TemporalAffineAligner()
    maps = np.array([_per_frame_affine(full(o)[0], g) for o, g in zip(observed, truth)])
    np.testing.assert_allclose(maps[:, 0], maps[0, 0], rtol=0.01)
    np.testing.assert_allclose(maps[:, 1], maps[0, 1], atol=0.01 * maps[0, 0])
    raw = np.array([_per_frame_affine(normalise_relative(o), g)[0] for o, g in zip(observed, truth)])
    ema = np.array([_per_frame_affine(default(o)[0], g)[0] for o, g in zip(observed, truth)])
    assert np.std(ema / np.mean(ema)) < np.std(raw / np.mean(raw)) / 3


def test_pickle_only_folder_refused_without_unpickling(tmp_path, folders):
    """A folder with only pytorch_model.bin is refused (exit 5 class); the pickle is never opened."""
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = tmp_path / "bin_only"
    folder.mkdir()
    (folder / "config.json").write_text((folders["dpt"] / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Trap()))
    cache = DepthModelCache()
    with pytest.raises(BackendUnavailableError, match=r"only pickle weights \(pytorch_model.bin\).*--depth-source motion"):
        cache.get(str(folder))
    assert not marker.exists() and cache.loads == 0


def test_model_loaded_once_per_cache(folders):
    from genrefocus_video.depth.sources import make_source
    from genrefocus_video.params import JobParams

    job = JobParams()
    job.depth.source, job.depth.model = "model", str(folders["depth_anything"])
    info = SimpleNamespace(width=W, height=H, pixel_aspect=1, camera={})
    cache = DepthModelCache()
    a = make_source(job, info, models=cache)
    b = make_source(job, info, quiet=True, models=cache)  # a focus probe's chain in the same process
    assert cache.loads == 1 and a.model is b.model
    make_source(job, info, models=DepthModelCache())
    assert cache.loads == 1


def _clip(path: Path, n: int = 3) -> Path:
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv444p"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 24)
            for p in s.encode(f.reformat(format="yuv444p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "render", *args, "--no-progress",
                           "--executor", "local"], capture_output=True, text=True, timeout=300)


def test_cli_missing_model_folder_exits_5_naming_the_fallback(tmp_path):
    clip = _clip(tmp_path / "clip.mkv")
    out = tmp_path / "out.mkv"
    proc = _render(str(clip), "-o", str(out), "--depth-source", "model", "--depth-model", str(tmp_path / "nowhere"),
                   "--focus-disparity", "0.5", "--k", "3")
    err = proc.stderr.strip()
    assert proc.returncode == 5, err
    assert len(err.splitlines()) == 1 and "nowhere" in err and "--depth-source motion" in err
    assert not out.exists()


def test_cli_renders_with_a_local_model(tmp_path, folders):
    import av

    clip = _clip(tmp_path / "clip.mkv")
    out = tmp_path / "out.mkv"
    proc = _render(str(clip), "-o", str(out), "--depth-source", "model", "--depth-model",
                   str(folders["depth_anything_metric"]), "--focus-depth", "2.5", "--k", "3")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3


def test_cli_main_pass_and_focus_probe_share_one_loaded_model(tmp_path, folders):
    """A picked focus point probes depth through its own chain: the job still loads the weights once."""
    clip = _clip(tmp_path / "clip.mkv")
    out = tmp_path / "out.mkv"
    proc = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "-v", "render", str(clip), "-o", str(out),
                           "--depth-source", "model", "--depth-model", str(folders["depth_anything_metric"]),
                           "--focus-point", "24,16", "--k", "3", "--no-progress", "--executor", "local"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("depth model") == 1 and "loaded" in proc.stderr, proc.stderr


def test_aligner_chunk_started_late_converges_within_its_warmup():
    """A chunk's aligner starts afresh `warmup` frames before its first frame: it must then agree
    with the unsplit run within 1e-3 of the range (the alignment forgets as memory^n)."""
    from genrefocus_video.depth.learned_source import align_warmup

    rng = np.random.default_rng(9)
    observed = [rng.uniform(0.6, 1.6) * _scene(t % 30) + rng.uniform(-0.2, 0.2) for t in range(90)]
    whole, chunk = TemporalAffineAligner(), TemporalAffineAligner()
    start = 90 - align_warmup() - 1
    outs = [whole(o)[0] for o in observed]
    for o in observed[start:]:
        last = chunk(o)[0]
    rng_ = float(np.ptp(outs[-1]))
    assert np.abs(last - outs[-1]).max() < 1e-3 * rng_
    fresh = TemporalAffineAligner()(observed[-1])[0]  # without the warm-up they differ
    assert np.abs(fresh - outs[-1]).max() > 1e-2 * rng_

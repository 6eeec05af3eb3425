"""One FLUX base per process for DeblurNet and BokehNet (generative/shared.py), on tiny random FLUX
folders loaded through the real ``from_pretrained`` path, on the CPU (``backends.device cpu``).

The independent expectation is today's separate instances: each stage with a base of its own
(two registries, two loads). Sharing must give the same pixels, bit for bit, whatever the order
and the threads the two stages run in, with one load and one injection per LoRA file."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from genrefocus_video.generative import loaders
from genrefocus_video.generative.shared import FluxRegistry, flux_registry
from genrefocus_video.generative.tiny import save_components, tiny_components, write_genfocus_lora
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.params.job import load_job
from genrefocus_video.pipeline.stages.generative import BokehNetStage, DeblurNetStage
from genrefocus_video.record import FrameRecord

INFO = ClipInfo(path="x.mkv", kind="video", width=32, height=24)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A diffusers FLUX folder of tiny random parts and the two Genfocus LoRA files for it."""
    root = tmp_path_factory.mktemp("tinyflux")
    comp = tiny_components(3)
    save_components(comp, root / "flux")
    (root / "loras").mkdir()
    write_genfocus_lora(comp.transformer, str(root / "loras" / "deblurNet.safetensors"), seed=11, scale=0.3)
    write_genfocus_lora(comp.transformer, str(root / "loras" / "bokehNet.safetensors"), seed=12, scale=0.3)
    return root


def _job(weights, **backends):
    over = {"backends.flux_path": str(weights / "flux"), "backends.lora_dir": str(weights / "loras"),
            "backends.device": "cpu", "backends.steps": 1, "backends.noise_warp": False, "blur.k": 8.0,
            **{f"backends.{k}": v for k, v in backends.items()}}
    return load_job(overrides=over)


def _frames(n=3):
    rng = np.random.default_rng(7)
    return [rng.random((24, 32, 3), dtype=np.float32) for _ in range(n)]


DISP = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (24, 1))


def _deblur(stage, i, rgb):
    return stage.process(FrameRecord(Frame(i, rgb))).aif


def _bokeh(stage, i, rgb):
    return stage.process(FrameRecord(Frame(i, rgb), aif=rgb, disparity=DISP, focus_disparity=0.4)).output


def _pair(job, deblur_registry, bokeh_registry):
    return (DeblurNetStage(job, registry=deblur_registry),
            BokehNetStage(job, INFO, k=8.0, registry=bokeh_registry))


def test_shared_base_equals_separate_bases_with_one_load_and_one_injection_per_lora(weights):
    job = _job(weights)
    sep_a, sep_b = FluxRegistry(), FluxRegistry()
    d_sep, b_sep = _pair(job, sep_a, sep_b)
    shared = FluxRegistry()
    d_sh, b_sh = _pair(job, shared, shared)
    for i, rgb in enumerate(_frames(2)):  # interleaved: the adapters are switched every call
        assert np.array_equal(_deblur(d_sh, i, rgb), _deblur(d_sep, i, rgb)), i
        assert np.array_equal(_bokeh(b_sh, i, rgb), _bokeh(b_sep, i, rgb)), i
    assert sep_a.loads == 1 and sep_b.loads == 1 and d_sep._net.comp is not b_sep._net.comp  # before: two bases
    assert shared.loads == 1 and d_sh._net.comp is b_sh._net.comp  # after: one base, loaded once
    (base,) = shared.bases()
    assert sorted(base.adapters) == ["bokehnet", "deblurnet"] and base.adapter_loads == 2
    assert base.switches == 2  # frame 1 switched twice (frame 0 ran each adapter as it was loaded)
    # the DeblurNet pre-deblur variant is a third adapter on the same base, not a second base
    pytest.importorskip("cv2", exc_type=ImportError)
    (tmp := weights / "loras" / "deblurNet_with_pre_deblur.safetensors").exists() or write_genfocus_lora(
        base.comp.transformer, str(tmp), seed=13, scale=0.3)
    _deblur(DeblurNetStage(_job(weights, predeblur=True), registry=shared), 0, _frames(1)[0])
    assert shared.loads == 1 and sorted(base.adapters) == ["bokehnet", "deblurnet", "deblurnet_pre"]


def test_two_stages_on_two_threads_take_turns_and_give_the_sequential_pixels(weights):
    """The overlap executor runs BokehNet on a worker thread while DeblurNet runs in the head: on
    one base the lock around adapter activation + sampling keeps each net's own adapter and the
    scheduler's state for its whole run, so the pixels equal the one-thread run."""
    job = _job(weights)
    frames = _frames(3)
    ref_d, ref_b = _pair(job, FluxRegistry(), FluxRegistry())
    want_d = [_deblur(ref_d, i, f) for i, f in enumerate(frames)]
    want_b = [_bokeh(ref_b, i, f) for i, f in enumerate(frames)]
    shared = FluxRegistry()
    d, b = _pair(job, shared, shared)
    got: dict[str, list] = {"d": [], "b": []}
    start = threading.Barrier(2)

    def run(key, fn, stage):
        start.wait()
        got[key] = [fn(stage, i, f) for i, f in enumerate(frames)]

    threads = [threading.Thread(target=run, args=("d", _deblur, d)),
               threading.Thread(target=run, args=("b", _bokeh, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(x, y) for x, y in zip(got["d"], want_d)) and len(got["d"]) == 3
    assert all(np.array_equal(x, y) for x, y in zip(got["b"], want_b)) and len(got["b"]) == 3
    assert shared.loads == 1


def test_registry_keys_by_folder_dtype_device_and_refuses_a_second_file_under_one_adapter(weights, tmp_path):
    reg = FluxRegistry()
    cpu = torch.device("cpu")
    a = reg.base(weights / "flux", device=cpu)
    assert reg.base(weights / "flux" / ".." / "flux", device=cpu) is a and reg.loads == 1  # same folder
    half = reg.base(weights / "flux", device=cpu, dtype=torch.bfloat16)
    assert half is not a and reg.loads == 2 and next(half.comp.transformer.parameters()).dtype == torch.bfloat16
    a.add_adapter("bokehnet", weights / "loras" / "bokehNet.safetensors")
    a.add_adapter("bokehnet", weights / "loras" / "bokehNet.safetensors")  # the same file again: nothing
    assert a.adapter_loads == 1
    with pytest.raises(Exception, match="already"):
        a.add_adapter("bokehnet", weights / "loras" / "deblurNet.safetensors")
    with pytest.raises(Exception, match="never loaded"):
        with a.using("deblurnet"):
            pass


def test_a_whole_job_with_deblur_before_depth_and_bokehnet_holds_one_base(weights, tmp_path):
    """The CLI, in-process executor: --deblur deblurnet with estimated depth (the deblur runs in
    the head, before depth) and --bokeh bokehnet (the tail, on the overlap executor's worker
    thread): the process loads one FLUX base, with both adapters."""
    pytest.importorskip("cv2", exc_type=ImportError)
    from genrefocus_video.cli import main
    from genrefocus_video.io.images import write_image
    from genrefocus_video.io.reader import open_reader

    for i, rgb in enumerate(_frames(4)):
        write_image(str(tmp_path / f"in.{i:04d}.exr"), rgb)
    flux_registry().clear()
    rc = main(["render", str(tmp_path / "in.%04d.exr"), "-o", str(tmp_path / "out.%04d.exr"), "--no-progress",
               "--executor", "local", "--deblur", "deblurnet", "--bokeh", "bokehnet", "--depth-source", "motion",
               "--depth-smoothing", "0", "--focus-disparity", "0.5", "--k", "4", "--generative-device", "cpu",
               "--flux-path", str(weights / "flux"), "--lora-dir", str(weights / "loras"), "--steps", "1"])
    assert rc == 0
    with open_reader(str(tmp_path / "out.%04d.exr")) as r:
        assert sum(np.isfinite(f.rgb).all() for f in r) == 4
    stats = flux_registry().stats()
    flux_registry().clear()
    assert stats["loads"] == 1 and stats["bases"][0]["adapters"] == ["bokehnet", "deblurnet"]


def test_without_cuda_the_default_device_still_stops_with_the_fallback(weights):
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs the default device")
    from genrefocus_video.errors import BackendUnavailableError
    from genrefocus_video.pipeline.stages.generative import build_deblur_stage

    with pytest.raises(BackendUnavailableError, match="--deblur classical"):
        build_deblur_stage(_job(weights, device="cuda", deblur="deblurnet"), INFO)
    assert loaders.pick_device("bokehnet", allow_cpu=True).type == "cpu"


def test_ray_streaming_runs_the_heads_generative_deblur_on_the_tail_workers(weights, tmp_path):
    """Ray streaming builds the head on the driver and the tail on actors: the head's DeblurNet is
    routed to the actors (stages/aif.route_deblur), so the driver loads no FLUX and every actor
    holds one base with both adapters; the frames equal the in-process executor's."""
    pytest.importorskip("cv2", exc_type=ImportError)
    ray = pytest.importorskip("ray")
    from genrefocus_video.io.images import write_image
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.pipeline.executors.local import LocalExecutor
    from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime
    from genrefocus_video.pipeline.executors.ray_stream import RayExecutor

    for i, rgb in enumerate(_frames(4)):
        write_image(str(tmp_path / f"in.{i:04d}.exr"), rgb)
    job = load_job(overrides={
        "input.path": str(tmp_path / "in.%04d.exr"), "output.path": str(tmp_path / "o.%04d.exr"),
        "backends.flux_path": str(weights / "flux"), "backends.lora_dir": str(weights / "loras"),
        "backends.device": "cpu", "backends.steps": 1, "backends.noise_warp": False, "backends.deblur": "deblurnet",
        "backends.bokeh": "bokehnet", "depth.source": "motion", "depth.smoothing": 0, "focus.disparity": 0.5,
        "blur.k": 4.0, "executor.executor": "ray", "executor.workers": 2, "executor.progress": False})
    with open_reader(job.input.path) as r:
        info, frames = r.info, list(r)
    local = [rec.output for rec in LocalExecutor().map((FrameRecord(f) for f in frames), job, info)]
    flux_registry().clear()
    rt = RayRuntime(None, workers=2).__enter__()
    try:
        with RayExecutor(job) as ex:
            remote = [rec.output for rec in ex.map((FrameRecord(f) for f in frames), job, info)]
            stats = ray.get([a.flux_stats.remote() for a in ex.actors])
    finally:
        rt.__exit__(None, None, None)
    assert flux_registry().loads == 0  # the driver ran the head (motion depth on deblurred frames), no FLUX
    assert len(stats) == 2 and all(s["loads"] == 1 for s in stats)
    assert all(s["bases"][0]["adapters"] == ["bokehnet", "deblurnet"] for s in stats)
    assert len(remote) == 4 and all(np.allclose(a, b, atol=1e-4) for a, b in zip(local, remote))

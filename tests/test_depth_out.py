"""``--depth-out``: the disparity the render used, written as a float32 EXR sequence, round-trips
exactly through ``--depth``: rendering again from the exported files (as a plain disparity file,
no smoothing) reproduces the first render bit for bit, for a file source with smoothing and for an
estimated source (including one whose blur reach the bokeh stage had to clamp). The 16-bit FFV1
.mkv variant: tests/test_depth_out_video.py."""
from __future__ import annotations

import os

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main
from genrefocus_video.io.depthio import open_depth
from genrefocus_video.io.sequence import _list_frames

N = 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("depthout")
    clip = kit.make_clip(str(d / "plate.mkv"), n=N)
    rng = np.random.default_rng(5)
    seq = np.empty((N, kit.H, kit.W), np.float32)
    for i in range(N):  # a noisy two-layer disparity: smoothing changes it, so the export is not the input
        seq[i] = 0.2 + 0.5 * (np.arange(kit.W) >= kit.W // 2) + 0.01 * i + 0.05 * rng.random((kit.H, kit.W))
    np.save(d / "seq.npy", seq)
    return d, clip, str(d / "seq.npy")


def _render(clip, out, *extra):
    return main(["render", clip, "-o", out, "--focus-disparity", "0.3", "--codec", "ffv1", "--no-progress",
                 "--executor", "local", *extra])


def _exported(pattern):
    with open_depth(pattern, kind="disparity") as seq:
        return np.stack(list(seq))


def _round_trip(d, clip, name, first_args):
    """Render with --depth-out, then from the export; return (export, first frames, second frames)."""
    pattern = str(d / f"{name}.%04d.exr")
    assert _render(clip, str(d / f"{name}_a.mkv"), *first_args, "--depth-out", pattern) == 0
    assert [n for n, _ in _list_frames(pattern)] == list(range(N))  # one file per source frame
    k = first_args[first_args.index("--k") + 1]
    assert _render(clip, str(d / f"{name}_b.mkv"), "--k", k, "--depth", pattern, "--depth-kind", "disparity") == 0
    return _exported(pattern), kit.read_all(str(d / f"{name}_a.mkv")), kit.read_all(str(d / f"{name}_b.mkv"))


def test_file_depth_with_smoothing_round_trips_exactly(shot):
    d, clip, depth = shot
    exported, a, b = _round_trip(d, clip, "smooth", ["--depth", depth, "--depth-smoothing", "0.6", "--k", "6"])
    assert np.array_equal(a, b)
    seq = np.load(depth)
    assert exported.dtype == np.float32 and exported.shape == seq.shape
    assert np.abs(exported - seq).max() > 1e-3  # the smoothed disparity was exported, not the input file
    # and it is what the renderer used: rendering from the raw input differs
    assert _render(clip, str(d / "raw.mkv"), "--depth", depth, "--k", "6") == 0
    assert not np.array_equal(kit.read_all(str(d / "raw.mkv")), a)


def test_estimated_depth_with_smoothing_round_trips_exactly(shot):
    d, clip, _ = shot
    exported, a, b = _round_trip(d, clip, "motion", ["--depth-source", "motion", "--depth-smoothing", "0.6",
                                                     "--k", "6"])
    assert np.array_equal(a, b)
    assert np.isfinite(exported).all() and exported.std() > 0


def test_clamped_estimate_is_exported_as_clamped(shot, capsys):
    """A K so large that the bokeh stage clamps the estimate's blur reach: the export holds the
    clamped disparity (the raw estimate as a file would be refused by the renderer)."""
    from genrefocus_video.optics.coc import blur_reach

    d, clip, _ = shot
    k = "4000"
    exported, a, b = _round_trip(d, clip, "clamped", ["--depth-source", "motion", "--k", k])
    assert np.array_equal(a, b)
    limit = max(kit.H, kit.W)
    for frame in exported:
        assert blur_reach(float(frame.min()), float(frame.max()), 0.3, float(k), 0.0) <= limit
    # unclamped, the same estimate has a reach beyond the frame: the clamp really acted
    pattern = str(d / "raw_est.%04d.exr")
    from genrefocus_video.params import load_job
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.pipeline.executors.local import run_stages
    from genrefocus_video.pipeline.stages import build_head, reset_all
    from genrefocus_video.record import FrameRecord

    job = load_job(None, {"input.path": clip, "output.path": str(d / "unused.mkv"), "depth.source": "motion",
                          "focus.disparity": 0.3, "blur.k": float(k)})
    with open_reader(clip) as r:
        info, frames = r.info, list(r)
    head = build_head(job, info)
    reset_all(head)
    raw = np.stack([run_stages(FrameRecord(f), head).disparity for f in frames])
    assert max(blur_reach(float(f.min()), float(f.max()), 0.3, float(k), 0.0) for f in raw) > limit
    assert not os.path.exists(pattern % 0)


def test_chunked_run_writes_the_same_files(shot):
    d, clip, depth = shot
    for name, extra in (("one", []), ("two", ["--chunks", "2"])):
        assert _render(clip, str(d / f"ch_{name}.mkv"), "--depth", depth, "--k", "6",
                       "--depth-out", str(d / f"ch_{name}.####.exr"), *extra) == 0
    one, two = _list_frames(str(d / "ch_one.%04d.exr")), _list_frames(str(d / "ch_two.%04d.exr"))
    assert [n for n, _ in one] == [n for n, _ in two] == list(range(N))
    assert np.array_equal(_exported(str(d / "ch_one.%04d.exr")), _exported(str(d / "ch_two.%04d.exr")))
    assert np.array_equal(_exported(str(d / "ch_one.%04d.exr")), np.load(depth))  # no smoothing: the input itself
    assert not [f for f in os.listdir(d) if ".partial" in f]  # atomic: no temp files left


def test_bad_pattern_missing_folder_and_inputs_are_refused(shot, capsys):
    d, clip, depth = shot
    assert _render(clip, str(d / "bad.mkv"), "--depth", depth, "--k", "6", "--depth-out", str(d / "depth.mp4")) == 2
    err = capsys.readouterr().err
    assert "depth.out" in err and "%04d.exr" in err and ".mkv" in err and err.count("\n") == 1
    # never over an input: the depth sequence being read
    pattern = str(d / "in.%04d.exr")
    assert _render(clip, str(d / "in.mkv"), "--depth", depth, "--k", "6", "--depth-out", pattern) == 0
    before = [open(f, "rb").read() for _, f in _list_frames(pattern)]
    assert _render(clip, str(d / "in2.mkv"), "--depth", pattern, "--k", "6", "--depth-out", pattern) == 4
    assert "input" in capsys.readouterr().err
    assert [open(f, "rb").read() for _, f in _list_frames(pattern)] == before and not os.path.exists(d / "in2.mkv")
    assert _render(clip, str(d / "nodir.mkv"), "--depth", depth, "--k", "6", "--depth-out",
                   str(d / "missing" / "z.%04d.exr")) == 4
    assert "does not exist" in capsys.readouterr().err


def test_existing_files_are_replaced_like_other_side_outputs(shot):
    """A rerun (a resumed chunked job, farm tasks of one job) writes its frames again."""
    d, clip, depth = shot
    pattern = str(d / "again.%04d.exr")
    (d / "again.0003.exr").write_bytes(b"stale")
    assert _render(clip, str(d / "again.mkv"), "--depth", depth, "--k", "6", "--depth-out", pattern) == 0
    assert np.array_equal(_exported(pattern), np.load(depth))

def test_ray_streaming_and_chunks_write_the_local_files(shot, tmp_path, monkeypatch):
    """Ray workers write the files (tail stage); a relative pattern lands beside the driver's cwd."""
    ray = pytest.importorskip("ray")
    from dataclasses import replace

    from ray import cloudpickle

    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime
    from genrefocus_video.pipeline.run import run_job

    d, clip, depth = shot
    monkeypatch.chdir(tmp_path)
    base = load_job(None, {"input.path": clip, "output.path": str(tmp_path / "local.mkv"), "depth.path": depth,
                           "depth.smoothing": 0.6, "focus.disparity": 0.3, "blur.k": 6.0, "output.codec": "ffv1",
                           "executor.progress": False, "executor.executor": "local", "depth.out": "loc.%04d.exr"})
    run_job(base)
    cloudpickle.register_pickle_by_value(kit)
    rt = RayRuntime(None, workers=2).__enter__()
    try:
        for name, chunks, out in (("str", 1, "str.%04d.exr"), ("chk", 2, "chk.%04d.exr"), ("vid", 2, "vid_depth.mkv")):
            job = replace(base, output=replace(base.output, path=str(tmp_path / f"{name}.mkv")),
                          depth=replace(base.depth, out=out),
                          executor=replace(base.executor, executor="ray", workers=2, chunks=chunks))
            run_job(job)
    finally:
        rt.__exit__(None, None, None)
    ref = _exported(str(tmp_path / "loc.%04d.exr"))
    assert ref.shape == (N, kit.H, kit.W)
    assert np.array_equal(ref, _exported(str(tmp_path / "str.%04d.exr")))
    # chunks with smoothing: within the smoother's stated split tolerance (test_pipeline_e2e), same files
    chk = _exported(str(tmp_path / "chk.%04d.exr"))
    assert np.abs(chk - ref).max() <= 1e-3 * float(np.ptp(np.load(depth))) + 1e-6
    # the 16-bit video of Ray chunks: the chunked EXR export within half a code step
    from genrefocus_video.io.depth_video import read_coding

    vid = _exported(str(tmp_path / "vid_depth.mkv"))
    assert np.abs(vid - chk).max() <= read_coding(str(tmp_path / "vid_depth.mkv")).scale / 2 + 1e-6


def test_farm_file_resolves_depth_out_beside_it_and_yaml_matches_cli(tmp_path):
    from genrefocus_video.pipeline.farm import load_farm

    (tmp_path / "plates").mkdir()
    kit.make_clip(str(tmp_path / "plates" / "a.mkv"), n=2)
    (tmp_path / "job.yaml").write_text("shots:\n  sh010:\n    input: {path: plates/a.mkv}\n"
                                       "    output: {path: out/a.mkv}\n    depth: {source: motion, out: "
                                       "'out/a_depth.####.exr'}\n    focus: {disparity: 0.3}\n    blur: {k: 4}\n")
    job = load_farm(str(tmp_path / "job.yaml"))[0].job
    assert job.depth.out == str(tmp_path / "out" / "a_depth.####.exr")
    from genrefocus_video.errors import ConfigError

    (tmp_path / "bad.yaml").write_text((tmp_path / "job.yaml").read_text().replace(".####.exr", ".mp4"))
    with pytest.raises(ConfigError, match=r"depth.out.*%04d\.exr"):
        load_farm(str(tmp_path / "bad.yaml"))


def test_writer_is_the_last_tail_stage():
    """After the bokeh stage (which clamps an estimate), so it writes the disparity as rendered."""
    from genrefocus_video.io.frame import ClipInfo
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.stages import build_tail
    from genrefocus_video.pipeline.stages.depth_out import DepthOutStage

    info = ClipInfo("x.mkv", "video", kit.W, kit.H)
    job = load_job(None, {"input.path": "x.mkv", "output.path": "y.mkv", "blur.k": 4.0, "focus.disparity": 0.3,
                          "depth.out": "d.%04d.exr"})
    names = [s.name for s in build_tail(job, info)]
    assert names[-2:] == ["bokeh", "depth_out"] and isinstance(build_tail(job, info)[-1], DepthOutStage)
    job = load_job(None, {"input.path": "x.mkv", "output.path": "y.mkv", "blur.k": 4.0})
    assert "depth_out" not in [s.name for s in build_tail(job, info)]


def test_plate_sequence_numbering_is_kept(tmp_path):
    """plate.1001.exr -> depth.1001.exr (as the image writer numbers outputs), read back in order."""
    from genrefocus_video.io.images import write_image

    rng = np.random.default_rng(2)
    for i in range(3):
        write_image(str(tmp_path / f"plate.{1001 + i}.exr"), rng.random((kit.H, kit.W, 3)).astype(np.float32))
    disp = np.where(np.arange(kit.W) >= kit.W // 2, 0.8, 0.2).astype(np.float32)[None].repeat(kit.H, 0)
    np.save(tmp_path / "d.npy", disp)
    out = str(tmp_path / "depth.%04d.exr")
    assert main(["render", str(tmp_path / "plate.%04d.exr"), "-o", str(tmp_path / "out.%04d.exr"), "--depth",
                 str(tmp_path / "d.npy"), "--focus-disparity", "0.2", "--k", "4", "--no-progress",
                 "--depth-out", out]) == 0
    assert [n for n, _ in _list_frames(out)] == [1001, 1002, 1003]
    assert [n for n, _ in _list_frames(str(tmp_path / "out.%04d.exr"))] == [1001, 1002, 1003]
    assert np.array_equal(_exported(out), np.stack([disp] * 3))

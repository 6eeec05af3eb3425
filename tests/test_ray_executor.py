"""Ray executor: same frames as in process, bounded frames in flight, clear errors for bad clusters.

One local Ray instance (2 CPUs) is shared by the whole module: start-up costs seconds.
"""
from __future__ import annotations

import json
import os
import socket
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import test_pipeline_kit as kit  # noqa: E402
from genrefocus_video.errors import BackendUnavailableError  # noqa: E402
from genrefocus_video.params import load_job  # noqa: E402
from genrefocus_video.pipeline.executors.local import LocalExecutor  # noqa: E402


@pytest.fixture(scope="module")
def ray_session():
    from ray import cloudpickle

    from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime

    cloudpickle.register_pickle_by_value(kit)  # workers cannot import the tests folder
    rt = RayRuntime(None, workers=2).__enter__()
    yield rt
    rt.__exit__(None, None, None)


def _job(**ex):
    return load_job(None, {"executor.progress": False, **{f"executor.{k}": v for k, v in ex.items()}})


def test_ray_map_equals_local_and_bounds_in_flight(ray_session):
    from genrefocus_video.pipeline.executors.ray_stream import RayExecutor

    factory = kit.ToyFactory(warmup=2)
    job = _job(executor="ray", workers=2)
    local = [r.output for r in LocalExecutor(factory).map(kit.records(16), job, None)]

    pulled = 0

    def source():
        nonlocal pulled
        for rec in kit.records(16):
            pulled += 1
            yield rec

    with RayExecutor(job, factory, max_in_flight=3) as ex:
        assert ex.workers == 2
        outs = []
        instances = set()
        for i, rec in enumerate(ex.map(source(), job, None)):
            instances.add(rec.extras["tail_instance"])
            assert rec.index == i  # in order
            # back-pressure: never more than max_in_flight frames decoded ahead of the encoder
            assert pulled - i <= 3
            outs.append(rec.output)
            assert "toy_render" in rec.timings and "ray_wait" in rec.timings
        pids = set(ex.tail_pids)
    assert len(pids) == 2 and os.getpid() not in pids  # two separate worker processes did the tail
    assert len(instances) == 2  # the tail ("models") was built once per worker, not per frame
    assert len(outs) == 16
    for a, b in zip(local, outs):
        assert np.array_equal(a, b)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_cluster_fails_fast_with_clear_error():
    from genrefocus_video.pipeline.executors.ray_runtime import check_reachable

    addr = f"127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=addr):
        check_reachable(addr, timeout=2.0)
    assert time.monotonic() - t0 < 15.0  # bounded (generous: a loaded 2-core VM), not a speed test
    # a black-holed address (TEST-NET-1, RFC 5737) times out within the bound instead of hanging
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        check_reachable("192.0.2.1:6379", timeout=1.0)
    assert time.monotonic() - t0 < 15.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return kit.make_clip(str(tmp_path_factory.mktemp("rayclip") / "src.mkv"), n=12)


def test_ray_render_equals_local_render(ray_session, clip, tmp_path):
    """Done-when: the Ray executor's output equals the in-process executor's, 2 workers, a real clip."""
    from genrefocus_video.pipeline.run import run_job

    factory = kit.ToyFactory()
    a = run_job(kit.toy_job(clip, str(tmp_path / "local.mkv"), executor="local"), factory=factory)
    b = run_job(kit.toy_job(clip, str(tmp_path / "ray.mkv"), executor="ray", workers=2), factory=factory)
    assert (a.executor, b.executor, b.workers) == ("local", "ray", 2)
    assert a.frames == b.frames == 12
    assert np.array_equal(kit.read_all(str(tmp_path / "local.mkv")), kit.read_all(str(tmp_path / "ray.mkv")))
    assert ray.is_initialized()  # the module's Ray instance was reused, not shut down by the job


def test_killed_worker_is_retried_and_output_identical(ray_session, clip, tmp_path):
    """Done-when: SIGKILL one Ray worker mid-chunk; Ray reruns the chunk; the output is unchanged."""
    import signal
    import threading

    from genrefocus_video.pipeline.workdir import WorkDir
    from genrefocus_video.pipeline.run import run_job

    ref = str(tmp_path / "ref.mkv")
    run_job(kit.toy_job(clip, ref, executor="local"), factory=kit.ToyFactory())
    out = str(tmp_path / "killed.mkv")
    job = kit.toy_job(clip, out, executor="ray", workers=2, chunks=3)
    work = WorkDir(out + ".work")
    result: dict = {}

    def run():
        try:
            result["summary"] = run_job(job, factory=kit.ToyFactory(sleep=0.25))  # ~1 s per chunk
        except BaseException as exc:  # reported below
            result["error"] = exc

    th = threading.Thread(target=run)
    th.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and th.is_alive():
        for i in range(3):
            try:
                text = open(work.log_path(i)).read()
            except OSError:
                continue
            if "start chunk" in text and "done chunk" not in text:
                pid = int(text.split("pid ")[1].split()[0])
                assert pid != os.getpid()
                time.sleep(0.1)  # let it write a frame or two of its segment
                os.kill(pid, signal.SIGKILL)
                victim = (i, pid)
                break
        time.sleep(0.02)
    th.join(120)
    assert victim is not None, "no running chunk was found to kill"
    assert "error" not in result, result.get("error")
    log = open(work.log_path(victim[0])).read()
    assert log.count("start chunk") >= 2 and log.count("done chunk") == 1  # killed, then retried
    assert f"pid {victim[1]} done" not in log
    assert np.array_equal(kit.read_all(out), kit.read_all(ref))


def test_cli_unreachable_cluster_exits_with_clear_error(clip, tmp_path):
    import subprocess
    import sys

    addr = f"127.0.0.1:{_closed_port()}"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "render", clip, "-o", str(tmp_path / "o.mkv"),
                        "--k", "3", "--focus-disparity", "0.3", "--executor", "ray", "--ray-address", addr,
                        "--no-progress"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 5, r.stderr
    err = r.stderr.strip().splitlines()[-1]
    assert addr in err and "unreachable" in err
    assert not os.path.exists(tmp_path / "o.mkv")


def test_real_stages_on_ray_match_local_with_progress(ray_session, clip, tmp_path, capfd):
    """The real depth-file + focus + classical bokeh stages: Ray streaming and Ray chunks == local."""
    from dataclasses import replace

    from genrefocus_video.pipeline.run import run_job

    disp = np.full((kit.H, kit.W), 0.2, np.float32)
    disp[:, kit.W // 2:] = 0.8
    np.save(tmp_path / "d.npy", disp)

    def job(name, **ex):
        j = kit.toy_job(clip, str(tmp_path / name), **ex)
        return replace(j, depth=replace(j.depth, path=str(tmp_path / "d.npy")),
                       focus=replace(j.focus, disparity=0.2), blur=replace(j.blur, k=4.0))

    run_job(job("local.mkv", executor="local"))
    s = run_job(job("stream.mkv", executor="ray", workers=2))
    assert s.executor == "ray" and s.frames == 12
    capfd.readouterr()
    chunked = job("chunks.mkv", executor="ray", workers=2, chunks=3)
    s = run_job(replace(chunked, executor=replace(chunked.executor, progress=True)))
    assert (s.chunks_rendered, s.frames) == (3, 12)
    assert "12/12" in capfd.readouterr().err  # the one job bar, fed by the workers, reached the total
    ref = kit.read_all(str(tmp_path / "local.mkv"))
    assert np.array_equal(ref, kit.read_all(str(tmp_path / "stream.mkv")))
    assert np.array_equal(ref, kit.read_all(str(tmp_path / "chunks.mkv")))


def test_streaming_survives_a_killed_tail_actor(ray_session):
    """Streaming mode: SIGKILL a tail actor's process mid-clip; Ray restarts it and retries its frames."""
    import signal

    from genrefocus_video.pipeline.executors.ray_stream import RayExecutor

    factory = kit.ToyFactory(sleep=0.05)
    job = _job(executor="ray", workers=2)
    local = [r.output for r in LocalExecutor(kit.ToyFactory()).map(kit.records(12), job, None)]
    outs = []
    with RayExecutor(job, factory) as ex:
        for i, rec in enumerate(ex.map(kit.records(12), job, None)):
            if i == 2:
                victim = ex.tail_pids[1]
                os.kill(victim, signal.SIGKILL)
            outs.append(rec.output)
        now = [pid for _, pid in ray.get([a.describe.remote() for a in ex.actors])]
    assert victim not in now and len(now) == 2  # the actor really died and was restarted
    assert len(outs) == 12
    for a, b in zip(local, outs):
        assert np.array_equal(a, b)


def test_sigterm_to_a_chunked_ray_render_unwinds_and_the_rerun_resumes(ray_session, tmp_path):
    """A farm manager cancels with SIGTERM. Ray's driver handler used to abort the process (exit 134,
    a C++ stack, temp segments left); the CLI's handler now survives ray.init: the running chunk is
    cancelled and its temp segment removed, finished chunks are kept, exit 143 with one line, and
    the rerun renders only the rest, identical to a single local pass."""
    import signal
    import subprocess
    import sys

    from genrefocus_video.cli import main

    clip = kit.make_clip(str(tmp_path / "slow.mkv"), n=24, w=320, h=240)
    disp = np.tile(np.linspace(0.0, 1.0, 320, dtype=np.float32), (240, 1))
    np.save(tmp_path / "d.npy", disp)
    out = tmp_path / "out.mkv"
    args = ["render", clip, "-o", str(out), "--depth", str(tmp_path / "d.npy"), "--focus-disparity", "0.5",
            "--k", "40", "--codec", "ffv1", "--no-progress", "--executor", "ray", "--workers", "1", "--chunks", "3"]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", *args], stderr=subprocess.PIPE, text=True, env=env)
    segments = tmp_path / "out.mkv.work" / "segments"
    deadline = time.monotonic() + 120
    while not (segments.is_dir() and any(f.name.startswith("seg_0000") for f in segments.iterdir())):
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "timeout"
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("genrefocus-video: terminated (SIGTERM); no partial file is left")
    assert not out.exists()
    left = [f.name for f in segments.iterdir()]
    assert "seg_0000.mkv" in left and "seg_0002.mkv" not in left and not [f for f in left if "partial" in f], left
    assert main(args) == 0  # the rerun, in this process on the module's Ray instance
    report = json.load(open(tmp_path / "out.mkv.work" / "report.json"))
    assert report["chunks_skipped"] >= 1 and report["chunks_rendered"] <= 2, report
    ref = tmp_path / "ref.mkv"
    assert main([*args[:3], str(ref), *args[4:-6], "--executor", "local"]) == 0
    assert np.array_equal(kit.read_all(str(out)), kit.read_all(str(ref)))


@pytest.mark.parametrize("overrides, share", [
    ({}, 0.0),  # classical stages only: a GPU would sit idle
    ({"backends.deblur": "deblurnet"}, 0.5),
    ({"backends.bokeh": "bokehnet", "backends.device": "cpu"}, 0.0),
    ({"render.device": "cuda"}, 0.5),
])
def test_workers_request_a_gpu_only_when_a_stage_runs_on_one(overrides, share):
    """Two GPUs over four workers is half a GPU each, but only for a stage that runs on the GPU:
    `--generative-device cpu` nets and the classical path get no GPU reservation (a reservation
    would keep them waiting for a GPU they never use)."""
    from genrefocus_video.pipeline.executors.ray_runtime import gpu_share

    job = load_job(None, {"input.path": "x.mkv", "output.path": "y.mkv", **overrides})
    assert gpu_share(job, 4, cluster_gpus=2) == share
    assert gpu_share(job, 4, cluster_gpus=0) == 0.0

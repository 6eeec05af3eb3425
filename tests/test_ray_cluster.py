"""Joining an existing Ray cluster with --ray-address (a real `ray start --head` on this machine)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import test_pipeline_kit as kit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def _users_of(path: str) -> list[int]:
    """pids whose command line mentions `path` (the head node's processes)."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if path.encode() in fh.read():
                        pids.append(int(pid))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def cluster():
    """A separate head node (its own session, temp dir and port), stopped by process group only."""
    if not os.path.exists(RAY):
        pytest.skip("the `ray` command is not installed beside this Python")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    tmp = tempfile.mkdtemp(prefix="grhead_")
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=REPO)
    p = subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--num-cpus=2", f"--temp-dir={tmp}",
                          "--include-dashboard=false", "--disable-usage-stats", "--block"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Ray head node did not start")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", env
    finally:  # our own process group only: SIGTERM, a moment, then SIGKILL for any survivor
        for sig, wait in ((signal.SIGTERM, 2), (signal.SIGKILL, 10)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while _users_of(tmp) and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)


def test_join_cluster_chunks_equal_local(cluster, tmp_path):
    address, env = cluster
    clip = kit.make_clip(str(tmp_path / "plate.mkv"), n=10)
    disp = np.full((kit.H, kit.W), 0.2, np.float32)
    disp[:, kit.W // 2:] = 0.8
    np.save(tmp_path / "d.npy", disp)
    common = [clip, "--depth", str(tmp_path / "d.npy"), "--k", "4", "--focus-disparity", "0.2", "--codec", "ffv1",
              "--no-progress"]
    cli = [sys.executable, "-m", "genrefocus_video.cli", "render"]
    r = subprocess.run(cli + common + ["-o", str(tmp_path / "local.mkv"), "--executor", "local"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(cli + common + ["-o", str(tmp_path / "joined.mkv"), "--executor", "ray", "--ray-address", address,
                                       "--chunks", "2"], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "executor ray x2" in r.stdout and "chunks 2 rendered" in r.stdout  # sized from the joined cluster
    assert np.array_equal(kit.read_all(str(tmp_path / "local.mkv")), kit.read_all(str(tmp_path / "joined.mkv")))

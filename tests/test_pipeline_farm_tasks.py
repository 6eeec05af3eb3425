"""Farm tasks: one `--chunk N` task per chunk (side by side, on any machines sharing the work
folder), then one `--join`, as Deadline / OpenCue / Tractor / Slurm run them. Real stages, real
CLI; the joined clip must equal a single pass."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("tasks")
    clip = kit.make_clip(str(d / "plate.mkv"), n=12)
    disp = np.tile(np.linspace(0.0, 1.0, kit.W, dtype=np.float32), (kit.H, 1))
    np.save(d / "disp.npy", disp)
    ref = str(d / "ref.mkv")
    assert main(_args(clip, str(d / "disp.npy"), ref, "--export-focus-track", str(d / "ref.json"))) == 0
    return d, clip, str(d / "disp.npy"), ref


def _args(clip, depth, out, *extra):
    return ["render", clip, "-o", out, "--depth", depth, "--focus-keyframes", "0:0.2,11:0.8", "--k", "4",
            "--codec", "ffv1", "--no-progress", "--executor", "local", *extra]


def test_chunk_tasks_side_by_side_then_join_equal_one_pass(shot, tmp_path, capsys):
    d, clip, depth, ref = shot
    out = str(tmp_path / "farm.mkv")
    task = _args(clip, depth, out, "--chunks", "3", "--export-focus-track", str(tmp_path / "farm.json"))
    assert main([*task, "--join"]) == 6  # the join before any chunk: names every missing chunk
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot join: 3 of 3 chunks are not done (chunk 0: frames 0-3; chunk 1: frames 4-7; chunk 2: frames 8-11)" in err
    env = dict(os.environ, PYTHONPATH=REPO)
    procs = [subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", *task, "--chunk", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i in (2, 0)]
    for i, p in zip((2, 0), procs):  # two tasks at once, each under its own chunk lock
        o, e = p.communicate(timeout=120)
        assert p.returncode == 0, e
        assert f"rendered chunk {i} (frames {4 * i}-{4 * i + 3}): 4 frames" in o and "--join" in o
    assert not os.path.exists(out)  # a chunk task never joins
    assert main([*task, "--join"]) == 6
    assert "1 of 3 chunks are not done (chunk 1: frames 4-7)" in capsys.readouterr().err
    assert main([*task, "--chunk", "1"]) == 0
    assert main([*task, "--chunk", "1"]) == 0  # a farm retry of a finished task: nothing to render
    assert "chunk 1 (frames 4-7) was already done" in capsys.readouterr().out
    assert main([*task, "--join"]) == 0
    assert "joined 3 chunks rendered earlier" in capsys.readouterr().out
    assert np.array_equal(kit.read_all(out), kit.read_all(ref))
    assert json.load(open(tmp_path / "farm.json")) == json.load(open(d / "ref.json"))
    assert main([*task, "--chunk", "0"]) == 0  # after the join: the job is complete
    assert "already complete" in capsys.readouterr().out


@pytest.mark.parametrize("extra,text", [
    (["--chunks", "3", "--chunk", "3"], "'executor.chunk' is 3, but the job has 3 chunks (0-2)"),
    (["--chunks", "3", "--chunk", "1", "--join"], "two kinds of farm task"),
    (["--chunks", "3", "--chunk", "1", "--executor", "ray"], "renders one chunk in this process"),
])
def test_bad_task_flags_are_refused_before_any_work(shot, tmp_path, capsys, extra, text):
    d, clip, depth, _ = shot
    out = tmp_path / "bad.mkv"
    assert main([*_args(clip, depth, str(out)), *extra]) == 2
    assert text in capsys.readouterr().err
    assert not out.exists() and not os.path.exists(str(out) + ".work")


def test_a_chunk_task_sweeps_only_its_own_temp_files(shot, tmp_path):
    """Another task of the job may be writing its temp segment right now: a starting task removes
    the orphans of its own chunk (a killed earlier attempt) and leaves the others' alone."""
    from genrefocus_video.io.atomic import temp_path_for

    d, clip, depth, _ = shot
    out = str(tmp_path / "sweep.mkv")
    task = _args(clip, depth, out, "--chunks", "3")
    assert main([*task, "--chunk", "0"]) == 0  # creates the work folder and its manifest
    segs = os.path.join(out + ".work", "segments")
    mine, theirs = (temp_path_for(os.path.join(segs, f"seg_000{i}.mkv")) for i in (1, 2))
    assert main([*task, "--chunk", "1"]) == 0
    assert not os.path.exists(mine) and os.path.exists(theirs)


def test_submit_lists_farm_tasks_whose_commands_render_the_job(shot, tmp_path, capsys):
    d, clip, depth, ref = shot
    job = tmp_path / "farm.yaml"
    job.write_text(f"""
defaults:
  blur: {{k: 4}}
  output: {{codec: ffv1}}
  executor: {{executor: ray, chunks: 2, progress: false}}
shots:
  sh010:
    input: {{path: {clip}}}
    output: {{path: out/sh010.mkv}}
    depth: {{path: {depth}}}
    focus: {{keyframes: "0:0.2,11:0.8"}}
  sh020:
    input: {{path: {clip}}}
    output: {{path: out/sh020.mkv}}
    depth: {{path: {depth}}}
    focus: {{disparity: 0.5}}
""")
    (tmp_path / "out").mkdir()
    assert main(["submit", str(job), "--tasks", "--chunks", "3"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in tasks] == ["sh010.chunk000", "sh010.chunk001", "sh010.chunk002", "sh010.join",
                                          "sh020.chunk000", "sh020.chunk001", "sh020.chunk002", "sh020.join"]
    assert tasks[3]["after"] == ["sh010.chunk000", "sh010.chunk001", "sh010.chunk002"]
    assert [t["frames"] for t in tasks[:3]] == [[0, 3], [4, 7], [8, 11]]
    assert not os.listdir(tmp_path / "out")  # listing renders nothing
    for k, t in enumerate(tasks):  # in dependency order, as a farm manager would run them
        assert t["command"][:3] == ["genrefocus-video", "submit", str(job)] and "--chunks" in t["command"]
        assert main(t["command"][1:]) == 0, t["name"]  # in this process: the file's `executor: ray` is not used
        if k == 2:  # sh010's chunks done, its join not yet run; sh020 untouched
            capsys.readouterr()
            assert main(["submit", str(job), "--status", "--chunks", "3"]) == 0
            lines = capsys.readouterr().out.strip().splitlines()
            assert lines[0].startswith("sh010: ") and lines[0].endswith("3 of 3 chunks done, 0 running, 0 to do; "
                                                                         "next: --join (every chunk is done)")
            assert lines[1] == f"sh020: {tmp_path / 'out' / 'sh020.mkv'}: not started"
    assert np.array_equal(kit.read_all(str(tmp_path / "out/sh010.mkv")), kit.read_all(ref))
    assert kit.read_all(str(tmp_path / "out/sh020.mkv")).shape == kit.read_all(ref).shape


def test_a_whole_job_sweep_leaves_the_chunks_farm_tasks_are_rendering(shot, tmp_path):
    """A whole-job run (or its resume) beside running --chunk tasks must not delete their temp
    segments: it skips every chunk whose lock a task holds, and sweeps the rest."""
    from genrefocus_video.io.atomic import temp_path_for
    from genrefocus_video.pipeline.workdir import WorkDir

    work = WorkDir(str(tmp_path / "w"))
    work.prepare()
    segs = os.path.join(work.root, "segments")
    orphan, live = (temp_path_for(os.path.join(segs, f"seg_000{i}.mkv")) for i in (1, 2))
    with work.lock("lock.chunk_0002"):  # a farm task rendering chunk 2
        assert work.chunk_busy(2) and not work.chunk_busy(1)
        assert work.remove_partials() == [orphan]
        assert os.path.exists(live)
        with pytest.raises(Exception, match="chunk 2 of this job is already running"):
            with work.lock("lock.chunk_0002"):  # the same task submitted twice
                pass
    assert not work.chunk_busy(2) and work.remove_partials() == [live]


def test_status_shows_done_running_and_to_do_chunks_and_the_next_step(shot, tmp_path, capsys):
    from genrefocus_video.pipeline.workdir import WorkDir

    d, clip, depth, ref = shot
    out = str(tmp_path / "st.mkv")
    task = _args(clip, depth, out, "--chunks", "3")
    assert main(["status", out]) == 3
    assert "no chunked job has run here" in capsys.readouterr().err
    os.makedirs(out + ".work")
    for text in ("{broken", '{"plan": [[0, 3], [4]]}'):  # a damaged manifest: one line, not a traceback
        with open(os.path.join(out + ".work", "manifest.json"), "w") as fh:
            fh.write(text)
        assert main(["status", out]) == 3
        assert "manifest.json: unreadable or without a chunk plan" in capsys.readouterr().err
    os.remove(os.path.join(out + ".work", "manifest.json"))
    assert main([*task, "--chunk", "1"]) == 0
    capsys.readouterr()
    with WorkDir(out + ".work").lock("lock.chunk_0002"):  # a task rendering chunk 2 right now
        assert main(["status", out, "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert main(["status", out + ".work"]) == 0  # the work folder itself works too
        text = capsys.readouterr().out
    assert [c["state"] for c in s["chunks"]] == ["to do", "done", "running"]
    assert [[c["start"], c["end"]] for c in s["chunks"]] == [[0, 3], [4, 7], [8, 11]]
    assert f"pid {os.getpid()} on " in s["chunks"][2]["holder"] and s["chunks"][1]["seconds"] > 0
    assert s["status"] == "in progress" and s["next"].startswith("render chunk 0 ")
    assert text.strip().splitlines()[-1] == (f"{out}: in progress; 1 of 3 chunks done, 1 running, 1 to do; next: "
                                             "render chunk 0 (its --chunk task, or rerun the whole job)")
    for i in (0, 2):
        assert main([*task, "--chunk", str(i)]) == 0
    capsys.readouterr()
    assert main(["status", out]) == 0
    assert capsys.readouterr().out.strip().endswith("next: --join (every chunk is done)")
    assert main([*task, "--join"]) == 0
    capsys.readouterr()
    assert main(["status", out]) == 0
    assert "complete; 3 of 3 chunks done" in capsys.readouterr().out


def test_render_print_tasks_repeats_the_command_per_chunk_then_join(shot, tmp_path, capsys, monkeypatch):
    """No farm file: `render ... --chunks 3 --print-tasks` lists this very command with --chunk N
    and then --join, to run in the folder it was given in (relative paths stay valid)."""
    d, clip, depth, ref = shot
    monkeypatch.chdir(tmp_path)
    cmd = _args(clip, depth, "rel.mkv", "--chunks", "3", "--export-focus-track", "rel.json")
    assert main([*cmd, "--print-tasks"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in tasks] == ["rel.mkv.chunk000", "rel.mkv.chunk001", "rel.mkv.chunk002", "rel.mkv.join"]
    assert all(t["cwd"] == str(tmp_path) and t["command"][:2] == ["genrefocus-video", "render"] for t in tasks)
    assert tasks[1]["command"] == ["genrefocus-video", *cmd, "--chunk", "1"] and tasks[3]["command"][-1] == "--join"
    assert not (tmp_path / "rel.mkv").exists() and not (tmp_path / "rel.mkv.work").exists()  # listing renders nothing
    for t in tasks:
        assert main(t["command"][1:]) == 0, t["name"]
    assert np.array_equal(kit.read_all(str(tmp_path / "rel.mkv")), kit.read_all(ref))
    assert main([*cmd, "--chunk", "1", "--print-tasks"]) == 2

"""End to end with the real stages (depth file -> focus -> classical bokeh) through the CLI."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    clip = kit.make_clip(str(d / "plate.mkv"), n=10)
    disp = np.full((kit.H, kit.W), 0.2, np.float32)
    disp[:, kit.W // 2:] = 0.8  # two layers: the right half is near
    np.save(d / "disp.npy", disp)
    return d, clip, str(d / "disp.npy")


def _render(clip, depth, out, *extra):
    return main(["render", clip, "-o", out, "--depth", depth, "--focus-disparity", "0.2", "--k", "4",
                 "--codec", "ffv1", "--no-progress", *extra])


def test_render_local_chunked_and_summary(shot, capsys):
    d, clip, depth = shot
    a, b = str(d / "a.mkv"), str(d / "b.mkv")
    assert _render(clip, depth, a, "--executor", "local") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"wrote {a}: 10 frames") and "fps" in line and "executor local" in line
    assert _render(clip, depth, b, "--executor", "local", "--chunks", "3") == 0
    out_a, out_b = kit.read_all(a), kit.read_all(b)
    assert np.array_equal(out_a, out_b)
    src = kit.read_all(clip)
    # the in-focus far half stays sharp, the near half (r = 4 * 0.6 = 2.4 px) is blurred
    left = np.abs(out_a[:, :, : kit.W // 2 - 4] - src[:, :, : kit.W // 2 - 4]).max()
    right = np.abs(out_a[:, :, kit.W // 2 + 4:] - src[:, :, kit.W // 2 + 4:]).max()
    assert right > 10 * max(left, 1e-3)
    report = json.load(open(a + ".work/report.json"))
    assert {r["stage"] for r in report["stages"]} >= {"bokeh", "decode", "encode"}
    assert abs(sum(r["share"] for r in report["stages"]) - 1.0) < 0.01


def test_render_refuses_existing_output_before_work(shot, capsys):
    d, clip, depth = shot
    out = d / "exists.mkv"
    out.write_bytes(b"keep")
    assert _render(clip, depth, str(out), "--executor", "local", "--chunks", "2") == 4
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep" and not os.path.exists(str(out) + ".work")


def test_complete_chunked_job_reruns_only_with_overwrite_or_a_changed_output(shot, capsys):
    d, clip, depth = shot
    out = d / "again.mkv"
    args = (clip, depth, str(out), "--executor", "local", "--chunks", "2")
    assert _render(*args) == 0
    first = kit.read_all(str(out))
    capsys.readouterr()
    assert _render(*args) == 0  # same job, output untouched: nothing to do
    assert "already complete" in capsys.readouterr().out
    before = os.stat(out).st_ino
    assert _render(*args, "--overwrite") == 0  # asked to replace it: rendered again
    said = capsys.readouterr().out
    assert "wrote" in said and "2 rendered" in said and os.stat(out).st_ino != before
    assert np.array_equal(kit.read_all(str(out)), first)
    out.write_bytes(b"edited by hand")  # the output is no longer what the job wrote
    assert _render(*args) == 4
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"edited by hand"
    out.unlink()  # deleted: the job is not complete any more
    assert _render(*args) == 0 and np.array_equal(kit.read_all(str(out)), first)


def test_submit_two_shots_then_resume(shot, capsys):
    d, clip, depth = shot
    job = d / "farm.yaml"
    job.write_text(f"""
defaults:
  blur: {{k: 4}}
  output: {{codec: ffv1}}
  executor: {{executor: local, chunks: 2, progress: false}}
shots:
  sh010:
    input: {{path: {clip}}}
    output: {{path: out/sh010.mkv}}
    depth: {{path: {depth}}}
    focus: {{disparity: 0.2}}
  sh020:
    input: {{path: {clip}}}
    output: {{path: out/sh020.mkv}}
    depth: {{path: {depth}}}
    focus: {{disparity: 0.8}}
""")
    (d / "out").mkdir()
    assert main(["submit", str(job)]) == 0
    out = capsys.readouterr().out
    assert "sh010: wrote" in out and "sh020: wrote" in out and "2/2 shots done" in out
    a, b = kit.read_all(str(d / "out/sh010.mkv")), kit.read_all(str(d / "out/sh020.mkv"))
    assert a.shape == b.shape and not np.array_equal(a, b)  # different focus per shot
    assert main(["submit", str(job)]) == 0  # finished shots are not rendered again
    assert capsys.readouterr().out.count("already complete") == 2


def test_chunked_focus_track_export_matches_streaming(shot):
    d, clip, depth = shot
    for name, extra in (("s", []), ("c", ["--chunks", "3"])):
        assert _render(clip, depth, str(d / f"ft_{name}.mkv"), "--executor", "local", "--focus-keyframes",
                       "0:0.2,9:0.8", "--export-focus-track", str(d / f"ft_{name}.json"), *extra) == 0
    a = json.load(open(d / "ft_s.json"))
    b = json.load(open(d / "ft_c.json"))
    assert a == b and len(json.dumps(a)) > 100
    assert np.array_equal(kit.read_all(str(d / "ft_s.mkv")), kit.read_all(str(d / "ft_c.mkv")))


def test_real_depth_smoothing_split_within_stated_tolerance(shot):
    """Split vs unsplit with the real flow-guided depth smoothing (decaying memory).

    Its warm-up is chosen so the remaining influence of the frames before the warm-up is below
    1e-3 of the disparity range (depth.temporal.warmup_frames); so chunked disparity must equal
    the sequential one within 1e-3 × range, and the render within K × that (1 px of blur = 1/K).
    """
    from dataclasses import replace

    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.executors.local import run_stages
    from genrefocus_video.record import FrameRecord
    from genrefocus_video.pipeline.stages import build_head, last_temporal, max_warmup, reset_all

    d, _, _ = shot
    n = 28  # the warm-up at 0.5 (23) + 2 + frames to compare
    clip = kit.make_clip(str(d / "long.mkv"), n=n)
    rng = np.random.default_rng(3)
    seq = np.empty((n, kit.H, kit.W), np.float32)
    for i in range(n):  # a noisy, drifting two-layer disparity: smoothing has work to do
        seq[i] = 0.2 + 0.1 * (np.arange(kit.W) >= kit.W // 2) + 0.02 * i + 0.05 * rng.random((kit.H, kit.W))
    np.save(d / "seq.npy", seq)
    job = load_job(None, {"input.path": clip, "output.path": str(d / "unused.mkv"), "depth.path": str(d / "seq.npy"),
                          "depth.smoothing": 0.5, "focus.disparity": 0.3, "blur.k": 4})
    with open_reader(clip) as r:
        info = r.info
        frames = list(r)
    head = build_head(job, info)
    warm = max_warmup(head)
    assert 0 < warm < n - 2  # the smoother declares a finite warm-up
    reset_all(head)
    full = [run_stages(FrameRecord(f), head).disparity.copy() for f in frames]
    rng_d = float(seq.max() - seq.min())
    start = warm + 2  # a chunk starting after a full declared warm-up (not at frame 0)
    head2 = build_head(replace(job), info)
    reset_all(head2)
    for f in frames[max(0, start - warm):start]:
        run_stages(FrameRecord(f), head2[: last_temporal(head2) + 1])
    for f in frames[start:]:
        got = run_stages(FrameRecord(f), head2).disparity
        assert np.abs(got - full[f.index]).max() <= 1e-3 * rng_d + 1e-6
    # and the smoothing really has memory: without warm-up the chunk would differ by more
    head3 = build_head(job, info)
    reset_all(head3)
    cold = run_stages(FrameRecord(frames[start]), head3).disparity
    assert np.abs(cold - full[start]).max() > 1e-3 * rng_d


@pytest.mark.parametrize("chunks", ["1", "2"])
def test_writer_settings_are_refused_before_any_rendering(shot, capsys, chunks):
    """What the writer would refuse at its first or second frame is refused up front (exit 2/4),
    naming the output the user gave, not a chunk segment in the work folder."""
    d, clip, depth = shot
    cases = [
        (d / "still.png", [], 2, "is a single image but the job has 10 frames; use a pattern such as"),
        (d / "seq" / "f.%04d.png", ["--codec", "exr"], 2, f"does not match the output file type .png of {d}/seq/f.%04d.png"),
        (d / "lossless.mov", ["--codec", "ffv1"], 4, "codec ffv1 cannot be stored in .mov"),
        (d / "p.mov", ["--codec", "prores", "--pix-fmt", "yuv420p10le"], 2, "'output.pix_fmt' yuv420p10le is not supported"),
    ]
    (d / "seq").mkdir(exist_ok=True)
    for out, extra, code, text in cases:
        args = ["render", clip, "-o", str(out), "--depth", depth, "--focus-disparity", "0.2", "--k", "4",
                "--no-progress", "--executor", "local", "--chunks", chunks, *extra]
        assert main(args) == code, out
        err = capsys.readouterr().err
        assert text in err and ".work/segments" not in err, err
        assert not os.path.exists(str(out) + ".work") and not os.path.exists(str(d / "seq" / "f.png.work"))


def test_lossless_ffv1_plate_into_mov_becomes_prores(shot):
    """QuickTime cannot hold FFV1: 'auto' writes ProRes there (it used to fail at the first frame)."""
    import av

    d, clip, depth = shot
    out = d / "plate_out.mov"
    assert main(["render", clip, "-o", str(out), "--depth", depth, "--focus-disparity", "0.2", "--k", "4",
                 "--no-progress"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "prores"
    assert len(kit.read_all(str(out))) == 10


@pytest.fixture
def ctrl_c():
    """This process with Python's own Ctrl-C handler, as a terminal starts it. A process started in
    the background by a non-interactive shell (`cmd &` in a script, as a CI runner may) inherits
    SIGINT ignored, Python then installs no handler, and the CLI keeps an ignored signal ignored (as
    under nohup): the SIGINT tests exited 0 there (2026-12-06, a clean-clone CI started that way)."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("signame,code,said", [("SIGINT", 130, "interrupted;"),
                                                ("SIGTERM", 143, "terminated (SIGTERM);"),
                                                ("SIGHUP", 129, "terminated (SIGHUP);")])
def test_interrupted_render_leaves_no_partial_files(shot, tmp_path, monkeypatch, capsys, ctrl_c, signame, code, said):
    """Ctrl-C (a real SIGINT) mid-render: exit 130, and neither the clip nor the depth preview
    leaves a temp file behind (the preview's used to stay). SIGTERM (a farm manager's cancel,
    `timeout`) and SIGHUP (a closed terminal) used to kill the process on the spot, leaving the
    hidden `.partial` files and no message: they now unwind the same way, exit 128 + the signal."""
    import signal

    from genrefocus_video.pipeline.stages.temporal import DepthPreviewStage

    d, clip, depth = shot
    original = DepthPreviewStage.process
    seen = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)

    def process(self, rec):
        seen.append(rec.index)
        if len(seen) == 4:
            os.kill(os.getpid(), getattr(signal, signame))
        return original(self, rec)

    monkeypatch.setattr(DepthPreviewStage, "process", process)
    out_dir = tmp_path / "intr"
    out_dir.mkdir()
    rc = _render(clip, depth, str(out_dir / "out.mkv"), "--depth-preview", str(out_dir / "dp.mp4"))
    assert rc == code and len(seen) < 10
    assert said in capsys.readouterr().err
    left = os.listdir(out_dir)
    assert not [f for f in left if "partial" in f] and "out.mkv" not in left and "dp.mp4" not in left, left
    # the CLI ran in this process: the handlers it installed are gone again
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


@pytest.mark.parametrize("signame,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stop_whose_raise_python_drops_still_stops_the_render(shot, tmp_path, monkeypatch, capsys, ctrl_c, signame,
                                                                code):
    """A signal's handler raises in whatever the main thread runs at that moment; inside a finaliser
    (an object the garbage collector frees right then) Python drops the exception. Such a Ctrl-C
    used to let the render run to the end and exit 0 (the interrupted-render test failed that way
    now and then in full runs); the stop is recorded too, and the loop stops at the next frame."""
    import signal
    import sys

    import genrefocus_video.pipeline.loop as loop_mod

    d, clip, depth = shot
    dropped, written = [], []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    real_write = loop_mod._write

    class SignalsWhenFreed:
        def __del__(self):
            os.kill(os.getpid(), getattr(signal, signame))

    def write(rec, *a):
        real_write(rec, *a)
        written.append(rec.index)
        if len(written) == 3:
            SignalsWhenFreed()  # freed at once: the handler's raise happens inside __del__

    monkeypatch.setattr(loop_mod, "_write", write)
    out_dir = tmp_path / "dropped"
    out_dir.mkdir()
    rc = _render(clip, depth, str(out_dir / "out.mkv"))
    assert dropped and issubclass(dropped[0], KeyboardInterrupt), dropped  # the raise was dropped ...
    assert rc == code and written == [0, 1, 2], (rc, written)  # ... and the job still stopped there
    assert not [f for f in os.listdir(out_dir) if "partial" in f or f == "out.mkv"]
    assert "interrupted;" in capsys.readouterr().err if signame == "SIGINT" else True
    # the stop does not outlive its job: the rerun in this process resumes and runs to the end
    assert _render(clip, depth, str(out_dir / "out.mkv")) == 0 and written == list(range(10))
    assert len(kit.read_all(str(out_dir / "out.mkv"))) == 10


def test_a_stop_signal_set_to_be_ignored_stays_ignored():
    """`nohup genrefocus-video render ...` ignores SIGHUP, a script's background job ignores SIGINT:
    the CLI's stop handlers must not take those signals back (closing the terminal used to stop a
    nohup'd render)."""
    import signal

    from genrefocus_video.cli import stop_signals_unwind

    before = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_unwind() as received:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL, before[1])
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: nothing is raised or recorded
        assert received == []
    finally:
        signal.signal(signal.SIGHUP, before[0])
    assert (signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)) == before


def test_a_run_stopped_before_the_join_is_finished_by_the_next(shot, tmp_path, monkeypatch, capsys):
    """Every chunk rendered, then stopped before the join: the rerun joins without rendering and
    says so (it used to say "already complete; nothing rendered" while it wrote the output)."""
    import genrefocus_video.pipeline.assemble as assemble_mod

    d, clip, depth = shot
    out = tmp_path / "joined.mkv"
    real = assemble_mod.assemble

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(assemble_mod, "assemble", stopped)
    assert _render(clip, depth, str(out), "--executor", "local", "--chunks", "3") == 130
    assert not out.exists()
    capsys.readouterr()
    monkeypatch.setattr(assemble_mod, "assemble", real)
    assert _render(clip, depth, str(out), "--executor", "local", "--chunks", "3") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"wrote {out}: joined 3 chunks rendered earlier"), line
    assert len(kit.read_all(str(out))) == 10
    assert _render(clip, depth, str(out), "--executor", "local", "--chunks", "3") == 0
    assert "already complete" in capsys.readouterr().out


def test_an_existing_still_whose_name_has_pattern_characters_is_read_as_that_file(tmp_path):
    """A still called `take #1 [v2].png` exists, so it is the file meant (it was read as a frame
    pattern and a glob: "no files match"); a name that does not exist stays a pattern."""
    import cv2

    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.io.paths import is_pattern

    img = np.zeros((24, 32, 3), np.uint8)
    img[:, 16:] = 200
    still = tmp_path / "take #1 [v2].png"
    assert cv2.imwrite(str(still), img)
    with open_reader(str(still)) as r:
        assert r.info.kind == "image" and len(r) == 1
        np.testing.assert_allclose(next(iter(r)).rgb[0, 20], [0.5775] * 3, atol=2e-3)  # sRGB 200 → linear
    out = tmp_path / "out.png"
    assert main(["render", str(still), "-o", str(out), "--depth-source", "motion", "--focus-disparity", "0.5",
                 "--k", "2", "--no-progress"]) == 0
    assert out.is_file()
    assert is_pattern(str(tmp_path / "take #2.png")) and is_pattern(str(tmp_path / "f.####.exr"))


@pytest.mark.parametrize("chunks", ["1", "3"])
def test_video_names_with_pattern_characters_are_plain_files(shot, tmp_path, chunks):
    """`take #1 [final].mkv` and `100%.mov` are files, not frame patterns or globs (they were read
    and written as image sequences, and `100%.mov` put FFV1 into MOV past the early checks)."""
    import shutil

    from genrefocus_video.pipeline.manifest import default_work_dir

    d, clip, depth = shot
    src = tmp_path / "take #1 [final].mkv"
    shutil.copy(clip, src)
    for name, extra, code in (("out #2 [v3].mkv", [], 0), ("100%.mov", ["--codec", "prores"], 0), ("50%d.mkv", [], 0),
                              ("100% lossless.mov", [], 4)):  # _render asks for FFV1: not in MOV
        out = tmp_path / name
        rc = _render(str(src), depth, str(out), "--executor", "local", "--chunks", chunks, "--overwrite", *extra)
        assert rc == code, name
        if code == 0:
            assert out.is_file() and len(kit.read_all(str(out))) == 10
            assert default_work_dir(str(out)) == str(out) + ".work"


def test_frames_on_the_weak_depth_cue_are_counted_and_named_at_the_end(shot, tmp_path, caplog):
    """The test clip's camera does not move: motion depth falls back to the defocus cue on every
    frame. The source warns once, at the first; the report counts the frames (`frames_fallback`, a
    `fallback` flag per frame) and the job's last warning names them, where a wrangler reads."""
    import logging

    from genrefocus_video.pipeline.summary import frame_spans

    assert frame_spans([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8" and frame_spans([]) == ""
    d, clip, _ = shot
    out = tmp_path / "weak.mkv"
    with caplog.at_level(logging.WARNING):
        assert main(["render", clip, "-o", str(out), "--depth-source", "motion", "--focus-disparity", "0.5",
                     "--k", "2", "--codec", "ffv1", "--no-progress"]) == 0
    rep = json.loads((tmp_path / "weak.mkv.work" / "report.json").read_text())["depth_estimate"]
    assert rep["frames"] == 10 and rep["frames_fallback"] == 10
    assert [r["fallback"] for r in rep["per_frame"]] == [1] * 10
    assert "fell back to its weak defocus cue on 10 of 10 frames (0-9)" in caplog.text

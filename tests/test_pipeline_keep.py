"""A single pass that fails at frame N keeps frames < N in its work folder; the rerun of the same
command renders only frames >= N and its output equals an unbroken single pass."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.errors import JobError
from genrefocus_video.pipeline.keep import kept_dir
from genrefocus_video.pipeline.run import run_job
from genrefocus_video.pipeline.workdir import WorkDir
from genrefocus_video.record import FrameRecord


class Estimator:
    """A head stage's failure: raises at frame `at` while `flag` exists; counts the frames it saw."""

    name = "flaky_estimator"
    temporal = False

    def __init__(self, at: int, flag: str, seen: list) -> None:
        self.at, self.flag, self.seen = at, flag, seen

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index == self.at and os.path.exists(self.flag):
            raise RuntimeError(f"estimator diverged at frame {rec.index}")
        self.seen.append(rec.index)
        return rec


SEEN: list = []


class FlakyFactory(kit.ToyFactory):
    def __init__(self, at: int, flag: str, warmup: int = 2) -> None:
        super().__init__(warmup=warmup)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "flag", flag)

    def head(self, job, info):
        return [Estimator(self.at, self.flag, SEEN)] + super().head(job, info)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return kit.make_clip(str(tmp_path_factory.mktemp("clip") / "src.mkv"), n=12)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref") / "ref.mkv")
    run_job(kit.toy_job(clip, out, executor="local"), factory=kit.ToyFactory())
    return kit.read_all(out)


def test_a_failed_single_pass_keeps_its_frames_and_the_rerun_resumes(clip, reference, tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    out = str(tmp_path / "out.mkv")
    job = kit.toy_job(clip, out, executor="local")
    factory = FlakyFactory(at=7, flag=str(flag))
    with pytest.raises(JobError, match=r"estimator diverged at frame 7; 7 finished frames \(0-6\) are kept in .*kept: "
                                       r"rerun the same command to resume"):
        run_job(job, factory=factory)
    assert not os.path.exists(out)  # nothing under the final name
    work = WorkDir(out + ".work")
    kept = sorted(os.listdir(kept_dir(work)))
    assert kept == ["kept_0000.json", "kept_0000.mkv"]
    part = kit.read_all(os.path.join(kept_dir(work), "kept_0000.mkv"))
    assert np.array_equal(part, reference[:7])  # the finished frames, as an unbroken pass wrote them
    flag.unlink()
    SEEN.clear()
    s = run_job(job, factory=factory)
    assert s.frames == 5  # only frames 7-11 were written by the rerun ...
    assert SEEN == list(range(5, 12))  # ... after a warm-up of 2 frames (the toy depth's window)
    assert np.array_equal(kit.read_all(out), reference)  # finite-memory stages: bit-identical
    report = json.load(open(work.report))
    assert [(c["start"], c["end"], c["resumed"]) for c in report["chunks"]] == [(0, 6, True), (7, 11, False)]
    assert not os.path.exists(kept_dir(work))  # joined and cleaned


def _fail_once(clip, out, flag, at):
    """A local single pass into `out` that fails at frame `at` (JobError naming the kept frames)."""
    flag.write_text("1")
    with pytest.raises(JobError):
        run_job(kit.toy_job(clip, out, executor="local"), factory=FlakyFactory(at=at, flag=str(flag)))
    flag.unlink()


def test_other_settings_do_not_reuse_kept_frames(clip, tmp_path):
    flag = tmp_path / "fail"
    out = str(tmp_path / "out.mkv")
    _fail_once(clip, out, flag, 5)
    SEEN.clear()
    job = kit.toy_job(clip, out, executor="local")
    other = replace(job, output=replace(job.output, crf=30))  # another fingerprint
    s = run_job(other, factory=FlakyFactory(at=5, flag=str(flag)))
    assert s.frames == 12 and SEEN == list(range(12))  # rendered from the start
    assert not os.path.exists(kept_dir(WorkDir(out + ".work")))


def test_a_failure_at_the_first_frame_keeps_nothing(clip, tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    out = str(tmp_path / "out.mkv")
    with pytest.raises(RuntimeError, match="frame 0"):
        run_job(kit.toy_job(clip, out, executor="local"), factory=FlakyFactory(at=0, flag=str(flag)))
    assert not os.path.exists(out) and not os.path.exists(kept_dir(WorkDir(out + ".work")))


def test_an_interrupted_single_pass_keeps_its_frames_too(clip, reference, tmp_path):
    """Ctrl-C / SIGTERM unwind as KeyboardInterrupt: the frames before it are kept all the same."""
    flag = tmp_path / "stop"
    flag.write_text("1")
    out = str(tmp_path / "out.mkv")
    job = kit.toy_job(clip, out, executor="local")
    factory = kit.ToyFactory(fail_at=4, fail_flag=str(flag))
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=factory)
    assert not os.path.exists(out)
    assert np.array_equal(kit.read_all(os.path.join(kept_dir(WorkDir(out + ".work")), "kept_0000.mkv")), reference[:4])
    flag.unlink()
    assert run_job(job, factory=factory).frames == 8
    assert np.array_equal(kit.read_all(out), reference)


def test_a_failure_mid_chunk_keeps_the_finished_chunks_and_the_rerun_resumes(clip, reference, tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    out = str(tmp_path / "out.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=3)  # 0-3, 4-7, 8-11
    factory = FlakyFactory(at=9, flag=str(flag))
    with pytest.raises(RuntimeError, match="frame 9"):
        run_job(job, factory=factory)
    work = WorkDir(out + ".work")
    assert not os.path.exists(out)
    assert [os.path.exists(work.entry_path(i)) for i in range(3)] == [True, True, False]
    flag.unlink()
    SEEN.clear()
    s = run_job(job, factory=factory)
    assert (s.chunks_rendered, s.chunks_skipped, s.frames) == (1, 2, 4)
    assert SEEN == list(range(6, 12))  # the last chunk with its 2 warm-up frames
    assert np.array_equal(kit.read_all(out), reference)


def test_status_shows_the_kept_part(clip, tmp_path):
    out = str(tmp_path / "out.mkv")
    _fail_once(clip, out, tmp_path / "fail", 6)
    r = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "status", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "0-5" in r.stdout and "stopped" in r.stdout and "from frame 6" in r.stdout


class RealFlaky:
    """The real stages (file depth, optional smoothing, the renderer) with an estimator failure
    put before the head at frame `at` while `flag` exists."""

    def __init__(self, at: int, flag: str) -> None:
        self.at, self.flag = at, flag

    def head(self, job, info):
        from genrefocus_video.pipeline.stages import build_head

        return [Estimator(self.at, self.flag, SEEN)] + build_head(job, info)

    def tail(self, job, info):
        from genrefocus_video.pipeline.stages import build_tail

        return build_tail(job, info)


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_real_stages_resume_equals_an_unbroken_pass(tmp_path, smoothing):
    """File depth: bit-identical to a clean single pass; with (decaying-memory) smoothing the rerun
    warms up like a chunk, so it equals a --chunks 2 job cut at the same frame bit for bit and the
    single pass within the chunk tolerance (docs/pipeline.md 'Split == unsplit')."""
    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.stages import DEFAULT_FACTORY

    n, at = 16, 8
    clip = kit.make_clip(str(tmp_path / "src.mkv"), n=n)
    rng = np.random.default_rng(5)
    seq = np.stack([0.2 + 0.1 * (np.arange(kit.W) >= kit.W // 2) + 0.02 * i + 0.05 * rng.random((kit.H, kit.W))
                    for i in range(n)]).astype(np.float32)
    np.save(tmp_path / "d.npy", seq)

    def job(out, **more):
        return load_job(None, {"input.path": clip, "output.path": str(tmp_path / out), "output.codec": "ffv1",
                               "depth.path": str(tmp_path / "d.npy"), "depth.smoothing": smoothing,
                               "focus.disparity": 0.3, "blur.k": 4, "executor.progress": False, **more})

    run_job(job("clean.mkv"), factory=DEFAULT_FACTORY)
    clean = kit.read_all(str(tmp_path / "clean.mkv"))
    flag = tmp_path / "fail"
    flag.write_text("1")
    with pytest.raises(JobError, match=f"{at} finished frames"):
        run_job(job("out.mkv"), factory=RealFlaky(at, str(flag)))
    flag.unlink()
    SEEN.clear()
    s = run_job(job("out.mkv"), factory=RealFlaky(at, str(flag)))
    assert s.frames == n - at and min(SEEN) <= at and max(SEEN) == n - 1
    got = kit.read_all(str(tmp_path / "out.mkv"))
    if smoothing == 0:
        assert SEEN == list(range(at, n))  # no temporal stage: no warm-up
        assert np.array_equal(got, clean)
    else:
        assert min(SEEN) < at  # warmed up before frame `at`
        run_job(job("chunked.mkv", **{"executor.chunks": 2}), factory=DEFAULT_FACTORY)
        assert np.array_equal(got, kit.read_all(str(tmp_path / "chunked.mkv")))
        assert np.array_equal(got[:at], clean[:at])
        assert np.abs(got - clean).max() <= 4 * 1e-3 * float(seq.max() - seq.min()) + 2 / 255


def test_h264_parts_too_short_to_join_are_rendered_again(tmp_path):
    """H.264 parts under MIN_REORDERED_CHUNK frames break a stream-copy join (plan.py): such a part
    is not kept, and a rerun with fewer frames left than that renders the last kept part again."""
    from genrefocus_video.pipeline.plan import MIN_REORDERED_CHUNK

    clip = kit.make_clip(str(tmp_path / "src.mkv"), n=24)
    flag = tmp_path / "fail"

    def attempt(out, at):
        job = kit.toy_job(clip, str(tmp_path / out), executor="local")
        job = replace(job, output=replace(job.output, codec="h264"))
        flag.write_text("1")
        with pytest.raises(Exception) as err:
            run_job(job, factory=FlakyFactory(at=at, flag=str(flag)))
        flag.unlink()
        return job, str(err.value)

    job, msg = attempt("short.mp4", MIN_REORDERED_CHUNK - 1)
    assert "kept" not in msg and not os.path.exists(kept_dir(WorkDir(job.output.path + ".work")))
    job, msg = attempt("late.mp4", 24 - MIN_REORDERED_CHUNK + 1)
    assert "kept" in msg
    SEEN.clear()
    s = run_job(job, factory=FlakyFactory(at=0, flag=str(flag)))
    assert s.frames == 24 and SEEN == list(range(24))  # 7 frames left: the kept part is rendered again
    assert len(kit.read_all(job.output.path)) == 24
    assert not os.path.exists(kept_dir(WorkDir(job.output.path + ".work")))  # the unused part is gone


@pytest.mark.slow
def test_ray_streaming_keeps_its_frames_and_resumes(clip, reference, tmp_path):
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    cloudpickle.register_pickle_by_value(kit)  # workers cannot import the tests folder
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    flag = tmp_path / "fail"
    flag.write_text("1")
    out = str(tmp_path / "ray.mkv")
    job = kit.toy_job(clip, out, executor="ray", workers=1)
    factory = FlakyFactory(at=6, flag=str(flag))  # the head runs on the driver, the tail on an actor
    with pytest.raises(JobError) as err:
        run_job(job, factory=factory)
    # the frames written before the failure (a frame still in flight on the actor is not finished)
    m = re.search(r"(\d+) finished frames \(0-(\d+)\) are kept", str(err.value))
    assert m and 0 < int(m.group(1)) == int(m.group(2)) + 1 <= 6
    assert not os.path.exists(out)
    flag.unlink()
    assert run_job(job, factory=factory).frames == 12 - int(m.group(1))
    assert np.array_equal(kit.read_all(out), reference)


def test_cli_a_bad_depth_frame_keeps_the_frames_before_it(tmp_path, capsys):
    """Through the CLI: a depth file whose frame 9 holds NaNs stops the job with exit 3 and one line
    naming the frame and the kept frames; the rerun of the same command starts at frame 9."""
    from genrefocus_video.cli import main

    n = 12
    clip = kit.make_clip(str(tmp_path / "src.mkv"), n=n)
    seq = np.full((n, kit.H, kit.W), 0.3, np.float32)
    seq[9, 2, 3] = np.nan
    np.save(tmp_path / "d.npy", seq)
    out = str(tmp_path / "out.mkv")
    argv = ["render", clip, "-o", out, "--depth", str(tmp_path / "d.npy"), "--focus-disparity", "0.2", "--k", "4",
            "--codec", "ffv1", "--executor", "local", "--no-progress"]
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "frame 9" in err and "NaN" in err and "9 finished frames (0-8) are kept in" in err
    assert "rerun the same command to resume" in err
    assert not os.path.exists(out)
    part = kit.read_all(os.path.join(kept_dir(WorkDir(out + ".work")), "kept_0000.mkv"))
    assert len(part) == 9
    assert main(argv) == 3  # the depth file is still bad: the rerun fails at once at frame 9 ...
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "frame 9" in err and "9 finished frames (0-8) are kept" in err  # ... and the kept part stays
    assert np.array_equal(kit.read_all(os.path.join(kept_dir(WorkDir(out + ".work")), "kept_0000.mkv")), part)


def _pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


def _png_job(clip, out):
    job = kit.toy_job(clip, out, executor="local")
    return replace(job, output=replace(job.output, codec="auto"))


def test_an_image_sequence_keeps_its_published_frames_and_resumes(clip, tmp_path):
    """Each image is published as it is written: they are the kept part, and the rerun (which
    would otherwise refuse the existing frames) writes the rest beside them."""
    ref_dir, out_dir = tmp_path / "ref", tmp_path / "out"
    ref_dir.mkdir()
    out_dir.mkdir()
    run_job(_png_job(clip, str(ref_dir / "f.%04d.png")), factory=kit.ToyFactory())
    flag = tmp_path / "fail"
    flag.write_text("1")
    job = _png_job(clip, str(out_dir / "f.%04d.png"))
    with pytest.raises(JobError, match=r"5 finished frames \(0-4\)"):
        run_job(job, factory=FlakyFactory(at=5, flag=str(flag)))
    assert _pngs(out_dir) == [f"f.{i:04d}.png" for i in range(5)]
    flag.unlink()
    SEEN.clear()
    s = run_job(job, factory=FlakyFactory(at=5, flag=str(flag)))
    assert s.frames == 7 and SEEN == list(range(3, 12))  # 2 warm-up frames, then 5-11
    assert _pngs(out_dir) == _pngs(ref_dir) == [f"f.{i:04d}.png" for i in range(12)]
    assert np.array_equal(kit.read_all(str(out_dir / "f.%04d.png")), kit.read_all(str(ref_dir / "f.%04d.png")))
    with pytest.raises(Exception, match="already exists"):  # a finished sequence is not silently redone
        run_job(job, factory=FlakyFactory(at=5, flag=str(flag)))

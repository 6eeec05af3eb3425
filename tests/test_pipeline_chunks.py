"""Chunks with warm-up overlap, manifest and resume, in process (the Ray variants share the code).

Output comparisons decode both files with the project's reader and require exact equality:
FFV1 is lossless, and the toy temporal stage has finite memory, so split == unsplit bit for bit.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace

import numpy as np
import pytest

import test_pipeline_kit as kit
from media_helpers import clip_with_tone
from genrefocus_video.errors import OutputError
from genrefocus_video.pipeline.plan import plan_chunks
from genrefocus_video.pipeline.workdir import WorkDir
import genrefocus_video.pipeline.chunks as chunks_mod
from genrefocus_video.pipeline.run import run_job


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    return kit.make_clip(str(d / "src.mkv"), n=12)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    """One unsplit, in-process pass: what every other schedule must reproduce."""
    out = str(tmp_path_factory.mktemp("ref") / "ref.mkv")
    s = run_job(kit.toy_job(clip, out, executor="local"), factory=kit.ToyFactory())
    assert s.frames == 12
    return kit.read_all(out)


def test_plan_chunks_covers_range_without_overlap():
    chunks = plan_chunks(5, 16, 5)
    assert [c.index for c in chunks] == list(range(5))
    assert chunks[0].start == 5 and chunks[-1].end == 16
    assert all(b.start == a.end + 1 for a, b in zip(chunks, chunks[1:]))
    assert sum(c.frames for c in chunks) == 12
    assert len(plan_chunks(0, 2, 8)) == 3  # never an empty chunk


def test_split_equals_unsplit_with_warmup(clip, reference, tmp_path):
    out = str(tmp_path / "split.mkv")
    s = run_job(kit.toy_job(clip, out, executor="local", chunks=3), factory=kit.ToyFactory(warmup=2))
    assert (s.chunks_total, s.chunks_rendered, s.chunks_skipped) == (3, 3, 0)
    assert np.array_equal(kit.read_all(out), reference)
    work = WorkDir(out + ".work")
    report = json.load(open(work.report))
    stages = {row["stage"] for row in report["stages"]}
    assert {"toy_depth", "toy_render", "decode", "encode", "warmup"} <= stages
    assert report["frames"] == 12 and len(report["chunks"]) == 3
    for i in range(3):
        assert "done chunk" in open(work.log_path(i)).read()
    assert not os.path.exists(os.path.join(work.root, "segments"))  # cleaned once assembled


def test_without_warmup_split_differs(clip, reference, tmp_path):
    """The warm-up is what makes split == unsplit: a stage that under-declares it breaks equality."""

    class NoWarmup(kit.ToyFactory):
        def head(self, job, info):
            st = kit.WindowDepth(2)
            st.warmup = 0
            return [st]

    out = str(tmp_path / "nowarm.mkv")
    run_job(kit.toy_job(clip, out, executor="local", chunks=3), factory=NoWarmup())
    assert not np.array_equal(kit.read_all(out), reference)


def test_interrupted_job_resumes_only_remaining_chunks(clip, reference, tmp_path):
    flag = tmp_path / "interrupt"
    flag.write_text("1")
    out = str(tmp_path / "resumed.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=4)  # chunks 0-2, 3-5, 6-8, 9-11
    factory = kit.ToyFactory(fail_at=7, fail_flag=str(flag))
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=factory)
    work = WorkDir(out + ".work")
    assert not os.path.exists(out)  # nothing under the final name
    assert os.path.exists(work.entry_path(0)) and os.path.exists(work.entry_path(1))
    assert not os.path.exists(work.entry_path(2))  # the interrupted chunk has no entry...
    seg_dir = os.path.join(work.root, "segments")
    assert sorted(os.listdir(seg_dir)) == ["seg_0000.mkv", "seg_0001.mkv"]  # ...and left no partial file
    flag.unlink()
    s = run_job(job, factory=factory)
    assert (s.chunks_rendered, s.chunks_skipped) == (2, 2)
    assert s.frames == 6  # only chunks 2 and 3 were rendered on the rerun
    for i, starts in ((0, 1), (1, 1), (2, 2), (3, 1)):  # chunk 2 started twice, the others once
        assert open(work.log_path(i)).read().count("start chunk") == starts
    assert np.array_equal(kit.read_all(out), reference)
    again = run_job(job, factory=factory)  # a finished job is not rendered again
    assert again.frames == 0 and again.chunks_skipped == 4


def test_temp_segments_of_killed_writers_are_removed_and_finished_ones_kept(clip, reference, tmp_path):
    """A worker killed without clean-up (SIGKILL, the OOM killer, a farm signalling the whole
    process group) leaves its chunk's `.seg_N.XXXX.partial` file in the work folder. The run that
    was stopped removes such orphans on its way out, and a rerun removes any it finds before it
    starts; finished segments stay and the resumed output is unchanged."""
    from genrefocus_video.io.atomic import temp_path_for

    flag = tmp_path / "interrupt"
    flag.write_text("1")
    out = str(tmp_path / "orphans.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=4)
    factory = kit.ToyFactory(fail_at=7, fail_flag=str(flag))
    work = WorkDir(out + ".work")
    seg_dir = os.path.join(work.root, "segments")
    real_run_chunk = chunks_mod.run_chunk
    orphans = []

    def killed_writer_beside(*a, **k):  # as if another worker had died mid-chunk
        orphans.append(temp_path_for(os.path.join(seg_dir, "seg_0003.mkv")))
        return real_run_chunk(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chunks_mod, "run_chunk", killed_writer_beside)
        with pytest.raises(KeyboardInterrupt):
            run_job(job, factory=factory)
    assert orphans and not any(os.path.exists(o) for o in orphans)
    assert sorted(os.listdir(seg_dir)) == ["seg_0000.mkv", "seg_0001.mkv"]
    # an orphan found at the start of a rerun (its run was SIGKILLed: no way out) goes too
    stale = temp_path_for(os.path.join(seg_dir, "seg_0002.mkv"))
    assert work.start(job, plan_chunks(0, 11, 4)) is True
    assert not os.path.exists(stale) and sorted(os.listdir(seg_dir)) == ["seg_0000.mkv", "seg_0001.mkv"]
    flag.unlink()
    s = run_job(job, factory=factory)
    assert (s.chunks_rendered, s.chunks_skipped) == (2, 2)
    assert np.array_equal(kit.read_all(out), reference)


def test_changed_parameters_do_not_reuse_chunks(clip, tmp_path):
    out = str(tmp_path / "p.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=2)
    flag = tmp_path / "stop"
    flag.write_text("1")
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=kit.ToyFactory(fail_at=8, fail_flag=str(flag)))
    flag.unlink()
    changed = replace(job, blur=replace(job.blur, k=7.0))  # a pixel-changing parameter
    s = run_job(changed, factory=kit.ToyFactory())
    assert (s.chunks_rendered, s.chunks_skipped) == (2, 0)


def test_image_sequence_output_chunked_equals_streaming(clip, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    job = kit.toy_job(clip, str(a / "f.%04d.exr"), executor="local")
    job = replace(job, output=replace(job.output, codec="auto", exr_half=False))
    run_job(job, factory=kit.ToyFactory())
    job_b = replace(job, output=replace(job.output, path=str(b / "f.%04d.exr")),
                    executor=replace(job.executor, chunks=3))
    s = run_job(job_b, factory=kit.ToyFactory())
    assert s.chunks_rendered == 3
    frames = lambda d: sorted(n for n in os.listdir(d) if n.endswith(".exr"))  # noqa: E731
    assert frames(a) == frames(b) and len(frames(a)) == 12
    assert np.array_equal(kit.read_all(str(a / "f.%04d.exr")), kit.read_all(str(b / "f.%04d.exr")))


def _mount_tmpfs(path: str, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True)
    return r.returncode == 0


def test_full_disk_stops_cleanly_and_resumes(clip, reference, tmp_path):
    """A real ENOSPC: the work folder sits on a tiny tmpfs, half filled by a ballast file."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not _mount_tmpfs(str(mnt), "512k"):
        pytest.skip("cannot mount a size-limited tmpfs here (needs root); see docs/pipeline.md")
    try:
        out = str(tmp_path / "full.mkv")
        job = kit.toy_job(clip, out, executor="local", chunks=4, work_dir=str(mnt / "work"))
        ballast = mnt / "ballast"
        # leave room for the manifest and about one segment, not for four
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        seg_bytes = 30_000  # one 3-frame FFV1 segment of the 48x32 clip is ~25 kB
        ballast.write_bytes(b"\0" * max(0, free - int(1.5 * seg_bytes)))
        with pytest.raises(OutputError, match="disk full.*rerun to resume"):
            run_job(job, factory=kit.ToyFactory())
        assert not os.path.exists(out)
        work = WorkDir(str(mnt / "work"))
        done = [i for i in range(4) if os.path.exists(work.entry_path(i))]
        assert len(done) < 4
        leftovers = [n for n in os.listdir(os.path.join(work.root, "segments")) if ".partial" in n]
        assert leftovers == []  # the failed chunk removed its temp segment
        ballast.unlink()  # the wrangler frees space and reruns
        s = run_job(job, factory=kit.ToyFactory())
        assert s.chunks_skipped == len(done) and s.chunks_rendered == 4 - len(done)
        assert np.array_equal(kit.read_all(out), reference)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


_FSIZE_CHILD = r"""
import resource, signal, sys
sys.path[:0] = [{tests!r}, {repo!r}]
import test_pipeline_kit as kit
from genrefocus_video.errors import OutputError
from genrefocus_video.pipeline.run import run_job
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    run_job(kit.toy_job({clip!r}, {out!r}, executor="local", chunks=5), factory=kit.ToyFactory())
except OutputError as exc:
    print(exc)
    sys.exit(exc.exit_code)
"""


def test_file_size_limit_stops_cleanly_and_resumes(clip, reference, tmp_path):
    """Runs without root too: RLIMIT_FSIZE makes the OS refuse writes past a size (EFBIG).

    Five chunks of 2, 2, 3, 2, 3 frames: the 2-frame segments fit under the limit, the first
    3-frame segment (chunk 2) does not, so the job stops there with chunks 0 and 1 finished.
    """
    import sys

    out = str(tmp_path / "limited.mkv")
    seg = tmp_path / "probe"
    seg.mkdir()
    # measure the real segment sizes of this clip to place the limit between 2 and 3 frames
    probe = run_job(kit.toy_job(clip, str(seg / "p.mkv"), executor="local", chunks=5), factory=kit.ToyFactory())
    assert probe.chunks_rendered == 5
    sizes = {c["frames"]: c for c in json.load(open(seg / "p.mkv.work" / "report.json"))["chunks"]}
    assert set(sizes) == {2, 3}
    two = os.path.getsize(str(seg / "p.mkv")) * 2 // 12
    limit = int(two * 1.25)  # room for a 2-frame segment, not for a 3-frame one
    tests = os.path.dirname(os.path.abspath(__file__))
    code = _FSIZE_CHILD.format(tests=tests, repo=os.path.dirname(tests), limit=limit, clip=clip, out=out)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == OutputError.exit_code, r.stderr[-2000:]
    assert "file size limit reached while writing chunk 2" in r.stdout and "rerun to resume" in r.stdout
    work = WorkDir(out + ".work")
    assert [os.path.exists(work.entry_path(i)) for i in range(5)] == [True, True, False, False, False]
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(os.path.join(work.root, "segments")) if ".partial" in n]
    s = run_job(kit.toy_job(clip, out, executor="local", chunks=5), factory=kit.ToyFactory())
    assert (s.chunks_skipped, s.chunks_rendered) == (2, 3)
    assert np.array_equal(kit.read_all(out), reference)


BUILDS = {"head": 0, "tail": 0}


class CountingFactory(kit.ToyFactory):
    def head(self, job, info):
        BUILDS["head"] += 1
        return super().head(job, info)

    def tail(self, job, info):
        BUILDS["tail"] += 1
        return super().tail(job, info)


def test_stages_are_built_once_per_worker_process_across_chunks(clip, reference, tmp_path):
    """Models load once per worker: 4 chunks in one process build the stages once (reset per chunk)."""
    BUILDS.update(head=0, tail=0)
    out = str(tmp_path / "once.mkv")
    s = run_job(kit.toy_job(clip, out, executor="local", chunks=4), factory=CountingFactory())
    assert s.chunks_rendered == 4 and BUILDS == {"head": 1, "tail": 1}
    assert np.array_equal(kit.read_all(out), reference)  # reset() between chunks keeps them exact


def _clip_with_audio(path: str, n: int = 12) -> str:
    """The kit clip plus a FLAC tone track (n/24 s at 48 kHz) in Matroska."""
    return clip_with_tone(kit.make_clip(path.replace(".mkv", "_v.mkv"), n=n), path, n)


def _audio_packets(path: str) -> list[bytes]:
    import av

    with av.open(path) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_chunked_output_carries_audio_unchanged(tmp_path):
    src = _clip_with_audio(str(tmp_path / "av.mkv"))
    out = str(tmp_path / "av_out.mkv")
    job = kit.toy_job(src, out, executor="local", chunks=3)
    run_job(replace(job, output=replace(job.output, audio=True)), factory=kit.ToyFactory())
    packets = _audio_packets(src)
    assert len(packets) > 5
    assert _audio_packets(out) == packets  # stream copy: byte-identical packets
    assert len(kit.read_all(out)) == 12


def test_chunked_sub_range_carries_the_same_audio_as_a_single_pass(tmp_path):
    """A farm render of frames 3-8 keeps the audio of those frames: the same packets, shifted the
    same way, as the streaming writer of a --chunks 1 render of the range (and far less than the
    whole track, which would be out of sync)."""
    import av

    src = _clip_with_audio(str(tmp_path / "av.mkv"))
    outs = {}
    for chunks in (1, 3):
        out = str(tmp_path / f"range_{chunks}.mkv")
        job = kit.toy_job(src, out, executor="local", chunks=chunks)
        job = replace(job, input=replace(job.input, first_frame=3, last_frame=8), output=replace(job.output, audio=True))
        run_job(job, factory=kit.ToyFactory())
        outs[chunks] = out
        assert len(kit.read_all(out)) == 6

    def packets(path):
        with av.open(path) as c:
            a = c.streams.audio[0]
            return [(bytes(p), p.pts) for p in c.demux(a) if p.size], float(a.time_base)

    single, tb = packets(outs[1])
    chunked, _ = packets(outs[3])
    assert chunked == single
    whole = _audio_packets(src)
    assert 0 < len(single) < len(whole)
    assert {p for p, _ in single} <= set(whole)  # stream copy: packets of the source, untouched
    assert abs(single[0][1] * tb) < 0.03  # starts with the video (within one FLAC packet)


def test_a_re_exported_input_is_not_resumed_from_old_chunks(clip, tmp_path, monkeypatch):
    """A plate re-exported under the same name (new grade, fixed frames) must not be joined with
    chunks rendered from the old one: the fingerprint holds the input's size and mtime."""
    import shutil

    src = str(tmp_path / "plate.mkv")
    shutil.copy(clip, src)
    out = str(tmp_path / "o.mkv")
    job = kit.toy_job(src, out, executor="local", chunks=2)
    flag = tmp_path / "stop"
    flag.write_text("1")
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=kit.ToyFactory(fail_at=8, fail_flag=str(flag)))  # chunk 0 done
    flag.unlink()
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "re-exported" a second later
    s = run_job(job, factory=kit.ToyFactory())
    assert (s.chunks_rendered, s.chunks_skipped) == (2, 0)


def test_chunked_variable_frame_rate_clip_keeps_every_timestamp(tmp_path):
    """A variable-frame-rate clip (a 0.25 s hole after frame 11: frame slots 12-17 are empty, as in
    phone footage that dropped frames) split into 3 chunks: one chunk holds only 4 of its 10 slots.
    The farm render has the same frames at the same times as the source and as a single pass."""
    import subprocess

    src = str(tmp_path / "vfr.mkv")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=1",
                    "-vf", "setpts='if(lt(N,12),N,N+6)/24/TB'", "-vsync", "vfr", "-c:v", "ffv1", src], check=True)

    def times(path: str) -> list[float]:
        res = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time",
                              "-of", "csv=p=0", path], check=True, capture_output=True, text=True).stdout
        return [round(float(t), 3) for t in res.split()]

    outs = {}
    for chunks in (1, 3):
        outs[chunks] = str(tmp_path / f"o{chunks}.mkv")
        s = run_job(kit.toy_job(src, outs[chunks], executor="local", chunks=chunks), factory=kit.ToyFactory())
        assert s.frames == 24
    assert times(outs[3]) == times(outs[1]) == times(src)
    assert times(src)[12] == pytest.approx(0.75)


def test_h265_chunks_keep_their_frame_rate_and_short_clips_get_fewer_chunks(tmp_path):
    """H.264/H.265 segments start with the encoder's B-frame decode delay; a segment too short to
    fill it starts with another, and the stream-copy join then collided decode timestamps (the
    container said 28.4 fps for a 24 fps clip). Chunks are kept >= 8 frames for these codecs: 24
    frames in 3 chunks have the single pass's timestamps; 10 frames asked in 5 chunks render as one."""
    import av

    clip = kit.make_clip(str(tmp_path / "c.mkv"), n=24, w=128, h=96)  # x265 is unstable below 64 px

    def render(n_frames: int, chunks: int):
        out = str(tmp_path / f"o{n_frames}_{chunks}.mp4")
        job = kit.toy_job(clip, out, executor="local", chunks=chunks)
        job = replace(job, input=replace(job.input, last_frame=n_frames - 1), output=replace(job.output, codec="h265"))
        s = run_job(job, factory=kit.ToyFactory())
        with av.open(out) as c:
            v = c.streams.video[0]
            return s, sorted(p.pts for p in c.demux(v) if p.size), float(v.average_rate)

    _, pts1, rate1 = render(24, 1)
    s3, pts3, rate3 = render(24, 3)
    assert s3.chunks_rendered == 3 and pts3 == pts1 and abs(rate3 - rate1) < 0.01, (rate1, rate3)
    s5, pts5, _ = render(10, 5)
    assert s5.frames == 10 and len(pts5) == 10 and s5.chunks_rendered <= 1


def test_a_second_run_of_a_running_job_stops_at_once_and_a_killed_one_leaves_no_lock(clip, reference, tmp_path):
    """A double submission used to render every chunk again beside the first run and then fail in
    the join (the first had removed the segments); now it names the running job. The lock is an
    flock, so a holder that is killed (SIGKILL: no cleanup) does not block the rerun."""
    import signal
    import sys
    import time

    from genrefocus_video.pipeline.manifest import default_work_dir
    from genrefocus_video.pipeline.workdir import WorkDir

    out = str(tmp_path / "busy.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=3)
    with WorkDir(default_work_dir(out)).lock():
        with pytest.raises(OutputError, match=rf"already running \(pid {os.getpid()} on .* since "):
            run_job(job, factory=kit.ToyFactory())
    assert not os.path.exists(out)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from genrefocus_video.pipeline.workdir import WorkDir\n"
                               "with WorkDir(sys.argv[1]).lock():\n    print('held', flush=True); time.sleep(60)",
                               default_work_dir(out)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputError, match="already running"):
        run_job(job, factory=kit.ToyFactory())
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    time.sleep(0.1)
    s = run_job(job, factory=kit.ToyFactory())
    assert s.chunks_rendered == 3 and np.array_equal(kit.read_all(out), reference)


def test_a_filesystem_without_locks_renders_with_a_warning(clip, reference, tmp_path, monkeypatch, caplog):
    """Some FUSE/SMB mounts refuse flock (ENOLCK): the job is not refused as 'already running'."""
    import errno
    import fcntl
    import logging

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = str(tmp_path / "nolock.mkv")
    with caplog.at_level(logging.WARNING):
        s = run_job(kit.toy_job(clip, out, executor="local", chunks=3), factory=kit.ToyFactory())
    assert s.chunks_rendered == 3 and np.array_equal(kit.read_all(out), reference)
    assert "cannot lock work folder" in caplog.text

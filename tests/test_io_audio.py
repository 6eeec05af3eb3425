"""Audio into outputs: stream copy where the container can hold it, AAC for PCM into MP4."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.errors import ConfigError, OutputError
from genrefocus_video.io.audio import audio_plan
from genrefocus_video.pipeline.run import run_job
from media_helpers import TONE_HZ, clip_with_tone, decoded_audio

N = 24  # frames: 1 s at 24 fps, three H.264 chunks of 8


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    video = kit.make_clip(str(d / "v.mkv"), n=N)
    return {codec: clip_with_tone(video, str(d / f"tone_{codec}.mkv"), N, codec=codec)
            for codec in ("pcm_s16le", "flac")}


def test_plan_copies_unless_pcm_goes_into_mp4(sources):
    pcm, flac = sources["pcm_s16le"], sources["flac"]
    assert audio_plan(pcm, "out.mov") == [False]  # MOV/MKV hold PCM: copied bit for bit
    assert audio_plan(pcm, "out.mp4") == [True]  # players do not take PCM in MP4: AAC
    assert audio_plan(flac, "out.mp4") == [False]
    assert audio_plan(flac, "out.mkv", "aac") == [True]
    with pytest.raises(OutputError, match=r"PCM audio \(pcm_s16le\) cannot be copied into \.mp4.*--audio-codec aac"):
        audio_plan(pcm, "out.mp4", "copy")
    with pytest.raises(ConfigError, match="'output.audio_codec' 'mp3' unknown"):
        audio_plan(pcm, "out.mp4", "mp3")


def _tone_job(src: str, out: str, chunks: int, audio_codec: str = "auto"):
    job = kit.toy_job(src, out, executor="local", chunks=chunks)
    return replace(job, output=replace(job.output, codec="h264", audio=True, audio_codec=audio_codec))


def _dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


@pytest.mark.parametrize("chunks", [1, 3])
def test_pcm_into_mp4_becomes_aac_with_the_same_sound_and_length(sources, tmp_path, chunks):
    """Single pass (PyAV encoder) and chunked join (ffmpeg's encoder) give an AAC track of the
    source's length carrying the same tone at the same level."""
    import av

    src = sources["pcm_s16le"]
    out = str(tmp_path / f"tone_{chunks}.mp4")
    run_job(_tone_job(src, out, chunks), factory=kit.ToyFactory())
    with av.open(out) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
    ref, rate = decoded_audio(src)
    got, got_rate = decoded_audio(out)
    assert got_rate == rate
    # AAC adds encoder priming/padding of at most a couple of 1024-sample frames
    assert abs(len(got) - len(ref)) <= 2 * 1024 + 64, (len(got), len(ref))
    mid = slice(len(ref) // 4, 3 * len(ref) // 4)
    assert abs(_dominant_hz(got[mid], rate) - TONE_HZ) < 3.0
    level = float(np.sqrt(np.mean(got[mid] ** 2)) / np.sqrt(np.mean(ref[mid] ** 2)))
    assert 0.9 < level < 1.1, level
    assert len(kit.read_all(out)) == N


def test_copy_refuses_pcm_into_mp4_before_any_work(sources, tmp_path):
    out = str(tmp_path / "refused.mp4")
    with pytest.raises(OutputError, match="cannot be copied into .mp4"):
        run_job(_tone_job(sources["pcm_s16le"], out, 3, audio_codec="copy"), factory=kit.ToyFactory())
    assert not os.path.exists(out) and not os.path.exists(out + ".work")


def test_pcm_into_mov_is_still_copied_bit_for_bit(sources, tmp_path):
    from media_helpers import audio_digest

    out = str(tmp_path / "tone.mov")
    run_job(_tone_job(sources["pcm_s16le"], out, 1), factory=kit.ToyFactory())
    assert audio_digest(out) == audio_digest(sources["pcm_s16le"])


@pytest.mark.parametrize("chunks", [1, 3])
def test_flac_into_mp4_is_copied_by_single_pass_and_chunked_join_alike(sources, tmp_path, chunks):
    """PyAV's FFmpeg 8 writes FLAC into MP4; the join's ffmpeg program (Debian 12: 5.1) called it
    experimental and refused, so chunked renders of such a clip failed only at the very end."""
    from media_helpers import audio_digest

    out = str(tmp_path / f"flac_{chunks}.mp4")
    run_job(_tone_job(sources["flac"], out, chunks), factory=kit.ToyFactory())
    assert audio_digest(out) == audio_digest(sources["flac"])


@pytest.mark.parametrize("chunks", [1, 3])
def test_flac_into_mov_becomes_aac_and_copy_refuses_it(sources, tmp_path, chunks):
    """QuickTime holds no FLAC (PyAV's muxer raised mid-render, the join's ffmpeg failed at the end)."""
    import av

    out = str(tmp_path / f"flac_{chunks}.mov")
    run_job(_tone_job(sources["flac"], out, chunks), factory=kit.ToyFactory())
    with av.open(out) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
    got, rate = decoded_audio(out)
    ref, _ = decoded_audio(sources["flac"])
    assert abs(len(got) - len(ref)) <= 2 * 1024 + 64
    assert abs(_dominant_hz(got[len(got) // 4: 3 * len(got) // 4], rate) - TONE_HZ) < 3.0
    refused = str(tmp_path / f"refused_{chunks}.mov")
    with pytest.raises(OutputError, match=r"audio \(flac\) cannot be copied into \.mov"):
        run_job(_tone_job(sources["flac"], refused, chunks, audio_codec="copy"), factory=kit.ToyFactory())
    assert not os.path.exists(refused + ".work")


def test_copyable_table_matches_what_both_ffmpeg_builds_mux(tmp_path):
    """The COPYABLE table was measured; re-measure it: each codec the table allows must mux into the
    container with PyAV's FFmpeg and with the ffmpeg program, and each it refuses (PCM into MP4,
    FLAC into MOV) must fail with both."""
    import av

    made = {}
    for name, enc in (("flac", "flac"), ("alac", "alac"), ("aac", "aac"), ("pcm_s16le", "pcm_s16le")):
        path = str(tmp_path / f"src_{name}.mkv")
        with av.open(path, "w") as out:
            a = out.add_stream(enc, rate=48000, layout="stereo")
            fmt = a.codec_context.format.name
            frame = av.AudioFrame(format=fmt, layout="stereo", samples=a.codec_context.frame_size or 1024)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = 48000
            for i in range(4):
                frame.pts = i * frame.samples
                for p in a.encode(frame):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
        made[name] = path
    from genrefocus_video.io.audio import copyable

    for name, path in made.items():
        for ext in (".mp4", ".mov"):
            dst = str(tmp_path / f"o_{name}{ext}")
            try:
                with av.open(path) as i, av.open(dst, "w") as o:
                    s = o.add_stream_from_template(i.streams.audio[0])
                    for p in i.demux(i.streams.audio[0]):
                        if p.size:
                            p.stream = s
                            o.mux(p)
                muxed = True
            except (av.error.FFmpegError, ValueError):
                muxed = False
            assert muxed == copyable(name, dst), (name, ext)
            if shutil.which("ffmpeg"):  # the join's ffmpeg program (same flags as io/concat.py)
                cli = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-c", "copy", "-strict", "experimental",
                                      "-y", str(tmp_path / f"cli_{name}{ext}")], capture_output=True)
                assert (cli.returncode == 0) == copyable(name, dst), (name, ext, cli.stderr[-300:])

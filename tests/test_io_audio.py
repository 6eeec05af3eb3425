"""Audio into outputs: stream copy where the container can hold it, AAC for PCM into MP4."""
from __future__ import annotations

import os
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

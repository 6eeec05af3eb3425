"""Which audio streams of the input go into an output as they are, and which become AAC.

Audio is stream-copied (never decoded) whenever the output container can hold it. MP4 and
QuickTime take only some codecs (`COPYABLE`): PCM cannot go into MP4 (players do not read it), FLAC,
Opus and Vorbis not into MOV. By default (``audio_codec='auto'``) such streams are encoded to AAC-LC
at `AAC_BITRATE` per stream (logged); ``'copy'`` refuses instead (one line, before any rendering);
``'aac'`` encodes every non-AAC stream (smaller review copies). Both the streaming writer
(:class:`AacEncoder`, per stream) and the chunk join (ffmpeg's ``aac`` encoder, io/concat.py)
follow the same plan (:func:`audio_plan`).
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Any, Optional

from ..errors import ConfigError, OutputError

log = logging.getLogger(__name__)

AUDIO_CODECS = ("auto", "copy", "aac")
AAC_BITRATE = 256_000  # bits/s per stream: transparent for review and delivery copies
AAC_FRAME = 1024  # samples per AAC-LC frame
MP4_EXTS = (".mp4", ".m4v")
MOV_EXTS = (".mov", ".qt")
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_COMMON = {"aac", "mp3", "alac", "ac3", "eac3"}
#: Audio codecs each container takes by stream copy in both FFmpeg builds this tool uses (PyAV's
#: bundled 8.x for single passes, the system's ffmpeg program, Debian 12: 5.1, for chunk joins),
#: measured by muxing each codec into each container with both. MOV also takes every pcm_* codec.
#: Vorbis muxes into MP4 but players do not read it. Containers not listed take anything.
COPYABLE = {**{e: _COMMON | {"flac", "opus"} for e in MP4_EXTS}, **{e: set(_COMMON) for e in MOV_EXTS}}


def _is_pcm(codec_name: str) -> bool:
    return codec_name.startswith("pcm_")


def copyable(codec_name: str, out_path: str) -> bool:
    """Whether an audio stream of this codec can be stream-copied into `out_path`'s container."""
    ext = os.path.splitext(out_path)[1].lower()
    table = COPYABLE.get(ext)
    return table is None or codec_name in table or (ext in MOV_EXTS and _is_pcm(codec_name))


def _stream_codecs(src: str) -> list[str]:
    import av

    try:
        c = av.open(src, "r")
    except (av.error.FFmpegError, OSError):
        return []  # not a media file (e.g. an image sequence input): no audio to carry
    try:
        return [a.codec_context.name for a in c.streams.audio]
    finally:
        c.close()


def audio_plan(src: str, out_path: str, audio_codec: str = "auto", *, announce: bool = False) -> list[bool]:
    """For each audio stream of `src` (in order): True = encode to AAC, False = copy.

    Raises OutputError for a stream the container cannot hold with ``audio_codec='copy'``;
    ConfigError for an unknown `audio_codec`. ``announce`` logs the encoding once (the writer or
    the join, not both).
    """
    if audio_codec not in AUDIO_CODECS:
        raise ConfigError(f"'output.audio_codec' {audio_codec!r} unknown; expected one of {', '.join(AUDIO_CODECS)}")
    names = _stream_codecs(src)
    ext = os.path.splitext(out_path)[1].lower()
    misfits = [n for n in names if not copyable(n, out_path)]
    if audio_codec == "copy":
        if misfits:
            pcm = all(_is_pcm(n) for n in misfits)
            what = "PCM audio" if pcm else "audio"
            why = "players do not support PCM in MP4" if pcm else f"{ext} does not hold {', '.join(sorted(set(misfits)))}"
            raise OutputError(f"output {out_path}: the input's {what} ({', '.join(misfits)}) cannot be copied into "
                              f"{ext} ({why}); write .mkv{' or .mov' if pcm else ''}, pass --audio-codec aac, "
                              f"or --no-audio")
        return [False] * len(names)
    plan = [n != "aac" for n in names] if audio_codec == "aac" else [n in misfits for n in names]
    if announce and any(plan):
        which = ", ".join(n for n, p in zip(names, plan) if p)
        log.warning("%s: audio %s encoded to AAC at %d kb/s per stream%s", out_path, which, AAC_BITRATE // 1000,
                    f" ({ext} cannot hold it; write .mkv to keep it, or --audio-codec copy to refuse)"
                    if audio_codec == "auto" else "")
    return plan


class AacEncoder:
    """Decode one input audio stream's packets and encode them as AAC into an output stream.

    Output timestamps count samples from the first packet's (already shifted) start, so the track
    starts where a copied one would (packet granularity) and stays gap-free.
    """

    def __init__(self, container: Any, source: Any) -> None:
        import av

        rate = source.codec_context.sample_rate
        # MXF/MOV PCM often has an unspecified layout ("1 channels"), which the AAC encoder refuses:
        # use the default layout for the channel count (mono, stereo, 5.1, ...)
        layout = source.codec_context.layout.name
        if layout.endswith("channels"):
            layout = DEFAULT_LAYOUTS.get(source.codec_context.channels, layout)
        self.stream = container.add_stream("aac", rate=rate, layout=layout)
        self.stream.codec_context.bit_rate = AAC_BITRATE
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate, frame_size=AAC_FRAME)
        self.rate = rate
        self.container = container
        self.next_sample: Optional[int] = None

    def feed(self, packet: Any) -> None:
        """`packet`: an input packet whose pts was shifted to output time (its own time base)."""
        for frame in packet.decode():
            if self.next_sample is None:
                start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                self.next_sample = max(0, int(round(start * self.rate)))
            self._encode(self.resampler.resample(frame))

    def flush(self) -> None:
        if self.next_sample is None:
            return
        self._encode(self.resampler.resample(None))
        for p in self.stream.encode(None):
            self.container.mux(p)
        self.next_sample = None

    def _encode(self, frames: list) -> None:
        for f in frames:
            f.pts = self.next_sample
            f.time_base = Fraction(1, self.rate)
            self.next_sample += f.samples
            for p in self.stream.encode(f):
                self.container.mux(p)

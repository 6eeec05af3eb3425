"""Lossless joining of rendered segments (chunks of one clip) into one file.

Video: FFmpeg's concat demuxer with stream copy, driven through ffmpeg-python. Segments encoded
with the same writer settings share codec parameters, so their packets are appended without
decoding (no generation loss, seconds for any length). The first segment's start timecode is
written on the result.

Audio (optional, ``audio_from``): the original input's audio streams are stream-copied in the
same ffmpeg call, never decoded. For a render of a frame sub-range (``audio_range``) the packets
overlapping the range are first cut out with PyAV into a temporary Matroska file (the ffmpeg
program's input ``-ss/-to`` does not trim stream-copied audio reliably), shifted to start with
the video — the same packet copy the streaming writer does.

Image-sequence "segments" are just frame files in the final pattern: nothing to join.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from typing import Any, Optional

from ..errors import InputError, OutputError
from .audio import AAC_BITRATE


def _quote(path: str) -> str:
    return "'" + os.path.abspath(path).replace("'", "'\\''") + "'"


def concat_segments(segment_paths: list[str], out_path: str, audio_from: Optional[str] = None,
                    audio_range: Optional[tuple[float, Optional[float]]] = None,
                    durations: Optional[list[float]] = None, audio_aac: Optional[list[bool]] = None,
                    pixel_aspect: Optional[Fraction] = None) -> None:
    """Stream-copy `segment_paths` (same codec settings) into `out_path` (written directly: callers
    wrap this in :func:`atomic_output`). With ``audio_from`` its audio streams are copied in too —
    all of them, or only ``audio_range = (start_s, end_s | None)`` of the source when the render
    covered a frame sub-range (packets overlapping the range, shifted to start with the video).
    `durations` (seconds, one per segment) are the segments' exact lengths when the caller knows
    them; otherwise they are read from the segments. `audio_aac` (one flag per audio stream, from
    io.audio.audio_plan) names the streams to encode to AAC instead of copying (PCM into MP4).
    `pixel_aspect` (non-square pixels) is written on the result's video stream."""
    if not segment_paths:
        raise InputError("concat: no segments given")
    for p in segment_paths:
        if not os.path.isfile(p):
            raise InputError(f"concat: segment {p} does not exist")
    if audio_from and not os.path.isfile(audio_from):
        raise InputError(f"concat: audio source {audio_from} does not exist")
    if shutil.which("ffmpeg") is None:
        raise OutputError("concat: the ffmpeg program is not installed (needed for lossless joining)")
    import ffmpeg  # ffmpeg-python

    folder = os.path.dirname(os.path.abspath(out_path)) or "."
    fd, listfile = tempfile.mkstemp(prefix=".concat.", suffix=".txt", dir=folder)
    trimmed: Optional[str] = None
    try:
        with os.fdopen(fd, "w") as fh:
            for k, p in enumerate(segment_paths):
                fh.write(f"file {_quote(p)}\n")
                # known lengths (frames / rate) spare reading every packet of a container that does
                # not store its frame count (Matroska)
                dur = durations[k] if durations is not None else _exact_duration(p)
                if dur is not None:  # exact offsets: the join keeps a constant frame rate
                    fh.write(f"duration {float(dur):.9f}\n")
        streams = [ffmpeg.input(listfile, format="concat", safe=0)["v:0"]]
        if audio_from and _has_audio(audio_from):
            audio_input = audio_from
            if audio_range is not None and (audio_range[0] > 0 or audio_range[1] is not None):
                afd, trimmed = tempfile.mkstemp(prefix=".concat.audio.", suffix=".mka", dir=folder)
                os.close(afd)
                trim_audio(audio_from, trimmed, audio_range[0], audio_range[1])
                audio_input = trimmed
            streams.append(ffmpeg.input(audio_input)["a"])
        tc = _timecode_of(segment_paths[0])
        codecs: dict[str, Any] = {"c": "copy"}
        for k, aac in enumerate(audio_aac or []):
            if aac and len(streams) > 1:
                codecs.update({f"c:a:{k}": "aac", f"b:a:{k}": str(AAC_BITRATE)})
        # strict=experimental: the system's ffmpeg program may be older than PyAV's bundled FFmpeg
        # (Debian 12: 5.1), which still calls e.g. FLAC in MP4 experimental although the
        # streaming writer (FFmpeg 8) writes it; a join must accept what a single pass writes.
        aspect = _display_aspect(segment_paths[0], pixel_aspect)
        out = ffmpeg.output(*streams, out_path, map_metadata=0, strict="experimental", **codecs,
                            **({"timecode": tc} if tc else {}), **({"aspect": aspect} if aspect else {}))
        try:
            out.global_args("-v", "error").overwrite_output().run(quiet=True)
        except ffmpeg.Error as exc:
            raise OutputError(f"concat into {out_path} failed: {_ffmpeg_reason(exc.stderr)}") from None
    finally:
        for tmp in (listfile, trimmed):
            if tmp:
                try:
                    os.remove(tmp)
                except OSError:
                    pass


def _display_aspect(path: str, pixel_aspect: Optional[Fraction]) -> Optional[str]:
    """The ffmpeg program's ``-aspect`` value (display width:height) of `path`'s frames shown with
    `pixel_aspect`; None for square pixels."""
    if pixel_aspect is None or Fraction(pixel_aspect) == 1:
        return None
    import av

    with av.open(path) as c:
        w, h = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    dar = Fraction(w, h) * Fraction(pixel_aspect)
    return f"{dar.numerator}:{dar.denominator}"


def record_pixel_aspect(src: str, dst: str, pixel_aspect: Fraction) -> None:
    """Stream-copy `src` into `dst` with `pixel_aspect` on its video stream (all streams and tags kept).

    Matroska takes a pixel aspect from the muxer's stream (DisplayWidth/DisplayHeight), which PyAV
    cannot set; H.264/H.265 also carry it in their own headers, FFV1 and ProRes do not. A copy
    through the ffmpeg program (which can) records it without touching a single coded frame.
    """
    if shutil.which("ffmpeg") is None:
        raise OutputError(f"{dst}: the ffmpeg program is not installed (needed to record the pixel aspect "
                          f"{pixel_aspect} in Matroska); write .mov instead")
    import ffmpeg  # ffmpeg-python

    out = ffmpeg.output(ffmpeg.input(src), dst, map=0, c="copy", map_metadata=0, strict="experimental",
                        aspect=_display_aspect(src, pixel_aspect), f="matroska")
    try:
        out.global_args("-v", "error").overwrite_output().run(quiet=True)
    except ffmpeg.Error as exc:
        raise OutputError(f"recording the pixel aspect in {dst} failed: {_ffmpeg_reason(exc.stderr)}") from None


def _ffmpeg_reason(stderr: Optional[bytes]) -> str:
    """The line of an ffmpeg program's log that says what went wrong.

    FFmpeg logs the cause first ("[mp4 @ 0x…] flac in MP4 support is experimental") and then its
    consequences ("Could not write header", "Error initializing output stream", "Conversion
    failed!", "Last message repeated 1 times"), so take the first line that reads like an error.
    """
    lines = [ln.strip() for ln in (stderr or b"").decode(errors="replace").splitlines() if ln.strip()]
    noise = ("Last message repeated", "Conversion failed", "Error opening output files")
    useful = [ln for ln in lines if not ln.startswith(noise)]
    words = ("error", "could not", "not supported", "unsupported", "invalid", "failed", "experimental", "no such")
    for ln in useful:
        if any(w in ln.lower() for w in words):
            return ln
    return useful[-1] if useful else (lines[-1] if lines else "unknown error")


def _exact_duration(path: str) -> Optional[float]:
    """A segment's length as frames / frame rate (None if unknown).

    The concat demuxer otherwise offsets each segment by its container duration, which for H.264
    with B-frames in MP4 (edit list, negative start DTS) is a few ticks off: every join then
    stretches one frame (e.g. 520 instead of 512 ticks) and the result is variable-frame-rate,
    which editing software handles badly.
    """
    import av

    try:
        with av.open(path) as c:
            if not c.streams.video:
                return None
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            n = s.frames or sum(1 for p in c.demux(s) if p.size)
    except (av.FFmpegError, OSError):
        return None
    if not rate or not n:
        return None
    return float(n / rate)


def _has_audio(path: str) -> bool:
    import av

    try:
        with av.open(path) as c:
            return bool(c.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def trim_audio(src: str, dst: str, t0: float, t1: Optional[float]) -> None:
    """Copy the audio packets of `src` overlapping [t0, t1) into `dst` (Matroska), shifted by −t0."""
    import av

    with av.open(src) as ain, av.open(dst, "w", format="matroska") as out:
        amap: dict[int, Any] = {a.index: out.add_stream_from_template(a) for a in ain.streams.audio}
        for p in ain.demux(*ain.streams.audio):
            if not p.size or p.pts is None:
                continue
            start = float(p.pts * p.time_base)
            end = start + float((p.duration or 0) * p.time_base)
            if t0 > 0 and end <= t0:
                continue
            if t1 is not None and start >= t1:
                continue  # other streams may still have packets in range
            if t0 > 0:
                shift = int(round(t0 / float(p.time_base)))
                p.pts -= shift
                if p.dts is not None:
                    p.dts -= shift
            p.stream = amap[p.stream.index]
            out.mux(p)


def _timecode_of(path: str) -> Optional[str]:
    """Start timecode of a file (container tag, or any stream's, e.g. a QuickTime tmcd track)."""
    import av

    try:
        with av.open(path) as c:
            if c.metadata.get("timecode"):
                return str(c.metadata["timecode"])
            for st in c.streams:
                if st.metadata.get("timecode"):
                    return str(st.metadata["timecode"])
    except (av.error.FFmpegError, OSError):
        return None
    return None

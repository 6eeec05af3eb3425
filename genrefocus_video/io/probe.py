"""What a user needs to know about a clip: `probe(path) -> ClipInfo`, `describe(info) -> str`.

Frame geometry, timing, codec, pixel format and colour tags come from PyAV (the same code the
reader uses, so probe shows exactly how frames will be decoded). ffprobe (via ffmpeg-python) is
asked only for what PyAV does not expose: the stream's exact frame count when the container has no
index (``-count_packets``) and side data such as HDR mastering metadata; if ffprobe is absent those
extras are simply left out.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from fractions import Fraction
from typing import Any

from .frame import ClipInfo
from .paths import is_image_path, is_pattern
from .sequence import SequenceReader
from .truncation import HEADER_FRAMES

log = logging.getLogger(__name__)


def probe(path: str, transfer: str = "auto", *, exact_count: bool = True) -> ClipInfo:
    """Describe a video file, image sequence or image (raises InputError for bad inputs)."""
    if is_pattern(path) or is_image_path(path):
        return SequenceReader(path, transfer).info
    from .video_reader import VideoReader

    r = VideoReader(path, transfer, allow_truncated=True)
    try:
        r.check_complete(announce=False)  # a short file: the frames that decode, and what the header says
        info = r.info
    finally:
        r.close()
    extra = _ffprobe_extras(path, count=exact_count and "genrefocus.n_frames_estimated" in info.metadata)
    if extra.get("n_frames"):
        info.n_frames = int(extra["n_frames"])
        info.metadata.pop("genrefocus.n_frames_estimated", None)
    for k, v in extra.get("side_data", {}).items():
        info.metadata[f"side_data.{k}"] = v
    return info


def _ffprobe_extras(path: str, count: bool) -> dict[str, Any]:
    if shutil.which("ffprobe") is None:
        return {}
    try:
        import ffmpeg  # ffmpeg-python

        kwargs: dict[str, Any] = {"select_streams": "v:0", "show_streams": None}
        if count:
            kwargs["count_packets"] = None
        data = ffmpeg.probe(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - extras only; PyAV already validated the file
        log.debug("ffprobe failed on %s: %s", path, exc)
        return {}
    out: dict[str, Any] = {}
    streams = data.get("streams") or []
    if not streams:
        return out
    s = streams[0]
    if count and str(s.get("nb_read_packets", "")).isdigit():
        out["n_frames"] = int(s["nb_read_packets"])
    side: dict[str, str] = {}
    for sd in s.get("side_data_list", []) or []:
        kind = str(sd.get("side_data_type", "side data"))
        vals = {k: v for k, v in sd.items() if k != "side_data_type"}
        side[kind] = ", ".join(f"{k}={v}" for k, v in vals.items()) if vals else "present"
    if side:
        out["side_data"] = side
    return out


def _fmt_fps(fps: Fraction) -> str:
    f = Fraction(fps)
    return f"{float(f):.3f}".rstrip("0").rstrip(".") + (f" ({f.numerator}/{f.denominator})" if f.denominator != 1 else "")


def describe(info: ClipInfo) -> str:
    """Human-readable multi-line summary."""
    lines = [f"{info.path}"]
    lines.append(f"  kind        {info.kind}" + (f" ({info.container})" if info.container else ""))
    lines.append(f"  size        {info.width}x{info.height}" + (f" (rotation {info.rotation}° applied)" if info.rotation else ""))
    if info.field_order and info.field_order != "progressive":
        first = {"tff": ", top field first", "bff": ", bottom field first"}.get(info.field_order, "")
        note = " (deinterlaced on read: bwdif)" if info.deinterlaced else ""
        lines.append(f"  scan        interlaced{first}{note}")
    if info.pixel_aspect != 1:
        pa = Fraction(info.pixel_aspect)
        lines.append(f"  aspect      pixels {pa.numerator}:{pa.denominator} (non-square; shown as "
                     f"{round(info.width * pa)}x{info.height})")
    n = "unknown" if info.n_frames is None else str(info.n_frames)
    if info.metadata.get("genrefocus.n_frames_estimated"):
        n += " (estimated from duration)"
    dur = "unknown" if info.duration is None else f"{info.duration:.3f} s"
    lines.append(f"  frames      {n} at {_fmt_fps(info.fps)} fps, duration {dur}")
    if info.metadata.get(HEADER_FRAMES):
        lines.append(f"  truncated   only {info.n_frames} frames decode, the header promises "
                     f"{info.metadata[HEADER_FRAMES]} (a render stops with exit 3 unless --allow-truncated)")
    if info.time_base:
        lines.append(f"  time base   {info.time_base}")
    codec = info.codec or "?"
    if info.profile:
        codec += f" ({info.profile})"
    lines.append(f"  codec       {codec}")
    chroma = info.chroma or "RGB"
    lines.append(f"  pixels      {info.pix_fmt}: {info.bit_depth}-bit, chroma {chroma}, alpha {'yes' if info.has_alpha else 'no'}")
    lines.append(f"  colour      transfer {info.transfer_tag or 'untagged'} -> linearised as {info.transfer}; "
                 f"primaries {info.primaries or 'untagged'}; matrix {info.matrix or 'untagged'}; range {info.color_range or '?'}")
    if info.timecode:
        lines.append(f"  timecode    {info.timecode}")
    if info.kind == "sequence":
        lines.append(f"  first file  number {info.metadata.get('start_number', '0')}")
    if info.metadata.get("exr.extra_channels"):
        from .depthio import depth_channel_name

        extra = info.metadata["exr.extra_channels"].split(",")
        z = depth_channel_name(extra)
        lines.append(f"  channels    also {', '.join(extra)} (passed through to EXR outputs"
                     + (f"; --depth on this file reads {z}" if z else "") + ")")
    if info.audio_streams:
        for a in info.audio_streams:
            lines.append(f"  audio #{a['index']}    {a['codec']}, {a['sample_rate']} Hz, {a['channels']} ch"
                         + (f", {a['language']}" if a.get("language") else ""))
    else:
        lines.append("  audio       none")
    if info.camera:
        cam = ", ".join(f"{k}={v:g}" for k, v in sorted(info.camera.items()))
        lines.append(f"  camera      {cam}")
    else:
        lines.append("  camera      no lens metadata (give --focal-length-mm, --f-number, --sensor-width-mm, or --k)")
    for k, v in info.metadata.items():
        if k.startswith("side_data."):
            lines.append(f"  {k[10:]}: {v}")
    return "\n".join(lines)


def to_json(info: ClipInfo) -> str:
    d = asdict(info)
    d["fps"] = float(info.fps)
    d["fps_fraction"] = f"{Fraction(info.fps).numerator}/{Fraction(info.fps).denominator}"
    d["time_base"] = str(info.time_base) if info.time_base else None
    return json.dumps(d, indent=2, sort_keys=True, default=str)

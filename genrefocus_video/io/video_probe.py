"""Opening a video file with PyAV and describing it: the container, geometry, timing, colour tags.

:func:`probe_container` decodes the first frame, because only a decoded frame tells the true
pixel format and the display matrix (rotation); it returns that frame so the reader does not
decode it twice. Camera metadata (focal length, f-number) is read best-effort from the tags, and
HDR10 static metadata from the frame's side data so the writer can carry it to an H.265 output.
"""
from __future__ import annotations

import logging
import os
import re
from fractions import Fraction
from typing import Any, Optional

import av

from .. import colour
from ..errors import ConfigError, InputError
from .frame import ClipInfo
from .interlace import field_order
from .pixels import MATRIX_NAMES, PRIMARIES_NAMES, RANGE_NAMES, TAG_TO_TRANSFER, TRC_NAMES, pixfmt_info

log = logging.getLogger(__name__)

#: ClipInfo.metadata key set while n_frames is only implied by the duration (not counted)
ESTIMATED = "genrefocus.n_frames_estimated"
# FFmpeg's own log lines would break our one-line errors; failures are reported by us instead.
# None = PyAV's C no-op log callback. Any level (even PANIC) installs PyAV's Python log callback,
# which FFmpeg's frame-threaded decoders call from their own threads: a decoder thread logging
# while the main thread (holding the GIL) frees that decoder deadlocked a render forever
# (py-spy: avcodec_free_context waiting on a thread parked in logging_log_callback).
av.logging.set_level(None)


# ---------------------------------------------------------------------------------------- opening
def open_container(path: str) -> "av.container.InputContainer":
    """Open an input with one-line InputErrors for the usual failures."""
    if not os.path.exists(path):
        raise InputError(f"input {path} does not exist")
    if os.path.isdir(path):
        raise InputError(f"input {path} is a folder; expected a video file, image or sequence pattern")
    try:
        container = av.open(path, "r")
    except av.error.FFmpegError as exc:
        raise InputError(f"input {path} is not a readable video ({ffmpeg_message(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"input {path} has no video stream")
    return container


def ffmpeg_message(exc: BaseException) -> str:
    """FFmpeg's reason for a failure on one line (its messages may carry newlines)."""
    msg = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(msg).split())


# ------------------------------------------------------------------------------------------ probe
_CAMERA_KEYS = {
    "focal_length_35mm": ("35mm_equivalent", "focallengthin35mmfilm", "focal_length_35mm"),
    "focal_length_mm": ("focal_length", "focallength"),
    "f_number": ("f_number", "fnumber", "aperture", "camera.aperture"),
}


def camera_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """Focal length / f-number / 35 mm equivalent from QuickTime/MP4/EXIF-like tags (best effort)."""
    cam: dict[str, float] = {}

    def num(text: str) -> Optional[float]:
        m = re.search(r"[-+]?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?", text)
        if not m:
            return None
        tok = m.group(0)
        if "/" in tok:
            a, b = tok.split("/")
            return float(a) / float(b) if float(b) else None
        return float(tok)

    for key, value in tags.items():
        k = key.lower().replace(" ", "_")
        v = str(value)
        if any(s in k for s in _CAMERA_KEYS["focal_length_35mm"]):
            x = num(v)
            if x:
                cam["focal_length_35mm"] = x
        elif any(s in k for s in _CAMERA_KEYS["focal_length_mm"]):
            x = num(v)
            if x:
                cam["focal_length_mm"] = x
        elif any(k.endswith(s) for s in _CAMERA_KEYS["f_number"]):
            x = num(v.replace("f/", ""))
            if x:
                cam["f_number"] = x
        elif "lens_model" in k or k.endswith("lens"):  # e.g. "iPhone back camera 5.7mm f/1.5"
            m = re.search(r"(\d+(?:\.\d+)?)\s*mm", v)
            if m and "focal_length_mm" not in cam:
                cam["focal_length_mm"] = float(m.group(1))
            m = re.search(r"f/\s*(\d+(?:\.\d+)?)", v)
            if m and "f_number" not in cam:
                cam["f_number"] = float(m.group(1))
    if "focal_length_mm" in cam and cam.get("focal_length_35mm"):
        # 35 mm equivalent: f35 = f · 36 / sensor_width  →  sensor width in mm.
        cam.setdefault("sensor_width_mm", 36.0 * cam["focal_length_mm"] / cam["focal_length_35mm"])
    return cam


def _rate(stream: "av.video.stream.VideoStream") -> Fraction:
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r and r > 0:
            return Fraction(r)
    return Fraction(24, 1)


_warned_matrix: set[str] = set()


def guess_matrix(matrix_tag: Optional[str], height: int) -> str:
    """The Y'CbCr matrix to use: the tag if modelled, else BT.709 above SD height, else BT.601."""
    if matrix_tag and matrix_tag in colour.MATRIX_COEFFS:
        return matrix_tag
    if matrix_tag and matrix_tag not in ("rgb",) and matrix_tag not in _warned_matrix:
        _warned_matrix.add(matrix_tag)
        log.warning("YUV matrix %s is not modelled; decoding with BT.709/BT.601 by frame height", matrix_tag)
    return "bt709" if height >= 576 + 1 or height == 0 else "bt601"


def resolve_transfer(requested: str, transfer_tag: Optional[str], pix_fmt: Optional[str], *, path: str = "") -> str:
    """The transfer used to linearise: an explicit choice wins, else the stream tag, else a default."""
    if requested and requested != "auto":
        if requested not in colour.TRANSFERS:
            raise ConfigError(f"transfer {requested!r} unknown; expected auto or one of {', '.join(colour.TRANSFERS)}")
        return requested
    if transfer_tag in TAG_TO_TRANSFER:
        return TAG_TO_TRANSFER[transfer_tag]  # type: ignore[index]
    if pix_fmt:
        pf = pixfmt_info(pix_fmt)
        if pf.is_float:
            return "linear"
        if pf.is_rgb:
            return "srgb"
    if transfer_tag:
        log.warning("%s: transfer %s is not modelled; linearising as BT.709 (use --input-transfer)", path, transfer_tag)
    return "bt709"


def _tags_and_timecode(container: Any, vs: Any) -> tuple[dict[str, str], Optional[str]]:
    """All metadata tags (container first, then each stream's new keys) and the start timecode
    (container, video stream, else the first stream that has one: a QuickTime tmcd track)."""
    tags: dict[str, str] = {}
    tags.update({str(k): str(v) for k, v in container.metadata.items()})
    for s in container.streams:
        tags.update({str(k): str(v) for k, v in s.metadata.items() if str(k) not in tags})
    timecode = container.metadata.get("timecode") or vs.metadata.get("timecode")
    if not timecode:
        for s in container.streams:
            if s.metadata.get("timecode"):
                timecode = s.metadata["timecode"]
                break
    return tags, timecode


def _audio_streams(container: Any) -> list[dict[str, Any]]:
    """Each audio stream as probe describes it (codec, rate, channels, language); never decoded."""
    audio = []
    for a in container.streams.audio:
        acc = a.codec_context
        audio.append({
            "index": a.index, "codec": acc.name, "sample_rate": acc.sample_rate, "channels": acc.channels,
            "layout": getattr(acc.layout, "name", None), "sample_fmt": getattr(acc.format, "name", None),
            "bits": getattr(acc, "bits_per_coded_sample", None) or None,
            "language": a.language, "bit_rate": acc.bit_rate or None,
        })
    return audio


def probe_container(container: Any, path: str, transfer: str = "auto") -> tuple[ClipInfo, Optional["av.VideoFrame"]]:
    """ClipInfo of an open input (decodes the first frame for the true pixel format and rotation)."""
    vs = container.streams.video[0]
    cc = vs.codec_context
    fps = _rate(vs)
    tb = Fraction(vs.time_base) if vs.time_base else None
    first = None
    try:
        vs.thread_type = "AUTO"  # frame/slice-threaded decoding (must be set before the codec opens)
    except RuntimeError:
        pass
    try:
        for first in container.decode(vs):
            break
    except av.error.FFmpegError as exc:
        raise InputError(f"input {path}: frame 0 cannot be decoded ({ffmpeg_message(exc)}); the file is corrupt or truncated") from None
    if first is None:
        raise InputError(f"input {path}: no decodable video frame; the file is empty, corrupt or truncated")
    pix_fmt = first.format.name
    pf = pixfmt_info(pix_fmt)
    rotation = int(round((first.rotation or 0) / 90.0)) * 90 % 360
    w, h = first.width, first.height
    sar = vs.sample_aspect_ratio or cc.sample_aspect_ratio
    pixel_aspect = Fraction(sar) if sar and Fraction(sar) > 0 else Fraction(1, 1)  # 0/1 = unknown = square
    if rotation in (90, 270):
        w, h = h, w
        pixel_aspect = 1 / pixel_aspect  # the stored pixel's width is now its height
    duration = None
    if vs.duration and tb:
        duration = float(vs.duration * tb)
    elif container.duration:
        duration = container.duration / 1e6
    n_frames: Optional[int] = vs.frames or None
    estimated = False
    if not n_frames and duration:
        n_frames, estimated = int(round(duration * fps)), True
    elif n_frames and duration and abs(int(round(duration * fps)) - n_frames) > 1:
        # Variable frame rate: frame indices live on the fps grid and span more slots than there
        # are samples; len() then scans the packets for the exact span (count_frames).
        n_frames, estimated = max(n_frames, int(round(duration * fps))), True
    trc = TRC_NAMES.get(first.color_trc) or TRC_NAMES.get(cc.color_trc)
    prim = PRIMARIES_NAMES.get(first.color_primaries) or PRIMARIES_NAMES.get(cc.color_primaries)
    mat = MATRIX_NAMES.get(first.colorspace) or MATRIX_NAMES.get(cc.colorspace)
    rng = RANGE_NAMES.get(first.color_range) or RANGE_NAMES.get(cc.color_range)
    if rng is None and not pf.is_rgb:
        rng = "pc" if pix_fmt.startswith("yuvj") else "tv"
    tags, timecode = _tags_and_timecode(container, vs)
    audio = _audio_streams(container)
    profile = cc.profile if isinstance(cc.profile, str) else None
    info = ClipInfo(
        path=path, kind="video", width=w, height=h, fps=fps, time_base=tb, n_frames=n_frames,
        duration=duration, container=container.format.name, codec=cc.name, profile=profile,
        pix_fmt=pix_fmt, bit_depth=pf.bit_depth, chroma=pf.chroma, has_alpha=pf.has_alpha,
        transfer=resolve_transfer(transfer, trc, pix_fmt, path=path), transfer_tag=trc,
        primaries=prim, matrix=mat if not pf.is_rgb else "rgb", color_range=rng, rotation=rotation,
        pixel_aspect=pixel_aspect, field_order=field_order(cc.field_order, bool(first.interlaced_frame)),
        timecode=timecode, audio_streams=audio, metadata=tags, camera=camera_from_tags(tags),
    )
    info.metadata.update(hdr10_from_side_data(first))
    if estimated:
        info.metadata[ESTIMATED] = "1"
    return info, first


def hdr10_from_side_data(vf: "av.VideoFrame") -> dict[str, str]:
    """HDR10 static metadata of a decoded frame in x265's notation.

    ``hdr.master_display``: "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)" (chromaticities in 0.00002,
    luminance in 0.0001 cd/m², SMPTE ST 2086); ``hdr.max_cll``: "MaxCLL,MaxFALL" (CTA-861.3).
    Parsed from AVMasteringDisplayMetadata / AVContentLightMetadata (little-endian structs).
    """
    import struct

    out: dict[str, str] = {}
    try:
        items = list(vf.side_data)
    except Exception:  # noqa: BLE001 - no side data API: nothing to carry
        return out
    for sd in items:
        kind = str(getattr(sd, "type", ""))
        raw = bytes(sd)
        if kind.endswith("MASTERING_DISPLAY_METADATA") and len(raw) >= 88:
            v = struct.unpack("<20i2i", raw[:88])
            rat = [v[2 * i] / v[2 * i + 1] if v[2 * i + 1] else 0.0 for i in range(10)]
            has_prim, has_lum = v[20], v[21]
            if has_prim and has_lum:
                (rx, ry, gx, gy, bx, by, wx, wy, lmin, lmax) = rat
                c = [round(t * 50000) for t in (gx, gy, bx, by, rx, ry, wx, wy)]
                out["hdr.master_display"] = (f"G({c[0]},{c[1]})B({c[2]},{c[3]})R({c[4]},{c[5]})"
                                             f"WP({c[6]},{c[7]})L({round(lmax * 10000)},{round(lmin * 10000)})")
        elif kind.endswith("CONTENT_LIGHT_LEVEL") and len(raw) >= 8:
            max_cll, max_fall = struct.unpack("<2I", raw[:8])
            out["hdr.max_cll"] = f"{max_cll},{max_fall}"
    return out

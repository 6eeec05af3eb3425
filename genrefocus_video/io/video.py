"""Video files through PyAV: streaming decode to linear float, encode back, audio remuxed untouched.

Decode reads the integer planes of each AVFrame and does chroma upsampling, the Y'CbCr matrix,
range and transfer function in float32 numpy (:mod:`.pixels`, :mod:`genrefocus_video.colour`), so
10/12-bit footage never passes through 8 bits. The display matrix (rotation) is applied so frames
come out upright. Frames are produced one at a time (a generator), so memory does not grow with
clip length; the writer likewise encodes and muxes each frame as it arrives.

Audio is never decoded: packets of every audio stream of ``audio_from`` are re-muxed into the
output (``add_stream_from_template``), so they are byte-identical to the source.
"""
from __future__ import annotations

import logging
import math
import os
import re
from fractions import Fraction
from typing import Any, Iterator, Optional

import av
import numpy as np

from .. import colour
from ..errors import ConfigError, InputError, OutputError
from . import atomic
from .audio import MOV_EXTS, AacEncoder, audio_plan
from .frame import ClipInfo, Frame
from .interlace import MODES as INTERLACE_MODES, PREROLL, Deinterlacer, field_order, is_interlaced
from .timecode import add_frames
from .pixels import (MATRIX_IDS, MATRIX_NAMES, PRIMARIES_IDS, PRIMARIES_NAMES, RANGE_IDS, RANGE_NAMES,
                     TAG_TO_TRANSFER, TRANSFER_TO_TAG, TRC_IDS, TRC_NAMES, decode_to_code,
                     encode_from_code, pixfmt_info)

log = logging.getLogger(__name__)
# FFmpeg's own log lines would break our one-line errors; failures are reported by us instead.
# None = PyAV's C no-op log callback. Any level (even PANIC) installs PyAV's Python log callback,
# which FFmpeg's frame-threaded decoders call from their own threads: a decoder thread logging
# while the main thread (holding the GIL) frees that decoder deadlocked a render forever
# (py-spy: avcodec_free_context waiting on a thread parked in logging_log_callback).
av.logging.set_level(None)

VIDEO_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mkv", ".mxf", ".avi", ".webm", ".mts", ".ts", ".y4m", ".nut")


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
        raise InputError(f"input {path} is not a readable video ({_ffmsg(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"input {path} has no video stream")
    return container


def _ffmsg(exc: BaseException) -> str:
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
        raise InputError(f"input {path}: frame 0 cannot be decoded ({_ffmsg(exc)}); the file is corrupt or truncated") from None
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
    audio = []
    for a in container.streams.audio:
        acc = a.codec_context
        audio.append({
            "index": a.index, "codec": acc.name, "sample_rate": acc.sample_rate, "channels": acc.channels,
            "layout": getattr(acc.layout, "name", None), "sample_fmt": getattr(acc.format, "name", None),
            "bits": getattr(acc, "bits_per_coded_sample", None) or None,
            "language": a.language, "bit_rate": acc.bit_rate or None,
        })
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
        info.metadata["genrefocus.n_frames_estimated"] = "1"
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


# ------------------------------------------------------------------------------------------ reader
def frame_to_linear(vf: "av.VideoFrame", info: ClipInfo) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Decode one AVFrame to upright linear float32 RGB (+ straight alpha)."""
    matrix = guess_matrix(info.matrix, vf.height)
    code, alpha = decode_to_code(vf, matrix, info.color_range or "tv")
    rgb = colour.to_linear(code, info.transfer)
    k = (info.rotation // 90) % 4
    if k:
        # Display matrix angle is counter-clockwise: rotate the pixels CCW to display them upright.
        rgb = np.ascontiguousarray(np.rot90(rgb, k))
        alpha = None if alpha is None else np.ascontiguousarray(np.rot90(alpha, k))
    return rgb, alpha


class VideoReader:
    """Streaming frames of one video file (see :func:`genrefocus_video.io.reader.open_reader`)."""

    def __init__(self, path: str, transfer: str = "auto", first_frame: int = 0, last_frame: Optional[int] = None,
                 deinterlace: str = "auto") -> None:
        self.path = path
        if deinterlace not in INTERLACE_MODES:
            raise ConfigError(f"'input.deinterlace' must be one of {', '.join(INTERLACE_MODES)}, got {deinterlace!r}")
        self._container = open_container(path)
        try:
            self.info, _ = probe_container(self._container, path, transfer)
        except BaseException:
            self._container.close()
            raise
        self._deinterlace = deinterlace
        if is_interlaced(self.info.field_order):
            if deinterlace == "off":
                log.warning("input %s is interlaced (%s) and --deinterlace off: frames are processed as progressive "
                            "pictures, so moving edges keep their combing and it is blurred into the bokeh",
                            path, self.info.field_order)
            else:
                self.info.deinterlaced = True
                log.info("input %s is interlaced (%s): deinterlacing on read (bwdif); the output is "
                         "progressive at the same frame rate", path, self.info.field_order)
        elif deinterlace == "on":
            self.info.deinterlaced = True
        self._vs = self._container.streams.video[0]
        self._start_pts = self._vs.start_time if self._vs.start_time is not None else 0
        self.first_frame = first_frame
        self.last_frame = last_frame
        if self.info.n_frames is not None and first_frame >= self.info.n_frames and \
                "genrefocus.n_frames_estimated" not in self.info.metadata:
            raise InputError(f"input {path}: first frame {first_frame} is past the end ({self.info.n_frames} frames)")
        self._seek_container: Any = None

    # -- bookkeeping
    def _index_of(self, vf: "av.VideoFrame", counter: int) -> int:
        if vf.pts is None or not self._vs.time_base:
            return counter
        return int(round(float((vf.pts - self._start_pts) * self._vs.time_base * self.info.fps)))

    def count_frames(self) -> int:
        """Exact frame count by demuxing (no decoding) when the container only implies it."""
        if self.info.n_frames is not None and "genrefocus.n_frames_estimated" not in self.info.metadata:
            return self.info.n_frames
        n = 0
        last_pts: Optional[int] = None
        c = open_container(self.path)
        try:
            for pkt in c.demux(c.streams.video[0]):
                if pkt.size:
                    n += 1
                    if pkt.pts is not None and (last_pts is None or pkt.pts > last_pts):
                        last_pts = pkt.pts
        except av.error.FFmpegError as exc:
            raise InputError(f"input {self.path}: unreadable after packet {n} ({_ffmsg(exc)}); corrupt or truncated") from None
        finally:
            c.close()
        if last_pts is not None and self._vs.time_base:
            # Index space = slots on the fps grid up to the last frame (== n for constant rate).
            span = int(round(float((last_pts - self._start_pts) * self._vs.time_base * self.info.fps))) + 1
            n = max(n, span)
        implied = self.info.n_frames  # from the header's duration (an estimate, or None)
        if implied and n + max(2, int(0.02 * implied)) < implied:
            # the exact count replaces the estimate, so say once what the file claimed: a copy cut
            # short in transfer would otherwise render its first part without a word
            log.warning("input %s: its duration (%.2f s, about %d frames at %.3g fps) is longer than its %d video "
                        "frames: the file may be truncated (or its audio runs longer); rendering the %d frames",
                        self.path, implied / self.info.fps, implied, self.info.fps, n, n)
        self.info.n_frames = n
        self.info.metadata.pop("genrefocus.n_frames_estimated", None)
        return n

    def _time_of(self, vf: "av.VideoFrame", idx: int) -> float:
        """Presentation time in seconds from the clip start (the stream's own timestamps)."""
        if vf.pts is None or not self._vs.time_base:
            return float(idx / self.info.fps)
        return float((vf.pts - self._start_pts) * self._vs.time_base)

    def __len__(self) -> int:
        if self.info.n_frames is None or "genrefocus.n_frames_estimated" in self.info.metadata:
            self.count_frames()
        if self.info.n_frames is None:
            raise TypeError(f"{self.path}: frame count unknown")
        end = self.info.n_frames - 1 if self.last_frame is None else min(self.last_frame, self.info.n_frames - 1)
        return max(0, end - self.first_frame + 1)

    def _frames(self, container: Any, start: int) -> Iterator[tuple[int, "av.VideoFrame"]]:
        """(index, frame) decoded from the keyframe at or before `start` on (deinterlaced when the
        clip asks for it, one frame late, after a one-frame pre-roll: io.interlace)."""
        deint = Deinterlacer(self._deinterlace) if self.info.deinterlaced else None
        frames = self._decoded(container, max(0, start - PREROLL) if deint is not None else start)
        if deint is None:
            yield from frames
            return
        idx = -1
        try:
            for idx, vf in frames:
                yield from deint.feed(idx, vf)
            yield from deint.flush()
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"input {self.path}: frame {idx} cannot be deinterlaced ({_ffmsg(exc)}); "
                             "try --deinterlace off") from None

    def _decoded(self, container: Any, start: int) -> Iterator[tuple[int, "av.VideoFrame"]]:
        vs = container.streams.video[0]
        counter = 0
        last = -1
        if start > 0:
            ts = self._start_pts + int(math.floor(start / self.info.fps / vs.time_base)) if vs.time_base else 0
            try:
                container.seek(ts, stream=vs, backward=True, any_frame=False)
            except av.error.FFmpegError:
                container.seek(0)
            counter = -1  # unknown after a seek: rely on pts
        try:
            for vf in container.decode(vs):
                idx = self._index_of(vf, counter if counter >= 0 else last + 1)
                if counter >= 0:
                    counter += 1
                if idx <= last:  # duplicated timestamp: keep order, never go backwards
                    idx = last + 1
                last = idx
                yield idx, vf
        except av.error.FFmpegError as exc:
            raise InputError(f"input {self.path}: frame {last + 1} cannot be decoded ({_ffmsg(exc)}); "
                             "the file is corrupt or truncated") from None

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_frames()

    def _iter_frames(self) -> Iterator[Frame]:
        self._container.seek(0) if self.first_frame == 0 else None
        got = -1
        for idx, vf in self._frames(self._container, self.first_frame):
            if idx < self.first_frame:
                continue
            if self.last_frame is not None and idx > self.last_frame:
                break
            rgb, alpha = frame_to_linear(vf, self.info)
            got = idx
            yield Frame(index=idx, rgb=rgb, alpha=alpha, time=self._time_of(vf, idx))
        expected = self.info.n_frames
        if expected and (self.last_frame is None or self.last_frame >= expected - 1):
            # An exact count must be met; a count estimated from the duration gets a little slack
            # (rounding, VFR) but a clip that stops well short of its header's duration is truncated.
            estimated = "genrefocus.n_frames_estimated" in self.info.metadata
            slack = max(2, int(0.02 * expected)) if estimated else 0
            if got + 1 + slack < expected:
                what = "its duration implies about" if estimated else "the container lists"
                raise InputError(f"input {self.path}: video ends after frame {got}, but {what} {expected} frames; "
                                 f"the file is truncated or corrupt at frame {got + 1}")

    def read(self, index: int) -> Frame:
        """Random access by seeking (a separate demuxer, so it does not disturb iteration)."""
        for idx, vf in self.raw_frames(index):
            if idx == index:
                rgb, alpha = frame_to_linear(vf, self.info)
                return Frame(index=idx, rgb=rgb, alpha=alpha, time=self._time_of(vf, idx))
            break  # a gap in a variable-frame-rate clip: no frame at this index
        raise InputError(f"input {self.path}: frame {index} does not exist")

    def raw_frames(self, first: int) -> Iterator[tuple[int, "av.VideoFrame"]]:
        """(index, decoded frame) from frame `first` on, with one seek (then decoding forward);
        indices are the clip's (time on the frame-rate grid), so a gap in a variable-frame-rate
        clip shows as a jump. Yields nothing when `first` is past the end."""
        if self._seek_container is None:
            self._seek_container = open_container(self.path)
        c = self._seek_container
        for attempt in (first, 0):  # a seek that lands after `first`: decode from the start instead
            if attempt == 0:
                c.seek(0)  # _frames seeks only for start > 0; the container may be anywhere
            started = False
            for idx, vf in self._frames(c, attempt):
                if idx < first:
                    continue
                if not started and idx > first and attempt > 0:
                    break  # landed after `first`
                started = True
                yield idx, vf
            if started:
                return

    def read_range(self, first: int, last: int) -> Iterator[Frame]:
        """Frames first..last with one seek (then decoding forward): far cheaper than `read` per
        frame on long-GOP clips, where every seek decodes from the previous keyframe."""
        nxt = first
        for idx, vf in self.raw_frames(first):
            if idx != nxt or idx > last:  # past the range, or a gap
                return
            rgb, alpha = frame_to_linear(vf, self.info)
            yield Frame(index=idx, rgb=rgb, alpha=alpha, time=self._time_of(vf, idx))
            nxt += 1

    def close(self) -> None:
        self._container.close()
        if self._seek_container is not None:
            self._seek_container.close()
            self._seek_container = None


# ------------------------------------------------------------------------------------------ writer
#: An H.265 stream shorter than this many frames is encoded without B-frames: libx265's DTS for
#: the first packets are uninitialised when the stream ends inside its reordering delay (1-2 frame
#: clips failed to mux with "Not yet implemented in FFmpeg" / "Invalid argument").
X265_SHORT_STREAM = 4
#: codec family -> FFmpeg encoder
ENCODERS = {"h264": "libx264", "h265": "libx265", "hevc": "libx265", "prores": "prores_ks",
            "prores_4444": "prores_ks", "ffv1": "ffv1"}
#: decoder name of an input -> our family
FAMILY_OF = {"h264": "h264", "hevc": "h265", "prores": "prores", "ffv1": "ffv1"}
PRORES_PROFILES = {"proxy": 0, "lt": 1, "standard": 2, "hq": 3, "4444": 4, "4444xq": 5}
MP4_CODECS = ("h264", "h265")
MOV_CODECS = ("h264", "h265", "prores", "prores_4444")


#: libx265 (through PyAV) corrupts its heap and aborts the process ("corrupted size vs. prev_size")
#: on frames narrower than one 64 px CTU: measured 12-frame encodes crashed at 48x32, 48x64 and
#: 63x47 in 4:2:0 / 4:4:4 10-bit and 4:4:4 8-bit, in 1-8 of 8 runs; never at width >= 64 (64x32,
#: 96x32, 64x48); smaller CTUs or no B-frames only changed which formats crash. So H.265 is not
#: used below this width x height (the height bound is a margin, not an observed crash).
X265_MIN_SIZE = (64, 48)


def _x265_too_small(like: ClipInfo) -> bool:
    return like.width < X265_MIN_SIZE[0] or like.height < X265_MIN_SIZE[1]


def _container_ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def resolve_codec(codec: str, like: ClipInfo, path: str) -> str:
    """'auto' keeps the input's family; an input family we cannot write picks a container default."""
    ext = _container_ext(path)
    if codec and codec != "auto":
        if codec not in ENCODERS:
            raise ConfigError(f"'output.codec' {codec!r} is not a video codec; expected one of {', '.join(ENCODERS)}")
        fam = "h265" if codec == "hevc" else codec
    else:
        fam = FAMILY_OF.get(like.codec or "", "") if like.kind == "video" else ""
        if fam == "prores" and like.chroma == "444":
            fam = "prores_4444"
        if not fam:
            high = like.bit_depth > 8
            fam = {".mov": "prores" if high else "h264", ".mkv": "ffv1", ".mxf": "prores",
                   ".avi": "ffv1"}.get(ext, "h264")
            if fam == "prores" and like.has_alpha:
                fam = "prores_4444"
        if ext in (".mp4", ".m4v") and fam not in MP4_CODECS:
            # the input's codec has no place in MP4: the container's own, keeping > 8 bits (and HDR10
            # metadata, which only the H.265 path carries) with H.265
            alt = "h265" if like.bit_depth > 8 and not _x265_too_small(like) else "h264"
            log.info("output %s: the input's %s cannot go into %s; writing %s", path, fam, ext, alt)
            fam = alt
        elif ext in MOV_EXTS and fam not in MOV_CODECS:
            # FFV1 (lossless masters) has no place in QuickTime: ProRes, 4444 where the source has
            # full-resolution chroma or alpha
            alt = "prores_4444" if like.chroma == "444" or like.has_alpha else "prores"
            log.info("output %s: the input's %s cannot go into %s; writing %s", path, fam, ext, alt)
            fam = alt
        elif fam == "h265" and _x265_too_small(like):
            fam = "h264"  # an H.265 input this small: x265 would crash (see X265_MIN_SIZE)
    if fam == "h265" and _x265_too_small(like):
        raise ConfigError(f"output {path}: {like.width}x{like.height} is too small for H.265 (x265 crashes below "
                          f"{X265_MIN_SIZE[0]}x{X265_MIN_SIZE[1]}); use --codec h264, prores or ffv1")
    if ext in (".mp4", ".m4v") and fam not in MP4_CODECS:
        raise OutputError(f"output {path}: codec {fam} cannot be stored in {ext}; write .mov or .mkv, "
                          "or pass --codec h264/h265")
    if ext in MOV_EXTS and fam not in MOV_CODECS:
        raise OutputError(f"output {path}: codec {fam} cannot be stored in {ext}; write .mkv, "
                          "or pass --codec prores/prores_4444/h264/h265")
    return fam


#: chroma subsampling -> (horizontal, vertical) factor
_SUBSAMPLING = {"420": (2, 2), "422": (2, 1), "440": (1, 2), "411": (4, 1), "410": (4, 2)}


def _fits(chroma: Optional[str], width: int, height: int) -> bool:
    """Whether a frame size can be stored with this chroma subsampling (a size that is not a
    multiple of the factor has no whole chroma sample for its last columns/rows)."""
    sx, sy = _SUBSAMPLING.get(chroma or "", (1, 1))
    return width % sx == 0 and height % sy == 0


def resolve_pix_fmt(family: str, like: ClipInfo, pix_fmt: Optional[str], path: str) -> str:
    """Keep the input's bit depth, chroma and alpha where the encoder allows; validate overrides.

    An odd frame size cannot be chroma-subsampled: 'auto' then writes 4:4:4 (with a warning), an
    explicit subsampled `pix_fmt` is refused with a message instead of the encoder's generic error.
    """
    encoder = ENCODERS[family]
    supported = [f.name for f in av.codec.Codec(encoder, "w").video_formats or []]
    w, h = like.width, like.height
    if pix_fmt:
        if pix_fmt not in supported:
            raise ConfigError(f"'output.pix_fmt' {pix_fmt} is not supported by {encoder}; "
                              f"expected one of {', '.join(supported)}")
        pf = pixfmt_info(pix_fmt)
        if pf.big_endian or not pf.planar or pf.is_float:
            raise ConfigError(f"'output.pix_fmt' {pix_fmt}: only planar YUV/GBR formats are written")
        if not _fits(pf.chroma, w, h):
            raise ConfigError(f"'output.pix_fmt' {pix_fmt} cannot store a {w}x{h} frame (odd size with "
                              f"{pf.chroma} chroma); use a 4:4:4 format such as yuv444p or leave --pix-fmt unset")
        return pix_fmt
    if family.startswith("prores"):
        if family == "prores_4444" or like.chroma == "444" or like.has_alpha or not _fits("422", w, h):
            return "yuva444p10le" if like.has_alpha else "yuv444p10le"
        return "yuv422p10le"
    chroma = like.chroma if like.chroma in ("420", "422", "444") else ("444" if family == "ffv1" else "420")
    if not _fits(chroma, w, h):
        log.warning("%s: the frame is %dx%d (odd), which %s chroma cannot store; writing 4:4:4", path, w, h, chroma)
        chroma = "444"
    depth = like.bit_depth if like.bit_depth else 8
    depths = [8, 9, 10, 12, 14, 16]
    want_alpha = like.has_alpha
    for alpha in ((True, False) if want_alpha else (False,)):
        names = []
        for d in depths:
            base = f"yuv{'a' if alpha else ''}{chroma}p" + ("" if d == 8 else f"{d}le")
            if base in supported:
                names.append((d, base))
        if not names:
            continue
        if want_alpha and not alpha:
            log.warning("%s: %s cannot store alpha; the alpha channel is dropped (use prores_4444 or ffv1)",
                        path, encoder)
        at_least = [n for d, n in names if d >= depth]
        return at_least[0] if at_least else names[-1][1]
    raise ConfigError(f"{encoder} cannot write {chroma} chroma; pass --pix-fmt (one of {', '.join(supported)})")


class VideoWriter:
    """Encode frames into a video file written atomically (temp file beside it, renamed on close)."""

    def __init__(self, path: str, like: ClipInfo, *, codec: str = "auto", pix_fmt: Optional[str] = None,
                 transfer: str = "auto", crf: Optional[int] = None, audio_from: Optional[str] = None,
                 overwrite: bool = False, audio_codec: str = "auto", segment: bool = False) -> None:
        self.path = path
        self.like = like
        self.segment = segment  # a farm chunk: the join records container-level flags once
        self.final = atomic.check_output_path(path, overwrite=overwrite, inputs=(like.path, audio_from or ""))
        self.overwrite = overwrite
        self.family = resolve_codec(codec, like, path)
        self.pix_fmt = resolve_pix_fmt(self.family, like, pix_fmt, path)
        self.transfer = like.transfer if transfer in (None, "", "auto") else transfer
        if transfer in (None, "", "auto") and self.transfer == "linear":
            # Scene-linear sources (EXR) would band badly as linear integer video: encode BT.709.
            self.transfer = "bt709"
        if self.transfer not in colour.TRANSFERS:
            raise ConfigError(f"'output.transfer' {transfer!r} unknown; expected one of {', '.join(colour.TRANSFERS)}")
        self.crf = crf
        self.pf = pixfmt_info(self.pix_fmt)
        # RGB sources (images) say "pc"; for a YUV output only a YUV source's range is meaningful.
        yuv_source = like.chroma in ("420", "422", "444", "440", "411", "410", "gray")
        self.color_range = "pc" if self.pf.is_rgb else ((like.color_range or "tv") if yuv_source else "tv")
        self.matrix = "rgb" if self.pf.is_rgb else (
            like.matrix if like.matrix in colour.MATRIX_COEFFS else
            ("bt2020nc" if like.primaries == "bt2020" else "bt709"))
        self.audio_from = audio_from
        self._audio_in: Any = None
        # per input audio stream: encode to AAC (PCM into MP4) or copy; refusals happen here, early
        self._audio_aac = audio_plan(audio_from, path, audio_codec, announce=True) if audio_from else []
        self._out: Any = None
        self._tmp: Optional[str] = None
        self._vs: Any = None
        self._first_index: Optional[int] = None
        self._last_index = -1
        self._last_pts = -1
        self._t0 = 0.0
        self._use_times = True
        self._step = 1
        self._count = 0
        self._audio_iter: Optional[Iterator[Any]] = None
        self._audio_pending: Any = None
        self._audio_map: dict[int, Any] = {}
        self._audio_t0 = 0.0
        self._held: list[Frame] = []  # first frames of an H.265 stream, until its length is known
        self._no_bframes = False
        self.closed = False

    # -- audio ------------------------------------------------------------------------------

    def _open_audio(self) -> None:
        if not self.audio_from:
            return
        try:
            ain = av.open(self.audio_from, "r")
        except (av.error.FFmpegError, OSError):
            return
        if not ain.streams.audio:
            ain.close()
            return
        self._audio_in = ain
        for k, a in enumerate(ain.streams.audio):
            try:
                aac = k < len(self._audio_aac) and self._audio_aac[k]
                self._audio_map[a.index] = AacEncoder(self._out, a) if aac else self._out.add_stream_from_template(a)
            except (ValueError, av.error.FFmpegError) as exc:
                raise OutputError(f"output {self.path}: audio stream {a.index} ({a.codec_context.name}) cannot be "
                                  f"stored in {_container_ext(self.path)} ({_ffmsg(exc)}); use .mov or .mkv") from None
        self._audio_iter = iter(ain.demux(*ain.streams.audio))

    def _pump_audio(self, until: Optional[float]) -> None:
        """Mux audio packets whose start time is before `until` (None: all that remain)."""
        if self._audio_iter is None:
            return
        while True:
            pkt = self._audio_pending
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except StopIteration:
                    self._audio_iter = None
                    return
                except av.error.FFmpegError as exc:
                    raise InputError(f"audio of {self.audio_from} cannot be read ({_ffmsg(exc)})") from None
                if pkt.size == 0 or pkt.pts is None:
                    continue
            t = float(pkt.pts * pkt.time_base)
            end = t + float((pkt.duration or 0) * pkt.time_base)
            if end <= self._audio_t0 and self._audio_t0 > 0:
                self._audio_pending = None
                continue  # before the first written frame
            if until is not None and t >= until:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            if self._audio_t0 > 0:
                shift = int(round(self._audio_t0 / float(pkt.time_base)))
                pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
            target = self._audio_map[pkt.stream.index]
            try:
                if isinstance(target, AacEncoder):
                    target.feed(pkt)
                else:
                    pkt.stream = target
                    self._out.mux(pkt)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(f"output {self.path}: audio cannot be written into {_container_ext(self.path)} "
                                  f"({_ffmsg(exc)}); use .mkv, --audio-codec aac or --no-audio") from None

    def _finish_audio(self) -> None:
        """Drain the AAC encoders (copied streams need nothing)."""
        for target in self._audio_map.values():
            if isinstance(target, AacEncoder):
                try:
                    target.flush()
                except (av.error.FFmpegError, ValueError) as exc:
                    raise OutputError(f"output {self.path}: cannot finish the AAC audio ({_ffmsg(exc)})") from None

    # -- video ------------------------------------------------------------------------------
    def _open(self, frame: Frame) -> None:
        self._tmp = atomic.temp_path_for(self.final)
        try:
            self._out = av.open(self._tmp, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"output {self.path}: cannot create container ({_ffmsg(exc)})") from None
        fps = Fraction(self.like.fps).limit_denominator(1001000)
        encoder = ENCODERS[self.family]
        opts: dict[str, str] = {}
        if encoder == "libx264":
            opts = {"crf": str(12 if self.crf is None else self.crf), "preset": "medium"}
        elif encoder == "libx265":
            x265 = ["log-level=error"] + (["bframes=0"] if self._no_bframes else [])
            md, cll = self.like.metadata.get("hdr.master_display"), self.like.metadata.get("hdr.max_cll")
            if self.transfer == "pq" and md:  # carry HDR10 static metadata as SEI (ST 2086 / CTA-861.3)
                x265 += ["hdr10=1", f"master-display={md}"] + ([f"max-cll={cll}"] if cll else [])
            opts = {"crf": str(14 if self.crf is None else self.crf), "preset": "medium", "x265-params": ":".join(x265)}
        elif encoder == "prores_ks":
            prof = "4444" if self.pf.chroma == "444" else "hq"
            if self.like.codec == "prores" and (self.like.profile or "").lower().replace(" ", "") in ("4444xq",):
                prof = "4444xq"
            opts = {"profile": str(PRORES_PROFILES[prof]), "vendor": "apl0"}
            if self.pf.has_alpha:
                opts["alpha_bits"] = "16"
        elif encoder == "ffv1":
            opts = {"level": "3", "slicecrc": "1", "g": "1"}
        try:
            vs = self._out.add_stream(encoder, rate=fps, options=opts)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"output {self.path}: cannot add a {encoder} stream ({_ffmsg(exc)})") from None
        vs.width, vs.height = frame.width, frame.height
        if self.like.pixel_aspect != 1:  # non-square pixels: keep the display geometry (MOV/MP4 pasp, SPS VUI)
            vs.codec_context.sample_aspect_ratio = Fraction(self.like.pixel_aspect)
        vs.codec_context.thread_type = "AUTO"  # slice/frame threads: ProRes and FFV1 encode in parallel
        vs.codec_context.thread_count = 0
        vs.pix_fmt = self.pix_fmt
        # Keep the input's time base (and so its exact timestamps, VFR included); 1/fps otherwise.
        tb = Fraction(1, 1) / fps
        if self.like.kind == "video" and self.like.time_base and 0 < Fraction(self.like.time_base) <= tb:
            tb = Fraction(self.like.time_base)
        vs.codec_context.time_base = tb
        cc = vs.codec_context
        tag_trc = TRANSFER_TO_TAG[self.transfer]
        if self.transfer == "bt709" and self.like.transfer_tag in ("smpte170m", "bt2020-10", "bt2020-12", "bt1361e"):
            tag_trc = self.like.transfer_tag  # same curve, keep the input's exact tag
        cc.color_trc = TRC_IDS.get(tag_trc, 2)
        cc.color_primaries = PRIMARIES_IDS.get(self.like.primaries or "", 2)
        cc.colorspace = 0 if self.pf.is_rgb else MATRIX_IDS.get(self.matrix, 2)
        cc.color_range = RANGE_IDS.get(self.color_range, 0)
        if self.like.timecode:
            tc = self.like.timecode
            if frame.index and self.like.kind == "video":  # output starts mid-clip: its own start timecode
                try:
                    tc = add_frames(tc, frame.index, self.like.fps)
                except ValueError:
                    log.warning("%s: timecode %r not understood; copied unchanged", self.path, tc)
            self._out.metadata["timecode"] = tc
            vs.metadata["timecode"] = tc
        self._vs = vs
        self._tb = tb
        self._step = max(1, int(round(1 / (fps * tb))))  # one frame duration in ticks
        self._open_audio()

    def write(self, frame: Frame) -> None:
        if self.closed:
            raise OutputError(f"output {self.path}: write after close")
        try:
            if ENCODERS[self.family] == "libx265" and self._out is None:
                # libx265 gives the packets of a stream shorter than its B-frame reordering
                # garbage DTS at the flush (the muxer then fails); hold the first frames until
                # the stream is known to be long enough, else encode them without B-frames.
                self._held.append(frame)
                if len(self._held) >= X265_SHORT_STREAM:
                    self._release_held(short=False)
                return
            self._write(frame)
        except BaseException:
            self.abort()
            raise

    def _release_held(self, short: bool) -> None:
        self._no_bframes = short
        held, self._held = self._held, []
        for f in held:
            self._write(f)

    def _write(self, frame: Frame) -> None:
        if self._out is None:
            self._first_index = frame.index
            # Source time of the first written frame: its timestamp, else its index at the frame rate.
            self._t0 = float(frame.time) if frame.time > 0 else float(frame.index / self.like.fps)
            self._use_times = frame.time > 0 or frame.index == 0
            self._audio_t0 = max(0.0, self._t0)
            self._open(frame)
        if (frame.width, frame.height) != (self._vs.width, self._vs.height):
            raise OutputError(f"output {self.path}: frame {frame.index} is {frame.width}x{frame.height}, "
                              f"expected {self._vs.width}x{self._vs.height}")
        if not np.isfinite(frame.rgb).all():
            raise OutputError(f"output {self.path}: frame {frame.index} contains NaN/inf pixels")
        code = colour.from_linear(frame.rgb, self.transfer)
        vf = encode_from_code(code, frame.alpha, self.pix_fmt, self.matrix, self.color_range)
        vf.pts = self._pts_for(frame)
        vf.time_base = self._tb
        vf.color_range = RANGE_IDS.get(self.color_range, 0)
        vf.colorspace = self._vs.codec_context.colorspace
        vf.color_trc = self._vs.codec_context.color_trc
        vf.color_primaries = self._vs.codec_context.color_primaries
        try:
            for pkt in self._vs.encode(vf):
                self._out.mux(pkt)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"output {self.path}: frame {frame.index} cannot be encoded/written ({_ffmsg(exc)})") from None
        self._count += 1
        self._last_index = frame.index
        self._pump_audio(self._audio_t0 + float((vf.pts + self._step) * self._tb))

    def _pts_for(self, frame: Frame) -> int:
        """Output pts: the frame's own timestamp relative to the first (VFR kept); if timestamps are
        missing or not increasing, frame-rate spacing from the index."""
        pts = int(round((float(frame.time) - self._t0) / float(self._tb))) if self._use_times else -1
        by_index = (frame.index - (self._first_index or 0)) * self._step
        if pts <= self._last_pts:
            pts = max(by_index, self._last_pts + self._step)
            self._use_times = False
        self._last_pts = pts
        return pts

    def close(self) -> None:
        """Flush, finalise and atomically rename onto the final path."""
        if self.closed:
            return
        if self._held:
            try:
                self._release_held(short=True)
            except BaseException:
                self.abort()
                raise
        if self._out is None:
            self.closed = True
            raise OutputError(f"output {self.path}: no frames were written")
        try:
            try:
                for pkt in self._vs.encode(None):
                    self._out.mux(pkt)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(f"output {self.path}: cannot finish encoding ({_ffmsg(exc)})") from None
            to_end = self.like.n_frames is None or self._last_index >= self.like.n_frames - 1
            self._pump_audio(None if to_end else self._audio_t0 + float((self._last_pts + self._step) * self._tb))
            self._finish_audio()
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as exc:
                raise OutputError(f"output {self.path}: cannot finalise ({_ffmsg(exc)})") from None
            self._out = None
            if self._audio_in is not None:
                self._audio_in.close()
                self._audio_in = None
            self._record_pixel_aspect()
            if os.path.exists(self.final) and not self.overwrite:
                raise OutputError(f"output {self.path} appeared while writing; pass --overwrite to replace it")
            atomic.commit(self._tmp, self.final)  # type: ignore[arg-type]
            self._tmp = None
            self.closed = True
        except BaseException:
            self.abort()
            raise

    def _record_pixel_aspect(self) -> None:
        """Matroska keeps a pixel aspect only in its own track header, which PyAV cannot set:
        H.264/H.265 carry one in their bitstream too, FFV1 and ProRes in .mkv need a copy pass."""
        p = Fraction(self.like.pixel_aspect)
        if (p == 1 or self.segment or self.family in ("h264", "h265")
                or _container_ext(self.path) not in (".mkv", ".webm")):
            return
        from .concat import record_pixel_aspect

        fixed = atomic.temp_path_for(self.final)
        try:
            record_pixel_aspect(self._tmp, fixed, p)  # type: ignore[arg-type]
            os.replace(fixed, self._tmp)  # type: ignore[arg-type]
        except BaseException:
            atomic.discard(fixed)
            raise

    def abort(self) -> None:
        """Drop everything written so far; the final name is never touched."""
        self.closed = True
        for c in (self._out, self._audio_in):
            if c is not None:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - best effort while already failing
                    pass
        self._out = self._audio_in = None
        self._held = []
        atomic.discard(self._tmp)
        self._tmp = None

    @property
    def frames_written(self) -> int:
        return self._count

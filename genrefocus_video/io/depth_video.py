"""Disparity as a lossless 16-bit video: what ``--depth-out depth.mkv`` writes and ``--depth depth.mkv`` reads.

FFV1 in Matroska, pixel format gray16le: one 16-bit plane per frame, stored losslessly. A pixel
holds a code q in 0..65535 and the disparity is ``d = q·scale + offset``; scale and offset are
written as container tags (:data:`TAG_SCALE`, :data:`TAG_OFFSET`, exact decimal doubles), with
:data:`TAG_FIRST`, the clip frame index of the video's first frame (``--first-frame``), so frame i
of the video is clip frame first + i, and :data:`TAG_FRAMES`, the clip frames it spans (Matroska
stores no frame count).

Quantisation (chosen per clip, :meth:`DisparityCoding.for_range`): offset = the smallest disparity
of the clip, scale = (largest − smallest) / 65535, so the codes span exactly the clip's range and
a decoded disparity lies within scale/2 of the one rendered: the error is at most
(max − min)/131070, 7.6e-6 of the clip's disparity range (plus the float32 rounding of the decoded
value, half an ulp). The codes themselves round-trip exactly
(FFV1 is lossless). A constant disparity is stored exactly (scale 0). For the exact float32
disparity, write an EXR sequence instead (io/depth_export.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from ..errors import InputError, OutputError

TAG_SCALE = "genrefocus_disparity_scale"
TAG_OFFSET = "genrefocus_disparity_offset"
TAG_FIRST = "genrefocus_first_frame"
TAG_FRAMES = "genrefocus_frames"
CODES = 65535
PIX_FMT = "gray16le"


@dataclass(frozen=True)
class DisparityCoding:
    """d = q·scale + offset for 16-bit codes q; `first`: the clip frame of the video's first frame;
    `frames`: the clip frames the video spans (None: unknown)."""

    scale: float
    offset: float
    first: int = 0
    frames: Optional[int] = None

    @classmethod
    def for_range(cls, lo: float, hi: float, first: int = 0, frames: Optional[int] = None) -> "DisparityCoding":
        """Codes spanning [lo, hi]: error at most (hi − lo)/131070."""
        if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
            raise OutputError(f"disparity range {lo}..{hi} cannot be coded in 16 bits (not finite)")
        return cls((hi - lo) / CODES, float(lo), int(first), frames)

    @property
    def max_error(self) -> float:
        """The largest |decoded − rendered| disparity: half a code step."""
        return self.scale / 2

    def encode(self, disparity: np.ndarray) -> np.ndarray:
        """uint16 codes of an H×W disparity (nearest code; values outside the range are clipped)."""
        d = np.asarray(disparity, dtype=np.float64) - self.offset
        if self.scale == 0.0:
            return np.zeros(d.shape, np.uint16)
        return np.clip(np.rint(d / self.scale), 0, CODES).astype(np.uint16)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 disparity of codes."""
        return (np.asarray(codes, dtype=np.float64) * self.scale + self.offset).astype(np.float32)

    def tags(self) -> dict[str, str]:
        tags = {TAG_SCALE: repr(float(self.scale)), TAG_OFFSET: repr(float(self.offset)), TAG_FIRST: str(self.first)}
        if self.frames is not None:
            tags[TAG_FRAMES] = str(self.frames)
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], path: str) -> Optional["DisparityCoding"]:
        """The coding in a container's tags (any case), None when the file has none; InputError (one
        line) for tags that are there but unreadable."""
        low = {str(k).lower(): v for k, v in tags.items()}
        if TAG_SCALE not in low and TAG_OFFSET not in low:
            return None
        try:
            scale, offset = float(low[TAG_SCALE]), float(low[TAG_OFFSET])
            first = int(low.get(TAG_FIRST, 0))
            frames = int(low[TAG_FRAMES]) if TAG_FRAMES in low else None
        except (KeyError, ValueError):
            raise InputError(f"depth {path}: its {TAG_SCALE}/{TAG_OFFSET} tags are incomplete or not numbers "
                             f"({ {k: low.get(k) for k in (TAG_SCALE, TAG_OFFSET, TAG_FIRST)} })") from None
        if not (math.isfinite(scale) and math.isfinite(offset) and scale >= 0 and first >= 0 and (frames or 1) > 0):
            raise InputError(f"depth {path}: disparity coding scale={scale} offset={offset} first={first} "
                             f"frames={frames} is invalid")
        return cls(scale, offset, first, frames)


def read_coding(path: str) -> Optional[DisparityCoding]:
    """The disparity coding of a video written by ``--depth-out`` (None: a plain depth video)."""
    import av

    try:
        with av.open(path) as c:
            tags = dict(c.metadata)
    except av.error.FFmpegError as exc:
        raise InputError(f"depth {path} is not a readable video ({exc})") from None
    return DisparityCoding.from_tags(tags, path)


def write_disparity_video(path: str, frames: Iterable[tuple[int, np.ndarray]], coding: DisparityCoding,
                          fps: float, pixel_aspect: float = 1.0) -> int:
    """Write (clip index, H×W disparity) pairs as 16-bit FFV1 in Matroska at `path`, atomically
    (replacing a file there); timestamps from the clip index, so a gap stays a gap. Returns frames."""
    import av

    from .atomic import atomic_output

    rate = Fraction(fps).limit_denominator(1001000)
    n = 0
    with atomic_output(path, overwrite=True) as tmp:
        try:
            with av.open(tmp, "w", format="matroska") as out:
                out.metadata.update(coding.tags())
                stream: Any = None
                for index, d in frames:
                    if stream is None:
                        stream = _open_stream(out, rate, d.shape, pixel_aspect)
                    if d.shape != (stream.height, stream.width):
                        raise OutputError(f"depth out {path}: frame {index} is {d.shape[1]}x{d.shape[0]}, the first "
                                          f"was {stream.width}x{stream.height}")
                    vf = av.VideoFrame.from_ndarray(coding.encode(d), format=PIX_FMT)
                    vf.pts, vf.time_base = index - coding.first, 1 / rate
                    for packet in stream.encode(vf):
                        out.mux(packet)
                    n += 1
                if stream is not None:
                    for packet in stream.encode(None):
                        out.mux(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"depth out {path} cannot be written ({exc})") from None
    return n


def _open_stream(out: Any, rate: Fraction, shape: tuple[int, ...], pixel_aspect: float) -> Any:
    stream = out.add_stream("ffv1", rate=rate)
    stream.height, stream.width = int(shape[0]), int(shape[1])
    stream.pix_fmt = PIX_FMT
    stream.codec_context.time_base = 1 / rate
    if pixel_aspect != 1.0:
        stream.codec_context.sample_aspect_ratio = Fraction(pixel_aspect).limit_denominator(10000)
    return stream

"""The frame and clip records every stage exchanges.

A frame is float32 linear-light RGB (H×W×3, scene-referred, values above 1 legal) with optional
alpha (H×W) beside it; a clip is described once by :class:`ClipInfo`, which the writer uses to keep
the input's codec family, bit depth, chroma, colour tags, frame rate, timecode and audio.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Optional

import numpy as np


@dataclass
class Frame:
    """One decoded frame in linear light."""

    index: int  # 0-based position in the clip (after any frame range is applied: still the clip index)
    rgb: np.ndarray  # float32 H×W×3 linear
    alpha: Optional[np.ndarray] = None  # float32 H×W in [0, 1], straight (not premultiplied)
    time: float = 0.0  # presentation time in seconds from the clip start
    # the source's other channels (EXR AOVs: Z, normals, IDs), passed through unchanged to EXR outputs
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rgb.dtype != np.float32 or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"frame {self.index}: rgb must be float32 H×W×3, got {self.rgb.dtype} {self.rgb.shape}")

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass
class ClipInfo:
    """What a user (and the writer) needs to know about a clip. Unknown values are None."""

    path: str
    kind: str  # "video" | "sequence" | "image"
    width: int
    height: int
    fps: Fraction = Fraction(24, 1)
    time_base: Optional[Fraction] = None
    n_frames: Optional[int] = None  # None when the container does not say
    duration: Optional[float] = None
    container: Optional[str] = None
    codec: Optional[str] = None  # FFmpeg codec name, e.g. "prores", "h264", or image format "exr"
    profile: Optional[str] = None
    pix_fmt: Optional[str] = None  # FFmpeg pixel format of the source, e.g. "yuv422p10le"
    bit_depth: int = 8
    chroma: Optional[str] = None  # "420" | "422" | "444" | None (RGB)
    has_alpha: bool = False
    transfer: str = "srgb"  # resolved transfer used to linearise: linear|srgb|bt709|pq|hlg
    transfer_tag: Optional[str] = None  # what the stream said (e.g. "smpte2084")
    primaries: Optional[str] = None  # e.g. "bt709", "bt2020"
    matrix: Optional[str] = None  # YUV matrix, e.g. "bt709", "bt2020nc"
    color_range: Optional[str] = None  # "tv" | "pc"
    rotation: int = 0  # degrees applied on decode so frames come out upright
    # width / height of one stored pixel on display (FFmpeg's sample aspect ratio, EXR's
    # pixelAspectRatio): 4/3 for HDV 1440x1080, 2 for flagged 2x anamorphic, 10/11 for NTSC DV
    pixel_aspect: Fraction = Fraction(1, 1)
    # scan of the source: "progressive", "tff"/"bff" (interlaced, that field shown first),
    # "interlaced" (flagged per frame only) or None (unknown: stills, sequences)
    field_order: Optional[str] = None
    deinterlaced: bool = False  # frames are deinterlaced on read (io.interlace), so outputs are progressive
    timecode: Optional[str] = None  # start timecode "HH:MM:SS:FF"
    audio_streams: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # container/stream tags
    camera: dict[str, float] = field(default_factory=dict)  # focal_length_mm, f_number, sensor_width_mm, focal_length_35mm

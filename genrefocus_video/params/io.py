"""Input and output sections of the job schema (owned by the I/O layer)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..colour import TRANSFERS as CODED_TRANSFERS
from ..io.audio import AUDIO_CODECS
from ..render.options import LIMITS
from .schema import param

TRANSFERS = ("auto",) + CODED_TRANSFERS  # "auto": read the stream tags
CODECS = ("auto", "h264", "h265", "prores", "prores_4444", "ffv1", "exr", "png", "tiff")


@dataclass
class InputParams:
    """What to read: a clip, an image sequence (`shot.%04d.exr`, a glob) or a single image."""

    path: str = param("", "input clip, image sequence pattern/glob, or image", flag="input")
    transfer: str = param("auto", "transfer function of the input; 'auto' reads the stream tags",
                          flag="input-transfer", choices=TRANSFERS)
    first_frame: int = param(0, "first frame index to process (0-based)", min=0)
    last_frame: Optional[int] = param(None, "last frame index to process, inclusive (default: the end)", min=0)
    fps: Optional[float] = param(None, "frame rate for image-sequence inputs (default 24)", min=0.001)
    pixel_aspect: Optional[float] = param(None, "width/height of one stored pixel on display (4:3 HDV = 1.3333, "
                                          "2x anamorphic = 2); default: what the file says, else square",
                                          flag="pixel-aspect", min=LIMITS["pixel_aspect"][0],
                                          max=LIMITS["pixel_aspect"][1])
    deinterlace: str = param("auto", "interlaced video: 'auto' deinterlaces frames flagged interlaced (FFmpeg's "
                             "bwdif, one frame per frame; the output is progressive), 'on' every frame, 'off' none",
                             choices=("auto", "on", "off"))
    allow_truncated: bool = param(False, "a video holding fewer frames than its header lists (a copy cut short, "
                                  "a frame that fails to decode): render the frames that decode, with a warning, "
                                  "instead of stopping with exit 3", flag="allow-truncated")


@dataclass
class OutputParams:
    """What to write. By default the output keeps the input's codec family, bit depth and chroma."""

    path: str = param("", "output clip, image-sequence pattern (e.g. out.####.exr) or image", flag="output")
    codec: str = param("auto", "output codec; 'auto' keeps the input's family, bit depth and chroma "
                       "(ProRes 4:2:2 -> 422 HQ, 4:4:4/alpha -> 4444) where the container can hold it "
                       "(else .mp4 gets H.265 for > 8 bits, H.264 otherwise)", choices=CODECS)
    pix_fmt: Optional[str] = param(None, "FFmpeg pixel format override, e.g. yuv422p10le")
    transfer: str = param("auto", "transfer function of the output; 'auto' = the input's",
                          flag="output-transfer", choices=TRANSFERS)
    crf: Optional[int] = param(None, "quality for H.264/H.265 (lower is better; default: near-lossless)", min=0, max=51)
    exr_half: bool = param(True, "write EXR as half float (else 32-bit float)")
    audio: bool = param(True, "carry the input's audio streams (stream copy; see audio_codec)")
    audio_codec: str = param("auto", "'auto' copies audio, except PCM into .mp4, which becomes AAC 256 kb/s per "
                             "stream; 'copy' refuses that instead; 'aac' encodes every non-AAC stream",
                             flag="audio-codec", choices=AUDIO_CODECS)
    overwrite: bool = param(False, "replace an existing output file")
    before_after: Optional[str] = param(None, "also write a before/after PNG of the middle frame here")
    contact_sheet: Optional[str] = param(None, "also write a contact sheet PNG here: frames across the clip, "
                                         "before | after, with frame, time and focus", flag="contact-sheet")
    contact_frames: int = param(8, "frames on the contact sheet", flag="contact-frames", min=1, max=64)

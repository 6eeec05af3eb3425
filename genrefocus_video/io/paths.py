"""What kind of thing a path names: a video file, a still image, an image sequence, or an unsupported format.

One table for every reader, writer and the pipeline, so that "is this an image sequence?" has one
answer everywhere. A frame-number pattern is printf (``shot.%04d.exr``) or hashes (``shot.####.exr``,
one ``#`` per digit, the same as ``%04d``); a glob (``shot.*.exr``) names an input sequence. A path
with a video container extension, or a file that exists, is never a pattern (``take #1.mp4`` is a
file). DPX and Cineon are film-scan formats that neither the image readers (OpenEXR, OpenCV,
tifffile) nor the writers here handle, so they are refused with one line, on input and output alike.
"""
from __future__ import annotations

import os
import re
from typing import Optional

#: containers read and written through PyAV
VIDEO_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mkv", ".mxf", ".avi", ".webm", ".mts", ".ts", ".y4m", ".nut")
#: still images that can be read (io.images): a single image or the frames of a sequence
IMAGE_EXTENSIONS = (".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".pfm")
#: image formats that can be written (io.images.write_image), by io.images.image_format name
WRITABLE_IMAGE_FORMATS = ("exr", "png", "tiff", "jpeg", "pfm")
#: 'output.codec' values that mean "write images" (the rest are video codecs)
IMAGE_CODECS = ("exr", "png", "tiff")
#: image formats of film pipelines that are recognised but not supported, with what to do instead
UNSUPPORTED_IMAGE_EXTENSIONS = {
    ".dpx": "DPX", ".cin": "Cineon",
}

#: a printf frame number (%d, %04d); group 1 = the width
PRINTF_PATTERN = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+")


def extension(path: str) -> str:
    """The lower-case extension with its dot ('' when there is none)."""
    return os.path.splitext(path)[1].lower()


def is_video_path(path: str) -> bool:
    return extension(path) in VIDEO_EXTENSIONS


def is_image_path(path: str) -> bool:
    """A still image (or one frame of a sequence) by its extension."""
    return extension(path) in IMAGE_EXTENSIONS


def is_exr_path(path: str) -> bool:
    return extension(path) == ".exr"


def normalise_pattern(path: str) -> str:
    """`shot.####.exr` -> `shot.%04d.exr`; printf patterns unchanged."""
    return _HASHES.sub(lambda m: f"%0{len(m.group(0))}d", path)


def is_pattern(path: str) -> bool:
    """A frame-number pattern (%04d, ####) or glob. A video container's name never is one: `take #1.mp4`
    or `shot [final].mov` are files (they were read as sequences and failed); nor is the name of a
    file that exists (a still called `take #1.png`)."""
    if is_video_path(path) or os.path.isfile(path):
        return False
    return bool(PRINTF_PATTERN.search(path) or _HASHES.search(path) or any(c in path for c in "*?["))


def is_image_output(path: str, codec: Optional[str] = "auto") -> bool:
    """Whether an output is written as images (a sequence or one still) rather than a video file:
    the job's output folder layout, segment names and existence checks all follow this answer."""
    return is_pattern(path) or (codec or "auto") in IMAGE_CODECS or is_image_path(path)


def unsupported_reason(path: str) -> Optional[str]:
    """Why a path's format cannot be handled (None when it can)."""
    name = UNSUPPORTED_IMAGE_EXTENSIONS.get(extension(path))
    if name is None:
        return None
    return (f"{name} ({extension(path)}) images are not supported (no reader or writer here); "
            "convert to EXR or 16-bit TIFF, e.g. ffmpeg -i in.%04d.dpx out.%04d.exr")


def path_kind(path: str) -> str:
    """'sequence', 'image', 'video' or 'unsupported': how a path is opened (readers and writers)."""
    if unsupported_reason(path):
        return "unsupported"
    if is_pattern(path):
        return "sequence"
    if is_image_path(path):
        return "image"
    return "video"

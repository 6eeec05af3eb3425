"""Disparity out as an EXR sequence: what ``--depth-out`` writes, and what ``--depth`` reads back exactly.

(A ``.mkv`` target is a 16-bit FFV1 video instead, with its scale in the metadata: io/depth_video.py.)

One float32 channel named ``disparity`` (larger = nearer, in the job's units: 1/m for metric
sources), so the depth reader's ``channel="auto"`` picks it (io/depthio.py ``DEPTH_CHANNELS``) and
a compositor shows it by name. float32 holds the renderer's disparity bit for bit: reading it back
with ``--depth-kind disparity`` gives the identical array. The file for clip frame i is
``pattern % i`` (the source frame index), so a chunked, Ray or farm run writes the same files as
one pass. Each file is written atomically (io/atomic.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, OutputError
from .atomic import atomic_output
from .paths import PRINTF_PATTERN, extension, normalise_pattern

#: the EXR channel name: one of the names the depth reader takes as depth
CHANNEL = "disparity"


def is_depth_video(path: str) -> bool:
    """``--depth-out`` names one 16-bit FFV1 video (io/depth_video.py) rather than an EXR sequence."""
    return extension(path) == ".mkv"


def check_depth_out(path: str) -> str:
    """The printf form of a valid ``depth.out`` EXR pattern, or the .mkv path itself; ConfigError (one line)
    otherwise."""
    if is_depth_video(path):
        if PRINTF_PATTERN.findall(normalise_pattern(path)):
            raise ConfigError(f"'depth.out' {path!r}: a .mkv depth video is one file; drop the frame number")
        return path
    pat = normalise_pattern(path)
    if extension(path) != ".exr" or len(PRINTF_PATTERN.findall(pat)) != 1:
        stem = path.rsplit(".", 1)[0] if "." in path else path
        raise ConfigError(f"'depth.out' {path!r}: expected an EXR sequence pattern with one frame number, such as "
                          f"{stem.split('%')[0].rstrip('.#')}.%04d.exr (float32 disparity, one file per frame), or "
                          f"a .mkv file such as {stem.split('%')[0].rstrip('.#')}.mkv (16-bit FFV1, scale in its metadata)")
    return pat


def depth_out_file(pattern: str, index: int) -> str:
    """The file of clip frame `index` (its source frame number)."""
    return normalise_pattern(pattern) % index


def write_disparity_exr(path: str, disparity: np.ndarray, pixel_aspect: float = 1.0) -> None:
    """Write H×W disparity as a float32 single-channel EXR at `path`, atomically (replacing a file there)."""
    import OpenEXR

    d = np.ascontiguousarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise OutputError(f"depth out {path}: expected an H×W disparity, got shape {d.shape}")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if pixel_aspect != 1.0:
        header["pixelAspectRatio"] = float(pixel_aspect)
    with atomic_output(path, overwrite=True) as tmp:
        try:
            with OpenEXR.File(header, {CHANNEL: d}) as f:
                f.write(tmp)
        except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain exceptions
            raise OutputError(f"depth out {path} cannot be written ({exc})") from None

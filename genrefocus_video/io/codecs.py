"""Video codec policy: which encoder and pixel format an output gets, and which containers hold which codec.

'auto' keeps the input's codec family, bit depth, chroma and alpha wherever the output container
and encoder allow it, and otherwise picks the nearest thing the container can hold (with a log
line saying so). Explicit choices that cannot work are refused here, before any frame is rendered.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import av

from ..errors import ConfigError, OutputError
from .audio import MOV_EXTS
from .frame import ClipInfo
from .pixels import pixfmt_info

log = logging.getLogger(__name__)

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


def x265_too_small(like: ClipInfo) -> bool:
    return like.width < X265_MIN_SIZE[0] or like.height < X265_MIN_SIZE[1]


def container_ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def resolve_codec(codec: str, like: ClipInfo, path: str) -> str:
    """'auto' keeps the input's family; an input family we cannot write picks a container default."""
    ext = container_ext(path)
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
            alt = "h265" if like.bit_depth > 8 and not x265_too_small(like) else "h264"
            log.info("output %s: the input's %s cannot go into %s; writing %s", path, fam, ext, alt)
            fam = alt
        elif ext in MOV_EXTS and fam not in MOV_CODECS:
            # FFV1 (lossless masters) has no place in QuickTime: ProRes, 4444 where the source has
            # full-resolution chroma or alpha
            alt = "prores_4444" if like.chroma == "444" or like.has_alpha else "prores"
            log.info("output %s: the input's %s cannot go into %s; writing %s", path, fam, ext, alt)
            fam = alt
        elif fam == "h265" and x265_too_small(like):
            fam = "h264"  # an H.265 input this small: x265 would crash (see X265_MIN_SIZE)
    if fam == "h265" and x265_too_small(like):
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

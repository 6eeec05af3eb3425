"""Pixel-format plumbing between FFmpeg planes and float32 linear RGB, without 8-bit detours.

Decode: integer Y'CbCr planes are read straight from the AVFrame buffers (any bit depth, any
stride), chroma is upsampled in float, the BT.601/709/2020 matrix and tv/pc range are applied in
numpy (:mod:`genrefocus_video.colour`), then the transfer function is inverted. Encode is the exact
mirror. Because nothing is quantised in between, 10-bit 4:4:4 in → float → 10-bit out is exact to
within rounding (≤ 1 code value).

Chroma siting follows the MPEG-2/H.264/HEVC default ("left"): horizontally co-sited with even
luma samples, vertically (4:2:0) centred between two luma rows. Downsampling uses the matching
[1 2 1]/4 horizontal and [1 1]/2 vertical filters; upsampling is the matching linear interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import av
import numpy as np

from .. import colour

# FFmpeg enum values (libavutil/pixfmt.h) -> our names.
TRC_NAMES = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
             14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
PRIMARIES_NAMES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
                   9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
MATRIX_NAMES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 14: "ictcp"}
RANGE_NAMES = {1: "tv", 2: "pc"}

#: transfer tag -> the transfer we linearise with.
TAG_TO_TRANSFER = {"bt709": "bt709", "smpte170m": "bt709", "bt1361e": "bt709", "bt2020-10": "bt709",
                   "bt2020-12": "bt709", "smpte240m": "bt709", "iec61966-2-1": "srgb", "srgb": "srgb",
                   "linear": "linear", "smpte2084": "pq", "arib-std-b67": "hlg"}
#: our transfer -> the tag written on output.
TRANSFER_TO_TAG = {"bt709": "bt709", "srgb": "iec61966-2-1", "linear": "linear", "pq": "smpte2084",
                   "hlg": "arib-std-b67"}


def _inv(d: dict[int, str]) -> dict[str, int]:
    return {v: k for k, v in d.items()}


TRC_IDS, PRIMARIES_IDS, MATRIX_IDS = _inv(TRC_NAMES), _inv(PRIMARIES_NAMES), _inv(MATRIX_NAMES)
MATRIX_IDS.update({"bt601": 6, "bt2020": 9})
RANGE_IDS = {"tv": 1, "pc": 2}


@dataclass(frozen=True)
class PixFmt:
    """What matters about an FFmpeg pixel format for conversion."""

    name: str
    bit_depth: int
    chroma: Optional[str]  # "420" | "422" | "444" | "440" | "411" | "410" | "gray" | None for RGB
    has_alpha: bool
    is_rgb: bool
    is_float: bool
    planar: bool
    big_endian: bool


@lru_cache(maxsize=None)
def pixfmt_info(name: str) -> PixFmt:
    """Describe an FFmpeg pixel format from its descriptor (no decoding)."""
    fmt = av.VideoFormat(name, 16, 16)
    comps = list(fmt.components)
    bits = max(c.bits for c in comps)
    has_alpha = any(c.is_alpha for c in comps)
    is_float = "f32" in name or "f16" in name
    # Fully planar = one plane per component (nv12/p010 are "planar" to FFmpeg but share a plane).
    planar = len({c.plane for c in comps}) == len(comps) and len(comps) > 1 or len(comps) == 1
    colour_comps = [c for c in comps if not c.is_alpha]
    chroma: Optional[str]
    if fmt.is_rgb:
        chroma = None
    elif len(colour_comps) < 3:
        chroma = "gray"
    else:
        sx, sy = 16 // colour_comps[1].width, 16 // colour_comps[1].height
        chroma = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411",
                  (4, 4): "410"}.get((sx, sy), f"{sx}x{sy}")
    return PixFmt(name, bits, chroma, has_alpha, bool(fmt.is_rgb), is_float, planar, bool(fmt.is_big_endian))


# ---------------------------------------------------------------------------------------- planes
def _dtype(bits: int, big_endian: bool, is_float: bool = False) -> np.dtype:
    if is_float:
        return np.dtype(">f4" if big_endian else "<f4")
    if bits <= 8:
        return np.dtype(np.uint8)
    return np.dtype(">u2" if big_endian else "<u2")


def read_plane(plane: "av.video.plane.VideoPlane", dtype: np.dtype) -> np.ndarray:
    """A plane's pixels as an H×W array (strides removed), native byte order."""
    buf = np.frombuffer(plane, dtype=dtype)
    per_row = plane.line_size // dtype.itemsize
    arr = buf[: per_row * plane.height].reshape(plane.height, per_row)[:, : plane.width]
    return arr.astype(dtype.newbyteorder("="), copy=True) if dtype.byteorder == ">" else arr


def write_plane(plane: "av.video.plane.VideoPlane", arr: np.ndarray) -> None:
    """Copy an H×W array (already the plane's dtype) into a plane, honouring its line size."""
    itemsize = arr.dtype.itemsize
    per_row = plane.line_size // itemsize
    rows = plane.buffer_size // plane.line_size
    padded = np.zeros((rows, per_row), dtype=arr.dtype)
    padded[: arr.shape[0], : arr.shape[1]] = arr
    plane.update(padded.tobytes())


# ------------------------------------------------------------------------------ chroma resampling
def _factors(chroma: str) -> tuple[int, int]:
    return {"444": (1, 1), "422": (2, 1), "420": (2, 2), "440": (1, 2), "411": (4, 1), "410": (4, 4)}[chroma]


def _up2_cosited(c: np.ndarray) -> np.ndarray:
    """×2 along axis 1, chroma at even positions: odd samples are the mean of their neighbours."""
    h, n = c.shape
    out = np.empty((h, 2 * n), np.float32)
    out[:, 0::2] = c
    out[:, 1:-1:2] = 0.5 * (c[:, :-1] + c[:, 1:])
    out[:, -1] = c[:, -1]
    return out


def _up2_centred(c: np.ndarray) -> np.ndarray:
    """×2 along axis 0, chroma centred between row pairs: weights 3/4, 1/4 (edges clamped)."""
    n, w = c.shape
    prev = np.concatenate([c[:1], c[:-1]], axis=0)
    nxt = np.concatenate([c[1:], c[-1:]], axis=0)
    out = np.empty((2 * n, w), np.float32)
    out[0::2] = 0.75 * c + 0.25 * prev
    out[1::2] = 0.75 * c + 0.25 * nxt
    return out


def upsample_chroma(c: np.ndarray, width: int, height: int, chroma: str) -> np.ndarray:
    """Chroma plane -> luma size by linear interpolation at the standard chroma sample sites."""
    sx, sy = _factors(chroma)
    c = c.astype(np.float32, copy=False)
    if sx == 2 and sy in (1, 2):  # fast path for 4:2:2 / 4:2:0 (same result as the general one)
        c = _up2_cosited(c)
        if sy == 2:
            c = _up2_centred(c)
        return c[:height, :width]
    if sx > 1:  # co-sited with luma x = sx*j
        xs = np.arange(width, dtype=np.float32) / sx
        j0 = np.floor(xs).astype(np.int64)
        f = (xs - j0)[None, :]
        j0 = np.clip(j0, 0, c.shape[1] - 1)
        j1 = np.clip(j0 + 1, 0, c.shape[1] - 1)
        c = c[:, j0] * (1 - f) + c[:, j1] * f
    if sy > 1:  # centred between luma rows
        ys = (np.arange(height, dtype=np.float32) + 0.5) / sy - 0.5
        i0 = np.floor(ys).astype(np.int64)
        f = (ys - i0)[:, None]
        i0c = np.clip(i0, 0, c.shape[0] - 1)
        i1c = np.clip(i0 + 1, 0, c.shape[0] - 1)
        c = c[i0c, :] * (1 - f) + c[i1c, :] * f
    return c[:height, :width]


def downsample_chroma(c: np.ndarray, chroma: str) -> np.ndarray:
    """Luma-size chroma -> subsampled plane with the filters matching :func:`upsample_chroma`."""
    sx, sy = _factors(chroma)
    c = c.astype(np.float32, copy=False)
    h, w = c.shape
    if sx == 2:
        p = np.pad(c, ((0, 0), (1, 1)), mode="edge")
        c = (0.25 * p[:, 0:-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:])[:, ::2]
    elif sx > 2:
        c = c[:, ::sx]
    if sy == 2:
        if h % 2:
            c = np.pad(c, ((0, 1), (0, 0)), mode="edge")
        c = 0.5 * (c[0::2] + c[1::2])
    elif sy > 2:
        c = c[::sy]
    return c


# -------------------------------------------------------------------------------- frame <-> float
PACKED_ORDER = {"rgb24": "RGB", "bgr24": "BGR", "rgba": "RGBA", "bgra": "BGRA", "argb": "ARGB",
                "abgr": "ABGR", "rgb48le": "RGB", "rgba64le": "RGBA", "bgr48le": "BGR", "bgra64le": "BGRA",
                "rgb0": "RGB", "bgr0": "BGR", "0rgb": "xRGB", "0bgr": "xBGR"}


def decode_to_code(frame: "av.VideoFrame", matrix: str, color_range: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """An AVFrame -> (normalised R'G'B' code values H×W×3 float32, alpha H×W float32 or None)."""
    pf = pixfmt_info(frame.format.name)
    if pf.chroma == "gray" and not pf.planar:  # ya8/ya16: keep the grey, drop the interleaved alpha
        target = "gray" if pf.bit_depth <= 8 else "gray16le"
        frame = frame.reformat(format=target)
        pf = pixfmt_info(target)
    if not pf.is_rgb and pf.chroma != "gray" and not pf.planar:
        # Semi-planar / packed YUV (nv12, p010, yuyv422...): swscale repacks to planar losslessly.
        target = f"yuv{pf.chroma}p" + ("" if pf.bit_depth <= 8 else f"{min(16, max(10, pf.bit_depth))}le")
        frame = frame.reformat(format=target)
        pf = pixfmt_info(target)
    w, h = frame.width, frame.height
    if pf.is_rgb:
        return _decode_rgb(frame, pf)
    dt = _dtype(pf.bit_depth, pf.big_endian)
    y = read_plane(frame.planes[0], dt)
    if pf.chroma == "gray":
        mid = float(1 << (pf.bit_depth - 1))
        u = v = np.full_like(y, mid, dtype=np.float32)
        alpha_plane = 1
    else:
        u = upsample_chroma(read_plane(frame.planes[1], dt), w, h, pf.chroma)  # type: ignore[arg-type]
        v = upsample_chroma(read_plane(frame.planes[2], dt), w, h, pf.chroma)  # type: ignore[arg-type]
        alpha_plane = 3
    code = colour.yuv_to_rgb(y, u, v, bit_depth=pf.bit_depth, matrix=matrix if matrix in colour.MATRIX_COEFFS else "bt709",
                             color_range=color_range)
    alpha = None
    if pf.has_alpha and len(frame.planes) > alpha_plane:
        alpha = read_plane(frame.planes[alpha_plane], dt).astype(np.float32) / np.float32((1 << pf.bit_depth) - 1)
    return code, alpha


def _decode_rgb(frame: "av.VideoFrame", pf: PixFmt) -> tuple[np.ndarray, Optional[np.ndarray]]:
    name = pf.name
    if pf.planar and name.startswith("gbr"):
        dt = _dtype(pf.bit_depth, pf.big_endian, pf.is_float)
        g, b, r = (read_plane(frame.planes[i], dt) for i in range(3))
        scale = np.float32(1.0) if pf.is_float else np.float32((1 << pf.bit_depth) - 1)
        code = np.stack([r, g, b], axis=-1).astype(np.float32) / scale
        alpha = read_plane(frame.planes[3], dt).astype(np.float32) / scale if pf.has_alpha else None
        return code, alpha
    if name not in PACKED_ORDER:
        name = "rgba64le" if pf.has_alpha else "rgb48le"
        frame = frame.reformat(format=name)
    arr = frame.to_ndarray()
    order = PACKED_ORDER[name]
    scale = np.float32(65535.0 if arr.dtype == np.uint16 else 255.0)
    idx = {ch: i for i, ch in enumerate(order)}
    code = np.stack([arr[..., idx["R"]], arr[..., idx["G"]], arr[..., idx["B"]]], axis=-1).astype(np.float32) / scale
    alpha = arr[..., idx["A"]].astype(np.float32) / scale if "A" in idx else None
    return code, alpha


def encode_from_code(code: np.ndarray, alpha: Optional[np.ndarray], fmt_name: str, matrix: str,
                     color_range: str) -> "av.VideoFrame":
    """Normalised R'G'B' code values (+alpha) -> a new AVFrame in `fmt_name` (planar YUV/GBR)."""
    pf = pixfmt_info(fmt_name)
    h, w = code.shape[:2]
    frame = av.VideoFrame(w, h, fmt_name)
    maxv = (1 << pf.bit_depth) - 1
    dt = np.uint8 if pf.bit_depth <= 8 else np.uint16

    def q(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(x), 0, maxv).astype(dt)

    a_full = None if alpha is None else np.clip(alpha, 0.0, 1.0) * maxv
    if pf.is_rgb:
        if not (pf.planar and fmt_name.startswith("gbr")) or pf.is_float or pf.big_endian:
            raise ValueError(f"pixel format {fmt_name} is not supported for encoding (use planar YUV or gbrp*)")
        planes = [code[..., 1] * maxv, code[..., 2] * maxv, code[..., 0] * maxv]
        if pf.has_alpha:
            planes.append(a_full if a_full is not None else np.full((h, w), maxv, np.float32))
    else:
        if pf.big_endian or not pf.planar:
            raise ValueError(f"pixel format {fmt_name} is not supported for encoding (use planar YUV)")
        y, u, v = colour.rgb_to_yuv(code, bit_depth=pf.bit_depth,
                                    matrix=matrix if matrix in colour.MATRIX_COEFFS else "bt709",
                                    color_range=color_range)
        planes = [y]
        if pf.chroma != "gray":
            planes += [downsample_chroma(u, pf.chroma), downsample_chroma(v, pf.chroma)]  # type: ignore[arg-type]
        if pf.has_alpha:
            planes.append(a_full if a_full is not None else np.full((h, w), maxv, np.float32))
    for plane, data in zip(frame.planes, planes):
        write_plane(plane, q(data))
    return frame

"""Single image files <-> float arrays: EXR (OpenEXR), 16-bit PNG (OpenCV), TIFF (tifffile), 8-bit formats.

Kept separate from sequence handling so depth files can reuse the same readers. Values are
returned as they are stored, normalised to 0..1 for integers (code values, not yet linearised);
floats are returned unchanged. EXR alpha is premultiplied by convention (OpenEXR spec), so it is
un-premultiplied on read and premultiplied on write; everything else stores straight alpha.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import InputError, OutputError

@dataclass
class ImageData:
    """Decoded pixels: H×W×C float32 (C = 1 or 3), optional alpha, what the file stored."""

    pixels: np.ndarray
    alpha: Optional[np.ndarray]
    dtype: str  # "uint8" | "uint16" | "float16" | "float32"
    format: str  # "exr" | "png" | "tiff" | "jpeg" | ...
    pixel_aspect: float = 1.0  # EXR pixelAspectRatio (width / height of a pixel on display)
    # an EXR's other channels (AOVs: Z, normals, motion, IDs), by name, in their stored type
    extra: dict = field(default_factory=dict)


def image_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return {"tif": "tiff", "jpg": "jpeg"}.get(ext, ext)


def read_image(path: str, what: str = "image") -> ImageData:
    """Read one image; InputError naming the file when it is missing or undecodable."""
    if not os.path.exists(path):
        raise InputError(f"{what} {path} does not exist")
    fmt = image_format(path)
    try:
        if fmt == "exr":
            return _read_exr(path)
        if fmt == "pfm":
            return _read_pfm(path)
        if fmt == "tiff":
            import tifffile

            arr = np.asarray(tifffile.imread(path))
        else:
            import cv2

            arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if arr is None:
                raise ValueError("OpenCV cannot decode it")
            if arr.ndim == 3 and arr.shape[2] == 3:
                arr = arr[..., ::-1]
            elif arr.ndim == 3 and arr.shape[2] == 4:
                arr = arr[..., [2, 1, 0, 3]]
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad input file
        raise InputError(f"{what} {path} cannot be read as {fmt} ({' '.join(str(exc).split())})") from None
    return _from_array(apply_exif_orientation(arr, exif_orientation(path)), fmt, path, what)


def exif_orientation(path: str) -> int:
    """EXIF Orientation tag (274) of a still, 1 (upright) when absent or unreadable."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.getexif().get(274, 1) or 1)
    except Exception:  # noqa: BLE001 - no EXIF is the normal case
        return 1


def apply_exif_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright as EXIF Orientation says (same as Pillow's exif_transpose)."""
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.swapaxes(0, 1)
    elif orientation == 6:
        arr = np.rot90(arr, -1)  # stored rotated 90° CCW: turn it 90° clockwise
    elif orientation == 7:
        arr = arr.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def _from_array(arr: np.ndarray, fmt: str, path: str, what: str) -> ImageData:
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar TIFF
    dtype = str(arr.dtype)
    if arr.dtype == np.uint8:
        f = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        f = arr.astype(np.float32) / 65535.0
    elif arr.dtype in (np.float16, np.float32, np.float64):
        f = arr.astype(np.float32)
    else:
        raise InputError(f"{what} {path}: unsupported sample type {arr.dtype} (expected 8/16-bit or float)")
    if f.ndim == 2:
        return ImageData(f[..., None], None, dtype, fmt)
    if f.shape[2] == 1:
        return ImageData(f, None, dtype, fmt)
    if f.shape[2] == 2:  # grey + alpha
        return ImageData(f[..., :1].copy(), f[..., 1].copy(), dtype, fmt)
    alpha = f[..., 3].copy() if f.shape[2] >= 4 else None
    return ImageData(np.ascontiguousarray(f[..., :3]), alpha, dtype, fmt)


def _read_exr(path: str) -> ImageData:
    import OpenEXR

    with OpenEXR.File(path, separate_channels=True) as f:
        ch = {k: v.pixels for k, v in f.channels().items()}
        pixel_aspect = float(f.header().get("pixelAspectRatio") or 1.0)
    names = set(ch)
    dtype = str(next(iter(ch.values())).dtype) if ch else "float32"
    if {"R", "G", "B"} <= names:
        px = np.stack([ch["R"], ch["G"], ch["B"]], axis=-1).astype(np.float32)
        used = {"R", "G", "B"}
    elif "Y" in names:
        px = ch["Y"].astype(np.float32)[..., None]
        used = {"Y"}
    elif len(ch) >= 1:  # e.g. a single "Z" or "depth" channel
        key = "Z" if "Z" in ch else sorted(k for k in ch if k != "A")[0]
        px = ch[key].astype(np.float32)[..., None]
        used = {key}
    else:
        raise ValueError("no channels")
    extra = {k: np.ascontiguousarray(v) for k, v in ch.items() if k not in used | {"A"}}
    alpha = ch["A"].astype(np.float32) if "A" in names else None
    if alpha is not None:
        safe = np.where(alpha > 0, alpha, 1.0).astype(np.float32)
        px = np.where(alpha[..., None] > 0, px / safe[..., None], px).astype(np.float32)
    if not (math.isfinite(pixel_aspect) and pixel_aspect > 0):
        pixel_aspect = 1.0
    return ImageData(np.ascontiguousarray(px), alpha, dtype, "exr", pixel_aspect, extra)


def _read_pfm(path: str) -> ImageData:
    """Portable Float Map: 'PF' (RGB) or 'Pf' (grey), scale < 0 little-endian, rows bottom-to-top."""
    with open(path, "rb") as fh:
        kind = fh.readline().strip()
        if kind not in (b"PF", b"Pf"):
            raise ValueError("not a PFM file (header must be PF or Pf)")
        dims = fh.readline().split()
        w, h = int(dims[0]), int(dims[1])
        scale = float(fh.readline().strip())
        c = 3 if kind == b"PF" else 1
        data = np.fromfile(fh, dtype="<f4" if scale < 0 else ">f4", count=w * h * c)
    if data.size != w * h * c:
        raise ValueError(f"truncated: {data.size} of {w * h * c} values")
    px = np.flipud(data.reshape(h, w, c)).astype(np.float32)
    return ImageData(np.ascontiguousarray(px), None, "float32", "pfm")


def write_image(path: str, pixels: np.ndarray, alpha: Optional[np.ndarray] = None, *, fmt: Optional[str] = None,
                exr_half: bool = True, pixel_aspect: float = 1.0, extra: Optional[dict] = None) -> None:
    """Write H×W×3 (or H×W×1) pixels to `path` (non-atomic: callers go through atomic_output).

    Integers are written from 0..1 values (rounded, clipped); EXR from floats as half or float,
    with `pixel_aspect` in its header (PNG/TIFF/JPEG have no field that compositing apps read) and
    the `extra` channels (an input's AOVs) in their own stored type, untouched.
    """
    fmt = fmt or image_format(path)
    px = pixels if pixels.ndim == 3 else pixels[..., None]
    try:
        if fmt == "exr":
            import OpenEXR

            dt = np.float16 if exr_half else np.float32
            chans: dict[str, np.ndarray] = {}
            if px.shape[2] == 1:
                chans["Y"] = np.ascontiguousarray(px[..., 0].astype(dt))
            else:
                pre = px * alpha[..., None] if alpha is not None else px
                for i, n in enumerate("RGB"):
                    chans[n] = np.ascontiguousarray(pre[..., i].astype(dt))
            if alpha is not None:
                chans["A"] = np.ascontiguousarray(alpha.astype(dt))
            for name, plane in (extra or {}).items():
                if name not in chans:  # never over the rendered colour or alpha
                    chans[name] = np.ascontiguousarray(plane)
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            if pixel_aspect != 1.0:
                header["pixelAspectRatio"] = float(pixel_aspect)
            with OpenEXR.File(header, chans) as f:
                f.write(path)
            return
        if fmt == "pfm":
            c = px.shape[2]
            with open(path, "wb") as fh:
                fh.write(b"PF\n" if c == 3 else b"Pf\n")
                fh.write(f"{px.shape[1]} {px.shape[0]}\n-1.0\n".encode())
                np.flipud(px.astype("<f4")).tofile(fh)
            return
        bits16 = fmt in ("png", "tiff")
        maxv = 65535.0 if bits16 else 255.0
        data = px if alpha is None else np.concatenate([px, alpha[..., None]], axis=-1)
        q = np.clip(np.rint(np.clip(data, 0.0, 1.0) * maxv), 0, maxv).astype(np.uint16 if bits16 else np.uint8)
        if q.shape[2] == 1:
            q = q[..., 0]
        if fmt == "tiff":
            import tifffile

            tifffile.imwrite(path, q, photometric="minisblack" if q.ndim == 2 else "rgb", compression="zlib")
            return
        import cv2

        if q.ndim == 3:
            q = q[..., [2, 1, 0, 3]] if q.shape[2] == 4 else q[..., ::-1]
        if not cv2.imwrite(path, np.ascontiguousarray(q)):
            raise OSError("OpenCV refused to write it")
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise OutputError(f"output {path} cannot be written as {fmt} ({' '.join(str(exc).split())})") from None

"""Depth from files -> per-frame DISPARITY at the frame size (larger = nearer, see DESIGN.md).

Sources: an image sequence (EXR, 16-bit PNG, TIFF, PFM, or one .npy per frame; ``%04d``/``####``
patterns or globs), one image or a 2-D .npy reused for every frame, a 3-D ``N×H×W`` .npy
(memory-mapped, so it streams), or a greyscale video (the luma plane is read directly); a 16-bit
disparity video written by ``--depth-out depth.mkv`` is decoded with the scale/offset in its
metadata (io/depth_video.py).

Values. Float files (EXR/PFM/NPY/float TIFF) are used as stored; integer files give their integer
code (16-bit PNG 0..65535, video luma range-expanded to 0..2^bits−1), except ``kind=normalized``
where integers are divided by their maximum code (0..1). The value is multiplied by ``scale`` and
then interpreted:

* ``disparity``: d = value (any positive scale; 0 = infinitely far).
* ``depth``: metric depth Z, d = 1/Z. Z = 0 is the RGB-D sensors' "no measurement" and is filled
  from the nearest valid pixel (a frame with no valid pixel is an error).
* ``normalized``: v in [0, 1] with 1 = ``near`` and 0 = ``far`` (metric depths), linear in depth:
  Z = far + v·(near − far), d = 1/Z.

NaN, ±inf or negative values are errors naming the file and frame.

Channels. A depth file must say which of its channels is depth: ``channel`` "auto" takes the only
channel of a greyscale image; in an EXR with several (a CG plate with RGB and Z, or a multi-part
file) the first of Z, depth.Z, depth, Depth, zDepth, disparity (any layer prefix, any part); an
RGB image whose three channels are equal (a greyscale map saved as RGB) gives R. Anything else —
a colour picture given as depth — is an error naming its channels, never a silently wrong depth
from the red channel. An explicit ``channel`` names an EXR channel ("depth.Z", or "part.Z" in a
multi-part file) or R/G/B/A of other images.

Resampling to the frame size is edge-aware: a smooth interpolation (bilinear up, area down) is
used only where the source footprint is nearly flat (relative spread below ``EDGE_TOLERANCE``);
across depth discontinuities the nearest source sample is taken, so foreground and background
values are never averaged into a "floating" in-between depth (which would blur the wrong layer).
The aspect ratio must match the frame's (to 1 %), otherwise the depth belongs to another clip.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterator, Optional

import cv2
import numpy as np

from ..errors import ConfigError, InputError
from .depth_video import DisparityCoding, read_coding
from .images import read_image
from .paths import is_image_path, is_pattern
from .sequence import _list_frames

log = logging.getLogger(__name__)

KINDS = ("disparity", "depth", "normalized")
#: EXR channel names taken as depth by channel="auto", in order (compared without case, after any
#: layer or part prefix: "depth.Z", "beauty.Z", "Z" all match "z").
DEPTH_CHANNELS = ("z", "depth", "zdepth", "disparity", "y")
#: relative spread (max−min)/max above which a footprint counts as a discontinuity.
EDGE_TOLERANCE = 0.05


def resample_edge_aware(src: np.ndarray, width: int, height: int, tol: float = EDGE_TOLERANCE) -> np.ndarray:
    """Resize H×W float32 to (height, width) without mixing values across discontinuities."""
    h, w = src.shape
    if (w, h) == (width, height):
        return src.astype(np.float32, copy=False)
    src = np.ascontiguousarray(src, dtype=np.float32)
    down = width < w or height < h
    smooth = cv2.resize(src, (width, height), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    nearest = cv2.resize(src, (width, height), interpolation=cv2.INTER_NEAREST)
    # Footprint of each output pixel in source pixels (+1 for the interpolation neighbour).
    kx = max(3, int(np.ceil(w / width)) + 2) | 1
    ky = max(3, int(np.ceil(h / height)) + 2) | 1
    kernel = np.ones((ky, kx), np.uint8)
    lo = cv2.resize(cv2.erode(src, kernel, borderType=cv2.BORDER_REPLICATE), (width, height),
                    interpolation=cv2.INTER_NEAREST)
    hi = cv2.resize(cv2.dilate(src, kernel, borderType=cv2.BORDER_REPLICATE), (width, height),
                    interpolation=cv2.INTER_NEAREST)
    scale = np.maximum(np.abs(hi), np.abs(lo))
    edge = (hi - lo) > tol * np.maximum(scale, 1e-12)
    return np.where(edge, nearest, smooth).astype(np.float32)


def fill_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid pixels by the value of the nearest valid pixel (no blending)."""
    if valid.all():
        return values
    src = np.where(valid, 0, 255).astype(np.uint8)  # zeros = valid seeds
    _, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    seeds = values[valid]  # raster order == OpenCV's label order for DIST_LABEL_PIXEL
    return seeds[np.clip(labels - 1, 0, seeds.size - 1)].astype(np.float32)


class DepthSequence:
    """Per-frame disparity at a fixed frame size. ``n_frames`` is None for a reused single map."""

    def __init__(self, path: str, *, kind: str = "disparity", near: Optional[float] = None,
                 far: Optional[float] = None, scale: float = 1.0, size: tuple[int, int] = (0, 0),
                 channel: str = "auto") -> None:
        self.channel = channel or "auto"
        if kind not in KINDS:
            raise ConfigError(f"'depth.kind' {kind!r} unknown; expected one of {', '.join(KINDS)}")
        if kind == "normalized" and (near is None or far is None or not 0 < near < far):
            raise ConfigError(f"'depth.kind' normalized needs 0 < 'depth.near' < 'depth.far' (got near={near}, far={far})")
        if not (scale > 0 and np.isfinite(scale)):
            raise ConfigError(f"'depth.scale' must be a positive number, got {scale}")
        self.path, self.kind, self.near, self.far, self.scale = path, kind, near, far, float(scale)
        self.size = (int(size[0]), int(size[1])) if size else (0, 0)
        self._files: Optional[list[tuple[int, str]]] = None
        self._npy: Optional[np.ndarray] = None
        self._video: Optional[_VideoDepth] = None
        self._coding: Optional[DisparityCoding] = None  # a 16-bit disparity video of --depth-out
        self.n_frames: Optional[int]
        if is_pattern(path):
            self._files = _list_frames(path)
            if not self._files:
                raise InputError(f"depth {path}: no files match this pattern")
            self.n_frames = len(self._files)
        elif not os.path.exists(path):
            raise InputError(f"depth {path} does not exist")
        elif path.lower().endswith(".npy"):
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as exc:  # noqa: BLE001
                raise InputError(f"depth {path} is not a readable .npy array ({' '.join(str(exc).split())})") from None
            if arr.ndim == 2:
                self._npy, self.n_frames = arr[None], None
            elif arr.ndim == 3:
                self._npy, self.n_frames = arr, int(arr.shape[0])
            else:
                raise InputError(f"depth {path}: .npy must be H×W or N×H×W, got shape {arr.shape}")
        elif is_image_path(path):
            self._files = [(0, path)]
            self.n_frames = None
        else:
            self._video = _VideoDepth(path)
            self.n_frames = self._video.n_frames
            self._coding = _coded_disparity(path, kind)
            if self._coding is not None and self._coding.frames is not None:
                self.n_frames = self._coding.frames

    # -- raw values ------------------------------------------------------------------------------
    def _raw(self, index: int) -> tuple[np.ndarray, str, bool]:
        """(value H×W float32, file name for errors, came-from-integers)."""
        if self._npy is not None:
            i = 0 if self.n_frames is None else index
            if i >= self._npy.shape[0]:
                raise self._too_short(index)
            a = np.asarray(self._npy[i])
            if a.dtype.kind in "ui":
                return a.astype(np.float32) / (np.iinfo(a.dtype).max if self.kind == "normalized" else 1), self.path, True
            return a.astype(np.float32), self.path, False
        if self._video is not None and self._coding is not None:
            first = self._coding.first
            if index < first:
                raise InputError(f"depth {self.path} starts at clip frame {first} (written by a run from --first-frame "
                                 f"{first}); frame {index} of the clip has no depth")
            if self.n_frames is not None and index >= first + self.n_frames:
                raise self._too_short(index)
            return self._coding.decode(self._video.read(index - first, normalised=False)), self.path, False
        if self._video is not None:
            return self._video.read(index, normalised=self.kind == "normalized"), self.path, True
        assert self._files is not None
        i = 0 if self.n_frames is None else index
        if i >= len(self._files):
            raise self._too_short(index)
        f = self._files[i][1]
        if f.lower().endswith(".npy"):
            try:
                a = np.load(f, allow_pickle=False)
            except Exception as exc:  # noqa: BLE001
                raise InputError(f"depth {f} (frame {index}) is not a readable .npy ({exc})") from None
            if a.ndim == 3 and a.shape[2] == 1:
                a = a[..., 0]
            if a.ndim != 2:
                raise InputError(f"depth {f} (frame {index}): expected an H×W array, got shape {a.shape}")
            return a.astype(np.float32), f, False
        if f.lower().endswith(".exr"):
            return _exr_depth_channel(f, self.channel, index), f, False
        data = read_image(f, f"depth frame {index}")
        px = _image_depth_channel(data, self.channel, f, index)
        integer = data.dtype.startswith("uint")
        if integer and self.kind != "normalized":
            px = px * (65535.0 if data.dtype == "uint16" else 255.0)  # back to integer codes
        return px.astype(np.float32), f, integer

    def _too_short(self, index: int) -> InputError:
        return InputError(f"depth {self.path} has {self.n_frames} frames; frame {index} of the clip has no depth "
                          "(depth sequence shorter than the clip)")

    # -- public ----------------------------------------------------------------------------------
    def read(self, index: int) -> np.ndarray:
        """Disparity (float32 H×W at `size`) for clip frame `index`."""
        if index < 0:
            raise InputError(f"depth {self.path}: frame {index} does not exist")
        value, name, _ = self._raw(index)
        if value.ndim != 2:
            raise InputError(f"depth {name} (frame {index}): expected one channel, got shape {value.shape}")
        bad = ~np.isfinite(value)
        if bad.any():
            y, x = np.argwhere(bad)[0]
            raise InputError(f"depth {name} (frame {index}) has {int(bad.sum())} NaN/inf values (first at x={x}, y={y}); "
                             "expected finite depth")
        value = value * np.float32(self.scale)
        if (value < 0).any():
            y, x = np.argwhere(value < 0)[0]
            raise InputError(f"depth {name} (frame {index}) has negative values (min {float(value.min()):g} at x={x}, "
                             f"y={y}); expected {self.kind} >= 0")
        disp = self._to_disparity(value, name, index)
        return self._resize(disp, name, index)

    def _to_disparity(self, v: np.ndarray, name: str, index: int) -> np.ndarray:
        if self.kind == "disparity":
            return v.astype(np.float32)
        if self.kind == "normalized":
            if v.max() > 1.0 + 1e-4:
                raise InputError(f"depth {name} (frame {index}): normalised values must be in [0, 1], max is "
                                 f"{float(v.max()):g} (check --depth-scale)")
            z = self.far + np.clip(v, 0.0, 1.0) * (self.near - self.far)  # type: ignore[operator]
            return (1.0 / z).astype(np.float32)
        valid = v > 0
        if not valid.any():
            raise InputError(f"depth {name} (frame {index}) has no valid (non-zero) depth values")
        d = np.where(valid, 1.0 / np.where(valid, v, 1.0), 0.0).astype(np.float32)
        if not valid.all():
            log.debug("depth %s frame %d: filling %d zero (missing) pixels from nearest valid", name, index,
                      int((~valid).sum()))
            d = fill_nearest(d, valid)
        return d

    def _resize(self, d: np.ndarray, name: str, index: int) -> np.ndarray:
        w, h = self.size
        if not w or not h or (d.shape[1], d.shape[0]) == (w, h):
            return np.ascontiguousarray(d, dtype=np.float32)
        src_aspect, dst_aspect = d.shape[1] / d.shape[0], w / h
        if abs(src_aspect / dst_aspect - 1.0) > 0.01:
            raise InputError(f"depth {name} (frame {index}) is {d.shape[1]}x{d.shape[0]} (aspect {src_aspect:.3f}); "
                             f"expected the frame's aspect {w}x{h} ({dst_aspect:.3f})")
        return resample_edge_aware(d, w, h)

    def __iter__(self) -> Iterator[np.ndarray]:
        n = self.n_frames if self.n_frames is not None else 1
        first = self._coding.first if self._coding is not None else 0
        for i in range(first, first + n):
            yield self.read(i)

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def __enter__(self) -> "DepthSequence":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _VideoDepth:
    """Luma plane of a greyscale video, frame i being the clip's frame i by time.

    Reads forward from wherever it is; going back (or far ahead) seeks to the nearest keyframe
    through the video reader's own indexing, so a chunk starting mid-clip or a focus follower
    walking backwards decodes a few frames, not everything from the start.
    """

    SKIP_AHEAD = 32  # frames: a read this far ahead decodes through; farther, it seeks

    def __init__(self, path: str) -> None:
        from .video_reader import VideoReader

        self.path = path
        self._reader = VideoReader(path)
        self.n_frames = self._reader._vs.frames or None
        self._gen: Optional[Iterator[Any]] = None
        self._next = 0  # index of the frame the generator yields next (at least)

    def _frame(self, index: int) -> Any:
        import av

        if self._gen is None or index < self._next or index > self._next + self.SKIP_AHEAD:
            self._gen = self._reader.raw_frames(index)
        found = None
        try:
            for idx, vf in self._gen:
                self._next = idx + 1
                if idx >= index:
                    found = (idx, vf)
                    break
        except av.error.FFmpegError as exc:
            raise InputError(f"depth {self.path}: frame {self._next} cannot be decoded ({exc}); corrupt or truncated") from None
        if found is None:
            self._gen = None
            raise InputError(f"depth {self.path} ends before frame {index}; frame {index} of the clip has no depth "
                             "(depth video shorter than the clip)")
        if found[0] != index:
            raise InputError(f"depth {self.path} has no frame at the time of clip frame {index} "
                             "(a gap in a variable-frame-rate depth video)")
        return found[1]

    def read(self, index: int, normalised: bool) -> np.ndarray:
        from .pixels import pixfmt_info, read_plane

        vf = self._frame(index)
        assert vf is not None
        pf = pixfmt_info(vf.format.name)
        if pf.is_rgb or not pf.planar:
            vf = vf.reformat(format="gray16le")
            pf = pixfmt_info("gray16le")
        dt = np.dtype(np.uint8) if pf.bit_depth <= 8 else np.dtype("<u2")
        y = read_plane(vf.planes[0], dt).astype(np.float32)
        maxv = float((1 << pf.bit_depth) - 1)
        full = vf.color_range == 2 or vf.format.name.startswith(("yuvj", "gray"))
        if not full:  # limited range: 16..235 (scaled) -> 0..max
            m = float(1 << (pf.bit_depth - 8))
            y = np.clip((y - 16 * m) / (219 * m), 0.0, 1.0) * maxv
        return y / np.float32(maxv) if normalised else y

    def close(self) -> None:
        self._gen = None
        self._reader.close()


def _coded_disparity(path: str, kind: str) -> Optional[DisparityCoding]:
    """The scale/offset of a 16-bit disparity video written by --depth-out (None: a plain video)."""
    coding = read_coding(path)
    if coding is not None and kind != "disparity":
        raise ConfigError(f"depth {path} holds disparity coded by --depth-out (scale/offset in its metadata); "
                          f"read it with --depth-kind disparity, not {kind}")
    return coding


def open_depth(path: str, *, kind: str = "disparity", near: Optional[float] = None, far: Optional[float] = None,
               scale: float = 1.0, size: tuple[int, int] = (0, 0), channel: str = "auto") -> DepthSequence:
    """Open a depth/disparity source; ``.read(i)`` gives disparity for clip frame i at ``size`` (w, h)."""
    if not path:
        raise ConfigError("'depth.path' is empty; give --depth FILE")
    return DepthSequence(path, kind=kind, near=near, far=far, scale=scale, size=size, channel=channel)


def depth_channel_name(names: "list[str] | tuple[str, ...]") -> Optional[str]:
    """The channel that ``channel="auto"`` takes as depth among an EXR's channel names (None: none
    is named as depth; a single channel or equal R=G=B is decided on the pixels)."""
    for want in DEPTH_CHANNELS:
        for name in sorted(names):
            if name.rsplit(".", 1)[-1].lower() == want or name.lower() == want:
                return name
    return None


def _exr_depth_channel(path: str, channel: str, index: int) -> np.ndarray:
    """The depth channel of an EXR (see the module doc: 'Channels')."""
    import OpenEXR

    try:
        with OpenEXR.File(path, separate_channels=True) as f:
            chans: dict[str, np.ndarray] = {}
            for part in f.parts:
                pname = part.name() if len(f.parts) > 1 else ""
                for name, ch in part.channels.items():
                    chans[f"{pname}.{name}" if pname else name] = ch.pixels
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain exceptions
        raise InputError(f"depth {path} (frame {index}) is not a readable EXR ({exc})") from None
    names = sorted(chans)
    if channel != "auto":
        if channel not in chans:
            raise InputError(f"depth {path} (frame {index}) has no channel {channel!r}; it has {', '.join(names)}")
        return chans[channel].astype(np.float32)
    if len(chans) == 1:
        return next(iter(chans.values())).astype(np.float32)
    named = depth_channel_name(names)
    if named is not None:
        return chans[named].astype(np.float32)
    rgb = [chans.get(c) for c in ("R", "G", "B")]
    if all(c is not None for c in rgb) and np.array_equal(rgb[0], rgb[1]) and np.array_equal(rgb[0], rgb[2]):
        return rgb[0].astype(np.float32)  # a greyscale map stored as RGB
    raise InputError(f"depth {path} (frame {index}) has channels {', '.join(names)} but none named as depth "
                     f"(Z, depth.Z, depth, zDepth, disparity); give --depth-channel NAME")


def _image_depth_channel(data: Any, channel: str, path: str, index: int) -> np.ndarray:
    """The depth channel of a PNG/TIFF/PFM image: its only one, equal R = G = B, or R/G/B/A by name."""
    px = data.pixels
    if channel != "auto":
        names = "RGB"[:px.shape[2]] if px.shape[2] > 1 else "Y"
        if channel == "A" and data.alpha is not None:
            return data.alpha
        if channel not in names:
            raise InputError(f"depth {path} (frame {index}) has no channel {channel!r}; it has "
                             f"{', '.join(names + ('A' if data.alpha is not None else ''))}")
        return px[..., names.index(channel)]
    if px.shape[2] == 1:
        return px[..., 0]
    if np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 0], px[..., 2]):
        return px[..., 0]
    raise InputError(f"depth {path} (frame {index}) is a colour image (its R, G and B differ): expected a "
                     "greyscale depth map; give --depth-channel R|G|B to use one channel")

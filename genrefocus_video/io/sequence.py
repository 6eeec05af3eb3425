"""Image sequences and single images as clips: `shot.%04d.exr`, `shot.####.exr`, globs, one file.

Frames are read one at a time (nothing is cached), so memory is flat. Frame numbers in file names
are kept: the clip's index i maps to file number ``start_number + i`` and the writer numbers
outputs the same way, so `shot.1001.exr` comes back as `out.1001.exr`. Each output image is
written atomically (temp file beside it, renamed when complete).
"""
from __future__ import annotations

import glob
import os
import re
from fractions import Fraction
from typing import Iterator, Optional

import numpy as np

from .. import colour
from ..errors import ConfigError, InputError, OutputError
from . import atomic
from .frame import ClipInfo, Frame
from .images import ImageData, image_format, read_image, write_image
from .paths import (PRINTF_PATTERN as _PRINTF, WRITABLE_IMAGE_FORMATS, is_pattern, normalise_pattern,
                    unsupported_reason)


def in_sequence(path: str, pattern: str) -> bool:
    """Whether the file `path` is (or would be) a frame of the image-sequence `pattern` (printf,
    #### or glob), whatever its frame number: what the output checks use to never overwrite an
    input frame."""
    pat = normalise_pattern(pattern)
    m = _PRINTF.search(pat)
    if not m:
        import fnmatch

        return fnmatch.fnmatch(os.path.abspath(path), os.path.abspath(pattern))
    head, tail = pat[: m.start()], pat[m.end():]
    if os.sep in tail or "%" in tail:  # a frame number in a folder name, or two of them: not ours
        return False
    folder_a = os.path.dirname(os.path.abspath(path))
    folder_b = os.path.dirname(os.path.abspath(head + "0" + tail))
    try:
        same_folder = os.path.samefile(folder_a, folder_b)
    except OSError:
        same_folder = folder_a == folder_b
    rx = re.compile(re.escape(os.path.basename(head)) + r"(\d+)" + re.escape(tail) + "$")
    mm = rx.match(os.path.basename(path))
    return same_folder and bool(mm) and _printf_digits(mm.group(1), int(m.group(1) or 0))


def _printf_digits(digits: str, width: int) -> bool:
    """Whether `digits` is exactly what %0<width>d prints for some frame number (%04d: 0007 and
    12345, not 007 or 00007), so sequences of two paddings in one folder stay apart."""
    return digits == str(int(digits)).zfill(width)


def sequence_files(pattern: str) -> list[str]:
    """The files of an image-sequence pattern (printf, #### or glob), in frame order."""
    return [f for _, f in _list_frames(pattern)]


def _list_frames(pattern: str) -> list[tuple[int, str]]:
    """(frame number, file) pairs of a printf pattern or a glob, sorted by number."""
    pat = normalise_pattern(pattern)
    m = _PRINTF.search(pat)
    if m:
        width = int(m.group(1) or 0)
        head, tail = pat[: m.start()], pat[m.end():]
        rx = re.compile(re.escape(os.path.basename(head)) + r"(\d+)" + re.escape(tail) + "$")
        folder = os.path.dirname(head) or "."
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        out = []
        for n in names:
            mm = rx.match(n)
            # %d reads any number (padded or not, as before); %04d only what printf writes
            if mm and (width == 0 or _printf_digits(mm.group(1), width)):
                out.append((int(mm.group(1)), os.path.join(os.path.dirname(head), n)))
        return sorted(out)
    files = sorted(glob.glob(pattern))
    out = []
    for i, f in enumerate(files):
        nums = re.findall(r"\d+", os.path.basename(f))
        out.append((int(nums[-1]) if nums else i, f))
    out.sort()
    return out


def default_transfer(data: ImageData) -> str:
    """EXR/PFM and float TIFFs are linear; integer images are sRGB unless told otherwise."""
    return "linear" if data.format in ("exr", "pfm") or data.dtype.startswith("float") else "srgb"


def _pix_fmt_name(data: ImageData) -> str:
    a = data.alpha is not None
    grey = data.pixels.shape[2] == 1
    if data.dtype == "uint8":
        return "gray" if grey else ("rgba" if a else "rgb24")
    if data.dtype == "uint16":
        return "gray16le" if grey else ("rgba64le" if a else "rgb48le")
    if data.dtype == "float16":
        return "grayf16le" if grey else ("gbrapf16le" if a else "gbrpf16le")
    return "grayf32le" if grey else ("gbrapf32le" if a else "gbrpf32le")


_BITS = {"uint8": 8, "uint16": 16, "float16": 16, "float32": 32, "float64": 32}


class SequenceReader:
    """Frames of an image sequence (or one image: kind "image", one frame)."""

    def __init__(self, path: str, transfer: str = "auto", first_frame: int = 0, last_frame: Optional[int] = None,
                 fps: Optional[float] = None) -> None:
        self.path = path
        if is_pattern(path):
            self.files = _list_frames(path)
            if not self.files:
                raise InputError(f"input {path}: no files match this sequence pattern")
            kind = "sequence"
        else:
            if not os.path.exists(path):
                raise InputError(f"input {path} does not exist")
            self.files = [(0, path)]
            kind = "image"
        self.start_number = self.files[0][0]
        if kind == "sequence":
            numbers = [n for n, _ in self.files]
            expected = list(range(numbers[0], numbers[0] + len(numbers)))
            twice = [k for k in range(1, len(numbers)) if numbers[k] == numbers[k - 1]]
            if twice:
                k = twice[0]
                raise InputError(f"input {path}: frame {numbers[k]} is both {self.files[k - 1][1]} and "
                                 f"{self.files[k][1]} (two paddings in one folder); give the padding, "
                                 f"e.g. %04d instead of %d")
            if numbers != expected:
                missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
                raise InputError(f"input {path}: sequence has gaps (missing frame numbers {missing[:5]}"
                                 f"{'...' if len(missing) > 5 else ''}); expected consecutive numbers")
        first = read_image(self.files[0][1], "input")
        self._shape = first.pixels.shape[:2]
        tr = default_transfer(first) if transfer in (None, "", "auto") else transfer
        if tr not in colour.TRANSFERS:
            raise ConfigError(f"transfer {transfer!r} unknown; expected auto or one of {', '.join(colour.TRANSFERS)}")
        rate = Fraction(fps).limit_denominator(1001000) if fps else Fraction(24, 1)
        self.info = ClipInfo(
            path=path, kind=kind, width=int(self._shape[1]), height=int(self._shape[0]), fps=rate,
            time_base=1 / rate, n_frames=len(self.files), duration=len(self.files) / float(rate),
            container=None, codec=first.format, pix_fmt=_pix_fmt_name(first), bit_depth=_BITS.get(first.dtype, 8),
            chroma=None, has_alpha=first.alpha is not None, transfer=tr, transfer_tag=None,
            primaries="bt709", matrix="rgb", color_range="pc",
            pixel_aspect=Fraction(first.pixel_aspect).limit_denominator(1000),
            metadata={"start_number": str(self.start_number)},
        )
        if first.format in ("jpeg", "tiff", "png"):
            self.info.camera = _exif_camera(self.files[0][1])
        if first.format == "exr" and first.extra:  # AOVs ride along (probe lists them)
            self.info.metadata["exr.extra_channels"] = ",".join(sorted(first.extra))
        if first_frame >= len(self.files):
            raise InputError(f"input {path}: first frame {first_frame} is past the end ({len(self.files)} frames)")
        self.first_frame = first_frame
        self.last_frame = last_frame

    def __len__(self) -> int:
        end = len(self.files) - 1 if self.last_frame is None else min(self.last_frame, len(self.files) - 1)
        return max(0, end - self.first_frame + 1)

    def read(self, index: int) -> Frame:
        if not 0 <= index < len(self.files):
            raise InputError(f"input {self.path}: frame {index} does not exist ({len(self.files)} frames)")
        number, f = self.files[index]
        data = read_image(f, f"input frame {index}")
        if data.pixels.shape[:2] != self._shape:
            raise InputError(f"input {f} (frame {index}) is {data.pixels.shape[1]}x{data.pixels.shape[0]}, "
                             f"expected {self._shape[1]}x{self._shape[0]} like the first frame")
        px = data.pixels if data.pixels.shape[2] == 3 else np.repeat(data.pixels, 3, axis=2)
        rgb = colour.to_linear(px, self.info.transfer)
        return Frame(index=index, rgb=rgb, alpha=data.alpha, time=float(index / self.info.fps), extra=data.extra)

    def __iter__(self) -> Iterator[Frame]:
        end = len(self.files) if self.last_frame is None else min(self.last_frame + 1, len(self.files))
        for i in range(self.first_frame, end):
            yield self.read(i)

    def close(self) -> None:
        pass


def _exif_camera(path: str) -> dict[str, float]:
    """Focal length, f-number, 35 mm equivalent from EXIF (Pillow), when present."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769) if exif else {}
    except Exception:  # noqa: BLE001 - no EXIF is normal
        return {}
    cam: dict[str, float] = {}
    for tag, key in ((37386, "focal_length_mm"), (33437, "f_number"), (41989, "focal_length_35mm")):
        v = sub.get(tag, exif.get(tag) if exif else None)
        if v:
            try:
                cam[key] = float(v)
            except (TypeError, ValueError):
                pass
    if cam.get("focal_length_mm") and cam.get("focal_length_35mm"):
        cam["sensor_width_mm"] = 36.0 * cam["focal_length_mm"] / cam["focal_length_35mm"]
    return cam


def check_image_codec(path: str, codec: Optional[str]) -> str:
    """The image format of an output path; ConfigError if an explicit codec names another one,
    OutputError for a format nothing here writes (DPX: io.paths)."""
    reason = unsupported_reason(path)
    if reason:
        raise OutputError(f"output {path}: {reason}")
    fmt = image_format(path)
    if codec not in (None, "", "auto") and codec != fmt:
        raise ConfigError(f"'output.codec' {codec} does not match the output file type .{fmt} of {path}")
    return fmt


class SequenceWriter:
    """Write frames as images (a `%04d`/`####` pattern, or a single image), each one atomically."""

    def __init__(self, path: str, like: ClipInfo, *, codec: str = "auto", transfer: str = "auto",
                 exr_half: bool = True, overwrite: bool = False) -> None:
        self.path = path
        self.pattern = normalise_pattern(path)
        self.single = not _PRINTF.search(self.pattern)
        if any(c in path for c in "*?["):
            raise OutputError(f"output {path}: use a %04d or #### frame-number pattern, not a glob")
        fmt = check_image_codec(path, codec)
        if fmt not in WRITABLE_IMAGE_FORMATS:
            raise OutputError(f"output {path}: cannot write .{fmt} images; use .exr, .png, .tif")
        self.fmt = fmt
        self.like = like
        self.exr_half = exr_half
        self.overwrite = overwrite
        if transfer in (None, "", "auto"):
            transfer = "linear" if fmt in ("exr", "pfm") else (like.transfer if like.transfer != "linear" else "srgb")
        elif fmt in ("exr", "pfm") and transfer != "linear":
            pass  # explicit: the user wants encoded values in a float file (e.g. for a display-referred plate)
        if transfer not in colour.TRANSFERS:
            raise ConfigError(f"'output.transfer' {transfer!r} unknown; expected one of {', '.join(colour.TRANSFERS)}")
        self.transfer = transfer
        self.start_number = int(like.metadata.get("start_number", 0)) if like.kind == "sequence" else 0
        if like.path and os.path.abspath(normalise_pattern(like.path)) == os.path.abspath(self.pattern):
            raise OutputError(f"output {path} is the input sequence; refusing to overwrite inputs")
        if like.path:
            atomic.refuse_inputs_in_pattern(path, (like.path,))
        folder = os.path.dirname(os.path.abspath(self.pattern)) or "."
        if not os.path.isdir(folder):
            raise OutputError(f"output folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {folder} is not writable")
        self._count = 0
        self.closed = False

    def path_for(self, index: int) -> str:
        return self.pattern if self.single else self.pattern % (self.start_number + index)

    def write(self, frame: Frame) -> None:
        if self.closed:
            raise OutputError(f"output {self.path}: write after close")
        if self.single and self._count >= 1:
            raise OutputError(f"output {self.path} is a single image but more than one frame was given; "
                              "use a pattern such as out.%04d.png")
        if not np.isfinite(frame.rgb).all():
            raise OutputError(f"output {self.path}: frame {frame.index} contains NaN/inf pixels")
        final = self.path_for(frame.index)
        code = colour.from_linear(frame.rgb, self.transfer) if self.transfer != "linear" else frame.rgb
        with atomic.atomic_output(final, overwrite=self.overwrite, inputs=(self.like.path,)) as tmp:
            write_image(tmp, code, frame.alpha, fmt=self.fmt, exr_half=self.exr_half,
                        pixel_aspect=float(self.like.pixel_aspect), extra=frame.extra if self.fmt == "exr" else None)
        self._count += 1

    def close(self) -> None:
        if not self.closed and self._count == 0:
            self.closed = True
            raise OutputError(f"output {self.path}: no frames were written")
        self.closed = True

    def abort(self) -> None:
        """Images already renamed are complete; nothing half-written exists to remove."""
        self.closed = True

    @property
    def frames_written(self) -> int:
        return self._count


__all__ = ["SequenceReader", "SequenceWriter", "in_sequence", "sequence_files"]

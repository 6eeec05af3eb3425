"""Focus keyframes: parsing, time bases (frames, seconds, SMPTE timecode) and value kinds.

String syntax (``--focus-keyframes``): comma-separated ``WHEN:VALUE`` items.

* WHEN: a frame index ``48``, seconds ``2.5s``, or SMPTE timecode ``HH:MM:SS:FF`` (``;`` before
  the frames = drop-frame). Timecodes are absolute: the clip's start timecode (ClipInfo.timecode)
  is subtracted, so ``01:00:02:00`` on a clip starting at ``01:00:00:00`` at 24 fps is frame 48.
* VALUE: a focus disparity ``0.45``; a metric depth ``3.2m`` (a = 1/3.2); or a picked point
  ``@X/Y`` (pixel coordinates; the focus is the robust disparity around that pixel at that key's
  frame).

Files: ``.json`` (a list of objects with one of ``frame``/``time``/``timecode`` and one of
``disparity``/``depth``/``point`` [x, y]) or ``.csv`` with the same column names.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

from ..errors import ConfigError, InputError
from ..io.timecode import is_timecode, to_frames


@dataclass(frozen=True)
class FocusKey:
    """A keyframe before value resolution: frame index and one of disparity / depth / point."""

    frame: int
    disparity: Optional[float] = None
    depth: Optional[float] = None
    point: Optional[tuple[float, float]] = None
    source: str = ""  # the text it came from, for messages


def timecode_to_frame(tc: str, fps: Union[float, Fraction], start: Optional[str] = None) -> int:
    """SMPTE HH:MM:SS:FF (``;`` = drop-frame) to a 0-based clip frame, relative to `start`."""
    rate = Fraction(fps).limit_denominator(1001)

    def count(code: str) -> int:
        try:
            return to_frames(code, rate)[0]
        except ValueError as exc:
            raise ConfigError(str(exc).replace("not a timecode", "timecode is not HH:MM:SS:FF")) from None

    frame = count(tc) - (count(start) if start else 0)
    if frame < 0:
        raise ConfigError(f"timecode {tc} is before the clip's start timecode {start}")
    return frame


def parse_when(text: str, fps: Union[float, Fraction], start_tc: Optional[str] = None) -> int:
    """Frame index from '48', '2.5s' or a timecode."""
    t = text.strip()
    if is_timecode(t):
        return timecode_to_frame(t, fps, start_tc)
    if t.endswith("s"):
        try:
            sec = float(t[:-1])
        except ValueError:
            raise ConfigError(f"focus keyframe time {t!r} is not seconds like '2.5s'") from None
        if not math.isfinite(sec) or sec < 0:
            raise ConfigError(f"focus keyframe time {t!r} must be >= 0 s")
        return int(round(sec * float(fps)))
    try:
        f = float(t)
    except ValueError:
        raise ConfigError(f"focus keyframe time {t!r} is not a frame, seconds ('2.5s') or timecode (HH:MM:SS:FF)") from None
    if not f.is_integer() or f < 0:
        raise ConfigError(f"focus keyframe frame {t!r} must be a whole number >= 0")
    return int(f)


def _parse_value(text: str, where: str) -> dict:
    v = text.strip()
    try:
        if v.startswith("@"):
            xs, ys = re.split(r"[/x]", v[1:], maxsplit=1)
            return {"point": (float(xs), float(ys))}
        if v.endswith("m"):
            depth = float(v[:-1])
            if not depth > 0:
                raise ConfigError(f"{where}: depth {v!r} must be > 0 m")
            return {"depth": depth}
        val = float(v)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"{where}: value {v!r} is not a disparity (0.4), a depth (3.2m) or a point (@X/Y)") from None
    if not math.isfinite(val) or val < 0:
        raise ConfigError(f"{where}: disparity {v!r} must be a finite number >= 0")
    return {"disparity": val}


def parse_keyframes(spec: str, fps: Union[float, Fraction], start_tc: Optional[str] = None) -> list[FocusKey]:
    """Keys from a 'WHEN:VALUE,...' string or a .json/.csv file path (order is checked later)."""
    s = spec.strip()
    if s.lower().endswith((".json", ".csv")):
        return load_keyframe_file(s, fps, start_tc)
    keys: list[FocusKey] = []
    for i, item in enumerate(x for x in s.split(",") if x.strip()):
        if ":" not in item:
            raise ConfigError(f"focus keyframe {i} {item.strip()!r} is not WHEN:VALUE (e.g. '48:0.6')")
        when, value = item.rsplit(":", 1)
        where = f"focus keyframe {i} {item.strip()!r}"
        keys.append(FocusKey(parse_when(when, fps, start_tc), **_parse_value(value, where), source=item.strip()))
    if not keys:
        raise ConfigError("'focus.keyframes' is empty")
    return keys


def load_keyframe_file(path: str, fps: Union[float, Fraction], start_tc: Optional[str] = None) -> list[FocusKey]:
    """Keys from a JSON list of objects or a CSV with columns frame|time|timecode, disparity|depth|point."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: focus keyframe file not found")
    try:
        if p.suffix.lower() == ".json":
            rows = json.loads(p.read_text())
        else:
            with p.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read focus keyframes ({exc})") from None
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{p}: expected a non-empty list of keyframes")
    keys = []
    for i, row in enumerate(rows):
        where = f"{p}: keyframe {i}"
        if not isinstance(row, dict):
            raise InputError(f"{where} is not an object")
        row = {k.strip(): v for k, v in row.items() if v not in (None, "")}
        if "frame" in row:
            frame = parse_when(str(row["frame"]), fps, start_tc)
        elif "time" in row:
            frame = parse_when(f"{float(row['time'])}s", fps, start_tc)
        elif "timecode" in row:
            frame = timecode_to_frame(str(row["timecode"]), fps, start_tc)
        else:
            raise InputError(f"{where} needs 'frame', 'time' or 'timecode'")
        if "disparity" in row:
            val = _parse_value(str(row["disparity"]), where)
        elif "depth" in row:
            val = _parse_value(f"{row['depth']}m", where)
        elif "point" in row:
            pt = row["point"]
            if isinstance(pt, str):
                pt = [float(v) for v in re.split(r"[ /x;]+", pt.strip("[]() ")) if v]
            if len(pt) != 2:
                raise InputError(f"{where}: 'point' must be [x, y]")
            val = {"point": (float(pt[0]), float(pt[1]))}
        else:
            raise InputError(f"{where} needs 'disparity', 'depth' or 'point'")
        keys.append(FocusKey(frame, **val, source=f"{p.name}#{i}"))
    return keys


def check_keys(keys: list[FocusKey], first: int, last: Optional[int], width: int, height: int) -> None:
    """Refuse unsorted, duplicate, out-of-range keys and points outside the frame, naming the key."""
    for i, k in enumerate(keys):
        if k.frame < first or (last is not None and k.frame > last):
            rng = f"{first}..{last}" if last is not None else f">= {first}"
            raise ConfigError(f"focus keyframe {i} ({k.source}) is at frame {k.frame}, outside the clip's frames {rng}")
        if i and k.frame <= keys[i - 1].frame:
            raise ConfigError(f"focus keyframes must be in increasing time order: keyframe {i} ({k.source}, frame {k.frame}) "
                              f"is not after keyframe {i - 1} ({keys[i - 1].source}, frame {keys[i - 1].frame})")
        if k.point is not None:
            x, y = k.point
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise ConfigError(f"focus keyframe {i} ({k.source}): point ({x:g}, {y:g}) is outside the {width}x{height} frame")


def _values_at_frame(spec: str, key: str, form: str, count: int) -> tuple[list[float], Optional[int]]:
    """'V1,...,Vn[@FRAME]' -> ([v1..vn], frame or None), with errors naming `key` and the form."""
    s = spec.strip()
    frame: Optional[int] = None
    if "@" in s:
        s, f = s.split("@", 1)
        try:
            frame = int(f)
        except ValueError:
            raise ConfigError(f"'{key}' {spec!r}: frame after '@' must be an integer") from None
    try:
        values = [float(v) for v in s.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise ConfigError(f"'{key}' {spec!r} is not {form}")
    return values, frame


def parse_point(spec: str) -> tuple[float, float, Optional[int]]:
    """'X,Y[@FRAME]' -> (x, y, frame or None)."""
    (x, y), frame = _values_at_frame(spec, "focus.point", "X,Y[@FRAME]", 2)
    return x, y, frame


def parse_box(spec: str) -> tuple[tuple[float, float, float, float], Optional[int]]:
    """'X,Y,W,H[@FRAME]' -> ((x, y, w, h), frame or None)."""
    (x, y, w, h), frame = _values_at_frame(spec, "focus.box", "X,Y,W,H[@FRAME]", 4)
    if w <= 0 or h <= 0:
        raise ConfigError(f"'focus.box' {spec!r}: width and height must be > 0")
    return (x, y, w, h), frame


def check_box(box: tuple[float, float, float, float], width: int, height: int, spec: str = "") -> None:
    """A subject box must lie (at least 75% of its area) inside the frame."""
    x, y, w, h = box
    ix = max(0.0, min(x + w, width) - max(x, 0.0))
    iy = max(0.0, min(y + h, height) - max(y, 0.0))
    if ix * iy < 0.75 * w * h:
        raise ConfigError(f"'focus.box' {spec or box} lies outside the {width}x{height} frame "
                          f"(only {100 * ix * iy / (w * h):.0f}% inside; expected the subject box in pixels X,Y,W,H)")

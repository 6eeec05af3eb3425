"""SMPTE timecode arithmetic (non-drop and 29.97/59.94 drop-frame), for outputs that start mid-clip.

Drop-frame (``;`` separator) skips frame numbers 0 and 1 (2 and 3 at 59.94) at the start of every
minute except each tenth minute (SMPTE 12M); conversion follows the usual frame-count formulas.
"""
from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def is_timecode(text: str) -> bool:
    """True for HH:MM:SS:FF-shaped text (``;``/``,`` before the frames = drop-frame)."""
    return _TC.match(text.strip()) is not None


def _nominal(fps: Fraction) -> int:
    return int(round(float(fps)))


def to_frames(tc: str, fps: Fraction) -> tuple[int, bool]:
    """(frame count from 00:00:00:00, drop-frame?) of a timecode string."""
    m = _TC.match(tc.strip())
    if not m:
        raise ValueError(f"not a timecode: {tc!r}")
    h, mi, s, sep, f = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    base = _nominal(fps)
    if mi > 59 or s > 59 or f >= base:
        raise ValueError(f"timecode {tc!r} is out of range at {float(fps):g} fps (frames must be < {base})")
    drop = sep in ";,"
    total_min = 60 * h + mi
    frames = (3600 * h + 60 * mi + s) * base + f
    if drop:
        d = 2 * base // 30
        frames -= d * (total_min - total_min // 10)
    return frames, drop


def from_frames(frames: int, fps: Fraction, drop: bool) -> str:
    base = _nominal(fps)
    if drop:
        d = 2 * base // 30
        per10 = base * 600 - d * 9
        per1 = base * 60 - d
        tens, rem = divmod(frames, per10)
        frames += d * 9 * tens + (d * ((rem - d) // per1) if rem > d else 0)
    f = frames % base
    s = (frames // base) % 60
    mi = (frames // (base * 60)) % 60
    h = (frames // (base * 3600)) % 24
    return f"{h:02d}:{mi:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def add_frames(tc: str, n: int, fps: Fraction) -> str:
    """Timecode `n` frames after `tc` (same drop/non-drop mode)."""
    frames, drop = to_frames(tc, fps)
    return from_frames(frames + n, fps, drop)

"""Freed heap memory handed back to the OS after each frame's stages (glibc ``malloc_trim``).

Why: glibc gives each thread its own malloc arena and keeps an arena's freed pages for reuse. The
frame loop's arrays are megabytes each (a 1080p float RGB frame is 25 MB), and with the overlap
(:mod:`.overlap`) the head and the tail, and the renderer's layer threads, allocate in different
arenas, so each arena keeps its own high-water mark and the process's resident memory is their sum.
Trimming after each frame's head and tail returns those pages: 1080p 10-bit HEVC, motion depth +
smoothing, 6 frames, overlap on: peak RSS 2682 -> 1937 MiB (docs/benchmarks/speed.md). Elsewhere
(no glibc) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Optional


def _malloc_trim() -> Optional[Any]:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without it)
        return None


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Return the heap's free pages to the OS (every arena; thread-safe in glibc)."""
    if _TRIM is not None:
        _TRIM(0)

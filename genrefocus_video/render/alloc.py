"""Keep freed frame-sized blocks in the process heap, so the renderer's temporaries reuse pages.

A 1080p RGBA float32 layer is 33 MB; glibc's malloc serves blocks above its mmap threshold
(dynamic, from 128 KiB) with fresh mmap()ed pages and unmaps them on free, so every temporary
of every layer of every frame page-faults its memory in again (the kernel zeroes each page):
measured 18 000 page faults and 0.07 s of system time per 1080p frame, ≈ 19 % of the render's
CPU (docs/benchmarks/renderer.md, "Allocation"). Raising the mmap threshold to glibc's maximum
(32 MiB) and the trim threshold so the heap is not shrunk after each frame makes those blocks
come from, and return to, the heap: page faults per frame drop to a handful, the pixels are
unchanged. The cost: the process keeps its peak heap (it does not hand freed frame memory back
to the system between frames) — the peak itself is the same.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 * 1024 * 1024

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the malloc settings once per process (glibc only); True if they are in effect."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return _done
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    ok &= mallopt(M_TOP_PAD, TOP_PAD) == 1
    _done = bool(ok)
    return _done

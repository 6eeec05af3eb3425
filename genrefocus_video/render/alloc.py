"""The process's one heap policy (glibc malloc): frame-sized blocks reuse heap pages within a frame,
freed pages go back to the OS between frames.

Why each setting (docs/benchmarks/memory.md has the measurements):

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's maximum): a 1080p RGBA float32 layer is 33 MB, and below
  this threshold glibc would serve every renderer temporary with fresh mmap()ed pages that the
  kernel zeroes on first touch: 18 000 page faults and 0.07 s of system time per 1080p frame
  (≈ 19 % of the render's CPU, docs/benchmarks/renderer.md "Allocation"). From the heap they reuse
  pages already faulted in.
* ``M_TRIM_THRESHOLD`` = 1 GiB, ``M_TOP_PAD`` = 64 MiB: the heap is not shrunk by every ``free``
  inside a frame (which would fault the same pages in again for the next layer) ...
* ... and :func:`release_freed_memory` (``malloc_trim``), called once per frame by the executor
  (:mod:`genrefocus_video.pipeline.executors.local`), hands every arena's free pages back between
  frames, so the resident set does not keep each arena's high-water mark; when frames overlap
  (several threads each holding a frame) every :data:`RELEASE_EVERY_OVERLAPPED` frames instead.
  One frame at a time (1080p) also between the head stages and the render: the head's freed
  temporaries sit in the caller's arena, which the render's layer threads do not reuse.
* No arena limit: capping glibc's per-thread arenas at 2 (``M_ARENA_MAX``) raised the peak by
  30-80 MiB in three 1080p runs (more threads freeing into the same arenas interleave lifetimes);
  a ``MALLOC_ARENA_MAX`` in the environment is glibc's own and stays in force.

:func:`apply_memory_policy` runs once per process, at the start of a job (the executor's
``prepare``) and before a render. Elsewhere (not glibc) nothing happens.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Optional

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 * 1024 * 1024

#: overlapped frames hand the freed heap back every this many frames, not after every stage group: a
#: trim returns the pages every thread's arena keeps for the next frame, which then faults them in
#: again (720p handheld row: 5.5 s of 26 CPU s in the kernel trimming after every group, 1.7 s
#: without; peak RSS 1.20 -> 1.25 GiB; docs/benchmarks/speed.md); every 8 frames keeps it flat in length
RELEASE_EVERY_OVERLAPPED = 8

_done: Optional[bool] = None


def _libc() -> Optional[Any]:
    """glibc, or None (macOS, Windows, musl: no mallopt / malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


#: mallopt parameter -> value
SETTINGS = {M_MMAP_THRESHOLD: MMAP_THRESHOLD_MAX, M_TRIM_THRESHOLD: TRIM_THRESHOLD, M_TOP_PAD: TOP_PAD}


def apply_memory_policy() -> bool:
    """Apply the malloc settings once per process (glibc only); True if they are in effect."""
    global _done
    if _done is None:
        _done = _LIBC is not None and all(_LIBC.mallopt(p, v) == 1 for p, v in SETTINGS.items())
    return _done


def release_freed_memory() -> None:
    """Return every arena's free pages to the OS (thread-safe in glibc): once per frame, between
    frames, so the resident set is what the next frame needs, not the sum of past peaks."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


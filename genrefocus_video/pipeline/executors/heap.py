"""The executor's hold on the process's heap policy, which lives in one place:
:mod:`genrefocus_video.render.alloc` (mallopt settings at job start, ``malloc_trim`` between frames).

Measured: 1080p 10-bit HEVC, motion depth + smoothing, the trim after each frame took the 6-frame
overlapped peak from 2682 to 1937 MiB (docs/benchmarks/speed.md); docs/benchmarks/memory.md has
where the rest of the 1080p peak goes.
"""
from __future__ import annotations

from ...render.alloc import RELEASE_EVERY_OVERLAPPED, apply_memory_policy, release_freed_memory

__all__ = ["RELEASE_EVERY_OVERLAPPED", "apply_memory_policy", "release_freed_memory"]

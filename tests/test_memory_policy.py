"""The process heap policy (genrefocus_video.render.alloc) takes effect in a real process.

Each check runs in a fresh child: malloc state is per process and the suite's own threads and
arenas vary. Arenas are counted from glibc's own ``malloc_stats`` report ("Arena N:" per arena);
memory held or returned is read from the child's resident set with wide margins (256 MiB blocks
kept or released against a process of ~100 MiB), not as a threshold on the program's footprint.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genrefocus_video.render import alloc

ROOT = str(Path(__file__).resolve().parents[1])

_ARENAS_CHILD = r"""
import sys, threading, ctypes
import numpy as np
from genrefocus_video.render import alloc
if sys.argv[1] == "on":
    assert alloc.apply_memory_policy()
n = 6
barrier = threading.Barrier(n + 1)
held = []
def work():
    held.append(np.ones(50_000))  # malloc from this thread's arena
    barrier.wait()                # all threads alive at once: none inherits a freed arena
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(n)]
for t in threads:
    t.start()
barrier.wait()
ctypes.CDLL("libc.so.6").malloc_stats()  # to stderr, one "Arena i:" block per arena
barrier.wait()
for t in threads:
    t.join()
"""

_TRIM_CHILD = r"""
import sys
import numpy as np
from genrefocus_video.render import alloc
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
if sys.argv[1] == "on":
    assert alloc.apply_memory_policy()
blocks = [np.ones(4 * 2**20 // 8) for _ in range(64)]  # 256 MiB in 4 MiB blocks, pages touched
full = rss_mib()
del blocks
freed = rss_mib()
alloc.release_freed_memory()
print(full, freed, rss_mib())
"""


def _glibc_or_skip() -> None:
    if not alloc.apply_memory_policy():
        pytest.skip("not glibc: malloc settings unavailable")


def _child(code: str, mode: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != alloc.ARENA_ENV}
    env.update(env_extra or {}, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                          cwd=ROOT, env=env)


def _arenas(mode: str, env_extra: dict | None = None) -> int:
    return _child(_ARENAS_CHILD, mode, env_extra).stderr.count("Arena ")


def test_arena_limit_bounds_the_arenas_of_many_threads():
    """Six threads allocating at once get their own arenas by default (glibc: up to 8 per core);
    under the policy they share ARENA_MAX of them."""
    _glibc_or_skip()
    off, on = _arenas("off"), _arenas("on")
    assert on <= alloc.ARENA_MAX < off, (on, off)


def test_arena_limit_from_the_environment_wins():
    """MALLOC_ARENA_MAX set by the user is left in force: the policy does not lower it to 2."""
    _glibc_or_skip()
    assert _arenas("on", {alloc.ARENA_ENV: "4"}) == 4


def test_freed_blocks_stay_until_the_per_frame_release():
    """Under the policy, freed 4 MiB blocks stay in the heap (reused by the next layer, no fresh
    page faults) and release_freed_memory hands them back; without it glibc unmaps them at once."""
    _glibc_or_skip()
    full, freed, released = map(float, _child(_TRIM_CHILD, "on").stdout.split())
    assert freed > full - 32, (full, freed)        # kept: at most a block or so returned
    assert released < full - 200, (full, released)  # handed back between frames
    full, freed, _ = map(float, _child(_TRIM_CHILD, "off").stdout.split())
    assert freed < full - 200, (full, freed)       # the control: mmapped blocks go back on free

"""The process heap policy (genrefocus_video.render.alloc) takes effect in a real process.

Each check runs in a fresh child: malloc state is per process and the suite's own threads and
arenas vary. Memory held or returned is read from the child's resident set with wide margins
(256 MiB of blocks kept or released), not as a threshold on the program's footprint.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genrefocus_video.render import alloc

ROOT = str(Path(__file__).resolve().parents[1])

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


def _child(code: str, mode: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                          cwd=ROOT, env=env)


def test_freed_blocks_stay_until_the_per_frame_release():
    """Under the policy, freed 4 MiB blocks stay in the heap (reused by the next layer, no fresh
    page faults) and release_freed_memory hands them back; without it glibc unmaps them at once."""
    _glibc_or_skip()
    full, freed, released = map(float, _child(_TRIM_CHILD, "on").stdout.split())
    assert freed > full - 32, (full, freed)        # kept: at most a block or so returned
    assert released < full - 200, (full, released)  # handed back between frames
    full, freed, _ = map(float, _child(_TRIM_CHILD, "off").stdout.split())
    assert freed < full - 200, (full, freed)       # the control: mmapped blocks go back on free


def test_the_executor_uses_the_one_policy():
    """The frame loop's per-frame release and job-start settings are render.alloc's, not a second
    policy with its own thresholds (two used to pull against each other)."""
    from genrefocus_video.pipeline.executors import local

    assert local.release_freed_memory is alloc.release_freed_memory
    assert local.apply_memory_policy is alloc.apply_memory_policy


_SPLIT_CHILD = r"""
import sys
sys.path.insert(0, "tests")
import numpy as np
import test_pipeline_kit as kit
from genrefocus_video.pipeline.executors.local import LocalExecutor
from genrefocus_video.pipeline.stages import StageFactory
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
seen = {}
class Head:  # a head stage's freed temporaries: 256 MiB in 4 MiB blocks, pages touched
    name, temporal = "head", True
    def process(self, rec):
        blocks = [np.ones(4 * 2**20 // 8) for _ in range(64)]
        seen.setdefault("full", rss_mib())
        del blocks
        return rec
class Tail:  # what is resident when the render starts
    name, temporal = "tail", False
    def process(self, rec):
        seen.setdefault("tail", rss_mib())
        rec.output = rec.frame.rgb
        return rec
class Info:
    width, height = 1920, 1080  # over the overlap bound: one frame at a time in this thread
ex = LocalExecutor(StageFactory(head=lambda j, i: [Head()], tail=lambda j, i: [Tail()]))
ex.prepare(None, Info())
list(ex.map(kit.records(1), None, Info()))
print(seen["full"], seen["tail"])
"""


def test_head_temporaries_are_released_before_the_tail_runs():
    """One frame at a time (1080p), the head's freed heap goes back before the tail (the renderer,
    whose layer threads allocate in their own arenas) starts: otherwise the head's transient stays
    resident under the render's (docs/benchmarks/memory.md, 2026-12-05 "Trim between head and tail")."""
    _glibc_or_skip()
    full, at_tail = map(float, _child(_SPLIT_CHILD, "on").stdout.split())
    assert at_tail < full - 200, (full, at_tail)

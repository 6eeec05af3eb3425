"""What a job's work folder says about it: which chunks are done, which a task is rendering (and
where), which are still to do, and what to run next. Read-only: safe beside running tasks.

For the wrangler of a chunked job, on Ray or as farm tasks (``--chunk N`` / ``--join``), who
wants to know without opening JSON files why a join refuses or which task is stuck.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..errors import InputError
from .manifest import default_work_dir
from .plan import Chunk
from .workdir import WorkDir


@dataclass
class ChunkState:
    index: int
    start: int
    end: int
    state: str  # "done", "running" (a task holds its lock), "to do"
    seconds: Optional[float] = None  # render time of a done chunk
    host: Optional[str] = None  # where a done chunk was rendered
    holder: Optional[str] = None  # "pid 812 on node7 since ..." for a running chunk


@dataclass
class JobState:
    work: str
    output: Optional[str]
    status: str  # "complete", "in progress", "stopped"
    updated_utc: Optional[str]
    driver: Optional[str]  # who holds the job's lock (a whole-job run or a join), if anyone
    chunks: list[ChunkState] = field(default_factory=list)
    kept_until: Optional[int] = None  # a stopped single pass: the last frame it kept (pipeline/keep.py)

    def count(self, state: str) -> int:
        return sum(c.state == state for c in self.chunks)

    def next_step(self) -> str:
        if self.status == "complete":
            return "nothing: the output is written"
        if self.kept_until is not None:
            return f"rerun the same command: it renders from frame {self.kept_until + 1} on and joins the kept part"
        todo = [c.index for c in self.chunks if c.state == "to do"]
        if todo:
            many = len(todo) > 1
            return (("render chunks " if many else "render chunk ") + ", ".join(map(str, todo[:12]))
                    + (" ..." if len(todo) > 12 else "")
                    + (" (their --chunk tasks" if many else " (its --chunk task") + ", or rerun the whole job)")
        if self.count("running"):
            return "wait for the running chunks, then --join"
        return "--join (every chunk is done)"

    def line(self) -> str:
        n = len(self.chunks)
        return (f"{self.output or self.work}: {self.status}; {self.count('done')} of {n} chunks done, "
                f"{self.count('running')} running, {self.count('to do')} to do; next: {self.next_step()}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "next": self.next_step()}


def find_work_dir(path: str) -> WorkDir:
    """The work folder of OUTPUT (``OUTPUT.work``) or the folder itself (a --work-dir)."""
    for candidate in (path, default_work_dir(path)):
        if os.path.isfile(os.path.join(candidate, "manifest.json")) or os.path.isdir(os.path.join(candidate, "kept")):
            return WorkDir(candidate)
    raise InputError(f"{path}: no chunked job has run here (no manifest.json in it or in "
                     f"{default_work_dir(path)}); give the output of a chunked job, or its --work-dir")


def job_state(path: str) -> JobState:
    """Read the manifest, the chunk entries and the locks of the job behind `path`."""
    work = find_work_dir(path)
    manifest = work.read_json(work.manifest) or {}
    kept = _kept_parts(work)
    if kept:
        return JobState(work.root, path if not os.path.isdir(path) else None, "stopped", None, work.holder(),
                        kept, kept_until=kept[-1].end)
    plan = manifest.get("plan")
    if not (isinstance(plan, list) and all(isinstance(p, list) and len(p) == 2
                                           and all(isinstance(v, int) for v in p) for p in plan)):
        raise InputError(f"{work.manifest}: unreadable or without a chunk plan (a list of [first, last] frames); "
                         "the job never started properly, or the file was edited")
    fp, complete = manifest.get("fingerprint"), manifest.get("status") == "complete"
    chunks = []
    for i, (start, end) in enumerate(plan):
        entry = work.read_json(work.entry_path(i)) or {}
        chunk = Chunk(i, start, end)
        if complete:  # the join removed the segments; the entries remain
            done = entry.get("fingerprint") == fp and [entry.get("start"), entry.get("end")] == [start, end]
        else:  # what a resume would skip (a chunk recorded with a depth preview needs it too)
            done = work.finished_entry(chunk, fp, preview="preview" in entry) is not None
        holder = work.holder(f"lock.chunk_{i:04d}")
        if done:
            chunks.append(ChunkState(i, start, end, "done", entry.get("seconds"), entry.get("host")))
        else:
            chunks.append(ChunkState(i, start, end, "running" if holder else "to do", holder=holder))
    driver = work.holder()
    status = "complete" if complete else ("in progress" if driver or any(c.state == "running" for c in chunks)
                                          else "stopped")
    return JobState(work.root, manifest.get("output"), status, manifest.get("updated_utc"), driver, chunks)


def shot_line(job: Any) -> str:
    """One line for a job that may not have started: its state, or where it would write."""
    path = job.executor.work_dir or job.output.path
    try:
        return job_state(path).line()
    except InputError:
        return f"{job.output.path}: not started"


def describe_state(s: JobState) -> str:
    """A table a person reads: one row per chunk, then the summary line."""
    rows = [f"work folder {s.work}" + (f"; a run holds the job: {s.driver}" if s.driver else ""),
            f"{'chunk':>5s}  {'frames':>13s}  {'state':8s}  {'seconds':>7s}  where"]
    for c in s.chunks:
        where = c.holder or c.host or ""
        secs = f"{c.seconds:7.1f}" if isinstance(c.seconds, (int, float)) else " " * 7
        rows.append(f"{c.index:5d}  {f'{c.start}-{c.end}':>13s}  {c.state:8s}  {secs}  {where}")
    rows.append(s.line())
    return "\n".join(rows)


def _kept_parts(work: WorkDir) -> list[ChunkState]:
    """The parts a failed single pass kept (``WORK/kept/kept_NNNN.json``), as done chunks."""
    from .keep import kept_dir

    folder, parts = kept_dir(work), []
    while True:
        entry = work.read_json(os.path.join(folder, f"kept_{len(parts):04d}.json"))
        if not entry or not isinstance(entry.get("start"), int) or not isinstance(entry.get("end"), int):
            return parts
        parts.append(ChunkState(len(parts), entry["start"], entry["end"], "done", entry.get("seconds"), entry.get("host")))

"""A job's work folder: manifest.json, chunks/chunk_NNNN.json, segments/, logs/, report.json, locks.

Every run of a chunked job (a whole-job run, a ``--chunk N`` farm task, a ``--join``) goes
through it: it holds the job (or one chunk) with a kernel lock, says which chunks are finished
(:meth:`WorkDir.finished_entry`), and sweeps what killed writers left behind.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from ..errors import OutputError
from ..params import JobParams
from .manifest import ChunkRecord, file_identity, fingerprint
from ..io.paths import is_image_output
from .plan import Chunk
from .report import utc_now, write_json_atomic

log = logging.getLogger(__name__)


class WorkDir:
    """Layout of a job's work folder: manifest.json, chunks/NNNN.json, segments/, logs/, report.json."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @property
    def manifest(self) -> str:
        return os.path.join(self.root, "manifest.json")

    @property
    def report(self) -> str:
        return os.path.join(self.root, "report.json")

    def entry_path(self, i: int) -> str:
        return os.path.join(self.root, "chunks", f"chunk_{i:04d}.json")

    def log_path(self, i: int) -> str:
        return os.path.join(self.root, "logs", f"chunk_{i:04d}.log")

    def segment_path(self, i: int, output_path: str, codec: str = "auto") -> str:
        """A clip beside the others (same extension), or a folder holding the image pattern."""
        name = os.path.basename(output_path)
        if is_image_output(output_path, codec):
            return os.path.join(self.root, "segments", f"seg_{i:04d}", name)
        return os.path.join(self.root, "segments", f"seg_{i:04d}{os.path.splitext(name)[1]}")

    def preview_segment_path(self, i: int, preview_path: str) -> str:
        """Chunk i's part of the depth preview video (joined into `preview_path` at the end)."""
        return os.path.join(self.root, "segments", f"preview_{i:04d}{os.path.splitext(preview_path)[1] or '.mp4'}")

    def before_after_path(self, i: int) -> str:
        """The before/after image of the job's middle frame, written by the chunk that holds it."""
        return os.path.join(self.root, "segments", f"before_after_{i:04d}.png")

    @contextmanager
    def lock(self, name: str = "lock") -> Iterator[None]:
        """Hold the work folder for one driver while it renders and joins.

        `name` = ``lock.chunk_NNNN`` holds one chunk only: farm tasks that each render one chunk
        (``--chunk N``) run side by side, and a double submission of one of them still stops.
        A second run of the same job stops at once, naming who holds it. flock: released by the
        kernel if the holder dies, so a killed job never leaves a stale lock behind.
        """
        import socket

        try:
            os.makedirs(self.root, exist_ok=True)
            fd = os.open(os.path.join(self.root, name), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot create work folder {self.root}: {exc.strerror or exc}") from None
        try:
            what = f"chunk {int(name.rsplit('_', 1)[1])} of this job" if name.startswith("lock.chunk_") else "this job"
            if self._try_lock(fd, what):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {utc_now()}".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _try_lock(self, fd: int, what: str = "this job") -> bool:
        """True when locked; OutputError naming the holder when another run has it; False (with a
        warning) on a filesystem without locks (some FUSE/SMB mounts), where rendering goes on."""
        try:
            held_by = _flock_or_holder(fd)
        except OSError as exc:
            log.warning("cannot lock work folder %s (%s): a second run of this job would not be detected",
                        self.root, exc.strerror or exc)
            return False
        if held_by is None:
            return True
        raise OutputError(f"{what} is already running ({held_by}; work folder {self.root}); wait for it "
                          "to finish, or stop it and rerun to resume")

    def holder(self, name: str = "lock") -> Optional[str]:
        """Who holds lock `name` now ("pid 812 on node7 since ..."), or None when nobody does."""
        try:
            fd = os.open(os.path.join(self.root, name), os.O_RDWR)
        except OSError:
            return None  # never taken
        try:
            return _flock_or_holder(fd)  # None: free (closing the descriptor releases it again)
        except OSError:
            return None  # a filesystem without locks: nobody can be seen holding one
        finally:
            os.close(fd)

    def chunk_busy(self, i: int) -> bool:
        """True while a farm task (``--chunk i``) holds chunk i's lock (it may be writing its temp segment)."""
        return self.holder(f"lock.chunk_{i:04d}") is not None

    def prepare(self) -> None:
        try:
            for sub in ("chunks", "segments", "logs"):
                os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create work folder {self.root}: {exc.strerror or exc}") from None

    def log(self, i: int, text: str) -> None:
        """Append one line to the chunk's log (best effort: a full disk must not hide the real error)."""
        try:
            with open(self.log_path(i), "a", encoding="utf-8") as fh:
                fh.write(f"{utc_now()} pid {os.getpid()} {text}\n")
        except OSError:
            pass

    # -- manifest -------------------------------------------------------------------------------

    def read_json(self, path: str) -> Optional[dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def start(self, job: JobParams, chunks: list[Chunk], fp: Optional[str] = None, only: Optional[int] = None) -> bool:
        """Write/validate the manifest (job fingerprint `fp`, default: taken now); wipe stale chunk
        work. True when resuming.

        `only`: a farm task that renders that one chunk, beside other tasks of the same job: it
        sweeps the temp files of its own chunk only (the others may be writing theirs)."""
        fp = fp or fingerprint(job)
        plan = [[c.start, c.end] for c in chunks]
        old = self.read_json(self.manifest)
        resuming = bool(old and old.get("fingerprint") == fp and old.get("plan") == plan)
        if old and not resuming:
            for sub in ("chunks", "segments", "depth_out"):  # depth_out: a .mkv --depth-out's kept frames
                shutil.rmtree(os.path.join(self.root, sub), ignore_errors=True)
        elif resuming:
            self.remove_partials(only)
        self.prepare()
        write_json_atomic(self.manifest, {
            "version": 1, "fingerprint": fp, "input": job.input.path, "output": job.output.path,
            "plan": plan, "status": "running", "updated_utc": utc_now(),
        })
        return resuming

    def remove_partials(self, chunk: Optional[int] = None) -> list[str]:
        """Remove the temp files (``.NAME.<random>.partial.EXT``) of chunks that did not finish (of
        chunk `chunk` only, when given).

        A writer removes its own temp file when it is stopped; one that is killed (SIGKILL, the OOM
        killer, a farm signalling the whole process group) cannot. Only the run holding the work
        folder's lock (or the chunk's) calls this, and a whole-job run leaves the chunks whose lock
        a farm task holds, so no live writer loses its file.
        """
        removed = []
        root = os.path.join(self.root, "segments")
        busy: dict[int, bool] = {}
        for folder, _, files in os.walk(root):
            for name in files:
                if not (name.startswith(".") and ".partial" in name):
                    continue
                owner = _chunk_of(os.path.relpath(os.path.join(folder, name), root))
                if chunk is not None:
                    mine = owner == chunk
                else:  # a whole-job run: leave the chunks that farm tasks are rendering right now
                    mine = owner is None or not busy.setdefault(owner, self.chunk_busy(owner))
                if mine:
                    path = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        os.remove(path)
                        removed.append(path)
        return removed

    def finish(self, output_path: str) -> None:
        data = self.read_json(self.manifest) or {}
        data.update(status="complete", updated_utc=utc_now(), output_identity=file_identity(output_path))
        write_json_atomic(self.manifest, data)

    def is_complete(self, output_path: str, chunks: list[Chunk], fp: str) -> bool:
        """Finished with these parameters and inputs, and the output is still the file it wrote.

        An output that was deleted, replaced or edited since (its count / size / mtime changed)
        makes the job incomplete again, so it is rendered anew rather than reported done.
        """
        data = self.read_json(self.manifest)
        if not (data and data.get("status") == "complete" and data.get("fingerprint") == fp
                and data.get("plan") == [[c.start, c.end] for c in chunks]):
            return False
        written = data.get("output_identity")
        return written is None or written == file_identity(output_path)

    def write_record(self, record: ChunkRecord) -> None:
        write_json_atomic(self.entry_path(record.chunk), record.to_json())

    def finished_entry(self, chunk: Chunk, fp: Optional[str], preview: bool) -> Optional[ChunkRecord]:
        """The chunk's record (job fingerprint `fp`) if its finished segment is still there, unchanged."""
        rec = ChunkRecord.from_json(self.read_json(self.entry_path(chunk.index)))
        if rec is None or rec.fingerprint != fp or [rec.start, rec.end] != [chunk.start, chunk.end]:
            return None
        if rec.before_after and not os.path.isfile(rec.before_after):
            return None
        if not rec.segment_intact(chunk.frames):
            return None
        if os.path.isdir(rec.segment) or rec.files:
            return rec  # an image part has no preview segment of its own to check
        if preview and not (rec.preview and os.path.isfile(rec.preview)
                            and os.path.getsize(rec.preview) == rec.preview_bytes):
            return None
        return rec


def _flock_or_holder(fd: int) -> Optional[str]:
    """Take the exclusive lock on `fd` without waiting: None when taken, else the text its holder
    wrote ("pid 812 on node7 since ..."). OSError when the filesystem has no locks (ENOLCK)."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return None
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"


def _chunk_of(segment_relpath: str) -> Optional[int]:
    """The chunk a file under segments/ belongs to: ``.seg_0003.x.partial.mkv``, ``seg_0003/...``,
    ``.preview_0003.x.partial.mp4``, ``.before_after_0003...`` -> 3."""
    m = re.match(r"\.?(?:seg|preview|before_after)_(\d+)\b", segment_relpath)
    return int(m.group(1)) if m else None

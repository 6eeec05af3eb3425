"""Chunks, the job manifest, and resume: how one shot becomes independent, restartable work.

A shot's frame range is cut into ``N`` contiguous chunks. A chunk starts ``warmup`` frames early
(the largest ``warmup`` its temporal stages declare): those frames run through the stages up to the
last temporal one, bring their state to where an unsplit pass would have it, and are discarded.
So a split clip renders the same as an unsplit one, exactly for temporal stages with finite
memory (the warm-up covers it) and within the stage's stated tolerance for decaying memory.

Each chunk writes its own segment (a clip, or a folder of images) through the atomic writer and
then one manifest entry (atomic JSON). An entry exists only if its segment was finalised, so a
rerun trusts exactly the chunks with a valid entry and re-renders the others: a half-written chunk
(killed worker, full disk, Ctrl-C) is never used. The job fingerprint (every parameter that
changes pixels) guards against resuming with different settings.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from ..errors import GenRefocusError, InputError, OutputError
from ..io.frame import ClipInfo, Frame
from ..params import JobParams
from .local import run_stages
from ..record import FrameRecord, Stage
from .report import Timings, utc_now, write_json_atomic
from .stages import StageFactory, check_stages, last_temporal, max_warmup, reset_all

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    """Frames ``start..end`` (inclusive clip indices) of one shot."""

    index: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start + 1


def plan_chunks(first: int, last: int, n: int) -> list[Chunk]:
    """Split ``first..last`` into at most `n` contiguous chunks of near-equal length."""
    total = last - first + 1
    if total <= 0:
        raise InputError(f"empty frame range {first}-{last}")
    n = max(1, min(n, total))
    bounds = [first + (total * i) // n for i in range(n + 1)]
    return [Chunk(i, bounds[i], bounds[i + 1] - 1) for i in range(n)]


def fingerprint(job: JobParams) -> str:
    """Hash of every parameter that can change output pixels (not scheduling, not overwrite), of
    the tool's version and of the input files' identity (size, modification time)."""
    d = job.to_dict()
    d.pop("executor", None)
    out = dict(d.get("output", {}))
    for k in ("overwrite", "before_after", "contact_sheet", "contact_frames", "path"):
        out.pop(k, None)
    out["ext"] = os.path.splitext(job.output.path)[1].lower()
    d["output"] = out
    # chunks rendered by another release are not reused: one clip must not mix two renderers
    from .. import __version__

    d["tool_version"] = __version__
    # nor chunks of a plate (or depth pass, keyframe file, iris image) re-exported under the same name
    d["file_identity"] = {key: file_identity(path) for key, path in (
        ("input", job.input.path), ("depth", job.depth.path), ("keyframes", job.focus.keyframes),
        ("aperture_image", job.aperture.image)) if path}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


_IDENTITY: dict[str, tuple[float, Optional[list[int]]]] = {}
IDENTITY_TTL_S = 30.0  # fingerprints are taken several times per chunk: stat a long sequence once


def file_identity(path: str) -> Optional[list[int]]:
    """(count, total bytes, newest mtime in ns) of a file or an image-sequence pattern; None for
    anything else (a keyframe list written inline, a missing file)."""
    now = time.monotonic()
    hit = _IDENTITY.get(path)
    if hit is not None and now - hit[0] < IDENTITY_TTL_S:
        return hit[1]
    value = _file_identity(path)
    if len(_IDENTITY) > 64:
        _IDENTITY.clear()
    _IDENTITY[path] = (now, value)
    return value


def _file_identity(path: str) -> Optional[list[int]]:
    from ..io.paths import is_pattern
    from ..io.sequence import sequence_files

    if os.path.isfile(path):
        files = [path]
    elif is_pattern(path):
        files = sequence_files(path)
    else:
        return None
    try:
        stats = [os.stat(f) for f in files]
    except OSError:
        return None
    if not stats:
        return None
    return [len(stats), sum(st.st_size for st in stats), max(st.st_mtime_ns for st in stats)]


def is_sequence_output(path: str, codec: str = "auto") -> bool:
    from ..io.paths import is_image_output

    return is_image_output(path, codec)


def default_work_dir(output_path: str) -> str:
    """`out.mov.work` beside the output (`out.%04d.exr` -> `out.exr.work`; a video named
    `take #1.mp4` keeps its `#`, which is not a frame number there)."""
    from ..io.paths import is_pattern

    folder, name = os.path.split(os.path.abspath(output_path))
    if is_pattern(output_path):
        name = re.sub(r"[._-]?(%0?\d*d|#+)", "", name)  # out.%04d.exr -> out.exr
        name = re.sub(r"[%*?\[\]]", "_", name)
    return os.path.join(folder, name + ".work")


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
        if is_sequence_output(output_path, codec):
            return os.path.join(self.root, "segments", f"seg_{i:04d}", name)
        return os.path.join(self.root, "segments", f"seg_{i:04d}{os.path.splitext(name)[1]}")

    def preview_segment_path(self, i: int, preview_path: str) -> str:
        """Chunk i's part of the depth preview video (joined into `preview_path` at the end)."""
        return os.path.join(self.root, "segments", f"preview_{i:04d}{os.path.splitext(preview_path)[1] or '.mp4'}")

    @contextmanager
    def lock(self, name: str = "lock") -> Iterator[None]:
        """Hold the work folder for one driver while it renders and joins.

        `name` = ``lock.chunk_NNNN`` holds one chunk only: farm tasks that each render one chunk
        (``--chunk N``) run side by side, and a double submission of one of them still stops.

        A second run of the same job (a double submission on the farm) used to render every chunk
        again beside the first and then fail in the join, whose segments the first had just
        removed; it now stops at once, naming who holds the job. flock: released by the kernel if
        the holder dies, so a killed job never leaves a stale lock behind.
        """
        import socket

        try:
            os.makedirs(self.root, exist_ok=True)
            fd = os.open(os.path.join(self.root, name), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot create work folder {self.root}: {exc.strerror or exc}") from None
        try:
            what = f"chunk {int(name.rsplit('_', 1)[1])} of this job" if name.startswith("lock.chunk_") else "this job"
            locked = self._try_lock(fd, what)
            if locked:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                              f"{utc_now()}".encode(), 0)
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
        """True while a farm task (``--chunk i``) holds chunk i's lock: it may be writing its temp
        segment right now, so nobody else may sweep it."""
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

    def start(self, job: JobParams, chunks: list[Chunk], only: Optional[int] = None) -> bool:
        """Write/validate the manifest; wipe stale chunk work. Returns True when resuming.

        `only`: a farm task that renders that one chunk, beside other tasks of the same job: it
        sweeps the temp files of its own chunk only (the others may be writing theirs)."""
        fp = fingerprint(job)
        plan = [[c.start, c.end] for c in chunks]
        old = self.read_json(self.manifest)
        resuming = bool(old and old.get("fingerprint") == fp and old.get("plan") == plan)
        if old and not resuming:
            for sub in ("chunks", "segments"):
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
        killer, a farm signalling the whole process group so Ray's workers die at once) cannot. Only
        the run holding the work folder's lock (or the chunk's) calls this, and a whole-job run
        leaves the chunks whose lock a farm task holds, so no live writer loses its file.
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

    def finish(self, job: JobParams, chunks: list[Chunk]) -> None:
        data = self.read_json(self.manifest) or {}
        data.update(status="complete", updated_utc=utc_now(),
                    output_identity=_file_identity(job.output.path))
        write_json_atomic(self.manifest, data)

    def is_complete(self, job: JobParams, chunks: list[Chunk]) -> bool:
        """Finished with these parameters and inputs, and the output is still the file it wrote.

        An output that was deleted, replaced or edited since (its count / size / mtime changed)
        makes the job incomplete again, so it is rendered anew rather than reported done.
        """
        data = self.read_json(self.manifest)
        if not (data and data.get("status") == "complete" and data.get("fingerprint") == fingerprint(job)
                and data.get("plan") == [[c.start, c.end] for c in chunks]):
            return False
        written = data.get("output_identity")
        return written is None or written == _file_identity(job.output.path)

    def valid_entry(self, job: JobParams, chunk: Chunk) -> Optional[dict[str, Any]]:
        """The chunk's manifest entry if its finished segment is still there, unchanged."""
        return self.finished_entry(chunk, fingerprint(job), bool(job.depth.preview))

    def finished_entry(self, chunk: Chunk, fp: Optional[str], preview: bool) -> Optional[dict[str, Any]]:
        """`valid_entry` for a reader that has the job's fingerprint `fp` but not the job (status)."""
        entry = self.read_json(self.entry_path(chunk.index))
        if not entry or entry.get("fingerprint") != fp:
            return None
        if [entry.get("start"), entry.get("end")] != [chunk.start, chunk.end]:
            return None
        seg = entry.get("segment", "")
        if os.path.isdir(seg) or entry.get("files"):
            files = entry.get("files", [])
            ok = all(os.path.isfile(os.path.join(seg, f)) for f in files) and len(files) == chunk.frames
            return entry if ok else None
        if not os.path.isfile(seg) or os.path.getsize(seg) != entry.get("bytes"):
            return None
        if preview and not _preview_ok(entry):
            return None
        return entry


# -- running one chunk -----------------------------------------------------------------------------

_STAGE_CACHE: dict[tuple, list[Stage]] = {}


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
    ``.preview_0003.x.partial.mp4`` -> 3."""
    m = re.match(r"\.?(?:seg|preview)_(\d+)\b", segment_relpath)
    return int(m.group(1)) if m else None


def _cache_key(job: JobParams, factory: StageFactory) -> tuple:
    # repr: a dataclass factory shows its settings; functions show module-level identities.
    return fingerprint(job), job.input.path, type(factory).__qualname__, repr(factory)


def stages_for(job: JobParams, info: ClipInfo, factory: StageFactory) -> list[Stage]:
    """Stages built once per process and job (models load once per worker), reset per chunk."""
    key = _cache_key(job, factory)
    stages = _STAGE_CACHE.get(key)
    if stages is None:
        if len(_STAGE_CACHE) >= 2:  # a farm worker moves on to another shot: free the old models
            _STAGE_CACHE.clear()
        stages = check_stages(factory.head(job, info)) + check_stages(factory.tail(job, info))
        _STAGE_CACHE[key] = stages
    return stages


def _out_of_space(exc: BaseException) -> Optional[str]:
    """'disk full' / 'disk quota exceeded' / 'file size limit reached' if that caused `exc`."""
    reasons = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in reasons:
            return reasons[exc.errno]
        text = str(exc)
        for needle, reason in (("No space left", "disk full"), ("Disk quota", "disk quota exceeded"),
                               ("File too large", "file size limit reached")):
            if needle in text:
                return reason
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return None


def run_chunk(job: JobParams, info: ClipInfo, chunk: Chunk, work: WorkDir, factory: StageFactory, *,
              on_frames: Optional[Callable[[int], None]] = None, report_every: int = 4) -> dict[str, Any]:
    """Render one chunk (with warm-up) into its segment; write and return its manifest entry."""
    from .inputs import open_input
    from ..io.writer import open_writer

    t_start = time.perf_counter()
    stages = stages_for(job, info, factory)
    reset_all(stages)
    warm = max_warmup(stages)
    warm_stages = stages[: last_temporal(stages) + 1]
    read_start = max(job.input.first_frame, chunk.start - warm)
    seg = work.segment_path(chunk.index, job.output.path, job.output.codec)
    os.makedirs(os.path.dirname(seg), exist_ok=True)
    work.log(chunk.index, f"start chunk {chunk.index}: frames {chunk.start}-{chunk.end}, warm-up from {read_start}")
    timings = Timings()
    # stages that write a per-chunk side file (the depth preview): this chunk's frames to a segment
    previews = [s for s in stages if callable(getattr(s, "begin_segment", None))]
    preview_seg = work.preview_segment_path(chunk.index, job.depth.preview) if job.depth.preview else None
    if preview_seg:
        for s in previews:
            s.begin_segment(preview_seg, chunk.start)
    focus_rows: list[dict[str, Any]] = []
    focus_values: list[list[float]] = []
    written = 0
    start_time: Optional[float] = None  # source time of the chunk's first written frame (audio range)
    unreported = 0
    try:
        with open_input(job, read_start, chunk.end) as reader:
            with open_writer(seg, info, codec=job.output.codec, pix_fmt=job.output.pix_fmt,
                             transfer=job.output.transfer, crf=job.output.crf, exr_half=job.output.exr_half,
                             audio_from=None, overwrite=True, segment=True) as writer:
                frames = iter(reader)
                while True:
                    t0 = time.perf_counter()
                    frame = next(frames, None)
                    t_dec = time.perf_counter() - t0
                    if frame is None:
                        break
                    rec = FrameRecord(frame)
                    if frame.index < chunk.start:  # warm-up: bring temporal state up, discard output
                        run_stages(rec, warm_stages)
                        timings.add("warmup", time.perf_counter() - t0)
                        continue
                    rec.timings["decode"] = t_dec
                    rec = run_stages(rec, stages)
                    t1 = time.perf_counter()
                    alpha = rec.output_alpha if rec.output_alpha is not None else frame.alpha
                    writer.write(Frame(rec.index, rec.output, alpha, frame.time, frame.extra))
                    if start_time is None:  # the streaming writer's rule (io/video_writer): timestamp, else index / fps
                        start_time = float(frame.time) if frame.time > 0 else frame.index / float(info.fps or 24.0)
                    rec.timings["encode"] = time.perf_counter() - t1
                    timings.add_record(rec.timings)
                    if isinstance(rec.extras.get("focus"), dict):
                        focus_rows.append(_plain(rec.extras["focus"]))
                    if rec.focus_disparity is not None:  # what each frame was rendered with (contact sheet)
                        focus_values.append([rec.index, float(rec.focus_disparity)])
                    written += 1
                    unreported += 1
                    if on_frames is not None and unreported >= report_every:
                        on_frames(unreported)
                        unreported = 0
                # Frame indices live on the frame-rate grid: a variable-frame-rate clip leaves slots
                # empty, as a single pass would (a file that ends early is caught by the reader).
                if written == 0:
                    raise InputError(f"{job.input.path}: chunk {chunk.index} (frames {chunk.start}-{chunk.end}) holds "
                                     "no frame (a gap in a variable-frame-rate clip); render with fewer chunks")
                if written != chunk.frames:
                    work.log(chunk.index, f"{written} of {chunk.frames} frame slots hold a frame (variable frame rate)")
                close = getattr(writer, "close", None)
                if callable(close):
                    close()
        for s in previews:
            s.close()
        entry: dict[str, Any] = {
            "chunk": chunk.index, "start": chunk.start, "end": chunk.end, "frames": written, "start_time": start_time,
            "warmup_from": read_start, "fingerprint": fingerprint(job), "segment": _segment_location(seg, job),
            "pid": os.getpid(), "host": os.uname().nodename, "seconds": round(time.perf_counter() - t_start, 4),
            "timings": timings.to_dict(),
        }
        if focus_rows:  # the focus track of this chunk, for the job's --export-focus-track / --focus-plot
            entry["focus_rows"] = focus_rows
        if focus_values:
            entry["focus_values"] = focus_values
        if previews and preview_seg and os.path.isfile(preview_seg):
            entry["preview"], entry["preview_bytes"] = preview_seg, os.path.getsize(preview_seg)
        loc = entry["segment"]
        if os.path.isdir(loc):
            entry["files"] = sorted(f for f in os.listdir(loc) if not f.startswith("."))
        else:
            entry["bytes"] = os.path.getsize(loc)
        write_json_atomic(work.entry_path(chunk.index), entry)
    except BaseException as exc:
        for s in previews:
            s.abort()
        work.log(chunk.index, f"failed: {type(exc).__name__}: {exc}")
        reason = _out_of_space(exc)
        if reason:
            raise OutputError(f"{reason} while writing chunk {chunk.index} (frames {chunk.start}-{chunk.end}) "
                              f"in {work.root}; finished chunks are kept: free space and rerun to resume") from None
        if isinstance(exc, GenRefocusError):
            raise
        if isinstance(exc, OSError):
            raise OutputError(f"chunk {chunk.index}: cannot write {seg}: {exc.strerror or exc}") from None
        raise
    if on_frames is not None and unreported:
        on_frames(unreported)
    work.log(chunk.index, f"done chunk {chunk.index}: {written} frames in {entry['seconds']:.2f} s")
    return entry


def _preview_ok(entry: dict[str, Any]) -> bool:
    """The chunk's depth-preview segment is still there, unchanged."""
    path = entry.get("preview")
    return bool(path) and os.path.isfile(path) and os.path.getsize(path) == entry.get("preview_bytes")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (numpy scalars -> Python numbers)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def _segment_location(seg: str, job: JobParams) -> str:
    return os.path.dirname(seg) if is_sequence_output(job.output.path, job.output.codec) else seg

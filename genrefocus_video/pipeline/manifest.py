"""What a chunked job records about itself: the job fingerprint and one typed record per chunk.

A record exists only once its chunk's segment was finalised (atomic JSON written after the
segment), so a resume trusts exactly the chunks with a valid record. The fingerprint (every
parameter that changes pixels, the tool's version and the inputs' identity) guards against
resuming or joining with different settings or re-exported inputs.

:class:`ChunkRecord` reads the entries older runs wrote (the same JSON keys; the fields added
since, ``focus_keys`` and ``before_after``, are optional), so a rerun after an upgrade of the
pipeline code resumes them — unless the tool's version changed, which the fingerprint refuses.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..params import JobParams, resolve_auto

def default_work_dir(output_path: str) -> str:
    """`out.mov.work` beside the output (`out.%04d.exr` -> `out.exr.work`; a video named
    `take #1.mp4` keeps its `#`, which is not a frame number there)."""
    from ..io.paths import is_pattern

    folder, name = os.path.split(os.path.abspath(output_path))
    if is_pattern(output_path):
        name = re.sub(r"[._-]?(%0?\d*d|#+)", "", name)  # out.%04d.exr -> out.exr
        name = re.sub(r"[%*?\[\]]", "_", name)
    return os.path.join(folder, name + ".work")


def fingerprint(job: JobParams) -> str:
    """Hash of every parameter that can change output pixels (not scheduling, not overwrite), of
    the tool's version and of the input files' identity (size, modification time).

    Taken once per run (:class:`.plan.JobPlan`) and handed to whatever needs it, so that a long
    image sequence is stat-ed once, not once per chunk check."""
    d = resolve_auto(job, say=False).to_dict()  # auto and the number it stands for are one job
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


def file_identity(path: str) -> Optional[list[int]]:
    """(count, total bytes, newest mtime in ns) of a file or an image-sequence pattern; None for
    anything else (a keyframe list written inline, a missing file)."""
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


@dataclass
class ChunkRecord:
    """One finished chunk: where its segment is, what it holds, and the side data the job's side
    outputs need (focus rows / values / keys, the before/after image when the chunk holds the
    job's middle frame). Written as ``chunks/chunk_NNNN.json``."""

    chunk: int
    start: int  # first frame of the chunk (inclusive clip index)
    end: int  # last frame (inclusive)
    frames: int  # frames written (fewer than end-start+1 where a variable frame rate leaves slots empty)
    fingerprint: str
    segment: str  # the segment clip, or the folder holding the chunk's images
    start_time: Optional[float] = None  # source time (s) of the first written frame: the audio's range
    warmup_from: Optional[int] = None  # first frame decoded (warm-up frames are rendered, not written)
    pid: Optional[int] = None
    host: Optional[str] = None
    seconds: Optional[float] = None  # wall time of the chunk
    timings: dict[str, Any] = field(default_factory=dict)  # Timings.to_dict()
    bytes: Optional[int] = None  # a clip segment's size (a changed size means it is not ours)
    files: Optional[list[str]] = None  # an image segment's file names
    preview: Optional[str] = None  # the chunk's depth-preview segment
    preview_bytes: Optional[int] = None
    focus_rows: list[dict[str, Any]] = field(default_factory=list)  # the focus track of these frames
    focus_values: list[list[float]] = field(default_factory=list)  # [frame, focus disparity] per frame
    focus_keys: list[list[float]] = field(default_factory=list)  # [frame, value] of the focus keyframes
    depth_rows: list[dict[str, Any]] = field(default_factory=list)  # estimated depth's per-frame fixes (report)
    before_after: Optional[str] = None  # the before/after PNG, when the job's middle frame is here

    def segment_intact(self, frames: int) -> bool:
        """The segment is still there as this record wrote it: `frames` images of an image part, or
        the clip at its recorded byte size (a changed size means another run replaced it)."""
        if os.path.isdir(self.segment) or self.files:
            files = self.files or []
            return len(files) == frames and all(os.path.isfile(os.path.join(self.segment, f)) for f in files)
        return os.path.isfile(self.segment) and os.path.getsize(self.segment) == self.bytes

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the entry (empty optional fields left out, as older runs wrote it)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != []}

    @classmethod
    def from_json(cls, data: Any) -> Optional["ChunkRecord"]:
        """The record of a JSON entry, or None when it is not one (damaged, edited, another format)."""
        if not isinstance(data, dict):
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            rec = cls(**known)
        except TypeError:  # a required key is missing
            return None
        if not (isinstance(rec.chunk, int) and isinstance(rec.start, int) and isinstance(rec.end, int)
                and isinstance(rec.frames, int) and isinstance(rec.segment, str)):
            return None
        return rec

    def focus_by_frame(self) -> dict[int, float]:
        return {int(i): float(a) for i, a in self.focus_values}

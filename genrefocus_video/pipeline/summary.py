"""What a job did: the summary line the CLI prints, and the job report written to the work folder."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..params import JobParams
from .report import Timings, build_report, write_json_atomic
from .workdir import WorkDir

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a job did, for the closing line and for callers (farm, tests)."""

    output: str
    frames: int
    seconds: float
    executor: str
    workers: int
    chunks_total: int = 1
    chunks_rendered: int = 1
    chunks_skipped: int = 0
    report: Optional[str] = None
    startup_seconds: float = 0.0
    timings: Timings = field(default_factory=Timings)
    already_complete: bool = False  # finished by an earlier run: nothing rendered, nothing written
    only_chunk: Optional[tuple[int, int, int]] = None  # a --chunk farm task: (chunk, first frame, last frame)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def _frames(self) -> str:
        return f"{self.frames} frame" + ("" if self.frames == 1 else "s")

    def line(self) -> str:
        if self.only_chunk is not None:
            i, a, b = self.only_chunk
            what = (f"chunk {i} (frames {a}-{b}) was already done" if self.chunks_rendered == 0 else
                    f"rendered chunk {i} (frames {a}-{b}): {self._frames()} in {self.seconds:.1f} s ({self.fps:.2f} fps)")
            return (f"{self.output}: {what}, {self.chunks_total} chunks in the job; run it with --join once every "
                    "chunk is done")
        if self.already_complete:
            return (f"{self.output} is already complete ({self.chunks_total} chunks, same parameters and inputs); "
                    "nothing rendered — pass --overwrite to render it again")
        if self.frames == 0 and self.chunks_total > 1 and self.chunks_skipped == self.chunks_total:
            # every chunk was rendered by a run stopped before the join: this run only joined them
            return (f"wrote {self.output}: joined {self.chunks_total} chunks rendered earlier, in "
                    f"{self.seconds:.1f} s" + (f"; report {self.report}" if self.report else ""))
        parts = [f"wrote {self.output}: {self._frames()} in {self.seconds:.1f} s ({self.fps:.2f} fps)",
                 f"executor {self.executor} x{self.workers}"
                 + (f" (start-up {self.startup_seconds:.1f} s)" if self.startup_seconds >= 0.05 else "")]
        if self.chunks_total > 1:
            parts.append(f"chunks {self.chunks_rendered} rendered, {self.chunks_skipped} resumed of {self.chunks_total}")
        if self.report:
            parts.append(f"report {self.report}")
        return "; ".join(parts)


def depth_estimate_report(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report's ``depth_estimate``: every frame rendered from estimated depth with the pixels
    the estimate's sanitising in-painted / clamped and the render clamped to the blur reach
    (depth/sanitise.py), whether it fell back to the source's weak cue or held a neighbouring
    frame's map, the exposure steps motion depth corrected between a frame and its partners (frames
    with one, the largest in per cent), and the totals. A user's depth file has none (it is used as
    given). Rows kept by a run of older versions may lack ``fallback``, ``held`` or
    ``exposure_step_pct`` (counted as 0)."""
    keys = ("nonfinite", "outliers", "blur_clamped")
    steps = [float(r.get("exposure_step_pct", 0.0)) for r in rows]
    return {"frames": len(rows), "frames_fixed": sum(1 for r in rows if any(r[k] for k in keys)),
            "frames_fallback": sum(int(r.get("fallback", 0)) for r in rows),
            "frames_held": sum(int(r.get("held", 0)) for r in rows),
            "frames_exposure_matched": sum(1 for x in steps if x > 0), "exposure_step_pct_max": max(steps, default=0.0),
            "pixels": {k: sum(r[k] for r in rows) for k in keys}, "per_frame": list(rows)}


def frame_runs(frames: Sequence[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive frame indices, in the order given (ascending)."""
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs


def frame_spans(frames: Sequence[int]) -> str:
    """'3-7, 12, 20-21' for sorted frame indices (a warning's list of runs)."""
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in frame_runs(frames))


def warn_fallback_frames(rows: Sequence[dict[str, Any]]) -> None:
    """Name, at the job's end where a wrangler reads, every frame whose depth estimate fell back to
    its weak cue (`rows`: the report's per-frame rows, sorted); the source warns once, at the first.
    Frames that held a neighbour's motion depth are named too, at INFO: not a problem, but a map
    that was not measured there."""
    weak = [r["frame"] for r in rows if r.get("fallback")]
    if weak:
        log.warning("the depth estimate fell back to its weak defocus cue on %d of %d frames (%s): the camera "
                    "moved too little there for motion depth (or only turned, as on a tripod); give a depth pass "
                    "(--depth PATH) or a learned model (--depth-source model) for those shots",
                    len(weak), len(rows), frame_spans(weak))
    held = [r["frame"] for r in rows if r.get("held")]
    if held:
        log.info("motion depth held a neighbouring frame's map, warped by the flow, on %d of %d frames (%s): "
                 "the camera moved too little there for depth of their own", len(held), len(rows), frame_spans(held))
    stepped = [r for r in rows if r.get("exposure_step_pct", 0) > 0]
    if stepped:
        log.info("motion depth brought its partner frames to the frame's exposure on %d of %d frames (%s; steps up "
                 "to %.1f %%): the camera's exposure changed during the shot", len(stepped), len(rows),
                 frame_spans([r["frame"] for r in stepped]), max(r["exposure_step_pct"] for r in stepped))


def write_report(job: JobParams, work: WorkDir, s: RunSummary, chunks: list[dict[str, Any]],
                 depth_rows: Sequence[dict[str, Any]] = ()) -> Optional[str]:
    """Write ``report.json`` in the work folder; `depth_rows`: estimated depth's per-frame counts
    (their fallback frames are also named in a warning, whether or not the report can be written)."""
    rows = sorted(depth_rows, key=lambda r: r["frame"])
    warn_fallback_frames(rows)
    try:
        work.prepare()
        extra = {"startup_seconds": round(s.startup_seconds, 3), "chunks_rendered": s.chunks_rendered,
                 "chunks_skipped": s.chunks_skipped}
        if rows:
            extra["depth_estimate"] = depth_estimate_report(rows)
        data = build_report(job=job.to_dict(), output=s.output, frames=s.frames, wall_s=s.seconds,
                            timings=s.timings, executor=s.executor, workers=s.workers, chunks=chunks, extra=extra)
        write_json_atomic(work.report, data)
        return work.report
    except OSError as exc:  # the render itself succeeded: say so, do not fail the job
        log.warning("could not write the job report in %s: %s", work.root, exc)
        return None

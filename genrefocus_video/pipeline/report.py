"""Where the time went: per-stage timings collected from every frame, and the JSON job report.

Each stage adds its wall time to ``FrameRecord.timings[stage]``; the executor adds ``decode``,
``encode`` and ``wait`` (time the driver spent blocked on workers). :class:`Timings` sums them
per stage, so the report answers "which stage should I speed up" for a whole job, no matter how
many workers or chunks the frames went through.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass
class Timings:
    """Seconds and frame counts per stage name (mergeable across chunks and workers)."""

    seconds: dict[str, float] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float, frames: int = 1) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)
        self.frames[name] = self.frames.get(name, 0) + int(frames)

    def add_record(self, timings: Mapping[str, float]) -> None:
        for name, sec in timings.items():
            self.add(name, sec)

    def merge(self, other: "Timings | Mapping[str, Any]") -> None:
        if isinstance(other, Mapping):
            other = Timings(dict(other.get("seconds", {})), dict(other.get("frames", {})))
        for name, sec in other.seconds.items():
            self.add(name, sec, other.frames.get(name, 0))

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": dict(self.seconds), "frames": dict(self.frames)}

    def breakdown(self) -> list[dict[str, Any]]:
        """Stages sorted by total time, with their share and per-frame cost."""
        total = sum(self.seconds.values()) or 1.0
        rows = []
        for name, sec in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            n = self.frames.get(name, 0)
            rows.append({"stage": name, "seconds": round(sec, 6), "share": round(sec / total, 4),
                         "frames": n, "ms_per_frame": round(1000.0 * sec / n, 3) if n else None})
        return rows


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON through a temp file in the same folder + os.replace (never half-written)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def utc_now() -> str:
    """The timestamp every job file and log line uses: ISO 8601, UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def build_report(*, job: Mapping[str, Any], output: str, frames: int, wall_s: float, timings: Timings,
                 executor: str, workers: int, chunks: list[dict[str, Any]] | None = None,
                 extra: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The job report: what ran, how long, and which stage took the time."""
    report: dict[str, Any] = {
        "output": output,
        "finished_utc": utc_now(),
        "host": platform.node(),
        "executor": executor,
        "workers": workers,
        "frames": frames,
        "wall_seconds": round(wall_s, 3),
        "fps": round(frames / wall_s, 3) if wall_s > 0 else None,
        "stage_seconds_total": round(sum(timings.seconds.values()), 3),
        "stages": timings.breakdown(),
        "chunks": chunks or [],
        "job": dict(job),
    }
    if extra:
        report.update(extra)
    return report

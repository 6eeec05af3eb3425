"""Writing the resolved focus track (JSON / CSV), its PNG plot, and the depth preview video.

JSON: a list with one object per frame, ``{"frame": i, "focus_disparity": a, "time": s, "mode":
..., "status": ..., "subject_disparity": ..., "subject_lo": ..., "subject_hi": ..., "box_x": ...}``;
CSV: the same columns, one row per frame (empty cells for None). Every file is written to a
temporary name in the target folder and renamed into place (never half-written).
"""
from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ..errors import OutputError
from ..io.atomic import commit, discard, temp_path_for


@contextmanager
def _atomic(path: str) -> Iterator[str]:
    """A temp file beside `path` (io.atomic's naming and permissions), renamed onto it on success."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: folder {folder} does not exist")
    tmp = temp_path_for(os.path.abspath(path))
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    commit(tmp, path)


def write_focus_track(rows: Sequence[dict[str, Any]], path: str) -> str:
    """Write rows as .json (list of objects) or .csv (same columns)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".json", ".csv"):
        raise OutputError(f"{path}: focus track export must end in .json or .csv")
    cols = list(rows[0].keys()) if rows else ["frame", "focus_disparity"]
    try:
        with _atomic(path) as tmp:
            with open(tmp, "w", newline="") as fh:
                if ext == ".json":
                    json.dump([dict(r) for r in rows], fh, indent=1)
                    fh.write("\n")
                else:
                    w = csv.DictWriter(fh, fieldnames=cols)
                    w.writeheader()
                    for r in rows:
                        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the focus track ({exc.strerror or exc})") from None
    return path


def read_focus_track(path: str) -> list[dict[str, Any]]:
    """Read a track written by :func:`write_focus_track` (CSV numbers parsed back)."""
    if path.lower().endswith(".json"):
        with open(path) as fh:
            return json.load(fh)
    out = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v == "":
                    row[k] = None
                    continue
                try:
                    row[k] = int(v) if k == "frame" else float(v)
                except ValueError:
                    row[k] = v
            out.append(row)
    return out


def plot_focus_track(rows: Sequence[dict[str, Any]], path: str, keys: Optional[Sequence[Any]] = None,
                     title: str = "", focus_range: float = 0.0) -> str:
    """PNG: focus disparity over frames, the subject's depth band, keyframes, lost-track spans, and
    the band kept sharp (a ± focus_range/2) when a focus range is set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = np.array([r["frame"] for r in rows])
    a = np.array([r["focus_disparity"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    sub = np.array([np.nan if r.get("subject_disparity") is None else r["subject_disparity"] for r in rows], float)
    if np.isfinite(sub).any():
        lo = np.array([np.nan if r.get("subject_lo") is None else r["subject_lo"] for r in rows], float)
        hi = np.array([np.nan if r.get("subject_hi") is None else r["subject_hi"] for r in rows], float)
        ax.fill_between(frames, lo, hi, color="tab:orange", alpha=0.25, linewidth=0,
                        label="subject depth band (10-90%)")
        ax.plot(frames, sub, ".", color="tab:orange", ms=3, label="subject disparity (measured)")
    lost = np.array([r.get("status") == "lost" for r in rows])
    if lost.any():
        for f in frames[lost]:
            ax.axvspan(f - 0.5, f + 0.5, color="tab:red", alpha=0.15, linewidth=0)
        ax.plot([], [], color="tab:red", alpha=0.3, lw=6, label="track lost (focus held)")
    w = np.array([focus_range if r.get("focus_range") is None else r["focus_range"] for r in rows], float)
    if (w > 0).any():  # the band kept sharp: per frame when it follows a subject, else constant
        label = f"kept sharp (focus range {w[0]:g})" if np.all(w == w[0]) else "kept sharp (follows the subject)"
        ax.fill_between(frames, a - w / 2, a + w / 2, color="tab:blue", alpha=0.12, linewidth=0, label=label)
    ax.plot(frames, a, "-", color="tab:blue", lw=1.8, label="focus disparity a(t)")
    if keys:
        kf = [k.frame for k in keys]
        kv = [k.value for k in keys]
        ax.plot(kf, kv, "D", color="black", ms=5, label="keyframes")
    ax.set_xlabel("frame")
    ax.set_ylabel("disparity (larger = nearer)")
    mode = rows[0].get("mode") if rows else ""
    ax.set_title(f"focus track{(' - ' + title) if title else ''} ({mode})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    try:
        with _atomic(path) as tmp:
            fig.savefig(tmp, format="png")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the focus plot ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return path


class PreviewWriter:
    """H.264 (yuv420p) preview video written with PyAV to a temp file, renamed on close."""

    def __init__(self, path: str, width: int, height: int, fps: float, pixel_aspect: float = 1.0) -> None:
        import av
        from fractions import Fraction

        folder = os.path.dirname(os.path.abspath(path)) or "."
        if not os.path.isdir(folder):
            raise OutputError(f"{path}: folder {folder} does not exist")
        self.path = path
        self.tmp = temp_path_for(os.path.abspath(path))
        self.container = av.open(self.tmp, "w", format=None if os.path.splitext(path)[1] else "mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
        self.stream.width, self.stream.height = width, height
        if pixel_aspect != 1.0:
            self.stream.codec_context.sample_aspect_ratio = Fraction(pixel_aspect).limit_denominator(1000)
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18"}

    def write(self, rgb8: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(rgb8, format="rgb24")
        for pkt in self.stream.encode(frame):
            self.container.mux(pkt)

    def close(self) -> None:
        for pkt in self.stream.encode():
            self.container.mux(pkt)
        self.container.close()
        commit(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        finally:
            discard(self.tmp)

"""Interlaced video: which streams are, and turning their frames into progressive ones on read.

An interlaced frame holds two fields captured 1/50 or 1/60 s apart on alternate lines. Treated as
a progressive picture, anything that moves shows combing, and depth estimation, flow and the
bokeh then smear the combs. Frames are deinterlaced on the decoded planes, before they are
linearised (chroma is handled per field), with FFmpeg's ``bwdif`` in send-frame mode: one frame
in, one frame out, the field shown first kept, the other interpolated — from the neighbouring
frames where the picture is still (no detail lost there), spatially where it moves.

bwdif needs the previous and the next frame. :class:`Deinterlacer` therefore answers one frame
late, and a reader that starts mid-clip (a seek, a farm chunk) starts decoding one frame early
(``PREROLL``), so every frame sees the same neighbours as in a single pass from the start: chunked
renders stay identical to streaming ones.
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Any, Iterator, Optional

MODES = ("auto", "on", "off")
PREROLL = 1  # frames decoded before the first wanted one, for the previous-frame neighbour

# FFmpeg AVFieldOrder -> what it means for the picture (the field shown first)
_FIELD_ORDER = {1: "progressive", 2: "tff", 3: "bff", 4: "bff", 5: "tff"}


def field_order(codec_field_order: int, first_frame_interlaced: bool) -> Optional[str]:
    """'progressive', 'tff' or 'bff' from the stream's field order, else from the first frame's flag
    ('interlaced' when only the frame says so); None when nothing is known."""
    name = _FIELD_ORDER.get(int(codec_field_order or 0))
    if name is None and first_frame_interlaced:
        return "interlaced"
    return name


def is_interlaced(order: Optional[str]) -> bool:
    return order in ("tff", "bff", "interlaced")


class Deinterlacer:
    """bwdif over a stream of decoded frames ('auto': only frames flagged interlaced, so progressive
    frames in an interlaced stream (PsF) pass unchanged; 'on': every frame). Field parity comes
    from each frame's own flags."""

    def __init__(self, mode: str) -> None:
        if mode not in ("auto", "on"):
            raise ValueError(f"deinterlace mode must be auto or on, got {mode!r}")
        self.mode = mode
        self._graph: Any = None
        self._pending: deque = deque()  # (index, input frame) waiting for their output

    def _open(self, vf: Any) -> None:
        import av.filter

        g = av.filter.Graph()
        src = g.add_buffer(width=vf.width, height=vf.height, format=vf.format.name, time_base=Fraction(1, 1000))
        flt = g.add("bwdif", f"mode=send_frame:parity=auto:deint={'interlaced' if self.mode == 'auto' else 'all'}")
        sink = g.add("buffersink")
        src.link_to(flt)
        flt.link_to(sink)
        g.configure()
        self._graph = g

    def _drain(self) -> Iterator[tuple[int, Any]]:
        import av

        while self._pending:
            try:
                out = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            idx, vf = self._pending.popleft()
            out.pts = vf.pts  # the input's own timestamp (the graph runs on a dummy time base)
            yield idx, out

    def feed(self, index: int, vf: Any) -> Iterator[tuple[int, Any]]:
        """Push one decoded frame; yields the (index, progressive frame) pairs now complete."""
        if self._graph is None:
            self._open(vf)
        self._pending.append((index, vf))
        self._graph.push(vf)
        yield from self._drain()

    def flush(self) -> Iterator[tuple[int, Any]]:
        """End of the stream: the frames still waiting for a next neighbour."""
        if self._graph is None:
            return
        self._graph.push(None)
        yield from self._drain()

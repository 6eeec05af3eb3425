"""Frames overlapped across two threads: decode + head of frame i+1 while the tail renders frame i.

The head (flow, depth, smoothing, focus: temporal, in order) runs in the caller's thread, which
also decodes (the `records` iterator) and encodes (the consumer of the yielded records); the tail
(deblur, bokeh, ``--depth-out``) runs on one worker thread, in frame order, so a temporal tail
stage (BokehNet with noise warping) still sees its frames in order. The renderer and the flow
and depth code spend their time in numpy / OpenCV / torch, which release the GIL, so on two
cores the two halves really run at the same time.

Output is bit-identical to the sequential loop: every stage sees the same records in the same
order, and no tail stage writes into an array a head stage keeps (fit_blur_reach returns a new
array; the renderer never writes into its inputs). Memory holds at most ``depth + 1`` records
beyond the sequential loop, so it stays flat in clip length.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence

from ...record import FrameRecord, Stage

RunStages = Callable[[FrameRecord, Sequence[Stage]], FrameRecord]


def overlapped(records: Iterable[FrameRecord], head: Sequence[Stage], tail: Sequence[Stage],
               run: RunStages, depth: int = 1) -> Iterator[FrameRecord]:
    """Yield each record through `head` then `tail`, in input order; up to `depth` frames' tails
    run on a worker thread while this thread decodes and runs the next heads."""
    pending: deque[Future[FrameRecord]] = deque()
    frames = iter(records)
    with ThreadPoolExecutor(1, thread_name_prefix="genrefocus-tail") as pool:
        try:
            while True:
                try:
                    rec = next(frames, None)
                    if rec is None:
                        break
                    rec = run(rec, head)
                except Exception:  # decode or head failed: the frames before it are still written, as in order
                    while pending:
                        yield pending.popleft().result()
                    raise
                pending.append(pool.submit(run, rec, tail))
                while len(pending) > depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a tail failure or an early stop: drop what has not started (the pool waits for the rest)
            for fut in pending:
                fut.cancel()

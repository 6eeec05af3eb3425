"""Frames overlapped across threads: decode + the leading head stages of frame i+2, the rest of the
head of frame i+1 and the tail of frame i at the same time.

Three parts of a frame's work, each on its own thread and in frame order:

* the **lead**: decoding and the head's leading stages that declare ``runs_ahead = True`` (the flow
  stage: DIS to the previous frame, which needs only the decoded frames) — up to two frames ahead, on a
  worker thread;
* the **head** (the rest of the temporal stages: depth, smoothing, focus) in the caller's thread,
  which also encodes (the consumer of the yielded records);
* the **tail** (deblur, bokeh, ``--depth-out``) on a worker thread, so a temporal tail stage
  (BokehNet with noise warping) still sees its frames in order.

The renderer and the flow and depth code spend their time in numpy / OpenCV / torch, which release
the GIL, so on two cores the parts really run at the same time: the head's critical path is its
own stages, not decode + flow + depth + smoothing + focus one after the other.

Output is bit-identical to the sequential loop: every stage sees the same records in the same
order, a lead stage touches only its own state and its frame's record (and the job's PairFlows,
which are locked and deterministic: a pair computed twice is the same flow), and no tail stage
writes into an array a head stage keeps (fit_blur_reach returns a new array; the renderer never
writes into its inputs). Memory holds at most ``depth + ahead + 1`` records beyond the sequential
loop, so it stays flat in clip length.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Optional, Sequence

from ...record import FrameRecord, Stage

RunStages = Callable[[FrameRecord, Sequence[Stage]], FrameRecord]


def lead_count(head: Sequence[Stage]) -> int:
    """How many of the head's first stages may run one frame ahead of the rest (``runs_ahead``);
    0 when that would leave nothing behind them (then nothing is gained by a third thread)."""
    n = 0
    while n < len(head) and getattr(head[n], "runs_ahead", False):
        n += 1
    return n if n < len(head) else 0


def run_ahead(records: Iterable[FrameRecord], stages: Sequence[Stage], run: RunStages,
              ahead: int = 2) -> Iterator[FrameRecord]:
    """`records` through `stages` on a worker thread, up to `ahead` frames ahead of the consumer,
    in order (one worker: frames are decoded and run one after the other).

    The next frames are decoded and run while the caller works on this one; a failure (decode or a
    stage) is raised where that frame would have been yielded, after every frame before it. On an
    early stop the frames in flight are finished before the generator returns (the reader is not
    read from two threads, nor after its owner closes it)."""
    frames = iter(records)
    done = False

    def step() -> Optional[FrameRecord]:
        nonlocal done
        rec = None if done else next(frames, None)
        if rec is None:
            done = True
            return None
        return run(rec, stages)

    with ThreadPoolExecutor(1, thread_name_prefix="genrefocus-lead") as pool:
        queue: deque[Future[Optional[FrameRecord]]] = deque(pool.submit(step) for _ in range(max(1, ahead)))
        try:
            while True:
                rec = queue.popleft().result()
                if rec is None:
                    return
                queue.append(pool.submit(step))
                yield rec
        finally:
            for fut in queue:  # an early stop or a failure: what has not started is dropped
                fut.cancel()


def overlapped(records: Iterable[FrameRecord], head: Sequence[Stage], tail: Sequence[Stage],
               run: RunStages, depth: int = 1, ahead: int = 2) -> Iterator[FrameRecord]:
    """Yield each record through `head` then `tail`, in input order; up to `depth` frames' tails
    run on a worker thread while this thread runs the next heads, whose leading ``runs_ahead``
    stages (and the decoding) run up to `ahead` frames ahead on another (:func:`run_ahead`)."""
    n_lead = lead_count(head)
    if n_lead:
        records, head = run_ahead(records, head[:n_lead], run, ahead), head[n_lead:]
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
            close = getattr(frames, "close", None)
            if callable(close):  # stop the lead thread (it finishes the frame in flight)
                close()

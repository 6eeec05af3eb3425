"""One progress bar for a job: frames done / total, frames per second, ETA.

Executors only report "n more frames finished"; where those frames were rendered (this process,
a Ray worker, another machine) does not matter to the bar. tqdm computes the rate and the ETA from
the updates, smoothed, so a burst of finished chunks does not make the ETA jump around.
"""
from __future__ import annotations

import sys
import time
from typing import Optional


class JobProgress:
    """A thin tqdm wrapper that also counts frames for the summary when the bar is hidden."""

    def __init__(self, total: Optional[int], *, enabled: bool = True, desc: str = "render",
                 initial: int = 0) -> None:
        self.total = total
        self.done = initial
        self.start = time.perf_counter()
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="frame", desc=desc, file=sys.stderr,
                             dynamic_ncols=True, smoothing=0.1, mininterval=0.5)

    def update(self, n: int = 1) -> None:
        if n <= 0:
            return
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def note(self, text: str) -> None:
        """A short status suffix (e.g. 'chunk 3/8 resumed')."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "JobProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

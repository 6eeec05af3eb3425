"""Frame records and the two kinds of stage, VapourSynth-style.

A clip is a sequence of :class:`FrameRecord` requested in order. A *frame stage* is pure: its
output depends only on the record it is given, so executors may run it anywhere, in any order. A
*temporal stage* carries explicit state from frame to frame and must see frames in order; it
declares how many preceding frames (`warmup`) it needs to reach the same state as an unsplit run,
which is how a clip split into chunks renders the same as one sequential pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np

from .io.frame import Frame


@dataclass
class FrameRecord:
    """Everything known about one frame as it moves through the stages."""

    frame: Frame
    disparity: Optional[np.ndarray] = None  # float32 H×W, larger = nearer
    depth_confidence: Optional[np.ndarray] = None  # float32 H×W in [0, 1]
    flow_to_prev: Optional[np.ndarray] = None  # float32 H×W×2: pixel p of this frame maps to p + flow in frame t-1
    flow_valid: Optional[np.ndarray] = None  # float32 H×W in [0, 1], forward-backward consistency
    depth_ahead: Optional[Any] = None  # frame t + 1 and its depth (stages.depth.DepthAhead): smoothing's look-ahead
    focus_disparity: Optional[float] = None  # a for this frame
    focus_range: Optional[float] = None  # disparity band kept sharp this frame (None: the job's focus.range)
    k: Optional[float] = None  # K for this frame
    aif: Optional[np.ndarray] = None  # all-in-focus RGB (default: frame.rgb)
    output: Optional[np.ndarray] = None  # rendered RGB, float32 H×W×3 linear
    output_alpha: Optional[np.ndarray] = None  # the output's straight alpha when it differs from the input's
    extras: dict[str, Any] = field(default_factory=dict)  # per-stage notes (track status, ...)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def index(self) -> int:
        return self.frame.index

    @property
    def sharp(self) -> np.ndarray:
        """The image to render bokeh from: the all-in-focus frame if a deblur ran, else the input."""
        return self.aif if self.aif is not None else self.frame.rgb


@runtime_checkable
class Stage(Protocol):
    """A named step. `temporal` stages carry state and need frames in order."""

    name: str
    temporal: bool

    def process(self, rec: FrameRecord) -> FrameRecord:
        """Fill in this stage's fields of `rec` and return it."""
        ...


class TemporalStage(Stage, Protocol):
    """A stateful stage. Executors call `reset()` at a chunk start, then feed `warmup` earlier frames."""

    warmup: int

    def reset(self) -> None:
        ...

"""The stage list for a job, expressed once and run by every executor.

Order (DESIGN.md data flow): temporal depth / flow / smoothing / focus stages -> deblur -> bokeh
(classical :class:`BokehStage` or BokehNet); with estimated depth the deblur runs first, in the
head, so the depth source sees the all-in-focus frame (``aif``). The list is split in two parts so
that executors can place them well:

* the **head** (``build_head``): the temporal stages, which must see frames in order;
* the **tail** (``build_tail``): deblur, bokeh and the ``--depth-out`` writer, normally pure frame stages that may run on any
  worker in any order (BokehNet with noise warping is temporal; executors then keep it ordered).

Each part is built only where it runs, so a model is loaded once per worker that uses it and
never on a driver that does not. Builders from the other layers are imported lazily: a missing
piece fails with one clear line instead of an ImportError deep in a worker.

Modules (each stage is a thin adapter between frame records and a core algorithm):
``temporal`` (builds the head, writes its side files), ``flow``, ``depth``, ``probe`` (other
frames and their disparity), ``focus`` (over :mod:`genrefocus_video.focus`), ``preview``,
``render`` (classical bokeh, K), ``generative`` (deblur, BokehNet), ``aif`` (deblur before
estimated depth), ``depth_out`` (the disparity as rendered, written after the bokeh stage).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ...errors import BackendUnavailableError
from ...io.frame import ClipInfo
from ...params import JobParams
from ...record import Stage


def _builder(module: str, name: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(f"stage module {module} cannot be imported ({exc}); the installation is incomplete") from None
    fn = getattr(mod, name, None)
    if fn is None:
        raise BackendUnavailableError(f"stage module {module} has no {name}(); the installation is incomplete")
    return fn


def build_head(job: JobParams, info: ClipInfo) -> list[Stage]:
    """Ordered temporal stages: depth (+confidence), flow, depth smoothing, focus track."""
    build = _builder("genrefocus_video.pipeline.stages.temporal", "build_temporal_stages")
    return list(build(job, info))


def build_tail(job: JobParams, info: ClipInfo) -> list[Stage]:
    """Deblur (if any), the bokeh renderer chosen by ``backends.bokeh``, then ``--depth-out`` (if any)."""
    stages: list[Stage] = []
    gen = "genrefocus_video.pipeline.stages.generative"
    # deblur before estimated depth runs in the head (stages/aif.py): once per frame, not here again
    deblur_here = job.backends.deblur != "none" and not _builder("genrefocus_video.pipeline.stages.aif",
                                                                 "deblur_before_depth")(job)
    # generative stages share one FLUX base per process (generative.shared.flux_registry)
    if deblur_here:
        deblur = _builder(gen, "build_deblur_stage")(job, info)
        if deblur is not None:
            stages.append(deblur)
    if job.backends.bokeh == "bokehnet":
        stages.append(_builder(gen, "build_bokehnet_stage")(job, info))
    else:
        stages.append(_builder("genrefocus_video.pipeline.stages.render", "BokehStage")(job, info))
    if job.depth.out:  # last: the disparity as rendered (after the bokeh stage's clamping)
        out = "genrefocus_video.pipeline.stages.depth_out"
        stages.append(_builder(out, "DepthOutStage")(job.depth.out, info, _builder(out, "frames_dir")(job)))
    return stages


def build_stages(job: JobParams, info: ClipInfo) -> list[Stage]:
    """The whole ordered stage list for one clip (head then tail)."""
    return build_head(job, info) + build_tail(job, info)


@dataclass(frozen=True)
class StageFactory:
    """How executors obtain stages; tests and embedders may pass their own (must be picklable for Ray)."""

    head: Callable[[JobParams, ClipInfo], list[Stage]] = build_head
    tail: Callable[[JobParams, ClipInfo], list[Stage]] = build_tail


DEFAULT_FACTORY = StageFactory()


def max_warmup(stages: Sequence[Stage]) -> int:
    """Frames a chunk must run before its first frame so temporal stages reach unsplit state."""
    return max((int(getattr(s, "warmup", 0)) for s in stages if getattr(s, "temporal", False)), default=0)


def last_temporal(stages: Sequence[Stage]) -> int:
    """Index of the last temporal stage, or -1. Warm-up frames only need stages up to it."""
    idx = -1
    for i, s in enumerate(stages):
        if getattr(s, "temporal", False):
            idx = i
    return idx


def reset_all(stages: Sequence[Stage]) -> None:
    """Start every temporal stage from a clean state (chunk start)."""
    for s in stages:
        if getattr(s, "temporal", False):
            reset: Optional[Callable[[], None]] = getattr(s, "reset", None)
            if callable(reset):
                reset()


def check_stages(stages: Sequence[Any]) -> list[Stage]:
    """Each element must look like a Stage (name, temporal, process)."""
    for s in stages:
        if not (hasattr(s, "name") and hasattr(s, "temporal") and callable(getattr(s, "process", None))):
            raise TypeError(f"{s!r} is not a Stage (needs name, temporal and process(rec))")
    return list(stages)

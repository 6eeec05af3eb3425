"""The temporal head of the pipeline: flow, depth, depth smoothing, focus track a(t), preview.

``build_temporal_stages(job, info)`` returns, in order:

0. the deblur stage (:mod:`.aif`), when a deblur runs and depth is estimated: the depth source
   sees the all-in-focus frame (and reads its neighbours deblurred), the tail deblurs no more.
1. :class:`~.flow.FlowStage` (when smoothing or subject following needs it): DIS flow t -> t-1
   with its forward-backward mask, and scene-cut detection. warmup 1.
2. :class:`~.depth.DepthStage`: ``rec.disparity`` + ``rec.depth_confidence`` from the chosen
   source (warmup = the source's, e.g. 16 frames for motion: partners and held maps).
3. :class:`~.depth.DepthSmoothStage` (``depth.smoothing > 0``): flow-guided smoothing, with frame
   t + 1 (estimated by the depth stage, read through the lookup) as its look-ahead.
4. :class:`~.focus.FocusStage`: ``rec.focus_disparity`` for every frame, resolved by the focus
   algorithms of :mod:`genrefocus_video.focus` (constant, depth, point, keyframes, centre, or a
   followed subject), and a per-frame row in ``rec.extras["focus"]``.
5. :class:`~.preview.DepthPreviewStage` (``depth.preview``): frame | colourised disparity.

``finalize_temporal(stages, out_dir)`` writes the focus-track export (JSON/CSV), the PNG plot and
closes the depth preview (atomically), and logs a summary of lost-track spans.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ...depth.learned import DepthModelCache
from ...depth.sources import READS_AHEAD, make_source
from ...flow import PairFlows
from ...io.frame import ClipInfo
from .aif import all_in_focus
from .depth import DepthSmoothStage, DepthStage
from .flow import FlowStage
from .focus import FocusStage, focus_rows
from .preview import DepthPreviewStage, preview_image
from .probe import DepthProbe, FrameLookup, start_disparity

__all__ = ["DepthPreviewStage", "DepthProbe", "DepthSmoothStage", "DepthStage", "FlowStage", "FocusStage",
           "FrameLookup", "build_temporal_stages", "finalize_temporal", "focus_rows", "preview_image",
           "start_disparity"]


# -- build / finalize -------------------------------------------------------------------------------
def build_temporal_stages(job: Any, info: ClipInfo) -> list[Any]:
    """The ordered temporal head of the pipeline for this job (see module doc)."""
    lookup = FrameLookup(job, info)
    models = DepthModelCache()  # one loaded depth model for the main pass and the focus probes
    aif = all_in_focus(job, info, size=lookup.size)  # deblur before estimated depth, or None
    stages: list[Any] = [aif.stage()] if aif is not None else []
    follow = job.focus.track == "follow"
    flows = PairFlows()  # each frame pair's flow computed once: main pass, focus probes, subject walk back
    smooth = job.depth.smoothing_strength > 0
    if smooth or follow:  # a smoothing look-ahead's flow t -> t + 1 is this stage's at t + 1: handed over
        stages.append(FlowStage(job.depth.flow_quality, flows, consume=True, hand_over=smooth))
    reads_ahead = job.depth.source in READS_AHEAD
    ahead = (aif.lookup(lookup) if aif is not None else lookup) if reads_ahead else None
    stages.append(DepthStage(make_source(job, info, ahead, models=models), frames=lookup if smooth else None, aif=aif))
    if smooth:
        stages.append(DepthSmoothStage(job.depth.smoothing_strength, flows, job.depth.flow_quality))
    stages.append(FocusStage(job, info, DepthProbe(job, info, lookup, models, aif=aif, flows=flows)))
    if job.depth.preview:
        stages.append(DepthPreviewStage(job.depth.preview, float(info.fps) if info.fps else 24.0,
                                        job.depth.preview_limits, pixel_aspect=float(info.pixel_aspect)))
    return stages


def finalize_temporal(stages: Sequence[Any], out_dir: Optional[str] = None) -> dict[str, str]:
    """Write the focus-track export / plot and close the depth preview. Returns {what: path}.

    Paths with a folder are used as given (relative to the working directory); a bare file name
    is placed in `out_dir` (the output's folder) when one is given.
    """
    from ..outputs import write_focus_exports  # the writer every face's side outputs use

    written: dict[str, str] = {}
    for s in stages:
        if isinstance(s, DepthPreviewStage) and s._writer is not None:
            target = s.path
            s.close()
            written["depth_preview"] = target
        if isinstance(s, FocusStage):
            keys = [(k.frame, k.value) for k in s.keys]
            written.update(write_focus_exports(s.job, s.rows, keys, out_dir or ""))
    return written


"""One interface for every depth source, and the factory that picks one from the job.

A source turns a frame record into a disparity map (float32 H×W, larger = nearer) and a
confidence map in [0, 1]. Sources that need neighbouring frames (motion) are stateful and declare
`warmup` (how many preceding frames they must see to reach the same state as an unsplit run);
`reset()` is called at a chunk start.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

from ..errors import ConfigError
from ..record import FrameRecord

FrameLookup = Callable[[int], Optional[np.ndarray]]  # frame index -> linear RGB, or None past the ends
SOURCES = ("file", "motion", "marigold", "model")  # what make_source builds; the schema's choices
READS_AHEAD = ("motion", "model")  # sources given a frame lookup: neighbours (motion) or batches (model)


@dataclass
class DepthEstimate:
    disparity: np.ndarray  # float32 H×W, larger = nearer
    confidence: np.ndarray  # float32 H×W in [0, 1]
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. {"fallback": "defocus", "pair_gap": 3}
    affine_ambiguous: bool = False  # scale/shift only known up to an affine map (estimated sources)


class DepthSource(Protocol):
    name: str
    warmup: int

    def reset(self) -> None: ...

    def estimate(self, rec: FrameRecord) -> DepthEstimate: ...


def metadata_focal_px(info: Any) -> tuple[Optional[float], float]:
    """(focal length in pixel heights from the clip's camera metadata or None, display width px):
    the sensor spans the display width, width × pixel aspect."""
    cam = getattr(info, "camera", {}) or {}
    display_w = info.width * float(getattr(info, "pixel_aspect", 1) or 1)
    if cam.get("focal_length_35mm"):
        return float(cam["focal_length_35mm"]) / 36.0 * display_w, display_w
    if cam.get("focal_length_mm") and cam.get("sensor_width_mm"):
        return float(cam["focal_length_mm"]) / float(cam["sensor_width_mm"]) * display_w, display_w
    return None, display_w


def make_source(job: Any, info: Any, frame_lookup: Optional[FrameLookup] = None, quiet: bool = False,
                models: Any = None) -> DepthSource:
    """The depth source named by `job.depth.source` (file | motion | marigold | model).

    Estimated sources come wrapped in depth.sanitise.SanitisedSource (an estimate never sinks a
    job). `quiet`: for probes that repeat what the main pass computes (focus points, keyframes,
    boxes): their notices are logged at INFO so the log does not say everything twice. `models`:
    the process's depth.learned.DepthModelCache, so every chain of a process shares one loaded
    model (a fresh cache, hence a fresh load, when None).
    """
    from .sanitise import SanitisedSource

    d = job.depth
    if d.source == "file":
        from .external import FileDepthSource

        if not d.path:
            raise ConfigError("'depth.source' file needs 'depth.path' (--depth PATH); "
                              "or estimate depth with --depth-source motion|marigold|model")
        return FileDepthSource(d.path, kind=d.kind, near=d.near, far=d.far, scale=d.scale,
                               size=(info.width, info.height), channel=d.channel)
    if d.source == "motion":
        from .motion import MotionDepthSource

        focal, _ = metadata_focal_px(info)
        return SanitisedSource(MotionDepthSource(focal_px=focal, fallback=d.static_fallback, frame_lookup=frame_lookup,
                                                 quiet=quiet, pixel_aspect=float(getattr(info, "pixel_aspect", 1) or 1)),
                               quiet)
    if d.source == "marigold":
        from .marigold import MarigoldDepthSource

        return SanitisedSource(MarigoldDepthSource(d.marigold_path), quiet)
    if d.source == "model":
        import os

        from .learned import DepthModelCache
        from .learned_source import LearnedDepthSource

        cache = models if models is not None else DepthModelCache()
        model = cache.get(d.model or os.environ.get("GENREFOCUS_DEPTH_MODEL"))
        focal, display_w = metadata_focal_px(info)
        return SanitisedSource(LearnedDepthSource(model, display_w / focal if focal else None, frame_lookup), quiet)
    raise ConfigError(f"'depth.source' {d.source!r} is not one of {', '.join(SOURCES)}")

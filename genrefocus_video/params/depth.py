"""Depth section: where per-frame disparity comes from and how it is conditioned."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..depth.sources import SOURCES
from ..errors import ConfigError
from .schema import AUTO, param

#: smoothing strength that ``depth.smoothing: auto`` gives estimated depth (every source but files):
#: the middle of the recommended 0.5-0.8 (docs/temporal.md); depth files get 0 (a pass is trusted)
AUTO_SMOOTHING = 0.5


@dataclass
class DepthParams:
    """Depth input. Internally everything is disparity d (larger = nearer), see DESIGN.md."""

    source: str = param("file", "where depth comes from: file (a depth pass; in OFX the Depth clip), motion (the "
                        "classical estimate from the moving camera), marigold, or model (--depth-model)",
                        flag="depth-source", choices=SOURCES, ofx=True, page="Depth")
    path: Optional[str] = param(None, "depth/disparity sequence, video, image or .npy", flag="depth")
    kind: str = param("disparity", "what the depth file holds: disparity (larger = nearer), metric depth, "
                      "or normalized depth (1 = near, 0 = far)", flag="depth-kind",
                      choices=("disparity", "depth", "normalized"))
    channel: str = param("auto", "which channel of the depth files is depth: 'auto' (the only one; in an EXR Z, "
                         "depth.Z, depth, zDepth or disparity; equal R=G=B), an EXR channel name such as "
                         "depth.Z, or R/G/B/A", flag="depth-channel")
    near: Optional[float] = param(None, "metric depth at normalised value 1 (kind=normalized)", flag="depth-near", min=0.0)
    far: Optional[float] = param(None, "metric depth at normalised value 0 (kind=normalized)", flag="depth-far", min=0.0)
    scale: float = param(1.0, "multiplier applied to the decoded value before interpretation "
                         "(e.g. 0.001 for millimetre 16-bit PNGs)", flag="depth-scale", min=0.0)
    smoothing: Union[float, str] = param(
        AUTO, "flow-guided temporal smoothing of the disparity (docs/temporal.md), the same in every face: "
        "strength 0 = off, 1 = strongest (used up to 0.95), or auto (default): "
        f"{AUTO_SMOOTHING} for estimated depth (motion, marigold, model), 0 for depth files (-1 also means auto: "
        "the OFX slider's value for it); decided once per job and recorded in its report; reads the previous "
        "frames' flow and depth (the OFX plugin fetches them from the host)",
        flag="depth-smoothing", min=0.0, max=1.0, auto=-1.0, ofx=True, page="Depth")
    flow_quality: str = param("medium", "optical flow for smoothing and subject following: medium (DIS medium preset: "
                              "12-px patches, finest at half resolution) or fine (full-resolution patches: thin "
                              "structures such as wires and string lights keep their own motion; about 2x the "
                              "flow time, docs/benchmarks/temporal.md)", flag="flow-quality",
                              choices=("medium", "fine"))
    static_fallback: str = param("defocus", "motion depth when the camera does not move: a defocus-cue "
                                 "estimate (assumes the sharpest region is nearest) or stop with an error",
                                 choices=("defocus", "error"))
    marigold_path: Optional[str] = param(None, "local Marigold weights folder (diffusers layout); "
                                         "default: $GENREFOCUS_MARIGOLD")
    model: Optional[str] = param(None, "local transformers depth-estimation folder for --depth-source model (Depth "
                                 "Pro, Depth Anything V2 relative or metric, DPT, ZoeDepth; safetensors only, nothing is "
                                 "downloaded); default: $GENREFOCUS_DEPTH_MODEL. Metric models give disparity in 1/m",
                                 flag="depth-model", ofx=True, page="Depth")
    preview: Optional[str] = param(None, "write a depth preview video here", flag="depth-preview")
    out: Optional[str] = param(None, "write the disparity the render used (after estimation, alignment, smoothing, "
                               "clamping) as a float32 EXR sequence, e.g. depth.%04d.exr (frame number = source "
                               "frame); reads back exactly with --depth PATTERN --depth-kind disparity",
                               flag="depth-out")
    preview_range: Optional[str] = param(None, "disparity range LO,HI of the preview's colour map (default: the first "
                                         "frame's 1st-99th percentile, fixed for the clip)", flag="depth-preview-range")

    @property
    def smoothing_strength(self) -> float:
        """The smoothing strength this job uses: ``auto`` resolved by the source (estimated depth
        AUTO_SMOOTHING, depth files 0), else the number given."""
        if self.smoothing == AUTO:
            return 0.0 if self.source == "file" else AUTO_SMOOTHING
        return float(self.smoothing)

    @property
    def preview_limits(self) -> Optional[tuple[float, float]]:
        """`preview_range` as (lo, hi), None when unset (validated in :meth:`validate`)."""
        if self.preview_range is None:
            return None
        lo, hi = (float(v) for v in str(self.preview_range).split(","))
        return lo, hi

    def validate(self) -> None:
        if self.out is not None:
            from ..io.depth_export import check_depth_out

            check_depth_out(self.out)
        if self.preview_range is not None:
            parts = str(self.preview_range).split(",")
            try:
                lo, hi = (float(v) for v in parts)
            except ValueError:
                raise ConfigError(f"'depth.preview_range' must be two numbers LO,HI (disparity), got {self.preview_range!r}") from None
            if not lo < hi:
                raise ConfigError(f"'depth.preview_range' needs LO < HI, got {self.preview_range!r}")
        if self.kind == "normalized" and self.path is not None:
            if self.near is None or self.far is None:
                raise ConfigError("'depth.kind' normalized needs 'depth.near' and 'depth.far' (metric depths of values 1 and 0)")
            if not (0 < self.near < self.far):
                raise ConfigError(f"'depth.near' ({self.near}) must be > 0 and < 'depth.far' ({self.far})")

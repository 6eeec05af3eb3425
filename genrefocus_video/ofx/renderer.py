"""The bridge's renderer: a validated OFX request + pixels -> an output frame, through the schema.

The same algorithms as the CLI: the job is built from the OFX parameters by the schema's own
validator, depth smoothing runs the pipeline's temporal stages over the frames the plugin declared
and fetched (:mod:`.temporal`), Focus From Point is the CLI's point pick, and the frame is rendered
by ``render.api.render_from_params``.
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Sequence

import numpy as np

from ..depth.sanitise import fit_blur_reach
from ..errors import ConfigError
from . import protocol as P
from .descriptor import by_name
from .estimate import CachedModels, estimated_disparity
from .stream import Streams
from .temporal import ArrayCache, smoothed_disparity


class Renderer:
    """Turns a validated request + pixels into an output frame, through the schema."""

    def __init__(self, base: Optional[dict[str, Any]] = None) -> None:
        self.params = by_name()
        self.base = dict(base or {})  # bridge-wide settings (e.g. aperture.image), dotted schema paths
        self._impl: Any = None
        self._lock = threading.Lock()
        self.flows = ArrayCache()  # flow between frame pairs, reused as a host steps through a clip
        self.smoothed = ArrayCache(256 * 2**20)  # final disparity per window: re-renders of a frame
        self.streams = Streams()  # the head's state after a frame t, continued by a request for t + 1
        self.estimates: dict[str, Any] = {}  # estimated depth's caches and models (.estimate), made on first use

    def warm(self) -> None:
        """Import the renderer once (torch import is the slow part of the first frame)."""
        with self._lock:
            if self._impl is None:
                from ..render import api

                self._impl = api

    def job(self, values: dict[str, Any]) -> Any:
        """JobParams from OFX parameter values, validated by the schema (ranges, choices)."""
        from ..params import JobParams, resolve_auto
        from ..params.schema import validate_tree, with_overrides

        overrides: dict[str, Any] = dict(self.base)
        for name, value in values.items():
            spec = self.params.get(name)
            if spec is None:
                raise ConfigError(f"OFX parameter '{name}' is not part of this bridge's schema")
            if spec.path is None:
                continue  # plugin-specific (focus point) travel in their own fields
            if spec.kind == "choice":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(spec.choices):
                    raise ConfigError(f"OFX parameter '{name}': choice index {value!r} outside 0..{len(spec.choices) - 1}")
                value = spec.choices[value]
            elif spec.kind == "boolean":
                value = bool(value)
            elif spec.kind == "string":  # empty = not given (the schema's None: its default applies)
                if not isinstance(value, str):
                    raise ConfigError(f"OFX parameter '{name}' must be text, got {value!r}")
                value = value or None
            overrides[spec.path] = value
        job = with_overrides(JobParams(), overrides, "OFX parameters")
        for section in (job.aperture, job.highlights, job.blur, job.focus, job.depth):
            validate_tree(section)
        return resolve_auto(job)  # depth smoothing -1 / auto: the strength the CLI's run_job decides

    def _prepare(self, req: P.RenderRequest, sources: list[np.ndarray], depths: list[np.ndarray],
                 later: Sequence[np.ndarray] = ()) -> Optional[tuple[Any, float, np.ndarray, float]]:
        """(job, K, disparity, focus disparity), or None for the identity (no depth, K = 0).
        `sources`: frames t, t-1, ... (newest first); `later`: t+1, ... (what an estimated source or
        the smoothing reads ahead); `depths` (with a Depth clip): one per source frame, in that order."""
        job = self.job(req.params)
        k = float(job.blur.k or 0.0) * req.render_scale
        estimated = job.depth.source != "file"
        if k == 0.0 or not (depths or estimated):
            return None  # no depth clip or K = 0: the identity (the plugin normally skips the call)
        if estimated:  # the CLI's depth source over the Source window; smoothed as the CLI smooths it
            disparity = estimated_disparity(job, sources, later, req.time, req.pixel_aspect, self._estimate_caches())
            probe = disparity  # the CLI's DepthProbe runs the same chain: it picks on this disparity
        elif job.depth.smoothing_strength > 0:
            caches = {"flows": self.flows, "results": self.smoothed, "streams": self.streams}
            disparity = smoothed_disparity(job, sources, depths, req.time, caches, later)
            probe = depths[0]  # the CLI's DepthProbe reads a depth file directly
        else:
            disparity = probe = depths[0]
        a = sample_focus(probe, *req.focus_point) if req.focus_from_point else float(job.focus.disparity or 0.0)
        if estimated:  # an estimate never sinks a frame: radii beyond the frame are clamped, as in the CLI
            disparity = fit_blur_reach(disparity, a, k, float(job.focus.range), int(round(req.time)))
        self.warm()
        return job, k, disparity, a

    def _estimate_caches(self) -> dict[str, Any]:
        """Caches of estimated depth, shared by all requests: flows, per-frame estimates and model
        predictions, final disparities per window, the streams a next frame continues, and the
        loaded models (weights once per bridge)."""
        with self._lock:
            if not self.estimates:
                predictions = ArrayCache(256 * 2**20)
                self.estimates = {"flows": self.flows, "estimates": ArrayCache(256 * 2**20),
                                  "results": self.smoothed, "streams": self.streams,
                                  "models": CachedModels(predictions)}
            return self.estimates

    def render(self, req: P.RenderRequest, sources: list[np.ndarray], depths: list[np.ndarray],
               later: Sequence[np.ndarray] = ()) -> np.ndarray:
        src = sources[0]
        ready = self._prepare(req, sources, depths, later)
        if ready is None:
            return src
        job, k, disparity, a = ready
        out = self._impl.render_from_params(src, disparity, a, k, job.aperture, job.highlights, job.render,
                                            pixel_aspect=req.pixel_aspect, focus_range=float(job.focus.range))
        return np.asarray(out, dtype=np.float32)

    def render_rgba(self, req: P.RenderRequest, sources: list[np.ndarray], alpha: np.ndarray,
                    depths: list[np.ndarray], later: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Source with alpha: colour and coverage defocused together (``render.alpha`` defocus), or the
        colour alone with the alpha passed through (keep). RGB comes back in the host's convention."""
        src = sources[0]
        ready = self._prepare(req, sources, depths, later)
        if ready is None:
            return src, alpha
        job, k, disparity, a = ready
        if job.render.alpha == "keep":
            return self.render(req, sources, depths, later), alpha
        cov = np.clip(alpha, 0.0, 1.0).astype(np.float32)
        straight = np.where(cov[..., None] > 0, src / np.maximum(cov, 1e-12)[..., None], 0.0) if req.premultiplied else src
        rgb, out_a = self._impl.render_rgba_from_params(
            np.ascontiguousarray(straight, dtype=np.float32), cov, disparity, a, k, job.aperture, job.highlights,
            job.render, pixel_aspect=req.pixel_aspect, focus_range=float(job.focus.range))
        if req.premultiplied:
            rgb = rgb * out_a[..., None]
        return np.asarray(rgb, dtype=np.float32), np.asarray(out_a, dtype=np.float32)


def sample_focus(disparity: np.ndarray, x: float, y: float) -> float:
    """The CLI's point pick (``focus.point.point_disparity``: a robust median over ~2 % of the frame
    width) at the pixel under (x, y) — pixel coords, rows top to bottom, clamped into the frame —
    so Focus From Point and ``--focus-point`` give the same focus on the same depth."""
    from ..focus.point import point_disparity

    h, w = disparity.shape
    cx = min(max(int(np.floor(x)), 0), w - 1)
    cy = min(max(int(np.floor(y)), 0), h - 1)
    return point_disparity(disparity, cx, cy)[0]

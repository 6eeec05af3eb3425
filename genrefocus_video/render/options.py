"""Renderer options from job settings: the one place, with the one set of limits.

Every face turns the job's ``aperture``, ``highlights`` and ``render`` sections into
:func:`~genrefocus_video.render.api.render_bokeh` arguments here — the classical bokeh stage, the
BokehNet stage (its aperture) and the OpenFX bridge (``render_from_params``) — so a setting
means the same in each. :data:`LIMITS` and the choice lists are read by the job schema
(params/optics.py, params/io.py) and by ``render_bokeh``'s own checks: a value the schema
accepts is one the renderer accepts, and the refusal reads the same.
"""
from __future__ import annotations

from typing import Any, Optional

from ..optics.aperture import Aperture

#: compute devices of the renderer
DEVICES = ("auto", "cpu", "cuda")
#: (min, max) of each numeric renderer option; None = unbounded
LIMITS: dict[str, tuple[float, Optional[float]]] = {
    "draft": (0.05, 1.0),  # render scale: 0.05 = 1/20 resolution preview
    "pixel_aspect": (0.05, 20.0),  # width/height of a stored pixel on display
    "cats_eye": (0.0, 1.0),
    "chromatic": (0.0, 1.0),
    "tile": (0, None),  # band height px, 0 = automatic
    "highlight_threshold": (0.0, None),
    "highlight_gain": (1.0, None),
}


def aperture_options(aperture_params: Any) -> dict[str, Any]:
    """The aperture shape's options (blades, rotation, curvature, anamorphic aspect, image)."""
    ap = aperture_params
    opts: dict[str, Any] = {"blades": ap.blades, "rotation_deg": ap.rotation_deg, "curvature": ap.curvature,
                            "aspect": ap.aspect}
    if ap.image:
        opts["aperture_image"] = ap.image
    return opts


def job_aperture(aperture_params: Any, pixel_aspect: Optional[float] = None) -> Aperture:
    """The job's aperture, validated (ConfigError naming the setting); with `pixel_aspect`, rasterised
    for stored pixels of that aspect (as BokehNet's kernel atlas needs; ``render_bokeh`` does it itself)."""
    from .api import resolve_aperture

    aperture = resolve_aperture(aperture_params.shape, aperture_options(aperture_params))
    return aperture if pixel_aspect is None else aperture.with_pixel_aspect(float(pixel_aspect))


def render_options(aperture_params: Any = None, highlight_params: Any = None, render_params: Any = None,
                   pixel_aspect: float = 1.0) -> dict[str, Any]:
    """``render_bokeh`` keyword options (all but the aperture and the per-frame focus range) from the
    job's sections; a missing section leaves the renderer's defaults."""
    opts: dict[str, Any] = {"pixel_aspect": float(pixel_aspect)}
    if aperture_params is not None:
        opts.update(cats_eye=aperture_params.cats_eye, chromatic=aperture_params.chromatic)
    if highlight_params is not None and highlight_params.recover:
        opts.update(highlight_recover=True, highlight_threshold=highlight_params.threshold,
                    highlight_gain=highlight_params.gain)
    if render_params is not None:
        opts.update(device=render_params.device, draft=render_params.draft, tile=render_params.tile)
    return opts

"""Renderer options from job settings: the one place, with the one set of limits.

Every face turns the job's ``aperture``, ``highlights`` and ``render`` sections into
:func:`~genrefocus_video.render.api.render_bokeh` arguments here — the classical bokeh stage, the
BokehNet stage (its aperture) and the OpenFX bridge (``render_from_params``) — so a setting
means the same in each. :data:`LIMITS` and the choice lists are read by the job schema
(params/optics.py, params/io.py) and by ``render_bokeh``'s own checks: a value the schema
accepts is one the renderer accepts, and the refusal reads the same.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

from ..errors import ConfigError
from ..optics.aperture import Aperture

log = logging.getLogger(__name__)

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
        opts.update(device=render_params.device, draft=render_params.draft, tile=render_params.tile,
                    cuda_graphs=bool(render_params.cuda_graphs) or env_cuda_graphs())
    return opts


# --------------------------------------------------------------------------- CUDA graphs
#: Deprecated: the environment switch that preceded ``render.cuda_graphs``; read only as its alias.
ENV_CUDA_GRAPHS = "GENREFOCUS_CUDA_GRAPHS"
_NOTED: set[str] = set()  # one-time notes already logged in this process


def _note_once(key: str, msg: str, *args: Any) -> None:
    if key not in _NOTED:
        _NOTED.add(key)
        log.warning(msg, *args)


def env_cuda_graphs() -> bool:
    """The deprecated ``GENREFOCUS_CUDA_GRAPHS=1`` as ``render.cuda_graphs: true`` (warned once per
    process); any other value of it is ignored, with the same warning."""
    value = os.environ.get(ENV_CUDA_GRAPHS)
    if value is None:
        return False
    _note_once("env", "%s is deprecated: use render.cuda_graphs (--cuda-graphs); %s", ENV_CUDA_GRAPHS,
               "taken as render.cuda_graphs: true" if value == "1" else f"its value {value!r} is ignored")
    return value == "1"


def cuda_graphs_option(options: Mapping[str, Any], device: str) -> bool:
    """Whether this render captures/replays CUDA graphs: the ``cuda_graphs`` option (bool, default
    off) on a CUDA device. Asked for on another device it is accepted and noted once (graphs need
    CUDA); the render is the eager one, pixel for pixel."""
    value = options.get("cuda_graphs", False)
    if not isinstance(value, bool):
        raise ConfigError(f"render option cuda_graphs must be true or false, got {value!r}")
    if value and not str(device).startswith("cuda"):
        _note_once(f"device:{device}", "render.cuda_graphs is on but the renderer runs on %s: CUDA graphs "
                   "need a CUDA device, so frames render without them", device)
        return False
    return value

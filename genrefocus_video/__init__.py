"""genrefocus-video: change focus after capture, on video.

The one-frame Python API is :func:`render_bokeh` (float32 H×W×3 linear RGB in and out, disparity
H×W, signed blur radius r = K·(d − a) as in DESIGN.md) and :func:`render_bokeh_rgba` for images
with alpha (colour and coverage defocused together). Heavier modules load lazily so that
`import genrefocus_video` stays cheap for plugins and the CLI.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["render_bokeh", "render_bokeh_rgba", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("render_bokeh", "render_bokeh_rgba"):
        from .render import api

        return getattr(api, name)
    raise AttributeError(f"module 'genrefocus_video' has no attribute {name!r}")

"""Optics sections: blur amount (K or a physical camera), aperture shape, highlights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..optics.aperture import SHAPE_NAMES as SHAPES
from ..render.options import DEVICES, LIMITS
from .schema import param


@dataclass
class BlurParams:
    """Blur radius r = K (d - a) px. Give K directly or a physical camera (thin lens)."""

    k: Optional[float] = param(None, "bokeh level K: px of blur radius per unit of disparity difference",
                               min=0.0, ofx=True, page="Blur", soft_max=100.0)
    focal_length_mm: Optional[float] = param(None, "lens focal length in mm (physical camera)", min=0.0)
    f_number: Optional[float] = param(None, "aperture f-number (physical camera)", min=0.0)
    sensor_width_mm: Optional[float] = param(None, "sensor width in mm (physical camera)", min=0.0)
    use_metadata: bool = param(True, "take focal length / f-number / sensor from clip metadata when present")


@dataclass
class ApertureParams:
    """Aperture (iris) shape, normalised as in DESIGN.md."""

    shape: str = param("disc", "aperture shape", flag="aperture", choices=SHAPES, ofx=True, page="Aperture")
    blades: int = param(6, "number of blades for shape=polygon", min=3, max=32, ofx=True, page="Aperture")
    rotation_deg: float = param(0.0, "aperture rotation in degrees", flag="aperture-rotation",
                                min=-360.0, max=360.0, ofx=True, page="Aperture")
    curvature: float = param(0.0, "blade curvature: 0 straight blades, 1 round", flag="blade-curvature",
                             min=0.0, max=1.0, ofx=True, page="Aperture")
    aspect: float = param(1.0, "anamorphic aspect (width/height of the bokeh)", flag="anamorphic",
                          min=0.1, max=10.0, ofx=True, page="Aperture")
    image: Optional[str] = param(None, "grayscale image used as the aperture (shape=image)", flag="aperture-image")
    cats_eye: float = param(0.0, "optical vignetting toward the frame edges (0 off, 1 strong)",
                            min=LIMITS["cats_eye"][0], max=LIMITS["cats_eye"][1], ofx=True, page="Aperture")
    chromatic: float = param(0.0, "per-channel chromatic fringing of bokeh (0 off)", min=LIMITS["chromatic"][0],
                             max=LIMITS["chromatic"][1], ofx=True, page="Aperture")


@dataclass
class HighlightParams:
    """Highlight recovery for display-referred inputs whose highlights were clipped."""

    recover: bool = param(False, "boost clipped highlights so point lights bloom into bright bokeh",
                          flag="highlight-recover", ofx=True, page="Highlights")
    threshold: float = param(0.9, "linear value above which a pixel counts as a highlight",
                             flag="highlight-threshold", min=LIMITS["highlight_threshold"][0], ofx=True, page="Highlights",
                             soft_max=1.0)
    gain: float = param(4.0, "multiplier applied to recovered highlights", flag="highlight-gain",
                        min=LIMITS["highlight_gain"][0], ofx=True, page="Highlights", soft_max=20.0)


@dataclass
class RenderParams:
    """How the renderer runs (not what it renders)."""

    device: str = param("auto", "compute device for the renderer", choices=DEVICES)
    draft: float = param(1.0, "draft scale (0.25 = quarter-resolution preview)",
                         min=LIMITS["draft"][0], max=LIMITS["draft"][1])
    tile: int = param(0, "tile height in px for bounded memory (0 = automatic)", min=LIMITS["tile"][0])
    cuda_graphs: bool = param(False, "capture each frame's torch render as a CUDA graph and replay it (CUDA "
                              "device only; on the CPU it is accepted, noted once and the render is "
                              "unchanged). Off by default until a GPU run confirms it", ofx=True, page="Render")
    explain: Optional[str] = param(None, "write the signed blur map and focus overlay to this folder")
    alpha: str = param("defocus", "inputs with alpha (CG elements, ProRes 4444): 'defocus' blurs the premultiplied "
                       "colour and the alpha together, so an element's soft edge is in its alpha too; 'keep' "
                       "leaves the alpha as it came (the colour is refocused alone)", flag="alpha",
                       choices=("defocus", "keep"), ofx=True, page="Blur")

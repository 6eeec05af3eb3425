"""Focus section: the focus plane a(t), as a constant, keyframes, a picked point or a followed subject."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..tracks import EASINGS
from .schema import param


@dataclass
class FocusParams:
    """Everything that resolves to a focus disparity a per frame."""

    disparity: Optional[float] = param(None, "focus disparity a (same units as the depth's disparity)",
                                       flag="focus-disparity", min=0.0, ofx=True, page="Focus", soft_max=1.0)
    depth: Optional[float] = param(None, "focus distance as metric depth (a = 1/depth)", flag="focus-depth", min=0.0)
    range: float = param(0.0, "depth of field kept sharp: disparities within +-range/2 of the focus plane get no "
                         "blur, the rest blur from the band's edges (0 = a real lens: only the focus plane is sharp)",
                         flag="focus-range", min=0.0, ofx=True, page="Focus", soft_max=0.5)
    range_subject: bool = param(False, "with --focus-track follow: widen the sharp band every frame to cover the "
                                "followed subject's depth (10-90 % of its disparities), smoothed like the focus; "
                                "--focus-range adds a margin. The whole subject stays sharp, as in a phone's "
                                "portrait video", flag="focus-range-subject")
    point: Optional[str] = param(None, "focus on the disparity at pixel X,Y[@FRAME]", flag="focus-point")
    keyframes: Optional[str] = param(None, "keyframes 'WHEN:VALUE,...': WHEN = frame, seconds '2.5s' or timecode HH:MM:SS:FF; VALUE = disparity, "
                                     "depth '3m' or point '@X/Y'; or a .json/.csv file",
                                     flag="focus-keyframes")
    ease: str = param("ease", "interpolation between focus keyframes", flag="focus-ease",
                      choices=EASINGS)
    track: str = param("none", "follow a subject through the clip", flag="focus-track", choices=("none", "follow"))
    box: Optional[str] = param(None, "subject box X,Y,W,H[@FRAME] for --focus-track follow", flag="focus-box")
    follow_time: float = param(0.15, "follow-focus time constant in seconds (critically damped): smooths "
                               "--focus-ease follow keyframes and a followed subject's measured depth", min=0.0)
    export: Optional[str] = param(None, "write the resolved focus track (.json or .csv)", flag="export-focus-track")
    plot: Optional[str] = param(None, "write a PNG plot of the focus track", flag="focus-plot")

"""Thin-lens camera model: from focal length, f-number and sensor to the bokeh level K.

For a thin lens of focal length f focused at distance Z_f, with aperture diameter A = f / N, a
point at distance Z images as a circle of confusion of diameter (on the sensor)

    c = A · f / (Z_f − f) · |Z − Z_f| / Z = A · f · Z_f / (Z_f − f) · |d − a|,

with disparities d = 1/Z and a = 1/Z_f (1/m). In pixels of an image `image_width_px` wide on a
sensor `sensor_width_mm` wide, the signed radius is r = K · (d − a) with

    K = (A / 2) · f Z_f / (Z_f − f) · image_width_px / sensor_width_mm,

so halving the f-number doubles K (and every blur radius). K is linear in the aperture diameter
and, for Z_f ≫ f, ≈ f² / (2 N) · px/mm — the "bokeh level" of the Genfocus paper, set there from
EXIF. K in this form is meaningful only for metric depth (d in 1/m).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

from ..errors import ConfigError

FULL_FRAME_WIDTH_MM = 36.0


def _positive(name: str, value: Optional[float]) -> float:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"physical camera: {name} must be a positive number, got {value!r}")
    return float(value)


def k_from_camera(focal_length_mm: float, f_number: float, sensor_width_mm: float, image_width_px: float,
                  focus_distance_m: Optional[float] = None) -> float:
    """K in px of blur radius per unit of disparity (1/m). `focus_distance_m=None` means far focus."""
    f = _positive("focal_length_mm", focal_length_mm)
    n = _positive("f_number", f_number)
    sw = _positive("sensor_width_mm", sensor_width_mm)
    wpx = _positive("image_width_px", image_width_px)
    f_m = f / 1000.0
    if focus_distance_m is None:
        magnification = f_m  # lim Z_f -> inf of f Z_f / (Z_f - f)
    else:
        zf = _positive("focus_distance_m", focus_distance_m)
        if zf <= f_m:
            raise ConfigError(f"physical camera: focus distance {zf} m must exceed the focal length {f_m} m")
        magnification = f_m * zf / (zf - f_m)
    aperture_mm = f / n
    return float(aperture_mm / 2.0 * magnification * wpx / sw)


def sharp_zone_m(k: float, focus_distance_m: float, coc_px: float = 1.0,
                 focus_range: float = 0.0) -> tuple[float, float]:
    """(near, far) metric distances whose blur radius stays within `coc_px` at bokeh level K and
    focus distance Z_f: the depth of field an editor would read off a lens. From |K·(d − a)| − the
    focus range's half band ≤ coc with d = 1/Z and a = 1/Z_f; far is inf past the hyperfocal."""
    a = 1.0 / _positive("focus_distance_m", focus_distance_m)
    half = coc_px / _positive("k", k) + 0.5 * max(float(focus_range), 0.0)
    near = 1.0 / (a + half)
    far = math.inf if a <= half else 1.0 / (a - half)
    return near, far


def focus_disparity_from_distance(distance_m: float) -> float:
    """Focus disparity a = 1 / Z_f (1/m) for a metric focus distance."""
    return 1.0 / _positive("focus distance", distance_m)


def camera_from_metadata(camera: Mapping[str, float]) -> Optional[dict]:
    """Focal length, f-number and sensor width from clip metadata, or None if incomplete.

    Accepts `focal_length_mm`, `f_number`, `sensor_width_mm` and/or `focal_length_35mm`
    (35 mm-equivalent focal length: sensor width = 36 mm · f / f35; alone it stands for a
    full-frame lens of that focal length).
    """
    def num(key: str) -> Optional[float]:
        v = camera.get(key)
        try:
            v = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) and v > 0 else None

    f, n, sw, f35 = num("focal_length_mm"), num("f_number"), num("sensor_width_mm"), num("focal_length_35mm")
    if n is None:
        return None
    if f is None and f35 is not None:
        f, sw = f35, sw or FULL_FRAME_WIDTH_MM
    if f is None:
        return None
    if sw is None and f35 is not None:
        sw = FULL_FRAME_WIDTH_MM * f / f35
    if sw is None:
        return None
    return {"focal_length_mm": f, "f_number": n, "sensor_width_mm": sw}

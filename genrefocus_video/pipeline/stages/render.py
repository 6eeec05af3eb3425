"""The classical bokeh stage: rec.output = render_bokeh(rec.sharp, rec.disparity, a, K).

K comes from (in order) --k, a physical camera given in the job (thin lens), or the clip's camera
metadata (focal length, f-number, sensor / 35 mm equivalent, as the Genfocus paper sets K from
EXIF) — the last one is logged so a user knows where the blur amount came from.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Optional

import numpy as np

from ...depth.sanitise import fit_blur_reach
from ...errors import ConfigError, InputError
from ...io.frame import ClipInfo
from ...optics.lens import camera_from_metadata, k_from_camera, sharp_zone_m
from ...params import JobParams
from ...record import FrameRecord

log = logging.getLogger("genrefocus_video.render")


def resolve_k(job: JobParams, info: Optional[ClipInfo]) -> float:
    """K from --k, else the physical camera in the job, else clip camera metadata; ConfigError if none."""
    blur = job.blur
    if blur.k is not None:
        return float(blur.k)
    # K is in pixel heights (the renderer keeps bokeh round on the display): the sensor width spans
    # the frame's display width, width × pixel aspect
    width = info.width * float(info.pixel_aspect) if info is not None else None
    focus_m = job.focus.depth
    meta_cam = camera_from_metadata(info.camera) if (info is not None and blur.use_metadata and info.camera) else None
    if blur.focal_length_mm is not None or blur.f_number is not None:
        f = blur.focal_length_mm if blur.focal_length_mm is not None else (meta_cam or {}).get("focal_length_mm")
        n = blur.f_number if blur.f_number is not None else (meta_cam or {}).get("f_number")
        sw = blur.sensor_width_mm if blur.sensor_width_mm is not None else (meta_cam or {}).get("sensor_width_mm")
        missing = [name for name, v in (("--focal-length-mm", f), ("--f-number", n), ("--sensor-width-mm", sw)) if v is None]
        if missing:
            raise ConfigError(f"physical camera is incomplete: give {', '.join(missing)} (or --k)")
        if width is None:
            raise ConfigError("physical camera needs the clip width to convert mm to px")
        k = k_from_camera(f, n, sw, width, focus_m)
        log.info("bokeh level K = %.4g px per 1/m from the physical camera (f=%g mm, f/%g, sensor %g mm)%s",
                 k, f, n, sw, _sharp_zone_text(k, focus_m, job.focus.range))
        return k
    if meta_cam is not None and width is not None:
        k = k_from_camera(meta_cam["focal_length_mm"], meta_cam["f_number"], meta_cam["sensor_width_mm"], width, focus_m)
        log.info("no --k given: bokeh level K = %.4g px per 1/m from the clip's camera metadata "
                 "(f=%g mm, f/%g, sensor %g mm%s); K assumes metric depth%s", k, meta_cam["focal_length_mm"],
                 meta_cam["f_number"], meta_cam["sensor_width_mm"],
                 f", focus {focus_m} m" if focus_m else ", focus at infinity",
                 _sharp_zone_text(k, focus_m, job.focus.range))
        return k
    raise ConfigError("no blur amount: give --k, or a physical camera (--focal-length-mm, --f-number, "
                      "--sensor-width-mm), or a clip whose metadata has focal length and f-number")


def _sharp_zone_text(k: float, focus_m: Optional[float], focus_range: float) -> str:
    """'; sharp (blur radius <= 1 px) from N m to F m' for a metric focus distance, else ''."""
    if not focus_m:
        return ""
    near, far = sharp_zone_m(k, focus_m, 1.0, focus_range)
    return f"; sharp (blur radius <= 1 px) from {near:.3g} m to " + ("infinity" if math.isinf(far) else f"{far:.3g} m")


class BokehStage:
    """Frame stage (pure): renders rec.output from rec.sharp, rec.disparity, rec.focus_disparity, rec.k."""

    name = "bokeh"
    temporal = False

    def __init__(self, job: JobParams, info: Optional[ClipInfo] = None) -> None:
        from ...render.options import job_aperture, render_options

        self.job = job
        self.info = info
        self.k = resolve_k(job, info)
        self.aperture = job_aperture(job.aperture)  # validated once, up front
        pixel_aspect = float(info.pixel_aspect) if info is not None else 1.0
        self.options = render_options(job.aperture, job.highlights, job.render, pixel_aspect)

    def process(self, rec: FrameRecord) -> FrameRecord:
        from ...render.api import render_bokeh, render_bokeh_rgba

        t0 = time.perf_counter()
        if rec.disparity is None:
            raise InputError(f"frame {rec.index}: no disparity for the bokeh stage (depth stage missing?)")
        a = rec.focus_disparity if rec.focus_disparity is not None else self.job.focus.disparity
        if a is None:
            raise ConfigError(f"frame {rec.index}: no focus disparity (give --focus-disparity or a focus track)")
        k = float(rec.k) if rec.k is not None else self.k
        rec.k = k
        focus_range = float(rec.focus_range) if rec.focus_range is not None else float(self.job.focus.range)
        if (rec.extras.get("depth") or {}).get("estimated"):  # an estimate never sinks a job (depth/sanitise.py)
            fitted = fit_blur_reach(rec.disparity, a, k, focus_range, rec.index)
            if fitted is not rec.disparity:  # the report's per-frame count (depth/sanitise.py report_row)
                rec.extras["depth"]["blur_clamped"] = int(np.count_nonzero(fitted != rec.disparity))
            rec.disparity = fitted
        try:
            if rec.frame.alpha is not None and self.job.render.alpha == "defocus":
                rec.output, rec.output_alpha = render_bokeh_rgba(rec.sharp, rec.frame.alpha, rec.disparity, a, k,
                                                                 self.aperture, **self.options,
                                                                 focus_range=focus_range)
            else:
                rec.output = render_bokeh(rec.sharp, rec.disparity, a, k, self.aperture, **self.options,
                                          focus_range=focus_range)
        except (InputError, ConfigError) as exc:
            raise type(exc)(f"frame {rec.index}: {exc}") from None
        if self.job.render.explain:
            from ...render.explain import write_explain

            rec.extras["explain"] = write_explain(self.job.render.explain, rec.index, rec.sharp, rec.disparity, a, k,
                                                  focus_range=focus_range)
        rec.timings[self.name] = time.perf_counter() - t0
        return rec

"""`render_bokeh`: the one-frame entry point of the classical bokeh renderer.

Float32 H×W×3 linear RGB in and out, disparity H×W (larger = nearer), signed blur radius
r = K·(d − a) px as in DESIGN.md. It validates its inputs (one-line ConfigError/InputError),
applies optional highlight recovery, picks a backend (numpy/OpenCV on the CPU, torch on CUDA when
available — the same algorithm), splits big frames into overlapping bands for bounded memory and
renders at a reduced scale in draft mode.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Optional, Union

import cv2
import numpy as np

from ..errors import ConfigError, InputError
from ..optics.aperture import Aperture, make_aperture
from ..optics.coc import blur_reach, signed_blur
from .highlights import recover_highlights
from .options import DEVICES, LIMITS, cuda_graphs_option, job_aperture, render_options
from .plan import Spacing, make_plan

log = logging.getLogger("genrefocus_video.render")

_OPTIONS = {
    "blades", "rotation_deg", "curvature", "aspect", "aperture_image", "cats_eye", "chromatic",
    "highlight_recover", "highlight_threshold", "highlight_gain", "device", "backend", "draft", "tile",
    "layer_step", "layer_rel", "r0", "layer_grid", "pixel_aspect", "focus_range", "edge_matte", "threads",
    "cuda_graphs",
}
AUTO_BAND_PIXELS = 2_400_000  # frames above this many pixels are rendered in bands (tile=0)


def _check_inputs(image: Any, disparity: Any, focus_disparity: Any, k: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"image must be an H×W×3 RGB array, got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise InputError(f"image must be float linear RGB, got dtype {img.dtype} (linearise encoded input first)")
    img = np.ascontiguousarray(img, dtype=np.float32)
    if not np.isfinite(img).all():
        raise InputError("image contains NaN or inf values")
    d = np.asarray(disparity)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.shape != img.shape[:2]:
        raise InputError(f"disparity has shape {d.shape}, expected {img.shape[:2]} (the image's H×W)")
    if not np.issubdtype(d.dtype, np.number):
        raise InputError(f"disparity must be numeric, got dtype {d.dtype}")
    d = np.ascontiguousarray(d, dtype=np.float32)
    bad = ~np.isfinite(d)
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise InputError(f"disparity contains {int(bad.sum())} NaN/inf values (first at x={x}, y={y})")
    try:
        a = float(focus_disparity)
    except (TypeError, ValueError):
        raise ConfigError(f"focus disparity must be a number, got {focus_disparity!r}") from None
    if not math.isfinite(a):
        raise ConfigError(f"focus disparity must be finite, got {a}")
    try:
        kk = float(k)
    except (TypeError, ValueError):
        raise ConfigError(f"bokeh level K must be a number, got {k!r}") from None
    if not math.isfinite(kk) or kk < 0:
        raise ConfigError(f"bokeh level K must be a finite number >= 0, got {kk}")
    return img, d, a, kk


def _num(options: dict, key: str, default: float, lo: float, hi: Optional[float]) -> float:
    v = options.get(key, default)
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"render option {key} must be a number, got {v!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"render option {key} must be a finite number, got {v}")
    if v < lo:  # the job schema's wording (params.schema.coerce), so every face reads the same
        raise ConfigError(f"render option {key} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ConfigError(f"render option {key} must be <= {hi}, got {v}")
    return v


def _limited(options: dict, key: str, default: float) -> float:
    """An option checked against the one set of limits the job schema also uses (render.options.LIMITS)."""
    lo, hi = LIMITS[key]
    return _num(options, key, default, lo, hi)


def resolve_aperture(aperture: Union[str, Aperture], options: dict) -> Aperture:
    """An :class:`Aperture` from a shape name (+ options) or an Aperture passed through."""
    if isinstance(aperture, Aperture):
        return aperture
    if not isinstance(aperture, str):
        raise ConfigError(f"aperture must be a shape name or an Aperture, got {type(aperture).__name__}")
    image = options.get("aperture_image")
    if image is not None and aperture == "disc" and "aperture_image" in options:
        aperture = "image"
    blades = options.get("blades", 6)
    if isinstance(blades, float) and blades.is_integer():
        blades = int(blades)
    return make_aperture(aperture, blades=blades, rotation_deg=options.get("rotation_deg", 0.0),
                         curvature=options.get("curvature", 0.0), aspect=options.get("aspect", 1.0),
                         image=image)


def _layer_grid(options: dict) -> str:
    """layer_grid: 'anchored' (default), 'lattice' or 'adaptive' (see render.plan.layer_knots)."""
    grid = options.get("layer_grid", "anchored") or "anchored"
    if grid not in ("anchored", "lattice", "adaptive"):
        raise ConfigError(f"render option layer_grid must be 'anchored', 'lattice' or 'adaptive', got {grid!r}")
    return grid


def _resolve_backend(options: dict) -> tuple[str, str]:
    """(backend, device): numpy on the CPU unless CUDA is asked for or found ('auto')."""
    device = options.get("device", "auto") or "auto"
    backend = options.get("backend", "auto") or "auto"
    if device not in DEVICES:
        raise ConfigError(f"render device must be auto, cpu or cuda, got {device!r}")
    if backend not in ("auto", "numpy", "torch"):
        raise ConfigError(f"render backend must be auto, numpy or torch, got {backend!r}")
    if backend == "numpy":
        if device == "cuda":
            raise ConfigError("render backend 'numpy' cannot run on device 'cuda'")
        return "numpy", "cpu"
    if device == "auto":
        device = "cuda" if _cuda_available() else "cpu"
    elif device == "cuda" and not _cuda_available():
        from ..errors import BackendUnavailableError

        raise BackendUnavailableError("render device 'cuda' requested but torch sees no CUDA GPU")
    if backend == "auto":
        backend = "torch" if device == "cuda" else "numpy"
    return backend, device


def _cuda_available() -> bool:
    # Avoid importing torch (seconds) on machines without an NVIDIA driver.
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def render_bokeh(image: np.ndarray, disparity: np.ndarray, focus_disparity: float, k: float,
                 aperture: Union[str, Aperture] = "disc", **options: Any) -> np.ndarray:
    """Render depth of field: float32 H×W×3 linear RGB focused at disparity `focus_disparity`.

    Options: blades, rotation_deg, curvature, aspect, aperture_image (shape 'image'), cats_eye
    (0..1), chromatic (0..1), highlight_recover/highlight_threshold/highlight_gain, device
    (auto|cpu|cuda), backend (auto|numpy|torch), draft (0.05..1 scale; limits: render.options.LIMITS), tile (band height px,
    0 = automatic), pixel_aspect (width/height of a stored pixel on display, the clip's sample
    aspect ratio: bokeh stays round on the display; r and K are in pixel heights), focus_range
    (disparity band around the focus plane kept sharp, optics.coc; 0 = a real lens), and quality
    knobs layer_step (px), layer_rel, r0 (multi-resolution knee px), layer_grid ('anchored',
    default: a fixed layer lattice anchored at r = 0 plus the frame's extreme radii, continuous
    across frames; 'lattice', 'adaptive': alternatives for benchmarks), edge_matte (default True;
    False renders hard depth edges, for benchmarks) and threads (CPU layer threads, default
    min(cores, 4)) — both become fields of the render plan — and cuda_graphs (default False;
    CUDA devices only, see render.options.cuda_graphs_option).
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError(f"unknown render option(s): {', '.join(sorted(unknown))}")
    img, d, a, kk = _check_inputs(image, disparity, focus_disparity, k)
    ap = resolve_aperture(aperture, options).with_pixel_aspect(_limited(options, "pixel_aspect", 1.0))
    cats_eye = _limited(options, "cats_eye", 0.0)
    chromatic = _limited(options, "chromatic", 0.0)
    draft = _limited(options, "draft", 1.0)
    tile = int(_limited(options, "tile", 0))
    focus_range = _num(options, "focus_range", 0.0, 0.0, 1e6)
    spacing = Spacing(step=_num(options, "layer_step", 1.0, 0.05, 100.0),
                      rel=_num(options, "layer_rel", 0.12, 0.01, 1.0),
                      r0=_num(options, "r0", 8.0, 1.0, 1e6),
                      grid=_layer_grid(options))
    backend, device = _resolve_backend(options)
    switches = {**_switches(options), "cuda_graphs": cuda_graphs_option(options, device)}
    if options.get("highlight_recover"):
        img = recover_highlights(img, _limited(options, "highlight_threshold", 0.9),
                                 _limited(options, "highlight_gain", 4.0))
    if kk == 0.0:
        return img.copy()
    H, W = d.shape
    if draft < 1.0:
        w2, h2 = max(1, int(round(W * draft))), max(1, int(round(H * draft)))
        small = cv2.resize(img, (w2, h2), interpolation=cv2.INTER_AREA)
        d2 = cv2.resize(d, (w2, h2), interpolation=cv2.INTER_NEAREST)
        res = _render_full(small, d2, a, kk * w2 / W, focus_range, ap, spacing, cats_eye, chromatic, tile, backend,
                           device, switches)
        return cv2.resize(res, (W, H), interpolation=cv2.INTER_LINEAR)
    return _render_full(img, d, a, kk, focus_range, ap, spacing, cats_eye, chromatic, tile, backend, device, switches)


def _switches(options: dict) -> dict:
    """edge_matte (bool, default on) and threads (CPU layer threads, default min(cores, 4)): plan fields."""
    matte = options.get("edge_matte", True)
    if not isinstance(matte, (bool, np.bool_)):
        raise ConfigError(f"render option edge_matte must be true or false, got {matte!r}")
    threads = options.get("threads")
    if threads is not None:
        threads = int(_num(options, "threads", 1, 1, 256))
    return {"edge_matte": bool(matte), "threads": threads}


def _check_blur_reach(d: np.ndarray, a: float, k: float, focus_range: float = 0.0) -> None:
    """Refuse blur radii beyond the frame: they mean wrong units, and would exhaust memory."""
    H, W = d.shape
    reach = blur_reach(float(d.min()), float(d.max()), a, k, focus_range)
    if reach > max(H, W):
        raise ConfigError(f"blur radius reaches {reach:.0f} px (K={k:g}, disparity {float(d.min()):g}..{float(d.max()):g}, "
                          f"focus {a:g}), more than the {max(H, W)} px frame: check K and the depth's units "
                          "(--depth-kind, --depth-scale)")


def _render_full(img, d, a, k, focus_range, ap, spacing, cats_eye, chromatic, tile, backend, device,
                 switches=None) -> np.ndarray:
    H, W = d.shape
    _check_blur_reach(d, a, k, focus_range)
    r = signed_blur(d, a, k, focus_range)
    band = tile if tile > 0 else (H if H * W <= AUTO_BAND_PIXELS else max(64, AUTO_BAND_PIXELS // W))
    if band >= H:
        return _render_band(img, r, ap, spacing, cats_eye, chromatic, backend, device, (0, 0, H, W), switches)
    rmax = max(abs(float(r.min())), abs(float(r.max())))
    margin = 2 * int(math.ceil(rmax)) + 16
    out = np.empty_like(img)
    for y0 in range(0, H, band):
        y1 = min(H, y0 + band)
        a0, a1 = max(0, y0 - margin), min(H, y1 + margin)
        res = _render_band(img[a0:a1], r[a0:a1], ap, spacing, cats_eye, chromatic, backend, device, (a0, 0, H, W),
                           switches)
        out[y0:y1] = res[y0 - a0: y1 - a0]
    return out


def _render_band(img, r, ap, spacing, cats_eye, chromatic, backend, device, frame_box, switches=None) -> np.ndarray:
    plan_switches = dict(switches or {})
    graphs = bool(plan_switches.pop("cuda_graphs", False))  # a launch choice, not a plan field
    plan = make_plan(r, ap, spacing, chromatic=chromatic, cats_eye=cats_eye, frame_box=frame_box, **plan_switches)
    if backend == "torch":
        from .torch_impl import render_torch

        return render_torch(img, r, plan, frame_box, device, graphs=graphs)
    from .cpu import render_numpy

    return render_numpy(img, r, plan, frame_box)


def render_bokeh_rgba(image: np.ndarray, alpha: np.ndarray, disparity: np.ndarray, focus_disparity: float,
                      k: float, aperture: Union[str, Aperture] = "disc",
                      **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Depth of field of an image with straight `alpha` (H×W in [0, 1]): (straight RGB, alpha).

    A CG element over transparency defocuses as premultiplied colour and coverage together: both
    are rendered with the same depth, aperture and layers (alpha as a grey image, without highlight
    recovery, its green channel taken as chromatic fringing gives alpha the green kernel), and the
    colour is divided back by the blurred alpha. Transparent pixels carry no colour into the bokeh,
    and the element's soft edge is in its alpha, so it composites as the camera would have seen it.
    An alpha of 1 everywhere costs nothing extra (the plain render).
    """
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    img = np.asarray(image, dtype=np.float32)
    if a.shape != img.shape[:2]:
        raise InputError(f"alpha has shape {a.shape}, expected {img.shape[:2]} (the image's H×W)")
    if float(a.min()) >= 1.0:
        return render_bokeh(img, disparity, focus_disparity, k, aperture, **options), a
    premult = render_bokeh(img * a[..., None], disparity, focus_disparity, k, aperture, **options)
    plain = {key: v for key, v in options.items() if not key.startswith("highlight_")}
    out_a = render_bokeh(np.repeat(a[..., None], 3, axis=2), disparity, focus_disparity, k, aperture, **plain)[..., 1]
    out_a = np.clip(out_a, 0.0, 1.0)
    rgb = np.where(out_a[..., None] > 1e-6, premult / np.maximum(out_a, 1e-6)[..., None], 0.0).astype(np.float32)
    return rgb, out_a.astype(np.float32)


def render_from_params(image: np.ndarray, disparity: np.ndarray, a: float, k: float, aperture_params: Any,
                       highlight_params: Any = None, render_params: Any = None,
                       pixel_aspect: float = 1.0, focus_range: float = 0.0) -> np.ndarray:
    """`render_bokeh` driven by the job schema sections (params.optics), the clip's pixel aspect
    and the focus range (params.focus), through the one settings-to-options place (render.options)."""
    aperture, opts = _params_options(aperture_params, highlight_params, render_params, pixel_aspect)
    return render_bokeh(image, disparity, a, k, aperture, **opts, focus_range=focus_range)


def render_rgba_from_params(image: np.ndarray, alpha: np.ndarray, disparity: np.ndarray, a: float, k: float,
                            aperture_params: Any, highlight_params: Any = None, render_params: Any = None,
                            pixel_aspect: float = 1.0, focus_range: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`render_bokeh_rgba` (straight RGB + alpha in, straight RGB + alpha out) driven by the schema."""
    aperture, opts = _params_options(aperture_params, highlight_params, render_params, pixel_aspect)
    return render_bokeh_rgba(image, alpha, disparity, a, k, aperture, **opts, focus_range=focus_range)


def _params_options(aperture_params: Any, highlight_params: Any, render_params: Any,
                    pixel_aspect: float) -> tuple[Union[str, Aperture], dict[str, Any]]:
    """(aperture, render_bokeh options) from the job schema sections."""
    aperture = job_aperture(aperture_params) if aperture_params is not None else "disc"
    return aperture, render_options(aperture_params, highlight_params, render_params, pixel_aspect)

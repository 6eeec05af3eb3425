"""Learned monocular depth from LOCAL weights through transformers' AutoModelForDepthEstimation.

One loader for every family transformers ships a depth head for, each read from its config for
what its ``predicted_depth`` means (transformers/models/*/modeling_*.py):

* ``depth_anything`` (Depth Anything V1/V2 small/base/large): ``depth_estimation_type`` "relative"
  → a ReLU output that is inverse depth up to an unknown scale and shift (relative disparity);
  "metric" (the metric V2 variants) → sigmoid × ``max_depth``: depth in metres.
* ``dpt`` (DPT / MiDaS v3): relative inverse depth, like relative Depth Anything.
* ``zoedepth``: metric depth in metres (bins between min_depth and max_depth); the processor pads
  the image by int(√(h/2)·3) px each side (``do_pad``), removed again here.
* ``depth_pro``: *canonical* inverse depth; metric inverse depth is canonical × W/f (W the image
  width, f the focal length in px of that width), f from the clip's metadata when given, else the
  model's own field-of-view head (``use_fov_model``): W/f = 2·tan(fov/2). Without either the
  map is only known up to a scale (handled as relative).
* any other model whose config declares ``depth_estimation_type`` is read the same way.

What the rest of the tool gets (:class:`ModelDepth`) is disparity at the frame's size: 1/m for
metric families (so --focus-depth in metres and a physical camera's K apply), or relative
disparity (affine-aligned over time by depth.learned_source). Input frames are linear float32 RGB;
models were trained on display-referred sRGB pictures, so frames are encoded to sRGB code values
(clipped to [0, 1]) and handed to the folder's own image processor (resize, normalisation).

Weights are never downloaded (``local_files_only``) and only safetensors are read: a folder with
only pickle weights (``pytorch_model.bin``) is refused — unpickling runs code. Models load once per
process through an explicit :class:`DepthModelCache` that the caller owns and passes on.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..colour import from_linear
from ..errors import BackendUnavailableError

log = logging.getLogger(__name__)

FALLBACK = "or estimate depth without a model: --depth-source motion"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
METRIC_FAMILIES = ("zoedepth", "glpn")
RELATIVE_FAMILIES = ("dpt",)


@dataclass
class ModelDepth:
    """One frame's model output turned into disparity at the frame size."""

    disparity: np.ndarray  # float32 H×W: 1/m when metric, else relative (larger = nearer)
    metric: bool  # True: disparity in 1/m
    fov_deg: Optional[float] = None  # horizontal field of view the model estimated (Depth Pro)


def display_srgb(rgb: np.ndarray) -> np.ndarray:
    """Linear float RGB → sRGB code values in [0, 1] (what depth models were trained on; HDR
    highlights above reference white clip, as on an SDR display)."""
    return np.clip(from_linear(np.asarray(rgb, dtype=np.float32), "srgb"), 0.0, 1.0).astype(np.float32)


def output_kind(config: Any) -> str:
    """'metric_depth', 'relative_disparity' or 'canonical_inverse_depth' (Depth Pro) from a config."""
    family = getattr(config, "model_type", "")
    if family == "depth_pro":
        return "canonical_inverse_depth"
    declared = getattr(config, "depth_estimation_type", None)
    if declared in ("relative", "metric"):
        return "metric_depth" if declared == "metric" else "relative_disparity"
    if family in METRIC_FAMILIES:
        return "metric_depth"
    if family in RELATIVE_FAMILIES:
        return "relative_disparity"
    raise BackendUnavailableError(f"depth model type {family!r} is not supported (Depth Pro, Depth Anything, DPT, "
                                  f"ZoeDepth, or a config declaring depth_estimation_type); {FALLBACK}")


def check_weights_folder(path: Optional[str]) -> Path:
    """The folder as a Path, or BackendUnavailableError (exit 5) naming what is missing and the fallback."""
    if not path:
        raise BackendUnavailableError("--depth-source model needs local weights: --depth-model DIR (a transformers "
                                      f"depth-estimation folder; nothing is downloaded), {FALLBACK}")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise BackendUnavailableError(f"--depth-model {p}: no such folder (weights are never downloaded), {FALLBACK}")
    if not (p / "config.json").is_file():
        raise BackendUnavailableError(f"--depth-model {p}: no config.json (not a transformers model folder), {FALLBACK}")
    if not any(p.glob("*.safetensors")):
        pickles = sorted(f.name for f in p.iterdir() if f.suffix in PICKLE_SUFFIXES)
        what = (f"only pickle weights ({', '.join(pickles)}), which are never unpickled (it can run code): "
                "convert them to safetensors") if pickles else "no *.safetensors weights"
        raise BackendUnavailableError(f"--depth-model {p}: {what}, {FALLBACK}")
    return p


class LoadedDepthModel:
    """A depth model and its image processor on one device; `predict` runs a batch of frames."""

    def __init__(self, path: Path, device: str) -> None:
        try:
            import torch
            from transformers import AutoConfig, AutoModelForDepthEstimation
        except ImportError as exc:
            raise BackendUnavailableError(f"learned depth needs torch and transformers ({exc}), {FALLBACK}") from None
        self.torch, self.path = torch, path
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        try:
            self.config = AutoConfig.from_pretrained(str(path), local_files_only=True)
            self.kind = output_kind(self.config)
            model = AutoModelForDepthEstimation.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
        except BackendUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 — any loader failure is a backend problem
            raise BackendUnavailableError(f"--depth-model {path}: cannot load ({type(exc).__name__}: "
                                          f"{' '.join(str(exc).split())[:300]}), {FALLBACK}") from None
        self.model = model.to(device).eval()
        self.family = str(self.config.model_type)
        self.processor = _load_processor(path)
        self._prep = _read_preprocessor_config(path)

    def predict(self, frames: Sequence[np.ndarray], width_over_focal: Optional[float] = None) -> list[ModelDepth]:
        """Disparity for each linear-RGB frame (same size within a batch): one forward pass.

        `width_over_focal`: display width / focal length from the clip's metadata (Depth Pro's
        metric scale; when None its own field-of-view estimate is used)."""
        torch = self.torch
        h, w = frames[0].shape[:2]
        pixels = self._pixel_values([display_srgb(f) for f in frames]).to(self.device)
        with torch.no_grad():
            out = self.model(pixel_values=pixels)
        raw = out.predicted_depth.float()
        fovs = getattr(out, "field_of_view", None)
        maps = self._to_frame_size(raw, h, w)
        results = []
        for i, m in enumerate(maps):
            fov = float(fovs.reshape(-1)[i]) if fovs is not None else None
            results.append(self._disparity(m, fov, width_over_focal))
        return results

    # -- preprocessing ------------------------------------------------------------------------------
    def _pixel_values(self, images: list[np.ndarray]) -> Any:
        if self.processor is not None:
            return self.processor(images=images, return_tensors="pt", do_rescale=False)["pixel_values"].float()
        return self._depth_pro_pixels(images)

    def _depth_pro_pixels(self, images: list[np.ndarray]) -> Any:
        """Depth Pro's documented preprocessing (normalise first, then bilinear resize) for
        installs whose DepthProImageProcessor cannot load (it needs torchvision)."""
        torch = self.torch
        prep = self._prep
        mean = torch.tensor(prep.get("image_mean", [0.5, 0.5, 0.5]), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(prep.get("image_std", [0.5, 0.5, 0.5]), dtype=torch.float32).view(1, 3, 1, 1)
        size = prep.get("size") or {"height": 1536, "width": 1536}
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
        x = (x - mean) / std
        return torch.nn.functional.interpolate(x, size=(int(size["height"]), int(size["width"])), mode="bilinear",
                                               align_corners=False)

    # -- postprocessing -----------------------------------------------------------------------------
    def _to_frame_size(self, raw: Any, h: int, w: int) -> list[np.ndarray]:
        """Model-resolution maps (B×h'×w') resized to the frame (Zoe's padding removed first)."""
        F = self.torch.nn.functional
        x = raw.unsqueeze(1)
        mode = "bilinear" if self.family == "depth_pro" else "bicubic"
        if self.family == "zoedepth" and self._prep.get("do_pad", True):
            ph, pw = int(math.sqrt(h / 2) * 3), int(math.sqrt(w / 2) * 3)
            x = F.interpolate(x, size=(h + 2 * ph, w + 2 * pw), mode=mode, align_corners=False)
            x = x[:, :, ph:ph + h, pw:pw + w]
        x = F.interpolate(x, size=(h, w), mode=mode, align_corners=False)
        return [m[0].cpu().numpy().astype(np.float32) for m in x]

    def _disparity(self, m: np.ndarray, fov: Optional[float], width_over_focal: Optional[float]) -> ModelDepth:
        if self.kind == "metric_depth":
            with np.errstate(divide="ignore", invalid="ignore"):
                return ModelDepth((1.0 / m).astype(np.float32), True)
        if self.kind == "canonical_inverse_depth":
            fov_ok = fov if (fov is not None and math.isfinite(fov) and 1.0 < fov < 179.0) else None
            ratio = width_over_focal or (2.0 * math.tan(math.radians(fov_ok) / 2.0) if fov_ok else None)
            if ratio is not None:
                return ModelDepth((m * ratio).astype(np.float32), True, fov_ok)
            return ModelDepth(m, False, None)
        return ModelDepth(m, False)


def _read_preprocessor_config(path: Path) -> dict:
    f = path / "preprocessor_config.json"
    try:
        return json.loads(f.read_text()) if f.is_file() else {}
    except (OSError, ValueError):
        return {}


def _load_processor(path: Path) -> Any:
    """The folder's own image processor, or None where it cannot load here (Depth Pro without
    torchvision: its documented preprocessing is applied instead)."""
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        cfg = _read_preprocessor_config(path)
        if "DepthPro" in str(cfg.get("image_processor_type", "")) or not cfg:
            log.info("%s: image processor unavailable here (%s); using Depth Pro's preprocessing",
                     path, type(exc).__name__)
            return None
        raise BackendUnavailableError(f"--depth-model {path}: cannot load its image processor "
                                      f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}), {FALLBACK}") from None


class DepthModelCache:
    """Loaded depth models of one process (or Ray worker), keyed by folder and device.

    Created by whoever owns the process's lifetime (the CLI run, a Ray worker) and passed to
    depth.sources.make_source, so every depth chain of the process (main pass, focus probes)
    shares one copy of the weights. `loads` counts real loads (tests, logs).
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], LoadedDepthModel] = {}
        self.loads = 0

    def get(self, path: Optional[str], device: str = "auto") -> LoadedDepthModel:
        folder = check_weights_folder(path)
        key = (str(folder.resolve()), device)
        if key not in self._models:
            self._models[key] = LoadedDepthModel(folder, device)
            self.loads += 1
            m = self._models[key]
            log.info("depth model %s loaded (%s, outputs %s) on %s", folder, m.family, m.kind, m.device)
        return self._models[key]

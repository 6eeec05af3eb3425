"""Monocular depth with Marigold (Ke et al., "Repurposing Diffusion-Based Image Generators for
Monocular Depth Estimation", CVPR 2024) through diffusers' MarigoldDepthPipeline.

Weights are never downloaded: the pipeline loads from a LOCAL folder in diffusers layout
(``depth.marigold_path`` or ``$GENREFOCUS_MARIGOLD``; safetensors only). Marigold predicts
affine-invariant depth in [0, 1] (0 = near) or disparity (config ``prediction_type``); depth is
turned into a disparity surrogate d = 1 - depth (monotone, larger = nearer; the true inverse is
unknowable without the affine parameters), so its scale and shift may flicker from frame to
frame — the temporal smoother aligns them (the source is flagged affine-ambiguous).

The empty-prompt text embedding is computed once by the pipeline's tokenizer and text encoder;
a weights folder without a tokenizer works too when it ships ``empty_text_embedding.safetensors``
(key ``embedding``), which is set on the pipeline directly (as Marigold does internally).
Confidence: 1 - normalised ensemble uncertainty when ``ensemble_size > 1``, else 0.5.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..record import FrameRecord
from .learned import display_srgb
from .sources import DepthEstimate


class MarigoldDepthSource:
    name = "marigold"
    warmup = 0

    def __init__(self, path: Optional[str], device: str = "auto", steps: Optional[int] = None,
                 resolution: Optional[int] = None, ensemble_size: int = 1, seed: int = 0) -> None:
        path = path or os.environ.get("GENREFOCUS_MARIGOLD")
        if not path:
            raise BackendUnavailableError("--depth-source marigold needs local weights: set 'depth.marigold_path' "
                                          "or $GENREFOCUS_MARIGOLD to a diffusers Marigold folder (nothing is downloaded)")
        p = Path(path)
        if not (p / "model_index.json").is_file():
            raise BackendUnavailableError(f"{p}: not a diffusers Marigold folder (no model_index.json)")
        try:
            import torch
            from diffusers import MarigoldDepthPipeline
        except ImportError as exc:
            raise BackendUnavailableError(f"Marigold needs torch and diffusers ({exc})") from None
        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        kwargs: dict[str, Any] = {}
        emb_file = p / "empty_text_embedding.safetensors"
        if not (p / "tokenizer").is_dir() and emb_file.is_file():
            kwargs.update(tokenizer=None, text_encoder=None)
        try:
            self.pipe = MarigoldDepthPipeline.from_pretrained(str(p), local_files_only=True, use_safetensors=True,
                                                              **kwargs)
        except Exception as exc:  # noqa: BLE001 — any loader failure is a backend problem
            reason = (f"a config file lacks the key {exc} (incomplete download?)" if isinstance(exc, KeyError)
                      else f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            raise BackendUnavailableError(f"{p}: cannot load Marigold ({reason})") from None
        if emb_file.is_file():
            from safetensors.torch import load_file

            self.pipe.empty_text_embedding = load_file(str(emb_file))["embedding"]
        self.pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.steps, self.resolution, self.ensemble, self.seed = steps, resolution, ensemble_size, seed
        self.prediction_type = self.pipe.config.get("prediction_type") or "depth"

    def reset(self) -> None:
        pass

    def estimate(self, rec: FrameRecord) -> DepthEstimate:
        torch = self.torch
        img = display_srgb(rec.frame.rgb)
        gen = torch.Generator(device="cpu").manual_seed(self.seed + rec.index)  # reproducible per frame
        with torch.no_grad():
            out = self.pipe(img, num_inference_steps=self.steps, ensemble_size=self.ensemble,
                            processing_resolution=self.resolution, match_input_resolution=True,
                            generator=gen, output_type="np", output_uncertainty=self.ensemble > 1)
        pred = np.asarray(out.prediction, dtype=np.float32).reshape(rec.frame.height, rec.frame.width)
        if not np.isfinite(pred).all():
            raise InputError(f"frame {rec.index}: Marigold produced non-finite depth")
        disp = pred if self.prediction_type == "disparity" else 1.0 - pred
        disp = np.clip(disp, 0.0, None) + 1e-3
        if self.ensemble > 1 and out.uncertainty is not None:
            u = np.asarray(out.uncertainty, dtype=np.float32).reshape(disp.shape)
            conf = np.clip(1.0 - u / max(float(u.max()), 1e-6), 0.0, 1.0)
        else:
            conf = np.full_like(disp, 0.5)
        return DepthEstimate(disp.astype(np.float32), conf.astype(np.float32),
                             {"source": "marigold", "prediction_type": self.prediction_type}, affine_ambiguous=True)

"""Frames <-> model tensors for the generative stages.

The project works in linear light; FLUX and the Genfocus LoRAs were trained on sRGB-encoded photos
in [-1, 1]. Frames are encoded (clipped to [0, 1]: highlights above 1.0 cannot pass through the
VAE), reflect-padded to a multiple of the token size and cropped back afterwards.
"""
from __future__ import annotations

import numpy as np
import torch

from ..colour import from_linear, to_linear


def srgb_encode(rgb: np.ndarray) -> np.ndarray:
    return np.clip(from_linear(np.clip(rgb, 0.0, 1.0), "srgb"), 0.0, 1.0)


def srgb_decode(enc: np.ndarray) -> np.ndarray:
    return to_linear(np.clip(enc, 0.0, 1.0), "srgb")


def pad_amounts(h: int, w: int, multiple: int) -> tuple[int, int]:
    return (-h) % multiple, (-w) % multiple


def pad_map(a: np.ndarray, multiple: int) -> np.ndarray:
    """Pad H×W(×C) bottom/right to a multiple (mirror, or edge copies for tiny inputs)."""
    ph, pw = pad_amounts(a.shape[0], a.shape[1], multiple)
    if ph == 0 and pw == 0:
        return a
    mode = "reflect" if min(a.shape[:2]) > max(ph, pw) else "edge"
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, widths, mode=mode)


def to_model(rgb_linear: np.ndarray, multiple: int) -> torch.Tensor:
    """Linear RGB H×W×3 -> [1, 3, H', W'] sRGB-encoded in [-1, 1], padded to `multiple`."""
    enc = pad_map(srgb_encode(rgb_linear.astype(np.float32)), multiple)
    return torch.from_numpy(enc * 2.0 - 1.0).permute(2, 0, 1)[None].contiguous().float()


def map_to_model(values01: np.ndarray, multiple: int) -> torch.Tensor:
    """A [0, 1] map H×W (or H×W×3) -> [1, 3, H', W'] unchanged in range (Genfocus 'No_preprocess')."""
    m = values01.astype(np.float32)
    if m.ndim == 2:
        m = np.repeat(m[..., None], 3, axis=2)
    m = pad_map(m, multiple)
    return torch.from_numpy(m).permute(2, 0, 1)[None].contiguous().float()


def from_model(image: torch.Tensor, height: int, width: int) -> np.ndarray:
    """[1, 3, H', W'] in [-1, 1] -> linear RGB float32 height×width×3 (crop of the padding)."""
    enc = ((image[0].float().clamp(-1, 1) + 1.0) * 0.5).permute(1, 2, 0).cpu().numpy()
    return srgb_decode(enc[:height, :width]).astype(np.float32)

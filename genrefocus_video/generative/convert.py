"""Frames <-> model tensors for the generative stages.

The project works in linear light; the reference feeds FLUX display-referred code values (an 8-bit
sRGB/Rec.709 image as a user loads it), mapped to [-1, 1]. So the model sees the SOURCE'S OWN code
values and the result is converted back with the exact inverse (issue 14, point 7):

* ``srgb``/``bt709``: the source's own transfer (a Rec.709 code 0.10 reaches the model as 0.10, not
  as the 0.16 of sRGB-of-linearised-Rec.709); values outside [0, 1] are clipped (the VAE is trained
  on [0, 1] images);
* ``linear`` (EXR, float passes): sRGB encoding, the display encoding such files are viewed with;
* ``pq``/``hlg`` (HDR): a documented, exactly invertible tone map first — y = x·(1 + P) / (P·(1 + x))
  with x linear (1.0 = reference white) and P the format's peak (PQ 10000/203 nits, HLG's peak),
  so 0 -> 0, reference white -> (1 + P)/(2P) ~ 0.5, the peak -> 1 — then sRGB encoding.

Frames are reflect-padded to a multiple of the token size and cropped back afterwards.
"""
from __future__ import annotations

import numpy as np
import torch

from ..colour import from_linear, to_linear

_HDR = ("pq", "hlg")


def hdr_peak(transfer: str) -> float:
    """Peak linear value of an HDR transfer (1.0 = reference white)."""
    return float(to_linear(np.array([1.0], np.float32), transfer)[0])


def model_encode(rgb: np.ndarray, transfer: str = "srgb") -> np.ndarray:
    """Linear RGB -> the code values the model sees, in [0, 1] (see the module docstring)."""
    t = transfer.lower()
    lin = np.maximum(rgb.astype(np.float32), 0.0)
    if t in ("srgb", "bt709"):
        return np.clip(from_linear(np.minimum(lin, 1.0), t), 0.0, 1.0)
    if t in _HDR:
        p = np.float32(hdr_peak(t))
        lin = np.minimum(lin, p) * (1 + p) / (p * (1 + np.minimum(lin, p)))
    return np.clip(from_linear(np.clip(lin, 0.0, 1.0), "srgb"), 0.0, 1.0)


def model_decode(enc: np.ndarray, transfer: str = "srgb") -> np.ndarray:
    """Exact inverse of :func:`model_encode` on [0, 1] code values -> linear RGB float32."""
    t = transfer.lower()
    e = np.clip(enc, 0.0, 1.0)
    if t in ("srgb", "bt709"):
        return to_linear(e, t)
    y = to_linear(e, "srgb")
    if t in _HDR:
        p = np.float32(hdr_peak(t))
        y = y * p / (1 + p - y * p)
    return y.astype(np.float32)


def srgb_encode(rgb: np.ndarray) -> np.ndarray:
    return model_encode(rgb, "srgb")


def srgb_decode(enc: np.ndarray) -> np.ndarray:
    return model_decode(enc, "srgb")


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


def to_model(rgb_linear: np.ndarray, multiple: int, transfer: str = "srgb") -> torch.Tensor:
    """Linear RGB H×W×3 -> [1, 3, H', W'] code values (:func:`model_encode`) in [-1, 1], padded."""
    enc = pad_map(model_encode(rgb_linear, transfer), multiple)
    return torch.from_numpy(enc * 2.0 - 1.0).permute(2, 0, 1)[None].contiguous().float()


def map_to_model(values01: np.ndarray, multiple: int) -> torch.Tensor:
    """A [0, 1] map H×W (or H×W×3) -> [1, 3, H', W'] unchanged in range (Genfocus 'No_preprocess')."""
    m = values01.astype(np.float32)
    if m.ndim == 2:
        m = np.repeat(m[..., None], 3, axis=2)
    m = pad_map(m, multiple)
    return torch.from_numpy(m).permute(2, 0, 1)[None].contiguous().float()


def from_model(image: torch.Tensor, height: int, width: int, transfer: str = "srgb") -> np.ndarray:
    """[1, 3, H', W'] in [-1, 1] -> linear RGB float32 height×width×3 (crop of the padding)."""
    enc = ((image[0].float().clamp(-1, 1) + 1.0) * 0.5).permute(1, 2, 0).cpu().numpy()
    return model_decode(enc[:height, :width], transfer).astype(np.float32)

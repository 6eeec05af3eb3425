"""Block means at a layer's working scale, and the highlight-capped colour kept sparse.

Why: a layer blurred at scale s is averaged over s×s blocks (replicate-padded at the region's
edge); each block's mean depends on that block only, so bands of whole blocks give the whole
region's means exactly (render/cpu.py builds reduced layers band by band on this). The colour that
may be extended behind occluders differs from the layer only at highlight pixels, so it is kept as
sparse changes (:class:`CapDelta`, reduced layers) or values (:class:`CapValues`, full resolution)
instead of a second copy of the layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BAND_ROWS = 64  # full-resolution rows per band of a reduced layer's planes (rounded to its scale)



def _block_mean(x: np.ndarray, s: int) -> np.ndarray:
    if s == 1:
        return x
    h, w = x.shape[:2]
    return cv2.resize(x, (w // s, h // s), interpolation=cv2.INTER_AREA)


def block_mean_padded(x: np.ndarray, s: int) -> np.ndarray:
    """s×s block means of x replicate-padded to a multiple of s, without copying x.

    The whole blocks are averaged straight from x; only the strips of the last partial block row
    and column (< s pixels wide) are padded and averaged on their own. Same values as
    _block_mean(_pad_to(x, s), s): each block's mean depends on that block only.
    """
    if s == 1:
        return x
    h, w = x.shape[:2]
    hf, wf = h - h % s, w - w % s
    if hf == h and wf == w:
        return _block_mean(x, s)
    if hf == 0 or wf == 0:
        return _block_mean(_pad_to(x, s), s)
    hs, ws = -(-h // s), -(-w // s)
    out = np.empty((hs, ws) + x.shape[2:], np.float32)
    out[: hf // s, : wf // s] = _block_mean(x[:hf, :wf], s)
    if wf < w:
        out[: hf // s, wf // s:] = _block_mean(_pad_to(x[:hf, wf:], s), s).reshape(out[: hf // s, wf // s:].shape)
    if hf < h:
        out[hf // s:] = _block_mean(_pad_to(x[hf:], s), s).reshape(out[hf // s:].shape)
    return out


def _pad_to(x: np.ndarray, s: int) -> np.ndarray:
    h, w = x.shape[:2]
    ph, pw = (-h) % s, (-w) % s
    if ph or pw:
        x = cv2.copyMakeBorder(x, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return x


@dataclass
class CapDelta:
    """The highlight-capped layer as a sparse change of the layer: capped = layer + d4 at (py, px)."""

    py: np.ndarray
    px: np.ndarray
    d4: np.ndarray  # N×4 float32


@dataclass
class CapValues:
    """The highlight-capped layer as sparse values: capped = the layer with v4 at (py, px)."""

    py: np.ndarray
    px: np.ndarray
    v4: np.ndarray  # N×4 float32

    def dense(self, layer: np.ndarray) -> np.ndarray:
        capped = layer.copy()
        capped[self.py, self.px] = self.v4
        return capped

    def block_means(self, layer: np.ndarray, f: int) -> np.ndarray:
        """block_mean_padded(self.dense(layer), f), made band by band (bands of whole blocks): no
        full copy of the layer."""
        h, w = layer.shape[:2]
        out = np.empty((-(-h // f), -(-w // f), 4), np.float32)
        step = f * max(1, BAND_ROWS // f)
        for a in range(0, h, step):
            b = min(h, a + step)
            band = layer[a:b].copy()
            sel = (self.py >= a) & (self.py < b)
            band[self.py[sel] - a, self.px[sel]] = self.v4[sel]
            means = block_mean_padded(band, f)
            out[a // f:a // f + means.shape[0]] = means
        return out


def downsample(layer: np.ndarray, known: np.ndarray, capped, s: int):
    """Block means by the layer's working scale s (the ROI is a multiple of s where the frame allows).

    A :class:`CapDelta` becomes the capped layer's block means: the layer's plus each change ÷ s²
    (a pixel of the last row or column counts once more per replicated padding row or column).
    """
    if s == 1:
        return layer, known, capped
    h, w = known.shape
    layer_s = block_mean_padded(layer, s)
    known = block_mean_padded(known, s)
    if capped is layer:
        return layer_s, known, layer_s
    if isinstance(capped, CapDelta):
        ph, pw = (-h) % s, (-w) % s
        wt = np.where(capped.py == h - 1, 1 + ph, 1) * np.where(capped.px == w - 1, 1 + pw, 1)
        capped_s = layer_s.copy()
        np.add.at(capped_s, (capped.py // s, capped.px // s), capped.d4 * (wt / np.float32(s * s))[:, None].astype(np.float32))
        return layer_s, known, capped_s
    return layer_s, known, block_mean_padded(capped, s)

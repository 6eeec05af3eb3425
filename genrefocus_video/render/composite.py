"""Compositing a blurred layer over the accumulated frame, and the final resolve, in row strips.

Why strips: a layer blurred at a working scale s > 1 stays at that scale until it is composited;
it is upsampled (bilinear, half-pixel centres) STRIP_ROWS rows at a time straight into the
composite, so no full-resolution copy of it, nor of its transparency, is ever held. Every strip is
computed from the source rows it needs plus one row of margin on each side, which is exactly what
the bilinear interpolation of those output rows reads: the result is bit-identical to upsampling
the whole layer first (tests/test_render_memory.py checks it against cv2.resize of the whole layer).
"""
from __future__ import annotations

from typing import Any, Iterator

import cv2
import numpy as np

STRIP_ROWS = 64  # full-resolution rows per strip of the composite and the resolve


def spread4(a: np.ndarray) -> np.ndarray:
    """An h×w map repeated into h×w×4 (one OpenCV pass: numpy's broadcast over a last axis of 4 is slow)."""
    return cv2.merge([a, a, a, a])


def upsample(blurred: np.ndarray, s: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear (half-pixel centres) back to the ROI's full-resolution shape (the whole layer at once)."""
    if s == 1:
        return blurred
    hs, ws = blurred.shape[:2]
    return cv2.resize(blurred, (ws * s, hs * s), interpolation=cv2.INTER_LINEAR)[:shape[0], :shape[1]]


def upsampled_strips(src: np.ndarray, s: int, y_lo: int, y_hi: int, x_lo: int, x_hi: int
                     ) -> Iterator[tuple[int, np.ndarray]]:
    """(y, rows): rows y.. of R[y_lo:y_hi, x_lo:x_hi], R = upsample of `src` by s (whole-image bilinear),
    about STRIP_ROWS rows at a time (the rows are new arrays when s > 1, views of `src` when s = 1)."""
    if s == 1:
        for y in range(y_lo, y_hi, STRIP_ROWS):
            yield y, src[y:min(y_hi, y + STRIP_ROWS), x_lo:x_hi]
        return
    hs, ws = src.shape[:2]
    step = max(1, STRIP_ROWS // s)  # source rows per strip
    for b0 in range(y_lo // s, hs, step):
        b1 = min(hs, b0 + step)
        lo, hi = max(y_lo, b0 * s), min(y_hi, b1 * s)  # the output rows this strip gives
        if lo >= hi:
            return
        c0, c1 = max(0, b0 - 1), min(hs, b1 + 1)  # one source row of margin: what the bilinear reads
        up = cv2.resize(np.ascontiguousarray(src[c0:c1]), (ws * s, (c1 - c0) * s), interpolation=cv2.INTER_LINEAR)
        yield lo, up[lo - c0 * s:hi - c0 * s, x_lo:x_hi]


def composite(out: np.ndarray, L: Any, blurred: np.ndarray, shape: tuple[int, int]) -> None:
    """out = out·(1 − A) + C over the layer's region (premultiplied RGBA, in place).

    `blurred` is the layer at its working scale L.scale; `shape` the region's full-resolution shape.
    """
    y0, _, x0, x1 = L.roi
    for a, up in upsampled_strips(blurred, L.scale, 0, shape[0], 0, shape[1]):
        o = out[y0 + a:y0 + a + up.shape[0], x0:x1]
        t = np.subtract(np.float32(1.0), up[..., 3])
        np.multiply(o, spread4(t), out=o)
        np.add(o, up, out=o)


def resolve(out: np.ndarray, img: np.ndarray, pool: Any = None) -> np.ndarray:
    """Accumulated colour ÷ accumulated alpha (≈ 1; corrects the frame-border loss); the input where none.

    With a thread pool the lower half of the rows is resolved on a worker (row-wise: exact).
    """
    H = out.shape[0]
    res = np.empty(img.shape, np.float32)
    if pool is None or H < 64:
        _resolve_rows(out, img, res)
        return res
    h = H // 2
    lower = pool.submit(_resolve_rows, out[h:], img[h:], res[h:])
    _resolve_rows(out[:h], img[:h], res[:h])
    lower.result()
    return res


def _resolve_rows(out: np.ndarray, img: np.ndarray, res: np.ndarray) -> None:
    """The resolve of a block of rows, STRIP_ROWS at a time (frame-sized temporaries avoided)."""
    for a in range(0, out.shape[0], STRIP_ROWS):
        o, r = out[a:a + STRIP_ROWS], res[a:a + STRIP_ROWS]
        acc = o[..., 3]
        bad = acc <= 1e-4  # guard: no layer reached this pixel
        inv = np.reciprocal(np.maximum(acc, np.float32(1e-4)))
        np.multiply(cv2.cvtColor(o, cv2.COLOR_RGBA2RGB), cv2.merge([inv, inv, inv]), out=r)
        if bad.any():
            r[bad] = img[a:a + STRIP_ROWS][bad]

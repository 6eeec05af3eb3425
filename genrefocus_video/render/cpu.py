"""The layered, occlusion-aware bokeh renderer on the CPU (numpy + OpenCV, all cores via OpenCV).

Method (per frame, in linear light; see docs/renderer.md):

1. Split the signed blur radius r = K (d − a) into depth layers (render/plan.py); every pixel is
   shared by its two nearest layers with tent weights. Far-side pixels of a depth edge whose colour
   is a mix of the two sides are split between both depths by an edge matte (render/matte.py),
   so coverage moves continuously with sub-pixel edge motion.
2. Far to near, each layer becomes a premultiplied RGBA image (colour·w, w). Pixels of *nearer*
   layers are holes in it that the scene does not show; they are filled by pull-push
   (Gortler et al. 1996, "The Lumigraph") from everything at or behind the layer — the layer's own
   pixels count with their weight, farther pixels count as known-transparent — so the layer
   continues plausibly behind its occluders, and a blurred foreground that turns semi-transparent
   at its edges reveals background instead of a dark or smeared halo.
3. The filled layer is convolved with the aperture PSF scaled to the layer's |r| (rotated 180° in
   front of the focus plane), at an integer downsampling factor that keeps the kernel radius near
   r0 px (box-filter down, bilinear up), restricted to the layer's region of interest.
4. It is composited *over* the result so far: out = out (1 − A') + C'. A sharp subject in front of
   a blurred background is therefore never smeared (its alpha stays 1), and a blurred foreground
   spreads semi-transparently over whatever lies behind it — the light-field behaviour
   (lfbench's ground truth) that a per-pixel gather or a normalised scatter cannot reproduce.
5. The accumulated colour is divided by the accumulated alpha (≈ 1; corrects frame-border loss).
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .matte import edge_matte
from .plan import RenderPlan, layer_coord, zone_maps


def _sum2x2(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    if h % 2 or w % 2:
        pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (x.ndim - 2)
        x = np.pad(x, pad)
    return x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]


def _up2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[:2]
    up = cv2.resize(x, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return up[: shape[0], : shape[1]]


FILL_CAP = 1.0  # colour cap (× alpha) of what may be extended into hidden regions
THREADS: int | None = None  # layer threads (None: min(cores, 4)); benchmarks set 1 to profile
EDGE_MATTE = True  # soft layer membership at depth edges (render/matte.py)
FILL_SCALE = 4  # hidden regions are filled from a 1/4-resolution pyramid (the fill is smooth anyway)


def cap_highlights(img: np.ndarray, cap: float = FILL_CAP) -> np.ndarray:
    """img with each pixel scaled so its brightest channel is <= cap (hue kept).

    Used only for what is extended into hidden regions: a point light next to an occluder must
    not be smeared into a bright patch behind it — what light hides there is unknown, and a
    duplicated highlight is worse than a plain surface. (Premultiplied colour ≤ cap·alpha is the
    same per-pixel condition, so the frame is capped once and every layer reuses it.)
    """
    peak = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2])
    if not (peak > cap).any():
        return img
    f = np.minimum(1.0, cap / np.maximum(peak, 1e-12)).astype(np.float32)
    return img * f[..., None]


def pull_push_fill(num: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown fraction (1 − known) of premultiplied `num` (h×w×c) from known neighbours.

    Pull: 2×2 sums of num and known; value = sum/known, confidence = min(1, known sum).
    Push: est_l = value_l·conf_l + (1 − conf_l)·up(est_{l+1}). Returns the fill up(est_1); the
    layer continued behind occluders is num + (1 − known)·fill (:func:`pull_push`).
    """
    levels = []
    n, k = num, known
    while k.shape[0] > 1 or k.shape[1] > 1:
        ns, ks = _sum2x2(n), _sum2x2(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(ks[..., None] > 0, ns / np.maximum(ks, 1e-12)[..., None], 0.0).astype(np.float32)
        c = np.minimum(ks, 1.0).astype(np.float32)
        levels.append((v, c))
        n, k = v * c[..., None], c
    if not levels:
        return num
    est = levels[-1][0]
    for v, c in reversed(levels[:-1]):
        est = v * c[..., None] + (1.0 - c)[..., None] * _up2(est, c.shape)
    return _up2(est, known.shape)


def pull_push(num: np.ndarray, known: np.ndarray) -> np.ndarray:
    """num with its unknown fraction filled by pull-push (Gortler et al. 1996)."""
    return num + (1.0 - known)[..., None] * pull_push_fill(num, known)


def extend_layer(num: np.ndarray, known: np.ndarray, capped: np.ndarray, f: int) -> np.ndarray:
    """The layer continued behind its occluders by pull-push at 1/f resolution (in place on `num`).

    `num` is the premultiplied layer, `capped` the same layer made from the highlight-capped frame
    (the colour that may be extended); where known, the true layer is kept. Only the bounding box
    of the hidden pixels is upsampled and blended (it is usually a small part of the layer).
    """
    h, w = known.shape
    hidden = known < 1.0
    rows, cols = np.flatnonzero(hidden.any(axis=1)), np.flatnonzero(hidden.any(axis=0))
    if rows.size == 0:
        return num
    by0, by1, bx0, bx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if f > 1 and min(h, w) >= 2 * f:
        n_s = _block_mean(_pad_to(capped, f), f)
        k_s = _block_mean(_pad_to(known, f), f)
        est = pull_push(n_s, k_s)
        hs, ws = k_s.shape
        # upsample only a crop of est around the hidden box; 2 low-res pixels of margin keep the
        # bilinear interpolation identical to upsampling the whole image
        c0, c1 = max(0, by0 // f - 2), min(hs, (by1 - 1) // f + 3)
        d0, d1 = max(0, bx0 // f - 2), min(ws, (bx1 - 1) // f + 3)
        up = cv2.resize(np.ascontiguousarray(est[c0:c1, d0:d1]), ((d1 - d0) * f, (c1 - c0) * f),
                        interpolation=cv2.INTER_LINEAR)
        up = up[by0 - c0 * f: by1 - c0 * f, bx0 - d0 * f: bx1 - d0 * f]
    else:
        up = pull_push_fill(capped, known)[by0:by1, bx0:bx1]
    up *= (1.0 - known[by0:by1, bx0:bx1])[..., None]
    num[by0:by1, bx0:bx1] += up
    return num


def _block_mean(x: np.ndarray, s: int) -> np.ndarray:
    if s == 1:
        return x
    h, w = x.shape[:2]
    return cv2.resize(x, (w // s, h // s), interpolation=cv2.INTER_AREA)


def _pad_to(x: np.ndarray, s: int) -> np.ndarray:
    h, w = x.shape[:2]
    ph, pw = (-h) % s, (-w) % s
    if ph or pw:
        x = cv2.copyMakeBorder(x, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return x


def _convolve(x: np.ndarray, ks: list) -> np.ndarray:
    """Correlate each of the 4 channels with its kernel (reflect-101 borders)."""
    if ks[0] is ks[1] and ks[2] is ks[1]:
        k = ks[1]
        if k.shape == (1, 1):
            return x * float(k[0, 0])
        return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    out = np.empty_like(x)
    for c in range(4):
        k = ks[c]
        out[..., c] = cv2.filter2D(np.ascontiguousarray(x[..., c]), cv2.CV_32F, k,
                                   borderType=cv2.BORDER_REFLECT_101)
    return out


def _blur_layer(L, img, img_capped, u, plan: RenderPlan, frame_box, matte=None, highlights=None) -> np.ndarray:
    """One layer: premultiplied RGBA at its working scale, extended behind occluders, blurred, upsampled.

    `img` and `img_capped` are RGBA frames with alpha 1 (the frame and its highlight-capped copy).
    """
    y0, y1, x0, x1 = L.roi
    s = L.scale
    d = u[y0:y1, x0:x1] - np.float32(L.index)
    w = np.abs(d)
    np.subtract(np.float32(1.0), w, out=w)
    np.maximum(w, np.float32(0.0), out=w)  # tent weight of this layer
    known = np.subtract(np.float32(1.0), d, out=d)
    np.clip(known, 0.0, 1.0, out=known)  # fraction of the pixel at or behind this layer
    h, wd = w.shape
    layer = img[y0:y1, x0:x1] * w[..., None]  # img is RGBA with alpha 1: one contiguous product
    patch = matte.layer_patch(L.index, L.roi) if matte is not None else None
    if patch is not None:  # edge pixels split into a foreground and a background part (render/matte.py)
        known[patch.py, patch.px] = patch.known
        layer[patch.py, patch.px] = patch.rgba
    need_fill = known.min() < 1.0
    capped = None
    if need_fill and img_capped is not img:
        # the capped frame differs from the frame only at its highlights (elsewhere it is img × 1.0,
        # bit for bit): copy the layer and redo just those pixels
        capped = layer.copy()
        if highlights is not None:
            hy, hx = highlights
            sel = np.flatnonzero((hy >= y0) & (hy < y1) & (hx >= x0) & (hx < x1))
            if sel.size:
                py, px = hy[sel] - y0, hx[sel] - x0
                capped[py, px] = img_capped[hy[sel], hx[sel]] * w[py, px][:, None]
        if patch is not None:
            capped[patch.py, patch.px] = patch.rgba_capped
    if s > 1:
        layer = _block_mean(_pad_to(layer, s), s)
        known = _block_mean(_pad_to(known, s), s)
        if capped is not None:
            capped = _block_mean(_pad_to(capped, s), s)
    if need_fill:
        layer = extend_layer(layer, known, layer if capped is None else capped, max(1, FILL_SCALE // s))
    if plan.zones is None:
        blurred = _convolve(layer, L.kernels[0][1])
    else:
        blurred = np.zeros_like(layer)
        for ks, wz in zone_maps(plan, L, layer.shape[:2], frame_box):
            blurred += _convolve(layer * wz[..., None], ks)
    if s > 1:
        hs, ws = blurred.shape[:2]
        blurred = cv2.resize(blurred, (ws * s, hs * s), interpolation=cv2.INTER_LINEAR)[:h, :wd]
    return blurred


def _rgba(img: np.ndarray) -> np.ndarray:
    out = np.empty(img.shape[:2] + (4,), np.float32)
    out[..., :3] = img
    out[..., 3] = 1.0
    return out


def _rgba_capped(img: np.ndarray, img4: np.ndarray, cap: float = FILL_CAP) -> np.ndarray:
    """RGBA (alpha 1) of cap_highlights(img), written in one pass; img4 itself when nothing exceeds cap."""
    peak = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2])
    if not (peak > cap).any():
        return img4
    np.maximum(peak, np.float32(cap), out=peak)
    f = np.divide(np.float32(cap), peak, out=peak)
    out = np.empty_like(img4)
    np.multiply(img, f[..., None], out=out[..., :3])
    out[..., 3] = 1.0
    return out


def _frames(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """RGBA of the frame, of its highlight-capped copy, and the (rows, columns) where they differ."""
    img4 = _rgba(img)
    cap4 = _rgba_capped(img, img4)
    if cap4 is img4:
        return img4, cap4, None
    peak = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2])
    return img4, cap4, np.nonzero(peak > np.float32(FILL_CAP))


def render_numpy(img: np.ndarray, r: np.ndarray, plan: RenderPlan,
                 frame_box: tuple[int, int, int, int], threads: int | None = None) -> np.ndarray:
    """Render a frame (or a band of one) following `plan`; returns float32 H×W×3.

    Layers are prepared and blurred on a small thread pool (numpy and OpenCV release the GIL)
    and composited far to near, in order, on the calling thread.
    """
    H, W = r.shape
    u = layer_coord(r, plan)
    out = np.zeros((H, W, 4), np.float32)  # premultiplied RGB + accumulated alpha
    if threads is None:
        threads = THREADS if THREADS is not None else min(max(1, os.cpu_count() or 1), 4)
    n_threads = min(threads, len(plan.layers))

    def composite(L, blurred) -> None:
        y0, y1, x0, x1 = L.roi
        o = out[y0:y1, x0:x1]
        o *= (1.0 - blurred[..., 3])[..., None]
        o += blurred

    if n_threads <= 1:
        img4, cap4, highlights = _frames(img)
        matte = edge_matte(img, u, FILL_CAP) if EDGE_MATTE else None
        for L in plan.layers:
            composite(L, _blur_layer(L, img4, cap4, u, plan, frame_box, matte, highlights))
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            # the edge matte is analysed on a worker while this thread prepares the RGBA frames
            matte_job = pool.submit(edge_matte, img, u, FILL_CAP) if EDGE_MATTE else None
            img4, cap4, highlights = _frames(img)
            matte = matte_job.result() if matte_job is not None else None
            pending: deque = deque()
            for L in plan.layers:
                pending.append((L, pool.submit(_blur_layer, L, img4, cap4, u, plan, frame_box, matte, highlights)))
                if len(pending) > n_threads:  # bounded memory: at most n_threads + 1 layers in flight
                    L0, fut = pending.popleft()
                    composite(L0, fut.result())
            while pending:
                L0, fut = pending.popleft()
                composite(L0, fut.result())
    acc = out[..., 3]
    bad = acc <= 1e-4  # guard: no layer reached this pixel
    inv = np.reciprocal(np.maximum(acc, np.float32(1e-4)))
    res = out[..., :3] * inv[..., None]
    if bad.any():
        res[bad] = img[bad]
    return res

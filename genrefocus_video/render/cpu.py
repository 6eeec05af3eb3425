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
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .alloc import apply_memory_policy
from .blocks import BAND_ROWS, CapDelta, CapValues, _block_mean, _pad_to, block_mean_padded, downsample  # noqa: F401  (_block_mean, _pad_to: tests)
from .composite import STRIP_ROWS, composite, resolve, spread4, upsample, upsampled_strips  # noqa: F401  (upsample: the whole-layer form, tests)
from .convolve import convolve4
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
        n_s = capped.block_means(num, f) if isinstance(capped, CapValues) else block_mean_padded(capped, f)
        k_s = block_mean_padded(known, f)
        est = pull_push(n_s, k_s)
        hs, ws = k_s.shape
        # upsample only a crop of est around the hidden box; 2 low-res pixels of margin keep the
        # bilinear interpolation identical to upsampling the whole image
        c0, c1 = max(0, by0 // f - 2), min(hs, (by1 - 1) // f + 3)
        d0, d1 = max(0, bx0 // f - 2), min(ws, (bx1 - 1) // f + 3)
        strips = upsampled_strips(est[c0:c1, d0:d1], f, by0 - c0 * f, by1 - c0 * f, bx0 - d0 * f, bx1 - d0 * f)
        strips = ((y + c0 * f, up) for y, up in strips)
    else:
        if isinstance(capped, CapValues):
            capped = capped.dense(num)
        strips = upsampled_strips(pull_push_fill(capped, known), 1, by0, by1, bx0, bx1)  # views of the fill
    for y, up in strips:  # row strips: no box-sized copies of the fill or of 1 − known
        n = up.shape[0]
        np.multiply(up, spread4(np.subtract(np.float32(1.0), known[y:y + n, bx0:bx1])), out=up)
        num[y:y + n, bx0:bx1] += up
    return num


@dataclass
class FrameRGBA:
    """The frame as the layers read it (RGB; each layer makes its RGBA with alpha 1 strip by strip),
    and its highlight pixels.

    Highlights (brightest channel > FILL_CAP) are the only pixels where the colour that may be
    extended into hidden regions differs from the frame (cap_highlights): their capped RGBA is kept
    sparse (`hy`, `hx`, `hcap`) instead of a second full frame. No RGBA copy of the frame is kept
    (it would be 32 MiB at 1080p for the whole render).
    """

    rgb: np.ndarray  # H×W×3 float32, the input itself (not copied)
    hy: np.ndarray  # N int rows of the highlight pixels
    hx: np.ndarray  # N int columns
    hcap: np.ndarray  # N×4 float32 capped RGBA (alpha 1)


def frame_rgba(img: np.ndarray, cap: float = FILL_CAP) -> FrameRGBA:
    """`img` (H×W×3 float32) and the capped RGBA (alpha 1) of its highlight pixels (found STRIP_ROWS
    rows at a time, in row-major order as np.nonzero of the whole frame would list them)."""
    hy, hx, scale = [], [], []
    for a in range(0, img.shape[0], STRIP_ROWS):
        rows = img[a:a + STRIP_ROWS]
        peak = cv2.max(cv2.max(rows[..., 0], rows[..., 1]), rows[..., 2])
        y, x = np.nonzero(peak > np.float32(cap))
        hy.append(y + a)
        hx.append(x)
        scale.append(np.float32(cap) / peak[y, x])
    hy, hx = np.concatenate(hy), np.concatenate(hx)
    hcap = np.ones((hy.size, 4), np.float32)
    hcap[:, :3] = img[hy, hx]
    if hy.size:
        hcap[:, :3] *= np.concatenate(scale)[:, None]
    return FrameRGBA(img, hy, hx, hcap)


def weighted_rgba(rgb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(colour·w, w): the frame region `rgb` as RGBA with alpha 1 times the weight map `w`.

    Built STRIP_ROWS rows at a time in the result (the same products as RGBA × spread4(w) of the
    whole region, without its two region-sized temporaries).
    """
    h, wd = w.shape
    layer = np.empty((h, wd, 4), np.float32)
    for a in range(0, h, STRIP_ROWS):
        part = layer[a:a + STRIP_ROWS]
        cv2.cvtColor(rgb[a:a + STRIP_ROWS], cv2.COLOR_RGB2RGBA, dst=part)  # alpha = 1 for float input
        np.multiply(part, spread4(w[a:a + STRIP_ROWS]), out=part)
    return layer


def layer_planes(L, frame: FrameRGBA, u: np.ndarray, matte=None, roi=None, capped_always: bool = False):
    """A layer's premultiplied RGBA, its known fraction and the colour that may be extended (ROI, full res).

    Returns (layer, known, capped, need_fill). `capped` is `layer` itself when nothing is hidden or
    no highlight lies in the region (the capped frame equals the frame there, bit for bit); for a
    layer rendered at reduced scale it is a :class:`CapDelta` (downsample applies it to the block
    means, so no full-resolution copy is made); otherwise :class:`CapValues` (the capped values at
    the highlight pixels; the fill takes its block means band by band).
    `roi` (default L.roi) restricts it to a band of the region; `capped_always` makes the capped
    colour even where this part of it hides nothing (another band of the layer may).
    """
    y0, y1, x0, x1 = L.roi if roi is None else roi
    d = u[y0:y1, x0:x1] - np.float32(L.index)
    w = np.abs(d)
    np.subtract(np.float32(1.0), w, out=w)
    np.maximum(w, np.float32(0.0), out=w)  # tent weight of this layer
    known = np.subtract(np.float32(1.0), d, out=d)
    np.clip(known, 0.0, 1.0, out=known)  # fraction of the pixel at or behind this layer
    layer = weighted_rgba(frame.rgb[y0:y1, x0:x1], w)
    patch = matte.layer_patch(L.index, (y0, y1, x0, x1)) if matte is not None else None
    if patch is not None:  # edge pixels split into a foreground and a background part (render/matte.py)
        known[patch.py, patch.px] = patch.known
        layer[patch.py, patch.px] = patch.rgba
    need_fill = bool(known.min() < 1.0)
    sel = np.empty(0, np.int64) if not (need_fill or capped_always) else np.flatnonzero(
        (frame.hy >= y0) & (frame.hy < y1) & (frame.hx >= x0) & (frame.hx < x1))
    if not sel.size:
        return layer, known, layer, need_fill
    py, px = frame.hy[sel] - y0, frame.hx[sel] - x0
    vals = frame.hcap[sel] * w[py, px][:, None]
    if patch is not None:  # split pixels take their own capped parts (equal to rgba where not a highlight)
        split = np.zeros(known.shape, bool)
        split[patch.py, patch.px] = True
        mine = ~split[py, px]
        py = np.concatenate([py[mine], patch.py])
        px = np.concatenate([px[mine], patch.px])
        vals = np.concatenate([vals[mine], patch.rgba_capped])
    if L.scale > 1:
        return layer, known, CapDelta(py, px, vals - layer[py, px]), need_fill
    return layer, known, CapValues(py, px, vals), need_fill


def blur(layer: np.ndarray, L, plan: RenderPlan, frame_box) -> np.ndarray:
    """The layer correlated with its aperture kernel(s) at the working scale (cat's-eye zones summed)."""
    if plan.zones is None:
        return convolve4(layer, L.kernels[0][1])
    blurred = np.zeros_like(layer)
    for ks, wz in zone_maps(plan, L, layer.shape[:2], frame_box):
        blurred += convolve4(layer * wz[..., None], ks)
    return blurred


def reduced_planes(L, frame: FrameRGBA, u: np.ndarray, matte=None):
    """(layer, known, capped, need_fill) of a layer at its working scale L.scale > 1, built band by band.

    Each band of rows (a multiple of s, so no block straddles two bands) is made at full resolution
    and reduced at once: the region is never held at full resolution. Block means depend on their
    block only and the highlight changes are added per block in the same order, so the result is
    that of :func:`layer_planes` then :func:`downsample` on the whole region, bit for bit.
    """
    s = L.scale
    y0, y1, x0, x1 = L.roi
    hs, ws = -(-(y1 - y0) // s), -(-(x1 - x0) // s)
    layer_s = np.empty((hs, ws, 4), np.float32)
    known_s = np.empty((hs, ws), np.float32)
    capped_s = None
    need_fill = False
    step = s * max(1, BAND_ROWS // s)
    for a in range(y0, y1, step):
        b = min(y1, a + step)
        lb, kb, cb, nf = layer_planes(L, frame, u, matte, (a, b, x0, x1), capped_always=True)
        lb_s, kb_s, cb_s = downsample(lb, kb, cb, s)
        rows = slice((a - y0) // s, (a - y0) // s + lb_s.shape[0])
        layer_s[rows], known_s[rows] = lb_s, kb_s
        need_fill |= nf
        if cb_s is not lb_s and capped_s is None:
            capped_s = layer_s.copy()  # the bands so far have no highlight: equal to the layer there
        if capped_s is not None:
            capped_s[rows] = cb_s
    return layer_s, known_s, (layer_s if capped_s is None else capped_s), need_fill


def _blur_layer(L, frame: FrameRGBA, u, plan: RenderPlan, frame_box, matte=None):
    """One layer: premultiplied RGBA at its working scale, extended behind occluders, blurred.

    Returns (blurred at the working scale, the region's full-resolution shape): the layer stays at
    its working scale until :func:`composite` upsamples it strip by strip into the frame.
    """
    y0, y1, x0, x1 = L.roi
    shape = (y1 - y0, x1 - x0)
    if L.scale > 1:
        layer, known, capped, need_fill = reduced_planes(L, frame, u, matte)
    else:
        layer, known, capped, need_fill = layer_planes(L, frame, u, matte)
    if need_fill:
        layer = extend_layer(layer, known, capped, max(1, FILL_SCALE // L.scale))
    del known, capped  # not held through the blur
    return blur(layer, L, plan, frame_box), shape


def default_threads() -> int:
    """Layer threads when the plan leaves it open: min(cores, 4)."""
    return min(max(1, os.cpu_count() or 1), 4)


def render_numpy(img: np.ndarray, r: np.ndarray, plan: RenderPlan,
                 frame_box: tuple[int, int, int, int], threads: int | None = None) -> np.ndarray:
    """Render a frame (or a band of one) following `plan`; returns float32 H×W×3.

    Layers are prepared and blurred on a small thread pool (numpy and OpenCV release the GIL)
    and composited far to near, in order, on the calling thread. `threads` (else the plan's
    `threads`, else min(cores, 4)) and the plan's `edge_matte` are the only switches.
    """
    apply_memory_policy()  # frame-sized temporaries reuse heap pages instead of faulting in fresh ones
    H, W = r.shape
    u = layer_coord(r, plan)
    out = np.zeros((H, W, 4), np.float32)  # premultiplied RGB + accumulated alpha
    if threads is None:
        threads = plan.threads if plan.threads is not None else default_threads()
    n_threads = min(threads, len(plan.layers))
    if n_threads <= 1:
        frame = frame_rgba(img)
        matte = edge_matte(img, u, FILL_CAP) if plan.edge_matte else None
        for L in plan.layers:
            composite(out, L, *_blur_layer(L, frame, u, plan, frame_box, matte))
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            # the RGBA frame is prepared on a worker while the edge matte is analysed in bands
            frame_job = pool.submit(frame_rgba, img)
            matte = edge_matte(img, u, FILL_CAP, pool=pool, bands=n_threads) if plan.edge_matte else None
            frame = frame_job.result()
            pending: deque = deque()
            for L in plan.layers:
                pending.append((L, pool.submit(_blur_layer, L, frame, u, plan, frame_box, matte)))
                if len(pending) > n_threads:  # bounded memory: at most n_threads + 1 layers in flight
                    L0, fut = pending.popleft()
                    composite(out, L0, *fut.result())
            while pending:
                L0, fut = pending.popleft()
                composite(out, L0, *fut.result())
            return resolve(out, img, pool)
    return resolve(out, img)

"""Edge selection: put a displaced depth edge back where the history and the frame's colour say.

Per-frame estimators misplace depth edges by a few pixels, differently every frame (a learned
estimator's low-resolution head: near surfaces grow or shrink). Averaging over time cannot fix
that: a blend of a near and a far disparity is a depth no surface has and renders a wrong blur
radius (a perfect motion-compensated average cost 1.7-3.2 dB on lfbench). What can is
*selection*: near a depth discontinuity each pixel takes one of the surfaces' values, never a mix.

Per frame, against the smoother's prediction P (the previous result warped along the flow):

1. Band: pixels whose (2 radius + 1)^2 neighbourhood spans a log-disparity step > `jump` in the
   observation O or in P, where O and P differ by more than half a step. Each is labelled near or
   far against the middle of the step (the geometric mean of the joint neighbourhood max and min),
   in O and in P, after O's smooth offset to P (a scale jump, a low-frequency field, motion in
   depth; measured outside the band) is taken out. Disputed: the labels differ. At any offset: a
   learned estimator's displaced edges come with its other errors (until 2026-12-06 nothing was
   done beyond 5 %, and such edges stayed displaced: docs/benchmarks/temporal.md).
2. Growth, not shift: an estimator's displaced edge makes the near surface grow (or shrink) on
   all of its sides at once; the flow's misregistration of P (a twig given the background's
   motion, a subject a pixel ahead) moves it, growing one side and shrinking the other. Only
   disputes of the kind that dominates their neighbourhood (Gaussian, `imb_sigma` px: share of
   growth minus share of shrinkage beyond `imbalance`), and numerous there (at least `support` of
   the window: a few chance disputes are a pole's soft fringe or a clipped light, where colour
   misleads) stay disputed. Exact depth has next to no disputes, and those balanced: it is left
   alone.
3. Colour: a disputed pixel p takes P's surface only if its colour is more typical of P's pixels
   of that label (kernel density in a (2 window + 1)^2 window, normalised by the label's pixel
   count) than of the pixels where O and P agree on O's label (`ratio`). The RGB is exact; only
   the depth is off. A subject that really moves in depth keeps its observed edge where its own
   colour vouches for it.

4. Range: the history also holds what a gross outlier frame (an estimator's blunder: aligned,
   blended, decaying) put there. Selecting it back frame after frame keeps it alive, and a few
   thousand pixels at a depth no recent observation had widen the renderer's layer plan (e2e720:
   +37 layers over 10 frames, the renderer 1.09x; docs/benchmarks/temporal.md). So a proposed
   surface is clipped to the disparity range the recent observations (not outliers) showed
   (`limits`, kept by the smoother): a thin surface an estimator loses on some frames (a fence
   post eroded away) was observed on others and stays within it.

Values are only ever copied, never mixed: O's, or P's (at this frame's level: times O's smooth
offset). Cost: four morphological passes and a few element-wise ones on the full
frame, the offset and the one-sidedness on the analysis grid, the colour evidence only at the
disputed pixels (benchmarks/temporal_edge_select_speed.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .temporal_analysis import analysis_factor, down, masked_blur


@dataclass
class EdgeSelectInfo:
    disputed: int  # band pixels where observation and prediction name different surfaces (after 2.)
    switched: int  # of those, pixels given the prediction's surface


_FLOOR = np.float32(1e-6)  # disparity floor (log of 0)
RANGE_FRAMES = 8  # frames of observations whose disparity range bounds the proposals (4. of the module doc)


def colour_guide(rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray, pad: int) -> tuple[np.ndarray, int, int]:
    """Display-referred colour (square root of linear RGB clipped to 0..1: highlights clip as the
    eye and an estimator see them) of the box around the pixels (ys, xs), `pad` px wider; and the
    box's origin (y0, x0). Only that box is converted."""
    h, w = rgb.shape[:2]
    y0, x0 = max(int(ys.min()) - pad, 0), max(int(xs.min()) - pad, 0)
    y1, x1 = min(int(ys.max()) + pad + 1, h), min(int(xs.max()) + pad + 1, w)
    box = np.clip(np.asarray(rgb[y0:y1, x0:x1], np.float32), 0.0, 1.0)
    if box.ndim == 2:
        box = box[..., None]
    return np.sqrt(box), y0, x0


def _candidates(d_obs: np.ndarray, d_pred: np.ndarray, radius: int, jump: float
                ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(the band: pixels whose neighbourhood spans a step > jump in O or in P; flat indices of its
    pixels where O and P differ by more than half a step (two surfaces); [O's neighbourhood max,
    min, P's max, min] at those). Log is monotonic: a log step is a ratio."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    ext = [cv2.dilate(d_obs, k), cv2.erode(d_obs, k), cv2.dilate(d_pred, k), cv2.erode(d_pred, k)]
    step, half = np.float32(np.exp(jump)), np.float32(np.exp(0.5 * jump))
    band = (ext[0] > step * ext[1]) | (ext[2] > step * ext[3])
    idx = np.flatnonzero(band & ((d_obs > half * d_pred) | (d_pred > half * d_obs)))
    return band, idx, [e.ravel()[idx] for e in ext]


def _offset_grid(d_obs: np.ndarray, d_pred: np.ndarray, band: np.ndarray, f: int, sigma: float) -> np.ndarray:
    """O's smooth log offset to P on the analysis grid (factor f), measured outside the band (a
    global scale jump, a low-frequency field, motion in depth)."""
    calm = down((~band).astype(np.float32), f)
    ratio = np.log(down(d_obs, f) / down(d_pred, f))
    return masked_blur(np.clip(ratio, -1.0, 1.0).astype(np.float32), calm, max(sigma / f, 0.5))


def _on_grid(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray, f: int) -> np.ndarray:
    """A smooth analysis-grid map at full-size pixels (nearest grid cell)."""
    return grid[np.minimum(ys // f, grid.shape[0] - 1), np.minimum(xs // f, grid.shape[1] - 1)]


def _one_sided(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, grows: np.ndarray, f: int,
               sigma: float, imbalance: float, support: float = 0.0) -> np.ndarray:
    """2. of the module doc: which disputes (at ys, xs; `grows`: O's near surface is the larger
    there) are of the kind that dominates their neighbourhood (Gaussian sigma px)."""
    g = np.zeros(shape, np.float32)
    g[ys[grows], xs[grows]] = 1.0
    sh = np.zeros(shape, np.float32)
    sh[ys[~grows], xs[~grows]] = 1.0
    s = max(sigma / f, 0.5)
    g_a = cv2.GaussianBlur(down(g, f), (0, 0), s)
    s_a = cv2.GaussianBlur(down(sh, f), (0, 0), s)
    both = g_a + s_a
    imb = _on_grid((g_a - s_a) / np.maximum(both, 1e-6), ys, xs, f)
    return np.where(grows, imb > imbalance, imb < -imbalance) & (_on_grid(both, ys, xs, f) >= support)


def discontinuities(d_obs: np.ndarray, d_pred: np.ndarray, radius: int = 4, jump: float = 0.1) -> np.ndarray:
    """Pixels within `radius` px of a log-disparity step > `jump` in either map: where displaced
    edges (and the flow's misses at them) make per-pixel ratios that say nothing about a scale."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    step = np.float32(np.exp(jump))
    d_obs, d_pred = np.maximum(d_obs, _FLOOR), np.maximum(d_pred, _FLOOR)
    return (cv2.dilate(d_obs, k) > step * cv2.erode(d_obs, k)) | (cv2.dilate(d_pred, k) > step * cv2.erode(d_pred, k))


def _densities(guide: np.ndarray, d_obs: np.ndarray, d_pred: np.ndarray, ys: np.ndarray, xs: np.ndarray,
               scale: np.ndarray, sq_mid: np.ndarray, p_near: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """3. of the module doc at the disputed pixels (ys, xs: in the box `guide` covers, which the
    depth maps are cropped to as well). Each window pixel q (p excluded; clamped at the box's
    border) is labelled against p's own middle (sq_mid: its square) with O's offset (scale) taken
    out. Rows: summed colour kernel and count of P's pixels of P's label (the proposal), then of
    the pixels where O and P both say O's label (the observation's surface)."""
    h, w = guide.shape[:2]
    chans = [np.ascontiguousarray(guide[..., i]).ravel() for i in range(guide.shape[2])]
    o_flat, p_flat = d_obs.ravel(), d_pred.ravel()
    base = ys * w + xs
    ip = [ch[base] for ch in chans]
    o_near = ~p_near  # O's label at p
    acc = np.zeros((4, ys.size), np.float32)
    inv = np.float32(-0.5 / (sigma * sigma))
    cols = [np.clip(xs + dx, 0, w - 1) for dx in range(-radius, radius + 1)]  # clamped once, not per offset
    for dy in range(-radius, radius + 1):
        qy = np.clip(ys + dy, 0, h - 1) * w
        for dx, qx in zip(range(-radius, radius + 1), cols):
            if dx == 0 and dy == 0:
                continue
            idx = qy + qx
            dist = np.zeros(ys.size, np.float32)
            for ch, v in zip(chans, ip):
                e = ch[idx] - v
                dist += e * e
            kern = np.exp(inv * dist)
            qo = o_flat[idx] * scale
            qp = p_flat[idx]
            q_p_near = qp * qp > sq_mid
            in_prop = q_p_near == p_near
            in_obs = ~in_prop & ((qo * qo > sq_mid) == o_near)  # P says O's label there: not P's
            acc[0] += kern * in_prop
            acc[1] += in_prop
            acc[2] += kern * in_obs
            acc[3] += in_obs
    return acc


def select_edges(rgb: np.ndarray, d_obs: np.ndarray, d_pred: np.ndarray, radius: int = 4, jump: float = 0.3,
                 imbalance: float = 0.75, imb_sigma: float = 16.0, window: int = 5, colour_sigma: float = 0.06,
                 ratio: float = 1.2, min_count: int = 3,
                 support: float = 0.03, limits: Optional[tuple[float, float]] = None
                 ) -> tuple[np.ndarray, EdgeSelectInfo]:
    """The observed disparity d_obs with its disputed edge pixels given the prediction d_pred's
    surface where the evidence is clear (module doc). radius: px, the band's half-width (the
    largest edge displacement corrected); jump: log-disparity step that counts as a
    discontinuity (0.3: smaller steps are within an estimator's local noise, where labels flip by
    chance; 0.1 until 2026-12-06 switched up to 1 % of a noisy frame's pixels, half wrongly);
    imbalance, imb_sigma: how one-sided (share) the disputes must be around p, over what scale
    (px); window: px, the colour evidence's half-width; colour_sigma: display-referred colour
    difference within one surface; ratio: how much more typical of the prediction's surface p
    must be; min_count: fewest pixels a surface needs in the window to count as evidence; support:
    the least share of the one-sidedness window that must be disputed; limits: (lo, hi)
    disparity, the range of the recent observations: a surface the history proposes is clipped
    to it (4. of the module doc). d_obs comes back as given (float32) where nothing is switched."""
    given = np.asarray(d_obs, np.float32)
    d_obs = np.maximum(given, _FLOOR)
    d_pred = np.maximum(np.asarray(d_pred, np.float32), _FLOOR)
    h, w = d_obs.shape
    band, idx, (hi_o, lo_o, hi_p, lo_p) = _candidates(d_obs, d_pred, radius, jump)
    info = EdgeSelectInfo(0, 0)
    if idx.size == 0:
        return given, info
    f = analysis_factor(d_obs.shape)
    ys, xs = np.divmod(idx, w)
    off = _on_grid(_offset_grid(d_obs, d_pred, band, f, imb_sigma), ys, xs, f)
    scale = np.exp(-off).astype(np.float32)
    sq_mid = np.maximum(hi_o * scale, hi_p) * np.minimum(lo_o * scale, lo_p)  # the middle's square
    o_val, p_val = d_obs.ravel()[idx] * scale, d_pred.ravel()[idx]
    o_near, p_near = o_val * o_val > sq_mid, p_val * p_val > sq_mid
    keep = o_near != p_near
    ys, xs, scale, sq_mid, p_near, o_near = ys[keep], xs[keep], scale[keep], sq_mid[keep], p_near[keep], o_near[keep]
    if ys.size:
        keep = _one_sided((h, w), ys, xs, o_near, f, imb_sigma, imbalance, support)
        ys, xs, scale, sq_mid, p_near = ys[keep], xs[keep], scale[keep], sq_mid[keep], p_near[keep]
    info.disputed = int(ys.size)
    if ys.size == 0:
        return given, info
    guide, y0, x0 = colour_guide(rgb, ys, xs, window)
    box = np.s_[y0:y0 + guide.shape[0], x0:x0 + guide.shape[1]]
    acc = _densities(guide, d_obs[box], d_pred[box], ys - y0, xs - x0, scale, sq_mid, p_near, window,
                     colour_sigma)
    dn_prop, dn_obs = acc[0] / np.maximum(acc[1], 1.0), acc[2] / np.maximum(acc[3], 1.0)
    take = (acc[1] >= min_count) & (acc[3] >= min_count) & (dn_prop > ratio * dn_obs + 1e-3)
    out = given.copy()
    ys, xs = ys[take], xs[take]
    val = d_pred[ys, xs] / scale[take]  # P's surface at this frame's level
    out[ys, xs] = val if limits is None else np.clip(val, limits[0], limits[1])
    info.switched = int(ys.size)
    return out, info

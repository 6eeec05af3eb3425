"""Soft layer membership at depth discontinuities (an edge matte), shared by both backends.

A depth map gives each pixel one disparity while its colour is anti-aliased: an edge pixel mixes
foreground colour F and background colour B with coverage α, but goes wholly to one depth layer.
As an edge moves by sub-pixel amounts its pixels flip between the layers, which makes the render
flicker even with perfect depth (docs/benchmarks/renderer.md). Here every pixel next to a depth
jump (its 3×3 neighbourhood spans more than `EDGE_JUMP` layers) that the depth map puts on the
*far* side of the jump is split between its own depth and the nearest depth of its 3×3
neighbourhood:

* F and B are the mean colours of the "pure" (not next to a jump) pixels of each side in its 5×5
  neighbourhood (the sides split at the midpoint of the 3×3 layer range);
* α = projection of the pixel's colour C onto the segment B→F, clipped to [0, ½] (the depth map
  labels a pixel foreground when most of it is: lfbench's convention), and trusted only as far
  as two flat colours explain the pixel: confidence |F−B|²/(|F−B|² + τ²) times the gate
  1 − γ·(var_F + var_B + |residual|²)/|F−B|² (clipped); the rest of the weight goes to the label
  (α = 0), so textured or ambiguous edges are left as they were;
* the colour is unmixed: the foreground part gets α·(F + e), the background part
  (1 − α)·(B + e), e = C − αF − (1 − α)B the model's residual (premultiplied; they sum to C).

Pixels labelled foreground are never split: an in-focus subject in front stays exactly sharp
(tests/test_render_temporal.py), and the partial coverage of the anti-aliased rim is carried by
the background-labelled pixels around it, whose α now grows continuously as the edge approaches
(the flip at α = ½ remains, halved). Measured and not kept (docs/benchmarks/renderer.md): also
splitting foreground-labelled pixels (a little better on lfbench, but it blurs part of a textured
in-focus subject's rim), clamping α to the label's side of ½, and splitting the colour as αC and
(1 − α)C instead of unmixing it.

Only the split pixels are returned (sparse): the backends build every layer as before and then
overwrite those pixels with fg4·tent(uf − i) + bg4·tent(ub − i) (and the known fraction with
α·clip(1 − (uf − i)) + (1 − α)·clip(1 − (ub − i))).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

import cv2
import numpy as np

EDGE_JUMP = 1.0  # layers: a 3×3 neighbourhood spanning more than this is a depth edge
COLOR_TAU2 = 3 * 0.02 ** 2  # |F − B|² (linear RGB) at which the colour estimate gets weight 1/2
DET_R = 1  # px: neighbourhood radius of the jump test (3×3)
COL_R = 2  # px: neighbourhood radius of the colour means (5×5)
VAR_GAMMA = 0.5  # colour-trust gate: 1 − γ·(side variances + residual²)/|F − B|²


@dataclass
class EdgeMatte:
    """The split pixels only (N of them); every other pixel renders as before."""

    ys: np.ndarray  # N int row
    xs: np.ndarray  # N int column
    uf: np.ndarray  # N float32 layer coordinate of the foreground part
    ub: np.ndarray  # N float32 layer coordinate of the background part
    alpha: np.ndarray  # N float32 foreground coverage
    fg4: np.ndarray  # N×4 float32 premultiplied RGBA of the foreground part (colour, α)
    bg4: np.ndarray  # N×4 float32 premultiplied RGBA of the background part (colour, 1 − α)
    fg4c: np.ndarray  # the same from the highlight-capped frame
    bg4c: np.ndarray

    @property
    def whole(self) -> np.ndarray:
        """N bool: α + (1 − α) is exactly 1 in float32 (a layer behind both parts sees known 1)."""
        w = getattr(self, "_whole", None)
        if w is None or w.shape != self.alpha.shape:
            a = self.alpha
            w = self._whole = (a + (np.float32(1.0) - a)) == np.float32(1.0)
        return w

    def select(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Indices of the split pixels inside rows y0:y1, columns x0:x1."""
        return np.flatnonzero((self.ys >= y0) & (self.ys < y1) & (self.xs >= x0) & (self.xs < x1))

    def layer_patch(self, index: float, roi: tuple[int, int, int, int]) -> Optional["LayerPatch"]:
        """What layer `index` receives at the split pixels inside `roi` (None if there are none).

        Each part goes to its two nearest layers with the same tent weights as an ordinary pixel,
        and the known fraction (at or behind the layer) is the coverage-weighted sum of both parts.
        """
        y0, y1, x0, x1 = roi
        one, zero = np.float32(1.0), np.float32(0.0)
        i = np.float32(index)
        # a split pixel the layer cannot tell from an ordinary one is left out (the layer's own
        # values there are the same, bit for bit): both parts nearer (weight 0, known 0: ub ≥ i + 1,
        # as uf ≥ ub) or both farther with a known sum of exactly 1 (weight 0, known 1)
        touches = (self.ub - i < one) & ((self.uf - i > -one) | ~self.whole)
        sel = np.flatnonzero(touches & (self.ys >= y0) & (self.ys < y1) & (self.xs >= x0) & (self.xs < x1))
        if not sel.size:
            return None
        a = self.alpha[sel]
        df = self.uf[sel] - np.float32(index)
        db = self.ub[sel] - np.float32(index)
        wf = np.maximum(one - np.abs(df), zero)[:, None]
        wb = np.maximum(one - np.abs(db), zero)[:, None]
        known = a * np.clip(one - df, 0.0, 1.0) + (one - a) * np.clip(one - db, 0.0, 1.0)
        return LayerPatch(self.ys[sel] - y0, self.xs[sel] - x0, known,
                          self.fg4[sel] * wf + self.bg4[sel] * wb,
                          self.fg4c[sel] * wf + self.bg4c[sel] * wb)


@dataclass
class LayerPatch:
    """Values one layer takes at the split pixels of its region (rows/columns relative to it)."""

    py: np.ndarray  # N int
    px: np.ndarray  # N int
    known: np.ndarray  # N float32 fraction of the pixel at or behind the layer
    rgba: np.ndarray  # N×4 float32 premultiplied RGBA
    rgba_capped: np.ndarray  # the same from the highlight-capped frame


BAND_HALO = 2 * DET_R + COL_R + 1  # rows: a band's analysis is exact this far inside its slab
BAND_MIN_ROWS = 64  # frames shorter than 2 bands of this are analysed in one piece
BAND_MAX_ROWS = 128  # bands are at most this tall: the analysis' frame-sized maps become band-sized


def edge_matte(img: np.ndarray, u: np.ndarray, cap: float = 1.0, jump: Optional[float] = None,
               pool: Any = None, bands: int = 2) -> Optional[EdgeMatte]:
    """The edge matte of frame `img` (H×W×3 float32) for layer coordinates `u`; None if nothing is split.

    The frame is analysed in row bands of at most BAND_MAX_ROWS rows (at least `bands` of them with
    a thread `pool`: the calling thread takes the first, the pool the rest). Each band is analysed
    on a slab BAND_HALO rows taller on both sides, which every 3×3 and 5×5 neighbourhood of its own
    rows stays inside, so the result is the whole-frame analysis exactly (same pixels, same order,
    same values), while the analysis' dilated, eroded and mask maps are only band-sized.
    """
    H = u.shape[0]
    n = max(bands if pool is not None else 1, -(-H // BAND_MAX_ROWS))
    if n < 2 or H < 2 * BAND_MIN_ROWS:
        return _edge_matte_rows(img, u, cap, jump, 0, H)
    n = min(n, H // BAND_MIN_ROWS)
    cuts = [H * b // n for b in range(n + 1)]
    if pool is None:
        parts = [_edge_matte_rows(img, u, cap, jump, cuts[b], cuts[b + 1]) for b in range(n)]
    else:
        jobs = [pool.submit(_edge_matte_rows, img, u, cap, jump, cuts[b], cuts[b + 1]) for b in range(1, n)]
        parts = [_edge_matte_rows(img, u, cap, jump, cuts[0], cuts[1])] + [j.result() for j in jobs]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return EdgeMatte(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(EdgeMatte)))


def _edge_matte_rows(img, u, cap, jump, y0: int, y1: int) -> Optional[EdgeMatte]:
    """The split pixels of rows y0:y1 (frame coordinates), analysed on a slab with a halo."""
    a0, a1 = max(0, y0 - BAND_HALO), min(u.shape[0], y1 + BAND_HALO)
    m = _edge_matte(img[a0:a1], u[a0:a1], cap, jump)
    if m is None or (a0 == 0 and a1 == u.shape[0]):
        return m
    keep = (m.ys >= y0 - a0) & (m.ys < y1 - a0)
    if not keep.any():
        return None
    out = EdgeMatte(*(getattr(m, f.name)[keep] for f in fields(EdgeMatte)))
    out.ys = out.ys + a0
    return out


def _edge_matte(img: np.ndarray, u: np.ndarray, cap: float, jump: Optional[float]) -> Optional[EdgeMatte]:
    """The analysis itself, on a whole frame or a slab of one."""
    jump = EDGE_JUMP if jump is None else jump
    H, W = u.shape
    k3 = np.ones((2 * DET_R + 1, 2 * DET_R + 1), np.uint8)
    umax = cv2.dilate(u, k3, borderType=cv2.BORDER_REPLICATE)
    umin = cv2.erode(u, k3, borderType=cv2.BORDER_REPLICATE)
    edge = (umax - umin) > jump
    if not edge.any():
        return None
    ys, xs = np.nonzero(edge & (u < 0.5 * (umax + umin)))  # only far-side pixels are split: analyse just those
    if ys.size == 0:
        return None
    uc = u[ys, xs]
    hi, lo = umax[ys, xs], umin[ys, xs]
    mid = 0.5 * (hi + lo)
    off = np.arange(-COL_R, COL_R + 1)
    nn = len(off) ** 2
    Y = np.clip(ys[:, None, None] + off[None, :, None], 0, H - 1)
    X = np.clip(xs[:, None, None] + off[None, None, :], 0, W - 1)
    flat = (Y * W + X).reshape(len(ys), nn)  # one flat index per neighbour: 1-D takes are the cheapest gathers
    un = u.reshape(-1)[flat]
    cn = img.reshape(-1, 3)[flat]
    pure = ~edge.reshape(-1)[flat]
    fgm = un >= mid[:, None]
    bgm = ~fgm

    def side_stats(m):
        mp = m & pure
        use = np.where(mp.any(1, keepdims=True), mp, m).astype(np.float32)
        cnt = np.maximum(use.sum(1), 1.0)[:, None]
        mean = np.einsum("nkc,nk->nc", cn, use) / cnt
        var = np.einsum("nkc,nk->n", (cn - mean[:, None]) ** 2, use) / cnt[:, 0]
        return mean.astype(np.float64), var.astype(np.float64)

    (F, vF), (B, vB) = side_stats(fgm), side_stats(bgm)
    C = img[ys, xs].astype(np.float64)
    d = F - B
    dd = (d * d).sum(1)
    a_col = np.clip(((C - B) * d).sum(1) / np.maximum(dd, 1e-12), 0.0, 1.0)
    res2 = ((C - (a_col[:, None] * F + (1.0 - a_col)[:, None] * B)) ** 2).sum(1)
    # trust the colour only where two flat-ish colours explain the pixel: textured sides or a pixel
    # off the segment B→F (texture, a third colour) fall back to the depth map's label
    gate = np.clip(1.0 - VAR_GAMMA * (vF + vB + res2) / np.maximum(dd, 1e-12), 0.0, 1.0)
    conf = dd / (dd + COLOR_TAU2) * gate
    # background-labelled pixels only (foreground ones stay whole): the coverage is at most ½
    a = np.minimum(conf * a_col, 0.5)
    keep = a > 0.0  # a pixel wholly on its labelled side renders exactly as without the matte: leave it out
    if not keep.any():
        return None
    ys, xs, uc, hi, a = ys[keep], xs[keep], uc[keep], hi[keep], a[keep]
    F, B, C = F[keep], B[keep], C[keep]
    uf, ub = hi.astype(np.float32), uc.astype(np.float32)  # the near side's depth, the pixel's own
    res = C - (a[:, None] * F + (1.0 - a)[:, None] * B)  # what the two-colour model misses
    pf = np.maximum(a[:, None] * (F + res), 0.0)
    pb = np.maximum((1.0 - a)[:, None] * (B + res), 0.0)
    n = len(ys)
    fg4 = np.empty((n, 4), np.float32)
    fg4[:, :3] = pf
    fg4[:, 3] = a
    bg4 = np.empty((n, 4), np.float32)
    bg4[:, :3] = pb
    bg4[:, 3] = 1.0 - a
    peak = img[ys, xs].max(1)
    f = (np.float32(cap) / np.maximum(peak, np.float32(cap))).astype(np.float32)
    fg4c, bg4c = fg4.copy(), bg4.copy()
    fg4c[:, :3] *= f[:, None]
    bg4c[:, :3] *= f[:, None]
    return EdgeMatte(ys.astype(np.int64), xs.astype(np.int64), uf, ub, a.astype(np.float32), fg4, bg4, fg4c, bg4c)

"""Reduced-resolution analysis for the temporal depth smoother (depth/temporal.py).

The smoother's analysis is smooth by nature: the low band of the innovation (a ~2 %-of-the-frame
low-pass), the looming field (a smoothed flow divergence) and the per-pixel noise levels. At 720p
they cost ~0.4 s per frame at full resolution (two domain-transform passes, Gaussian blurs of
sigma 25 px); computed on a grid whose larger side is ~`ANALYSIS_SIDE` px and upsampled, they cost
a few ms. The per-pixel blend itself stays at full resolution. Also here: the edge search
(`edge_snap`), which looks up the previous map's neighbours only where prediction and observation
disagree.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .temporal_stats import sample


ANALYSIS_SIDE = 384  # px: the analysis grid's larger side (at most; small frames keep theirs)


def analysis_factor(shape: tuple[int, ...], side: int = ANALYSIS_SIDE) -> int:
    """Integer downsampling factor of the analysis grid for a frame of `shape` (1 = full size)."""
    return max(1, int(round(max(shape[:2]) / float(side))))


def down(x: np.ndarray, f: int) -> np.ndarray:
    """Area average by `f` (the grid keeps ceil(size / f) samples; f = 1: x itself)."""
    if f == 1:
        return x
    h, w = x.shape[:2]
    return cv2.resize(x, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA)


def up(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear back to `shape` (h, w); a no-op when x already has it."""
    if x.shape[:2] == tuple(shape[:2]):
        return x
    return cv2.resize(x, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def down_flow(flow: np.ndarray, f: int) -> np.ndarray:
    """Flow on the analysis grid, in that grid's pixels."""
    return flow if f == 1 else down(flow, f) / np.float32(f)


def masked_blur(x: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    """m-weighted Gaussian low-pass (normalised convolution)."""
    num = cv2.GaussianBlur(x * m, (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


def masked_edge_aware_blur(x: np.ndarray, m: np.ndarray, guide: np.ndarray, sigma: float,
                           sigma_guide: float) -> np.ndarray:
    """m-weighted low-pass of x that does not cross edges of `guide` (log-disparity): the domain
    transform filter (Gastal & Oliveira 2011, normalised convolution) applied to x*m and m. A
    plain Gaussian low band carries a change of the background (e.g. an estimator's shift of the
    far disparities) into the foreground beside it, which then flickers."""
    g = guide.astype(np.float32)
    num = cv2.ximgproc.dtFilter(g, (x * m).astype(np.float32), sigma, sigma_guide, cv2.ximgproc.DTF_NC)
    den = cv2.ximgproc.dtFilter(g, m.astype(np.float32), sigma, sigma_guide, cv2.ximgproc.DTF_NC)
    return num / np.maximum(den, 1e-3)


def looming_log_scale(flow_to_prev: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    """log of the local image expansion s from frame t-1 to t, from the flow's divergence.

    An object whose image scales by s about a centre c has flow t -> t-1 f(p) = (p - c)(1/s - 1),
    so div f = 2 (1/s - 1) and s = 1 / (1 + div f / 2). Image scale is inversely proportional to
    distance, so its disparity scales by the same s ("looming"): the prediction carries it, and a
    subject moving in depth is followed without lag. Smoothed (masked Gaussian) and clipped to
    +-0.3 (a 35% change per frame) against divergence spikes at occlusion boundaries. The
    divergence is scale-free, so it may be computed on the analysis grid (flow in its pixels).
    """
    fx = cv2.GaussianBlur(np.ascontiguousarray(flow_to_prev[..., 0]), (0, 0), 1.5)
    fy = cv2.GaussianBlur(np.ascontiguousarray(flow_to_prev[..., 1]), (0, 0), 1.5)
    div = cv2.Sobel(fx, cv2.CV_32F, 1, 0, ksize=3) / 8.0 + cv2.Sobel(fy, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    log_s = -np.log(np.maximum(1.0 + 0.5 * div, 0.5))
    return np.clip(masked_blur(log_s.astype(np.float32), m, sigma), -0.3, 0.3)



class FlowSampler:
    """Backward warps of several maps along one flow, the sampling grid built once per frame size
    (flow.warp builds it on every call: ~10 ms per warp at 720p)."""

    def __init__(self) -> None:
        self._shape: tuple[int, int] = (0, 0)
        self._xs = self._ys = np.zeros((0, 0), np.float32)

    def maps(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) sample positions p + flow(p), for cv2.remap."""
        h, w = flow.shape[:2]
        if self._shape != (h, w):
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            self._shape, self._xs, self._ys = (h, w), xs, ys
        return self._xs + flow[..., 0], self._ys + flow[..., 1]

    @staticmethod
    def sample(img: np.ndarray, maps: tuple[np.ndarray, np.ndarray], interpolation: int = cv2.INTER_LINEAR
               ) -> np.ndarray:
        """img at the positions `maps` (replicated borders), as flow.warp does."""
        src = img if img.dtype in (np.uint8, np.float32) else img.astype(np.float32)
        return cv2.remap(src, maps[0], maps[1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def photometric_trust(gray: np.ndarray, prev_gray: np.ndarray, maps: tuple[np.ndarray, np.ndarray],
                      sigma: float = 0.06) -> np.ndarray:
    """flow.photometric_consistency on 8-bit luma with precomputed sample positions:
    exp(-(blurred |g_t - g_{t-1}(p + f)| / sigma)^2), 1 where the warped previous frame agrees."""
    ga = gray.astype(np.float32)
    ga /= np.float32(255.0)
    gb = prev_gray.astype(np.float32)
    gb /= np.float32(255.0)
    gb = FlowSampler.sample(gb, maps)
    gb -= ga  # |g_t - g_{t-1}(p + f)|, the same bits as |ga - gb|
    diff = cv2.GaussianBlur(np.abs(gb, out=gb), (3, 3), 0.7)
    diff /= np.float32(sigma)
    diff *= diff
    return np.exp(np.negative(diff, out=diff), out=diff)


def gaussian(x: np.ndarray, scale: float, out: Optional[np.ndarray] = None) -> np.ndarray:
    """exp(-(x / scale)^2 / 2) in one array (`out`, which may be x itself; else a new one): the
    same operations in x's precision as the expression, so the same bits, without its three
    full-frame temporaries (each ~0.2-1 ms at 720p)."""
    g = np.divide(x, scale, out=out)
    g *= g
    g *= -0.5
    return np.exp(g, out=g)


def fade_to_one(x: np.ndarray, share: np.ndarray) -> np.ndarray:
    """1 - share (1 - x), in place in x (the same bits as the expression): x where share is 1,
    1 where it is 0."""
    np.subtract(1.0, x, out=x)
    x *= share
    return np.subtract(1.0, x, out=x)


def edge_snap(obs_u: np.ndarray, P_u: np.ndarray, prev_u: np.ndarray, flow: np.ndarray, m: np.ndarray,
              radius: int = 1) -> np.ndarray:
    """Where the prediction P_u disagrees with the observation obs_u (log disparity) by more than
    one robust sigma s (flow off by a pixel at a depth edge), move it toward the (2 radius + 1)^2
    neighbours of p + f(p) in the previous map prev_u that are closest to the observation: same
    surface, so edges neither smear nor reset. Only the disagreeing pixels are looked up (about a
    third of them where the residual is noise: no full-frame warps). Soft, so that it is a
    continuous function of the state: the share moved ramps from 0 at |obs - P| = s to 1 at 2 s,
    and the neighbours are weighted by exp(-(|obs - q| / s)^2 / 2) (with P among them); a hard
    threshold and an arg-min flipped with tiny differences of the state, and a chunked run jumped
    5e-2 of the range from the unsplit one at one pixel where that happened (a ramp from 1.5 s to
    2.5 s, 2.5x cheaper, kept a chunk 2.5e-3 of the range away: tests/test_depth_lookahead.py).
    The candidates carry no looming: with it added, chunks converged 1000x slower (5e-3 of the
    range after 20 frames at 0.5 instead of 4e-6)."""
    r = obs_u - P_u
    rs, ms = sample(r, m)  # the median |r| (not its MAD): a biased residual counts as disagreement
    s = 1.4826 * float(np.median(np.abs(rs[ms > 0.5]))) if np.any(ms > 0.5) else float(np.std(rs))
    s = max(s, 1e-6)
    # the disagreeing pixels as flat indices, their values gathered with take (~3x faster than
    # indexing with (ys, xs) at 720p: the same values)
    idx = np.flatnonzero(np.abs(r) > s)
    if idx.size == 0:
        return P_u
    h, w = P_u.shape
    ys, xs = np.divmod(idx, w)
    fxy = flow.reshape(-1, 2)
    # previous map padded by `radius` replicated pixels: the neighbours of a clipped p + f(p) are
    # flat offsets into it (what per-offset nearest warps with replicated borders give)
    pad = radius
    flat = cv2.copyMakeBorder(prev_u, pad, pad, pad, pad, cv2.BORDER_REPLICATE).reshape(-1)
    bx = np.clip(np.rint(xs + fxy[:, 0].take(idx)).astype(np.int64), 0, w - 1) + pad
    by = np.clip(np.rint(ys + fxy[:, 1].take(idx)).astype(np.int64), 0, h - 1) + pad
    base = by * (w + 2 * pad) + bx
    obs, p0 = obs_u.reshape(-1).take(idx), P_u.reshape(-1).take(idx)
    offsets = [dy * (w + 2 * pad) + dx for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1) if dx or dy]
    half_inv_var = np.float32(0.5 / (s * s))

    def cost(q: np.ndarray) -> np.ndarray:  # -log of a candidate's weight: (obs - q)^2 / 2 s^2
        e = q - obs
        e *= e
        e *= half_inv_var
        return e

    # two passes over the candidates, one pixel vector each (a candidates x pixels block was ~100 MiB
    # at 1080p): the best cost first, then the weights relative to it (safe far from all of them)
    c0 = cost(p0)
    e0 = c0.copy()
    for off in offsets:
        np.minimum(e0, cost(flat.take(base + off)), out=e0)
    den = np.exp(e0 - c0)
    num = den * p0
    for off in offsets:
        q = flat.take(base + off)
        wq = cost(q)  # -> exp(e0 - cost), in place
        np.subtract(e0, wq, out=wq)
        den += np.exp(wq, out=wq)
        num += np.multiply(wq, q, out=q)
    moved = num / den
    share = np.clip(np.abs(r.reshape(-1).take(idx)) * np.float32(1.0 / s) - 1.0, 0.0, 1.0)
    out = P_u.copy()
    out.reshape(-1)[idx] = p0 + share * (moved - p0)
    return out

"""Classical pre-deblur: defocus map from the frame itself + spatially varying deconvolution.

Conservative by design. It is (a) DeblurNet's auxiliary "pre-deblur" input (Genfocus feeds a
classically restored frame beside the blurry one) and (b) the CPU fallback for mildly soft footage.

1. **Defocus map** (Zhuo & Sim, "Defocus map estimation from a single image", Pattern
   Recognition 2011): re-blur the luma with a Gaussian σ0; at an edge blurred by σ the gradient
   ratio R = |∇I| / |∇(I * g_σ0)| equals sqrt(σ² + σ0²)/σ, so σ = σ0 / sqrt(R² − 1). Estimates at
   edges are spread to the whole frame by normalised convolution and snapped to image edges with a
   guided filter (He et al. 2010) instead of the paper's matting Laplacian. A lens disc of radius
   r has per-axis σ = r/2, so r = 2σ.
2. **Deconvolution per blur level**: the frame is restored once for each radius in a small set of
   levels with a disc PSF by Richardson–Lucy (15 iterations, linear light, HDR values kept: the
   blur is linear in radiance). RL is local and positivity-preserving; a global inverse filter
   (still available: ``method="wiener"``, X = (conj(H) + λ|D|²)·Y / (|H|² + λ|D|²), a prior toward
   the input's gradients) lets ringing from regions at *other* blur levels and from point lights
   travel across the frame over the long support of the inverse disc, and measured worse on lfbench.
3. **Edge-aware blending**: each pixel takes the two levels bracketing its radius (linear weights
   from the guided-filtered map), and the result is clamped to the input's local range (widened by
   ``clamp_margin``) — overshoot is the typical failure, and a clamp cannot invent halos. Pixels
   above 1.0 (highlights) keep their input values.

Known limits: radii beyond ~8 px are not recovered (information is gone: that is DeblurNet's job);
occlusion boundaries mix two blurs and are only partially restored; flat areas keep the
interpolated radius of their neighbours (harmless: nothing to sharpen there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..filters import guided_filter

_SIGMA_PIXEL = 0.75
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True)
class PreDeblurOptions:
    """Tuning of the classical pre-deblur (defaults are deliberately conservative)."""

    max_radius: float = 8.0  # px; larger blur is left to DeblurNet
    sigma0: float = 1.0  # re-blur σ for the gradient-ratio estimate
    reg: float = 0.03  # λ of the prior toward the input gradients (higher = closer to the input)
    radius_scale: float = 1.0  # < 1 deconvolves with a smaller disc than estimated (under-correct)
    strength: float = 1.0  # 0 = input, 1 = full restoration
    clamp_margin: float = 0.0  # fraction of the local input range allowed beyond it
    guide_radius: int = 8  # guided filter radius (px) for the defocus map
    method: str = "rl"  # "rl" (Richardson–Lucy, local) or "wiener" (global, regularised toward the input)
    iterations: int = 15  # Richardson–Lucy iterations (more = sharper, more noise)
    linear: bool = True  # deconvolve linear light (physically exact) instead of sRGB-encoded values
    highlight: Optional[float] = None  # leave pixels near values above this untouched (None: off; RL models HDR)


def srgb_encode(rgb: np.ndarray) -> np.ndarray:
    """Linear -> sRGB-encoded values in [0, 1] (clipped)."""
    x = np.clip(rgb, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(enc: np.ndarray) -> np.ndarray:
    e = np.clip(enc, 0.0, 1.0)
    return np.where(e <= 0.04045, e / 12.92, np.power((e + 0.055) / 1.055, 2.4)).astype(np.float32)


def _encode(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded luma in [0, 1]: edge statistics behave perceptually, highlights do not dominate."""
    return (srgb_encode(rgb) @ _LUMA).astype(np.float32)


def estimate_defocus(rgb: np.ndarray, opts: PreDeblurOptions = PreDeblurOptions()) -> np.ndarray:
    """Per-pixel defocus blur radius (px, float32 H×W) estimated from the frame alone."""
    gray = _encode(rgb)
    s0 = opts.sigma0

    def grad(img: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        return np.sqrt(gx * gx + gy * gy)

    g1 = grad(gray)
    g2 = grad(cv2.GaussianBlur(gray, (0, 0), s0))
    edges = cv2.Canny((gray * 255).astype(np.uint8), 10, 30) > 0
    edges &= g1 > 0.003
    ratio = g1 / np.maximum(g2, 1e-6)
    sigma = np.where(ratio > 1.0 + 1e-3, s0 / np.sqrt(np.maximum(ratio * ratio - 1.0, 1e-6)), opts.max_radius)
    # The discrete gradient sees even a perfect step as blurred by ~0.75 px (calibrated on ideal
    # steps: σ_est² ≈ σ² + 0.75²); remove that so sharp edges read as radius 0.
    sigma = np.sqrt(np.maximum(sigma * sigma - _SIGMA_PIXEL ** 2, 0.0))
    radius = np.clip(2.0 * sigma, 0.0, opts.max_radius).astype(np.float32)
    w = edges.astype(np.float32)
    if w.sum() < 1:
        return np.zeros(gray.shape, np.float32)
    # Normalised convolution spreads the sparse edge estimates; the guided filter snaps them to edges.
    spread = max(4.0, 0.03 * max(gray.shape))
    num = cv2.GaussianBlur(radius * w, (0, 0), spread)
    den = cv2.GaussianBlur(w, (0, 0), spread)
    dense = num / np.maximum(den, 1e-6)
    dense = np.where(den > 1e-4, dense, float(np.median(radius[edges])))
    # Conservative: under-estimate rather than over-estimate (over-deconvolving a sharp area rings).
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (opts.guide_radius + 1,) * 2)
    dense = cv2.erode(dense.astype(np.float32), k)
    dense = guided_filter(gray, dense.astype(np.float32), opts.guide_radius, 1e-3)
    return np.clip(dense, 0.0, opts.max_radius).astype(np.float32)


def disc_psf(radius: float) -> np.ndarray:
    """Anti-aliased disc PSF of the given radius (sum 1); a delta for radius < 0.5."""
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    n = int(np.ceil(radius)) + 1
    ss = 4  # 4x4 supersampling for the anti-aliased edge
    c = (np.arange(-n * ss, (n + 1) * ss) + 0.5) / ss - 0.5
    yy, xx = np.meshgrid(c, c, indexing="ij")
    m = ((xx * xx + yy * yy) <= radius * radius).astype(np.float32)
    size = 2 * n + 1
    k = m[: size * ss, : size * ss].reshape(size, ss, size, ss).mean(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def wiener_deconvolve(img: np.ndarray, psf: np.ndarray, reg: float) -> np.ndarray:
    """Gradient-regularised Wiener deconvolution of an H×W×C image (reflect padding, FFT)."""
    if psf.shape == (1, 1):
        return img.copy()
    pad = psf.shape[0] * 2
    h, w = img.shape[:2]
    x = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    ph, pw = x.shape[:2]
    kpad = np.zeros((ph, pw), np.float32)
    kh, kw = psf.shape
    kpad[:kh, :kw] = psf
    kpad = np.roll(kpad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    H = np.fft.rfft2(kpad)
    dx = np.zeros((ph, pw), np.float32)
    dx[0, 0], dx[0, 1] = -1, 1
    dy = np.zeros((ph, pw), np.float32)
    dy[0, 0], dy[1, 0] = -1, 1
    D = np.abs(np.fft.rfft2(dx)) ** 2 + np.abs(np.fft.rfft2(dy)) ** 2
    # argmin |h*x − y|² + λ|∇(x − y)|²: the prior pulls toward the *input* (not toward flatness),
    # so strong regularisation degrades gracefully to "leave the frame as it is".
    filt = (np.conj(H) + reg * D) / (np.abs(H) ** 2 + reg * D)
    x3 = x if x.ndim == 3 else x[..., None]
    out = np.empty_like(x3)
    for ch in range(x3.shape[2]):
        out[..., ch] = np.fft.irfft2(np.fft.rfft2(x3[..., ch]) * filt, s=(ph, pw))
    out = out[pad:pad + h, pad:pad + w]
    return out if img.ndim == 3 else out[..., 0]


def richardson_lucy(img: np.ndarray, psf: np.ndarray, iterations: int) -> np.ndarray:
    """Richardson–Lucy deconvolution (positive images): x ← x · (k̃ ⋆ (y / (k ⋆ x))).

    Local (each step is one blur and one correlation) and positivity-preserving, so errors at
    other blur levels or near clipped highlights stay near their source instead of ringing across
    the frame as with a global inverse filter (Richardson 1972, Lucy 1974).
    """
    if psf.shape == (1, 1) or iterations <= 0:
        return img.copy()
    y = np.maximum(img, 0.0).astype(np.float32)
    x = y.copy()
    flipped = np.ascontiguousarray(psf[::-1, ::-1])
    for _ in range(iterations):
        est = cv2.filter2D(x, -1, psf, borderType=cv2.BORDER_REFLECT)
        x *= cv2.filter2D(y / np.maximum(est, 1e-6), -1, flipped, borderType=cv2.BORDER_REFLECT)
    return x


def levels_for(max_radius: float) -> list[float]:
    """Blur levels (px) at which the frame is deconvolved; denser where blur is small."""
    base = [0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0]
    out = [r for r in base if r <= max_radius + 1e-6]
    if out[-1] < max_radius:
        out.append(float(max_radius))
    return out


def deconvolve_map(rgb: np.ndarray, radius: np.ndarray, opts: PreDeblurOptions = PreDeblurOptions()) -> np.ndarray:
    """Spatially varying deconvolution: per-level Wiener restorations blended by the radius map."""
    img = rgb.astype(np.float32)
    r = np.clip(radius.astype(np.float32) * opts.radius_scale, 0.0, opts.max_radius)
    levels = levels_for(opts.max_radius)
    out = np.zeros_like(img)
    wsum = np.zeros(r.shape, np.float32)
    for i, lv in enumerate(levels):
        lo = levels[i - 1] if i > 0 else lv
        hi = levels[i + 1] if i + 1 < len(levels) else lv
        w = np.zeros_like(r)
        if i > 0:
            m = (r >= lo) & (r <= lv)
            w[m] = (r[m] - lo) / max(lv - lo, 1e-6)
        else:
            w[r <= lv] = 1.0
        if i + 1 < len(levels):
            m = (r > lv) & (r < hi)
            w[m] = (hi - r[m]) / max(hi - lv, 1e-6)
        else:
            w[r >= lv] = 1.0
        if w.max() <= 1e-4:
            continue
        if lv < 0.5:
            rest = img
        elif opts.method == "rl":
            rest = richardson_lucy(img, disc_psf(lv), opts.iterations)
        else:
            rest = wiener_deconvolve(img, disc_psf(lv), opts.reg)
        out += rest * w[..., None]
        wsum += w
    out /= np.maximum(wsum, 1e-6)[..., None]
    return out


def _clamp_local(restored: np.ndarray, blurry: np.ndarray, radius: np.ndarray, margin: float) -> np.ndarray:
    """Clamp to the blurry frame's local min/max (window ~ the blur) widened by `margin` x range."""
    rad = int(np.ceil(float(np.percentile(radius, 90)))) + 1
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * rad + 1, 2 * rad + 1))
    lo = cv2.erode(blurry, k)
    hi = cv2.dilate(blurry, k)
    span = (hi - lo) * margin
    return np.clip(restored, lo - span, hi + span)


def predeblur(rgb: np.ndarray, opts: PreDeblurOptions = PreDeblurOptions(), radius: np.ndarray | None = None
              ) -> np.ndarray:
    """All-in-focus estimate of a linear RGB frame (float32 H×W×3); `radius` overrides the estimate."""
    img = np.ascontiguousarray(rgb, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"predeblur expects H×W×3, got {img.shape}")
    r = estimate_defocus(img, opts) if radius is None else radius.astype(np.float32)
    # Restore in the sRGB-encoded domain: linear-light Wiener ringing around highlights and in dark
    # areas is what a viewer sees; encoded values bound it. Highlights (> 1) keep their input values.
    enc = srgb_encode(img)
    if opts.linear:
        src = img if opts.method == "rl" else np.minimum(img, 1.0)  # RL models HDR light exactly
        restored = srgb_encode(np.maximum(deconvolve_map(src, r, opts), 0.0))
    else:
        restored = deconvolve_map(enc, r, opts)
    restored = _clamp_local(restored, enc, r * opts.radius_scale, opts.clamp_margin)
    # Near clipped highlights (bokeh discs of point lights) the blur model is violated by clipping:
    # leave them alone, fading the restoration in over a blur radius.
    hot_mask = (img.max(axis=2) > opts.highlight).astype(np.float32) if opts.highlight is not None else None
    if hot_mask is not None and hot_mask.any():
        rad = int(np.ceil(float(np.percentile(r, 90)) * 2)) + 2
        near = cv2.dilate(hot_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1,) * 2))
        near = cv2.GaussianBlur(near, (0, 0), max(1.0, rad / 2))
        restored = restored + (enc - restored) * np.clip(near, 0, 1)[..., None]
    out_enc = enc + opts.strength * (restored - enc)
    out = srgb_decode(out_enc)
    hot = img > 1.0
    out[hot] = img[hot]
    return np.maximum(out, 0.0).astype(np.float32)

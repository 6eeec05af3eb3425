"""Reference renderers the layered renderer is measured against (benchmarks, tests).

* :func:`naive_gather` — every output pixel averages the input under its *own* aperture kernel
  (radius |r(x)|, orientation by the sign of r): the textbook post-filter. Sharp subjects bleed
  into blurred backgrounds and blurred foregrounds stop hard at their silhouettes.
* :func:`normalised_scatter` — BokehMe-style classical scatter: every pixel splats its own soft
  aperture of radius |r(p)| (normalised to unit energy) and the result is divided by the
  accumulated weight. Foregrounds spread, but without occlusion ordering and without the hidden
  background.

Both quantise |r| to `step` px (the per-pixel result within that tolerance) and use the same
aperture kernels as the layered renderer, so the comparison isolates the compositing method.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..optics.aperture import Aperture


def _bins(r: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    q = np.round(r / step).astype(np.int32)
    return q, np.unique(q)


def naive_gather(img: np.ndarray, r: np.ndarray, aperture: Aperture, step: float = 0.5) -> np.ndarray:
    """out(x) = Σ_q PSF_{r(x)}(q) · img(x − q): per-pixel gather with the pixel's own kernel."""
    q, values = _bins(r, step)
    out = np.empty_like(img)
    for v in values:
        rad = v * step
        psf = aperture.kernel(abs(rad), front=rad > 0)
        sel = q == v
        blurred = cv2.filter2D(img, cv2.CV_32F, psf[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT_101)
        out[sel] = blurred[sel]
    return out


def normalised_scatter(img: np.ndarray, r: np.ndarray, aperture: Aperture, step: float = 0.5) -> np.ndarray:
    """out(x) = Σ_p img(p) PSF_p(x − p) / Σ_p PSF_p(x − p): each pixel splats its own soft aperture."""
    q, values = _bins(r, step)
    num = np.zeros_like(img)
    den = np.zeros(img.shape[:2], np.float32)
    for v in values:
        rad = v * step
        psf = aperture.kernel(abs(rad), front=rad > 0)
        m = (q == v).astype(np.float32)
        corr = psf[::-1, ::-1].copy()  # filter2D correlates: a flipped PSF scatters
        num += cv2.filter2D(img * m[..., None], cv2.CV_32F, corr, borderType=cv2.BORDER_REFLECT_101)
        den += cv2.filter2D(m, cv2.CV_32F, corr, borderType=cv2.BORDER_REFLECT_101)
    return (num / np.maximum(den, 1e-6)[..., None]).astype(np.float32)

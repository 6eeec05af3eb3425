"""BokehNet (Genfocus stage 2): render depth of field from an all-in-focus frame with FLUX + LoRA.

Conditions, as in the published inference code (``Inference_bokehNet.py``):

* the all-in-focus frame (sRGB in [-1, 1]) on the image's own grid (0, 0);
* the **defocus map** |K·(d − a)| / 100, clamped to [0, 1], repeated to 3 channels and fed to the
  VAE *as is* (in [0, 1], not remapped to [-1, 1] — Genfocus's ``No_preprocess``), also at (0, 0).
  K is our bokeh level (px of blur radius per unit disparity), so the map is the blur radius in px
  divided by Genfocus's MAX_COC = 100 px.

Plus, only when asked for (``aperture_branch=True``, ``backends.aperture_branch``), an
**aperture-kernel branch** (our extension; the published bokehNet LoRA was trained without it, so
it is never switched on by an aperture shape): an image of the
aperture's point-spread function drawn in a grid of cells, each cell showing the kernel upright
where the cell is mostly behind the focus plane and rotated 180° where it is in front (DESIGN.md
convention). It is not pixel-aligned content, so it sits on the shifted grid (0, 32) like
DeblurNet's pre-deblur branch (tile-local ids when tiled).

Default prompt "an excellent photo with a large aperture", guidance 1.0 (Genfocus).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from ..optics.coc import signed_blur
from .convert import from_model, map_to_model, to_model
from .flux import Condition, FluxComponents, PromptCache, SampleResult
from .shared import sample_net

DEFAULT_PROMPT = "an excellent photo with a large aperture"
DEFAULT_GUIDANCE = 1.0
MAX_COC = 100.0  # Genfocus's defocus normalisation (px)


def defocus_map(disparity: np.ndarray, focus_disparity: float, k: float, focus_range: float = 0.0) -> np.ndarray:
    """Genfocus's defocus condition: clamp(|r| / MAX_COC, 0, 1), float32 H×W, with r = K·(d − a)
    from optics.coc (a focus range keeps its band at 0, like the classical renderer)."""
    r = np.abs(signed_blur(disparity, focus_disparity, k, focus_range))
    return np.clip(r / MAX_COC, 0.0, 1.0).astype(np.float32)


def _disc_kernel(radius: float) -> np.ndarray:
    n = int(np.ceil(radius))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1].astype(np.float32)
    k = ((xx * xx + yy * yy) <= radius * radius).astype(np.float32)
    return k / k.sum()


def kernel_for(aperture: Any, radius: float, front: bool) -> np.ndarray:
    """The aperture PSF at `radius` px (optics.aperture.Aperture when given, else a disc)."""
    if aperture is not None and hasattr(aperture, "kernel"):
        return np.asarray(aperture.kernel(radius, front=front), np.float32)
    return _disc_kernel(radius)


def aperture_image(aperture: Any, disparity: np.ndarray, focus_disparity: float, k: float,
                   cell: int) -> np.ndarray:
    """Frame-sized kernel atlas in [0, 1]: one PSF per `cell`×`cell` block, oriented by the block's side."""
    h, w = disparity.shape
    out = np.zeros((h, w), np.float32)
    radius = max(1.0, cell / 2.0 - 1.0)
    up = kernel_for(aperture, radius, front=False)
    while up.shape[0] > cell and radius > 1.0:  # kernels may carry a margin: fit them in the cell
        radius -= 0.5
        up = kernel_for(aperture, radius, front=False)
    down = kernel_for(aperture, radius, front=True)
    signed = float(k) * (disparity - np.float32(focus_disparity))
    for y in range(0, h, cell):
        for x in range(0, w, cell):
            ker = down if float(np.mean(signed[y:y + cell, x:x + cell])) > 0 else up
            ker = ker / max(float(ker.max()), 1e-8)
            kh, kw = ker.shape
            oy, ox = y + max(0, (cell - kh) // 2), x + max(0, (cell - kw) // 2)
            sy, sx = min(kh, h - oy, cell), min(kw, w - ox, cell)
            if sy > 0 and sx > 0:
                out[oy:oy + sy, ox:ox + sx] = ker[:sy, :sx]
    return out


@dataclass
class BokehNet:
    """Callable BokehNet over loaded components (LoRA already injected and active)."""

    comp: FluxComponents
    steps: int = 28
    guidance: float = DEFAULT_GUIDANCE
    prompt: Optional[str] = None
    tile_tokens: int = 32
    aperture_branch: bool = False  # opt-in only (untrained with the published LoRA)
    tiling: str = "auto"  # auto|on|off (tiling.should_tile)
    adapter: Optional[str] = None  # LoRA adapter to activate before sampling (shared FLUX base)
    shared: Any = None  # the process's SharedFlux (generative.shared): sample under its lock
    transfer: str = "srgb"  # the source's transfer: the model sees its own code values (convert.py)
    focus_range: float = 0.0  # disparity band kept sharp around the focus plane (optics.coc)

    _prompts: PromptCache = field(default_factory=PromptCache, init=False, repr=False, compare=False)

    def embeddings(self) -> tuple:
        """Prompt embeddings, encoded once per net (text encoders do not run per frame)."""
        return self._prompts.get(self.comp, self.prompt or DEFAULT_PROMPT)

    def conditions(self, aif: np.ndarray, disparity: np.ndarray, focus_disparity: float, k: float,
                   aperture: Any = None, focus_range: Optional[float] = None) -> list[Condition]:
        """`focus_range`: this frame's sharp band (a followed subject's); None = the net's constant."""
        m = self.comp.pixels_per_token
        w = self.focus_range if focus_range is None else float(focus_range)
        conds = [Condition(to_model(aif, m, self.transfer), (0, 0), "aif"),
                 Condition(map_to_model(defocus_map(disparity, focus_disparity, k, w), m), (0, 0), "defocus")]
        if self.aperture_branch:
            from .convert import pad_map
            d = pad_map(disparity.astype(np.float32), m)
            img = aperture_image(aperture, d, focus_disparity, k, cell=2 * m)
            conds.append(Condition(torch.from_numpy(np.repeat(img[None], 3, 0) * 2 - 1)[None].float(),
                                   "predeblur", "aperture"))
        return conds

    def __call__(self, aif: np.ndarray, disparity: np.ndarray, focus_disparity: float, k: float, *,
                 aperture: Any = None, seed: int = 0, noise: Optional[np.ndarray] = None,
                 init_latents: Optional[np.ndarray] = None, init_strength: Any = 0.0,
                 prompt_embeds=None, focus_range: Optional[float] = None) -> tuple[np.ndarray, SampleResult]:
        """Linear AIF H×W×3 + disparity H×W -> (refocused linear RGB, sampler result for video reuse)."""
        h, w = aif.shape[:2]
        if disparity.shape != (h, w):
            raise ValueError(f"disparity is {disparity.shape}, frame is {(h, w)}")
        conds = self.conditions(aif, disparity, focus_disparity, k, aperture, focus_range)
        hp, wp = conds[0].image.shape[-2:]
        res = sample_net(self, conds, hp, wp, seed=seed, noise=noise, init_latents=init_latents,
                         init_strength=init_strength, prompt_embeds=prompt_embeds)
        return from_model(res.image, h, w, self.transfer), res

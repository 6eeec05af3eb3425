"""DeblurNet (Genfocus stage 1): recover an all-in-focus frame from a defocused one.

Conditions, as in the published inference code:

* ``deblurNet.safetensors`` (the default): the blurry frame, one branch on the image's grid (0, 0);
* ``deblurNet_with_pre_deblur.safetensors`` (only on request, ``backends.predeblur``): the blurry
  frame at (0, 0) plus a pre-deblurred frame at the reference's fixed (0, 32) (tile-local ids when
  tiled). The pre-deblur itself is our choice: :func:`genrefocus_video.deblur.classical.predeblur`.

Default prompt "a sharp photo with everything in focus", guidance 3.5, 28 steps (Genfocus).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .convert import from_model, to_model
from .flux import Condition, FluxComponents, PromptCache, SampleResult
from .shared import sample_net

DEFAULT_PROMPT = "a sharp photo with everything in focus"
DEFAULT_GUIDANCE = 3.5


@dataclass
class DeblurNet:
    """Callable DeblurNet over loaded components (LoRA already injected and active)."""

    comp: FluxComponents
    with_predeblur: bool = False
    steps: int = 28
    guidance: float = DEFAULT_GUIDANCE
    prompt: Optional[str] = None
    tile_tokens: int = 32
    tiling: str = "auto"  # auto|on|off (tiling.should_tile)
    adapter: Optional[str] = None  # LoRA adapter to activate before sampling (shared FLUX base)
    shared: Any = None  # the process's SharedFlux (generative.shared): sample under its lock
    transfer: str = "srgb"  # the source's transfer: the model sees its own code values (convert.py)

    _prompts: PromptCache = field(default_factory=PromptCache, init=False, repr=False, compare=False)

    def embeddings(self) -> tuple:
        """Prompt embeddings, encoded once per net (text encoders do not run per frame)."""
        return self._prompts.get(self.comp, self.prompt or DEFAULT_PROMPT)

    def conditions(self, blurry: np.ndarray, pre: Optional[np.ndarray]) -> list[Condition]:
        m = self.comp.pixels_per_token
        conds = []
        if self.with_predeblur:
            pre_img = pre if pre is not None else np.zeros_like(blurry)  # Genfocus: black when absent
            conds.append(Condition(to_model(pre_img, m, self.transfer), "predeblur", "predeblur"))
        conds.append(Condition(to_model(blurry, m, self.transfer), (0, 0), "blurry"))
        return conds

    def __call__(self, blurry: np.ndarray, *, pre: Optional[np.ndarray] = None, seed: int = 0,
                 noise: Optional[np.ndarray] = None, init_latents: Optional[np.ndarray] = None,
                 init_strength: float = 0.0, prompt_embeds=None) -> tuple[np.ndarray, SampleResult]:
        """Linear RGB H×W×3 -> (all-in-focus linear RGB, the sampler's noise/latents for video reuse)."""
        h, w = blurry.shape[:2]
        conds = self.conditions(blurry, pre)
        hp, wp = conds[-1].image.shape[-2:]
        res = sample_net(self, conds, hp, wp, seed=seed, noise=noise, init_latents=init_latents,
                         init_strength=init_strength, prompt_embeds=prompt_embeds)
        return from_model(res.image, h, w, self.transfer), res

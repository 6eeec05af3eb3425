"""Backend section: classical vs generative stages, and the generative models' settings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .schema import param


@dataclass
class BackendParams:
    """Which implementation runs each stage. Classical runs anywhere; generative needs a GPU + weights."""

    deblur: str = param("none", "all-in-focus recovery", choices=("none", "classical", "deblurnet"))
    bokeh: str = param("classical", "bokeh renderer", choices=("classical", "bokehnet"))
    flux_path: Optional[str] = param(None, "local FLUX.1-dev folder (diffusers layout); env GENREFOCUS_FLUX_PATH")
    lora_dir: Optional[str] = param(None, "folder with the Genfocus LoRA files; env GENREFOCUS_LORA_DIR")
    prompt: Optional[str] = param(None, "text guidance for DeblurNet/BokehNet (default: Genfocus prompts)")
    steps: int = param(28, "denoising steps", min=1, max=200)
    seed: int = param(0, "random seed (runs with the same seed repeat exactly)", min=0)
    noise_warp: bool = param(True, "warp the previous frame's noise with optical flow (video consistency)")
    latent_warp: float = param(0.0, "blend of the previous frame's warped latents (0 off)", min=0.0, max=1.0)
    tiling: str = param("auto", "FLUX tiled denoising (auto: Genfocus's rule, tiles when the short side >= 512 px)",
                        choices=("auto", "on", "off"))
    predeblur: bool = param(False, "DeblurNet pre-deblur variant (deblurNet_with_pre_deblur.safetensors + "
                                   "our classical pre-deblur); default: deblurNet.safetensors alone")
    aperture_branch: bool = param(False, "BokehNet aperture-image branch (our extension, untrained in the "
                                         "published LoRA): opt-in only")
    offload: bool = param(False, "CPU-offload model components between uses (less GPU memory)")
    device: str = param("cuda", "where DeblurNet/BokehNet run: cuda (without a CUDA GPU the job stops, exit 5), "
                                "or cpu (tiny test models; FLUX.1-dev on the CPU takes hours per frame)",
                        choices=("cuda", "cpu"), flag="generative-device")

"""Generative backends: FLUX.1-dev + Genfocus LoRA (DeblurNet, BokehNet), tiling, noise warping."""

"""Multi-condition FLUX sampling: condition token branches, branch-local LoRA, tiling.

Generative Refocusing (arXiv 2512.16923, "Genfocus") conditions FLUX.1-dev the OminiControl way
(arXiv 2411.15098 / 2503.08280): every condition image is VAE-encoded and packed into its *own
token branch* that joins the joint attention of the text and image branches.

* Position ids: a condition branch reuses the 2-D RoPE grid of the latent image, shifted by a
  per-branch ``delta`` (rows, cols). Pixel-aligned conditions sit on the image's own grid
  ((0, 0): blurry input, AIF, defocus map); DeblurNet's pre-deblurred input sits at the
  reference's fixed (0, 32). In tiled mode every branch gets the tile-local grid (see :mod:`.tiling`).
* Modulation: condition branches are embedded with timestep 0 (they are clean images), the image
  and text branches with the current flow time t.
* LoRA: the Genfocus LoRA is active on the condition branches only; the text and image branches
  run the frozen FLUX weights (the LoRA's ``base_layer``).
* Attention: every branch attends to text + image + itself; condition branches never attend to
  each other (a block mask, computed per query group so that fused kernels still apply).
* Tiling: frames of at least 512 px short side are denoised in overlapping 32-token tiles
  (condition tokens cropped identically) and the velocities blended with a Gaussian window, as the
  reference does (:mod:`.tiling`); the timestep shift mu always comes from the whole frame.
* LoRA scale: every adapter runs with scaling 1 whatever the file's alpha/rank (as the reference's
  adapter switch), set each time an adapter is activated (:func:`.loaders.activate_lora`).

The branch forward lives in :mod:`.branches`, tiling and position ids in :mod:`.tiling`.

Everything here takes components (diffusers FluxTransformer2DModel, AutoencoderKL, CLIP/T5 text
encoders, FlowMatchEulerDiscreteScheduler) as arguments: tests build tiny random ones from configs,
production loads FLUX.1-dev from a local folder (see :mod:`.loaders`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from .branches import Branch, branch_forward, group_mask  # noqa: F401
from .tiling import (GENFOCUS_PREDEBLUR_SHIFT, GENFOCUS_TILE_TOKENS, GridPlan, grid_ids, plan_grid,  # noqa: F401
                     should_tile, tile_indices, tile_starts, tile_window, tiled_apply)


# --------------------------------------------------------------------------- components
@dataclass
class FluxComponents:
    """The diffusers/transformers parts one sampling run needs.

    ``text_encoder``/``tokenizer`` are CLIP (pooled 768-d vector), ``text_encoder_2``/``tokenizer_2``
    are T5 (token sequence). Either pair may be None when prompt embeddings are passed directly.
    ``device``/``dtype`` say where the transformer computes; with ``offload`` each component is moved
    to ``device`` only while it is used (model-level CPU offload, explicit so the custom branch
    forward below is covered too).
    """

    transformer: Any
    vae: Any
    scheduler: Any
    text_encoder: Any = None
    tokenizer: Any = None
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    offload: bool = False
    max_sequence_length: int = 512

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def pixels_per_token(self) -> int:
        """Pixels per packed token side: VAE downscale x 2 (2x2 latent patches per token)."""
        return self.vae_scale_factor * 2

    def use(self, module: Any) -> "_OnDevice":
        return _OnDevice(module, self.device, self.offload)


class _OnDevice:
    """Context manager: move a module to the compute device for its use, back to CPU after (offload)."""

    def __init__(self, module: Any, device: torch.device, offload: bool) -> None:
        self.module, self.device, self.offload = module, device, offload

    def __enter__(self) -> Any:
        if self.module is not None and self.offload:
            self.module.to(self.device)
        return self.module

    def __exit__(self, *exc: Any) -> None:
        if self.module is not None and self.offload:
            self.module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


# --------------------------------------------------------------------------- prompt
@torch.no_grad()
def encode_prompt(comp: FluxComponents, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(T5 sequence embeddings [1, L, D], CLIP pooled embedding [1, P]) for one prompt, as FLUX uses them."""
    if comp.tokenizer is None or comp.text_encoder is None or comp.tokenizer_2 is None or comp.text_encoder_2 is None:
        raise ValueError("prompt embeddings need both text encoders and tokenizers (or pass prompt_embeds)")
    with comp.use(comp.text_encoder) as clip:
        max_len = min(int(getattr(comp.tokenizer, "model_max_length", 77) or 77), 77)
        ids = comp.tokenizer([prompt], padding="max_length", max_length=max_len, truncation=True,
                             return_tensors="pt").input_ids
        dev = comp.device if comp.offload else next(clip.parameters()).device
        pooled = clip(ids.to(dev), output_hidden_states=False).pooler_output
    with comp.use(comp.text_encoder_2) as t5:
        ids2 = comp.tokenizer_2([prompt], padding="max_length", max_length=comp.max_sequence_length,
                                truncation=True, return_tensors="pt").input_ids
        dev = comp.device if comp.offload else next(t5.parameters()).device
        seq = t5(ids2.to(dev), output_hidden_states=False)[0]
    return seq.to(comp.device, comp.dtype), pooled.to(comp.device, comp.dtype)


# --------------------------------------------------------------------------- latents & ids
class PromptCache:
    """Encode each distinct prompt once per net: the text encoders must not run per frame."""

    def __init__(self) -> None:
        self._key: Optional[str] = None
        self._emb: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def get(self, comp: FluxComponents, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self._key != prompt or self._emb is None:
            self._emb = encode_prompt(comp, prompt)
            self._key = prompt
        return self._emb


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, (H/2)(W/2), 4C]: FLUX's 2x2 patch tokens, row-major."""
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, th: int, tw: int) -> torch.Tensor:
    """Inverse of :func:`pack_latents` for a token grid th x tw."""
    b, n, d = tokens.shape
    c = d // 4
    x = tokens.view(b, th, tw, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, th * 2, tw * 2)


# --------------------------------------------------------------------------- conditions
@dataclass
class Condition:
    """A condition image for one token branch.

    image: float tensor [1, 3, H, W] already in the VAE's input range ([-1, 1] for photos; Genfocus
    feeds its defocus map in [0, 1] unchanged). delta: (row, col) shift of its position grid in
    tokens (untiled only); ``"predeblur"`` means the reference's fixed (0, 32).
    """

    image: torch.Tensor
    delta: Any = (0, 0)
    name: str = "cond"
    lora: bool = True


@torch.no_grad()
def vae_encode(comp: FluxComponents, image: torch.Tensor) -> torch.Tensor:
    """Image [1, 3, H, W] -> normalised FLUX latents [1, C, H/s, W/s] (posterior mode: repeatable)."""
    with comp.use(comp.vae) as vae:
        x = image.to(comp.device, vae.dtype)
        lat = vae.encode(x).latent_dist.mode()
        cfg = vae.config
        shift = getattr(cfg, "shift_factor", None) or 0.0
        return ((lat - shift) * cfg.scaling_factor).to(comp.dtype)


@torch.no_grad()
def vae_decode(comp: FluxComponents, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents -> image [1, 3, H, W] in the VAE's range."""
    with comp.use(comp.vae) as vae:
        cfg = vae.config
        shift = getattr(cfg, "shift_factor", None) or 0.0
        z = latents.to(comp.device, vae.dtype) / cfg.scaling_factor + shift
        return vae.decode(z).sample.float()


# --------------------------------------------------------------------------- sampler
def _calculate_shift(seq_len: int, cfg: Any) -> float:
    """FLUX's resolution-dependent timestep shift mu (linear in the image token count)."""
    base_len = cfg.get("base_image_seq_len", 256)
    max_len = cfg.get("max_image_seq_len", 4096)
    base_shift = cfg.get("base_shift", 0.5)
    max_shift = cfg.get("max_shift", 1.15)
    m = (max_shift - base_shift) / (max_len - base_len)
    return seq_len * m + (base_shift - m * base_len)


def timestep_mu(th: int, tw: int, cfg: Any) -> float:
    """mu for a th x tw token frame: always the WHOLE frame's token count, tiled or not (the reference)."""
    return _calculate_shift(th * tw, cfg)


@dataclass
class SampleResult:
    image: torch.Tensor  # [1, 3, H, W] in the VAE range
    noise: torch.Tensor  # initial noise latents [1, C, h, w] (unpacked) — for warping to the next frame
    latents: torch.Tensor  # final denoised latents [1, C, h, w]


@torch.no_grad()
def sample(comp: FluxComponents, conditions: Sequence[Condition], *, height: int, width: int,
           prompt: Optional[str] = None, prompt_embeds: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
           steps: int = 28, guidance: float = 3.5, seed: int = 0, noise: Optional[torch.Tensor] = None,
           init_latents: Optional[torch.Tensor] = None, init_strength: Any = 0.0,
           tile_tokens: int = GENFOCUS_TILE_TOKENS, overlap_tokens: Optional[int] = None,
           tile: Any = "auto", progress: Optional[Callable[[int, int], None]] = None) -> SampleResult:
    """Flow-matching Euler sampling of FLUX with condition branches (Genfocus ``generate``).

    noise: initial Gaussian latents [1, C, h, w] (e.g. flow-warped from the previous frame); drawn
    from `seed` when None. init_latents/init_strength (a number or a [1, 1, h, w] map): start from a
    blend toward given latents (latent warping for video): x_1 = (1 - s)·noise + s·init.
    tile: "auto" (the reference's rule, :func:`.tiling.should_tile`), "on"/"off" or True/False.
    mu (the timestep shift) is computed from the whole frame's token count th·tw, tiled or not.
    """
    s = comp.pixels_per_token
    if height % s or width % s:
        raise ValueError(f"frame {width}x{height} must be a multiple of {s} px (pad before sampling)")
    th, tw = height // s, width // s
    lh, lw = th * 2, tw * 2
    c_lat = comp.transformer.config.in_channels // 4
    dev, dt = comp.device, comp.dtype

    if prompt_embeds is None:
        prompt_embeds = encode_prompt(comp, prompt or "")
    seq, pooled = (x.to(dev, dt) for x in prompt_embeds)
    txt_ids = torch.zeros(seq.shape[1], 3, device=dev)

    if noise is None:
        gen = torch.Generator("cpu").manual_seed(int(seed))
        noise = torch.randn(1, c_lat, lh, lw, generator=gen, dtype=torch.float32)
    if tuple(noise.shape) != (1, c_lat, lh, lw):
        raise ValueError(f"noise must be [1, {c_lat}, {lh}, {lw}], got {tuple(noise.shape)}")
    x0 = noise.to(dev, torch.float32)
    if init_latents is not None:
        w = torch.as_tensor(init_strength, dtype=torch.float32, device=dev)
        x0 = (1 - w) * x0 + w * init_latents.to(dev, torch.float32)
    latents = pack_latents(x0).to(dt)

    plan = plan_grid(th, tw, [c.delta for c in conditions], tile_tokens, tile=tile, overlap_tokens=overlap_tokens)
    plan.ids, plan.cond_ids = plan.ids.to(dev), [ci.to(dev) for ci in plan.cond_ids]
    cond_tokens = []
    cond_meta = list(conditions)
    for c in conditions:
        lat = vae_encode(comp, c.image)
        if lat.shape[-2:] != (lh, lw):
            raise ValueError(f"condition '{c.name}' is {tuple(c.image.shape[-2:])}, frame is {(height, width)}")
        cond_tokens.append(pack_latents(lat).to(dt))

    sched = comp.scheduler
    sigmas = np.linspace(1.0, 1.0 / steps, steps)
    mu = timestep_mu(th, tw, sched.config)
    sched.set_timesteps(sigmas=sigmas, mu=mu, device=dev)
    g = torch.full([1], float(guidance), device=dev)
    one, zero = torch.ones(1, device=dev), torch.zeros(1, device=dev)

    with comp.use(comp.transformer) as transformer:
        for i, t in enumerate(sched.timesteps):
            tt = (t / 1000).expand(1).to(dev)

            def fn(lat_t, ids_t, conds_t, cids_t):
                br = [Branch("text", seq, txt_ids, tt, pooled, g, False, "text"),
                      Branch("image", lat_t, ids_t, tt, pooled, g, False, "image")]
                for ct, ci, meta in zip(conds_t, cids_t, cond_meta):
                    br.append(Branch("cond", ct, ci, zero, pooled, one, meta.lora, meta.name))
                return branch_forward(transformer, br)

            v = tiled_apply(fn, latents, plan, cond_tokens, th, tw)
            latents = sched.step(v, t, latents, return_dict=False)[0]
            if progress is not None:
                progress(i + 1, len(sched.timesteps))

    final = unpack_latents(latents.float(), th, tw)
    image = vae_decode(comp, final)
    return SampleResult(image=image, noise=noise.float().cpu(), latents=final.cpu())

"""Tiny random FLUX components built from configs (no downloads): the code path without the weights.

Used by the tests and by ``benchmarks/generative_gpu.py`` when FLUX.1-dev is not available. The
architecture is FLUX's (dual- and single-stream blocks, 2-D RoPE with axes (t, row, col), a KL VAE
with 16 latent channels and shift/scaling factors, CLIP pooled + T5 sequence text features), only
narrow and shallow. Tokenizers are word-level ``tokenizers`` models built in memory, so prompts go
through the same tokenize -> encode path as with the real CLIP/T5 tokenizers.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from .flux import FluxComponents

_WORDS = ("<pad>", "<unk>", "</s>", "a", "an", "sharp", "photo", "with", "everything", "in", "focus",
          "excellent", "large", "aperture", "bokeh", "blurry", "detail", "the", "of", "and")


def _word_tokenizer(max_len: int) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="</s>", model_max_length=max_len)
    return fast


def tiny_components(seed: int = 0, *, device: Optional[str] = None, dtype: torch.dtype = torch.float32,
                    vae_blocks: int = 2, layers: int = 1, single_layers: int = 1, heads: int = 2,
                    head_dim: int = 16, text_len: int = 16, offload: bool = False) -> FluxComponents:
    """Random-weight FLUX-shaped components; deterministic in `seed`.

    vae_blocks=2 gives a 2x VAE (4 px per packed token), so a 32x32 frame is an 8x8 token grid.
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    rope = (head_dim - 2 * (head_dim * 3 // 8), head_dim * 3 // 8, head_dim * 3 // 8)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=layers, num_single_layers=single_layers,
        attention_head_dim=head_dim, num_attention_heads=heads, joint_attention_dim=32,
        pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=rope)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * vae_blocks, up_block_types=("UpDecoderBlock2D",) * vae_blocks,
        block_out_channels=tuple(8 * 2 ** i for i in range(vae_blocks)), layers_per_block=1, norm_num_groups=8,
        scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=len(_WORDS), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                        projection_dim=32, pad_token_id=0, bos_token_id=0, eos_token_id=2))
    t5 = T5EncoderModel(T5Config(vocab_size=len(_WORDS), d_model=32, d_kv=8, d_ff=64, num_layers=1,
                                 num_heads=2, pad_token_id=0, eos_token_id=2, decoder_start_token_id=0))
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096)
    dev = torch.device(device) if device else torch.device("cpu")
    comp = FluxComponents(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=clip,
                          tokenizer=_word_tokenizer(77), text_encoder_2=t5, tokenizer_2=_word_tokenizer(text_len),
                          device=dev, dtype=dtype, offload=offload, max_sequence_length=text_len)
    for m in (transformer, vae, clip, t5):
        m.eval().requires_grad_(False)
        if m is transformer and dtype != torch.float32:
            m.to(dtype=dtype)
        if not offload:
            m.to(dev)
    return comp


def write_genfocus_lora(transformer: Any, path: str, *, rank: int = 4, seed: int = 1, scale: float = 0.1,
                        alpha: Optional[float] = None) -> int:
    """Write a random LoRA in the Genfocus key layout for `transformer`'s shapes; returns #modules.

    Keys: ``transformer.<module>.lora_A.weight`` [rank, in] and ``.lora_B.weight`` [out, rank] for
    every module matched by :data:`genrefocus_video.generative.loaders.GENFOCUS_TARGETS`; with
    `alpha` also ``transformer.<module>.alpha`` (kohya-style network alpha, e.g. alpha != rank).
    """
    from safetensors.torch import save_file

    from .loaders import GENFOCUS_TARGETS

    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, m in transformer.named_modules():
        m = getattr(m, "base_layer", m)  # already LoRA-wrapped by peft: use the frozen layer's shape
        if isinstance(m, torch.nn.Linear) and GENFOCUS_TARGETS.search(name):
            state[f"transformer.{name}.lora_A.weight"] = torch.randn(rank, m.in_features, generator=g) * scale
            state[f"transformer.{name}.lora_B.weight"] = torch.randn(m.out_features, rank, generator=g) * scale
            if alpha is not None:
                state[f"transformer.{name}.alpha"] = torch.tensor(float(alpha))
    save_file(state, path)
    return len([k for k in state if k.endswith("lora_A.weight")])


def save_components(comp: FluxComponents, root: Any) -> None:
    """Write `comp` as a diffusers FLUX folder (safetensors), as loaders.load_flux reads FLUX.1-dev."""
    from pathlib import Path

    root = Path(root)
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        getattr(comp, name).save_pretrained(root / name, safe_serialization=True)
    comp.scheduler.save_pretrained(root / "scheduler")
    comp.tokenizer.save_pretrained(root / "tokenizer")
    comp.tokenizer_2.save_pretrained(root / "tokenizer_2")

"""Load FLUX.1-dev and the Genfocus LoRA files from LOCAL paths (safetensors only, never a download).

Paths come from the job (``backends.flux_path``, ``backends.lora_dir``) or the environment
(``GENREFOCUS_FLUX_PATH``, ``GENREFOCUS_LORA_DIR``). The FLUX folder uses the diffusers layout
(``transformer/``, ``vae/``, ``text_encoder/``, ``text_encoder_2/``, ``tokenizer/``, ``tokenizer_2/``,
``scheduler/``). The LoRA files are the published ones:

===================================== ==========================================================
``deblurNet.safetensors``             DeblurNet, one condition: the blurry frame at (0, 0)
``deblurNet_with_pre_deblur.safetensors`` DeblurNet + pre-deblurred frame at (0, N)
``bokehNet.safetensors``              BokehNet: AIF frame + defocus map, both at (0, 0)
===================================== ==========================================================

Their keys are diffusers/peft LoRA keys (``transformer.<module>.lora_A.weight`` / ``lora_B.weight``)
over the OminiControl target set (x_embedder, norm1.linear, attn.to_q/k/v/to_out.0, ff.net.2 in the
dual-stream blocks; norm.linear, proj_mlp, proj_out, attn.to_q/k/v in the single-stream blocks).
Anything missing -> :class:`BackendUnavailableError` naming the classical fallback flag.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import BackendUnavailableError, InputError
from .flux import FluxComponents

ENV_FLUX = "GENREFOCUS_FLUX_PATH"
ENV_LORA = "GENREFOCUS_LORA_DIR"
LORA_FILES = {
    "deblurnet": "deblurNet.safetensors",
    "deblurnet_pre": "deblurNet_with_pre_deblur.safetensors",
    "bokehnet": "bokehNet.safetensors",
}
FALLBACK = {"deblurnet": "--deblur classical", "deblurnet_pre": "--deblur classical", "bokehnet": "--bokeh classical"}
#: The OminiControl/Genfocus LoRA target modules of FluxTransformer2DModel.
GENFOCUS_TARGETS = re.compile(
    r"(^x_embedder"
    r"|(?<!single_)transformer_blocks\.\d+\.(norm1\.linear|attn\.to_[qkv]|attn\.to_out\.0|ff\.net\.2)"
    r"|single_transformer_blocks\.\d+\.(norm\.linear|proj_mlp|proj_out|attn\.to_[qkv]))$")
_SUBFOLDERS = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


def resolve_paths(flux_path: Optional[str], lora_dir: Optional[str]) -> tuple[Optional[Path], Optional[Path]]:
    """Config value first, then the environment variable; None when neither is set."""
    fp = flux_path or os.environ.get(ENV_FLUX) or None
    ld = lora_dir or os.environ.get(ENV_LORA) or None
    return (Path(fp).expanduser() if fp else None, Path(ld).expanduser() if ld else None)


def pick_device(kind: str, allow_cpu: bool = False) -> torch.device:
    """CUDA when present; the CPU only when asked for (``backends.device cpu``: tiny test models;
    FLUX.1-dev on the CPU would take hours per frame)."""
    if allow_cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    raise BackendUnavailableError(f"{kind} needs a CUDA GPU and none is available; use {FALLBACK[kind]}")


def check_weights(kind: str, flux_path: Optional[Path], lora_dir: Optional[Path]) -> Path:
    """Validate the local weight locations for `kind`; return the LoRA file path."""
    flag = FALLBACK[kind]
    if flux_path is None:
        raise BackendUnavailableError(
            f"{kind}: no FLUX.1-dev folder configured (backends.flux_path or ${ENV_FLUX}); use {flag}")
    if not flux_path.is_dir():
        raise BackendUnavailableError(f"{kind}: FLUX folder {flux_path} does not exist; use {flag}")
    missing = [s for s in ("transformer", "vae", "scheduler") if not (flux_path / s).is_dir()]
    if missing:
        raise BackendUnavailableError(
            f"{kind}: {flux_path} is not a diffusers FLUX folder (missing {', '.join(missing)}/); use {flag}")
    if lora_dir is None:
        raise BackendUnavailableError(
            f"{kind}: no Genfocus LoRA folder configured (backends.lora_dir or ${ENV_LORA}); use {flag}")
    lora = lora_dir / LORA_FILES[kind]
    if not lora.is_file():
        raise BackendUnavailableError(f"{kind}: LoRA file {lora} not found; use {flag}")
    return lora


def load_flux(flux_path: Path, *, device: torch.device, dtype: Optional[torch.dtype] = None,
              offload: bool = False) -> FluxComponents:
    """FLUX.1-dev components via ``from_pretrained`` on a local folder (safetensors, no network)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import AutoTokenizer, CLIPTextModel, T5EncoderModel

    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kw: dict[str, Any] = {"local_files_only": True}
    root = str(flux_path)
    try:
        transformer = FluxTransformer2DModel.from_pretrained(root, subfolder="transformer", torch_dtype=dtype,
                                                             use_safetensors=True, **kw)
        vae = AutoencoderKL.from_pretrained(root, subfolder="vae", torch_dtype=dtype, use_safetensors=True, **kw)
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(root, subfolder="scheduler", **kw)
        text_encoder = tokenizer = text_encoder_2 = tokenizer_2 = None
        if (flux_path / "text_encoder").is_dir():
            text_encoder = CLIPTextModel.from_pretrained(root, subfolder="text_encoder", torch_dtype=dtype,
                                                         use_safetensors=True, **kw)
            tokenizer = AutoTokenizer.from_pretrained(root, subfolder="tokenizer", **kw)
        if (flux_path / "text_encoder_2").is_dir():
            text_encoder_2 = T5EncoderModel.from_pretrained(root, subfolder="text_encoder_2", torch_dtype=dtype,
                                                            use_safetensors=True, **kw)
            tokenizer_2 = AutoTokenizer.from_pretrained(root, subfolder="tokenizer_2", **kw)
    except (OSError, ValueError, EnvironmentError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendUnavailableError(f"cannot load FLUX from {flux_path}: {msg}") from None
    comp = FluxComponents(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder,
                          tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                          device=device, dtype=dtype, offload=offload)
    for m in (transformer, vae, text_encoder, text_encoder_2):
        if m is not None:
            m.eval().requires_grad_(False)
            if not offload:
                m.to(device)
    return comp


def read_lora_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], Optional[dict[str, float]]]:
    """Read a LoRA file (safetensors only) and normalise it to diffusers keys for the transformer.

    diffusers' ``FluxLoraLoaderMixin.lora_state_dict`` converts the community layouts (kohya, xlabs,
    BFL) to ``transformer.*.lora_A/B.weight``; Genfocus/OminiControl files are already in that layout.
    """
    from diffusers.loaders.lora_pipeline import FluxLoraLoaderMixin

    if path.suffix != ".safetensors":
        raise InputError(f"{path}: LoRA weights must be a .safetensors file (pickled weights are never loaded)")
    if not path.is_file():
        raise InputError(f"{path}: LoRA file not found")
    out = FluxLoraLoaderMixin.lora_state_dict(str(path.parent), weight_name=path.name, use_safetensors=True,
                                              local_files_only=True, return_alphas=True)
    state, alphas = out[0], out[1] if len(out) > 1 else None
    if not any(k.startswith("transformer.") for k in state):
        raise InputError(f"{path}: no transformer LoRA keys (expected 'transformer.<module>.lora_A.weight')")
    return state, alphas


def load_lora(transformer: Any, path: Path, adapter_name: str) -> None:
    """Inject a LoRA into the transformer with peft (via diffusers ``load_lora_adapter``) and activate it.

    The adapter's scaling is set to 1 on every wrapped module whatever the file's alpha/rank, as the
    reference does when it switches an adapter on. The adapter is applied only where the branch
    forward asks for it (condition branches), see :func:`genrefocus_video.generative.flux.branch_forward`.
    """
    state, alphas = read_lora_state_dict(Path(path))
    loaded = set(getattr(transformer, "peft_config", {}) or {})
    if adapter_name not in loaded:
        with warnings.catch_warnings():
            # a second adapter on one base is the design (one FLUX for DeblurNet and BokehNet, switched
            # per stage), not the accident peft warns about
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)
            transformer.load_lora_adapter(state, network_alphas=alphas, adapter_name=adapter_name,
                                          prefix="transformer")
    activate_lora(transformer, adapter_name)


def set_unit_scaling(transformer: Any, adapter_name: str) -> int:
    """Scaling of `adapter_name` = 1 on every LoRA-wrapped module; returns how many were set."""
    n = 0
    for module in transformer.modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict) and adapter_name in scaling:
            scaling[adapter_name] = 1.0
            n += 1
    return n


def activate_lora(transformer: Any, adapter_name: str) -> None:
    """Make `adapter_name` the only active adapter (DeblurNet and BokehNet share one transformer).

    diffusers' ``set_adapters`` rescales to weight·alpha/rank, so the unit scaling is set after it.
    """
    transformer.set_adapters([adapter_name])
    set_unit_scaling(transformer, adapter_name)

"""Generative DeblurNet/BokehNet speed: seconds per frame and peak GPU memory at 1024² and 1080p.

With a CUDA GPU and local weights (FLUX.1-dev folder + Genfocus LoRAs, via --flux-path/--lora-dir or
GENREFOCUS_FLUX_PATH/GENREFOCUS_LORA_DIR) it times the real models (bf16). Otherwise it times the
*code path* with tiny random FLUX-shaped components that keep FLUX's geometry (8x VAE, 2x2 packing,
32-token tiles) — and says so in its output: those numbers measure tiling/conditioning overhead,
not FLUX.1-dev. Sizes are tiled exactly as production (1024² -> 3x3 tiles, 1080p -> 3x5 tiles).

    .venv/bin/python benchmarks/generative_gpu.py [--tiny] [--steps N] [--json out.json]
    .venv/bin/python benchmarks/generative_gpu.py --memory-only   # one-FLUX saving, no weights needed

Issue 14 rows: ``--pair`` adds a deblur+bokeh pass on one shared FLUX base at 1080p (tiled as the
reference: 68x120 tokens -> 3x5 tiles) with its peak GPU memory; ``--memory-only`` reports the bytes
of one FLUX.1-dev base (transformer + T5-XXL + CLIP-L + VAE, built on the meta device from the
published configs: exact parameter counts, no weights) against two separate loads, and checks with
tiny parts that the process's :class:`FluxRegistry` loads the base once for both nets.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genrefocus_video.generative import flux as fx  # noqa: E402
from genrefocus_video.generative import loaders  # noqa: E402
from genrefocus_video.generative.bokehnet import BokehNet  # noqa: E402
from genrefocus_video.generative.deblurnet import DeblurNet  # noqa: E402
from genrefocus_video.generative.shared import FluxRegistry  # noqa: E402

SIZES = {"1024x1024": (1024, 1024), "1920x1080": (1920, 1080)}


def _components(args: argparse.Namespace) -> tuple[dict, str]:
    """{'deblurnet': comp, 'bokehnet': comp} (one transformer, LoRA switched) and a mode label."""
    cuda = torch.cuda.is_available()
    flux_path, lora_dir = loaders.resolve_paths(args.flux_path, args.lora_dir)
    if cuda and not args.tiny and flux_path is not None and lora_dir is not None:
        comp = loaders.load_flux(flux_path, device=torch.device("cuda"), offload=args.offload)
        found = {}
        for kind in ("deblurnet_pre", "deblurnet", "bokehnet"):
            f = lora_dir / loaders.LORA_FILES[kind]
            if f.is_file():
                loaders.load_lora(comp.transformer, f, kind)
                found[kind] = f.name
        return {"comp": comp, "loras": found}, "FLUX.1-dev + Genfocus LoRAs (real weights, bf16)"
    from genrefocus_video.generative.tiny import tiny_components, write_genfocus_lora

    dev = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    comp = tiny_components(0, device=dev, dtype=dtype, vae_blocks=4, layers=2, single_layers=2, heads=4,
                           head_dim=32, text_len=32)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for kind in ("deblurnet", "bokehnet"):
            p = Path(d) / loaders.LORA_FILES[kind]
            write_genfocus_lora(comp.transformer, str(p))
            loaders.load_lora(comp.transformer, p, kind)
    why = "--tiny" if args.tiny else ("no CUDA GPU" if not cuda else "no local FLUX/LoRA weights")
    return {"comp": comp, "loras": {"deblurnet": "random", "bokehnet": "random"}}, \
        f"TINY random FLUX-shaped components on {dev} ({why}) — code-path timing, NOT FLUX.1-dev"


def _time(fn, repeats: int) -> tuple[float, float]:
    """(seconds per call after one warm-up call, peak GPU memory GiB during the timed calls)."""
    fn()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if cuda:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / repeats
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else float("nan")
    return dt, peak


#: FLUX.1-dev architecture (the published diffusers configs), for exact parameter counts.
FLUX_DEV = {"transformer": dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38,
                                attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                                pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56)),
            "t5": dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                       feed_forward_proj="gated-gelu", is_encoder_decoder=False),
            "clip": dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=77, projection_dim=768),
            "vae": dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=2, use_quant_conv=False, use_post_quant_conv=False)}


def flux_dev_param_bytes(bytes_per_param: int = 2) -> dict:
    """Parameter bytes of each FLUX.1-dev part, built on the meta device (no memory, no weights)."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    with torch.device("meta"):
        parts = {"transformer": FluxTransformer2DModel(**FLUX_DEV["transformer"]),
                 "text_encoder_2 (T5-XXL)": T5EncoderModel(T5Config(**FLUX_DEV["t5"])),
                 "text_encoder (CLIP-L)": CLIPTextModel(CLIPTextConfig(**FLUX_DEV["clip"])),
                 "vae": AutoencoderKL(**FLUX_DEV["vae"])}
    return {k: sum(p.numel() for p in m.parameters()) * bytes_per_param for k, m in parts.items()}


def memory_report() -> int:
    """One FLUX base vs two separate loads (bf16 bytes), and the registry's load count on tiny parts."""
    import tempfile

    from genrefocus_video.generative.tiny import tiny_components, write_genfocus_lora

    parts = flux_dev_param_bytes(2)
    one = sum(parts.values())
    print("| FLUX.1-dev part | bf16 GiB |\n|---|---|")
    for k, v in parts.items():
        print(f"| {k} | {v / 2 ** 30:.2f} |")
    print(f"| **one base (shared by DeblurNet + BokehNet)** | **{one / 2 ** 30:.2f}** |")
    print(f"| two separate loads (before) | {2 * one / 2 ** 30:.2f} |")
    print(f"saving: {one / 2 ** 30:.2f} GiB of weights (ratio one/two = 0.50)")
    base = tiny_components(0)
    with tempfile.TemporaryDirectory() as d:
        registry = FluxRegistry()
        for kind in ("deblurnet", "bokehnet", "deblurnet"):
            f = Path(d) / loaders.LORA_FILES[kind]
            if not f.exists():
                write_genfocus_lora(base.transformer, str(f))
            registry.base(Path(d), device=torch.device("cpu"), loader=lambda *a, **k: base).add_adapter(kind, f)
    tiny = sum(p.numel() * p.element_size() for p in base.transformer.parameters())
    print(f"tiny parts: registry loads for deblur, bokeh, deblur = {registry.loads} "
          f"(transformer incl. 2 adapters: {tiny / 2 ** 20:.2f} MiB held once)")
    return 0


@torch.no_grad()
def posterior_spread(comp, frame: np.ndarray) -> dict:
    """Issue 14 point 8: how far a seeded posterior sample (the reference) lies from the mode (ours),
    in units of the normalised latents' spread, for one frame: std_mean / latent_std."""
    from genrefocus_video.generative.convert import to_model

    x = to_model(frame, comp.pixels_per_token).to(comp.device, comp.vae.dtype)
    dist = comp.vae.encode(x).latent_dist
    mode = (dist.mode().float() - (comp.vae.config.shift_factor or 0.0)) * comp.vae.config.scaling_factor
    std = dist.std.float() * comp.vae.config.scaling_factor
    return {"posterior_std_mean": float(std.mean()), "latent_std": float(mode.std()),
            "ratio": float(std.mean() / mode.std())}


def pair_pass(comp, parts: dict, steps: int, size: tuple[int, int]) -> dict:
    """Deblur then bokeh on one shared base at `size`; seconds and peak GPU memory of the pair."""
    w, h = size
    rng = np.random.default_rng(1)
    frame = rng.random((h, w, 3), dtype=np.float32) * 0.8
    disp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    dn = DeblurNet(comp, steps=steps, adapter="deblurnet" if "deblurnet" in parts["loras"] else None)
    bn = BokehNet(comp, steps=steps, adapter="bokehnet")

    def run():
        aif, _ = dn(frame, seed=0)
        bn(aif, disp, 0.5, 20.0, seed=0)
    s, peak = _time(run, 1)
    th, tw = -(-h // comp.pixels_per_token), -(-w // comp.pixels_per_token)
    return {"net": "DeblurNet+BokehNet (one base)", "size": f"{w}x{h}", "tiled": fx.should_tile(th, tw),
            "steps": steps, "s_per_frame": s, "peak_gib": peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="force tiny random components")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default 28 real, 4 tiny)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--sizes", default="1024x1024,1920x1080")
    ap.add_argument("--flux-path", default=None)
    ap.add_argument("--lora-dir", default=None)
    ap.add_argument("--offload", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--pair", action="store_true", help="also a deblur+bokeh pass at 1080p on one base")
    ap.add_argument("--memory-only", action="store_true", help="one-FLUX memory saving only (no sampling)")
    args = ap.parse_args()
    if args.memory_only:
        return memory_report()

    t0 = time.perf_counter()
    parts, mode = _components(args)
    load_s = time.perf_counter() - t0
    comp = parts["comp"]
    real = mode.startswith("FLUX")
    steps = args.steps or (28 if real else 4)
    emb_deblur = fx.encode_prompt(comp, "a sharp photo with everything in focus") if comp.text_encoder else None
    emb_bokeh = fx.encode_prompt(comp, "an excellent photo with a large aperture") if comp.text_encoder else None
    rows = []
    rng = np.random.default_rng(0)
    for name in args.sizes.split(","):
        w, h = SIZES.get(name, tuple(int(v) for v in name.split("x")))
        frame = rng.random((h, w, 3), dtype=np.float32) * 0.8
        disp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
        th, tw = -(-h // comp.pixels_per_token), -(-w // comp.pixels_per_token)
        plan = fx.plan_grid(th, tw, [], 32)
        tiles = len(fx.tile_indices(th, tw, plan.tile, plan.overlap))
        pre_kind = "deblurnet_pre" if "deblurnet_pre" in parts["loras"] else "deblurnet"
        if pre_kind in parts["loras"]:
            loaders.activate_lora(comp.transformer, pre_kind)
            dn = DeblurNet(comp, with_predeblur=pre_kind == "deblurnet_pre" or not real, steps=steps)
            s, peak = _time(lambda: dn(frame, pre=frame, seed=0, prompt_embeds=emb_deblur), args.repeats)
            rows.append({"net": "DeblurNet" + (" +pre" if dn.with_predeblur else ""), "size": f"{w}x{h}",
                         "tiles": tiles, "steps": steps, "s_per_frame": s, "peak_gib": peak})
            print(rows[-1], flush=True)
        if "bokehnet" in parts["loras"]:
            loaders.activate_lora(comp.transformer, "bokehnet")
            bn = BokehNet(comp, steps=steps)
            s, peak = _time(lambda: bn(frame, disp, 0.5, 20.0, seed=0, prompt_embeds=emb_bokeh), args.repeats)
            rows.append({"net": "BokehNet", "size": f"{w}x{h}", "tiles": tiles, "steps": steps,
                         "s_per_frame": s, "peak_gib": peak})
            print(rows[-1], flush=True)
    spread = posterior_spread(comp, np.random.default_rng(2).random((256, 256, 3), dtype=np.float32))
    print(f"condition encoding: posterior std / latent std = {spread['ratio']:.3g} ({spread})", flush=True)
    if args.pair:
        rows.append(pair_pass(comp, parts, steps, (1920, 1080)))
        print(rows[-1], flush=True)
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    print(f"\n# generative speed — {mode}\ndevice: {dev}; torch {torch.__version__}; load {load_s:.1f}s; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| net | size | tiles | steps | s/frame | s/step | peak GPU GiB |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['net']} | {r['size']} | {r.get('tiles', '-')} | {r['steps']} | {r['s_per_frame']:.2f} | "
              f"{r['s_per_frame'] / r['steps']:.3f} | {r['peak_gib']:.2f} |")
    by = {(r["net"], r["size"]): r["s_per_frame"] for r in rows}
    for net in sorted({r["net"] for r in rows}):
        a, b = by.get((net, "1024x1024")), by.get((net, "1920x1080"))
        if a and b:
            print(f"{net}: 1080p / 1024² time ratio {b / a:.2f} (token ratio {1920 * 1088 / 1024 ** 2:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"mode": mode, "device": dev, "torch": torch.__version__,
                                               "load_s": load_s, "rows": rows, "posterior_spread": spread,
                                               "cuda": torch.cuda.is_available(),
                                               "env_flux": bool(os.environ.get(loaders.ENV_FLUX))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

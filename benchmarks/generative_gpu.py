"""Generative DeblurNet/BokehNet speed: seconds per frame and peak GPU memory at 1024² and 1080p.

With a CUDA GPU and local weights (FLUX.1-dev folder + Genfocus LoRAs, via --flux-path/--lora-dir or
GENREFOCUS_FLUX_PATH/GENREFOCUS_LORA_DIR) it times the real models (bf16). Otherwise it times the
*code path* with tiny random FLUX-shaped components that keep FLUX's geometry (8x VAE, 2x2 packing,
32-token tiles) — and says so in its output: those numbers measure tiling/conditioning overhead,
not FLUX.1-dev. Sizes are tiled exactly as production (1024² -> 3x3 tiles, 1080p -> 3x5 tiles).

    .venv/bin/python benchmarks/generative_gpu.py [--tiny] [--steps N] [--json out.json]
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
    args = ap.parse_args()

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
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    print(f"\n# generative speed — {mode}\ndevice: {dev}; torch {torch.__version__}; load {load_s:.1f}s; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| net | size | tiles | steps | s/frame | s/step | peak GPU GiB |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['net']} | {r['size']} | {r['tiles']} | {r['steps']} | {r['s_per_frame']:.2f} | "
              f"{r['s_per_frame'] / r['steps']:.3f} | {r['peak_gib']:.2f} |")
    by = {(r["net"], r["size"]): r["s_per_frame"] for r in rows}
    for net in sorted({r["net"] for r in rows}):
        a, b = by.get((net, "1024x1024")), by.get((net, "1920x1080"))
        if a and b:
            print(f"{net}: 1080p / 1024² time ratio {b / a:.2f} (token ratio {1920 * 1088 / 1024 ** 2:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"mode": mode, "device": dev, "torch": torch.__version__,
                                               "load_s": load_s, "rows": rows,
                                               "cuda": torch.cuda.is_available(),
                                               "env_flux": bool(os.environ.get(loaders.ENV_FLUX))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

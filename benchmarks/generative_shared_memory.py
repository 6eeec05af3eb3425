"""Peak memory of one job with DeblurNet and BokehNet: one FLUX base per process vs one per stage.

    python benchmarks/generative_shared_memory.py [--base /work/wt/base] [--repeats 2] [--json OUT]

A small random FLUX (generative/tiny.py at a larger width: 4 dual + 8 single blocks, 8 heads x 64,
~65 M transformer parameters, float32) is written once as a diffusers folder with two Genfocus
LoRA files. Then the same CLI job — 4 EXR frames 64x48, ``--deblur deblurnet`` with estimated
depth (the deblur runs in the head, before depth) and ``--bokeh bokehnet`` (the tail), in-process
executor, 1 step — runs in a fresh process per tree, alternating this checkout and the baseline
checkout (`--base`, the code before the shared registry), and reports each run's peak RSS
(``ru_maxrss``) and how many times a FLUX base was loaded (``loaders.load_flux`` calls).

Neither tree would run FLUX on the CPU by default (it needs CUDA): this checkout is told
``--generative-device cpu``; the baseline, which has no such parameter, gets its device check
replaced by the CPU in the child process. Everything else (from_pretrained, LoRA injection,
sampling) is each tree's own code.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
import torch
from genrefocus_video.generative import loaders
calls = []
_load = loaders.load_flux
def counting(*a, **k):
    calls.append(1)
    return _load(*a, **k)
loaders.load_flux = counting
args = json.loads(sys.argv[1])
if args["patch_device"]:  # the baseline has no CPU switch: its CUDA check answers "cpu" here
    loaders.pick_device = lambda kind, allow_cpu=False: torch.device("cpu")
from genrefocus_video.cli import main
rc = main(args["argv"])
out = {"rc": rc, "loads": len(calls), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
try:  # this checkout: the shared base's adapter switches and the time stages waited for its lock
    from genrefocus_video.generative.shared import flux_registry
    out["bases"] = flux_registry().stats()["bases"]
except ImportError:
    pass
print(json.dumps(out))
"""


def make_weights(root: Path) -> int:
    """The small random FLUX folder + LoRA files + 4 input frames; returns transformer parameters."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from genrefocus_video.generative.tiny import save_components, tiny_components, write_genfocus_lora
    from genrefocus_video.io.images import write_image

    comp = tiny_components(0, layers=4, single_layers=8, heads=8, head_dim=64)
    save_components(comp, root / "flux")
    (root / "loras").mkdir()
    for i, name in enumerate(("deblurNet.safetensors", "bokehNet.safetensors")):
        write_genfocus_lora(comp.transformer, str(root / "loras" / name), seed=i + 1, scale=0.05)
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(str(root / f"in.{i:04d}.exr"), rng.random((48, 64, 3)).astype(np.float32))
    return sum(p.numel() for p in comp.transformer.parameters())


def run_tree(tree: Path, root: Path, out: str, new: bool) -> dict:
    argv = ["render", str(root / "in.%04d.exr"), "-o", str(root / out), "--no-progress", "--executor", "local",
            "--deblur", "deblurnet", "--bokeh", "bokehnet", "--depth-source", "motion", "--depth-smoothing", "0",
            "--focus-disparity", "0.5", "--k", "4", "--steps", "1", "--flux-path", str(root / "flux"),
            "--lora-dir", str(root / "loras")] + (["--generative-device", "cpu"] if new else [])
    env = dict(os.environ, PYTHONPATH=str(tree), RAY_AUTH_MODE="disabled")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps({"argv": argv, "patch_device": not new})],
                          capture_output=True, text=True, env=env, cwd=str(tree))
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"{tree}: child failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="/work/wt/base", help="the baseline checkout (before the registry)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    load0 = os.getloadavg()
    rows: dict[str, list] = {"base": [], "shared": []}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        params = make_weights(root)
        for r in range(args.repeats):  # interleaved, so both see the same machine load
            rows["base"].append(run_tree(Path(args.base), root, f"b{r}.%04d.exr", new=False))
            rows["shared"].append(run_tree(REPO, root, f"s{r}.%04d.exr", new=True))
    peak = {k: min(x["peak_rss_mib"] for x in v) for k, v in rows.items()}
    result = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "machine": platform.platform(),
              "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load0],
              "load_after": [round(x, 2) for x in os.getloadavg()], "transformer_params": params,
              "transformer_fp32_mib": round(params * 4 / 2 ** 20, 1), "runs": rows,
              "peak_rss_mib": {k: round(v, 1) for k, v in peak.items()},
              "ratio_shared_over_base": round(peak["shared"] / peak["base"], 3),
              "saved_mib": round(peak["base"] - peak["shared"], 1)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if all(x["rc"] == 0 for v in rows.values() for x in v) else 1


if __name__ == "__main__":
    raise SystemExit(main())

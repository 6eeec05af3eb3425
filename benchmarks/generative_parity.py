"""Issue 14: relative error of generative.flux.sample against the Genfocus reference sampler.

The reference is re-stated in tests/test_generative_reference.py; this script runs the cases of the
issue's table on tiny random FLUX parts for whichever package is first on PYTHONPATH (so the same
script measures main and a branch):

    PYTHONPATH=/path/to/checkout .venv/bin/python benchmarks/generative_parity.py [TESTS_REPO_ROOT]
"""
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
TMP = Path(tempfile.mkdtemp(prefix="gen_parity_"))
from safetensors.torch import load_file, save_file
import test_generative_reference as R  # noqa: E402
from genrefocus_video.generative import loaders
from genrefocus_video.generative.tiny import tiny_components, write_genfocus_lora
comp = tiny_components(5)
for th, tw, label in [(16, 24, "untiled 256x384"), (32, 48, "tiled 512x768"), (30, 52, "480x832")]:
    images, noise = R._case(comp, th, tw, 2); emb = R._emb(comp)
    ref = R.ref_generate(comp, images, [R.PREDEBLUR, (0, 0)], th=th, tw=tw, emb=emb, steps=2, guidance=3.5, noise=noise)
    ours = R._ours(comp, images, ["predeblur", (0, 0)], th, tw, emb, noise)
    print(f"{label}: {R._rel(ours, ref):.2e}")
o, r = tiny_components(6), tiny_components(6)
write_genfocus_lora(o.transformer, str(TMP / "plain.safetensors"), rank=4, seed=2, scale=0.3)
st = load_file(str(TMP / "plain.safetensors"))
st.update({k.replace("lora_A.weight", "alpha"): torch.tensor(8.0) for k in list(st) if k.endswith("lora_A.weight")})
save_file(st, str(TMP / "alpha.safetensors"))
loaders.load_lora(o.transformer, Path(str(TMP / "alpha.safetensors")), "bokehnet")
s, _ = loaders.read_lora_state_dict(Path(str(TMP / "plain.safetensors")))
r.transformer.load_lora_adapter(s, adapter_name="ref", prefix="transformer")
images, noise = R._case(o, 16, 24, 2, seed=4); emb = R._emb(o)
ref = R.ref_generate(r, images, [(0, 0), (0, 0)], th=16, tw=24, emb=emb, steps=2, guidance=1.0, noise=noise)
ours = R._ours(o, images, [(0, 0), (0, 0)], 16, 24, emb, noise, guidance=1.0)
print(f"untiled, alpha=2*rank LoRA: {R._rel(ours, ref):.2e}")

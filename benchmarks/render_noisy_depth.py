"""Renderer quality when the depth carries a little noise, against a baseline checkout.

    .venv/bin/python benchmarks/render_noisy_depth.py --base ../base [--seeds 11 12 ...] [--json OUT]

Estimated, smoothed or compressed depth is never piecewise constant: every surface carries some
noise. Far below the blur's resolution (0.2 % of the disparity is ±0.01 px of blur at K 8), it
should not change the picture. Per lfbench scene (render_common.make_case: seed × focus
background / middle / near, disc, 320×240, K 20 unless given) the GT disparity is multiplied by
exp(σ·N(0, 1)) per pixel (a fixed draw per scene) for each σ, rendered by this checkout and by
`--base` (each in its own child process on the same inputs), and scored against the light-field
ground truth (PSNR / boundary PSNR, lfbench.metrics). σ = 0 is the exact-depth render; each
noisy render is also scored against its own tree's exact-depth render (consistency: noise far below
the blur's resolution should leave the picture as it was).
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
FOCI = ("background", "middle", "near")

CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
import render_common as rc
from genrefocus_video import render_bokeh
inputs = np.load(sys.argv[1])
out, exact = {}, {}
for key in sorted(inputs.files, key=lambda k: (k.rsplit("_", 1)[0], float(k.rsplit("_", 1)[1]) if k.startswith("disp_") else 0)):
    if not key.startswith("disp_"):
        continue
    name = key[5:]
    seed, focus, sigma = name.split("_", 2)
    case = rc.make_case(int(seed), tuple(inputs["size"]), focus, "disc", float(inputs["k"]))
    pred = render_bokeh(case.aif, inputs[key], case.focus, case.k, "disc")
    scene = f"{seed}_{focus}"
    if float(sigma) == 0:
        exact[scene] = pred
    enc = lambda x: np.clip(rc.srgb_encode(np.clip(x, 0, None)), 0, 1)
    out[name] = list(rc.score(case, pred)) + [rc.lfm.psnr(enc(exact[scene]), enc(pred)) if float(sigma) else None]
print(json.dumps(out))
"""


def prepare(work: Path, seeds: list[int], sigmas: list[float], size: tuple[int, int], k: float) -> Path:
    """The noisy disparities of every scene × σ in one .npz (both checkouts read the same)."""
    sys.path.insert(0, str(BENCH))
    import render_common as rc

    arrays: dict[str, np.ndarray] = {"size": np.array(size), "k": np.array(k)}
    for seed in seeds:
        for focus in FOCI:
            case = rc.make_case(seed, size, focus, "disc", k)
            noise = np.random.default_rng(1000 + seed).standard_normal(case.disparity.shape).astype(np.float32)
            for s in sigmas:
                arrays[f"disp_{seed}_{focus}_{s:g}"] = (case.disparity * np.exp(s * noise)).astype(np.float32)
    path = work / "inputs.npz"
    np.savez(path, **arrays)
    return path


def run_child(checkout: Path, inputs: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    res = subprocess.run([sys.executable, "-c", CHILD, str(inputs), str(checkout / "benchmarks")], env=env,
                         check=True, capture_output=True, text=True, cwd=inputs.parent)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _mean_finite(v: list) -> float:
    """Mean of the finite values (identical renders score an infinite PSNR: capped at 100 dB)."""
    v = [min(float(x), 100.0) for x in v if x is not None]
    return float(np.mean(v)) if v else float("nan")


def summarise(base: dict, new: dict, sigmas: list[float]) -> list[dict]:
    rows = []
    for s in sigmas:
        keys = [k for k in new if k.endswith(f"_{s:g}")]
        b = np.array([base[k][:2] for k in keys])
        n = np.array([new[k][:2] for k in keys])
        rows.append({"sigma": s, "cases": len(keys), "base_psnr": float(b[:, 0].mean()),
                     "new_psnr": float(n[:, 0].mean()), "base_boundary": float(b[:, 1].mean()),
                     "new_boundary": float(n[:, 1].mean()),
                     "new_better": int(np.sum(n[:, 0] > b[:, 0] + 1e-9)),
                     "new_worse": int(np.sum(n[:, 0] < b[:, 0] - 1e-9)),
                     "worst_case_delta": float((n[:, 0] - b[:, 0]).min()),
                     "base_vs_own_exact": _mean_finite([base[k][2] for k in keys]),
                     "new_vs_own_exact": _mean_finite([new[k][2] for k in keys])})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the baseline checkout (e.g. ../base)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(11, 21)))
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.002, 0.01, 0.03])
    p.add_argument("--size", default="320x240")
    p.add_argument("--k", type=float, default=20.0)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rnd_") as work:
        inputs = prepare(Path(work), a.seeds, a.sigmas, size, a.k)
        base, new = run_child(Path(a.base).resolve(), inputs), run_child(REPO, inputs)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
              "load": [load_before, os.getloadavg()], "seeds": a.seeds, "size": a.size, "k": a.k,
              "rows": summarise(base, new, a.sigmas), "cases": {"base": base, "new": new}}
    print("| σ (log disparity) | cases | PSNR base → new | boundary PSNR base → new | new better / worse | worst Δ "
          "| PSNR against the same tree's exact-depth render, base → new |")
    print("|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        print(f"| {r['sigma']:g} | {r['cases']} | {r['base_psnr']:.3f} → {r['new_psnr']:.3f} | "
              f"{r['base_boundary']:.3f} → {r['new_boundary']:.3f} | {r['new_better']} / {r['new_worse']} | "
              f"{r['worst_case_delta']:+.3f} dB | {r['base_vs_own_exact']:.2f} → {r['new_vs_own_exact']:.2f} dB |")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

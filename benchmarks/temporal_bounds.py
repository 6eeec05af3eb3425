"""How far could *any* temporal averaging of the depth go on issue 4's criterion? Oracle bounds.

Run:  .venv/bin/python benchmarks/temporal_bounds.py [--k 16] [--size 384x216] [--frames 24] [--out DIR]

Issue 4 asks that depth smoothing halve the refocused clip's temporal instability (lfbench
score-video) against the noisy input. The instability metric compares the render's frame-to-frame
change with the ground truth's, and the clip racks focus, so a depth error that does not change at
all still adds instability (a scale error of 2 %, the same in every frame, adds 7 % here). A smoother
that removes flicker but keeps some error cannot reach the truth's instability.

The oracles below know the noise exactly. With E_t = log(d_t / g_t) the per-frame log error of the
noisy disparity d_t against the truth g_t, an oracle outputs g_t exp(sum_tau w_tau E_tau): a perfectly
motion-compensated weighted average of the noisy maps (no flow error, no gating, no smearing). Each
weighting is the best of its kind:

* causal EMA, w = (1 - s) s^(t - tau) over tau <= t: the memory of the shipped smoother at strength s;
* causal running mean, w = 1 / (t + 1) over tau <= t: the minimum-variance causal average of
  independent per-frame errors (unbounded memory: a chunked farm render could not reproduce it);
* two-sided EMA, w ~ s^|t - tau| over the whole clip: an offline zero-phase smoother;
* whole-clip mean, w = 1 / T over every frame: the minimum-variance average of all the clip holds.

"ours" is the shipped TemporalDepthSmoother (strength s, fine flow) on the same noisy maps. It also
denoises spatially, so it can beat an oracle on white noise. Noise models: "estimator" at 1, 2 and 4
times its default (tests/temporal_fixtures.estimator_noise: per-frame global scale, shift,
low-frequency warps, local noise), "iid" (temporal_quality.noisy_depth: 10 % per pixel + a smooth
6 % field) and white log-normal noise per pixel (a path-traced depth pass) at 10 % and 40 %.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import temporal_quality as tq  # noqa: E402  (sets up sys.path for the repo, tests/ and lfbench)


def causal_ema(errors: Sequence[np.ndarray], s: float) -> list[np.ndarray]:
    """acc_t = s acc_{t-1} + (1 - s) E_t, acc_0 = E_0 (the shipped smoother's start)."""
    acc, out = None, []
    for e in errors:
        acc = e if acc is None else s * acc + (1.0 - s) * e
        out.append(acc)
    return out


def running_mean(errors: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Mean of E_0..E_t: the minimum-variance causal average of independent errors."""
    c = np.cumsum(np.stack(errors), axis=0)
    return [c[t] / (t + 1) for t in range(len(errors))]


def two_sided_ema(errors: Sequence[np.ndarray], s: float) -> list[np.ndarray]:
    """Weights proportional to s^|t - tau|: forward EMA + backward EMA - the doubly counted current
    term, renormalised (exact for an infinite clip; near the ends the one-sided parts start at E_0
    and E_{T-1} as the causal EMA does)."""
    a = 1.0 - s
    fwd = causal_ema(errors, s)
    bwd = causal_ema(errors[::-1], s)[::-1]
    return [(f + b - a * e) / (2.0 - a) for f, b, e in zip(fwd, bwd, errors)]


def whole_clip_mean(errors: Sequence[np.ndarray]) -> list[np.ndarray]:
    m = np.mean(np.stack(errors), axis=0)
    return [m for _ in errors]


def white_noise(sigma: float) -> Callable[[np.ndarray, int], np.ndarray]:
    def f(g: np.ndarray, t: int) -> np.ndarray:
        n = np.random.default_rng(500 + t).standard_normal(g.shape).astype(np.float32)
        return (g * np.exp(sigma * n)).astype(np.float32)
    return f


def scaled_estimator(m: float) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda g, t: tq.scaled_estimator_noise(g, t, m)


MODELS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "estimator x1": scaled_estimator(1.0),
    "estimator x2": scaled_estimator(2.0),
    "estimator x4": scaled_estimator(4.0),
    "iid (10 % + 6 % field)": lambda g, t: tq.noisy_depth(g, t),
    "white 10 %": white_noise(0.10),
    "white 40 %": white_noise(0.40),
}


ORACLES = ("causal EMA", "causal running mean", "two-sided EMA", "whole-clip mean")


def plot_bounds(report: dict, path: str) -> None:
    """Grouped bars per noise model: the floor, ours and the four oracles, with the issue's 0.5 line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    series = [("renderer floor (exact depth)", [r["floor_over_noisy"] for r in rows], "#bbbbbb"),
              ("ours (shipped smoother)", [r["ours"]["ratio"] for r in rows], "#d62728")]
    colours = ("#9ecae1", "#4292c6", "#2171b5", "#08306b")
    series += [(f"oracle: {o}", [r[o]["ratio"] for r in rows], c) for o, c in zip(ORACLES, colours)]
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    width = 0.8 / len(series)
    for k, (label, values, colour) in enumerate(series):
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in range(len(rows))], values, width, label=label,
               color=colour)
    ax.axhline(0.5, color="black", linestyle="--", linewidth=1, label="issue 4's target (0.5)")
    ax.set_xticks(range(len(rows)), [r["model"] for r in rows], fontsize=8)
    ax.set_ylabel("instability ÷ the noisy input's")
    ax.set_ylim(0, 1.12)
    clip = report["clip"]
    ax.set_title(f"lfbench clip {clip['size']}×{clip['frames']}, K {clip['k']:g}: what any temporal average of the "
                 "depth could reach", fontsize=10)
    ax.legend(fontsize=7, ncol=4, loc="upper center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tq.add_clip_args(p)
    p.add_argument("--strength", type=float, default=0.8)
    p.add_argument("--plot", default=None, help="also write the bar chart here (PNG)")
    p.add_argument("--replot", default=None, metavar="JSON", help="only draw --plot from an earlier bounds.json")
    a = p.parse_args()
    if a.replot:
        plot_bounds(json.loads(Path(a.replot).read_text()), a.plot or str(Path(a.replot).with_suffix(".png")))
        return 0
    t0 = time.perf_counter()
    work, c, gt, floor = tq.clip_with_floor(a, "temporal_bounds_")
    f0 = floor["instability"]
    oracles = dict(zip(ORACLES, (lambda E: causal_ema(E, a.strength), running_mean,
                                 lambda E: two_sided_ema(E, a.strength), whole_clip_mean)))
    rows = []
    for name, noise in MODELS.items():
        nz = [noise(g, t) for t, g in enumerate(gt)]
        n = tq.render_and_score(c, nz, "noisy", work)
        row = {"model": name, "noisy": n, "floor_over_noisy": f0 / n["instability"]}
        ours = tq.render_and_score(c, tq.smooth_all(c, nz, a.strength, flow="fine"), "ours", work)
        row["ours"] = {**ours, "ratio": ours["instability"] / n["instability"]}
        errors = [np.log(np.maximum(d, 1e-6) / g).astype(np.float32) for d, g in zip(nz, gt)]
        for oname, weigh in oracles.items():
            maps = [(g * np.exp(e)).astype(np.float32) for g, e in zip(gt, weigh(errors))]
            r = tq.render_and_score(c, maps, "oracle", work)
            row[oname] = {**r, "ratio": r["instability"] / n["instability"]}
        rows.append(row)
        print(f"{name:24s} noisy {n['instability']:.5f} ({n['psnr']:.2f} dB)  floor/noisy {row['floor_over_noisy']:.3f}  "
              f"ours {row['ours']['ratio']:.3f} ({ours['psnr']:.2f} dB)  " +
              "  ".join(f"{o} {row[o]['ratio']:.3f}" for o in oracles), flush=True)
    md = [f"| noise model | floor ÷ noisy | ours ({a.strength:g}, fine flow) | oracle causal EMA ({a.strength:g}) | "
          "oracle causal running mean | oracle two-sided EMA | oracle whole-clip mean |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['floor_over_noisy']:.3f} | {r['ours']['ratio']:.3f} ({r['ours']['psnr']:.2f} dB) | " +
                  " | ".join(f"{r[o]['ratio']:.3f} ({r[o]['psnr']:.2f} dB)" for o in oracles) + " |")
    report = {"clip": vars(a), "floor": floor, "rows": rows, "seconds": time.perf_counter() - t0}
    (work / "bounds.md").write_text("\n".join(md) + "\n")
    (work / "bounds.json").write_text(json.dumps(report, indent=1, default=float))
    plot_bounds(report, a.plot or str(work / "bounds.png"))
    print("\n".join(md))
    print(f"total {report['seconds']:.0f} s; report {work / 'bounds.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does flow-guided depth smoothing help on the per-frame errors real estimators make? (issue 15, item 3)

Run:  .venv/bin/python benchmarks/temporal_error_models.py [--seeds 3 5] [--tracks fixed rack follow]
      [--size 256x144] [--frames 24] [--modes file estimate oracle vote] [--json OUT.json]
      [--model-kw '{"edges": {"px": 5}}'] (error-model parameters other than the defaults)
      [--draws per-clip] (each clip its own noise draw; default: every clip the models' default one)

Per lfbench clip (seed x focus track) the refocused clip (render_bokeh at the clip's focus track)
is scored with lfbench `score-video` (temporal instability along the GT flow, mean PSNR) from:
exact depth (the renderer's floor), exact depth smoothed, and per error model of
tests/depth_error_models.py (the issue's list by default; `--models` may also name the extras outside
it, EXTRA_ERROR_MODELS, not held to the criterion) the noisy depth unsmoothed and smoothed at
strengths 0.5 and 0.8, once as a depth file (scale known) and once as an estimate
(`affine_ambiguous`: scale and shift only known up to an affine map, as the motion / learned sources
report); `oracle`: the bound of a causal average with the smoother's memory (exact per-frame errors
averaged, no flow); `vote` (the models that only move edges, `DISPLACEMENTS`): a temporal vote on
where the edges lie, with that memory (each frame's exact map with its edges moved by the weighted
median of the displacements so far: never a depth between two surfaces, no flow error). The vote is a
reference, not a bound: it sees no image, and the smoother's edge selection, which does, beats it on
most lfbench clips (docs/benchmarks/temporal.md). Flow: DIS medium. Draws: by default every clip sees
the same noise sequence of each model (its default seed), so the grid's rows of one model are one draw
on 21 scenes; `--draws per-clip` gives each clip its own (the 2026-12-06 per-clip grid: 486 of 504 rows
instead of 498).

Exact rows also give the picture's change (`picture_psnr`: PSNR of the smoothed exact render against
the exact render; higher = less changed) and the rows' resolution (`resolution`: dPSNR of exact depth
scaled by 0.999 and 1.001, a change no eye sees: the exact render's own error against the light field
is systematic, so even this moves lfbench's PSNR by up to 0.04 dB on some clips).

Columns: removed = share of the noise's excess instability that smoothing removes,
(I_noisy - I_smoothed) / (I_noisy - I_exact); dPSNR = smoothed - unsmoothed mean PSNR (dB).
Criterion (issue 15): removed >= 50 % and dPSNR >= -0.05 dB on every row; exact depth smoothed
changes PSNR by <= 0.05 dB. A row whose noise adds almost no flicker (excess below NO_FLICKER of
the exact render's instability: the outlier model on a draw with no outlier frame) has no share to
remove ("n/a"): it is met when smoothing does not hurt, dPSNR >= -0.05 dB (the removed share of a
tiny excess swings from 50 % to 240 % with no visible change).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENREFOCUS_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(SHARED / "lfbench"))

from genrefocus_video.depth.temporal import TemporalDepthSmoother  # noqa: E402
from genrefocus_video.depth.temporal_ahead import Ahead  # noqa: E402
from genrefocus_video.flow import consistency, forward_backward  # noqa: E402
from depth_error_models import DISPLACEMENTS, ERROR_MODELS, EXTRA_ERROR_MODELS, displaced, with_draw  # noqa: E402
from temporal_fixtures import LfClip  # noqa: E402
from temporal_quality import render_and_score  # noqa: E402
from lfbench.video import TRACKS  # noqa: E402

MODELS = {**ERROR_MODELS, **EXTRA_ERROR_MODELS}  # the list first; the extras only when named


def make_clip(out: Path, size: str, frames: int, seed: int, track: str, k: float) -> LfClip:
    subprocess.run([sys.executable, "-m", "lfbench.cli", "video", "--seed", str(seed), "--size", size,
                    "--frames", str(frames), "--fps", "24", "--track", track, "--k", f"{k:g}", "--shape", "disc",
                    "--out", str(out)], cwd=SHARED / "lfbench", check=True, capture_output=True)
    return LfClip(out)


def run_info(**extra) -> dict:
    """A report's header: when and where it ran, the load before, and `extra` (the run's settings)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
            "cpus": os.cpu_count(), "load_before": os.getloadavg(), **extra}


def close_report(report: dict, path: Optional[str]) -> None:
    """Record the load after the run and write `report` to `path` (JSON) when one is given."""
    report["load_after"] = os.getloadavg()
    if path:
        Path(path).write_text(json.dumps(report, indent=1))


def add_grid_clip_args(p: argparse.ArgumentParser) -> None:
    """--size / --frames / --k of the lfbench grid clips (what `lfbench_clips` makes; the single-clip
    smoothing studies take theirs, with --seed and --out, from temporal_quality.add_clip_args)."""
    p.add_argument("--size", default="256x144")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--k", type=float, default=8.0)


def lfbench_clips(work: Path, seeds: list[int], tracks: list[str], size: str, frames: int,
                  k: float) -> Iterator[tuple[int, str, LfClip]]:
    """(seed, track, clip) for every lfbench clip of the grid, each made under `work` when reached."""
    for seed in seeds:
        for track in tracks:
            yield seed, track, make_clip(work / f"clip_{seed}_{track}", size, frames, seed, track, k)


def clip_flows(c: LfClip) -> list:
    """Per frame t (None at frame 0): DIS flow t -> t-1 with its validity at t's pixels, and flow
    t-1 -> t with its validity at t-1's pixels (frame t-1's look-ahead); computed once per clip."""
    out, prev = [None], c.aif(0)
    for t in range(1, c.frames):
        img = c.aif(t)
        f, b, v = forward_backward(img, prev, "medium")
        out.append((f, v, b, consistency(b, f)))
        prev = img
    return out


LOOKAHEAD = [True]  # --lookahead: the smoother sees frame t + 1 (depth/temporal_ahead.py)
SMOOTHER_KW: dict = {}  # --kw: smoother options for experiments (the shipped defaults when empty)
MODEL_KW: dict = {}  # --model-kw: per error model, keyword arguments other than its defaults


def smooth(c: LfClip, flows: list, depths: list, strength: float, estimate: bool) -> list:
    sm = TemporalDepthSmoother(strength)
    for k, v in SMOOTHER_KW.items():  # attributes of the same names
        if not hasattr(sm, k):
            raise SystemExit(f"--kw: the smoother has no option {k!r}")
        setattr(sm, k, v)
    res = []
    for t in range(c.frames):
        f, v = flows[t][:2] if flows[t] is not None else (None, None)
        ahead = None
        if LOOKAHEAD[0] and t + 1 < c.frames:
            ahead = Ahead(depths[t + 1], c.aif(t + 1), flows[t + 1][2], flows[t + 1][3])
        s, _, _ = sm(c.aif(t), depths[t], None, f, v, affine_ambiguous=estimate, ahead=ahead)
        res.append(s)
    return res


def oracle(gt: list, noisy: list, strength: float) -> list:
    """The bound of a causal average with the smoother's memory r = sqrt(s): g_t exp(A_t), A_t the
    exponential moving average (r) of the exact per-frame log errors log(d_t / g_t) (no flow error,
    no gating, nothing smeared; errors not moved along the motion, as they are drawn per frame)."""
    r, acc, out = math.sqrt(min(max(strength, 0.0), 0.95)), None, []
    for g, d in zip(gt, noisy):
        e = np.log(np.maximum(d, 1e-6) / np.maximum(g, 1e-6))
        acc = e if acc is None else r * acc + (1.0 - r) * e
        out.append((g * np.exp(acc)).astype(np.float32))
    return out


def vote(gt: list, moves: list[int], strength: float) -> list:
    """A temporal vote on where the edges lie, for errors that only move them (`moves`:
    frame t's displacement, px, > 0 grown): frame t is its exact map with the edges moved by the
    weighted median of moves[0..t], weights as the smoother's state holds its observations (memory
    r = sqrt(s): (1 - r) r^(t - i), the first frame's r^t). An average of the maps (`oracle`) puts
    depths between two surfaces; a vote never does. It uses the true displacements but no image."""
    r = math.sqrt(min(max(strength, 0.0), 0.95))
    reach = max((abs(k) for k in moves), default=0)
    out = []
    for t, g in enumerate(gt):
        w = np.array([r ** t] + [(1.0 - r) * r ** (t - i) for i in range(1, t + 1)])
        k = np.array(moves[:t + 1])
        grown = [j for j in range(1, reach + 1) if w[k >= j].sum() > 0.5]
        shrunk = [j for j in range(1, reach + 1) if w[k <= -j].sum() > 0.5]
        out.append(displaced(g, max(grown) if grown else -max(shrunk) if shrunk else 0))
    return out


RESOLUTION_SCALES = (0.999, 1.001)  # exact depth scaled by +-0.1 %: the exact rows' PSNR resolution


def picture_psnr(folder: Path, reference: Path, frames: int) -> float:
    """Mean PSNR (dB) of the renders in `folder` against those in `reference` (render_and_score's
    .npy frames): how much smoothing changed the picture, whatever the ground truth says."""
    from lfbench.metrics import psnr

    return float(np.mean([psnr(np.load(reference / f"{t:04d}.npy"), np.load(folder / f"{t:04d}.npy"))
                          for t in range(frames)]))


def bench_clip(c: LfClip, work: Path, models: list[str], strengths: list[float],
               modes: tuple[str, ...] = ("file", "estimate"), draw: int = 0) -> dict:
    """One clip's rows; `draw`: every error model's draw moved this far from its default (0: the
    default draws, the same noise sequence on every clip)."""
    flows = clip_flows(c)
    gt = [c.disparity(t) for t in range(c.frames)]
    exact = render_and_score(c, gt, "exact", work)
    out = {"exact": exact, "exact_smoothed": {}, "models": {}, "resolution": {}}
    for f in RESOLUTION_SCALES:  # what a change far below any visible one does to the exact row's PSNR
        r = render_and_score(c, [(g * np.float32(f)).astype(np.float32) for g in gt], f"exact_x{f}", work)
        out["resolution"][str(f)] = {"dpsnr": r["psnr"] - exact["psnr"],
                                     "picture_psnr": picture_psnr(work / f"exact_x{f}", work / "exact", c.frames)}
    for s in strengths:
        r = render_and_score(c, smooth(c, flows, gt, s, False), f"exact_s{s}", work)
        out["exact_smoothed"][str(s)] = {**r, "dpsnr": r["psnr"] - exact["psnr"],
                                         "picture_psnr": picture_psnr(work / f"exact_s{s}", work / "exact", c.frames)}
    for name in models:
        kw = with_draw(MODELS[name], draw, MODEL_KW.get(name)) if draw else MODEL_KW.get(name, {})
        noisy = [MODELS[name](gt[t], t, **kw) for t in range(c.frames)]
        base = render_and_score(c, noisy, f"{name}_noisy", work)
        row = {"noisy": base}
        for mode in modes:
            if mode == "vote" and name not in DISPLACEMENTS:
                continue  # a vote on where edges lie only applies to errors that only move them
            for s in strengths:
                if mode == "oracle":
                    maps = oracle(gt, noisy, s)
                elif mode == "vote":
                    maps = vote(gt, [DISPLACEMENTS[name](t, **kw) for t in range(c.frames)], s)
                else:
                    maps = smooth(c, flows, noisy, s, mode == "estimate")
                r = render_and_score(c, maps, f"{name}_{mode}_{s}", work)
                excess = base["instability"] - exact["instability"]
                r["removed"] = (base["instability"] - r["instability"]) / excess if excess > 1e-9 else float("nan")
                r["dpsnr"] = r["psnr"] - base["psnr"]
                row[f"{mode}_{s}"] = r
        out["models"][name] = row
        print(f"  {name}: " + ", ".join(f"{k} {v['removed']*100:.0f}% {v['dpsnr']:+.2f}dB"
                                         for k, v in row.items() if k != "noisy"), flush=True)
    return out


NO_FLICKER = 0.05  # excess instability below this share of the exact render's: no temporal noise to remove


def row_met(cell: dict, noisy: dict, exact: dict) -> tuple[bool, bool]:
    """(met, applicable): a row of the criterion above; a row with no flicker added to remove is
    met when smoothing costs no PSNR (dPSNR >= -0.05 dB)."""
    if noisy["instability"] - exact["instability"] < NO_FLICKER * exact["instability"]:
        return cell["dpsnr"] >= -0.05, False
    return cell["removed"] >= 0.5 and cell["dpsnr"] >= -0.05, True


def markdown(report: dict, strengths: list[float], modes: list[str]) -> str:
    cols = [f"{m} {s}" for m in modes for s in strengths]
    lines = ["| clip | model | excess (noisy − exact) | " + " | ".join(f"{c}: removed, ΔPSNR" for c in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for clip, r in report["clips"].items():
        ex = ", ".join(f"{s}: {v['dpsnr']:+.3f} dB (picture {v['picture_psnr']:.1f} dB)"
                       for s, v in r["exact_smoothed"].items())
        ex += "; exact depth × " + ", ".join(f"{f}: {v['dpsnr']:+.3f} dB (picture {v['picture_psnr']:.1f} dB)"
                                           for f, v in r["resolution"].items())
        lines.append(f"| {clip} | exact depth | — | exact depth smoothed ΔPSNR {ex} |" + " |" * (len(cols) - 1))
        for m, row in r["models"].items():
            cells = []
            for mode in modes:
                for s in strengths:
                    v = row.get(f"{mode}_{s}")
                    if v is None:  # `vote` on a model that does more than move edges
                        cells.append("—")
                        continue
                    ok, applicable = row_met(v, row["noisy"], r["exact"])
                    share = f"{v['removed']*100:.0f} %" if applicable else "n/a"
                    cells.append(f"{share}, {v['dpsnr']:+.2f} dB{'' if ok else ' ✗'}")
            excess = row["noisy"]["instability"] - r["exact"]["instability"]
            lines.append(f"| {clip} | {m} | {excess:.5f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def clip_draw(seed: int, track: str) -> int:
    """The per-clip draws' offset for lfbench `seed` and `track` (lfbench's TRACKS order, so a clip
    gets the same draw whatever else runs): 10 000 apart, so no clip's draws (seed + frame) meet
    another's or a model's default ones (3100-4500)."""
    return 10_000 * (len(TRACKS) * seed + TRACKS.index(track) + 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 5])
    p.add_argument("--tracks", nargs="+", default=list(TRACKS), choices=TRACKS)
    p.add_argument("--models", nargs="*", default=list(ERROR_MODELS), choices=list(MODELS),
                   help="error models (default: the issue's list; none: the exact rows only; "
                        f"outside the list: {', '.join(EXTRA_ERROR_MODELS)})")
    p.add_argument("--strengths", type=float, nargs="+", default=[0.5, 0.8])
    add_grid_clip_args(p)
    p.add_argument("--json", default=None, help="write the full report here")
    p.add_argument("--modes", nargs="+", default=["file", "estimate"], choices=["file", "estimate", "oracle", "vote"],
                   help="depth as a file, as an estimate (affine_ambiguous), the causal-average bound, "
                        "and/or the edge vote (edge-moving models only)")
    p.add_argument("--lookahead", choices=["on", "off"], default="on",
                   help="give the smoother frame t + 1 (its one-frame look-ahead) or not (causal)")
    p.add_argument("--kw", default="{}", help="JSON smoother options, e.g. '{\"gate_high\": 4}'")
    p.add_argument("--model-kw", default="{}",
                   help="JSON error-model parameters per model, e.g. '{\"edges\": {\"px\": 5}}'")
    p.add_argument("--draws", choices=["shared", "per-clip"], default="shared",
                   help="shared: every clip sees each model's default noise draw (the grid the criterion "
                        "was measured on); per-clip: each clip its own draw (clip_draw)")
    a = p.parse_args()
    SMOOTHER_KW.update(json.loads(a.kw))
    LOOKAHEAD[0] = a.lookahead == "on"
    MODEL_KW.update(json.loads(a.model_kw))
    work = Path(tempfile.mkdtemp(prefix="tem_"))
    t0 = time.time()
    report = run_info(size=a.size, frames=a.frames, k=a.k, draws=a.draws, lookahead=LOOKAHEAD[0],
                      smoother_kw=SMOOTHER_KW, model_kw=MODEL_KW, clips={})
    try:
        for seed, track, c in lfbench_clips(work, a.seeds, a.tracks, a.size, a.frames, a.k):
            name = f"seed {seed} {track}"
            print(name, flush=True)
            draw = clip_draw(seed, track) if a.draws == "per-clip" else 0
            report["clips"][name] = bench_clip(c, work / f"r_{seed}_{track}", a.models, a.strengths,
                                               tuple(a.modes), draw)
    finally:  # ~1.4 GB of rendered frames per seed
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = time.time() - t0
    print(markdown(report, a.strengths, a.modes))
    close_report(report, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Motion depth at 1280x720, 1920x1080 and 3840x2160 on lfbench clips: CPU s/frame, scale-aligned
AbsRel, frames on the defocus fallback and the confident fraction of MotionDepthSource's raw
estimate, this checkout vs another (`--base`); with `--uncapped`, also this checkout with the
parallax target uncapped (`max_target_px=inf`: 1.8 % of the width, 23 px at 1280) — the
configuration that was reverted for its 720p cost. `--span N`: the middle frames of an N-frame clip
(slow camera motion, as a long handheld shot moves from frame to frame). `--render`: each frame's
refocus with its estimate against the refocus with the exact disparity (`render_psnr`, dB;
tests/lfbench_motion_clips.refocus_psnr): what a user sees of a depth error, where AbsRel can favour
a flat map (lfbench seed 1: a constant disparity scores 0.12, below many motion-depth frames); a
frame whose map the renderer refuses (a blur beyond the frame) is rendered as the pipeline renders
it, sanitised (depth/sanitise.py), and listed in `render_refused`. `render_psnr_thin`: the same
PSNR within 2 px of the thin structures (twigs, wires, strokes <= 4 px that stand in front of the far
background: tests/lfbench_motion_clips.thin_structures; None on a frame without any), which the
whole frame's PSNR weighs by their small area.
`--degrade noise h264 ...`: each clip also as real footage shows it (tests/footage_degradations.py:
sensor noise, exposure flicker, H.264, all three); the estimate sees the degraded frames, the
refocus is judged on the clean ones (what the depth error does to the picture).

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_depth_hd.py --base ../base \
          --size 1280x720 --seeds 1 2 4 --frames 6 [--span 48] [--uncapped] [--degrade noise h264] \
          [--new-kw "{'far_margin': 1}"] [--json out.json]

Each (tree, clip) runs in a child process (the tree's package on PYTHONPATH); CPU time is the
child's user+sys for the estimates only (clip rendering excluded), so the ratio is load-robust.
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
import json, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from lfbench_motion_clips import absrel, near_thin_structures, psnr, refocus_renders, render_clip
from footage_degradations import degrade
from genrefocus_video.depth.motion import MotionDepthSource
from genrefocus_video.io.frame import Frame
from genrefocus_video.record import FrameRecord
clip = render_clip({seed}, ({w}, {h}), {frames}, {motion!r}, span={span})
aif = degrade({degrade!r}, clip["aif"], {seed})
src = MotionDepthSource(frame_lookup=lambda i: aif[i] if 0 <= i < len(aif) else None, **{kw})
t0 = time.process_time()
est = [src.estimate(FrameRecord(Frame(t, aif[t]))) for t in range(len(aif))]
cpu = time.process_time() - t0
err = [absrel(e.disparity, g, g >= 0.1) for e, g in zip(est, clip["disparity"])]
from genrefocus_video.depth.sanitise import sanitise_disparity
from genrefocus_video.errors import ConfigError
refused = []
def refocus(t, e):
    # (PSNR of the whole refocus, PSNR within 2 px of the thin structures or None where there are none)
    g, s = clip["disparity"][t], clip["subject"][t]
    try:
        ref, out = refocus_renders(clip["aif"][t], e.disparity, g, s)
    except ConfigError:  # a blur beyond the frame: render what the pipeline renders, the sanitised map
        refused.append(t)
        ref, out = refocus_renders(clip["aif"][t], sanitise_disparity(e.disparity, e.confidence)[0], g, s)
    near = near_thin_structures(g, s, ref.shape[:2])
    return round(psnr(ref, out), 2), (round(psnr(ref, out, near), 2) if near.any() else None)
scores = [refocus(t, e) for t, e in enumerate(est)] if {render} else []
import genrefocus_video
print(json.dumps({{"package": genrefocus_video.__file__, "cpu_s_per_frame": cpu / len(aif), "absrel_median": float(np.median(err)),
                  "pairs": [e.notes.get("pair") for e in est],
                  "parallax_px": [e.notes.get("parallax_px") for e in est],
                  "confident": float(np.mean([np.mean(e.confidence > 0.3) for e in est])),
                  "fallbacks": sum("fallback" in e.notes for e in est),
                  "held": sum("held_from" in e.notes for e in est),
                  "kind": ["fallback" if "fallback" in e.notes else "held" if "held_from" in e.notes else "own" for e in est],
                  "absrel": [round(float(x), 4) for x in err], "render_psnr": [x[0] for x in scores],
                  "render_psnr_thin": [x[1] for x in scores], "render_refused": refused}}))
"""


def run(tree: Path, seed: int, size: tuple[int, int], frames: int, motion: str, kw: str, span: int = 0,
        render: bool = False, degradation: str = "clean") -> dict:
    """One child process: the estimator of `tree` on one rendered clip (this checkout's tests/ render it).
    The child runs in a temp folder: `python -c` puts the working directory first on sys.path, and run
    from a checkout's root it imported that checkout whatever PYTHONPATH said (until 2026-12-06: base
    and new then ran the same code)."""
    code = CHILD.format(tests=str(REPO / "tests"), seed=seed, w=size[0], h=size[1], frames=frames,
                        motion=motion, kw=kw, span=span, render=render, degrade=degradation)
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir())
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not os.path.realpath(res["package"]).startswith(os.path.realpath(tree) + os.sep):
        raise SystemExit(f"the child for {tree} imported {res['package']}")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--size", default="1280x720")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--motions", nargs="+", default=["pan", "depth", "shake"])
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--span", type=int, default=0, help="the middle --frames of a clip this long (slow motion)")
    p.add_argument("--uncapped", action="store_true", help="also this checkout with max_target_px=inf")
    p.add_argument("--render", action="store_true",
                   help="also score each frame's refocus (see the module doc: render_psnr)")
    p.add_argument("--degrade", nargs="+", default=["clean"],
                   help="footage kinds of tests/footage_degradations.py (clean noise flicker h264 phone)")
    p.add_argument("--new-kw", default="{}",
                   help="MotionDepthSource keywords for this checkout's run, a Python dict literal (a lead "
                        "measured against the base's defaults), e.g. \"{'far_margin': 1}\"")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    configs = {"base": (a.base.resolve(), "{}"), "new": (REPO, a.new_kw)}
    if a.uncapped:
        configs["uncapped"] = (REPO, "{'max_target_px': float('inf')}")
    rows = []
    for seed in a.seeds:
        for motion, kind in ((m, k) for m in a.motions for k in a.degrade):
            row = {"seed": seed, "motion": motion, "span": a.span, "degrade": kind}
            for name, (tree, kw) in configs.items():  # interleaved per clip
                row[name] = run(tree, seed, size, a.frames, motion, kw, a.span, a.render, kind)
            rows.append(row)
            psnr = "  ".join(f"{n} {sum(row[n]['render_psnr']) / len(row[n]['render_psnr']):.2f} dB"
                             + (f" (thin {sum(thin) / len(thin):.2f})" if thin else "")
                             for n in configs if row[n]["render_psnr"]
                             for thin in [[x for x in row[n]["render_psnr_thin"] if x is not None]])
            print(f"seed {seed} {motion:5s} {kind:7s} {psnr}  " + "  ".join(
                f"{n} {row[n]['absrel_median']:.3f} ({row[n]['cpu_s_per_frame']:.2f} s/f, fb {row[n]['fallbacks']}, "
                f"held {row[n].get('held', 0)}, conf {row[n]['confident']:.2f})" for n in configs), flush=True)
    # the frames the base tree gives no motion depth of its own: what each tree gives there instead
    weak = [(r, t) for r in rows for t, k in enumerate(r["base"].get("kind", [])) if k != "own"]
    for n in configs:
        for key in ("absrel", "render_psnr"):
            errs = [r[n][key][t] for r, t in weak if r[n].get(key)]
            if errs:
                print(f"{n}: {key} on the base's {len(errs)} frames without motion depth: median "
                      f"{sorted(errs)[len(errs) // 2]:.3f}, mean {sum(errs) / len(errs):.3f}")
    for n in configs:
        cpu = sum(r[n]["cpu_s_per_frame"] for r in rows) / len(rows)
        print(f"{n}: mean CPU {cpu:.3f} s/frame")
    if a.json:
        a.json.write_text(json.dumps({"size": a.size, "frames": a.frames, "span": a.span,
                                      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                      "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
                                      "uptime": os.popen("uptime").read().strip(), "new_kw": a.new_kw,
                                      "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

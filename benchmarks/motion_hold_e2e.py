"""Motion depth end to end on slow lfbench clips: the disparity the CLI renders with (after the
sanitiser and the smoother, `--depth-out`) scored by its refocus against the exact depth's, this
checkout vs another (`--base`), and the frames the job report counts as fallback / held.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/motion_hold_e2e.py --base ../base \
          [--size 1280x720] [--seeds 1 2 4] [--motions pan shake] [--frames 10] [--span 48] \
          [--smoothing 0.8] [--json out.json]

Each clip (tests/lfbench_motion_clips.render_clip: all-in-focus frames with exact disparity, the
middle `--frames` of a `--span`-frame clip: slow camera motion) is written as a float EXR sequence
and rendered by each tree's CLI in a child process (`python -m genrefocus_video.cli render ...
--depth-source motion --depth-smoothing S --depth-out used.%04d.exr`, that tree's package on
PYTHONPATH, run in its own folder). Every frame's used disparity is scored with
tests/lfbench_motion_clips.refocus_psnr (dB against the refocus with the exact disparity; the same
renderer for both trees, this checkout's). Printed per clip: each tree's mean and its mean over the
frames the base tree's report marks as fallback; the JSON keeps every frame.
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
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from lfbench_motion_clips import refocus_psnr, render_clip  # noqa: E402

from genrefocus_video.io.depthio import open_depth  # noqa: E402
from genrefocus_video.io.images import write_image  # noqa: E402


def cli_render(tree: Path, pattern: str, folder: Path, smoothing: float) -> dict:
    """Render the EXR sequence `pattern` with `tree`'s CLI; (used disparity per frame, report rows)."""
    folder.mkdir(parents=True)
    used = folder / "used.%04d.exr"
    cmd = [sys.executable, "-m", "genrefocus_video.cli", "render", pattern, "-o", str(folder / "out.mkv"),
           "--codec", "ffv1", "--k", "2", "--focus-disparity", "0.5", "--executor", "local", "--no-progress",
           "--depth-source", "motion", "--depth-smoothing", str(smoothing), "--depth-out", str(used)]
    env = dict(os.environ, PYTHONPATH=str(tree), RAY_AUTH_MODE="disabled")
    proc = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: the CLI exited {proc.returncode}: {proc.stderr.strip().splitlines()[-3:]}")
    with open_depth(str(used), kind="disparity") as seq:
        disparity = [np.asarray(d, np.float32) for d in seq]
    report = json.loads((folder / "out.mkv.work" / "report.json").read_text())
    return {"disparity": disparity, "rows": report["depth_estimate"]["per_frame"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--size", default="1280x720")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--motions", nargs="+", default=["pan", "shake"])
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--span", type=int, default=48)
    p.add_argument("--smoothing", type=float, default=0.8)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    trees = {"base": a.base.resolve(), "new": REPO}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            for motion in a.motions:
                clip = render_clip(seed, size, a.frames, motion, span=a.span)
                src = Path(tmp) / f"{seed}_{motion}"
                src.mkdir()
                for t, rgb in enumerate(clip["aif"]):
                    write_image(str(src / f"aif.{t:04d}.exr"), rgb, exr_half=False)
                row = {"seed": seed, "motion": motion}
                for name, tree in trees.items():
                    run = cli_render(tree, str(src / "aif.%04d.exr"), src / name, a.smoothing)
                    row[name] = {"psnr": [round(refocus_psnr(*x), 2) for x in zip(clip["aif"], run["disparity"],
                                                                                  clip["disparity"], clip["subject"])],
                                 "fallback": [int(r.get("fallback", 0)) for r in run["rows"]],
                                 "held": [int(r.get("held", 0)) for r in run["rows"]]}
                weak = [t for t, f in enumerate(row["base"]["fallback"]) if f]
                rows.append(row)
                print(f"seed {seed} {motion:5s} " + "  ".join(
                    f"{n} {np.mean(row[n]['psnr']):.2f} dB (fallback {sum(row[n]['fallback'])}, held "
                    f"{sum(row[n]['held'])}; on the base's fallback frames "
                    f"{np.mean([row[n]['psnr'][t] for t in weak]) if weak else float('nan'):.2f})" for n in trees),
                      flush=True)
    for n in trees:
        weak = [r[n]["psnr"][t] for r in rows for t, f in enumerate(r["base"]["fallback"]) if f]
        print(f"{n}: mean {np.mean([np.mean(r[n]['psnr']) for r in rows]):.2f} dB over clips; on the base's "
              f"{len(weak)} fallback frames {np.mean(weak) if weak else float('nan'):.2f} dB")
    if a.json:
        a.json.write_text(json.dumps({"size": a.size, "frames": a.frames, "span": a.span, "smoothing": a.smoothing,
                                      "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                      "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
                                      "uptime": os.popen("uptime").read().strip(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

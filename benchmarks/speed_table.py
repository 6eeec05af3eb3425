"""Every row of issue 17's speed table in one run, against the previous commit's code.

    .venv/bin/python benchmarks/speed_table.py [--baseline /work/wt/base] [--rounds 1]
        [--frames-720 16] [--frames-1080 12] [--render-rounds 2] [--render-repeats 2]
        [--only render,e2e720,e2e1080,real,cuda] [--json docs/benchmarks/speed_table.json]
        [--md docs/benchmarks/speed_table.md]

Rows (each as frames/s or s/frame of this checkout and of `--baseline`, a checkout of the previous
code, run in child processes with PYTHONPATH switched, interleaved so both see the same load):

1. render  — the two classical-renderer rows (lfbench 1080p r24 disc; real 720p K14 smooth depth):
   benchmarks/render_speed.py, run as a child with the same baseline.
2. e2e720  — end to end, 720p handheld clip (lfbench "shake": handheld camera, subject walking
   toward it; H.264), ``--depth-source motion --depth-smoothing 0.8 --focus-track follow
   --focus-box <subject at frame 0> --k 14``.
3. e2e1080 — end to end, 1080p 10-bit HEVC (libx265 yuv420p10le) handheld clip, motion depth +
   smoothing 0.8; this checkout also at twice the length: peak memory flat in clip length.
4. real    — the 5-frame real 720p ProRes 10-bit clip (../shared/data/meridian), as row 2 with a
   centre box (real footage beside the synthetic clips).
5. cuda    — the CUDA renderer row: benchmarks/render_cuda_check.py when CUDA is present, else
   "no GPU".

Per end-to-end run: frames/s from the job report, per-stage ms per frame, CPU seconds and peak RSS
of the child (os.wait4), load average before/after; per row: the speed-up (new ÷ baseline frames/s
per round, median) and the decoded outputs' max difference (16-bit codes) between the trees.
The machine (nproc, CPU model), load and date go with the results. About 12 min on 2 quiet cores
with the defaults; frame counts and rounds are flags.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed_clips  # noqa: E402
import speed_e2e  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MERIDIAN = REPO.parent / "shared" / "data" / "meridian" / "Meridian-Apple_ProResProxy-HDR10.mp4"
ROWS = ("render", "e2e720", "e2e1080", "real", "cuda")
FOLLOW = ["--depth-source", "motion", "--depth-smoothing", "0.8", "--focus-track", "follow", "--k", "14"]
MOTION_SMOOTH = ["--depth-source", "motion", "--depth-smoothing", "0.8", "--k", "14"]
GOALS = {"e2e720": 1.0, "e2e1080": 0.5}  # frames/s (issue 17)


def machine() -> dict:
    """nproc, CPU model, load and date: what every figure is read against."""
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "nproc": os.cpu_count(),
            "cpu_model": model, "uptime": up, "python": platform.python_version(), "host": platform.node()}


def render_rows(baseline: str, rounds: int, repeats: int, work: str) -> dict:
    """Issue 17's two renderer rows, by benchmarks/render_speed.py (its own interleaving)."""
    out = os.path.join(work, "render_speed.json")
    cmd = [sys.executable, str(REPO / "benchmarks" / "render_speed.py"), "--rounds", str(rounds),
           "--repeats", str(repeats), "--baseline", baseline, "--json", out]
    subprocess.run(cmd, check=True, cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)),
                   stdout=subprocess.DEVNULL)
    with open(out) as fh:
        return json.load(fh)["rows"]


def e2e_rows(a: argparse.Namespace, trees: dict, work: str, only: set) -> dict:
    """The end-to-end rows (720p handheld, 1080p HEVC 10-bit + its flatness run, real ProRes)."""
    rows: dict = {}
    clips = os.path.join(work, "clips")
    if "e2e720" in only:
        c = speed_clips.handheld_clip(clips, (1280, 720), a.frames_720, hevc10=False)
        rows["e2e720"] = speed_e2e.interleaved(trees, c["path"], FOLLOW + ["--focus-box", c["box"]], work,
                                               a.rounds, "e2e720")
    if "e2e1080" in only:
        c = speed_clips.handheld_clip(clips, (1920, 1080), a.frames_1080, hevc10=True)
        row = speed_e2e.interleaved(trees, c["path"], MOTION_SMOOTH, work, a.rounds, "e2e1080")
        long = speed_clips.handheld_clip(clips, (1920, 1080), 2 * a.frames_1080, hevc10=True)
        twice = speed_e2e.cli_run(trees["new"], long["path"], MOTION_SMOOTH, work, "e2e1080_long")
        row["flat_in_length"] = {"frames": [a.frames_1080, 2 * a.frames_1080],
                                 "peak_rss_mib": [row["new"]["peak_rss_mib"], twice["peak_rss_mib"]],
                                 "fps_long": twice["fps"]}
        rows["e2e1080"] = row
    if "real" in only and MERIDIAN.exists():
        rows["real"] = speed_e2e.interleaved(trees, str(MERIDIAN), FOLLOW + ["--focus-box", "560,280,160,160"],
                                             work, a.rounds, "real")
    return rows


def fmt_stage(st: dict) -> str:
    keys = sorted(st, key=lambda s: -st[s])
    return ", ".join(f"{s} {st[s] / 1000:.2f}" for s in keys if st[s] >= 5)


def markdown(res: dict) -> str:
    """The table of every row (new vs baseline, goal, per-stage seconds per frame)."""
    m = res["machine"]
    lines = [f"Measured {m['date_utc']} UTC on {m['host']} ({m['nproc']} CPUs, {m['cpu_model']}); "
             f"`uptime` at start: {m['uptime']}; baseline `{res['trees'].get('baseline', '-')}`.", "",
             "| row | this code | previous code | speed-up | goal | notes |", "|---|---|---|---|---|---|"]
    for name, r in res.get("render", {}).items():
        n, b = r["new"], r.get("baseline", {})
        lines.append(f"| render: {name} | {n['fps_median']} frames/s ({n['wall_s_median']} s) | "
                     f"{b.get('fps_median', '-')} frames/s ({b.get('wall_s_median', '-')} s) | "
                     f"{r.get('speedup_median', '-')}× | {'≥ 4 frames/s' if '1080p' in name else '≤ 0.25 s'} | "
                     f"peak {n['peak_rss_mib']} MiB RSS; load {n['load1_per_round']} |")
    titles = {"e2e720": "end to end, 720p handheld, motion + smoothing 0.8 + follow",
              "e2e1080": "end to end, 1080p 10-bit HEVC, motion + smoothing 0.8",
              "real": "end to end, real 720p ProRes 10-bit (meridian, 5 frames), motion + smoothing + follow"}
    for key, title in titles.items():
        r = res.get("e2e", {}).get(key)
        if not r:
            continue
        n, b = r["new"], r.get("baseline", {})
        note = f"per frame (s): {fmt_stage(n['stage_ms_per_frame'])}; peak {n['peak_rss_mib']} MiB RSS"
        if "flat_in_length" in r:
            f = r["flat_in_length"]
            note += f"; {f['frames'][0]} / {f['frames'][1]} frames: {f['peak_rss_mib'][0]} / {f['peak_rss_mib'][1]} MiB"
        if "output_vs_baseline" in r:
            o = r["output_vs_baseline"]
            note += "; output " + ("bit-identical" if o["identical"] else f"max diff {o['max_abs_16bit']} / 65535")
        goal = f"≥ {GOALS[key]} frames/s" if key in GOALS else "-"
        lines.append(f"| {title} ({n['frames']} frames) | {n['fps_median']} frames/s | {b.get('fps_median', '-')} "
                     f"frames/s | {r.get('speedup_median', '-')}× | {goal} | {note}; load {n['load1_per_round']} |")
    c = res.get("cuda")
    if c is not None:
        lines.append(f"| CUDA renderer, 1080p r24 with the matte | {'see render_cuda_check output' if c['available'] else c['why']}"
                     f" | - | - | ≥ 60 frames/s, ≤ 1e-4 of the CPU path | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="/work/wt/base", help="checkout of the previous commit's code")
    p.add_argument("--rounds", type=int, default=1, help="interleaved baseline/new rounds per end-to-end row")
    p.add_argument("--frames-720", type=int, default=16)
    p.add_argument("--frames-1080", type=int, default=12, help="the flatness run uses twice as many")
    p.add_argument("--render-rounds", type=int, default=2)
    p.add_argument("--render-repeats", type=int, default=2)
    p.add_argument("--only", default=",".join(ROWS), help=f"comma-separated subset of {ROWS}")
    p.add_argument("--work", default=None, help="folder for clips and outputs (default: a temp folder)")
    p.add_argument("--json", default=str(REPO / "docs" / "benchmarks" / "speed_table.json"))
    p.add_argument("--md", default=str(REPO / "docs" / "benchmarks" / "speed_table.md"))
    a = p.parse_args(argv)
    only = set(a.only.split(","))
    if only - set(ROWS):
        print(f"--only: unknown rows {sorted(only - set(ROWS))}; expected some of {ROWS}")
        return 2
    if not (Path(a.baseline) / "genrefocus_video").is_dir():
        print(f"--baseline {a.baseline}: no genrefocus_video/ there (expected a checkout of the previous code)")
        return 2
    trees = {"baseline": Path(a.baseline).resolve(), "new": REPO}
    work = a.work or tempfile.mkdtemp(prefix="speed_table_")
    os.makedirs(work, exist_ok=True)
    res: dict = {"machine": machine(), "trees": {k: str(v) for k, v in trees.items()}, "args": vars(a)}
    if "render" in only:
        res["render"] = render_rows(str(trees["baseline"]), a.render_rounds, a.render_repeats, work)
        print("renderer rows done", flush=True)
    res["e2e"] = e2e_rows(a, trees, work, only)
    if "cuda" in only:
        res["cuda"] = speed_e2e.cuda_row(REPO)
    res["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    table = markdown(res)
    for path, text in ((a.json, json.dumps(res, indent=1)), (a.md, table)):
        if path:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

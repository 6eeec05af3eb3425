"""Issue 17's memory row: peak resident memory of the 1080p end-to-end job at several clip lengths.

    PYTHONPATH=. python benchmarks/memory_profile.py [--lengths 20,40,80] [--baseline /work/wt/base]
        [--baseline-lengths 20,40] [--clip CLIP.mp4] [--work /tmp/memwork] [--json docs/benchmarks/memory.json]

The job is speed_table's e2e1080 row (1080p 10-bit HEVC handheld clip, motion depth + smoothing
0.8, K 14), rendered with the CLI in a child process per length (``--last-frame``: every length is
a prefix of one clip), this checkout and the baseline interleaved at each length (same minutes,
same load). Per run: peak RSS (the child's ru_maxrss), frames/s, CPU seconds, load. Reported: the
peak per length for both, the new peak's spread over the lengths (flat in clip length: the
largest over the smallest), the frames/s ratio new/baseline per length, and whether the decoded
outputs are identical. Without --clip the clip is speed_clips' lfbench handheld clip of the
longest length (made once, cached in the work folder).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed_clips  # noqa: E402
import speed_e2e  # noqa: E402
from speed_table import MOTION_SMOOTH, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUDGET_MIB = 2048  # issue 17: under 2 GiB at 1080p on the CPU path


def run_lengths(trees: dict[str, Path], clip: str, lengths: list[int], base_lengths: set[int], work: str) -> dict:
    """{tree: {length: run}}, baseline (at `base_lengths`) then new at each length."""
    runs: dict[str, dict[int, dict]] = {name: {} for name in trees}
    for n in lengths:
        for name, tree in trees.items():
            if name == "baseline" and n not in base_lengths:
                continue
            res = speed_e2e.cli_run(tree, clip, MOTION_SMOOTH + ["--last-frame", str(n - 1)], work, f"mem_{name}_{n}")
            runs[name][n] = res
            print(f"  {n} frames {name}: peak {res['peak_rss_mib']} MiB, {res['fps']} frames/s, "
                  f"load {res['load1']}", flush=True)
    return runs


def summarise(runs: dict[str, dict[int, dict]], lengths: list[int]) -> dict:
    new = runs["new"]
    peaks = [new[n]["peak_rss_mib"] for n in lengths]
    out: dict = {"lengths": lengths, "budget_mib": BUDGET_MIB,
                 "peak_rss_mib": {name: {n: r["peak_rss_mib"] for n, r in rs.items()} for name, rs in runs.items()},
                 "fps": {name: {n: r["fps"] for n, r in rs.items()} for name, rs in runs.items()},
                 "cpu_s": {name: {n: r["cpu_s"] for n, r in rs.items()} for name, rs in runs.items()},
                 "load1": {name: {n: r["load1"] for n, r in rs.items()} for name, rs in runs.items()},
                 "new_peak_spread": round(max(peaks) / min(peaks), 3),
                 "new_under_budget": max(peaks) < BUDGET_MIB}
    if "baseline" in runs:
        base = runs["baseline"]
        both = [n for n in lengths if n in base]
        out["fps_ratio"] = {n: round(new[n]["fps"] / base[n]["fps"], 3) for n in both}
        out["cpu_ratio"] = {n: round(base[n]["cpu_s"] / new[n]["cpu_s"], 3) for n in both}
        n = both[0]
        out["output_vs_baseline"] = speed_e2e.output_difference(base[n]["output"], new[n]["output"])
    return out


def markdown(res: dict) -> str:
    s = res["summary"]
    lines = [f"Machine: {res['machine']['cpu_model']}, {res['machine']['nproc']} cores; {res['machine']['uptime']}; "
             f"{res['machine']['date_utc']} UTC", "",
             "| frames | baseline peak RSS (MiB) | this peak RSS (MiB) | frames/s this / baseline |",
             "|---|---|---|---|"]
    for n in s["lengths"]:
        base = s["peak_rss_mib"].get("baseline", {}).get(n, "—")
        ratio = s.get("fps_ratio", {}).get(n, "—")
        lines.append(f"| {n} | {base} | {s['peak_rss_mib']['new'][n]} | {ratio} |")
    lines += ["", f"Spread of this checkout's peak over the lengths: {s['new_peak_spread']} (largest / smallest); "
              f"under {BUDGET_MIB} MiB: {s['new_under_budget']}."]
    if "output_vs_baseline" in s:
        lines.append(f"Decoded output vs baseline (the shortest length both ran): {s['output_vs_baseline']}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="20,40,80", help="clip lengths in frames, comma separated")
    ap.add_argument("--baseline", default="", help="checkout to compare with (e.g. /work/wt/base); none: this only")
    ap.add_argument("--baseline-lengths", default="", help="lengths the baseline runs (default: all)")
    ap.add_argument("--clip", default="", help="a 1080p clip at least as long as the longest length")
    ap.add_argument("--work", default="/tmp/genrefocus_memory", help="scratch folder (outputs, cached clip)")
    ap.add_argument("--json", default="", help="write the results here")
    a = ap.parse_args(argv)
    lengths = sorted(int(x) for x in a.lengths.split(","))
    os.makedirs(a.work, exist_ok=True)
    clip = a.clip or speed_clips.handheld_clip(os.path.join(a.work, "clips"), (1920, 1080), lengths[-1],
                                               hevc10=True)["path"]
    trees = {"baseline": Path(a.baseline)} if a.baseline else {}
    trees["new"] = REPO
    res = {"machine": machine(), "clip": clip, "args": MOTION_SMOOTH}
    base_lengths = {int(x) for x in a.baseline_lengths.split(",")} if a.baseline_lengths else set(lengths)
    runs = run_lengths(trees, clip, lengths, base_lengths, a.work)
    res["runs"] = runs
    res["summary"] = summarise(runs, lengths)
    res["machine"]["uptime_end"] = machine()["uptime"]
    print(markdown(res))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

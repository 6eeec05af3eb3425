"""One end-to-end CLI run of a checkout, measured: wall, frames/s, per-stage seconds, peak RSS.

Used by benchmarks/speed_table.py. The run is ``python -m genrefocus_video.cli render ...`` in a
child process with ``PYTHONPATH`` = the checkout (so its package, and only its, is imported), in
its own folder; the per-stage seconds come from the job report (report.json beside the output),
the peak resident memory of the child from ``os.wait4`` (ru_maxrss, KiB on Linux), the load
average from ``os.getloadavg`` before and after.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np


def cli_run(tree: Path, clip: str, args: list[str], work: str, tag: str) -> dict:
    """Render `clip` with `tree`'s CLI and `args`; the measurements and the output's path."""
    folder = os.path.join(work, tag)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    out = os.path.join(folder, "out.mp4")
    env = dict(os.environ, PYTHONPATH=str(tree), RAY_AUTH_MODE="disabled")
    cmd = [sys.executable, "-m", "genrefocus_video.cli", "render", clip, "-o", out, *args]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(os.path.join(folder, "log.txt"), "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        hwm, (status, usage) = _watch(proc.pid)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = open(os.path.join(folder, "log.txt")).read().strip().splitlines()[-3:]
        raise RuntimeError(f"{tree}: render of {clip} failed (exit {proc.returncode}): {tail}")
    with open(out + ".work/report.json") as fh:
        rep = json.load(fh)
    stages = {s["stage"]: s["ms_per_frame"] for s in rep["stages"]}
    return {"tree": str(tree), "output": out, "frames": rep["frames"], "wall_s": round(wall, 2),
            "job_wall_s": rep["wall_seconds"], "fps": rep["fps"], "stage_ms_per_frame": stages,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(hwm / 1024.0, 1),
            "ru_maxrss_mib": round(usage.ru_maxrss / 1024.0, 1),
            "load1": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def _watch(pid: int, every: float = 0.05) -> tuple[int, tuple[int, Any]]:
    """(the child's peak resident set in KiB, (wait status, rusage)) once it exits.

    The peak is the child's own VmHWM (/proc/PID/status), polled until it exits. Not ru_maxrss: a
    child started by vfork + exec (subprocess does) inherits the parent's high-water mark at exec,
    so a benchmark that made a clip in process reported that clip's memory as the render's (a 24-frame
    1080p flatness run read 2361 MiB instead of ~1500)."""
    hwm = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return hwm, (status, usage)
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(every)


def decoded_frames(path: str) -> list[np.ndarray]:
    """The frames of a video as 16-bit RGB (a 10-bit difference shows)."""
    import av

    with av.open(path) as c:
        return [f.to_ndarray(format="rgb48le") for f in c.decode(video=0)]


def output_difference(a: str, b: str) -> dict:
    """{"frames", "identical", "max_abs_16bit"} between two rendered clips' decoded pixels."""
    fa, fb = decoded_frames(a), decoded_frames(b)
    if len(fa) != len(fb):
        return {"frames": [len(fa), len(fb)], "identical": False, "max_abs_16bit": None}
    diff = max((int(np.max(np.abs(x.astype(np.int32) - y.astype(np.int32)))) for x, y in zip(fa, fb)), default=0)
    return {"frames": len(fa), "identical": diff == 0, "max_abs_16bit": diff}


def interleaved(trees: dict[str, Path], clip: str, args: list[str], work: str, rounds: int,
                row: str) -> dict:
    """`rounds` rounds of baseline then new (same minutes, same load); medians and ratios."""
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    ratios = []
    for r in range(rounds):
        for name in ("baseline", "new") if "baseline" in trees else ("new",):
            res = cli_run(trees[name], clip, args, work, f"{row}_{name}_{r}")
            runs[name].append(res)
            print(f"  {row} round {r} {name}: {res['fps']} frames/s, peak {res['peak_rss_mib']} MiB, "
                  f"load {res['load1']}", flush=True)
        if "baseline" in trees:
            ratios.append(runs["new"][-1]["fps"] / runs["baseline"][-1]["fps"])
    out: dict = {"clip": clip, "args": args, "rounds": rounds}
    for name, rs in runs.items():
        out[name] = summary(rs)
    if ratios:
        out["speedup_per_round"] = [round(x, 3) for x in ratios]
        out["speedup_median"] = round(float(np.median(ratios)), 3)
        out["cpu_ratio"] = round(out["baseline"]["cpu_s_median"] / out["new"]["cpu_s_median"], 3)
        out["output_vs_baseline"] = output_difference(runs["baseline"][-1]["output"], runs["new"][-1]["output"])
    return out


def summary(runs: list[dict]) -> dict:
    """Medians over rounds of one tree's runs (per-stage ms per frame too)."""
    stages = sorted({s for r in runs for s in r["stage_ms_per_frame"]})
    return {"frames": runs[0]["frames"], "fps_median": round(float(np.median([r["fps"] for r in runs])), 3),
            "fps_per_round": [r["fps"] for r in runs],
            "cpu_s_median": round(float(np.median([r["cpu_s"] for r in runs])), 2),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "stage_ms_per_frame": {s: round(float(np.median([r["stage_ms_per_frame"].get(s, 0.0) or 0.0
                                                             for r in runs])), 1) for s in stages},
            "load1_per_round": [r["load1"] for r in runs]}


def cuda_row(repo: Path, timeout: Optional[int] = 900) -> dict:
    """The CUDA renderer row: benchmarks/render_cuda_check.py when CUDA is present, else why not."""
    try:
        import torch
        ok = bool(torch.cuda.is_available())
    except ImportError:
        ok = False
    if not ok:
        return {"available": False, "why": "no GPU (torch.cuda.is_available() is False on this machine)"}
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "render_cuda_check.py")], cwd=str(repo),
                         env=dict(os.environ, PYTHONPATH=str(repo)), capture_output=True, text=True, timeout=timeout)
    return {"available": True, "exit": out.returncode, "stdout_tail": out.stdout.strip().splitlines()[-20:]}

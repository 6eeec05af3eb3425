"""How fast and how cleanly a render stops when a farm manager cancels it (SIGTERM) or a user presses Ctrl-C.

    .venv/bin/python benchmarks/stop_latency.py [--size 1920x1080] [--frames 48] [--after 12]

For each way of running (one pass in process; 4 chunks in process; 4 chunks on a local Ray instance
with 2 workers), the CLI renders a synthetic clip in a subprocess, gets SIGINT or SIGTERM `--after`
seconds after it started, and the script records the seconds from the signal to the exit, the exit
code, the temp (`.partial`) files left anywhere under the output folder, and the chunks kept. Ctrl-C
is the baseline of each row; one more run signals the Ray job's whole process group (what many farm
managers do: the workers and the raylet get the signal too). Then the cost of the Ray stop flag: the round trip of the progress
report a chunk task now waits for (one every 4 frames), against the time of a frame.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_scaling import REPO, RENDER_FLAGS, add_input_args, inputs_for  # noqa: E402  (sets RAY_AUTH_MODE, sys.path)

MODES = {
    "one pass, in process": ["--executor", "local"],
    "4 chunks, in process": ["--executor", "local", "--chunks", "4"],
    "4 chunks, Ray 2 workers": ["--executor", "ray", "--workers", "2", "--chunks", "4"],
}
#: Farm managers often signal the whole process group: the Ray workers and raylet get it too.
GROUP_MODE = "4 chunks, Ray 2 workers, whole process group signalled"


def stop_once(clip: str, depth: str, folder: Path, extra: list[str], sig: signal.Signals, after: float,
              group: bool = False) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "out.mov"
    cmd = [sys.executable, "-m", "genrefocus_video.cli", "render", clip, "-o", str(out), "--depth", depth,
           *RENDER_FLAGS, *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_AUTH_MODE="disabled")
    # a background job's children inherit an ignored SIGINT, and Python then never raises KeyboardInterrupt
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, start_new_session=group,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)
    if p.poll() is not None:
        raise SystemExit(f"the render finished before the signal ({after} s): raise --frames")
    t0 = time.perf_counter()
    if group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    err = p.communicate(timeout=300)[1]
    latency = time.perf_counter() - t0
    partial = [str(f.relative_to(folder)) for f in folder.rglob("*") if "partial" in f.name]
    segs = folder / "out.mov.work" / "segments"
    kept = sorted(f.name for f in segs.iterdir()) if segs.is_dir() else []
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return {"signal": sig.name, "seconds_to_exit": latency, "exit_code": p.returncode, "partial_files": partial,
            "segments_kept": kept, "last_line": last}


def progress_roundtrip_ms(n: int = 300) -> float:
    """Mean round trip of `ray.get(progress.add.remote(...))`, what a chunk task waits for per report."""
    import ray

    from genrefocus_video.pipeline.executors.ray_chunks import ProgressActor
    from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime

    with RayRuntime(None, 2):
        a = ProgressActor.remote()
        for _ in range(20):
            ray.get(a.add.remote(0, 1))
        t0 = time.perf_counter()
        for _ in range(n):
            ray.get(a.add.remote(0, 1))
        return (time.perf_counter() - t0) / n * 1000.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_args(p)
    p.add_argument("--after", type=float, default=12.0, help="seconds from the start to the signal")
    a = p.parse_args()
    work, clip, depth = inputs_for(a, "stop_latency_")
    rows = []
    runs = [(m, e, s, False) for m, e in MODES.items() for s in (signal.SIGINT, signal.SIGTERM)]
    runs.append((GROUP_MODE, MODES["4 chunks, Ray 2 workers"], signal.SIGTERM, True))
    for mode, extra, sig, group in runs:
        r = stop_once(clip, depth, work / f"{len(rows)}", extra, sig, a.after, group)
        r["mode"] = mode
        rows.append(r)
        print(f"{mode:26s} {sig.name:7s} exit {r['exit_code']:3d} after {r['seconds_to_exit']:5.2f} s; "
              f"partial files {len(r['partial_files'])}; segments kept {len(r['segments_kept'])}; {r['last_line'][:60]}",
              flush=True)
    rtt = progress_roundtrip_ms()
    print(f"progress report round trip (Ray actor, one per 4 frames): {rtt:.2f} ms")
    (work / "stop_latency.json").write_text(json.dumps({"size": a.size, "frames": a.frames, "after": a.after,
                                                        "rows": rows, "progress_roundtrip_ms": rtt}, indent=1))
    print(f"report {work / 'stop_latency.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

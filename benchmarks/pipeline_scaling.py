"""Pipeline scaling benchmark: executors, Ray start-up, memory vs clip length, cluster model.

    .venv/bin/python benchmarks/pipeline_scaling.py [--frames 12] [--size 1920x1080] [--quick]

Measures, on a synthetic clip (moving bright dots over a gradient, layered disparity):

1. frames/s with the in-process executor and with Ray at 1 and 2 workers (streaming), and Ray
   chunks (2 workers, 2 chunks) -> scaling efficiency = fps(2 workers) / (2 * fps(1 worker));
2. Ray start-up cost (fresh local instance) and the per-frame object-store round trip;
3. peak memory (sum of RSS over the process tree: driver, raylet, workers) against clip length;
4. a cluster model fed by the measured per-stage times: throughput vs workers for the streaming
   and chunked schedules (what is sequential, what saturates first).

The machine is shared with other jobs: every number is relative to a baseline measured in the
same run, and absolute values are only indicative.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from genrefocus_video.params import load_job  # noqa: E402


# -- inputs ---------------------------------------------------------------------------------------

def make_inputs(folder: str, n: int, w: int, h: int) -> tuple[str, str]:
    """An H.264 clip and a matching single-image disparity map (.npy, reused for every frame)."""
    import av

    clip = os.path.join(folder, f"clip_{w}x{h}_{n}.mp4")
    depth = os.path.join(folder, f"disp_{w}x{h}.npy")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = np.full((h, w), 0.1, np.float32)
    disp[(xx > w * 0.3) & (xx < w * 0.7) & (yy > h * 0.25)] = 0.5  # a near slab
    disp[(xx - w * 0.8) ** 2 + (yy - h * 0.5) ** 2 < (h * 0.15) ** 2] = 0.9  # a nearer disc
    np.save(depth, disp)
    if os.path.exists(clip):
        return clip, depth
    rng = np.random.default_rng(1)
    dots = rng.integers(0, [w, h], size=(80, 2))
    with av.open(clip, "w") as out:
        s = out.add_stream("libx264", rate=Fraction(24, 1), options={"crf": "16", "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        base = np.stack([xx / w * 180, yy / h * 120, np.full_like(xx, 60)], -1).astype(np.uint8)
        for i in range(n):
            img = base.copy()
            for x, y in dots:
                x = int(x + 4 * i) % w
                img[max(0, y - 3):y + 3, max(0, x - 3):x + 3] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return clip, depth


def add_input_args(p: argparse.ArgumentParser, frames: int = 48) -> None:
    """--size / --frames / --out of the CLI-level pipeline benchmarks (stop_latency, farm_tasks)."""
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--frames", type=int, default=frames)
    p.add_argument("--out", default=None, help="keep work files here (default: a temp folder)")


def inputs_for(a: argparse.Namespace, prefix: str) -> tuple[Path, str, str]:
    """Work folder, synthetic clip and disparity of `add_input_args`."""
    w, h = (int(v) for v in a.size.split("x"))
    work = Path(a.out or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    clip, depth = make_inputs(str(work), a.frames, w, h)
    return work, clip, depth


#: The render the CLI-level benchmarks run (hexagon, K 12, a layered disparity, no audio).
RENDER_FLAGS = ["--focus-disparity", "0.5", "--k", "12", "--aperture", "hexagon", "--no-audio", "--no-progress"]


def job_for(clip: str, depth: str, out: str, **executor) -> "object":
    o = {"input.path": clip, "output.path": out, "depth.path": depth, "focus.disparity": 0.5, "blur.k": 12.0,
         "aperture.shape": "hexagon", "output.overwrite": True, "executor.progress": False,
         "output.audio": False, "render.device": "cpu"}
    o.update({f"executor.{k}": v for k, v in executor.items()})
    return load_job(None, o)


# -- memory sampling ---------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def tree_rss_mb(root: int) -> float:
    """Sum of PSS over the process tree: shared pages (Ray's object store, libraries) counted once."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
        stack += _children(pid)
    return total / 1024.0


class PeakSampler:
    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            time.sleep(self.every)

    def __enter__(self) -> "PeakSampler":
        self._th.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._th.join()


# -- runs --------------------------------------------------------------------------------------------

def timed_run(job) -> dict:
    from genrefocus_video.pipeline.run import run_job

    t0 = time.perf_counter()
    s = run_job(job)
    wall = time.perf_counter() - t0
    return {"frames": s.frames, "wall_s": wall, "fps": s.frames / wall, "startup_s": s.startup_seconds,
            "stages": s.timings.breakdown(), "executor": s.executor, "workers": s.workers}


def memory_run(args: argparse.Namespace) -> None:
    """Child mode: one render, print its peak process-tree RSS as JSON."""
    from dataclasses import replace

    job = job_for(args.clip, args.depth, args.out, executor=args.executor, workers=args.workers)
    job = replace(job, render=replace(job.render, draft=args.draft),  # I/O stays 1080p, bokeh cheaper
                  output=replace(job.output, codec=args.codec))
    with PeakSampler(os.getpid()) as ps:
        r = timed_run(job)
    print(json.dumps({"peak_mb": ps.peak, **{k: r[k] for k in ("frames", "wall_s")}}))


def ray_startup_s() -> float:
    code = ("import os,time;os.environ['RAY_AUTH_MODE']='disabled';import ray;"
            "from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime;"
            "t=time.perf_counter();rt=RayRuntime(None,2).__enter__();"
            "f=ray.remote(lambda: 1);ray.get(f.remote());print(time.perf_counter()-t);rt.__exit__(None,None,None)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    return float(r.stdout.strip().splitlines()[-1])


def object_store_roundtrip_ms(w: int, h: int) -> float:
    import ray

    @ray.remote
    def echo(x):
        return x

    arr = np.zeros((h, w, 3), np.float32)
    ray.get(echo.remote(arr))
    t0 = time.perf_counter()
    for _ in range(5):
        ray.get(echo.remote(arr))
    return (time.perf_counter() - t0) / 5 * 1000.0


def task_overhead_ms(n: int = 200) -> float:
    import ray

    @ray.remote(num_cpus=0)
    def noop():
        return None

    ray.get([noop.remote() for _ in range(10)])
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(n)])
    return (time.perf_counter() - t0) / n * 1000.0


def concat_ms_per_frame(segment: str, frames: int, tmp: str, copies: int = 8) -> float:
    """The only sequential step of a chunked job: joining segments by stream copy."""
    from genrefocus_video.io.concat import concat_segments

    out = os.path.join(tmp, "concat_bench.mp4")
    if os.path.exists(out):
        os.remove(out)
    t0 = time.perf_counter()
    concat_segments([segment] * copies, out)
    return (time.perf_counter() - t0) / (frames * copies) * 1000.0


def cluster_model(stage_ms: dict[str, float], warmup: int, chunk_len: int, workers: list[int],
                  transfer_ms: float, concat_ms: float = 0.0) -> list[dict]:
    """Throughput (frames/s) vs workers for the two schedules (Amdahl with per-frame costs).

    streaming: the driver is sequential (decode + temporal head + encode + shipping a frame), the
    tail (deblur/bokeh) is spread over W workers: fps = min(1 / t_driver, W / t_tail).
    chunked: every chunk is independent (decode, head, tail and encode all on the worker), with
    `warmup` extra head frames per chunk: fps = W * chunk_len / (chunk_len * t_frame + warmup * t_head);
    the sequential part is the final stream-copy concat (`concat_ms` per frame, measured), which
    caps the whole job at 1000 / concat_ms frames/s (Amdahl).
    """
    dec, enc = stage_ms.get("decode", 0.0), stage_ms.get("encode", 0.0)
    head = stage_ms.get("head", 0.0)
    tail = stage_ms.get("tail", 0.0)
    rows = []
    for w in workers:
        t_driver = dec + head + enc + transfer_ms
        fps_stream = min(1000.0 / t_driver, w * 1000.0 / max(tail, 1e-9))
        t_frame = dec + head + tail + enc
        fps_par = w * 1000.0 * chunk_len / (chunk_len * t_frame + warmup * (dec + head))
        fps_chunk = 1.0 / (1.0 / fps_par + concat_ms / 1000.0)
        rows.append({"workers": w, "streaming_fps": fps_stream, "chunked_fps": fps_chunk,
                     "streaming_bound": "driver" if 1000.0 / t_driver < w * 1000.0 / tail else "workers"})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--quick", action="store_true", help="skip the memory-vs-length runs")
    ap.add_argument("--memory-only", action="store_true", help="only the memory-vs-length runs")
    ap.add_argument("--memory-frames", default="16,96", help="clip lengths for the memory runs")
    ap.add_argument("--draft", type=float, default=0.25, help="render.draft for the memory runs (speed)")
    ap.add_argument("--codec", default="auto", help="output codec of the memory runs (auto = H.264 like the input)")
    ap.add_argument("--memory-executors", default="local,ray")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--clip"), ap.add_argument("--depth"), ap.add_argument("--out")
    ap.add_argument("--executor", default="local"), ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if args.memory_child:
        memory_run(args)
        return 0
    w, h = (int(v) for v in args.size.lower().split("x"))
    tmp = tempfile.mkdtemp(prefix="gr_pipebench_")
    clip, depth = make_inputs(tmp, args.frames, w, h)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; clip {w}x{h} x {args.frames} frames; "
          f"{os.cpu_count()} cores; machine shared with other jobs", flush=True)
    results: dict = {"size": [w, h], "frames": args.frames}
    if not args.memory_only:
        measure_speed(results, clip, depth, tmp, w, h)
    if not args.quick:
        measure_memory(results, args, tmp, w, h)
    out = os.path.join(tmp, "results.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=2, default=str)
    print(f"results: {out}")
    return 0


def measure_speed(results: dict, clip: str, depth: str, tmp: str, w: int, h: int) -> None:
    results["ray_startup_s"] = ray_startup_s()
    print(f"Ray start-up (fresh local instance + first task): {results['ray_startup_s']:.2f} s", flush=True)

    from genrefocus_video.pipeline.executors.ray_runtime import RayRuntime

    runs = {}
    runs["local"] = timed_run(job_for(clip, depth, os.path.join(tmp, "local.mp4"), executor="local"))
    print(f"local          : {runs['local']['fps']:.3f} fps", flush=True)
    with RayRuntime(None, 2):
        results["object_store_roundtrip_ms"] = object_store_roundtrip_ms(w, h)
        results["ray_task_overhead_ms"] = task_overhead_ms()
        print(f"object store round trip of a {w}x{h} float32 frame: {results['object_store_roundtrip_ms']:.1f} ms; "
              f"no-op task: {results['ray_task_overhead_ms']:.2f} ms", flush=True)
        for name, ex in (("ray_1", dict(executor="ray", workers=1)), ("ray_2", dict(executor="ray", workers=2)),
                         ("ray_2_chunks", dict(executor="ray", workers=2, chunks=2))):
            runs[name] = timed_run(job_for(clip, depth, os.path.join(tmp, f"{name}.mp4"), **ex))
            print(f"{name:15s}: {runs[name]['fps']:.3f} fps (vs local x{runs[name]['fps'] / runs['local']['fps']:.2f})",
                  flush=True)
    results["runs"] = runs
    results["concat_ms_per_frame"] = concat_ms_per_frame(os.path.join(tmp, "local.mp4"), runs["local"]["frames"], tmp)
    print(f"lossless concat (stream copy): {results['concat_ms_per_frame']:.2f} ms per frame", flush=True)
    results["scaling_efficiency_streaming"] = runs["ray_2"]["fps"] / (2 * runs["ray_1"]["fps"])
    results["scaling_efficiency_chunks"] = runs["ray_2_chunks"]["fps"] / (2 * runs["ray_1"]["fps"])
    print(f"scaling efficiency 1->2 workers: streaming {results['scaling_efficiency_streaming']:.2f}, "
          f"chunks {results['scaling_efficiency_chunks']:.2f}", flush=True)

    # per-stage ms/frame from the in-process run -> cluster model
    ms = {r["stage"]: r["ms_per_frame"] or 0.0 for r in runs["local"]["stages"]}
    tail_names = {"bokeh", "deblur", "bokehnet"}
    model_in = {"decode": ms.get("decode", 0.0), "encode": ms.get("encode", 0.0),
                "tail": sum(v for k, v in ms.items() if k in tail_names),
                "head": sum(v for k, v in ms.items() if k not in tail_names | {"decode", "encode"})}
    results["stage_ms_per_frame"] = ms
    results["cluster_model"] = cluster_model(model_in, warmup=2, chunk_len=240, workers=[1, 2, 4, 8, 16, 64, 256, 1024],
                                             transfer_ms=results["object_store_roundtrip_ms"],
                                             concat_ms=results["concat_ms_per_frame"])
    print("stage ms/frame:", {k: round(v, 1) for k, v in ms.items()})
    print("cluster model (fps):")
    for row in results["cluster_model"]:
        print(f"  W={row['workers']:3d}  streaming {row['streaming_fps']:8.2f} ({row['streaming_bound']}-bound)"
              f"  chunked {row['chunked_fps']:8.2f}")



def measure_memory(results: dict, args: argparse.Namespace, tmp: str, w: int, h: int) -> None:
    mem = {}
    for ex in args.memory_executors.split(","):
        for n in (int(v) for v in args.memory_frames.split(",")):
            c, d = make_inputs(tmp, n, w, h)
            ext = ".mkv" if args.codec == "ffv1" else ".mp4"
            cmd = [sys.executable, __file__, "--memory-child", "--clip", c, "--depth", d, "--draft", str(args.draft),
                   "--out", os.path.join(tmp, f"mem_{ex}_{n}{ext}"), "--executor", ex, "--workers", "2",
                   "--codec", args.codec]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
            if r.returncode != 0:
                print(r.stderr[-2000:])
                continue
            mem[f"{ex}_{n}"] = json.loads(r.stdout.strip().splitlines()[-1])
            m = mem[f"{ex}_{n}"]
            print(f"peak memory (PSS, process tree) {ex:5s} {args.codec:5s} {n:4d} frames: {m['peak_mb']:.0f} MB "
                  f"({m['frames'] / m['wall_s']:.2f} fps)", flush=True)
    results["memory"] = mem


if __name__ == "__main__":
    sys.exit(main())

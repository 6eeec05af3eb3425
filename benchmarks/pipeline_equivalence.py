"""Equivalence corpus: run one set of small jobs through the real CLI of a checkout, hash every output.

Why: the pipeline is rebuilt (one frame loop for streaming, in-process chunks, Ray chunks and farm
tasks); every output it wrote before must come out bit-identical after, or the difference must be
one we meant. Run the corpus once with the untouched code and once with the rebuilt one, then
compare the two manifests::

    python benchmarks/pipeline_equivalence.py run --checkout /work/wt/base --out /tmp/eq_base
    python benchmarks/pipeline_equivalence.py run --checkout . --out /tmp/eq_new
    python benchmarks/pipeline_equivalence.py compare /tmp/eq_base/manifest.json /tmp/eq_new/manifest.json

Each job runs as ``python -m genrefocus_video.cli render ...`` with ``PYTHONPATH=CHECKOUT`` in its
own folder. Hashed per output (``manifest.json``: {job: {output: {field: value}}}):

* clips, image sequences, PNGs and the depth preview: SHA-256 of the decoded pixels (FFmpeg,
  32-bit float planes for EXR, 16 bits per channel for everything else, so a 10-bit or half-float
  difference shows), the frame count and the video packets' timestamps and durations;
* audio: SHA-256 of every audio stream's packet bytes (stream copy must keep them exact);
* focus track CSV/JSON: SHA-256 of the bytes;
* report.json: the fields that do not depend on the clock or the host (frames, executor, chunk
  plan, the job, the frames each stage saw).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CITY = os.path.join(REPO, "samples", "city.mp4")
CITY_DEPTH = os.path.join(REPO, "samples", "city_depth.mkv")
CITY_SCALE = "0.0000152590219"  # the sample stores disparity x 65535 in 16-bit codes

SIDE = ["--before-after", "ba.png", "--contact-sheet", "sheet.png", "--contact-frames", "4"]
FILE_DEPTH = ["--depth", CITY_DEPTH, "--depth-scale", CITY_SCALE, "--k", "8"]
FILE_JOB = [CITY, *FILE_DEPTH, "--focus-keyframes", "0:0.05,15:0.5", "--focus-ease", "ease",
            "--last-frame", "15", "--depth-preview", "preview.mp4", "--export-focus-track", "focus.json",
            "--focus-plot", "plot.png", *SIDE]
MOTION_JOB = [CITY, "--depth-source", "motion", "--depth-smoothing", "0.5", "--focus-track", "follow",
              "--focus-box", "380,150,60,60", "--k", "6", "--first-frame", "2", "--last-frame", "17",
              "--export-focus-track", "focus.csv", "--focus-plot", "plot.png", *SIDE]
RAY = ["--executor", "ray", "--workers", "2"]


def _alpha_job(inputs: str) -> list[str]:
    return [os.path.join(inputs, "alpha", "a.%04d.png"), "--depth", os.path.join(inputs, "alpha_disp.npy"),
            "--fps", "24", "--focus-point", "20,30@3", "--k", "6", "--alpha", "defocus", *SIDE]


def corpus(inputs: str) -> dict[str, list[list[str]]]:
    """Job name -> CLI runs (a farm job is several runs in one folder)."""
    alpha = _alpha_job(inputs)
    jobs: dict[str, list[list[str]]] = {
        "file_stream_mkv": [[*FILE_JOB, "-o", "out.mkv", "--codec", "ffv1", "--executor", "local"]],
        "file_chunks3_mkv": [[*FILE_JOB, "-o", "out.mkv", "--codec", "ffv1", "--executor", "local", "--chunks", "3"]],
        "file_raystream_mkv": [[*FILE_JOB, "-o", "out.mkv", "--codec", "ffv1", *RAY]],
        "file_raychunks_mkv": [[*FILE_JOB, "-o", "out.mkv", "--codec", "ffv1", *RAY, "--chunks", "3"]],
        "file_stream_exr": [[*FILE_JOB, "-o", "out.%04d.exr", "--executor", "local"]],
        "file_chunks2_exr": [[*FILE_JOB, "-o", "out.%04d.exr", "--executor", "local", "--chunks", "2"]],
        "motion_stream_mp4": [[*MOTION_JOB, "-o", "out.mp4", "--executor", "local"]],
        "motion_chunks2_mp4": [[*MOTION_JOB, "-o", "out.mp4", "--executor", "local", "--chunks", "2"]],
        "alpha_stream_mov": [[*alpha, "-o", "out.mov", "--codec", "prores_4444", "--executor", "local"]],
        "alpha_chunks2_mov": [[*alpha, "-o", "out.mov", "--codec", "prores_4444", "--executor", "local",
                               "--chunks", "2"]],
    }
    farm = [*FILE_JOB, "-o", "out.mkv", "--codec", "ffv1", "--executor", "local", "--chunks", "3"]
    jobs["file_farm_mkv"] = [[*farm, "--chunk", "2"], [*farm, "--chunk", "0"], [*farm, "--chunk", "1"],
                             [*farm, "--join"]]
    farm_mp4 = [*MOTION_JOB, "-o", "out.mp4", "--executor", "local", "--chunks", "2"]
    jobs["motion_farm_mp4"] = [[*farm_mp4, "--chunk", "1"], [*farm_mp4, "--chunk", "0"], [*farm_mp4, "--join"]]
    return jobs


def make_inputs(inputs: str) -> None:
    """Small generated inputs: an RGBA 16-bit PNG sequence (a moving square, soft alpha) + a disparity ramp."""
    import cv2
    import numpy as np

    os.makedirs(os.path.join(inputs, "alpha"), exist_ok=True)
    h, w, n = 48, 64, 10
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        img = np.zeros((h, w, 4), np.float32)
        img[..., 0] = xx / w
        img[..., 1] = yy / h
        img[..., 2] = 0.2 + 0.05 * i
        x0 = 8 + 3 * i
        img[16:32, x0:x0 + 12, :3] = (0.9, 0.8, 0.1)
        img[..., 3] = np.clip(0.25 + (xx - 10.0) / 40.0, 0.0, 1.0)
        code = (np.clip(img, 0, 1) * 65535 + 0.5).astype(np.uint16)
        cv2.imwrite(os.path.join(inputs, "alpha", f"a.{i:04d}.png"), code[..., [2, 1, 0, 3]])
    disp = np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32), (h, 1))
    np.save(os.path.join(inputs, "alpha_disp.npy"), disp)


# -- hashing ---------------------------------------------------------------------------------------

def _ffmpeg_pixels(path: str, pix_fmt: str) -> tuple[str, int]:
    """SHA-256 of the decoded frames (raw `pix_fmt`) and their count (frames split by ffmpeg -f framemd5)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-f", "framemd5", "-pix_fmt", pix_fmt, "-"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = [ln.split(",")[-1].strip() for ln in out.splitlines() if ln and not ln.startswith("#")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines)


def _packets(path: str, kind: str) -> list[str]:
    cmd = ["ffprobe", "-v", "error", "-select_streams", kind, "-show_entries",
           "packet=stream_index,pts,duration" + (",data_hash" if kind == "a" else ""),
           "-show_data_hash", "sha256", "-of", "csv=p=0", path]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()


def hash_media(path: str) -> dict[str, Any]:
    """Pixels, frame count, video timing and audio packet bytes of a clip, image or image sequence."""
    pattern = path
    exr = path.lower().endswith(".exr")
    pix, n = _ffmpeg_pixels(pattern, "gbrapf32le" if exr else "rgba64le")
    row: dict[str, Any] = {"pixels": pix, "frames": n}
    if "%" not in path:
        row["video_timing"] = hashlib.sha256("\n".join(_packets(path, "v")).encode()).hexdigest()
        audio = _packets(path, "a")
        if audio:
            row["audio_packets"] = hashlib.sha256("\n".join(audio).encode()).hexdigest()
            row["audio_count"] = len(audio)
    return row


def _file_sha(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def report_fields(path: str, dest: str = "") -> dict[str, Any]:
    """The report's fields that do not depend on the clock, the host or the corpus folder `dest`."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    r = json.loads(text.replace(dest, "$OUT") if dest else text)
    return {
        "frames": r.get("frames"), "executor": r.get("executor"),
        "chunks": [{k: c.get(k) for k in ("chunk", "start", "end", "frames", "resumed")} for c in r.get("chunks", [])],
        "job": r.get("job"),
        "stage_frames": sorted((s["stage"], s["frames"]) for s in r.get("stages", [])),
    }


def hash_folder(folder: str, dest: str = "") -> dict[str, Any]:
    """Every output a job left in `folder` (the work folder's report included)."""
    out: dict[str, Any] = {}
    seqs = sorted({p.rsplit(".", 2)[0] for p in glob.glob(os.path.join(folder, "out.*.exr"))})
    for stem in seqs:
        out["out.%04d.exr"] = hash_media(stem + ".%04d.exr")
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if name.startswith("out.") and name.endswith(".exr"):
            continue
        if name.endswith((".mkv", ".mp4", ".mov", ".png")):
            out[name] = hash_media(p)
        elif name.endswith((".json", ".csv")):
            out[name] = {"sha256": _file_sha(p)}
        elif name.endswith(".work") and os.path.isfile(os.path.join(p, "report.json")):
            out[name + "/report.json"] = report_fields(os.path.join(p, "report.json"), dest)
    return out


# -- run / compare ---------------------------------------------------------------------------------

def run_corpus(checkout: str, dest: str, only: Optional[list[str]] = None, python: str = sys.executable) -> dict[str, Any]:
    """Run every job with `checkout`'s package into `dest`/JOB; write and return `dest`/manifest.json."""
    checkout = os.path.abspath(checkout)
    shutil.rmtree(dest, ignore_errors=True)
    inputs = os.path.join(dest, "inputs")
    make_inputs(inputs)
    env = dict(os.environ, PYTHONPATH=checkout, RAY_AUTH_MODE="disabled")
    manifest: dict[str, Any] = {"checkout": checkout, "jobs": {}}
    for name, runs in corpus(inputs).items():
        if only and name not in only:
            continue
        folder = os.path.join(dest, name)
        os.makedirs(folder)
        t0 = time.perf_counter()
        codes = []
        for args in runs:
            p = subprocess.run([python, "-m", "genrefocus_video.cli", "render", *args, "--no-progress"],
                               cwd=folder, env=env, capture_output=True, text=True)
            codes.append(p.returncode)
            if p.returncode != 0:
                print(f"{name}: exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        manifest["jobs"][name] = {"exit_codes": codes, "outputs": hash_folder(folder, os.path.abspath(dest))}
        print(f"{name}: {len(runs)} run(s), exit {codes}, {time.perf_counter() - t0:.1f} s", flush=True)
    with open(os.path.join(dest, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    return manifest


def time_jobs(checkouts: list[str], dest: str, jobs: list[str], repeat: int, python: str = sys.executable) -> None:
    """Wall time of `jobs` per checkout, runs alternating between the checkouts (same load for both);
    prints the median seconds per job and checkout and the ratio to the first checkout."""
    import statistics

    shutil.rmtree(dest, ignore_errors=True)
    inputs = os.path.join(dest, "inputs")
    make_inputs(inputs)
    table = corpus(inputs)
    times: dict[tuple[str, str], list[float]] = {}
    for k in range(repeat):
        for job in jobs:
            for c in checkouts:
                folder = os.path.join(dest, f"{job}.{k}.{checkouts.index(c)}")
                os.makedirs(folder)
                env = dict(os.environ, PYTHONPATH=os.path.abspath(c), RAY_AUTH_MODE="disabled")
                t0 = time.perf_counter()
                for args in table[job]:
                    subprocess.run([python, "-m", "genrefocus_video.cli", "render", *args, "--no-progress"],
                                   cwd=folder, env=env, capture_output=True, check=True)
                times.setdefault((job, c), []).append(time.perf_counter() - t0)
    for job in jobs:
        ref = statistics.median(times[(job, checkouts[0])])
        cells = [f"{c}: {statistics.median(times[(job, c)]):.2f} s ({statistics.median(times[(job, c)]) / ref:.2f}x)"
                 for c in checkouts]
        print(f"{job}: " + "; ".join(cells))


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Lines naming every job / output / field that differs between two manifests."""
    diffs = []
    for job in sorted(set(a["jobs"]) | set(b["jobs"])):
        ja, jb = a["jobs"].get(job), b["jobs"].get(job)
        if ja is None or jb is None:
            diffs.append(f"{job}: only in {'second' if ja is None else 'first'}")
            continue
        if ja["exit_codes"] != jb["exit_codes"]:
            diffs.append(f"{job}: exit codes {ja['exit_codes']} vs {jb['exit_codes']}")
        for out in sorted(set(ja["outputs"]) | set(jb["outputs"])):
            oa, ob = ja["outputs"].get(out), jb["outputs"].get(out)
            if oa is None or ob is None:
                diffs.append(f"{job}/{out}: only in {'second' if oa is None else 'first'}")
                continue
            for field in sorted(set(oa) | set(ob)):
                if field == "job" and isinstance(oa.get(field), dict) and isinstance(ob.get(field), dict):
                    diffs += [f"{job}/{out}: job {line}" for line in _job_diff(oa["job"], ob["job"])]
                elif oa.get(field) != ob.get(field):
                    diffs.append(f"{job}/{out}: {field} differs")
    return diffs


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _job_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The resolved jobs' differing settings. A parameter only one schema has (added or removed
    between the checkouts) is not a difference in what was rendered; it is named only if its value
    is set (not None / False), which would mean the job asked for something the other cannot do."""
    fa, fb = _flat(a), _flat(b)
    lines = [f"{k} differs ({fa[k]!r} vs {fb[k]!r})" for k in sorted(set(fa) & set(fb)) if fa[k] != fb[k]]
    for k in sorted(set(fa) ^ set(fb)):
        v = fa.get(k, fb.get(k))
        if v not in (None, False):
            lines.append(f"{k} only in the {'first' if k in fa else 'second'} schema, set to {v!r}")
    return lines


#: Compared between the faces of one job: the side outputs, and the pixels of lossless outputs. Not
#: compared: the H.264 output and depth preview (each chunk's segment is its own encode), the
#: container timing (a join writes per-segment durations), the report (it names the executor).
FACE_FIELDS = {"ba.png": ("pixels",), "sheet.png": ("pixels",), "plot.png": ("pixels",), "focus.json": ("sha256",),
               "focus.csv": ("sha256",), "out.mkv": ("pixels", "frames", "audio_packets"),
               "out.mov": ("pixels", "frames"), "out.%04d.exr": ("pixels", "frames")}


def same_side_outputs(manifest: dict[str, Any], groups: list[list[str]]) -> list[str]:
    """Within one manifest: jobs of a group (one job, other faces) must write equal outputs (FACE_FIELDS)."""
    diffs = []
    for group in groups:
        ref = manifest["jobs"].get(group[0])
        for other in group[1:]:
            o = manifest["jobs"].get(other)
            if ref is None or o is None:
                continue
            for out, fields in FACE_FIELDS.items():
                if out == "sheet.png" and "mp4" in group[0]:
                    continue  # read back from the H.264 output, whose chunks are separate encodes
                a, b = ref["outputs"].get(out), o["outputs"].get(out)
                if (a is None) != (b is None):
                    diffs.append(f"{group[0]} vs {other}: {out} written by one only")
                elif a is not None and any(a.get(f) != b.get(f) for f in fields):
                    diffs.append(f"{group[0]} vs {other}: {out} differs")
    return diffs


GROUPS = [["file_stream_mkv", "file_chunks3_mkv", "file_raystream_mkv", "file_raychunks_mkv", "file_farm_mkv"],
          ["file_stream_exr", "file_chunks2_exr"], ["motion_stream_mp4", "motion_chunks2_mp4", "motion_farm_mp4"],
          ["alpha_stream_mov", "alpha_chunks2_mov"]]


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the corpus with a checkout")
    r.add_argument("--checkout", default=REPO)
    r.add_argument("--out", required=True)
    r.add_argument("--only", nargs="*")
    c = sub.add_parser("compare", help="compare two manifests (exit 1 on any difference)")
    c.add_argument("a")
    c.add_argument("b")
    s = sub.add_parser("faces", help="within one manifest: do streaming, chunks, Ray and farm write the same?")
    s.add_argument("manifest")
    t = sub.add_parser("time", help="median wall time of some jobs per checkout, runs alternating")
    t.add_argument("--checkouts", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--jobs", nargs="+", default=["file_stream_mkv", "file_chunks3_mkv", "alpha_chunks2_mov"])
    t.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.cmd == "time":
        time_jobs(args.checkouts, args.out, args.jobs, args.repeat)
        return 0
    if args.cmd == "run":
        run_corpus(args.checkout, args.out, args.only)
        return 0
    if args.cmd == "faces":
        diffs = same_side_outputs(json.load(open(args.manifest)), GROUPS)
    else:
        diffs = compare(json.load(open(args.a)), json.load(open(args.b)))
    print("\n".join(diffs) if diffs else "identical")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())

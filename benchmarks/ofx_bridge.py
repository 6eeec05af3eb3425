"""OFX bridge overhead: a frame rendered through the bridge vs render_bokeh called directly.

Three measurements, medians over repeats, all in this session (the machine is shared and loaded,
so only the ratios and differences are meaningful):

1. transport only: a K = 0 request (the bridge copies the frame back) through the real socket and
   a memfd, at several frame sizes: protocol + shared-memory mapping + copies, no rendering;
2. render through the bridge (Python client) vs render_bokeh in this process, same pixels/params;
3. the C test host rendering N frames through the plugin and the bridge (includes reading and
   writing PFM files and converting to/from the OFX image layout) vs N direct renders;
4. with smoothing (motion depth, or a Depth clip): s/frame stepping forward and at random access,
   this checkout against a baseline checkout's bridge, interleaved.

Run: .venv/bin/python benchmarks/ofx_bridge.py [--out docs/benchmarks/ofx.md]
     .venv/bin/python benchmarks/ofx_bridge.py --only carry [--baseline /work/wt/base] (4. below)
"""
from __future__ import annotations

import argparse
import mmap
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genrefocus_video import render_bokeh  # noqa: E402
from genrefocus_video.ofx import protocol as P  # noqa: E402

PLUG = REPO / "plugins" / "ofx"
BINARY = PLUG / "build" / "GenRefocus.ofx.bundle" / "Contents" / "Linux-x86-64" / "GenRefocus.ofx"
HOST = PLUG / "build" / "testhost"


def scene(w: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, 3)).astype(np.float32)
    disp = np.full((h, w), 0.2, np.float32)
    disp[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 0.8
    return img, disp


_BUFFERS: dict[int, int] = {}


def _buffer(total: int) -> int:
    """One reused memfd per frame size, as the plugin pools its buffers (no per-frame page faults)."""
    if total not in _BUFFERS:
        fd = os.memfd_create("bench")
        os.ftruncate(fd, total)
        _BUFFERS[total] = fd
    return _BUFFERS[total]


LAST_SERVER_MS: list[float] = []


def client_render(sock_path: Path, img: np.ndarray, disp: np.ndarray, k: float, a: float) -> np.ndarray:
    """What the plugin does per frame: fill the shared buffer, send RENDER, read the output back."""
    return window_render(sock_path, [img], [disp], {"blur_k": k, "focus_disparity": a}, 0)


def window_render(sock_path: Path, imgs: list[np.ndarray], disps: list[np.ndarray], params: dict, t: int,
                  later: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """One request for frame t with the window t, t-1, ... (newest first) of source and depth frames
    (no depth frames: an estimated source, which also reads the frames `later`, t+1, ...)."""
    h, w = imgs[0].shape[:2]
    n = len(disps)
    sources = [*imgs, *later]
    req = P.RenderRequest(w, h, n, {}, (0.0, 0.0), False, sent_sources=len(sources), frames_after=len(later))
    _, d_off, o_off, total = req.layout()
    fd = _buffer(total)
    with mmap.mmap(fd, total, mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)) as mm:
        buf = np.frombuffer(mm, "<f4")
        for i, img in enumerate(sources):
            buf[i * h * w * 3:(i + 1) * h * w * 3] = img.reshape(-1)
        for i, disp in enumerate(disps):
            buf[d_off // 4 + i * h * w: d_off // 4 + (i + 1) * h * w] = disp.reshape(-1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(600)
            s.connect(str(sock_path))
            P.send_message(s, P.MSG_RENDER, {"width": w, "height": h, "depth_frames": n, "focus_from_point": False,
                                             "source_frames": len(sources), "frames_after": len(later),
                                             "time": float(t), "params": params}, [fd])
            kind, reply = P.recv_message(s)
            if kind != P.MSG_RENDER_OK:
                raise RuntimeError(reply)
            LAST_SERVER_MS.append(float(reply["ms"]))
        out = buf[o_off // 4: o_off // 4 + h * w * 3].reshape(h, w, 3).copy()
        del buf
    return out


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_pfm(path: Path, arr: np.ndarray) -> None:
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f4")[::-1])
    h, w = a.shape[:2]
    path.write_bytes((b"PF" if a.ndim == 3 else b"Pf") + f"\n{w} {h}\n-1.0\n".encode() + a.tobytes())


def moving_clip(w: int, h: int, n: int, seed: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured plane moving 2 px/frame over a static background, noisy depth (as the OFX test's)."""
    rng = np.random.default_rng(seed)
    back = rng.random((h, w, 3)).astype(np.float32)
    plane = rng.random((h // 2, w // 3, 3)).astype(np.float32)
    imgs, disps = [], []
    for f in range(n):
        img, disp = back.copy(), np.full((h, w), 0.2, np.float32)
        x0 = w // 4 + 2 * f
        img[h // 4:h // 4 + h // 2, x0:x0 + w // 3] = plane
        disp[h // 4:h // 4 + h // 2, x0:x0 + w // 3] = 0.8
        imgs.append(img)
        disps.append(disp + (0.02 * rng.standard_normal((h, w))).astype(np.float32))
    return imgs, disps


def smoothing_rows(sock_path: Path, k: float, a: float) -> list[tuple[str, int, float]]:
    """Per-frame time through the bridge at 640x360: Depth Smoothing off (one frame) vs 0.5 (the
    window of W + 1 = 21 source and depth frames, flow cache cold for the first frame, then a host
    stepping forward: one new flow per frame)."""
    from genrefocus_video.depth.temporal import warmup_frames

    s, steps = 0.5, 4
    wu = warmup_frames(s)
    imgs, disps = moving_clip(640, 360, wu + 1 + steps)
    params_off = {"blur_k": k, "focus_disparity": a}
    params_on = dict(params_off, depth_smoothing=s)
    rows = []
    off = [median_time(lambda t=t: window_render(sock_path, [imgs[t]], [disps[t]], params_off, t), 1)
           for t in range(wu, wu + steps)]
    rows.append(("off (frame t only)", 1, statistics.median(off) * 1e3))
    window = lambda t: (imgs[t - wu:t + 1][::-1], disps[t - wu:t + 1][::-1])  # noqa: E731
    t0 = time.perf_counter()
    window_render(sock_path, *window(wu), params_on, wu)
    rows.append((f"s = {s}, first frame (flow cache cold)", wu + 1, (time.perf_counter() - t0) * 1e3))
    on = [median_time(lambda t=t: window_render(sock_path, *window(t), params_on, t), 1)
          for t in range(wu + 1, wu + 1 + steps)]
    rows.append((f"s = {s}, stepping forward (one new flow per frame)", wu + 1, statistics.median(on) * 1e3))
    last = wu + steps
    again = [median_time(lambda kk=kk: window_render(sock_path, *window(last), dict(params_on, blur_k=kk), last), 1)
             for kk in (k + 1, k + 2, k + 3)]
    rows.append((f"s = {s}, same frame again, K changed (smoothed window cached)", wu + 1,
                 statistics.median(again) * 1e3))
    return rows


def panning_clip(w: int, h: int, n: int, seed: int = 2) -> list[np.ndarray]:
    """A camera panning over a textured background (2 px/frame) with a nearer textured plane
    (5 px/frame): the parallax motion depth triangulates."""
    rng = np.random.default_rng(seed)
    back = rng.random((h, w + 2 * n, 3)).astype(np.float32)
    plane = rng.random((h // 2, w // 3, 3)).astype(np.float32)
    frames = []
    for f in range(n):
        img = back[:, 2 * f:2 * f + w].copy()
        x0 = w // 2 - 5 * f
        img[h // 4:h // 4 + h // 2, x0:x0 + w // 3] = plane
        frames.append(img)
    return frames


def estimated_rows(sock_path: Path, k: float, a: float) -> list[tuple[str, int, float]]:
    """Per-frame time through the bridge at 640x360 with no depth clip, Depth Source = motion: the
    window [t - 8 - W, t + 8] of source frames, estimated by the bridge (ofx/estimate.py)."""
    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.depth.temporal import warmup_frames
    from genrefocus_video.ofx.estimate import source_reach

    before, after = source_reach("motion")
    steps, s = 3, 0.5
    wu = warmup_frames(s)
    t0 = before + wu
    imgs = panning_clip(640, 360, t0 + steps + 2 + after)
    motion = {"blur_k": k, "focus_disparity": a, "depth_source": SOURCES.index("motion")}  # a choice: its index
    smooth = dict(motion, depth_smoothing=s)

    def req(t: int, params: dict, back: int) -> float:
        past, later = imgs[t - back:t + 1][::-1], tuple(imgs[t + 1:t + 1 + after])
        return median_time(lambda: window_render(sock_path, past, [], params, t, later), 1) * 1e3

    rows = [("motion, first frame (nothing cached)", before + after + 1, req(t0, motion, before))]
    rows.append(("motion, stepping forward (one new estimate per frame)", before + after + 1,
                 statistics.median(req(t, motion, before) for t in range(t0 + 1, t0 + 1 + steps))))
    rows.append(("motion, same frame again, K changed (window cached)", before + after + 1,
                 req(t0 + steps, dict(motion, blur_k=k + 1), before)))
    req(t0 + steps + 1, smooth, before + wu)  # the smoothed window's estimates and flows cached up to t
    rows.append((f"motion + smoothing {s}, stepping forward", before + wu + after + 1,
                 req(t0 + steps + 2, smooth, before + wu)))
    return rows


def start_bridge(repo: Path, sock_path: Path) -> subprocess.Popen:
    """A bridge serving `sock_path` from the package of checkout `repo` (this one, or a baseline)."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    srv = subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", "ofx-serve", "--socket", str(sock_path),
                            "--idle-timeout", "0"], cwd=repo, env=env)
    for _ in range(600):
        if sock_path.exists():
            return srv
        if srv.poll() is not None:
            break
        time.sleep(0.05)
    srv.terminate()
    srv.wait(30)
    raise RuntimeError(f"no bridge at {sock_path}")


def carry_rows(socks: dict[str, Path], k: float, a: float, steps: int = 3,
               size: tuple[int, int] = (640, 360)) -> list[tuple[str, int, dict[str, float]]]:
    """Seconds per frame (`size`, 640x360) through each bridge (same requests, interleaved: baseline, then this
    checkout, per frame), for a host stepping forward and for random access (jumps back to frames
    not rendered yet: most of their window's estimates and flows are cached, its smoothing is not).
    Rows: (case, frames sent, {bridge: s per frame})."""
    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.depth.temporal import warmup_frames
    from genrefocus_video.ofx.estimate import source_reach

    before, after = source_reach("motion")
    s = 0.5
    wu = warmup_frames(s)
    t0 = before + wu + 3  # full windows also for the jumps back
    imgs = panning_clip(*size, t0 + steps + 1 + after)
    _, disps = moving_clip(*size, t0 + steps + 1)
    motion = {"blur_k": k, "focus_disparity": a, "depth_source": SOURCES.index("motion"), "depth_smoothing": s}
    clip = {"blur_k": k, "focus_disparity": a, "depth_smoothing": s}

    def motion_req(sock: Path, t: int) -> float:
        past, later = imgs[t - before - wu:t + 1][::-1], tuple(imgs[t + 1:t + 1 + after])
        return median_time(lambda: window_render(sock, past, [], motion, t, later), 1)

    def clip_req(sock: Path, t: int) -> float:
        return median_time(lambda: window_render(sock, imgs[t - wu:t + 1][::-1], disps[t - wu:t + 1][::-1], clip, t), 1)

    rows = []
    for name, req, n_sent in (("motion + smoothing 0.5", motion_req, before + wu + after + 1),
                              ("Depth clip + smoothing 0.5", clip_req, wu + 1)):
        cold = {b: req(sock, t0) for b, sock in socks.items()}  # nothing cached: W + 1 estimates / flows
        rows.append((f"{name}, first frame (nothing cached)", n_sent, cold))
        fwd: dict[str, list[float]] = {b: [] for b in socks}
        for t in range(t0 + 1, t0 + 1 + steps):
            for b, sock in socks.items():
                fwd[b].append(req(sock, t))
        rows.append((f"{name}, stepping forward", n_sent, {b: statistics.median(v) for b, v in fwd.items()}))
        rnd: dict[str, list[float]] = {b: [] for b in socks}
        for t in (t0 - 2, t0 - 3):  # not rendered before: a fresh window, 1 or 2 new estimates / flows
            for b, sock in socks.items():
                rnd[b].append(req(sock, t))
        rows.append((f"{name}, random access (jump back 2-3 frames; 1-2 new estimates/flows)", n_sent,
                     {b: statistics.median(v) for b, v in rnd.items()}))
    return rows


CARRY_HEADING = "## Stepping forward vs random access, with smoothing: this checkout vs the baseline"


def carry_section(rows: list[tuple[str, int, dict[str, float]]], baseline: Path, load0: str,
                  size: tuple[int, int]) -> str:
    stamp = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    load1 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join([
        CARRY_HEADING,
        "",
        f"Date: {stamp}. Machine: {os.cpu_count()}-core VM, no GPU, shared (load average at the start {load0}, "
        f"at the end {load1}). Baseline: `{baseline}` (the code before the bridge carried its state), its own "
        f"bridge process, the same requests interleaved frame by frame. {size[0]}x{size[1]}, panning clip, "
        "Python client.",
        f"Command: `python benchmarks/ofx_bridge.py --only carry --baseline {baseline}`.",
        "",
        "| case | frames sent | baseline s/frame | this checkout s/frame | speed-up |",
        "|---|---|---|---|---|",
        *[f"| {name} | {n} | {t['baseline']:.2f} | {t['new']:.2f} | {t['baseline'] / t['new']:.1f}x |"
          for name, n, t in rows],
        "",
        "Stepping forward, the bridge continues the stream the request for t - 1 left (ofx/stream.py):",
        "one new motion estimate, one flow and one smoothing step per frame, where the baseline ran the",
        "smoothing over the whole window (W + 1 = 21 frames) again. Random access still rebuilds the",
        "window (most of its estimates and flows come from the caches), as the baseline does every frame;",
        "with motion it is still faster than the baseline because a request hashes each of its frames once",
        "(the baseline hashed the frames an estimate can see again for every estimate's cache key). A first",
        "frame estimates the whole window in both. Frame t's disparity equals the CLI's within 1e-5 in",
        "every order (tests/test_ofx_depth_sources.py, tests/test_ofx_host.py, tests/test_ofx_stream.py).",
        "",
    ])


def replace_section(text: str, heading: str, section: str) -> str:
    """`text` with the section under `heading` (up to the next '## ' heading) replaced, or appended."""
    if heading not in text:
        return text.rstrip("\n") + "\n\n" + section
    head, rest = text.split(heading, 1)
    nxt = rest.find("\n## ")
    return head + section + (rest[nxt + 1:] if nxt >= 0 else "")


def run_carry(baseline: Path, out: Path, size: tuple[int, int]) -> int:
    """The stepping-forward vs random-access table, baseline and this checkout interleaved; replaces
    its section of `out`."""
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    subprocess.run(["make", "-C", str(PLUG)], check=True, capture_output=True)
    # a folder each: a bridge holds its folder's lock (one bridge per folder)
    socks = {b: Path(tempfile.mkdtemp(prefix=f"ofxcarry-{b}-")) / "bridge.sock" for b in ("baseline", "new")}
    procs: list[subprocess.Popen] = []
    try:
        procs.append(start_bridge(baseline, socks["baseline"]))
        procs.append(start_bridge(REPO, socks["new"]))
        img, disp = scene(64, 64)
        for sock in socks.values():
            client_render(sock, img, disp, 4.0, 0.8)  # warm: renderer import in each bridge
        rows = carry_rows(socks, 6.0, 0.8, size=size)
    finally:
        for srv in procs:
            srv.send_signal(signal.SIGTERM)
            srv.wait(30)
        for sock in socks.values():
            shutil.rmtree(sock.parent, ignore_errors=True)
    section = carry_section(rows, baseline, load0, size)
    print(section)
    text = out.read_text() if out.exists() else "# OFX bridge benchmark\n"
    tmp_out = out.with_suffix(".md.tmp")
    tmp_out.write_text(replace_section(text, CARRY_HEADING, section))
    os.replace(tmp_out, out)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks" / "ofx.md"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["carry"], help="only the stepping-forward vs random-access table")
    ap.add_argument("--baseline", default="/work/wt/base", help="checkout to compare with (--only carry)")
    ap.add_argument("--size", default="640x360", help="frame size WxH (--only carry)")
    args = ap.parse_args()
    if args.only == "carry":
        w, h = (int(x) for x in args.size.split("x"))
        return run_carry(Path(args.baseline), Path(args.out), (w, h))
    subprocess.run(["make", "-C", str(PLUG)], check=True, capture_output=True)
    tmp = Path(tempfile.mkdtemp(prefix="ofxbench-"))
    os.chmod(tmp, 0o700)
    sock_path = tmp / "bridge.sock"
    srv = subprocess.Popen([sys.executable, "-m", "genrefocus_video.cli", "ofx-serve", "--socket", str(sock_path),
                            "--idle-timeout", "0"], cwd=REPO)
    rows_t, rows_r = [], []
    try:
        for _ in range(200):
            if sock_path.exists():
                break
            time.sleep(0.05)
        img, disp = scene(64, 64)
        client_render(sock_path, img, disp, 4.0, 0.8)  # warm: renderer import in the bridge
        render_bokeh(img, disp, 0.8, 4.0)

        for w, h in [(640, 360), (1280, 720), (1920, 1080)]:
            img, disp = scene(w, h)
            LAST_SERVER_MS.clear()
            t_copy = median_time(lambda: client_render(sock_path, img, disp, 0.0, 0.8), args.repeats)
            server_ms = statistics.median(LAST_SERVER_MS)
            rows_t.append((w, h, t_copy * 1e3, server_ms, img.nbytes * 2 / t_copy / 1e9))

        k, a = 6.0, 0.8
        for w, h in [(320, 180), (640, 360)]:
            img, disp = scene(w, h)
            ref = render_bokeh(img, disp, a, k)
            assert np.array_equal(client_render(sock_path, img, disp, k, a), ref)
            t_direct = median_time(lambda: render_bokeh(img, disp, a, k), args.repeats)
            t_bridge = median_time(lambda: client_render(sock_path, img, disp, k, a), args.repeats)
            rows_r.append((w, h, t_direct * 1e3, t_bridge * 1e3, (t_bridge - t_direct) * 1e3, t_bridge / t_direct))

        rows_s = smoothing_rows(sock_path, k, a)
        rows_e = estimated_rows(sock_path, k, a)

        # C test host: N frames through the real plugin.
        n, (w, h) = 5, (640, 360)
        img, disp = scene(w, h)
        write_pfm(tmp / "src.pfm", img)
        write_pfm(tmp / "depth.pfm", disp)
        (tmp / "anim.txt").write_text(f"0 blur_k {k}\n0 focus_from_point false\n0 focus_disparity {a}\n")
        env = dict(os.environ, GENREFOCUS_OFX_SOCKET=str(sock_path))
        cmd = [str(HOST), str(BINARY), "--source", str(tmp / "src.pfm"), "--depth", str(tmp / "depth.pfm"),
               "--out", str(tmp / "o_%d.pfm"), "--frames", str(n), "--anim", str(tmp / "anim.txt")]
        t_host = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True, env=env), 3)
        t_dir = median_time(lambda: [render_bokeh(img, disp, a, k) for _ in range(n)], 3)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(30)

    stamp = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# OFX bridge benchmark",
        "",
        f"Date: {stamp}. Machine: 2-core VM, 24 GiB, no GPU ({platform.processor() or platform.machine()}), "
        "shared with other jobs running at the same time: absolute times are noisy, compare within a table. "
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        f"Command: `.venv/bin/python benchmarks/ofx_bridge.py` (median of {args.repeats} runs; host runs: median of 3).",
        "",
        "## Transport only (K = 0: the bridge copies the frame back; socket + reused memfd + copies in and out)",
        "",
        "| frame | round trip ms | of which in the bridge ms (map + copy) | effective GB/s (in + out) |",
        "|---|---|---|---|",
        *[f"| {w}x{h} | {ms:.1f} | {sms:.1f} | {gbs:.2f} |" for w, h, ms, sms, gbs in rows_t],
        "",
        "The rest of the round trip is this Python client's own work (mapping, filling and reading back",
        "its reused buffer: about three copies of the frame), which the plugin does in C while converting",
        "the host's pixels. Runs on this shared machine vary by tens of percent (ratios below 1 in the",
        "next table are noise): read the overhead column as an order of magnitude.",
        "",
        f"## Render through the bridge vs render_bokeh in-process (K = {k}, disc, same pixels; outputs bit-identical)",
        "",
        "| frame | direct ms | via bridge ms | overhead ms | ratio |",
        "|---|---|---|---|---|",
        *[f"| {w}x{h} | {d:.1f} | {b:.1f} | {o:+.1f} | {r:.2f} |" for w, h, d, b, o, r in rows_r],
        "",
        "## Depth Smoothing: bridge time per frame at 640x360 (Python client; request incl. copies)",
        "",
        "| Depth Smoothing | frames sent | ms per frame | ratio to off |",
        "|---|---|---|---|",
        *[f"| {name} | {nf} | {ms:.0f} | {ms / rows_s[0][2]:.1f} |" for name, nf, ms in rows_s],
        "",
        "With smoothing on, every request runs the CLI's flow + smoothing stages over its whole window",
        "(W = warmup_frames(0.5) = 20 earlier frames), so the result depends only on the clip and t; the",
        "bridge's flow cache saves the window's earlier flows and leaves the smoothing of the window as the",
        "per-frame cost; a frame rendered again with other lens settings reuses its smoothed disparity",
        "(hashing the window's frames is what remains).",
        "",
        "## No Depth clip, Depth Source = motion: bridge time per frame at 640x360 (Python client)",
        "",
        "| Depth Source | source frames sent | ms per frame | ratio to a depth clip, smoothing off |",
        "|---|---|---|---|",
        *[f"| {name} | {nf} | {ms:.0f} | {ms / rows_s[0][2]:.1f} |" for name, nf, ms in rows_e],
        "",
        "The bridge runs the CLI's motion source over the window (8 frames of pair history before t, up",
        "to 8 after it to triangulate against; the history frames are only primed, not estimated); each",
        "frame's estimate is cached by the content of the frames it can see, so a host stepping forward",
        "estimates one new frame per request (with smoothing: plus one new flow, and the smoothing over",
        "the window). A panning 640x360 clip (background 2 px/frame, a nearer plane 5 px/frame).",
        "",
        f"## C test host + plugin + bridge, {n} frames {w}x{h} (includes PFM read/write, format conversion, "
        "host process start)",
        "",
        "| path | total s | per frame ms | ratio |",
        "|---|---|---|---|",
        f"| render_bokeh x{n} in-process | {t_dir:.2f} | {t_dir / n * 1e3:.1f} | 1.00 |",
        f"| testhost → plugin → bridge | {t_host:.2f} | {t_host / n * 1e3:.1f} | {t_host / t_dir:.2f} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".md.tmp")
    tmp_out.write_text(text)
    os.replace(tmp_out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

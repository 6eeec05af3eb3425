"""The OFX plugin without a Depth clip: Depth Source = motion or model, estimated by the bridge.

The host renders frames through the real plugin and bridge from Source alone; the expectation is
the real CLI (`genrefocus-video render --depth-source motion|model`) writing float EXR frames of
the same pixels. The test host fails any fetch the plugin did not declare in GetFramesNeeded (and
any fetch outside the clip), so a passing render fetched only its declared window
[max(first, t - before - W), min(last, t + after)] (before / after: ofx.estimate.source_reach).
Every test here also runs under the sanitizer builds (GENREFOCUS_OFX_SANITIZE, `make test`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_ofx_host import (_frames_needed, bridge_dir, built, fresh_bridge_dir, read_pfm, run_host,  # noqa: E402,F401
                           write_anim, write_pfm)

from genrefocus_video.depth.temporal import warmup_frames  # noqa: E402
from genrefocus_video.ofx.estimate import default_smoothing, source_reach  # noqa: E402

N = 10  # frames of the clip


def _cli(src: Path, out_dir: Path, *args: str) -> list[np.ndarray]:
    """The CLI's float EXR frames for the same clip and settings."""
    from genrefocus_video.cli import main
    from genrefocus_video.io.images import read_image

    out_dir.mkdir()
    assert main(["render", str(src / "src.%04d.exr"), "-o", str(out_dir / "out.%04d.exr"), "--codec", "exr",
                 "--no-exr-half", "--no-progress", "--executor", "local", *args]) == 0
    return [read_image(str(p)).pixels for p in sorted(out_dir.glob("out.*.exr"))]


@pytest.fixture(scope="module")
def pan_clip(lfbench, tmp_path_factory):
    """lfbench's camera pan with a subject walking toward it, 64×48, 10 frames: EXR for the CLI, PFM
    for the test host (the same float32 values)."""
    from lfbench_motion_clips import render_clip

    from genrefocus_video.io.images import write_image

    d = tmp_path_factory.mktemp("pan")
    frames = render_clip(3, (64, 48), N, "pan")["aif"]
    for f, img in enumerate(frames):
        write_image(str(d / f"src.{f:04d}.exr"), img.astype(np.float32), exr_half=False)
        write_pfm(d / f"src_{f}.pfm", img)
    return d, frames.astype(np.float32)


ORDERS = {"forward": list(range(N)), "backward": list(range(N - 1, -1, -1)), "random": [6, 2, 9, 0, 4, 8, 1, 7, 3, 5]}


def _host(bridge_dir: Path, src: Path, out: Path, anim: list[str], order: str = "forward", **kw) -> dict:
    """Render the clip's N frames in `order` (forward: t after t - 1, the bridge carries its state)."""
    proc = run_host(bridge_dir, "--source", src / "src_%d.pfm", "--out", out / "o_%d.pfm", "--frames", str(N),
                    "--order", ",".join(map(str, ORDERS[order])), "--anim", write_anim(out / "anim.txt", anim),
                    timeout=kw.get("timeout", 300))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the host fails any undeclared fetch
    return _frames_needed(proc.stdout)


def test_motion_source_reach_is_its_history_and_look_ahead():
    """The frames the plugin declares come from the motion source itself: the pair history it keeps
    and the frames after t it triangulates against when no earlier one has parallax (max_gap, 8),
    each widened by the neighbours a frame without motion depth of its own may hold (max_hold, 8)."""
    from genrefocus_video.depth.motion import MotionDepthSource

    m = MotionDepthSource()
    assert source_reach("motion") == (m.warmup, m.reach_after) == (16, 16)
    assert m.warmup == m.max_gap + m.max_hold
    assert source_reach("file") == (0, 0)


def test_sources_table_is_generated_from_the_sources_and_the_schema():
    """sources.tsv (what the plugin reads at Load): one row per Depth Source choice with its reach and
    the smoothing strength the schema's default Depth Smoothing gives it."""
    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.ofx.estimate import to_sources_tsv
    from genrefocus_video.params import JobParams
    from genrefocus_video.params.schema import with_overrides

    rows = [line.split("\t") for line in to_sources_tsv().splitlines() if not line.startswith("#")]
    assert [r[0] for r in rows] == list(SOURCES)
    for name, before, after, smoothing in rows:
        assert (int(before), int(after)) == source_reach(name)
        depth = with_overrides(JobParams(), {"depth.source": name}, "test").depth
        assert float(smoothing) == depth.smoothing_strength


@pytest.fixture(scope="module")
def motion_cli(pan_clip, tmp_path_factory) -> list[np.ndarray]:
    """The CLI's frames with --depth-source motion (smoothing left at auto), K 6, focus 0.9."""
    src, _ = pan_clip
    return _cli(src, tmp_path_factory.mktemp("motion") / "cli", "--depth-source", "motion", "--k", "6",
                "--focus-disparity", "0.9")


@pytest.mark.parametrize("order", list(ORDERS))
def test_motion_depth_without_depth_clip_equals_the_cli(built, fresh_bridge_dir, pan_clip, motion_cli, tmp_path, order):
    """Depth Source = motion, no Depth clip: every frame equals the CLI's --depth-source motion frame
    within 1e-5 (the estimate at t reads frames t-16..t+16, which the plugin declares and fetches:
    clamped to the clip, so the first frames triangulate against later ones as the CLI's do), whether
    the host steps forward (the bridge carries its state from t to t + 1), backward, or jumps (each
    request a fresh window); a bridge of its own per order, so nothing is cached from another."""
    from genrefocus_video.depth.motion import MotionDepthSource
    from genrefocus_video.io.frame import Frame
    from genrefocus_video.record import FrameRecord

    src, frames = pan_clip
    # the clip exercises both paths of the source: real triangulation (against earlier and later frames)
    # and frames whose parallax is too small, which hold a neighbour's map (estimated in whichever order
    # the host asks: the held map must not depend on it)
    m = MotionDepthSource(frame_lookup=lambda i: frames[i] if 0 <= i < N else None, quiet=True)
    notes = [m.estimate(FrameRecord(Frame(i, frames[i]))).notes for i in range(N)]
    assert any("pair" in n and n["pair"] > i for i, n in enumerate(notes)) and any("held_from" in n for n in notes)
    needed = _host(fresh_bridge_dir, src, tmp_path, ["0 depth_source motion", "0 blur_k 6", "0 focus_from_point false",
                                                     "0 focus_disparity 0.9"], order)
    before, after = source_reach("motion")
    smooth = warmup_frames(default_smoothing("motion"))  # Depth Smoothing left at auto: the CLI's default
    assert smooth > 0
    for t in range(N):
        # t + after + 1: the smoothing's look-ahead estimates frame t + 1, which reads `after` beyond it
        assert needed[t]["Source"] == [max(0, t - before - smooth), min(N - 1, t + after + 1)], (t, needed[t])
    assert len(motion_cli) == N
    for t in range(N):
        host = read_pfm(tmp_path / f"o_{t}.pfm")
        assert np.abs(host - frames[t]).max() > 0.05, t  # the frame really is refocused
        np.testing.assert_allclose(host, motion_cli[t], rtol=0, atol=1e-5, err_msg=f"frame {t}")


def test_motion_depth_smoothed_with_focus_point_equals_the_cli(built, bridge_dir, pan_clip, tmp_path):
    """Motion depth + Depth Smoothing 0.3 + Focus From Point: frame t equals the CLI's
    (--depth-smoothing 0.3 --focus-point X,Y@t) within 1e-5; the window [t - 8 - W, t + 8 + 1] (W = 12;
    + 1: the smoothing's look-ahead estimates frame t + 1) reaches the clip's start, as the CLI's run does."""
    from genrefocus_video.depth.temporal import warmup_frames

    src, frames = pan_clip
    h = frames.shape[1]
    x, y = 40, 30
    needed = _host(bridge_dir, src, tmp_path, ["0 depth_source motion", "0 blur_k 6", "0 depth_smoothing 0.3",
                                               "0 focus_from_point true", f"0 focus_point {x + 0.5} {h - y - 0.5}"])
    before, after = source_reach("motion")
    for t in range(N):
        assert needed[t]["Source"] == [max(0, t - before - warmup_frames(0.3)), min(N - 1, t + after + 1)], t
    for t in (3, N - 1):
        cli = _cli(src, tmp_path / f"cli{t}", "--depth-source", "motion", "--depth-smoothing", "0.3", "--k", "6",
                   "--focus-point", f"{x},{y}@{t}", "--last-frame", str(t))
        np.testing.assert_allclose(read_pfm(tmp_path / f"o_{t}.pfm"), cli[t], rtol=0, atol=1e-5, err_msg=f"frame {t}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from depth_model_fixtures import build

    return build("depth_anything", tmp_path_factory.mktemp("model") / "depth_anything")


def test_learned_model_without_depth_clip_equals_the_cli(built, bridge_dir, pan_clip, tiny_model, tmp_path):
    """Depth Source = model with Depth Model = a tiny random Depth Anything folder: every frame equals
    the CLI's --depth-source model --depth-model DIR within 1e-5. A relative model's alignment
    carries over 66 frames, and the default smoothing looks one frame ahead: the plugin declares
    Source over [max(first, t - 66), t + 1]."""
    src, frames = pan_clip
    needed = _host(bridge_dir, src, tmp_path, ["0 depth_source model", f"0 depth_model {tiny_model}", "0 blur_k 5",
                                               "0 focus_from_point false", "0 focus_disparity 1.0"])
    before, after = source_reach("model")
    assert (before, after) == (66, 0)
    for t in range(N):
        assert needed[t]["Source"] == [max(0, t - before), min(N - 1, t + 1)], (t, needed[t])
    cli = _cli(src, tmp_path / "cli", "--depth-source", "model", "--depth-model", str(tiny_model), "--k", "5",
               "--focus-disparity", "1.0")
    for t in range(N):
        host = read_pfm(tmp_path / f"o_{t}.pfm")
        assert np.abs(host - frames[t]).max() > 0.05, t
        np.testing.assert_allclose(host, cli[t], rtol=0, atol=1e-5, err_msg=f"frame {t}")


def test_missing_model_weights_reach_the_host_message_suite(built, bridge_dir, pan_clip, tmp_path):
    """Depth Model pointing at a folder without weights: that frame fails with one line naming the
    folder, posted as the node's persistent error (message suite V2), never a crash."""
    src, _ = pan_clip
    missing = tmp_path / "no_such_model"
    proc = run_host(bridge_dir, "--source", src / "src_%d.pfm", "--out", tmp_path / "o_%d.pfm", "--frames", "1",
                    "--anim", write_anim(tmp_path / "anim.txt", ["0 depth_source model", f"0 depth_model {missing}",
                                                                 "0 blur_k 5"]))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "plugin message (OfxMessageError, persistent)" in ln]
    assert len(lines) == 1, proc.stdout
    assert "GenRefocus: frame 0: bridge failed:" in lines[0] and str(missing) in lines[0], lines[0]
    assert not (tmp_path / "o_0.pfm").exists()


def test_bridge_loads_the_model_once_and_predicts_one_new_frame_per_step(pan_clip, tiny_model):
    """In one bridge process the weights load once (shared by every request), and a host stepping
    from t to t+1 makes one new prediction (the rest of the window is cached by frame content); the
    cached result equals a fresh bridge's."""
    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.ofx import protocol as P
    from genrefocus_video.ofx.renderer import Renderer

    _, frames = pan_clip
    h, w = frames.shape[1:3]
    params = {"depth_source": SOURCES.index("model"), "depth_model": str(tiny_model), "blur_k": 5.0,
              "focus_from_point": False, "focus_disparity": 1.0}

    def request(r: Renderer, t: int) -> np.ndarray:
        req = P.RenderRequest(w, h, 0, dict(params), (0.0, 0.0), False, time=float(t), sent_sources=t + 1)
        return r.render(req, [frames[i] for i in range(t, -1, -1)], [])

    bridge = Renderer()
    request(bridge, 5)
    predictions = bridge.estimates["models"].predictions
    before = predictions.misses
    out = request(bridge, 6)
    assert bridge.estimates["models"].models.loads == 1
    assert predictions.misses - before == 1  # frame 6 only: frames 0..5 were predicted for frame 5
    np.testing.assert_array_equal(out, request(Renderer(), 6))


def test_motion_window_estimates_one_new_frame_per_step(lfbench):
    """A full motion window [t - 16, t + 16] primes the pair history with t - 16 .. t - 1 and estimates
    t alone (what the CLI's run computes at t: every estimate has its whole history); a host stepping
    to t + 1 makes one new estimate and re-renders of a window make none."""
    from lfbench_motion_clips import render_clip

    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.ofx import protocol as P
    from genrefocus_video.ofx.renderer import Renderer

    before, after = source_reach("motion")
    frames = render_clip(3, (64, 48), before + after + 2, "pan")["aif"].astype(np.float32)
    h, w = frames.shape[1:3]
    params = {"depth_source": SOURCES.index("motion"), "blur_k": 5.0, "focus_from_point": False,
              "focus_disparity": 0.9, "depth_smoothing": 0.0}  # the estimator alone (auto would smooth)
    bridge = Renderer()

    def request(t: int, k: float = 5.0) -> np.ndarray:
        req = P.RenderRequest(w, h, 0, dict(params, blur_k=k), (0.0, 0.0), False, time=float(t),
                              sent_sources=before + 1 + after, frames_after=after)
        return bridge.render(req, [frames[i] for i in range(t, t - before - 1, -1)], [],
                             [frames[i] for i in range(t + 1, t + 1 + after)])

    request(before)
    estimates = bridge.estimates["estimates"]
    assert estimates.misses == 1  # frame `before` only: 0 .. before - 1 primed its history
    request(before + 1)
    request(before + 1, k=7.0)
    assert estimates.misses == 2

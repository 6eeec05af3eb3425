"""Issue 15, "Done when" 2: a long handheld clip with a subject walking toward the camera, rendered
through the CLI with estimated depth (`--depth-source motion --depth-smoothing 0.8 --focus-track
follow`) and a K at which the estimate reaches past the frame, completes every frame; an estimator
failure at frame N keeps the frames finished before it and the rerun of the same command resumes
there: frame N − 1, whose smoothing looks one frame ahead to frame N's estimate, is smoothed
without it, as the last frame of a job ending there is, so frames < N are kept, and the resumed clip
is the unbroken one but for that frame.

The clip is lfbench's handheld "shake" clip (tests/lfbench_motion_clips.py: lateral pan, a new
random camera jitter every frame, the subject approaching from disparity 0.29 to 0.78 while
drifting sideways), 120 frames of 128x72, with exact per-frame disparity and the subject's mask.
The issue's job died at frame 95 on "blur radius reaches 1498 px"; here K = 64 makes the smoothed
estimate reach past the 128 px frame on some frames (the report counts them), and the job must
finish all the same (K = 40 did until 2026-12-05; since the smoother's outlier test also catches
shift jumps, the smoothed estimate's largest reach at 40 is 122 px: the clamp had nothing to do). tests/test_pipeline_keep.py covers kept frames with file depth and toy
stages; this covers the estimate path: motion depth + smoothing + a followed subject, whose state
reaches back to the box frame, so the rerun replays frames 0..N-1 before writing from N (the
failing job renders the first half of the clip, whose unbroken pass is the first half of the
long one: the replay is what makes a resume with follow focus cost the most).

Cost, measured when written (2026-12-04, 2 cores shared by 6 engineers, load 15): 65 s of CPU for
the module (165 s wall): the unbroken pass (120 frames) and the failing + resumed half-clip job
(20 + 48 frames through the head). ~70 % of it is the motion estimator's pose search
(depth/motion.py `_translation_ransac`, a numpy call per RANSAC hypothesis), not the pixels: smaller
frames would not make it cheaper.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import test_pipeline_kit as kit
from lfbench_motion_clips import render_clip

from genrefocus_video.cli import main
from genrefocus_video.pipeline.keep import kept_dir
from genrefocus_video.pipeline.workdir import WorkDir

pytestmark = pytest.mark.slow

SEED, SIZE, FRAMES, K = 2, (128, 72), 120, 64.0
FAIL_AT, LAST = 20, 47  # the injected estimator failure; the failing job renders frames 0..LAST (cost)
BOX_TOL, BOX_SUBJECT = 0.6, 0.6  # box centre off the subject's centroid / its radius; subject share of the box
MEASURE_TOL = 0.12  # RMS |measured - subject's disparity in the used depth| / the frame's 5-95 % span
GT_TOL = 0.10  # RMS |aligned focus - subject GT disparity| / the subject's GT disparity travel


@pytest.fixture(scope="module")
def clip(lfbench, tmp_path_factory) -> dict:
    """The rendered clip as an EXR sequence (linear RGB), its ground truth and the subject's box at
    frame 0 (the `lfbench` fixture skips, naming the path, where ../shared is absent)."""
    from lfbench.io import write_float

    c = render_clip(SEED, SIZE, FRAMES, "shake")
    root = tmp_path_factory.mktemp("handheld")
    (root / "aif").mkdir()
    for t, rgb in enumerate(c["aif"]):
        write_float(str(root / "aif" / f"{t:04d}.exr"), rgb)
    ys, xs = np.nonzero(c["subject"][0])
    c["box"] = f"{xs.min()},{ys.min()},{xs.max() - xs.min() + 1},{ys.max() - ys.min() + 1}"
    c["src"], c["root"] = str(root / "aif" / "%04d.exr"), root
    return c


def _argv(clip: dict, out: Path, *more: str) -> list[str]:
    """The issue's command on the clip (lossless FFV1, so passes compare bit for bit)."""
    return ["render", clip["src"], "-o", str(out), "--fps", "24", "--depth-source", "motion",
            "--depth-smoothing", "0.8", "--focus-track", "follow", "--focus-box", clip["box"], "--k", str(K),
            "--codec", "ffv1", "--executor", "local", "--no-progress", *more]


def _read_depth(pattern: str) -> np.ndarray:
    from genrefocus_video.io.depthio import open_depth

    with open_depth(pattern, kind="disparity") as seq:
        return np.stack(list(seq))


def _report(out: Path) -> dict:
    return json.loads(Path(str(out) + ".work", "report.json").read_text())


@pytest.fixture(scope="module")
def unbroken(clip) -> dict:
    """One unbroken pass, with the focus track and the disparity the render used (--depth-out)."""
    root = clip["root"]
    (root / "used").mkdir()
    out = root / "unbroken.mkv"
    rc = main(_argv(clip, out, "--export-focus-track", str(root / "track.json"),
                    "--depth-out", str(root / "used" / "%04d.exr")))
    assert rc == 0
    return {"out": out, "frames": kit.read_all(str(out)), "report": _report(out),
            "track": json.loads((root / "track.json").read_text()),
            "used": _read_depth(str(root / "used" / "%04d.exr"))}


def test_every_frame_is_written_and_the_report_counts_the_estimates_fixes(clip, unbroken):
    frames = unbroken["frames"]
    assert frames.shape == (FRAMES, SIZE[1], SIZE[0], 3) and np.isfinite(frames).all()
    assert unbroken["report"]["frames"] == FRAMES
    import av  # a second decoder: the container holds every frame, not only what our reader returns

    with av.open(str(unbroken["out"])) as c:
        assert sum(1 for _ in c.decode(video=0)) == FRAMES
    est = unbroken["report"]["depth_estimate"]
    assert [r["frame"] for r in est["per_frame"]] == list(range(FRAMES))
    # the failure: the estimate reaching past the frame at this K is clamped, not refused
    clamped = [r["frame"] for r in est["per_frame"] if r["blur_clamped"]]
    assert clamped and est["pixels"]["blur_clamped"] == sum(r["blur_clamped"] for r in est["per_frame"])
    assert est["pixels"]["outliers"] > 0  # motion-stereo outliers clamped into the robust range
    assert est["frames_fixed"] == sum(1 for r in est["per_frame"] if r["nonfinite"] + r["outliers"] + r["blur_clamped"])
    # the used disparity stays within the blur reach the renderer accepts (max(H, W) px)
    focus = np.array([r["focus_disparity"] for r in unbroken["track"]])
    reach = K * np.abs(unbroken["used"] - focus[:, None, None]).reshape(FRAMES, -1).max(axis=1)
    assert reach.max() <= max(SIZE) + 1e-3
    # the refocus shows: the output is not the all-in-focus input
    assert np.abs(frames - np.clip(clip["aif"], 0, None)).mean() > 1e-3


def _subject_in_used_depth(clip: dict, used: np.ndarray) -> np.ndarray:
    return np.array([np.median(d[m]) for d, m in zip(used, clip["subject"])])


def test_the_followed_box_stays_on_the_subject_and_measures_it_in_the_estimate(clip, unbroken):
    """Follow on an estimate, against lfbench's subject mask: every frame is tracked, the box's
    centre stays within BOX_TOL of the subject's radius from its true centroid and is mostly
    subject; the subject disparity measured in the box is the subject's (median over its true
    pixels) in the depth the render used, RMS within MEASURE_TOL of the frame's 5-95 % span."""
    rows = unbroken["track"]
    assert [r["frame"] for r in rows] == list(range(FRAMES)) and all(r["status"] == "tracking" for r in rows)
    for r, m in zip(rows, clip["subject"]):
        ys, xs = np.nonzero(m)
        radius = np.sqrt(m.sum() / np.pi)
        off = np.hypot(r["box_x"] + r["box_w"] / 2 - xs.mean(), r["box_y"] + r["box_h"] / 2 - ys.mean())
        assert off < BOX_TOL * radius, (r["frame"], off / radius)
        x0, y0 = max(int(round(r["box_x"])), 0), max(int(round(r["box_y"])), 0)
        inside = m[y0:int(round(r["box_y"] + r["box_h"])), x0:int(round(r["box_x"] + r["box_w"]))]
        assert inside.mean() > BOX_SUBJECT, (r["frame"], inside.mean())
    used = unbroken["used"]
    measured = np.array([r["subject_disparity"] for r in rows])
    span = np.array([np.subtract(*np.percentile(d, [95, 5])) for d in used])
    err = (measured - _subject_in_used_depth(clip, used)) / span
    assert np.sqrt(np.mean(err ** 2)) < MEASURE_TOL, float(np.sqrt(np.mean(err ** 2)))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="motion depth cannot triangulate a subject that moves on its own: the "
                   "estimate holds the approaching subject near the background's disparity (aligned 0.40-0.47 "
                   "while its truth goes 0.29 -> 0.78; RMS 0.19, 39 % of the travel), so the followed focus "
                   "cannot track the truth. Looming (depth/independent_motion.py) does not rescue it at 128x72: "
                   "the DIS flow sees 1.00-1.33x of the subject's 2.71x growth (512x288 'fine': 2.56x), the "
                   "moving region is not separable from the flow (IoU 0.00-0.01), the box-frame anchor is 45 % "
                   "high (0.42 vs 0.29), and even a true anchor with true looming leaves 5-15 % of the travel "
                   "from the map's per-frame scale; benchmarks/looming_lfbench.py, docs/benchmarks/looming.md, "
                   "docs/temporal.md 'Which depth source for which footage'")
def test_followed_focus_tracks_the_subjects_true_disparity(clip, unbroken):
    """The focus, mapped to lfbench units by each frame's scale on the static scene (motion depth is
    known up to scale), against the subject's true disparity: RMS within GT_TOL of its travel."""
    gt, subj = clip["disparity"], clip["subject"]
    focus = np.array([r["focus_disparity"] for r in unbroken["track"]])
    aligned = []
    for t, d in enumerate(unbroken["used"]):
        static = ~subj[t] & (gt[t] >= 0.1)
        aligned.append(focus[t] * np.median(gt[t][static] / np.maximum(d[static], 1e-6)))
    truth = np.array([np.median(g[m]) for g, m in zip(gt, subj)])
    rms = float(np.sqrt(np.mean((np.array(aligned) - truth) ** 2)))
    assert rms < GT_TOL * (truth.max() - truth.min()), rms


def _flaky_motion_source(at: int, flag: Path) -> type:
    """The real motion estimator, failing at frame `at` while `flag` exists, as its pose solve can
    (numpy's SVD raising LinAlgError on a degenerate frame); it records the frames it estimated."""
    from genrefocus_video.depth.motion import MotionDepthSource

    class FlakyMotionDepth(MotionDepthSource):
        seen: list[int] = []

        def estimate(self, rec):
            if rec.index == at and flag.exists():
                raise np.linalg.LinAlgError("SVD did not converge")
            FlakyMotionDepth.seen.append(rec.index)
            return super().estimate(rec)

    return FlakyMotionDepth


def test_an_estimator_failure_keeps_the_finished_frames_and_the_rerun_resumes(clip, unbroken, tmp_path,
                                                                              monkeypatch, capsys, caplog):
    import genrefocus_video.depth.motion as motion

    flag = tmp_path / "degenerate"
    flag.write_text("1")
    flaky = _flaky_motion_source(FAIL_AT, flag)
    monkeypatch.setattr(motion, "MotionDepthSource", flaky)  # what make_source builds for --depth-source motion
    out = tmp_path / "out.mkv"
    argv = _argv(clip, out, "--last-frame", str(LAST))  # frames 0..LAST: the unbroken pass's first frames
    assert main(argv) == 6  # a job failure (README "Exit codes")
    err, n = capsys.readouterr().err.strip().splitlines()[-1], FAIL_AT
    # every frame before the failing one is kept: frame N-1, whose smoothing looks ahead to frame N's
    # estimate, is smoothed without it (as a clip's last frame is) and written
    assert f"LinAlgError: SVD did not converge; {n} finished frames (0-{n - 1}) are kept in" in err
    assert f"frame {n}: its depth estimate failed (LinAlgError: SVD did not converge); frame {n - 1} is " \
        "smoothed without its look-ahead" in caplog.text
    assert "rerun the same command to resume" in err and not out.exists()
    part = kit.read_all(os.path.join(kept_dir(WorkDir(str(out) + ".work")), "kept_0000.mkv"))
    assert len(part) == n and np.array_equal(part[:n - 1], unbroken["frames"][:n - 1])
    # frame N-1 is the one a job ending there writes: the failure past its last frame does not fail it
    ending = tmp_path / "ending.mkv"
    assert main(_argv(clip, ending, "--last-frame", str(n - 1))) == 0
    assert np.array_equal(kit.read_all(str(ending)), part)
    # ... and only the look-ahead's share of the smoothing tells it from the unbroken pass's frame
    diff = np.abs(part[n - 1] - unbroken["frames"][n - 1])
    assert 0 < diff.mean() < 0.2, diff.mean()

    flag.unlink()
    flaky.seen.clear()
    assert main(argv) == 0
    # the followed subject's state reaches back to its box frame: frames 0..N-1 are replayed, not
    # written; the last frame's look-ahead estimates LAST + 1
    assert min(flaky.seen) == 0 and max(flaky.seen) == LAST + 1
    report = _report(out)
    assert report["frames"] == LAST + 1 - n  # this run wrote frames N..LAST only
    assert [(c["start"], c["end"], c["resumed"]) for c in report["chunks"]] == \
        [(0, n - 1, True), (n, LAST, False)]
    rows, whole = report["depth_estimate"]["per_frame"], unbroken["report"]["depth_estimate"]["per_frame"]
    assert [r["frame"] for r in rows] == list(range(LAST + 1))
    assert rows[:n - 1] + rows[n:] == whole[:n - 1] + whole[n:LAST + 1]
    # the same pixels as the unbroken pass but frame N-1 (the estimator, the smoothing's state and the
    # follower are causal, and motion depth reads neighbours from the whole clip whatever the range)
    joined = kit.read_all(str(out))
    assert np.array_equal(joined[n - 1], part[n - 1])
    assert np.array_equal(np.delete(joined, n - 1, 0), np.delete(unbroken["frames"][:LAST + 1], n - 1, 0))
    assert not os.path.exists(kept_dir(WorkDir(str(out) + ".work")))


def test_report_rows_count_an_estimates_fixes_and_leave_files_out():
    """The report's per-frame row: sanitised counts of an estimate (outliers = low + high clamps), the
    render's blur-reach clamp, a defocus-cue fallback, a held map and the largest exposure step
    motion depth corrected (a partner at 0.95x the frame's gain is a step of 1/0.95 - 1 = 5.3 %);
    a depth file's notes (no sanitising) give no row."""
    from genrefocus_video.depth.sanitise import report_row, sanitise_disparity
    from genrefocus_video.pipeline.summary import depth_estimate_report

    d = np.full((40, 40), 0.5, np.float32)  # 2 wild pixels of 1600: beyond the 0.5-99.5 % range
    d[0, 0], d[1, 1], d[2, 2] = np.nan, 107.7, -3.0  # the kind of pixels
    d[10:30, 10:30] = 0.7
    _, _, counts = sanitise_disparity(d, None)
    rows = [report_row(4, {"source": "motion", "sanitised": counts, "blur_clamped": 6, "exposure_gain": [1.0, 0.95]}),
            report_row(5, {"source": "motion", "sanitised": dict(counts, nonfinite=0, clamped_low=0, clamped_high=0),
                           "fallback": "defocus"}),
            report_row(7, {"source": "motion", "sanitised": dict(counts, nonfinite=0, clamped_low=0, clamped_high=0),
                           "held_from": 5, "hold_frames": 2})]
    assert rows == [{"frame": 4, "nonfinite": 1, "outliers": 2, "blur_clamped": 6, "fallback": 0, "held": 0,
                     "exposure_step_pct": 5.3},
                    {"frame": 5, "nonfinite": 0, "outliers": 0, "blur_clamped": 0, "fallback": 1, "held": 0,
                     "exposure_step_pct": 0.0},
                    {"frame": 7, "nonfinite": 0, "outliers": 0, "blur_clamped": 0, "fallback": 0, "held": 1,
                     "exposure_step_pct": 0.0}]
    assert report_row(4, {"source": "file"}) is None and report_row(4, None) is None
    rep = depth_estimate_report(rows + [{"frame": 6, "nonfinite": 0, "outliers": 0, "blur_clamped": 0}])  # a kept row of an older run
    assert rep["frames"] == 4 and rep["frames_fixed"] == 1 and rep["frames_fallback"] == 1 and rep["frames_held"] == 1
    assert rep["frames_exposure_matched"] == 1 and rep["exposure_step_pct_max"] == 5.3
    assert rep["pixels"] == {"nonfinite": 1, "outliers": 2, "blur_clamped": 6}


def test_the_jobs_end_names_fallbacks_held_maps_and_exposure_steps(caplog):
    """Where a wrangler reads, at the job's end: frames that fell back (WARNING), held a neighbour's map
    and had their partners brought to their exposure (INFO, with the largest step)."""
    import logging

    from genrefocus_video.pipeline.summary import warn_fallback_frames

    base = {"nonfinite": 0, "outliers": 0, "blur_clamped": 0}
    rows = [dict(base, frame=0, fallback=1, held=0, exposure_step_pct=0.0),
            dict(base, frame=1, fallback=0, held=1, exposure_step_pct=0.0),
            dict(base, frame=2, fallback=0, held=0, exposure_step_pct=3.1),
            dict(base, frame=3, fallback=0, held=0, exposure_step_pct=6.4)]
    with caplog.at_level(logging.INFO, logger="genrefocus_video"):
        warn_fallback_frames(rows)
    text = {r.levelname: r.getMessage() for r in caplog.records}
    assert "1 of 4 frames (0)" in text["WARNING"]
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert any("held" in m and "1 of 4 frames (1)" in m for m in infos), infos
    assert any("exposure" in m and "2 of 4 frames (2-3; steps up to 6.4 %)" in m for m in infos), infos

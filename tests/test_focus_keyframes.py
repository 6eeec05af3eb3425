"""Focus keyframes and easing: exact keys, no overshoot, follow-focus dynamics, parsing, bad input."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.focus.keyframes import (check_box, check_keys, parse_box, parse_keyframes, parse_point,
                                              timecode_to_frame)
from genrefocus_video.tracks import CriticallyDamped, Key, KeyframeTrack, step_response

KEYS = [Key(0, 0.05), Key(10, 0.8), Key(30, 0.3), Key(40, 0.3), Key(47, 0.6)]


@pytest.mark.parametrize("ease", ["linear", "ease", "hold"])
def test_rack_passes_exactly_through_keyframes(ease):
    tr = KeyframeTrack(KEYS, ease)
    for k in KEYS:
        assert tr(k.frame) == k.value  # exact, not approximately
    assert tr(-5) == KEYS[0].value and tr(100) == KEYS[-1].value  # held outside


@pytest.mark.parametrize("ease", ["linear", "ease", "hold", "follow"])
def test_no_overshoot_and_monotone_between_keys(ease):
    tr = KeyframeTrack(KEYS, ease, fps=24, follow_time=0.15)
    for k0, k1 in zip(KEYS, KEYS[1:]):
        t = np.linspace(k0.frame, k1.frame, 200)
        v = np.array([tr(x) for x in t])
        lo, hi = min(k0.value, k1.value), max(k0.value, k1.value)
        if ease != "follow":
            assert v.min() >= lo - 1e-12 and v.max() <= hi + 1e-12
            dv = np.diff(v) * np.sign(k1.value - k0.value)
            assert (dv >= -1e-12).all()  # never moves backwards
    allv = np.array([tr(x) for x in np.linspace(-5, 60, 2000)])
    vals = [k.value for k in KEYS]
    assert allv.min() >= min(vals) - 1e-9 and allv.max() <= max(vals) + 1e-9


def test_ease_has_zero_velocity_at_keys_and_linear_does_not():
    e, lin = KeyframeTrack(KEYS, "ease"), KeyframeTrack(KEYS, "linear")
    h = 1e-4
    assert abs(e(10 + h) - e(10)) / h < 1e-3
    assert abs(lin(10 + h) - lin(10)) / h > 1e-2


def test_follow_focus_is_critically_damped_step():
    """A single rack with 'follow': x = v0 + dv (1 - (1 + tau/T) e^(-tau/T)), analytic."""
    fps, T = 24.0, 0.25
    tr = KeyframeTrack([Key(0, 0.2), Key(12, 0.7)], "follow", fps=fps, follow_time=T)
    assert tr(12) == 0.2  # starts moving at the key's frame, like a focus puller's hand
    for f in (13, 15, 20, 30, 60):
        tau = (f - 12) / fps
        assert tr(f) == pytest.approx(0.2 + 0.5 * (1 - (1 + tau / T) * math.exp(-tau / T)), abs=1e-12)
    # 90 % of the move after 3.89 T, never beyond the target
    assert tr(12 + 3.89 * T * fps) == pytest.approx(0.2 + 0.9 * 0.5, abs=2e-3)
    assert max(tr(f) for f in range(12, 400)) <= 0.7


def test_stateful_follower_matches_closed_form():
    """CriticallyDamped (exact discretisation) and KeyframeTrack('follow') are independent forms."""
    fps, T = 24.0, 0.2
    keys = [Key(0, 0.1), Key(5, 0.9), Key(20, 0.4)]
    closed = KeyframeTrack(keys, "follow", fps=fps, follow_time=T)
    held = KeyframeTrack(keys, "hold")
    cd = CriticallyDamped(T, fps)
    for f in range(0, 60):
        # the stateful filter sees the held target from frame f-1 to f
        x = cd(held(f - 1)) if f else cd(held(0))
        assert x == pytest.approx(closed(f), abs=1e-9)
    assert step_response(0.0, T) == 0.0
    assert cd.settle_frames(1e-3) > 0


def test_parse_frames_seconds_timecode_depth_point():
    keys = parse_keyframes("0:0.1, 1.5s:2m, 00:00:03:00:@10/20", 24)
    assert [k.frame for k in keys] == [0, 36, 72]
    assert keys[0].disparity == 0.1 and keys[1].depth == 2.0 and keys[2].point == (10.0, 20.0)
    # timecode relative to the clip's start timecode
    assert timecode_to_frame("01:00:02:00", 24, "01:00:00:00") == 48
    # drop-frame at 29.97: 00:01:00;02 is the 1800th frame (labels ;00 and ;01 are skipped)
    assert timecode_to_frame("00:01:00;02", Fraction(30000, 1001)) == 1800
    assert parse_point("12,34@5") == (12.0, 34.0, 5)
    assert parse_box("1,2,30,40@7") == ((1.0, 2.0, 30.0, 40.0), 7)


def test_keyframe_files(tmp_path):
    j = tmp_path / "k.json"
    j.write_text('[{"frame": 0, "disparity": 0.2}, {"time": 1.0, "depth": 4}, {"timecode": "00:00:02:00", "point": [3, 4]}]')
    keys = parse_keyframes(str(j), 24)
    assert [k.frame for k in keys] == [0, 24, 48] and keys[1].depth == 4.0 and keys[2].point == (3.0, 4.0)
    c = tmp_path / "k.csv"
    c.write_text("frame,disparity\n0,0.3\n10,0.6\n")
    assert [(k.frame, k.disparity) for k in parse_keyframes(str(c), 24)] == [(0, 0.3), (10, 0.6)]
    with pytest.raises(InputError, match="not found"):
        parse_keyframes(str(tmp_path / "missing.json"), 24)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"frame": 0}]')
    with pytest.raises(InputError, match="keyframe 0 needs 'disparity'"):
        parse_keyframes(str(bad), 24)


def test_bad_keyframes_are_refused_with_the_key_named():
    keys = parse_keyframes("0:0.1,20:0.5,10:0.3", 24)
    with pytest.raises(ConfigError, match=r"increasing time order: keyframe 2 \(10:0.3, frame 10\)"):
        check_keys(keys, 0, 47, 64, 48)
    with pytest.raises(ConfigError, match=r"keyframe 1 \(99:0.5\) is at frame 99, outside the clip's frames 0..47"):
        check_keys(parse_keyframes("0:0.1,99:0.5", 24), 0, 47, 64, 48)
    with pytest.raises(ConfigError, match="increasing"):
        check_keys(parse_keyframes("5:0.1,5:0.5", 24), 0, 47, 64, 48)
    with pytest.raises(ConfigError, match="outside the 64x48 frame"):
        check_keys(parse_keyframes("0:@80/10", 24), 0, 47, 64, 48)
    with pytest.raises(ConfigError, match="not WHEN:VALUE"):
        parse_keyframes("0.5", 24)
    with pytest.raises(ConfigError, match="is not a disparity"):
        parse_keyframes("3:far", 24)
    with pytest.raises(ConfigError, match="out of range at 24 fps"):
        parse_keyframes("00:00:01:30:0.4", 24)
    with pytest.raises(ConfigError, match="before the clip's start timecode"):
        timecode_to_frame("00:59:00:00", 24, "01:00:00:00")
    with pytest.raises(ValueError, match="strictly increasing"):
        KeyframeTrack([Key(3, 0.1), Key(1, 0.2)])


def test_box_outside_the_frame_is_refused():
    check_box((10, 10, 20, 20), 64, 48)
    with pytest.raises(ConfigError, match=r"lies outside the 64x48 frame \(only 0% inside"):
        check_box((100, 10, 20, 20), 64, 48, "100,10,20,20")
    with pytest.raises(ConfigError, match="width and height must be > 0"):
        parse_box("1,2,0,5")


def test_keyframes_outside_the_rendered_range_shape_the_curve(tmp_path):
    """Rendering frames 20-30 of a 24->48 rack gives the same a(t) there as the full render."""
    import json
    from pathlib import Path

    from genrefocus_video.params import load_job
    from genrefocus_video.pipeline.run import run_job

    repo = Path(__file__).resolve().parents[1]
    tracks = {}
    for name, first, last in (("part", 20, 30), ("full", 0, 40)):
        job = load_job(repo / "configs" / "rack_focus.yaml", {
            "input.path": str(repo / "samples" / "city.mp4"), "depth.path": str(repo / "samples" / "city_depth.mkv"),
            "output.path": str(tmp_path / f"{name}.%04d.exr"), "output.codec": "exr",
            "input.first_frame": first, "input.last_frame": last, "blur.k": 0.0,
            "focus.export": str(tmp_path / f"{name}.json"), "executor.executor": "local", "executor.progress": False})
        run_job(job)
        tracks[name] = {r["frame"]: r["focus_disparity"] for r in json.loads((tmp_path / f"{name}.json").read_text())}
    assert sorted(tracks["part"]) == list(range(20, 31))
    for f, a in tracks["part"].items():
        assert a == pytest.approx(tracks["full"][f], abs=1e-9)
    assert tracks["part"][30] > tracks["part"][24] + 0.05  # the rack is under way inside the range

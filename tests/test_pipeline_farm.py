"""Farm job files: many shots, each validated against the one schema; errors name shot and key."""
from __future__ import annotations

import os

import pytest

from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.pipeline.farm import load_farm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(tmp_path, text: str) -> str:
    (tmp_path / "plates").mkdir(exist_ok=True)
    for name in ("a.mov", "b.mov", "a_depth.mkv"):
        (tmp_path / "plates" / name).write_bytes(b"x")
    p = tmp_path / "job.yaml"
    p.write_text(text)
    return str(p)


GOOD = """
defaults:
  blur: {k: 12}
  executor: {chunks: 4}
shots:
  sh010:
    input: {path: plates/a.mov}
    output: {path: out/a.mov}
    depth: {path: plates/a_depth.mkv}
    focus: {disparity: 0.3}
  sh020:
    input: {path: plates/b.mov}
    output: {path: out/b.mov}
    blur: {k: 20}
    executor: {chunks: 2}
"""


def test_good_job_file_resolves_defaults_overrides_and_paths(tmp_path):
    shots = load_farm(_write(tmp_path, GOOD), overrides={"executor.workers": "2"})
    assert [s.name for s in shots] == ["sh010", "sh020"]
    a, b = shots[0].job, shots[1].job
    assert (a.blur.k, b.blur.k) == (12.0, 20.0)  # shot value overrides the default
    assert (a.executor.chunks, b.executor.chunks) == (4, 2)
    assert a.executor.workers == b.executor.workers == 2  # command line overrides every shot
    assert a.input.path == str(tmp_path / "plates" / "a.mov")  # relative to the job file
    assert a.depth.path == str(tmp_path / "plates" / "a_depth.mkv")
    assert [s.name for s in load_farm(str(tmp_path / "job.yaml"), only=["sh020"])] == ["sh020"]


def test_bad_key_names_shot_and_key(tmp_path):
    path = _write(tmp_path, GOOD.replace("blur: {k: 20}", "blur: {kk: 20}"))
    with pytest.raises(ConfigError) as e:
        load_farm(path)
    msg = str(e.value)
    assert "shot 'sh020'" in msg and "'blur.kk'" in msg and "did you mean 'blur.k'" in msg and path in msg


def test_bad_value_names_shot_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"shot 'sh010'.*'focus.disparity'"):
        load_farm(_write(tmp_path, GOOD.replace("focus: {disparity: 0.3}", "focus: {disparity: near}")))


def test_missing_shot_and_missing_input_are_named(tmp_path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"no shot 'sh030'.*shots: sh010, sh020"):
        load_farm(path, only=["sh030"])
    with pytest.raises(ConfigError, match="no shots"):
        load_farm(_write(tmp_path, "defaults: {blur: {k: 3}}\nshots: {}\n"))
    with pytest.raises(InputError, match=r"shot 'sh020'.*'input.path'.*plates/c.mov"):
        load_farm(_write(tmp_path, GOOD.replace("plates/b.mov", "plates/c.mov")))
    with pytest.raises(ConfigError, match=r"shot 'sh020'.*missing key 'output.path'"):
        load_farm(_write(tmp_path, GOOD.replace("    output: {path: out/b.mov}\n", "")))


def test_every_bad_shot_is_named_in_one_line(tmp_path):
    """A wrangler fixes a 50-shot file in one pass: all problems at once, the first one's kind."""
    bad = GOOD.replace("plates/a.mov", "plates/zz.mov").replace("blur: {k: 20}", "blur: {kk: 20}")
    bad += "  sh030:\n    input: {path: plates/b.mov}\n    output: {path: out/a.mov}\n"
    with pytest.raises(InputError) as e:
        load_farm(_write(tmp_path, bad))
    msg = str(e.value)
    assert "\n" not in msg and "2 shots cannot run" in msg
    assert msg.index("shot 'sh010'") < msg.index("shot 'sh020'")
    assert "plates/zz.mov not found" in msg and "'blur.kk'" in msg and "is also the output of shot" not in msg
    # sh010 was invalid, so sh030's out/a.mov clashes with nothing; with sh010 fixed it does
    with pytest.raises(ConfigError, match=r"2 shots cannot run: shot 'sh020'.*shot 'sh030': 'output.path' .*out/a.mov "
                                          r"is also the output of shot 'sh010'"):
        load_farm(_write(tmp_path, bad.replace("plates/zz.mov", "plates/a.mov")))


def test_bad_top_level_and_default_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown top-level key 'shot'.*did you mean 'shots'"):
        load_farm(_write(tmp_path, GOOD.replace("shots:", "shot:")))
    with pytest.raises(ConfigError, match=r"defaults.*'blur.kay'"):
        load_farm(_write(tmp_path, GOOD.replace("blur: {k: 12}", "blur: {kay: 12}")))


def test_example_farm_job_validates():
    shots = load_farm(os.path.join(REPO, "configs", "farm_job.yaml"), check_inputs=False)
    assert len(shots) >= 3
    assert len({s.job.output.path for s in shots}) == len(shots)


def test_submit_dry_run_lists_shots(tmp_path, capsys):
    from genrefocus_video.cli import main

    assert main(["submit", _write(tmp_path, GOOD), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sh010:" in out and "sh020:" in out and "4 chunks" in out
    assert main(["submit", str(tmp_path / "job.yaml"), "--shot", "nope", "--dry-run"]) == 2


def test_sequence_inputs_are_found_in_every_pattern_style(tmp_path):
    """`####` sequences render but the farm file's input check did not find them."""
    for i in (1001, 1002):
        (tmp_path / "plates").mkdir(exist_ok=True)
        (tmp_path / "plates" / f"c.{i}.exr").write_bytes(b"x")
    for pattern in ("plates/c.####.exr", "plates/c.%04d.exr", "plates/c.*.exr"):
        shots = load_farm(_write(tmp_path, GOOD.replace("plates/b.mov", pattern)))
        assert shots[1].job.input.path.endswith(pattern.split("/")[1])
    with pytest.raises(InputError, match=r"'input.path' .*plates/d.####.exr not found"):
        load_farm(_write(tmp_path, GOOD.replace("plates/b.mov", "plates/d.####.exr")))

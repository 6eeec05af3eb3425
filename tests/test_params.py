"""The one parameter schema: YAML, CLI flags and validation all come from it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genrefocus_video.cli import build_parser, job_from_args, main
from genrefocus_video.errors import ConfigError, InputError
from genrefocus_video.params import JobParams, iter_leaves, load_job

REPO = Path(__file__).resolve().parents[1]


def test_every_leaf_has_help_and_a_unique_flag():
    flags = [leaf.flag for leaf in iter_leaves(JobParams)]
    assert len(flags) == len(set(flags))
    assert all(leaf.spec.help for leaf in iter_leaves(JobParams))


def test_defaults_satisfy_their_own_ranges_and_choices():
    for leaf in iter_leaves(JobParams):
        d = leaf.default
        if d is None:
            assert leaf.optional, leaf.path
            continue
        if leaf.spec.choices:
            assert d in leaf.spec.choices, leaf.path
        if leaf.spec.min is not None and isinstance(d, (int, float)):
            assert d >= leaf.spec.min, leaf.path
        if leaf.spec.max is not None and isinstance(d, (int, float)):
            assert d <= leaf.spec.max, leaf.path


def test_unknown_config_key_names_it_and_suggests(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("blur:\n  kk: 3\n")
    with pytest.raises(ConfigError) as err:
        load_job(cfg)
    msg = str(err.value)
    assert "blur.kk" in msg and "blur.k" in msg and str(cfg) in msg and "\n" not in msg


def test_unknown_section_suggests_nearest(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("aperature:\n  shape: heart\n")
    with pytest.raises(ConfigError, match="aperature.*did you mean 'aperture'"):
        load_job(cfg)


@pytest.mark.parametrize("key,value,expect", [
    ("blur.k", -1, ">= 0"),
    ("blur.k", "abc", "expects float"),
    ("aperture.shape", "hart", "did you mean 'heart'"),
    ("aperture.blades", 2.5, "expects int"),
    ("blur.k", float("nan"), "expects float"),
])
def test_bad_values_are_rejected_with_the_key(key, value, expect):
    with pytest.raises(ConfigError, match=expect) as err:
        load_job(overrides={key: value})
    assert key in str(err.value)


def test_cli_flags_override_config_values(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text("blur:\n  k: 3\naperture:\n  shape: heart\n  blades: 7\n")
    args = build_parser().parse_args(["render", "in.mp4", "-o", "out.mov", "--config", str(cfg), "--k", "9.5",
                                      "--no-highlight-recover"])
    job = job_from_args(args)
    assert job.blur.k == 9.5  # flag wins
    assert job.aperture.shape == "heart" and job.aperture.blades == 7  # file kept
    assert job.input.path == "in.mp4" and job.output.path == "out.mov"
    assert job.highlights.recover is False


def test_print_config_round_trips_through_yaml(tmp_path, capsys):
    assert main(["render", "in.mp4", "-o", "out.mov", "--k", "12", "--aperture", "star", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    cfg = tmp_path / "resolved.yaml"
    cfg.write_text(yaml.safe_dump(printed))
    again = load_job(cfg)
    assert again.to_dict() == printed
    assert again.blur.k == 12 and again.aperture.shape == "star"


def test_cli_reports_config_errors_in_one_line_with_exit_2(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("focus:\n  eas: linear\n")
    assert main(["render", "in.mp4", "-o", "o.mov", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "focus.eas" in err and "focus.ease" in err


def test_missing_config_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_job(tmp_path / "nope.yaml")


def test_shipped_presets_validate():
    presets = sorted((REPO / "configs").glob("*.yaml"))
    assert presets, "configs/ should ship presets"
    for p in presets:
        data = yaml.safe_load(p.read_text())
        if "shots" in data:  # farm job files are validated by the farm loader's own tests
            continue
        load_job(p)


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "render", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--k", "--aperture", "--focus-disparity", "--depth", "--codec"):
        assert flag in out


def test_a_key_given_twice_in_a_config_is_refused_and_merge_keys_still_work(tmp_path):
    """YAML forbids duplicate keys; PyYAML kept the last one silently, so a second `focus:` section
    dropped the first without a word. YAML merge keys (`<<: *defaults`, common in farm files) are
    not duplicates: their explicit keys override."""
    from genrefocus_video.params.job import read_yaml

    (tmp_path / "twice.yaml").write_text("blur: {k: 4}\nfocus: {disparity: 0.3}\nblur: {k: 5}\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: line 3 .*key 'blur' given twice \(first on line 1\)"):
        read_yaml(tmp_path / "twice.yaml")
    (tmp_path / "inline.yaml").write_text("blur: {k: 4, k: 6}\n")
    with pytest.raises(ConfigError, match="key 'k' given twice"):
        read_yaml(tmp_path / "inline.yaml")
    (tmp_path / "merge.yaml").write_text("base: &b {k: 1, r0: 8}\nblur:\n  <<: *b\n  k: 3\n")
    assert read_yaml(tmp_path / "merge.yaml")["blur"] == {"k": 3, "r0": 8}

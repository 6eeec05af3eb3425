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


# --------------------------------------------------------------------------- render.cuda_graphs in every face
def _graphs(job) -> bool:
    """What the renderer is told: the job's render section through the one settings-to-options place."""
    from genrefocus_video.render.options import render_options

    return render_options(render_params=job.render)["cuda_graphs"]


def test_cuda_graphs_is_one_parameter_in_every_face(tmp_path, monkeypatch):
    """render.cuda_graphs: off by default; the CLI flag, YAML, a farm file's defaults, the OFX
    descriptor + bridge and a Ray/farm job spec (to_dict -> load_job) all set the same leaf, and
    each face's job hands the renderer the same option."""
    from genrefocus_video.ofx.descriptor import describe_params
    from genrefocus_video.ofx.renderer import Renderer
    from genrefocus_video.pipeline.farm import load_farm
    from genrefocus_video.render.options import ENV_CUDA_GRAPHS

    monkeypatch.delenv(ENV_CUDA_GRAPHS, raising=False)
    assert load_job().render.cuda_graphs is False and _graphs(load_job()) is False
    leaf = next(leaf for leaf in iter_leaves(JobParams) if leaf.path == "render.cuda_graphs")
    assert "GPU run" in leaf.spec.help and "CPU" in leaf.spec.help
    # CLI
    for flag, want in (("--cuda-graphs", True), ("--no-cuda-graphs", False)):
        job = job_from_args(build_parser().parse_args(["render", "in.mp4", "-o", "o.mov", flag]))
        assert job.render.cuda_graphs is want and _graphs(job) is want
    # YAML (and a bad value names the key)
    (tmp_path / "job.yaml").write_text("render:\n  cuda_graphs: true\n")
    assert _graphs(load_job(tmp_path / "job.yaml")) is True
    (tmp_path / "bad.yaml").write_text("render:\n  cuda_graphs: maybe\n")
    with pytest.raises(ConfigError, match="render.cuda_graphs"):
        load_job(tmp_path / "bad.yaml")
    # farm file defaults
    (tmp_path / "farm.yaml").write_text("defaults:\n  render: {cuda_graphs: true}\n  blur: {k: 2}\n"
                                        "shots:\n  sh010: {input: {path: a.mp4}, output: {path: b.mov}}\n")
    (shot,) = load_farm(str(tmp_path / "farm.yaml"), check_inputs=False)
    assert _graphs(shot.job) is True
    # a Ray / farm task's job spec: the job's dict, rebuilt by the schema
    assert _graphs(load_job(base=shot.job.to_dict())) is True
    # OFX: described from the schema, and the bridge maps the host's boolean onto the same leaf
    (p,) = [p for p in describe_params() if p.path == "render.cuda_graphs"]
    assert p.kind == "boolean" and p.default is False and p.name == "render_cuda_graphs" and p.page == "Render"
    bridge = Renderer()
    assert _graphs(bridge.job({"render_cuda_graphs": True})) is True
    assert _graphs(bridge.job({"render_cuda_graphs": False})) is False


def test_deprecated_cuda_graphs_env_var_maps_to_the_parameter_with_one_warning(monkeypatch, caplog):
    import logging

    from genrefocus_video.render import options

    monkeypatch.setattr(options, "_NOTED", set())
    monkeypatch.setenv(options.ENV_CUDA_GRAPHS, "1")
    with caplog.at_level(logging.WARNING, logger="genrefocus_video.render.options"):
        assert _graphs(load_job()) is True and _graphs(load_job()) is True
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "deprecated" in msg and "render.cuda_graphs" in msg and "true" in msg
    monkeypatch.setenv(options.ENV_CUDA_GRAPHS, "0")
    assert _graphs(load_job()) is False and _graphs(load_job(overrides={"render.cuda_graphs": True})) is True


def test_cuda_graphs_flag_on_the_cpu_renders_the_same_frames_and_says_graphs_need_cuda(tmp_path, caplog, monkeypatch):
    """The whole CLI on a CPU machine: --cuda-graphs is accepted (exit 0), the frames equal the
    run without it, and the log says once that CUDA graphs need a CUDA device."""
    import numpy as np

    from genrefocus_video.io.images import write_image
    from genrefocus_video.io.reader import open_reader
    from genrefocus_video.render import options

    monkeypatch.setattr(options, "_NOTED", set())
    monkeypatch.delenv(options.ENV_CUDA_GRAPHS, raising=False)
    rng = np.random.default_rng(3)
    for i in range(2):
        write_image(str(tmp_path / f"in.{i:04d}.exr"), rng.random((24, 32, 3)).astype(np.float32))
    np.save(tmp_path / "d.npy", np.tile(np.linspace(0, 1, 32, dtype=np.float32), (24, 1)))
    outs = {}
    for name, extra in (("plain", []), ("graphs", ["--cuda-graphs"])):
        caplog.clear()
        assert main(["render", str(tmp_path / "in.%04d.exr"), "-o", str(tmp_path / f"{name}.%04d.exr"),
                     "--depth", str(tmp_path / "d.npy"), "--k", "4", "--focus-disparity", "0.5",
                     "--device", "cpu", "--no-progress", "--executor", "local", *extra]) == 0
        notes = [r.getMessage() for r in caplog.records if "CUDA graphs need a CUDA device" in r.getMessage()]
        with open_reader(str(tmp_path / f"{name}.%04d.exr")) as r:
            outs[name] = np.stack([f.rgb for f in r])
    assert len(notes) == 1 and "runs on cpu" in notes[0]
    assert np.array_equal(outs["plain"], outs["graphs"])

"""``depth.smoothing: auto`` (the default): estimated depth is smoothed at strength 0.5, a depth file
is left alone (0), unless a strength is given. One leaf, one behaviour in every face: the CLI, YAML,
farm files, the OFX description and bridge; decided once per job (run_job), so a run with auto is
the same job as one with the resolved number given explicitly (same pixels, same resume
fingerprint, same report)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.cli import main
from genrefocus_video.errors import ConfigError
from genrefocus_video.params import load_job, resolve_auto
from genrefocus_video.params.depth import AUTO_SMOOTHING

N = 6


@pytest.mark.parametrize("source,expected", [("file", 0.0), ("motion", AUTO_SMOOTHING), ("marigold", AUTO_SMOOTHING),
                                             ("model", AUTO_SMOOTHING)])
def test_auto_resolves_by_source(source, expected):
    job = load_job(None, {"depth.source": source})
    assert job.depth.smoothing == "auto" and job.depth.smoothing_strength == expected
    resolved = resolve_auto(job)
    assert resolved.depth.smoothing == expected and resolve_auto(resolved) == resolved
    # a strength given is kept whatever the source
    assert load_job(None, {"depth.source": source, "depth.smoothing": "0.7"}).depth.smoothing_strength == 0.7
    assert load_job(None, {"depth.source": source, "depth.smoothing": 0}).depth.smoothing_strength == 0.0


def test_auto_spellings_and_bad_values(tmp_path):
    for v in ("auto", "AUTO", " Auto ", -1, -1.0, "-1"):
        assert load_job(None, {"depth.smoothing": v}).depth.smoothing == "auto", v
    for v, msg in (("strong", "number|float or 'auto'"), (-0.5, ">= 0"), (1.5, "<= 1"), (True, "or 'auto'")):
        with pytest.raises(ConfigError, match=r"depth\.smoothing"):
            load_job(None, {"depth.smoothing": v})
    (tmp_path / "job.yaml").write_text("depth: {source: motion, smoothing: auto}\n")
    assert load_job(tmp_path / "job.yaml").depth.smoothing_strength == AUTO_SMOOTHING
    (tmp_path / "bad.yaml").write_text("depth: {smoothing: sometimes}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*depth\.smoothing.*'auto'"):
        load_job(tmp_path / "bad.yaml")


def test_cli_print_config_and_bad_flag(capsys):
    assert main(["render", "in.mkv", "-o", "out.mkv", "--print-config"]) == 0
    assert "smoothing: auto" in capsys.readouterr().out
    assert main(["render", "in.mkv", "-o", "out.mkv", "--depth-smoothing", "0.6", "--print-config"]) == 0
    assert "smoothing: 0.6" in capsys.readouterr().out
    assert main(["render", "in.mkv", "-o", "out.mkv", "--depth-smoothing", "lots"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "depth.smoothing" in err and "'auto'" in err


def test_ofx_describes_auto_as_minus_one_and_the_bridge_resolves_it():
    from genrefocus_video.ofx.descriptor import by_name
    from genrefocus_video.ofx.server import Renderer

    p = by_name()["depth_smoothing"]
    assert p.kind == "double" and p.default == -1.0 and p.min == -1.0 and p.max == 1.0
    assert "auto" in p.hint
    r = Renderer()
    assert r.job({"depth_smoothing": -1.0}).depth.smoothing == 0.0  # the host's Depth clip: a file, left alone
    assert r.job({"depth_smoothing": 0.4}).depth.smoothing == 0.4
    with pytest.raises(ConfigError):
        r.job({"depth_smoothing": -0.5})


def test_farm_file_takes_auto(tmp_path):
    from genrefocus_video.pipeline.farm import load_farm

    for name in ("a.mkv", "b.mkv"):
        kit.make_clip(str(tmp_path / name), n=2)
    np.save(tmp_path / "d.npy", np.ones((kit.H, kit.W), np.float32))
    (tmp_path / "job.yaml").write_text("defaults: {depth: {smoothing: auto}}\nshots:\n  a: {input: {path: a.mkv}, "
                                       "output: {path: o.mkv}, depth: {source: motion}}\n  b: {input: {path: b.mkv},"
                                       " output: {path: p.mkv}, depth: {path: d.npy}}\n")
    shots = load_farm(str(tmp_path / "job.yaml"))
    assert [s.job.depth.smoothing_strength for s in shots] == [AUTO_SMOOTHING, 0.0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("auto")
    return d, kit.make_clip(str(d / "plate.mkv"), n=N)


def _render(clip, out, *extra):
    return main(["render", clip, "-o", out, "--focus-disparity", "0.3", "--k", "6", "--codec", "ffv1",
                 "--no-progress", "--executor", "local", *extra])


def _report(out):
    with open(out + ".work/report.json") as fh:
        return json.load(fh)


def test_motion_default_is_smoothing_half_and_recorded(clip):
    """The default render of estimated depth equals --depth-smoothing 0.5 bit for bit, differs from
    --depth-smoothing 0, and its report holds the resolved number."""
    d, src = clip
    outs = {}
    for name, extra in (("auto", []), ("half", ["--depth-smoothing", "0.5"]), ("off", ["--depth-smoothing", "0"])):
        out = str(d / f"m_{name}.mkv")
        assert _render(src, out, "--depth-source", "motion", "--depth-out", str(d / f"m_{name}.%04d.exr"),
                       *extra) == 0
        outs[name] = kit.read_all(out)
    assert np.array_equal(outs["auto"], outs["half"])
    from genrefocus_video.io.depthio import open_depth

    with open_depth(str(d / "m_auto.%04d.exr")) as a, open_depth(str(d / "m_off.%04d.exr")) as b:
        assert not np.array_equal(np.stack(list(a)), np.stack(list(b)))  # smoothing really ran
    assert _report(str(d / "m_auto.mkv"))["job"]["depth"]["smoothing"] == AUTO_SMOOTHING


def test_file_default_is_no_smoothing(clip):
    d, src = clip
    rng = np.random.default_rng(1)
    np.save(d / "noisy.npy", (0.3 + 0.1 * rng.random((N, kit.H, kit.W))).astype(np.float32))
    pattern = str(d / "f_auto.%04d.exr")
    assert _render(src, str(d / "f_auto.mkv"), "--depth", str(d / "noisy.npy"), "--depth-out", pattern) == 0
    from genrefocus_video.io.depthio import open_depth

    with open_depth(pattern) as seq:
        assert np.array_equal(np.stack(list(seq)), np.load(d / "noisy.npy"))  # the file as given
    assert _report(str(d / "f_auto.mkv"))["job"]["depth"]["smoothing"] == 0.0


def test_chunked_auto_is_the_job_with_the_number_given(clip, capsys):
    """Chunks (warm-up included) and resume see the resolved strength: a chunked auto run equals the
    single pass, and the same command with --depth-smoothing 0.5 finds the job already complete."""
    d, src = clip
    one, two = str(d / "c_one.mkv"), str(d / "c_two.mkv")
    assert _render(src, one, "--depth-source", "motion") == 0
    assert _render(src, two, "--depth-source", "motion", "--chunks", "2") == 0
    a, b = kit.read_all(one), kit.read_all(two)
    assert np.abs(a - b).max() <= 2 / 255  # the smoother's stated split tolerance, through an 8-bit codec
    capsys.readouterr()
    assert _render(src, two, "--depth-source", "motion", "--chunks", "2", "--depth-smoothing", "0.5") == 0
    assert "already complete" in capsys.readouterr().out
    assert _render(src, two, "--depth-source", "motion", "--chunks", "2", "--depth-smoothing", "0.6",
                   "--overwrite") == 0
    assert os.path.exists(two)

"""The OFX plugin, end to end: `make -C plugins/ofx`, then the headless C test host loads the real
bundle, describes it, and renders frames through the real bridge; outputs are compared with
`render_bokeh` called directly on the same pixels and parameters."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.ofx.descriptor import describe_params
from genrefocus_video.ofx.protocol import VERSION
from genrefocus_video.params import JobParams, iter_leaves

REPO = Path(__file__).resolve().parents[1]
PLUG = REPO / "plugins" / "ofx"
#: GENREFOCUS_OFX_SANITIZE=address (`make test` runs this module three times) builds plugin and test host with
#: AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/: a memory error in the plugin
#: crashes a compositing host, so every test here must also pass with no sanitizer report.
#: GENREFOCUS_OFX_SANITIZE=thread uses ThreadSanitizer instead (build-tsan/; races between the
#: host's render threads).
SANITIZE = os.environ.get("GENREFOCUS_OFX_SANITIZE", "") in ("1", "address", "thread")
THREADS = os.environ.get("GENREFOCUS_OFX_SANITIZE") == "thread"
BUILD = ("build-tsan" if THREADS else "build-asan") if SANITIZE else "build"
SAN_FLAGS = ("-O1 -g -fsanitize=thread -fno-omit-frame-pointer" if THREADS else
             "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined")
BINARY = PLUG / BUILD / "GenRefocus.ofx.bundle" / "Contents" / "Linux-x86-64" / "GenRefocus.ofx"
HOST = PLUG / BUILD / "testhost"
#: what the test host itself allocates for its property sets and never frees at exit (not the plugin's)
LSAN_SUPPRESSIONS = PLUG / "testhost" / "lsan.supp"

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("cc") is None, reason="needs Linux and cc")


# ------------------------------------------------------------------------------ helpers
def write_pfm(path: Path, arr: np.ndarray) -> None:
    """PFM stores the bottom row first (the OFX row order); `arr` is top row first."""
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f4")[::-1])
    h, w = a.shape[:2]
    path.write_bytes((b"PF" if a.ndim == 3 else b"Pf") + f"\n{w} {h}\n-1.0\n".encode() + a.tobytes())


def read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        magic = fh.readline().strip()
        w, h = map(int, fh.readline().split())
        scale = float(fh.readline())
        data = np.frombuffer(fh.read(), "<f4" if scale < 0 else ">f4")
    return data.reshape(h, w, 3 if magic == b"PF" else 1)[::-1].squeeze().astype(np.float32)


def _require_sanitizer_runtime() -> None:
    """Skip (with the reason) where this compiler or kernel cannot build and run sanitized code:
    no libasan/libtsan, or a kernel whose address-space layout ThreadSanitizer refuses."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "probe")
        built_ = subprocess.run(["cc", *SAN_FLAGS.split(), "-x", "c", "-", "-o", exe],
                                input="int main(void){return 0;}", capture_output=True, text=True)
        if built_.returncode:
            pytest.skip(f"the C compiler cannot build with {SAN_FLAGS}: {built_.stderr.strip()[-200:]}")
        ran = subprocess.run([exe], capture_output=True, text=True)
        if ran.returncode:
            pytest.skip(f"a program built with {SAN_FLAGS} does not run here: {ran.stderr.strip()[-200:]}")


@pytest.fixture(scope="module")
def built() -> Path:
    # PYTHON: the interpreter running the tests generates params.tsv and is the one the bridge uses.
    if SANITIZE:
        _require_sanitizer_runtime()
    extra = [f"BUILD={BUILD}", f"CFLAGS={SAN_FLAGS}"] if SANITIZE else []
    proc = subprocess.run(["make", "-C", str(PLUG), f"PYTHON={sys.executable}", *extra], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert BINARY.is_file() and HOST.is_file()
    return BINARY


def _kill_bridge(folder: Path) -> None:
    pid_file = folder / "bridge.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture(scope="module")
def bridge_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bridge")
    os.chmod(folder, 0o700)
    yield folder
    _kill_bridge(folder)


@pytest.fixture
def fresh_bridge_dir():
    """A bridge folder of its own (short path: socket paths stay below 108 bytes): nothing cached by
    an earlier test's renders."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="grofx-"))
    yield folder
    _kill_bridge(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A tiny frame: textured RGB (with highlights > 1), two depth planes with a sloped edge."""
    d = tmp_path_factory.mktemp("scene")
    rng = np.random.default_rng(6)
    h, w = 30, 44
    img = rng.random((h, w, 3)).astype(np.float32)
    img[5, 7] = [4.0, 3.0, 2.0]  # a highlight for the bokeh shape
    disp = np.full((h, w), 0.2, np.float32)
    disp[8:22, 14:34] = 0.8
    disp += np.linspace(0, 0.05, w, dtype=np.float32)[None, :]
    write_pfm(d / "src.pfm", img)
    write_pfm(d / "depth.pfm", disp)
    return d, img, disp


def run_host(bridge_dir: Path, *args: str, timeout: float = 60, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GENREFOCUS_OFX_SOCKET=str(bridge_dir / "bridge.sock"), GENREFOCUS_OFX_IDLE="120",
               GENREFOCUS_OFX_TIMEOUT="60", GENREFOCUS_OFX_START_TIMEOUT="60")
    if SANITIZE:
        env.update(ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1",
                   LSAN_OPTIONS=f"suppressions={LSAN_SUPPRESSIONS}", TSAN_OPTIONS="halt_on_error=0")
    env.update(env_extra or {})
    proc = subprocess.run([str(HOST), str(BINARY), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if SANITIZE:
        assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr[-4000:]
    return proc


def write_anim(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ description
KIND_TO_OFX = {"double": "OfxParamTypeDouble", "int": "OfxParamTypeInteger", "choice": "OfxParamTypeChoice",
               "boolean": "OfxParamTypeBoolean", "double2d": "OfxParamTypeDouble2D", "string": "OfxParamTypeString"}


def test_descriptor_covers_exactly_the_schema_ofx_leaves():
    leaves = {leaf.path: leaf for leaf in iter_leaves(JobParams) if leaf.spec.ofx}
    params = {p.path: p for p in describe_params() if p.path}
    assert set(params) == set(leaves)
    for path, leaf in leaves.items():
        p = params[path]
        assert p.name == path.replace(".", "_") and p.hint == leaf.spec.help and p.page == leaf.spec.page
        if leaf.spec.choices:
            assert p.kind == "choice" and p.choices == tuple(leaf.spec.choices) and p.default == leaf.default
            continue
        expected_kind = {bool: "boolean", int: "int", float: "double", str: "string"}[leaf.base_type]
        assert p.kind == expected_kind
        if p.kind == "string":  # a path: empty = the schema's "not given"
            assert p.default == (leaf.default or "") and p.min is None and p.max is None
            continue
        if leaf.spec.auto is not None:  # "auto" is the sentinel number at the slider's lower end
            assert p.min == leaf.spec.auto and p.max == leaf.spec.max and p.default == leaf.spec.auto
            continue
        assert p.min == leaf.spec.min and p.max == leaf.spec.max
        assert p.default == (leaf.default if leaf.default is not None else (leaf.spec.min or 0))


def test_warmup_table_gives_warmup_frames_for_every_strength():
    """warmup.tsv (the plugin's W for a strength): the count of thresholds <= s equals
    depth.temporal.warmup_frames(s), at every threshold, just below it and at random strengths."""
    import math

    from genrefocus_video.depth.temporal import warmup_frames
    from genrefocus_video.ofx.descriptor import to_warmup_tsv, warmup_thresholds

    thr = warmup_thresholds()
    rows = [line.split("\t") for line in to_warmup_tsv().splitlines() if not line.startswith("#")]
    assert [(int(w), float(x)) for w, x in rows] == list(enumerate(thr, start=1))
    probes = [*thr, *(math.nextafter(x, 0.0) for x in thr), *np.random.default_rng(0).random(500), 0.0, 1.0]
    for s in probes:
        assert sum(x <= s for x in thr) == warmup_frames(s), s


@pytest.mark.parametrize("context", ["filter", "general"])
def test_host_sees_parameters_generated_from_schema(built, bridge_dir, tmp_path, context):
    out = tmp_path / "desc.json"
    proc = run_host(bridge_dir, "--describe-json", out, "--frames", "0", "--context", context)
    assert proc.returncode == 0, proc.stderr
    desc = json.loads(out.read_text())
    got = {p["name"]: p for p in desc["params"]}
    pages = {p["name"]: p for p in desc["params"] if p["type"] == "OfxParamTypePage"}
    for p in describe_params():
        d = got[p.name]
        assert d["type"] == KIND_TO_OFX[p.kind], p.name
        assert d["label"] == [p.label] and d["hint"] == [p.hint] and d["script_name"] == [p.name]
        if p.kind == "choice":
            assert d["choices"] == list(p.choices) and d["default"] == [p.choices.index(p.default)]
        elif p.kind == "string":  # a folder path, held for the whole clip
            assert d["default"] == [p.default] and d["string_mode"] == ["OfxParamStringIsDirectoryPath"]
            assert d["animates"] == [0]
        elif p.kind == "double2d":
            assert d["double_type"] == ["OfxParamDoubleTypeXYAbsolute"]
            assert d["coordinates"] == ["OfxParamCoordinatesNormalised"] and d["default"] == list(p.default)
        else:
            assert d["default"] == [int(p.default) if p.kind == "boolean" else p.default], p.name
        for key in ("min", "max", "display_min", "display_max"):
            want = getattr(p, key)
            assert d[key] == (None if want is None else [want]), (p.name, key)
        page = pages[f"page_{p.page}"]
        assert p.name in page["page_children"] and d["parent"] == [f"group_{p.page}"]
    schema_names = {p.name for p in describe_params()}
    assert {n for n, p in got.items() if p["type"] not in ("OfxParamTypePage", "OfxParamTypeGroup")} == schema_names
    clips = {c["name"]: c for c in desc["clips"]}
    assert set(clips) == {"Source", "Depth", "Output"} and clips["Depth"]["optional"] == [1]
    eff = desc["effect"]
    assert set(eff["OfxImageEffectPropSupportedPixelDepths"]) == {"OfxBitDepthFloat", "OfxBitDepthShort", "OfxBitDepthByte"}
    assert set(eff["OfxImageEffectPropSupportedContexts"]) == {"OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"}
    assert eff["OfxImageEffectPluginRenderThreadSafety"] == ["OfxImageEffectRenderFullySafe"]


# ------------------------------------------------------------------------------ rendering
ANIM = [  # a parameter with a single key (chromatic) holds that value on every frame
    "0 blur_k 6", "2 blur_k 14",  # linear: 6, 10, 14
    "0 focus_from_point false", "0 focus_disparity 0.8", "2 focus_disparity 0.25",
    "0 aperture_shape hexagon", "1 aperture_shape heart", "2 aperture_shape polygon",
    "0 aperture_blades 5", "0 aperture_rotation_deg 0", "2 aperture_rotation_deg 30",
    "1 aperture_chromatic 0.5", "0 highlights_recover false", "2 highlights_recover true",
    "0 highlights_threshold 0.9", "0 highlights_gain 3", "0 focus_range 0", "2 focus_range 0.2",  # 0, 0.1, 0.2
]


def expected_frames(img: np.ndarray, disp: np.ndarray) -> list[np.ndarray]:
    """The same animation evaluated by hand and rendered by render_bokeh directly."""
    return [
        render_bokeh(img, disp, 0.8, 6.0, aperture="hexagon", blades=5, rotation_deg=0.0, chromatic=0.5),
        render_bokeh(img, disp, 0.525, 10.0, aperture="heart", blades=5, rotation_deg=15.0, chromatic=0.5,
                     focus_range=0.1),
        render_bokeh(img, disp, 0.25, 14.0, aperture="polygon", blades=5, rotation_deg=30.0, chromatic=0.5,
                     highlight_recover=True, highlight_threshold=0.9, highlight_gain=3.0, focus_range=0.2),
    ]


def test_rendered_frames_equal_render_bokeh(built, bridge_dir, scene, tmp_path):
    d, img, disp = scene
    anim = write_anim(tmp_path / "anim.txt", ANIM)
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "3", "--anim", anim)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for f, ref in enumerate(expected_frames(img, disp)):
        out = read_pfm(tmp_path / f"o_{f}.pfm")
        assert np.abs(ref - img).max() > 0.05  # the frame really is blurred
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5, err_msg=f"frame {f}")


def test_focus_point_samples_depth(built, bridge_dir, scene, tmp_path):
    """Focus point (canonical coords, y up) → depth under it, picked as the CLI's --focus-point does."""
    d, img, disp = scene
    h, w = disp.shape
    x, y_top = 20, 12  # inside the near plane (rows 8..21, columns 14..33)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 8", f"0 focus_point {x + 0.5} {h - y_top - 0.5}"])
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "1", "--anim", anim)
    assert proc.returncode == 0, proc.stderr
    from genrefocus_video.focus.point import point_disparity

    a = point_disparity(disp, x, y_top)[0]
    np.testing.assert_allclose(read_pfm(tmp_path / "o_0.pfm"), render_bokeh(img, disp, a, 8.0), rtol=1e-5, atol=1e-5)


def test_proxy_render_scale_scales_k_and_focus_point(built, bridge_dir, tmp_path):
    """At render scale 0.5 the images are half size, K is halved (same look as full size) and the
    canonical focus point maps to half the pixel coordinates."""
    rng = np.random.default_rng(3)
    h, w = 20, 28
    img = rng.random((h, w, 3)).astype(np.float32)
    disp = np.full((h, w), 0.3, np.float32)
    disp[4:12, 6:20] = 0.7
    write_pfm(tmp_path / "src.pfm", img)
    write_pfm(tmp_path / "depth.pfm", disp)
    # Canonical frame is 56x40; point (24.4, 2 * (20 - 8) - 1) -> pixel column 12, row from top 8.
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 10", "0 focus_point 24.4 23"])
    proc = run_host(bridge_dir, "--source", tmp_path / "src.pfm", "--depth", tmp_path / "depth.pfm", "--out",
                    tmp_path / "o_%d.pfm", "--frames", "1", "--anim", anim, "--render-scale", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "region of definition: status 0, 0 0 56 40" in proc.stdout
    a = float(np.median(disp[7:10, 11:14]))
    assert a == pytest.approx(0.7)
    np.testing.assert_allclose(read_pfm(tmp_path / "o_0.pfm"), render_bokeh(img, disp, a, 5.0), rtol=1e-5, atol=1e-5)


def test_pixel_aspect_from_host_keeps_bokeh_round_and_maps_focus_point(built, bridge_dir, tmp_path):
    """Source images with kOfxImagePropPixelAspectRatio 2 (2x anamorphic): the bridge renders with
    that pixel aspect (a point light's bokeh is half as wide in stored pixels as tall), and the
    canonical focus point (x in square pixels) maps to column x / 2."""
    h, w = 31, 33
    img = np.full((h, w, 3), 0.05, np.float32)
    img[15, 16] = 40.0  # a point light on the far plane
    disp = np.full((h, w), 0.1, np.float32)
    disp[2:8, 4:12] = 0.8  # a near card, where the focus point lands
    write_pfm(tmp_path / "src.pfm", img)
    write_pfm(tmp_path / "depth.pfm", disp)
    # canonical frame 66x31; point (16.4, 31 - 4 - 0.5) -> pixel column 8, row from top 4
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 12", "0 focus_point 16.4 26.5", "0 focus_from_point 1"])
    proc = run_host(bridge_dir, "--source", tmp_path / "src.pfm", "--depth", tmp_path / "depth.pfm", "--out",
                    tmp_path / "o_%d.pfm", "--frames", "1", "--anim", anim, "--pixel-aspect", "2")
    assert proc.returncode == 0, proc.stderr
    assert "region of definition: status 0, 0 0 66 31" in proc.stdout
    out = read_pfm(tmp_path / "o_0.pfm")
    np.testing.assert_allclose(out, render_bokeh(img, disp, 0.8, 12.0, pixel_aspect=2.0), rtol=1e-5, atol=1e-5)
    # independent of the renderer: the light's disc (r = 12 · 0.7 = 8.4 px tall) spans ~4.2 columns
    excess = out[..., 1] - out[0:1, 0:1, 1].min()
    lit = excess > 0.25 * excess[15].max()
    cols, rows = np.flatnonzero(lit[15]), np.flatnonzero(lit[:, 16])
    assert abs((rows.max() - rows.min()) / 2 - 8.4) <= 1.0
    assert abs((cols.max() - cols.min()) / 2 - 4.2) <= 1.0


@pytest.mark.parametrize("premult,mode", [("premultiplied", "defocus"), ("unpremultiplied", "defocus"),
                                          ("premultiplied", "keep")])
def test_source_alpha_is_defocused_with_the_colour(built, bridge_dir, tmp_path, premult, mode):
    """An RGBA element over transparency: the bridge gets the alpha plane and returns colour and
    coverage defocused together (render_bokeh_rgba), in the host's premultiplication; 'keep'
    returns the Source alpha and the colour refocused as delivered."""
    from genrefocus_video.render.api import render_bokeh_rgba

    h, w = 36, 48
    yy, xx = np.mgrid[:h * 4, :w * 4] / 4.0
    a = ((yy - 18) ** 2 + (xx - 24) ** 2 < 9 ** 2).astype(np.float32).reshape(h, 4, w, 4).mean(axis=(1, 3))
    rgb = np.where(a[..., None] > 0, np.float32([0.8, 0.3, 0.1]), np.float32([0.0, 1.0, 0.0])).astype(np.float32)
    disp = np.where(a > 0.5, 0.8, 0.0).astype(np.float32)
    write_pfm(tmp_path / "src.pfm", rgb)
    write_pfm(tmp_path / "a.pfm", a)
    write_pfm(tmp_path / "depth.pfm", disp)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 10", "0 focus_from_point false", "0 focus_disparity 0",
                                              f"0 render_alpha {mode}"])
    proc = run_host(bridge_dir, "--source", tmp_path / "src.pfm", "--depth", tmp_path / "depth.pfm", "--alpha",
                    tmp_path / "a.pfm", "--premult", premult, "--out", tmp_path / "o_%d.pfm", "--out-alpha",
                    tmp_path / "oa_%d.pfm", "--frames", "1", "--anim", anim)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out, out_a = read_pfm(tmp_path / "o_0.pfm"), read_pfm(tmp_path / "oa_0.pfm")
    delivered = rgb * a[..., None] if premult == "premultiplied" else rgb
    if mode == "keep":
        np.testing.assert_array_equal(out_a, a)
        np.testing.assert_allclose(out, render_bokeh(delivered, disp, 0.0, 10.0), rtol=1e-5, atol=1e-5)
        return
    ref, ref_a = render_bokeh_rgba(rgb, a, disp, 0.0, 10.0)
    np.testing.assert_allclose(out_a, ref_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, ref * ref_a[..., None] if premult == "premultiplied" else ref, rtol=1e-4, atol=1e-5)
    assert ((out_a > 0.02) & (out_a < 0.98)).sum() > 2 * ((a > 0.02) & (a < 0.98)).sum()  # soft edge in alpha


@pytest.mark.parametrize("bit_depth,levels", [("byte", 255.0), ("short", 65535.0)])
def test_integer_pixel_depths_general_context(built, bridge_dir, scene, tmp_path, bit_depth, levels):
    d, img, disp = scene
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 9", "0 focus_from_point false", "0 focus_disparity 0.8"])
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "1", "--anim", anim, "--bit-depth", bit_depth, "--components", "RGB",
                    "--depth-components", "Alpha", "--context", "general")
    assert proc.returncode == 0, proc.stderr

    def q(a):
        return np.floor(np.clip(a, 0, 1) * levels + 0.5) / levels

    ref = q(render_bokeh(q(img).astype(np.float32), q(disp).astype(np.float32), 0.8, 9.0))
    np.testing.assert_allclose(read_pfm(tmp_path / "o_0.pfm"), ref, atol=1.01 / levels)


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory):
    """64×48, 8 frames: a textured plane (disparity 0.6) shifting 1 px/frame right over a static
    textured background (0.1); the depth carries per-frame noise, so smoothing changes it. Written
    as float32 EXR for the CLI and PFM for the test host (the same values)."""
    from genrefocus_video.io.depth_export import write_disparity_exr
    from genrefocus_video.io.images import write_image

    d = tmp_path_factory.mktemp("moving")
    rng = np.random.default_rng(16)
    h, w, n = 48, 64, 8
    back = (0.2 + 0.6 * rng.random((h, w, 3))).astype(np.float32)
    plane = (0.1 + 0.9 * rng.random((24, 24, 3))).astype(np.float32)
    plane[5, 7] = [5.0, 4.0, 3.0]  # a highlight for the bokeh shape
    for f in range(n):
        img, disp = back.copy(), np.full((h, w), 0.1, np.float32)
        img[12:36, 14 + f:38 + f] = plane
        disp[12:36, 14 + f:38 + f] = 0.6
        disp += (0.02 * rng.standard_normal((h, w))).astype(np.float32)
        write_image(str(d / f"src.{f:04d}.exr"), img, exr_half=False)
        write_disparity_exr(str(d / f"depth.{f:04d}.exr"), disp)
        write_pfm(d / f"src_{f}.pfm", img)
        write_pfm(d / f"depth_{f}.pfm", disp)
    return d, n, (h, w)


def test_smoothing_and_focus_point_equal_the_cli(built, bridge_dir, moving_clip, tmp_path):
    """Frame t with Depth Smoothing 0.5 and Focus From Point equals the CLI's frame t (--depth-smoothing
    0.5 --focus-point X,Y@t: the point picked at frame t, as Focus From Point picks it) within 1e-5:
    the bridge runs the CLI's flow + smoothing stages over the Source and Depth frames the plugin
    fetched, [max(first, t - W), t + 1] (all of the clip here: t <= W = 20; t + 1: the smoothing's
    look-ahead, which the CLI reads from the clip whatever --last-frame says), and declared."""
    from genrefocus_video.cli import main
    from genrefocus_video.depth.temporal import warmup_frames
    from genrefocus_video.io.images import read_image

    d, n, (h, w) = moving_clip
    assert n - 1 <= warmup_frames(0.5)
    x, y = 30, 20  # on the moving plane in every frame
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 8", "0 depth_smoothing 0.5", "0 focus_from_point true",
                                              f"0 focus_point {x + 0.5} {h - y - 0.5}"])
    proc = run_host(bridge_dir, "--source", d / "src_%d.pfm", "--depth", d / "depth_%d.pfm", "--out",
                    tmp_path / "o_%d.pfm", "--frames", str(n), "--anim", anim, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the host fails any undeclared fetch
    needed = _frames_needed(proc.stdout)
    raw = read_pfm(d / "src_0.pfm")
    for t in range(n):
        hi = min(t + 1, n - 1)
        assert needed[t] == {"Source": [0, hi], "Depth": [0, hi]}, (t, needed[t])
        out_dir = tmp_path / f"cli{t}"
        out_dir.mkdir()
        assert main(["render", str(d / "src.%04d.exr"), "-o", str(out_dir / "out.%04d.exr"), "--codec", "exr",
                     "--no-exr-half", "--depth", str(d / "depth.%04d.exr"), "--depth-kind", "disparity",
                     "--depth-smoothing", "0.5", "--focus-point", f"{x},{y}@{t}", "--k", "8", "--no-progress",
                     "--executor", "local", "--last-frame", str(t)]) == 0
        cli = read_image(str(out_dir / f"out.{t:04d}.exr")).pixels
        host = read_pfm(tmp_path / f"o_{t}.pfm")
        if t == 0:
            assert np.abs(host - raw).max() > 0.05  # the frame really is blurred
        if t == n - 1:  # and smoothing changed the disparity it was blurred with
            from genrefocus_video.focus.point import point_disparity

            depth_t = read_pfm(d / f"depth_{t}.pfm")
            unsmoothed = render_bokeh(read_pfm(d / f"src_{t}.pfm"), depth_t, point_disparity(depth_t, x, y)[0], 8.0)
            assert np.abs(host - unsmoothed).max() > 1e-3
        np.testing.assert_allclose(host, cli, rtol=0, atol=1e-5, err_msg=f"frame {t}")


def test_smoothing_result_does_not_depend_on_render_order(built, bridge_dir, moving_clip, tmp_path):
    """Frames rendered by 4 concurrent host threads (in no fixed order: mostly fresh windows, a
    stream continued only by the thread that asks for t + 1 right after t) equal a sequential render
    (every request continues the previous one's stream), bit for bit: the window reaches the clip's
    start, where carried and fresh are the same computation, and no two threads share a stream."""
    d, n, (h, w) = moving_clip
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 6", "0 depth_smoothing 0.8", "0 focus_disparity 0.6"])
    args = ["--source", d / "src_%d.pfm", "--depth", d / "depth_%d.pfm", "--anim", anim]
    assert run_host(bridge_dir, *args, "--out", tmp_path / "a_%d.pfm", "--frames", "6").returncode == 0
    proc = run_host(bridge_dir, *args, "--out", tmp_path / "b_%d.pfm", "--frames", "6", "--threads", "4")
    assert proc.returncode == 0, proc.stderr
    for t in range(6):
        assert np.array_equal(read_pfm(tmp_path / f"a_{t}.pfm"), read_pfm(tmp_path / f"b_{t}.pfm")), t


@pytest.mark.parametrize("order", ["forward", "backward", "random"])
def test_host_depth_clip_smoothing_in_any_order_equals_the_cli(built, fresh_bridge_dir, moving_clip, tmp_path, order):
    """Through the real plugin and a bridge of its own, Depth clip + Depth Smoothing 0.5: frames
    rendered forward (carried), backward or in random order (fresh windows) all equal the CLI's
    frames within 1e-5."""
    from genrefocus_video.cli import main
    from genrefocus_video.io.images import read_image

    d, n, _ = moving_clip
    frames = {"forward": list(range(n)), "backward": list(range(n - 1, -1, -1)),
              "random": [5, 1, 7, 0, 6, 2, 3, 4][:n]}[order]
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 8", "0 depth_smoothing 0.5", "0 focus_from_point false",
                                              "0 focus_disparity 0.6"])
    proc = run_host(fresh_bridge_dir, "--source", d / "src_%d.pfm", "--depth", d / "depth_%d.pfm", "--out",
                    tmp_path / "o_%d.pfm", "--frames", str(n), "--order", ",".join(map(str, frames)),
                    "--anim", anim, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out_dir = tmp_path / "cli"
    out_dir.mkdir()
    assert main(["render", str(d / "src.%04d.exr"), "-o", str(out_dir / "out.%04d.exr"), "--codec", "exr",
                 "--no-exr-half", "--depth", str(d / "depth.%04d.exr"), "--depth-kind", "disparity",
                 "--depth-smoothing", "0.5", "--focus-disparity", "0.6", "--k", "8", "--no-progress",
                 "--executor", "local"]) == 0
    for t in range(n):
        cli = read_image(str(out_dir / f"out.{t:04d}.exr")).pixels
        np.testing.assert_allclose(read_pfm(tmp_path / f"o_{t}.pfm"), cli, rtol=0, atol=1e-5, err_msg=f"frame {t}")


def _frames_needed(stdout: str) -> dict[int, dict[str, list[float]]]:
    """The test host's "frame F: frames needed Source a b; Depth c d" lines, per frame and clip."""
    out: dict[int, dict[str, list[float]]] = {}
    for line in stdout.splitlines():
        if ": frames needed" in line:
            head, tail = line.split(": frames needed")
            clips = [c.split() for c in tail.split(";") if c.strip()]
            out[int(head.split()[1])] = {c[0]: [float(x) for x in c[1:]] for c in clips}
    return out


@pytest.mark.parametrize("smoothing,start,frames", [(0.5, 0, 3), (0.5, 4, 3), (0.0, 0, 3), (0.3, 0, 15),
                                                    (0.15, 2, 11), ("W=5 exactly", 0, 8), ("below W=5", 0, 8)])
def test_frames_needed_declares_exactly_the_frames_fetched(built, bridge_dir, scene, tmp_path, smoothing, start, frames):
    """GetFramesNeeded: Source and Depth over [max(first, t - W), min(last, t + 1)] with smoothing,
    W = the CLI's warm-up (depth.temporal.warmup_frames: 12 at 0.3, 8 at 0.15) and t + 1 its
    look-ahead, else [t, t]. The host fails a Render
    that fetches any time outside that, so passing renders prove the plugin fetched nothing undeclared."""
    from genrefocus_video.depth.temporal import warmup_frames

    import math

    from genrefocus_video.ofx.descriptor import warmup_thresholds

    if isinstance(smoothing, str):  # the strength where W becomes 5, and the double just below it
        smoothing = warmup_thresholds()[4] if "exactly" in smoothing else math.nextafter(warmup_thresholds()[4], 0)
    d, img, disp = scene
    for f in range(start, start + frames):
        write_pfm(tmp_path / f"depth_{f}.pfm", disp)
        write_pfm(tmp_path / f"src_{f}.pfm", img)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 5", f"0 depth_smoothing {smoothing!r}"])
    proc = run_host(bridge_dir, "--source", tmp_path / "src_%d.pfm", "--depth", tmp_path / "depth_%d.pfm", "--out",
                    tmp_path / "o_%d.pfm", "--frames", str(frames), "--start", str(start), "--anim", anim, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    needed = _frames_needed(proc.stdout)
    for t in range(start, start + frames):
        lo = max(t - warmup_frames(smoothing), start)
        hi = min(t + 1, start + frames - 1) if smoothing > 0 else t
        assert needed[t] == {"Source": [lo, hi], "Depth": [lo, hi]}, (t, needed)


def test_fetch_outside_frames_needed_fails_the_render(built, bridge_dir, scene, tmp_path):
    """A host that does not ask (every input at t only, the spec's default) sees the smoothing
    fetches of t+1 (its look-ahead) and t-1 as undeclared: each render fails with that reason (the
    check has teeth)."""
    d, _, disp = scene
    for f in range(2):
        write_pfm(tmp_path / f"depth_{f}.pfm", disp)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 5", "0 depth_smoothing 0.5"])
    args = ["--source", d / "src.pfm", "--depth", tmp_path / "depth_%d.pfm", "--out", tmp_path / "o_%d.pfm",
            "--frames", "2", "--anim", anim]
    proc = run_host(bridge_dir, *args, "--frames-needed", "default")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "frame 0: plugin fetched Depth at time 1, which it did not declare" in proc.stderr, proc.stderr
    assert "frame 1: plugin fetched Depth at time 0, which it did not declare" in proc.stderr, proc.stderr
    for t in range(2):
        assert f"frame {t}: Render (fetched an undeclared frame) failed" in proc.stderr
        assert not (tmp_path / f"o_{t}.pfm").exists()


def test_identity_when_k_is_zero_or_no_depth(built, bridge_dir, scene, tmp_path):
    d, img, _ = scene
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 0", "1 blur_k 5"])
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "a_%d.pfm",
                    "--frames", "2", "--anim", anim)
    assert proc.returncode == 0, proc.stderr
    assert "frame 0: identity (Source)" in proc.stdout and "frame 1: rendered" in proc.stdout
    np.testing.assert_array_equal(read_pfm(tmp_path / "a_0.pfm"), img)
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--out", tmp_path / "b_%d.pfm", "--frames", "1", "--anim", anim,
                    "--start", "1")
    assert proc.returncode == 0 and "frame 1: identity (Source)" in proc.stdout, proc.stdout + proc.stderr
    np.testing.assert_array_equal(read_pfm(tmp_path / "b_1.pfm"), img)


def test_bridge_killed_between_frames_is_restarted(built, bridge_dir, scene, tmp_path):
    d, img, disp = scene
    anim = write_anim(tmp_path / "anim.txt", ANIM)
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "3", "--anim", anim, "--kill-bridge-after", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    killed = int(proc.stdout.split("killed bridge pid ")[1].split()[0])
    new_pid = int((bridge_dir / "bridge.pid").read_text())
    assert new_pid != killed
    for f, ref in enumerate(expected_frames(img, disp)):
        np.testing.assert_allclose(read_pfm(tmp_path / f"o_{f}.pfm"), ref, rtol=1e-5, atol=1e-5)


def test_eight_concurrent_host_threads(built, bridge_dir, scene, tmp_path):
    d, img, disp = scene
    ks = [2.0 + 2 * i for i in range(8)]
    lines = ["0 focus_from_point false", "0 focus_disparity 0.5"] + [f"{i} blur_k {k}" for i, k in enumerate(ks)]
    anim = write_anim(tmp_path / "anim.txt", lines)
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "8", "--threads", "8", "--anim", anim)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("rendered") == 8
    for i, k in enumerate(ks):
        np.testing.assert_allclose(read_pfm(tmp_path / f"o_{i}.pfm"), render_bokeh(img, disp, 0.5, k),
                                   rtol=1e-5, atol=1e-5, err_msg=f"frame {i}")


# ------------------------------------------------------------------------------ trust and failure
def _foreign(tmp_path: Path, with_socket: bool, own_dir: bool) -> Path:
    folder = tmp_path / "foreign"
    folder.mkdir(mode=0o700)
    sock_path = folder / "bridge.sock"
    if with_socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(sock_path))
        s.close()
        os.chown(sock_path, 65534, 65534)
    if not own_dir:
        os.chown(folder, 65534, 65534)
    return sock_path


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
@pytest.mark.parametrize("with_socket,own_dir", [(True, False), (False, False), (True, True)])
def test_socket_owned_by_another_user_is_refused(built, scene, tmp_path, with_socket, own_dir):
    d, _, _ = scene
    sock_path = _foreign(tmp_path, with_socket, own_dir)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 5"])
    t0 = time.monotonic()
    proc = run_host(sock_path.parent, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "1", "--anim", anim, timeout=30)
    assert proc.returncode == 1 and "refusing" in proc.stderr, proc.stdout + proc.stderr
    assert time.monotonic() - t0 < 25
    assert not (tmp_path / "o_0.pfm").exists() and not (sock_path.parent / "bridge.pid").exists()
    # The server refuses it too (exit 4 = OutputError), without touching the foreign socket.
    srv = subprocess.run([sys.executable, "-m", "genrefocus_video.cli", "ofx-serve", "--socket", str(sock_path),
                          "--idle-timeout", "1"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert srv.returncode == 4 and "refusing" in srv.stderr, srv.stderr
    if with_socket:
        assert os.lstat(sock_path).st_uid == 65534


def test_bridge_that_cannot_start_gives_a_clean_error(built, scene, tmp_path):
    d, _, _ = scene
    folder = tmp_path / "nobridge"
    folder.mkdir(mode=0o700)
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 5"])
    proc = run_host(folder, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                    "--frames", "2", "--anim", anim, env_extra={"GENREFOCUS_PYTHON": "/bin/false"}, timeout=30)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("Render failed") == 2 and "bridge exited with status 1" in proc.stderr
    # ... and the host's message suite carries the reason, as a GUI host would show it on the node.
    for f in range(2):
        posted = f"plugin message (OfxMessageError, persistent): GenRefocus: frame {f}: bridge failed: "
        assert posted in proc.stdout and "bridge exited with status 1" in proc.stdout.split(posted)[1].splitlines()[0]
    assert "persistent message at end: GenRefocus: frame 1: bridge failed:" in proc.stdout


@pytest.mark.parametrize("suite,kind", [("2", "persistent"), ("1", "transient"), ("0", None)])
def test_bridge_error_reaches_the_host_message_suite(built, bridge_dir, scene, tmp_path, suite, kind):
    """A parameter the bridge rejects (K < 0 at frame 0): the bridge's one-line reason is posted
    through the message suite the host offers (V2 persistent, cleared by the good frame 1; V1
    transient; none: stderr only) -- not a bare "render failed"."""
    d, _, _ = scene
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k -5", "1 blur_k 5"])
    proc = run_host(bridge_dir, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--frames", "2", "--anim", anim,
                    "--message-suite", suite)
    assert proc.returncode == 1 and "frame 1: rendered" in proc.stdout, proc.stdout + proc.stderr
    reason = "frame 0: bridge failed: OFX parameters: 'blur.k' must be >= 0.0, got -5.0"
    assert f"GenRefocus: {reason}" in proc.stderr
    messages = [line for line in proc.stdout.splitlines() if line.startswith("plugin message")]
    if kind is None:
        assert messages == []
        return
    assert messages == [f"plugin message (OfxMessageError, {kind}): GenRefocus: {reason}"]
    if kind == "persistent":
        cleared = proc.stdout.index("plugin cleared its persistent message")
        assert proc.stdout.index(messages[0]) < cleared < proc.stdout.index("frame 1: rendered")
    assert "persistent message at end: (none)" in proc.stdout


@pytest.mark.parametrize("behaviour,message", [
    ("silent", "did not answer within"),
    ("garbage", "malformed reply"),
    ("oversized", "malformed reply"),
    ("version 2", f"the running bridge speaks protocol version 2, this plugin {VERSION}"),  # a bridge from before v3
])
def test_misbehaving_bridge_gives_clean_error_within_timeout(built, scene, tmp_path, behaviour, message):
    """A bridge that hangs or answers nonsense: the render fails cleanly, bounded by the timeout."""
    d, _, _ = scene
    folder = tmp_path / "fake"
    folder.mkdir(mode=0o700)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(folder / "bridge.sock"))
    srv.listen(8)
    conns = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)
            c.recv(65536)
            if behaviour == "garbage":
                c.sendall(b"HELLO, WORLD" + b"x" * 20)
            elif behaviour == "oversized":
                c.sendall(struct.pack("<4sHHI", b"GRFX", VERSION, 4, 100 * 1024 * 1024))
            elif behaviour == "version 2":
                c.sendall(struct.pack("<4sHHI", b"GRFX", 2, 4, 2) + b"{}")

    threading.Thread(target=serve, daemon=True).start()
    anim = write_anim(tmp_path / "anim.txt", ["0 blur_k 5"])
    t0 = time.monotonic()
    try:
        proc = run_host(folder, "--source", d / "src.pfm", "--depth", d / "depth.pfm", "--out", tmp_path / "o_%d.pfm",
                        "--frames", "1", "--anim", anim, env_extra={"GENREFOCUS_OFX_TIMEOUT": "1.5"}, timeout=30)
    finally:
        srv.close()
        for c in conns:
            c.close()
    assert proc.returncode == 1 and message in proc.stderr, proc.stdout + proc.stderr
    assert time.monotonic() - t0 < 20
    assert not (tmp_path / "o_0.pfm").exists()

"""Video I/O with real PyAV/FFmpeg on tiny clips: bit depth, alpha, audio, rotation, HDR, tags."""
from __future__ import annotations

import json
import shutil
import subprocess
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest

from genrefocus_video.errors import ConfigError, OutputError
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.pixels import read_plane
from genrefocus_video.io.reader import open_reader
from genrefocus_video.io.writer import open_writer
from media_helpers import audio_digest, decoded_audio

W, H = 64, 48
MERIDIAN = "meridian/Meridian-Apple_ProResProxy-HDR10.mp4"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe programs not installed")


def raw_planes(path: str) -> list[list[np.ndarray]]:
    """Integer planes of every frame, read with PyAV only (independent of our conversion code)."""
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            dt = np.dtype("<u2") if f.format.components[0].bits > 8 else np.dtype(np.uint8)
            out.append([read_plane(p, dt).copy() for p in f.planes])
    return out


def write_raw_clip(path: str, fmt: str, codec: str, planes: list[list[np.ndarray]], rate: int = 24,
                   options: dict | None = None, trc: int | None = None, prim: int | None = None,
                   spc: int | None = None) -> None:
    """Encode given integer planes directly with PyAV (no genrefocus code involved)."""
    with av.open(path, "w") as c:
        s = c.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height, s.pix_fmt = W, H, fmt
        cc = s.codec_context
        if trc is not None:
            cc.color_trc, cc.color_primaries, cc.colorspace, cc.color_range = trc, prim, spc, 1
        for i, pl in enumerate(planes):
            f = av.VideoFrame(W, H, fmt)
            for p, a in zip(f.planes, pl):
                per_row = p.line_size // a.dtype.itemsize
                buf = np.zeros((p.buffer_size // p.line_size, per_row), a.dtype)
                buf[: a.shape[0], : a.shape[1]] = a
                p.update(buf.tobytes())
            f.pts = i
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)


def ffprobe(path: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def transcode(src: str, dst: str, **kw) -> ClipInfo:
    with open_reader(src) as r, open_writer(dst, r.info, **kw) as w:
        for f in r:
            w.write(f)
        return r.info


def smooth_planes(n: int, bits: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    m = 1 << (bits - 8)
    out = []
    for _ in range(n):
        y = rng.integers(16 * m, 235 * m + 1, (H, W)).astype(np.uint16)
        u = rng.integers(16 * m, 240 * m + 1, (H, W)).astype(np.uint16)
        v = rng.integers(16 * m, 240 * m + 1, (H, W)).astype(np.uint16)
        out.append([y, u, v])
    return out


def test_10bit_444_round_trip_within_one_code_value(tmp_path):
    """10-bit 4:4:4 in -> float linear -> 10-bit 4:4:4 out: every code value within 1 (no 8-bit detour)."""
    src, dst = str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv")
    planes = smooth_planes(3, 10)
    write_raw_clip(src, "yuv444p10le", "ffv1", planes, trc=1, prim=1, spc=1)
    info = transcode(src, dst)
    assert (info.bit_depth, info.chroma, info.transfer) == (10, "444", "bt709")
    got = raw_planes(dst)
    assert len(got) == 3
    for a, b in zip(planes, got):
        for pa, pb in zip(a, b):
            assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1
    s = ffprobe(dst)["streams"][0]
    assert (s["codec_name"], s["pix_fmt"]) == ("ffv1", "yuv444p10le")  # family, depth, chroma kept
    assert s.get("color_transfer") == "bt709" and s.get("color_space") == "bt709"


def test_12bit_and_8bit_values_are_not_quantised_to_8_bits(tmp_path):
    src = str(tmp_path / "in12.mkv")
    planes = smooth_planes(1, 12, seed=3)
    write_raw_clip(src, "yuv444p12le", "ffv1", planes, trc=1, prim=1, spc=1)
    with open_reader(src) as r:
        f = next(iter(r))
    # 12-bit input: distinct luma codes must stay distinct after decoding (8 bits would merge 16 of them).
    y = planes[0][0]
    row = np.argsort(y.ravel())
    lin = f.rgb.mean(axis=2).ravel()[row]
    assert len(np.unique(lin)) > 0.9 * len(np.unique(y))


@pytest.mark.parametrize("chroma,codec", [("420", "libx264"), ("422", "libx264")])
def test_subsampled_10bit_decode_matches_ffmpeg(tmp_path, chroma, codec):
    """4:2:0/4:2:2 10-bit decode agrees with FFmpeg's own (swscale, accurate_rnd) conversion."""
    src = str(tmp_path / "in.mp4")
    # flat-ish content so chroma siting differences stay small; values from a smooth gradient
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    fmt = f"yuv{chroma}p10le"
    cw = W // 2
    ch = H // 2 if chroma == "420" else H
    y = (200 + 600 * xx / W).astype(np.uint16)
    u = (300 + 400 * np.mgrid[0:ch, 0:cw][1] / cw).astype(np.uint16)
    v = (700 - 300 * np.mgrid[0:ch, 0:cw][0] / ch).astype(np.uint16)
    write_raw_clip(src, fmt, codec, [[y, u, v]], options={"qp": "0"}, trc=1, prim=1, spc=1)
    with open_reader(src, transfer="linear") as r:  # linear: compare code values directly
        ours = next(iter(r)).rgb
    with av.open(src) as c:
        ref_frame = next(c.decode(video=0))
        ref = ref_frame.reformat(format="gbrpf32le", src_colorspace="itu709", dst_colorspace="itu709",
                                 src_color_range="MPEG", dst_color_range="JPEG")
        g, b, rr = (read_plane(p, np.dtype("<f4")) for p in ref.planes[:3])
    ref_rgb = np.stack([rr, g, b], axis=-1)
    inner = (slice(2, -2), slice(2, -2))
    in_gamut = (ref_rgb[inner] > 0.002) & (ref_rgb[inner] < 0.998)  # swscale clips out-of-gamut values
    assert in_gamut.mean() > 0.5
    assert np.abs(ours[inner] - ref_rgb[inner])[in_gamut].max() < 4 / 1023


def test_prores_4444_alpha_survives(tmp_path):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    alpha = (xx / (W - 1)).astype(np.float32)
    rgb = np.stack([xx / W, yy / H, 0.5 + 0 * xx], axis=-1).astype(np.float32)
    like = ClipInfo(path="", kind="sequence", width=W, height=H, bit_depth=16, has_alpha=True, transfer="srgb")
    out = str(tmp_path / "a.mov")
    with open_writer(out, like, codec="prores_4444") as w:
        for i in range(2):
            w.write(Frame(i, rgb, alpha))
    s = ffprobe(out)["streams"][0]
    assert s["codec_name"] == "prores" and s["pix_fmt"].startswith("yuva444p")
    with open_reader(out) as r:
        assert r.info.has_alpha
        frames = list(r)
    assert len(frames) == 2 and frames[0].alpha is not None
    assert np.abs(frames[0].alpha - alpha).max() < 2 / 1023
    assert np.abs(frames[1].rgb - rgb).max() < 0.01
    # and ProRes 4444 alpha in -> auto codec keeps ProRes 4444 with alpha
    out2 = str(tmp_path / "b.mov")
    transcode(out, out2)
    s2 = ffprobe(out2)["streams"][0]
    assert s2["codec_name"] == "prores" and s2["pix_fmt"].startswith("yuva444p")


def test_meridian_prores_hdr_round_trip_keeps_everything(tmp_path, shared_data):
    """Real ProRes 10-bit 4:2:2 PQ clip with two 24-bit PCM tracks -> .mov: ProRes 10-bit 4:2:2, PQ tags,
    timecode, frame rate, and audio bytes identical to the source."""
    src = str(shared_data / MERIDIAN)
    out = str(tmp_path / "m.mov")
    with open_reader(src) as r:
        info = r.info
        assert (info.codec, info.bit_depth, info.chroma, info.transfer, info.primaries) == ("prores", 10, "422", "pq", "bt2020")
        assert info.n_frames == 5 and len(info.audio_streams) == 2
        with open_writer(out, info, audio_from=src) as w:
            for f in r:
                assert f.rgb.dtype == np.float32 and f.rgb.shape == (720, 1280, 3)
                w.write(f)
    probe = ffprobe(out)
    v = [s for s in probe["streams"] if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["profile"], v["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert (v["color_transfer"], v["color_primaries"], v["color_space"]) == ("smpte2084", "bt2020", "bt2020nc")
    assert v["r_frame_rate"] == "60000/1001"
    tags = dict(probe["format"].get("tags", {}), **v.get("tags", {}))
    assert tags.get("timecode") == "00:01:15;26" or any(
        s.get("tags", {}).get("timecode") == "00:01:15;26" for s in probe["streams"])
    assert audio_digest(out) == audio_digest(src)
    # PCM audio cannot be copied into .mp4: with audio_codec='copy' a clear error, nothing written;
    # by default both tracks (mono, layout unspecified in the MXF) become AAC of the same length
    with pytest.raises(OutputError, match="PCM"):
        open_writer(str(tmp_path / "m.mp4"), info, codec="h264", audio_from=src, audio_codec="copy")
    assert not (tmp_path / "m.mp4").exists()
    with open_reader(src) as r, open_writer(str(tmp_path / "m.mp4"), info, codec="h264", audio_from=src) as w:
        for f in r:
            w.write(f)
    streams = ffprobe(str(tmp_path / "m.mp4"))["streams"]
    assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == ["aac", "aac"]
    for k in (0, 1):  # (the clip's tracks are silent: tests/test_io_audio.py checks the sound itself)
        ref, rate = decoded_audio(src, k)
        got, got_rate = decoded_audio(str(tmp_path / "m.mp4"), k)
        assert got_rate == rate and abs(len(got) - len(ref)) <= 2 * 1024 + 64


@needs_ffmpeg
def test_aac_audio_packets_byte_identical_and_h264_10bit_kept(tmp_path):
    src, out = str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25:d=0.4",
                    "-f", "lavfi", "-i", "sine=f=440:d=0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p10le",
                    "-c:a", "aac", "-b:a", "64k", "-shortest", src], check=True)
    transcode(src, out, audio_from=src)
    s = ffprobe(out)["streams"]
    v = [x for x in s if x["codec_type"] == "video"][0]
    assert (v["codec_name"], v["pix_fmt"], v["r_frame_rate"]) == ("h264", "yuv420p10le", "25/1")
    assert audio_digest(out) == audio_digest(src)


@needs_ffmpeg
def test_rotation_matrix_comes_out_upright(tmp_path):
    """Stored pixels are rotated; the display matrix says rotate 90° CCW. Frames must come out upright,
    exactly as FFmpeg's own autorotate shows them."""
    upright = np.zeros((H, W, 3), np.float32)
    upright[:16, :16] = [1.0, 0.0, 0.0]  # red marker top-left
    upright[-8:, :, 2] = 1.0  # blue bar along the bottom
    stored = np.ascontiguousarray(np.rot90(upright, -1))  # rotated 90° clockwise on disk
    like = ClipInfo(path="", kind="sequence", width=H, height=W, bit_depth=8, transfer="linear")
    plain, rotated = str(tmp_path / "plain.mp4"), str(tmp_path / "rot.mp4")
    with open_writer(plain, like, codec="h264", pix_fmt="yuv444p", crf=0) as w:  # crf 0: lossless
        w.write(Frame(0, stored))
    with av.open(plain) as i, av.open(rotated, "w") as o:
        s = o.add_stream_from_template(i.streams.video[0])
        s.set_display_rotation(90)
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.stream = s
                o.mux(p)
    with open_reader(rotated, transfer="linear") as r:
        assert r.info.rotation == 90 and (r.info.width, r.info.height) == (W, H)
        got = next(iter(r)).rgb
    assert got.shape == (H, W, 3)
    assert got[:16, :16, 0].mean() > 0.9 and got[-8:, :, 2].mean() > 0.9
    # independent: FFmpeg CLI applies the display matrix itself
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", rotated, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(H, W, 3).astype(np.float32) / 255
    assert np.abs(got - ref).mean() < 0.02


@pytest.mark.parametrize("transfer,trc", [("pq", 16), ("hlg", 18)])
def test_pq_hlg_video_round_trip(tmp_path, transfer, trc):
    rng = np.random.default_rng(5)
    lin = (rng.random((H, W, 3)) * (8.0 if transfer == "pq" else 3.0)).astype(np.float32)
    like = ClipInfo(path="", kind="sequence", width=W, height=H, bit_depth=10, chroma="444",
                    transfer=transfer, primaries="bt2020", matrix="bt2020nc", color_range="tv")
    out = str(tmp_path / "hdr.mkv")
    with open_writer(out, like, codec="ffv1") as w:
        w.write(Frame(0, lin))
    s = ffprobe(out)["streams"][0]
    assert s["color_transfer"] == {"pq": "smpte2084", "hlg": "arib-std-b67"}[transfer]
    assert s["pix_fmt"] == "yuv444p10le"
    with open_reader(out) as r:
        assert r.info.transfer == transfer
        back = next(iter(r)).rgb
    # 10-bit quantisation: relative error of a code step on these curves is below ~1 %
    np.testing.assert_allclose(back, lin, rtol=0.02, atol=2e-3)
    # override: reading the same file as linear gives the code values instead
    with open_reader(out, transfer="linear") as r:
        assert r.info.transfer == "linear" and next(iter(r)).rgb.max() <= 1.01


@pytest.mark.parametrize("codec,pix_fmt,ext", [("h264", "yuv420p", ".mp4"), ("h265", "yuv420p10le", ".mkv"),
                                               ("prores", "yuv422p10le", ".mov"), ("ffv1", "yuv444p12le", ".mkv")])
def test_encoders(tmp_path, codec, pix_fmt, ext):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([xx / W, yy / H, 0.25 + 0 * xx], axis=-1).astype(np.float32)
    like = ClipInfo(path="", kind="sequence", width=W, height=H, fps=Fraction(30000, 1001), bit_depth=10, transfer="bt709")
    out = str(tmp_path / f"o{ext}")
    with open_writer(out, like, codec=codec, pix_fmt=pix_fmt) as w:
        for i in range(3):
            w.write(Frame(i, rgb))
    s = ffprobe(out)["streams"][0]
    assert s["pix_fmt"] == pix_fmt and s["r_frame_rate"] == "30000/1001"
    with open_reader(out) as r:
        frames = list(r)
    assert [f.index for f in frames] == [0, 1, 2]
    assert np.abs(frames[2].rgb - rgb).mean() < 0.01


def test_codec_and_pix_fmt_overrides_are_validated(tmp_path):
    like = ClipInfo(path="", kind="video", width=W, height=H, codec="prores", bit_depth=10, chroma="422")
    with pytest.raises(ConfigError, match="pix_fmt"):
        open_writer(str(tmp_path / "x.mov"), like, codec="prores", pix_fmt="yuv420p")
    with pytest.raises(OutputError, match="cannot be stored"):
        open_writer(str(tmp_path / "x.mp4"), like, codec="prores")  # asked for ProRes in .mp4


def test_auto_codec_that_cannot_go_into_mp4_falls_back_to_the_containers_own():
    """'auto' keeps the input's codec family where the container can hold it; ProRes or FFV1 into
    .mp4 becomes H.265 for > 8-bit input (keeps the bit depth and the HDR10 metadata) or H.264."""
    from genrefocus_video.io.codecs import resolve_codec

    prores10 = ClipInfo(path="", kind="video", width=W, height=H, codec="prores", bit_depth=10, chroma="422")
    ffv1_8 = ClipInfo(path="", kind="video", width=W, height=H, codec="ffv1", bit_depth=8, chroma="420")
    assert resolve_codec("auto", prores10, "x.mp4") == "h265"
    assert resolve_codec("auto", ffv1_8, "x.mp4") == "h264"
    assert resolve_codec("auto", prores10, "x.mov") == "prores"  # kept where it fits
    assert resolve_codec("auto", ffv1_8, "x.mkv") == "ffv1"


@needs_ffmpeg
def test_timecode_and_frame_rate_carried(tmp_path):
    src, out = str(tmp_path / "tc.mov"), str(tmp_path / "tc_out.mov")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25:d=0.2",
                    "-c:v", "prores_ks", "-profile:v", "3", "-timecode", "01:02:03:04", src], check=True)
    info = transcode(src, out)
    assert info.timecode == "01:02:03:04"
    p = ffprobe(out)
    tcs = [s.get("tags", {}).get("timecode") for s in p["streams"]] + [p["format"].get("tags", {}).get("timecode")]
    assert "01:02:03:04" in tcs
    v = [s for s in p["streams"] if s["codec_type"] == "video"][0]
    assert v["r_frame_rate"] == "25/1" and int(v["nb_frames"]) == 5
    # an output that starts at frame 3 starts at timecode + 3 frames
    part = str(tmp_path / "part.mov")
    with open_reader(src, first_frame=3) as r, open_writer(part, r.info) as w:
        for f in r:
            w.write(f)
    p = ffprobe(part)
    assert "01:02:03:07" in [s.get("tags", {}).get("timecode") for s in p["streams"]]


def test_timecode_arithmetic_drop_frame():
    from genrefocus_video.io.timecode import add_frames

    ntsc = Fraction(30000, 1001)
    assert add_frames("00:00:59;29", 1, ntsc) == "00:01:00;02"  # frames 0,1 dropped at minute 1
    assert add_frames("00:09:59;29", 1, ntsc) == "00:10:00;00"  # ...but not at minute 10
    assert add_frames("00:00:59;59", 1, Fraction(60000, 1001)) == "00:01:00;04"
    assert add_frames("23:59:59:24", 1, Fraction(25)) == "00:00:00:00"


def test_decoding_streams_with_flat_memory(tmp_path):
    """Peak Python/numpy memory while decoding 40 frames is no larger than for 5 (frames are not kept)."""
    src = str(tmp_path / "long.mkv")
    write_raw_clip(src, "yuv444p10le", "ffv1", smooth_planes(40, 10, seed=9))

    def peak(n: int) -> int:
        tracemalloc.start()
        with open_reader(src, last_frame=n - 1) as r:
            count = sum(1 for _ in r)
        _, pk = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return pk

    p5, p40 = peak(5), peak(40)
    assert p40 < 1.5 * p5 + 64 * 1024


def test_frame_range_and_random_access(tmp_path):
    src = str(tmp_path / "r.mkv")
    planes = smooth_planes(8, 10, seed=2)
    write_raw_clip(src, "yuv444p10le", "ffv1", planes)
    with open_reader(src, first_frame=3, last_frame=5) as r:
        assert len(r) == 3
        frames = list(r)
        assert [f.index for f in frames] == [3, 4, 5]
        assert [f.time for f in frames] == pytest.approx([3 / 24, 4 / 24, 5 / 24], abs=1e-3)  # mkv: ms timestamps
        again = r.read(4)
        np.testing.assert_array_equal(again.rgb, frames[1].rgb)
    with open_reader(src) as r:
        ref = [f.rgb for f in r]
    np.testing.assert_array_equal(frames[0].rgb, ref[3])


def test_probe_cli_json_and_text(tmp_path, shared_data, capsys):
    from genrefocus_video.cli import main

    src = str(shared_data / MERIDIAN)
    assert main(["probe", src, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["width"], d["height"], d["bit_depth"], d["chroma"], d["transfer"]) == (1280, 720, 10, "422", "pq")
    assert d["fps_fraction"] == "60000/1001" and d["n_frames"] == 5 and len(d["audio_streams"]) == 2
    assert main(["probe", src]) == 0
    text = capsys.readouterr().out
    assert "prores" in text and "00:01:15;26" in text and "pcm_s24le" in text


@needs_ffmpeg
def test_camera_metadata_from_quicktime_tags(tmp_path):
    from genrefocus_video.io.probe import probe

    src = str(tmp_path / "cam.mov")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=25:d=0.1",
                    "-c:v", "libx264", "-movflags", "use_metadata_tags",
                    "-metadata", "com.apple.quicktime.camera.focal_length.35mm_equivalent=26",
                    "-metadata", "com.apple.quicktime.camera.lens_model=back camera 5.7mm f/1.5", src], check=True)
    cam = probe(src).camera
    assert cam["focal_length_35mm"] == 26 and cam["focal_length_mm"] == 5.7 and cam["f_number"] == 1.5
    assert cam["sensor_width_mm"] == pytest.approx(36 * 5.7 / 26)


def test_render_with_k0_keeps_10bit_444_within_one_code_value(tmp_path):
    """End to end through `genrefocus-video render` with K = 0 (no blur): the I/O must be transparent."""
    from genrefocus_video.cli import main

    src, dst, depth = str(tmp_path / "in.mkv"), str(tmp_path / "out.mkv"), str(tmp_path / "d.npy")
    planes = smooth_planes(2, 10, seed=11)
    write_raw_clip(src, "yuv444p10le", "ffv1", planes, trc=1, prim=1, spc=1)
    np.save(depth, np.tile(np.linspace(0.1, 1.0, W, dtype=np.float32), (H, 1)))
    rc = main(["render", src, "-o", dst, "--depth", depth, "--focus-disparity", "0.5", "--k", "0", "--no-progress"])
    assert rc == 0
    got = raw_planes(dst)
    assert len(got) == 2
    for a, b in zip(planes, got):
        for pa, pb in zip(a, b):
            assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1



@needs_ffmpeg
def test_decodes_prores_4444_alpha_made_by_ffmpeg(tmp_path):
    src = str(tmp_path / "ff4444.mov")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x3366CC@0.5:s={W}x{H}:r=24:d=0.1,format=rgba",
                    "-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le", src], check=True)
    with open_reader(src) as r:
        assert r.info.has_alpha and r.info.codec == "prores"
        f = next(iter(r))
    assert f.alpha is not None and abs(float(f.alpha.mean()) - 128 / 255) < 0.01
    # colour 0x3366CC in sRGB-ish BT.709 video: check the decoded code values, not the transfer
    with open_reader(src, transfer="linear") as r:
        code = next(iter(r)).rgb.mean(axis=(0, 1))
    np.testing.assert_allclose(code, [0x33 / 255, 0x66 / 255, 0xCC / 255], atol=0.01)


@pytest.mark.parametrize("chroma", ["420", "422"])
def test_chroma_upsampling_fast_path_matches_definition(chroma):
    """The slicing fast path equals linear interpolation at the chroma sites (x/2; (y+0.5)/2−0.5)."""
    from genrefocus_video.io.pixels import upsample_chroma

    rng = np.random.default_rng(1)
    h, w = 7, 9  # odd sizes: chroma planes are ceil(h/2) × ceil(w/2)
    ch = (h + 1) // 2 if chroma == "420" else h
    c = rng.random((ch, (w + 1) // 2)).astype(np.float32)
    got = upsample_chroma(c, w, h, chroma)
    xs = np.arange(w) / 2.0
    ys = (np.arange(h) + 0.5) / 2 - 0.5 if chroma == "420" else np.arange(h, dtype=float)
    cols = np.array([np.interp(xs, np.arange(c.shape[1]), row) for row in c])
    ref = np.array([np.interp(ys, np.arange(cols.shape[0]), col) for col in cols.T]).T
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_hdr10_static_metadata_carried_into_h265(tmp_path, shared_data):
    """Meridian's mastering display (ST 2086) and MaxCLL/MaxFALL reach an H.265 output as SEI."""
    src = str(shared_data / MERIDIAN)
    out = str(tmp_path / "hdr10.mkv")
    with open_reader(src, last_frame=1) as r, open_writer(out, r.info, codec="h265") as w:
        assert r.info.metadata["hdr.max_cll"] == "1000,100"
        for f in r:
            w.write(f)
    res = subprocess.run(["ffprobe", "-v", "error", "-show_frames", "-read_intervals", "%+#1", "-select_streams", "v",
                          "-of", "json", out], check=True, capture_output=True, text=True).stdout
    sides = {d["side_data_type"]: d for d in json.loads(res)["frames"][0].get("side_data_list", [])}
    md = sides["Mastering display metadata"]
    assert (md["red_x"], md["green_y"], md["max_luminance"]) == ("34000/50000", "34500/50000", "10000000/10000")
    assert sides["Content light level metadata"]["max_content"] == 1000


@needs_ffmpeg
def test_variable_frame_rate_timestamps_are_kept(tmp_path):
    src, out = str(tmp_path / "vfr.mkv"), str(tmp_path / "vfr_out.mov")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=24:d=1",
                    "-vf", "setpts='if(lt(N,12),N,N+6)/24/TB'", "-vsync", "vfr", "-c:v", "ffv1", src], check=True)

    def times(path: str) -> list[float]:
        res = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time",
                              "-of", "csv=p=0", path], check=True, capture_output=True, text=True).stdout
        return [float(t) for t in res.split()]

    with open_reader(src) as r:
        frames = list(r)
    assert len(frames) == 24 and frames[12].time == pytest.approx(0.75, abs=1e-3)
    assert frames[12].index == 18  # indices follow time on the frame-rate grid
    with open_reader(src) as r:
        assert len(r) == 30  # the index space a chunked render must cover (frames 0..29, 24 present)
    transcode(src, out, codec="prores")
    assert times(out) == pytest.approx(times(src), abs=1.5e-3)


def test_odd_frame_size_is_written_in_444_or_refused_clearly(tmp_path):
    """4:2:0 / 4:2:2 have no chroma sample for an odd last column/row: the encoder only says
    'Generic error in an external library'. 'auto' writes 4:4:4 instead (the clip is encoded, at
    its exact size); an explicit subsampled --pix-fmt is a one-line config error."""
    odd = ClipInfo(path="", kind="sequence", width=33, height=17, fps=24)
    for codec, ext in (("h264", ".mp4"), ("prores", ".mov")):
        out = str(tmp_path / f"odd_{codec}{ext}")
        with open_writer(out, odd, codec=codec) as w:
            for i in range(2):
                w.write(Frame(i, np.full((17, 33, 3), 0.3, np.float32)))
        with open_reader(out) as r:
            assert (r.info.width, r.info.height, r.info.chroma) == (33, 17, "444")
            assert np.abs(next(iter(r)).rgb - 0.3).max() < 0.02
    with pytest.raises(ConfigError, match="cannot store a 33x17 frame"):
        open_writer(str(tmp_path / "x.mp4"), odd, codec="h264", pix_fmt="yuv420p")


def test_read_range_matches_random_reads_wherever_the_demuxer_was(tmp_path):
    """read_range(a, b) is one seek plus forward decoding; it must give exactly read(i) for each i,
    including a range starting at frame 0 after reads elsewhere had moved the demuxer."""
    from fractions import Fraction

    like = ClipInfo(path="", kind="video", width=W, height=H, fps=Fraction(24))
    rng = np.random.default_rng(3)
    clip = str(tmp_path / "gop.mp4")
    with open_writer(clip, like, codec="h264") as w:
        for i in range(30):
            w.write(Frame(i, rng.random((H, W, 3)).astype(np.float32)))
    with open_reader(clip) as r:
        single = {i: r.read(i).rgb for i in (0, 7, 13, 29)}
        for a, b in ((13, 20), (0, 7), (25, 29), (0, 0)):
            got = list(r.read_range(a, b))
            assert [f.index for f in got] == list(range(a, b + 1)), (a, b)
            for f in got:
                if f.index in single:
                    np.testing.assert_array_equal(f.rgb, single[f.index])
        assert [f.index for f in r.read_range(28, 40)] == [28, 29]  # the clip ends first


def test_h265_is_not_used_for_frames_too_small_for_x265():
    """x265 aborts the whole process on tiny frames (heap corruption at 48x32): 'auto' picks H.264
    for them, an explicit --codec h265 is a config error instead of a crash."""
    from dataclasses import replace

    from genrefocus_video.io.codecs import resolve_codec

    tiny = ClipInfo(path="", kind="video", width=48, height=32, codec="prores", bit_depth=10, chroma="422")
    assert resolve_codec("auto", tiny, "x.mp4") == "h264"
    assert resolve_codec("auto", replace(tiny, codec="hevc"), "x.mkv") == "h264"
    with pytest.raises(ConfigError, match="too small for H.265"):
        resolve_codec("h265", tiny, "x.mkv")
    assert resolve_codec("auto", replace(tiny, width=W, height=H), "x.mp4") == "h265"  # 64x48: fine


_SHORT_H265 = """
import sys
from fractions import Fraction
import numpy as np
from genrefocus_video.io.frame import ClipInfo, Frame
from genrefocus_video.io.writer import open_writer
like = ClipInfo(path="", kind="video", width=320, height=180, fps=Fraction(24), time_base=Fraction(1, 12288),
                codec="h264", bit_depth=8, chroma="420")
texture = np.random.default_rng(0).random((180, 320, 3), dtype=np.float32) * 0.1
for n in (1, 2, 3, 4):
    with open_writer(f"{sys.argv[1]}/short{n}.mp4", like, codec="h265") as w:
        for i in range(n):
            w.write(Frame(i, [0.2, 0.7, 0.4, 0.9][i] + texture, time=i / 24))
"""


def test_h265_clips_of_a_few_frames_are_written_whole(tmp_path):
    """libx265 gave the packets of a 1-2 frame stream uninitialised DTS and the muxer failed at the
    flush ("Not yet implemented in FFmpeg" / "Invalid argument", with the fine time base an MP4
    source has); the writer now encodes such a stream without B-frames. Run in a fresh process,
    as a render is: the garbage depends on the heap, and inside the test session it happened to
    pass. Every frame must come back, in order, close to what was written."""
    import os
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", _SHORT_H265, str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-400:]
    for n in (1, 2, 3, 4):
        with open_reader(str(tmp_path / f"short{n}.mp4")) as r:
            got = [f.rgb.mean() - 0.05 for f in r]
        assert np.allclose(got, [0.2, 0.7, 0.4, 0.9][:n], atol=0.01), (n, got)


_OPEN_CLOSE_LOOP = """
import sys
import av
import genrefocus_video.io.video_probe  # noqa: F401  (sets FFmpeg's logging the way every render runs)
for _ in range(150):
    c = av.open(sys.argv[1])
    s = c.streams.video[0]
    s.thread_type = "AUTO"  # as the reader decodes
    for k, f in enumerate(c.decode(s)):
        if k == 2:
            break  # dropped mid-stream: the decoder's frame threads are still busy when it is freed
    c.close()
print("done")
"""


@needs_ffmpeg
def test_closing_a_threaded_h264_decoder_mid_stream_never_hangs(tmp_path):
    """With PyAV's Python log callback installed (any av.logging level, e.g. the PANIC this module
    once set), a frame-threaded H.264 decoder thread that logs while the main thread frees it
    deadlocks the process: this loop hung every time, and a render hung the same way. The product
    keeps FFmpeg's logging off (level None: PyAV's C no-op callback)."""
    import os
    import sys

    src = str(tmp_path / "t.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=128x72:r=24:d=1", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", src], check=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        done = subprocess.run([sys.executable, "-c", _OPEN_CLOSE_LOOP, src], env=env, capture_output=True,
                              text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("reading and closing an H.264 clip 150 times hung (FFmpeg log callback deadlock)")
    assert done.returncode == 0 and "done" in done.stdout, done.stderr[-400:]


def test_a_clip_cut_short_in_transfer_is_refused_unless_allowed(tmp_path, caplog):
    """Matroska stores its duration in the header: a copy cut short is an error naming the frames
    that decode and the count the duration implies (it used to render them with a warning, and
    before that without a word); --allow-truncated renders those frames, with a warning."""
    import logging

    from media_helpers import clip_with_tone
    from test_pipeline_kit import make_clip

    from genrefocus_video.io.truncation import TruncatedInputError

    full = clip_with_tone(make_clip(str(tmp_path / "v.mkv"), n=24), str(tmp_path / "full.mkv"), 24)
    data = open(full, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level(logging.WARNING, logger="genrefocus_video.io.video_reader"):
        with open_reader(full) as r:
            assert len(r) == 24
        assert "truncated" not in caplog.text
        with open_reader(str(cut)) as r, pytest.raises(TruncatedInputError, match="cut.mkv: .* frames decode, "
                                                                               "but its duration implies about 24"):
            len(r)
        with open_reader(str(cut), allow_truncated=True) as r:
            n = len(r)
            assert 0 < n < 20 and len(list(r)) == n
    assert f"{n} frames decode, but its duration implies about 24" in caplog.text
    assert "--allow-truncated" in caplog.text

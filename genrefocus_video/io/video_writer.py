"""Encoding frames into a video file with PyAV, atomically, with the source's audio carried along.

Each frame is converted from linear float to code values and the output pixel format in numpy
(:mod:`.pixels`), encoded and muxed as it arrives, so memory does not grow with clip length. The
file is written under a temp name beside the final one and renamed on ``close()``. Audio is never
decoded for a copy: packets of every audio stream of ``audio_from`` are re-muxed
(``add_stream_from_template``), byte-identical to the source; PCM into MP4 is encoded to AAC
(:mod:`.audio`). Which encoder and pixel format are used is decided in :mod:`.codecs`.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Any, Iterator, Optional

import av
import numpy as np

from .. import colour
from ..errors import ConfigError, InputError, OutputError
from . import atomic
from .audio import AacEncoder, audio_plan
from .codecs import ENCODERS, PRORES_PROFILES, X265_SHORT_STREAM, container_ext, resolve_codec, resolve_pix_fmt
from .frame import ClipInfo, Frame
from .pixels import MATRIX_IDS, PRIMARIES_IDS, RANGE_IDS, TRANSFER_TO_TAG, TRC_IDS, encode_from_code, pixfmt_info
from .timecode import add_frames
from .video_probe import ffmpeg_message

log = logging.getLogger(__name__)


class VideoWriter:
    """Encode frames into a video file written atomically (temp file beside it, renamed on close)."""

    def __init__(self, path: str, like: ClipInfo, *, codec: str = "auto", pix_fmt: Optional[str] = None,
                 transfer: str = "auto", crf: Optional[int] = None, audio_from: Optional[str] = None,
                 overwrite: bool = False, audio_codec: str = "auto", segment: bool = False) -> None:
        self.path = path
        self.like = like
        self.segment = segment  # a farm chunk: the join records container-level flags once
        self.final = atomic.check_output_path(path, overwrite=overwrite, inputs=(like.path, audio_from or ""))
        self.overwrite = overwrite
        self.family = resolve_codec(codec, like, path)
        self.pix_fmt = resolve_pix_fmt(self.family, like, pix_fmt, path)
        self.transfer = like.transfer if transfer in (None, "", "auto") else transfer
        if transfer in (None, "", "auto") and self.transfer == "linear":
            # Scene-linear sources (EXR) would band badly as linear integer video: encode BT.709.
            self.transfer = "bt709"
        if self.transfer not in colour.TRANSFERS:
            raise ConfigError(f"'output.transfer' {transfer!r} unknown; expected one of {', '.join(colour.TRANSFERS)}")
        self.crf = crf
        self.pf = pixfmt_info(self.pix_fmt)
        # RGB sources (images) say "pc"; for a YUV output only a YUV source's range is meaningful.
        yuv_source = like.chroma in ("420", "422", "444", "440", "411", "410", "gray")
        self.color_range = "pc" if self.pf.is_rgb else ((like.color_range or "tv") if yuv_source else "tv")
        self.matrix = "rgb" if self.pf.is_rgb else (
            like.matrix if like.matrix in colour.MATRIX_COEFFS else
            ("bt2020nc" if like.primaries == "bt2020" else "bt709"))
        self.audio_from = audio_from
        self._audio_in: Any = None
        # per input audio stream: encode to AAC (PCM into MP4) or copy; refusals happen here, early
        self._audio_aac = audio_plan(audio_from, path, audio_codec, announce=True) if audio_from else []
        self._out: Any = None
        self._tmp: Optional[str] = None
        self._vs: Any = None
        self._first_index: Optional[int] = None
        self._last_index = -1
        self._last_pts = -1
        self._t0 = 0.0
        self._use_times = True
        self._step = 1
        self._count = 0
        self._audio_iter: Optional[Iterator[Any]] = None
        self._audio_pending: Any = None
        self._audio_map: dict[int, Any] = {}
        self._audio_t0 = 0.0
        self._held: list[Frame] = []  # first frames of an H.265 stream, until its length is known
        self._no_bframes = False
        self.closed = False

    # -- audio ------------------------------------------------------------------------------

    def _open_audio(self) -> None:
        if not self.audio_from:
            return
        try:
            ain = av.open(self.audio_from, "r")
        except (av.error.FFmpegError, OSError):
            return
        if not ain.streams.audio:
            ain.close()
            return
        self._audio_in = ain
        for k, a in enumerate(ain.streams.audio):
            try:
                aac = k < len(self._audio_aac) and self._audio_aac[k]
                self._audio_map[a.index] = AacEncoder(self._out, a) if aac else self._out.add_stream_from_template(a)
            except (ValueError, av.error.FFmpegError) as exc:
                raise OutputError(f"output {self.path}: audio stream {a.index} ({a.codec_context.name}) cannot be "
                                  f"stored in {container_ext(self.path)} ({ffmpeg_message(exc)}); use .mov or .mkv") from None
        self._audio_iter = iter(ain.demux(*ain.streams.audio))

    def _pump_audio(self, until: Optional[float]) -> None:
        """Mux audio packets whose start time is before `until` (None: all that remain)."""
        if self._audio_iter is None:
            return
        while True:
            pkt = self._audio_pending
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except StopIteration:
                    self._audio_iter = None
                    return
                except av.error.FFmpegError as exc:
                    raise InputError(f"audio of {self.audio_from} cannot be read ({ffmpeg_message(exc)})") from None
                if pkt.size == 0 or pkt.pts is None:
                    continue
            t = float(pkt.pts * pkt.time_base)
            end = t + float((pkt.duration or 0) * pkt.time_base)
            if end <= self._audio_t0 and self._audio_t0 > 0:
                self._audio_pending = None
                continue  # before the first written frame
            if until is not None and t >= until:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            if self._audio_t0 > 0:
                shift = int(round(self._audio_t0 / float(pkt.time_base)))
                pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
            target = self._audio_map[pkt.stream.index]
            try:
                if isinstance(target, AacEncoder):
                    target.feed(pkt)
                else:
                    pkt.stream = target
                    self._out.mux(pkt)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(f"output {self.path}: audio cannot be written into {container_ext(self.path)} "
                                  f"({ffmpeg_message(exc)}); use .mkv, --audio-codec aac or --no-audio") from None

    def _finish_audio(self) -> None:
        """Drain the AAC encoders (copied streams need nothing)."""
        for target in self._audio_map.values():
            if isinstance(target, AacEncoder):
                try:
                    target.flush()
                except (av.error.FFmpegError, ValueError) as exc:
                    raise OutputError(f"output {self.path}: cannot finish the AAC audio ({ffmpeg_message(exc)})") from None

    # -- video ------------------------------------------------------------------------------
    def _open(self, frame: Frame) -> None:
        self._tmp = atomic.temp_path_for(self.final)
        try:
            self._out = av.open(self._tmp, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"output {self.path}: cannot create container ({ffmpeg_message(exc)})") from None
        fps = Fraction(self.like.fps).limit_denominator(1001000)
        encoder = ENCODERS[self.family]
        opts: dict[str, str] = {}
        if encoder == "libx264":
            opts = {"crf": str(12 if self.crf is None else self.crf), "preset": "medium"}
        elif encoder == "libx265":
            x265 = ["log-level=error"] + (["bframes=0"] if self._no_bframes else [])
            md, cll = self.like.metadata.get("hdr.master_display"), self.like.metadata.get("hdr.max_cll")
            if self.transfer == "pq" and md:  # carry HDR10 static metadata as SEI (ST 2086 / CTA-861.3)
                x265 += ["hdr10=1", f"master-display={md}"] + ([f"max-cll={cll}"] if cll else [])
            opts = {"crf": str(14 if self.crf is None else self.crf), "preset": "medium", "x265-params": ":".join(x265)}
        elif encoder == "prores_ks":
            prof = "4444" if self.pf.chroma == "444" else "hq"
            if self.like.codec == "prores" and (self.like.profile or "").lower().replace(" ", "") in ("4444xq",):
                prof = "4444xq"
            opts = {"profile": str(PRORES_PROFILES[prof]), "vendor": "apl0"}
            if self.pf.has_alpha:
                opts["alpha_bits"] = "16"
        elif encoder == "ffv1":
            opts = {"level": "3", "slicecrc": "1", "g": "1"}
        try:
            vs = self._out.add_stream(encoder, rate=fps, options=opts)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"output {self.path}: cannot add a {encoder} stream ({ffmpeg_message(exc)})") from None
        vs.width, vs.height = frame.width, frame.height
        if self.like.pixel_aspect != 1:  # non-square pixels: keep the display geometry (MOV/MP4 pasp, SPS VUI)
            vs.codec_context.sample_aspect_ratio = Fraction(self.like.pixel_aspect)
        vs.codec_context.thread_type = "AUTO"  # slice/frame threads: ProRes and FFV1 encode in parallel
        vs.codec_context.thread_count = 0
        vs.pix_fmt = self.pix_fmt
        # Keep the input's time base (and so its exact timestamps, VFR included); 1/fps otherwise.
        tb = Fraction(1, 1) / fps
        if self.like.kind == "video" and self.like.time_base and 0 < Fraction(self.like.time_base) <= tb:
            tb = Fraction(self.like.time_base)
        vs.codec_context.time_base = tb
        cc = vs.codec_context
        tag_trc = TRANSFER_TO_TAG[self.transfer]
        if self.transfer == "bt709" and self.like.transfer_tag in ("smpte170m", "bt2020-10", "bt2020-12", "bt1361e"):
            tag_trc = self.like.transfer_tag  # same curve, keep the input's exact tag
        cc.color_trc = TRC_IDS.get(tag_trc, 2)
        cc.color_primaries = PRIMARIES_IDS.get(self.like.primaries or "", 2)
        cc.colorspace = 0 if self.pf.is_rgb else MATRIX_IDS.get(self.matrix, 2)
        cc.color_range = RANGE_IDS.get(self.color_range, 0)
        if self.like.timecode:
            tc = self.like.timecode
            if frame.index and self.like.kind == "video":  # output starts mid-clip: its own start timecode
                try:
                    tc = add_frames(tc, frame.index, self.like.fps)
                except ValueError:
                    log.warning("%s: timecode %r not understood; copied unchanged", self.path, tc)
            self._out.metadata["timecode"] = tc
            vs.metadata["timecode"] = tc
        self._vs = vs
        self._tb = tb
        self._step = max(1, int(round(1 / (fps * tb))))  # one frame duration in ticks
        self._open_audio()

    def write(self, frame: Frame) -> None:
        if self.closed:
            raise OutputError(f"output {self.path}: write after close")
        try:
            if ENCODERS[self.family] == "libx265" and self._out is None:
                # libx265 gives the packets of a stream shorter than its B-frame reordering
                # garbage DTS at the flush (the muxer then fails); hold the first frames until
                # the stream is known to be long enough, else encode them without B-frames.
                self._held.append(frame)
                if len(self._held) >= X265_SHORT_STREAM:
                    self._release_held(short=False)
                return
            self._write(frame)
        except BaseException:
            self.abort()
            raise

    def _release_held(self, short: bool) -> None:
        self._no_bframes = short
        held, self._held = self._held, []
        for f in held:
            self._write(f)

    def _write(self, frame: Frame) -> None:
        if self._out is None:
            self._first_index = frame.index
            # Source time of the first written frame: its timestamp, else its index at the frame rate.
            self._t0 = float(frame.time) if frame.time > 0 else float(frame.index / self.like.fps)
            self._use_times = frame.time > 0 or frame.index == 0
            self._audio_t0 = max(0.0, self._t0)
            self._open(frame)
        if (frame.width, frame.height) != (self._vs.width, self._vs.height):
            raise OutputError(f"output {self.path}: frame {frame.index} is {frame.width}x{frame.height}, "
                              f"expected {self._vs.width}x{self._vs.height}")
        if not np.isfinite(frame.rgb).all():
            raise OutputError(f"output {self.path}: frame {frame.index} contains NaN/inf pixels")
        code = colour.from_linear(frame.rgb, self.transfer)
        vf = encode_from_code(code, frame.alpha, self.pix_fmt, self.matrix, self.color_range)
        vf.pts = self._pts_for(frame)
        vf.time_base = self._tb
        vf.color_range = RANGE_IDS.get(self.color_range, 0)
        vf.colorspace = self._vs.codec_context.colorspace
        vf.color_trc = self._vs.codec_context.color_trc
        vf.color_primaries = self._vs.codec_context.color_primaries
        try:
            for pkt in self._vs.encode(vf):
                self._out.mux(pkt)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"output {self.path}: frame {frame.index} cannot be encoded/written ({ffmpeg_message(exc)})") from None
        self._count += 1
        self._last_index = frame.index
        self._pump_audio(self._audio_t0 + float((vf.pts + self._step) * self._tb))

    def _pts_for(self, frame: Frame) -> int:
        """Output pts: the frame's own timestamp relative to the first (VFR kept); if timestamps are
        missing or not increasing, frame-rate spacing from the index."""
        pts = int(round((float(frame.time) - self._t0) / float(self._tb))) if self._use_times else -1
        by_index = (frame.index - (self._first_index or 0)) * self._step
        if pts <= self._last_pts:
            pts = max(by_index, self._last_pts + self._step)
            self._use_times = False
        self._last_pts = pts
        return pts

    def close(self) -> None:
        """Flush, finalise and atomically rename onto the final path."""
        if self.closed:
            return
        if self._held:
            try:
                self._release_held(short=True)
            except BaseException:
                self.abort()
                raise
        if self._out is None:
            self.closed = True
            raise OutputError(f"output {self.path}: no frames were written")
        try:
            try:
                for pkt in self._vs.encode(None):
                    self._out.mux(pkt)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(f"output {self.path}: cannot finish encoding ({ffmpeg_message(exc)})") from None
            to_end = self.like.n_frames is None or self._last_index >= self.like.n_frames - 1
            self._pump_audio(None if to_end else self._audio_t0 + float((self._last_pts + self._step) * self._tb))
            self._finish_audio()
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as exc:
                raise OutputError(f"output {self.path}: cannot finalise ({ffmpeg_message(exc)})") from None
            self._out = None
            if self._audio_in is not None:
                self._audio_in.close()
                self._audio_in = None
            self._record_pixel_aspect()
            if os.path.exists(self.final) and not self.overwrite:
                raise OutputError(f"output {self.path} appeared while writing; pass --overwrite to replace it")
            atomic.commit(self._tmp, self.final)  # type: ignore[arg-type]
            self._tmp = None
            self.closed = True
        except BaseException:
            self.abort()
            raise

    def _record_pixel_aspect(self) -> None:
        """Matroska keeps a pixel aspect only in its own track header, which PyAV cannot set:
        H.264/H.265 carry one in their bitstream too, FFV1 and ProRes in .mkv need a copy pass."""
        p = Fraction(self.like.pixel_aspect)
        if (p == 1 or self.segment or self.family in ("h264", "h265")
                or container_ext(self.path) not in (".mkv", ".webm")):
            return
        from .concat import record_pixel_aspect

        fixed = atomic.temp_path_for(self.final)
        try:
            record_pixel_aspect(self._tmp, fixed, p)  # type: ignore[arg-type]
            os.replace(fixed, self._tmp)  # type: ignore[arg-type]
        except BaseException:
            atomic.discard(fixed)
            raise

    def abort(self) -> None:
        """Drop everything written so far; the final name is never touched."""
        self.closed = True
        for c in (self._out, self._audio_in):
            if c is not None:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - best effort while already failing
                    pass
        self._out = self._audio_in = None
        self._held = []
        atomic.discard(self._tmp)
        self._tmp = None

    @property
    def frames_written(self) -> int:
        return self._count

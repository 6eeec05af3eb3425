"""Decoding a video file with PyAV into upright linear float frames, streamed one at a time.

Decode reads the integer planes of each AVFrame and does chroma upsampling, the Y'CbCr matrix,
range and transfer function in float32 numpy (:mod:`.pixels`, :mod:`genrefocus_video.colour`), so
10/12-bit footage never passes through 8 bits. The display matrix (rotation) is applied so frames
come out upright. Frames are produced by a generator, so memory does not grow with clip length.
Whether the file holds the frames its header promises is checked before the first frame is
handed out (:mod:`.truncation`).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Iterator, Optional

import av
import numpy as np

from .. import colour
from ..errors import ConfigError, InputError
from .frame import ClipInfo, Frame
from .interlace import MODES as INTERLACE_MODES, PREROLL, Deinterlacer, is_interlaced
from .pixels import decode_to_code
from .shared_stream import SharedStream
from .truncation import (HEADER_FRAMES, TruncatedInputError, data_reaches, decode_packets, last_frame_present,
                         slack, truncated_message)
from .video_probe import ESTIMATED, ffmpeg_message, guess_matrix, open_container, probe_container

log = logging.getLogger(__name__)


def frame_to_linear(vf: "av.VideoFrame", info: ClipInfo) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Decode one AVFrame to upright linear float32 RGB (+ straight alpha)."""
    matrix = guess_matrix(info.matrix, vf.height)
    code, alpha = decode_to_code(vf, matrix, info.color_range or "tv")
    rgb = colour.to_linear(code, info.transfer)
    k = (info.rotation // 90) % 4
    if k:
        # Display matrix angle is counter-clockwise: rotate the pixels CCW to display them upright.
        rgb = np.ascontiguousarray(np.rot90(rgb, k))
        alpha = None if alpha is None else np.ascontiguousarray(np.rot90(alpha, k))
    return rgb, alpha


class DecodedFrame:
    """One decoded frame kept as the decoder made it (its AVFrame: 10-bit 4:2:0 at 1080p is 6 MiB,
    a quarter of the 24 MiB float32 RGB frame), converted on demand. ``frame()`` is exactly what
    :meth:`VideoReader.read` returns: the same AVFrame through the same :func:`frame_to_linear`."""

    __slots__ = ("index", "vf", "info", "time")

    def __init__(self, index: int, vf: "av.VideoFrame", info: ClipInfo, time: float) -> None:
        self.index, self.vf, self.info, self.time = index, vf, info, time

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded planes held (what keeping this frame costs)."""
        return sum(int(p.buffer_size) for p in self.vf.planes)

    def frame(self) -> Frame:
        rgb, alpha = frame_to_linear(self.vf, self.info)
        return Frame(index=self.index, rgb=rgb, alpha=alpha, time=self.time)


class VideoReader:
    """Streaming frames of one video file (see :func:`genrefocus_video.io.reader.open_reader`)."""

    def __init__(self, path: str, transfer: str = "auto", first_frame: int = 0, last_frame: Optional[int] = None,
                 deinterlace: str = "auto", *, allow_truncated: bool = False) -> None:
        self.path = path
        self.allow_truncated = allow_truncated
        self._checked = False  # whether the file was compared with its header (io.truncation)
        if deinterlace not in INTERLACE_MODES:
            raise ConfigError(f"'input.deinterlace' must be one of {', '.join(INTERLACE_MODES)}, got {deinterlace!r}")
        self._container = open_container(path)
        try:
            self.info, _ = probe_container(self._container, path, transfer)
        except BaseException:
            self._container.close()
            raise
        self._deinterlace = deinterlace
        if is_interlaced(self.info.field_order):
            if deinterlace == "off":
                log.warning("input %s is interlaced (%s) and --deinterlace off: frames are processed as progressive "
                            "pictures, so moving edges keep their combing and it is blurred into the bokeh",
                            path, self.info.field_order)
            else:
                self.info.deinterlaced = True
                log.info("input %s is interlaced (%s): deinterlacing on read (bwdif); the output is "
                         "progressive at the same frame rate", path, self.info.field_order)
        elif deinterlace == "on":
            self.info.deinterlaced = True
        self._vs = self._container.streams.video[0]
        self._start_pts = self._vs.start_time if self._vs.start_time is not None else 0
        self.first_frame = first_frame
        self.last_frame = last_frame
        if self.info.n_frames is not None and first_frame >= self.info.n_frames and \
                ESTIMATED not in self.info.metadata:
            raise InputError(f"input {path}: first frame {first_frame} is past the end ({self.info.n_frames} frames)")
        self._seek_container: Any = None
        self._stream: Optional[SharedStream] = None  # the running iteration's decoder, shared with reads ahead

    # -- bookkeeping
    def _index_of(self, vf: "av.VideoFrame", counter: int) -> int:
        return self._index_of_pts(vf.pts, counter)

    def _index_of_pts(self, pts: Optional[int], counter: int) -> int:
        """The clip index of presentation time `pts` (stream time base) on the frame-rate grid;
        `counter` where the stream has no timing."""
        if pts is None or not self._vs.time_base:
            return counter
        return int(round(float((pts - self._start_pts) * self._vs.time_base * self.info.fps)))

    def count_frames(self) -> int:
        """Exact frame count by demuxing (no decoding) when the container only implies it."""
        if self.info.n_frames is not None and ESTIMATED not in self.info.metadata:
            return self.info.n_frames
        n = 0
        last_pts: Optional[int] = None
        c = open_container(self.path)
        try:
            for pkt in c.demux(c.streams.video[0]):
                if pkt.size:
                    n += 1
                    if pkt.pts is not None and (last_pts is None or pkt.pts > last_pts):
                        last_pts = pkt.pts
        except av.error.FFmpegError as exc:
            raise InputError(f"input {self.path}: unreadable after packet {n} ({ffmpeg_message(exc)}); corrupt or truncated") from None
        finally:
            c.close()
        if last_pts is not None and self._vs.time_base:
            # Index space = slots on the fps grid up to the last frame (== n for constant rate).
            span = int(round(float((last_pts - self._start_pts) * self._vs.time_base * self.info.fps))) + 1
            n = max(n, span)
        implied = self.info.n_frames  # from the header's duration (an estimate, or None)
        if implied and n + slack(implied) < implied and not self._other_stream_runs_on():
            return self._truncated()  # a copy cut short: an error, or (allowed) the frames that decode
        self.info.n_frames = n
        self.info.metadata.pop(ESTIMATED, None)
        return n

    def check_complete(self, *, announce: bool = True) -> None:
        """Before the first frame is handed out: does the file hold the frames its header promises?
        A seek to the last one (less the slack of a count implied by the duration) and a demux.
        ``announce`` False: no warning when allowed (probe shows it in its own words)."""
        if self._checked:
            return
        self._checked = True
        expected = self.info.n_frames
        if not expected:
            return
        last = expected - 1 - (slack(expected) if ESTIMATED in self.info.metadata else 0)
        if last > 0 and not last_frame_present(self.path, last, self.info.fps, self._start_pts) \
                and not self._other_stream_runs_on():
            self._truncated(announce)

    def _other_stream_runs_on(self) -> bool:
        """For a count implied by the duration: whether another stream (a longer audio track) fills
        that duration, so the video track just ends earlier (logged; len() counts its frames)."""
        if ESTIMATED not in self.info.metadata or not self.info.duration:
            return False
        expected = self.info.n_frames or 0
        if not data_reaches(self.path, self.info.duration - slack(expected) / float(self.info.fps)):
            return False
        log.info("input %s: the video ends before the file's %.2f s (another stream runs longer)", self.path,
                 self.info.duration)
        return True

    def _truncated(self, announce: bool = True) -> int:
        """A file short of its header: TruncatedInputError, or with allow_truncated a warning and
        the count of the frames that decode (which every later check then holds it to)."""
        self._checked = True
        expected = self.info.n_frames or 0
        estimated = ESTIMATED in self.info.metadata
        found, end = self._decodable()
        if not self.allow_truncated:
            raise TruncatedInputError(truncated_message(self.path, found, expected, estimated))
        if announce:
            log.warning("%s", truncated_message(self.path, found, expected, estimated, allowed=True))
        self.info.metadata[HEADER_FRAMES] = f"about {expected}" if estimated else str(expected)
        self.info.n_frames = end  # index space up to the last frame that decodes (a damaged one is a gap)
        self.info.metadata.pop(ESTIMATED, None)
        return end

    def _decodable(self) -> tuple[int, int]:
        """(frames that decode, last index that decodes + 1), decoding the whole file the way
        iteration with allow_truncated does (threaded, a damaged frame skipped; nothing converted).
        Only run on a file already found short, to name the count in the message."""
        c = open_container(self.path)
        c.streams.video[0].thread_type = "AUTO"  # as probe_container sets it for the reading container
        n = end = 0
        try:
            for idx, _ in self._decoded(c, 0, skip_damaged=True, announce=False):
                n, end = n + 1, idx + 1
        except InputError:
            pass  # the demuxer gave up: the frames so far are all there are
        finally:
            c.close()
        return n, end

    def _time_of(self, vf: "av.VideoFrame", idx: int) -> float:
        """Presentation time in seconds from the clip start (the stream's own timestamps)."""
        if vf.pts is None or not self._vs.time_base:
            return float(idx / self.info.fps)
        return float((vf.pts - self._start_pts) * self._vs.time_base)

    def __len__(self) -> int:
        self.check_complete()
        if self.info.n_frames is None or ESTIMATED in self.info.metadata:
            self.count_frames()
        if self.info.n_frames is None:
            raise TypeError(f"{self.path}: frame count unknown")
        end = self.info.n_frames - 1 if self.last_frame is None else min(self.last_frame, self.info.n_frames - 1)
        return max(0, end - self.first_frame + 1)

    def _frames(self, container: Any, start: int) -> Iterator[tuple[int, "av.VideoFrame"]]:
        """(index, frame) decoded from the keyframe at or before `start` on (deinterlaced when the
        clip asks for it, one frame late, after a one-frame pre-roll: io.interlace)."""
        deint = Deinterlacer(self._deinterlace) if self.info.deinterlaced else None
        frames = self._decoded(container, max(0, start - PREROLL) if deint is not None else start)
        if deint is None:
            yield from frames
            return
        idx = -1
        try:
            for idx, vf in frames:
                yield from deint.feed(idx, vf)
            yield from deint.flush()
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"input {self.path}: frame {idx} cannot be deinterlaced ({ffmpeg_message(exc)}); "
                             "try --deinterlace off") from None

    def _decoded(self, container: Any, start: int, *, skip_damaged: Optional[bool] = None,
                 announce: bool = True) -> Iterator[tuple[int, "av.VideoFrame"]]:
        """(index, frame) from the keyframe at or before `start`; a frame that fails to decode is an
        InputError, or skipped (``skip_damaged``, default: allow_truncated) with a warning."""
        skip = self.allow_truncated if skip_damaged is None else skip_damaged
        vs = container.streams.video[0]
        counter = 0
        last = -1
        if start > 0:
            ts = self._start_pts + int(math.floor(start / self.info.fps / vs.time_base)) if vs.time_base else 0
            try:
                container.seek(ts, stream=vs, backward=True, any_frame=False)
            except av.error.FFmpegError:
                container.seek(0)
            counter = -1  # unknown after a seek: rely on pts

        def damaged(exc: Exception, pts: Optional[int]) -> None:
            # its time names the frame (after a seek the count is unknown, and `last` is -1 until
            # a frame decodes); the frame after the last one decoded where it has none
            bad = self._index_of_pts(pts, last + 1)
            if not skip:
                raise InputError(f"input {self.path}: frame {bad} cannot be decoded ({ffmpeg_message(exc)}); "
                                 "the file is corrupt or truncated (--allow-truncated skips it)")
            if announce:
                log.warning("input %s: frame %d cannot be decoded (%s); skipped (--allow-truncated)", self.path,
                            bad, ffmpeg_message(exc))

        try:
            for vf in decode_packets(container, vs, damaged):
                idx = self._index_of(vf, counter if counter >= 0 else last + 1)
                if counter >= 0:
                    counter += 1
                if idx <= last:  # duplicated timestamp: keep order, never go backwards
                    idx = last + 1
                last = idx
                yield idx, vf
        except av.error.FFmpegError as exc:  # the demuxer gave up: no frame after this one can be read
            if skip:
                if announce:
                    log.warning("input %s: unreadable after frame %d (%s); rendering the frames before it "
                                "(--allow-truncated)", self.path, last, ffmpeg_message(exc))
                return
            raise InputError(f"input {self.path}: unreadable after frame {last} ({ffmpeg_message(exc)}); "
                             "the file is corrupt or truncated (--allow-truncated renders the frames before "
                             "it)") from None

    def __iter__(self) -> Iterator[Frame]:
        return self._iter_frames()

    def _iter_frames(self) -> Iterator[Frame]:
        self.check_complete()
        self._container.seek(0) if self.first_frame == 0 else None
        got = -1
        stream = self._stream = SharedStream(self._frames(self._container, self.first_frame))
        try:
            while (item := stream.next()) is not None:
                idx, vf = item
                if idx < self.first_frame:
                    continue
                if self.last_frame is not None and idx > self.last_frame:
                    break
                rgb, alpha = frame_to_linear(vf, self.info)
                got = idx
                yield Frame(index=idx, rgb=rgb, alpha=alpha, time=self._time_of(vf, idx))
        finally:
            self._stream = None
            stream.close()
        expected = self.info.n_frames
        if expected and (self.last_frame is None or self.last_frame >= expected - 1):
            # An exact count must be met; a count estimated from the duration gets a little slack
            # (rounding, VFR) but a clip that stops well short of its header's duration is truncated
            # (packets present to the end that fail to decode, which check_complete cannot see).
            short = got + 1 + (slack(expected) if ESTIMATED in self.info.metadata else 0) < expected
            if short and HEADER_FRAMES not in self.info.metadata:  # not yet found short (and allowed)
                self._truncated()

    def read(self, index: int) -> Frame:
        """Random access by seeking (a separate demuxer, so it does not disturb iteration)."""
        return self.read_decoded(index).frame()

    def read_decoded(self, index: int) -> "DecodedFrame":
        """Frame `index` as decoded (its AVFrame, converted to linear float by ``.frame()``)."""
        for idx, vf in self.raw_frames(index):
            if idx == index:
                return DecodedFrame(idx, vf, self.info, self._time_of(vf, idx))
            break  # a gap in a variable-frame-rate clip: no frame at this index
        raise InputError(f"input {self.path}: frame {index} does not exist")

    def raw_frames(self, first: int) -> Iterator[tuple[int, "av.VideoFrame"]]:
        """(index, decoded frame) from frame `first` on, with one seek (then decoding forward);
        indices are the clip's (time on the frame-rate grid), so a gap in a variable-frame-rate
        clip shows as a jump. Yields nothing when `first` is past the end. While this reader is
        being iterated, frames at or just ahead of the iteration come from its own decoder
        (io/shared_stream.py): decoded once, no seek."""
        self.check_complete()
        stream = self._stream
        if stream is not None:
            for idx, vf in stream.serve(first):
                yield idx, vf
                first = idx + 1
        if self._seek_container is None:
            self._seek_container = open_container(self.path)
        c = self._seek_container
        for attempt in (first, 0):  # a seek that lands after `first`: decode from the start instead
            if attempt == 0:
                c.seek(0)  # _frames seeks only for start > 0; the container may be anywhere
            started = False
            for idx, vf in self._frames(c, attempt):
                if idx < first:
                    continue
                if not started and idx > first and attempt > 0:
                    break  # landed after `first`
                started = True
                yield idx, vf
            if started:
                return

    def read_range(self, first: int, last: int) -> Iterator[Frame]:
        """Frames first..last with one seek (then decoding forward): far cheaper than `read` per
        frame on long-GOP clips, where every seek decodes from the previous keyframe."""
        for dec in self.read_range_decoded(first, last):
            yield dec.frame()

    def read_range_decoded(self, first: int, last: int) -> Iterator["DecodedFrame"]:
        """`read_range` before the conversion to linear float (:class:`DecodedFrame`)."""
        nxt = first
        for idx, vf in self.raw_frames(first):
            if idx != nxt or idx > last:  # past the range, or a gap
                return
            yield DecodedFrame(idx, vf, self.info, self._time_of(vf, idx))
            nxt += 1

    def close(self) -> None:
        self._container.close()
        if self._seek_container is not None:
            self._seek_container.close()
            self._seek_container = None


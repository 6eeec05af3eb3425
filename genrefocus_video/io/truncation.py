"""Is a video file whole? Comparing what its header promises with the frames that are there.

A clip copied short (an interrupted transfer, a full disk at the camera) keeps a header that lists
every frame (MP4/MOV sample tables) or a duration that implies them (Matroska). Rendering the
frames that happen to decode would hand a farm a shorter shot with exit 0, so the reader checks
before its first frame that the last frame it promises is present: a seek to the keyframe before
it and a demux of that group of pictures, nothing decoded (for a count implied by a duration,
the frame a small slack before the end). A Matroska duration is that of the longest stream, so a
video track ended early is no cut file when another stream's packets still run to the end (a
longer audio track). A short file is an :class:`TruncatedInputError` (exit 3) naming the frames that decode
and the header's count, the same line for a whole render and for every farm chunk; with
``--allow-truncated`` the frames that decode are rendered, with a warning.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import av

from ..errors import InputError
from .video_probe import open_container

#: ClipInfo.metadata key of a file found short (and allowed): the frame count its header claims
HEADER_FRAMES = "genrefocus.header_frames"


class TruncatedInputError(InputError):
    """A video holds fewer decodable frames than its header says (exit 3, like any bad input)."""


def slack(expected: int) -> int:
    """Frames a count implied by the duration may be off without the file being short: rounding of
    the duration and variable frame rates (2 frames, or 2 % of long clips)."""
    return max(2, int(0.02 * expected))


def truncated_message(path: str, found: int, expected: int, estimated: bool, *, allowed: bool = False) -> str:
    """The one line for a short file: file, frames that decode, the header's count, the way out
    (or, with --allow-truncated, what is rendered instead)."""
    claim = f"its duration implies about {expected}" if estimated else f"its header lists {expected}"
    tail = (f"rendering the {found} frames that decode, as --allow-truncated asks" if allowed else
            f"(--allow-truncated renders the {found} frames that decode)")
    return f"input {path}: {found} frames decode, but {claim}; the file is truncated or corrupt {tail}"


MAX_DECODER_DELAY = 64  # packets: more than any decoder holds back (frame threads + B-frame reordering)


def decode_packets(container: Any, vs: Any, on_error: Callable[[Exception, Optional[int]], None]
                   ) -> Iterator["av.VideoFrame"]:
    """What ``container.decode(vs)`` does (demux, decode each packet, the decoder flushed by the
    empty packet at the end), except that a packet that fails to decode goes to ``on_error``: it
    raises to stop, or returns to go on with the next packet (the frame is skipped).

    ``on_error`` also gets the pts of the frame that failed: the oldest packet sent whose frame has
    not come out. Not the failing packet's own: a frame-threaded decoder reports a frame's error
    a few packets later (ProRes: the damaged frame 9 raised at packet 11)."""
    pending: list[int] = []  # pts of the packets sent whose frames have not come out, in order sent
    for pkt in container.demux(vs):
        if pkt.pts is not None and pkt.size:
            pending.append(pkt.pts)
            del pending[:-MAX_DECODER_DELAY]  # frames whose pts the decoder changed never match
        try:
            frames = pkt.decode()
        except av.error.FFmpegError as exc:
            failed = min(pending) if pending else None
            on_error(exc, failed)
            if failed is not None:  # skipped: its frame will not come out
                pending.remove(failed)
            continue
        for vf in frames:
            if vf.pts in pending:
                pending.remove(vf.pts)
            yield vf


def data_reaches(path: str, seconds: float) -> bool:
    """Whether the packets of some stream run to `seconds` from the start: a seek two seconds
    before it and a demux of every stream to the end of the file."""
    c = open_container(path)
    try:
        start = (c.start_time or 0) / 1e6
        try:
            c.seek(int(max(0.0, start + seconds - 2.0) * 1e6))  # AV_TIME_BASE units
        except av.error.FFmpegError:
            c.seek(0)
        end = 0.0
        for pkt in c.demux():
            if pkt.size and pkt.pts is not None and pkt.time_base:
                end = max(end, float((pkt.pts + (pkt.duration or 0)) * pkt.time_base) - start)
        return end >= seconds
    except (av.error.FFmpegError, ValueError):
        return False
    finally:
        c.close()


def last_frame_present(path: str, last: int, fps: Any, start_pts: int) -> bool:
    """Whether frame `last` (clip index on the frame-rate grid) has a complete packet: a seek to the
    keyframe before it and a demux (no decoding) up to it. A file cut short ends in a packet flagged
    corrupt (a short read) or none at all."""
    c = open_container(path)
    try:
        vs = c.streams.video[0]
        if not vs.time_base:
            return True  # no timestamps to seek by: the end-of-stream check of the reader decides
        tb = vs.time_base
        try:
            c.seek(start_pts + int(last / fps / tb), stream=vs, backward=True, any_frame=False)
        except av.error.FFmpegError:
            c.seek(0)
        for pkt in c.demux(vs):
            if not pkt.size or pkt.pts is None:
                continue
            if int(round(float((pkt.pts - start_pts) * tb * fps))) >= last:
                return not pkt.is_corrupt
        return False
    except (av.error.FFmpegError, ValueError):
        return False
    finally:
        c.close()

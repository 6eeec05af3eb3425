"""The bridge wire protocol (version 4): small framed messages on a Unix stream socket.

Every message is a 12-byte header followed by a UTF-8 JSON object::

    offset 0  4 bytes  magic b"GRFX"
    offset 4  u16 LE   protocol version (3)
    offset 6  u16 LE   message type (MSG_*)
    offset 8  u32 LE   payload length in bytes (<= MAX_PAYLOAD)

Pixels never travel in the stream. A RENDER request carries exactly one file descriptor in
SCM_RIGHTS ancillary data: an anonymous shared-memory file (memfd) that holds, contiguous and
float32 little-endian, ``source_frames`` source RGB frames (H×W×3 each, rows top to bottom;
frame t first, then t−1, t−2, ..., then the ``frames_after`` frames t+1, t+2, ... that an estimated
depth source reads or depth smoothing looks ahead to; default ``max(depth_frames, 1)`` and 0),
``depth_frames`` disparity planes (H×W each, in the same order as the source frames, one per source
frame: depth smoothing runs the CLI's flow + smoothing stages over the window, oldest first; 0 when
the bridge estimates depth from the source frames) and room for the output RGB (H×W×3), which the server writes in place before replying RENDER_OK. With ``"alpha": true``
two H×W planes follow: the source alpha and room for the output alpha (the RGB planes are then
premultiplied when ``"premultiplied": true``, as the host delivered them, and returned the same way). Passing a descriptor
(not a name) means no other process can open the pixels, and nothing is left in /dev/shm.

Validation is strict and happens before anything is allocated: bad magic, unknown version or
type, a payload over MAX_PAYLOAD, truncated frames, non-JSON or non-object payloads, unknown or
mistyped fields, dimensions beyond MAX_SIDE / MAX_PIXELS, a missing descriptor or one smaller
than the layout needs are all :class:`ProtocolError` (the server replies MSG_ERROR and closes).
"""
from __future__ import annotations

import array
import json
import math
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

MAGIC = b"GRFX"
VERSION = 4  # 2: the window of earlier frames carries source RGB as well as depth; 3: source_frames, frames_after;
# 4: a depth window may carry frames after t too (the smoothing's look-ahead)
HEADER = struct.Struct("<4sHHI")
MAX_PAYLOAD = 64 * 1024
MAX_SIDE = 32768
MAX_PIXELS = 16384 * 16384 // 2  # 128 Mpx: 3 GiB of float32 RGB in + out, bounded
#: Frames in one request's window: 1 + the smoothing warm-up at the strongest smoothing
#: (depth.temporal.warmup_frames(1.0) = 309), with room to spare.
MAX_DEPTH_FRAMES = 512

MSG_PING = 1
MSG_PONG = 2
MSG_RENDER = 3
MSG_RENDER_OK = 4
MSG_ERROR = 5
MSG_TYPES = {MSG_PING, MSG_PONG, MSG_RENDER, MSG_RENDER_OK, MSG_ERROR}
REQUEST_TYPES = {MSG_PING, MSG_RENDER}


class ProtocolError(Exception):
    """A malformed, oversized or inconsistent message (one-line reason)."""


def encode(msg_type: int, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(body)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(MAGIC, VERSION, msg_type, len(body)) + body


def parse_header(raw: bytes) -> tuple[int, int]:
    """(type, payload length) of a header, or ProtocolError."""
    if len(raw) != HEADER.size:
        raise ProtocolError(f"truncated header ({len(raw)} of {HEADER.size} bytes)")
    magic, version, msg_type, length = HEADER.unpack(raw)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ProtocolError(f"protocol version {version} not supported (this bridge speaks {VERSION})")
    if msg_type not in MSG_TYPES:
        raise ProtocolError(f"unknown message type {msg_type}")
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"payload length {length} exceeds the maximum {MAX_PAYLOAD}")
    return msg_type, length


def parse_payload(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ProtocolError(f"payload is not UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"payload must be a JSON object, got {type(obj).__name__}")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _recv_exact(sock: socket.socket, n: int, fds: Optional[list[int]] = None) -> bytes:
    """Read exactly n bytes; collect any SCM_RIGHTS descriptors into `fds`."""
    chunks = []
    got = 0
    while got < n:
        if fds is not None:
            data, anc, _flags, _addr = sock.recvmsg(n - got, socket.CMSG_SPACE(4 * 4))
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(cdata[: len(cdata) - len(cdata) % arr.itemsize])
                    fds.extend(arr)
        else:
            data = sock.recv(n - got)
        if not data:
            if got == 0 and not chunks:
                raise EOFError("peer closed the connection")
            raise ProtocolError(f"truncated message ({got} of {n} bytes)")
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def recv_message(sock: socket.socket, fds: Optional[list[int]] = None) -> tuple[int, dict[str, Any]]:
    """Read one message. Descriptors that arrive are appended to `fds` (caller closes them)."""
    raw = _recv_exact(sock, HEADER.size, fds)
    msg_type, length = parse_header(raw)
    body = _recv_exact(sock, length, fds) if length else b""
    return msg_type, parse_payload(body)


def send_message(sock: socket.socket, msg_type: int, payload: dict[str, Any], fds: Optional[list[int]] = None) -> None:
    data = encode(msg_type, payload)
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        if sent < len(data):
            sock.sendall(data[sent:])
    else:
        sock.sendall(data)


@dataclass
class RenderRequest:
    """A validated RENDER request."""

    width: int
    height: int
    depth_frames: int
    params: dict[str, Any]
    focus_point: tuple[float, float]
    focus_from_point: bool
    render_scale: float = 1.0
    time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    pixel_aspect: float = 1.0  # the source image's kOfxImagePropPixelAspectRatio
    alpha: bool = False  # source alpha plane sent, output alpha plane expected
    premultiplied: bool = False  # RGB planes are premultiplied by that alpha (the host's convention)
    sent_sources: Optional[int] = None  # source RGB frames sent (None: one per depth frame, at least t)
    frames_after: int = 0  # of them, frames after t (an estimated source's or the smoothing's look-ahead), sent last

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def source_frames(self) -> int:
        """Source RGB frames sent: t, t-1, ... (one per depth frame, at least t), then t+1, ..."""
        return self.sent_sources if self.sent_sources is not None else max(self.depth_frames, 1)

    def layout(self) -> tuple[int, int, int, int]:
        """(source offset, depth offset, output offset, total bytes) in the shared buffer."""
        rgb = self.pixels * 3 * 4
        sources = rgb * self.source_frames
        depth = self.pixels * 4 * self.depth_frames
        alpha = 2 * self.pixels * 4 if self.alpha else 0
        return 0, sources, sources + depth, sources + depth + rgb + alpha

    def alpha_offsets(self) -> tuple[int, int]:
        """(source alpha offset, output alpha offset): after the output RGB, when ``alpha``."""
        out_alpha_end = self.layout()[3]
        return out_alpha_end - 2 * self.pixels * 4, out_alpha_end - self.pixels * 4


_FIELDS = {"width", "height", "depth_frames", "params", "focus_point", "focus_from_point", "render_scale", "time", "id",
           "pixel_aspect", "alpha", "premultiplied", "source_frames", "frames_after"}


def _int(obj: dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise ProtocolError(f"'{key}' must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise ProtocolError(f"'{key}' = {v} outside [{lo}, {hi}]")
    return v


def _float(v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ProtocolError(f"'{key}' must be a finite number, got {v!r}")
    return float(v)


def parse_render(obj: dict[str, Any]) -> RenderRequest:
    """Validate the JSON of a RENDER request (parameter values are validated by the schema later)."""
    unknown = set(obj) - _FIELDS
    if unknown:
        raise ProtocolError(f"unknown field(s) {sorted(unknown)}")
    width = _int(obj, "width", 1, MAX_SIDE)
    height = _int(obj, "height", 1, MAX_SIDE)
    if width * height > MAX_PIXELS:
        raise ProtocolError(f"{width}x{height} exceeds the maximum of {MAX_PIXELS} pixels")
    depth_frames = _int(obj, "depth_frames", 0, MAX_DEPTH_FRAMES)
    params = obj.get("params")
    if not isinstance(params, dict) or len(params) > 256:
        raise ProtocolError("'params' must be an object of at most 256 entries")
    for k, v in params.items():
        if not isinstance(v, (bool, int, float, str)) or (isinstance(v, str) and len(v) > 1024):
            raise ProtocolError(f"parameter '{k}' has an unsupported value {v!r}")
    fp = obj.get("focus_point", [0.0, 0.0])
    if not isinstance(fp, list) or len(fp) != 2:
        raise ProtocolError("'focus_point' must be [x, y]")
    ffp = obj.get("focus_from_point", False)
    if not isinstance(ffp, bool):
        raise ProtocolError("'focus_from_point' must be a boolean")
    scale = _float(obj.get("render_scale", 1.0), "render_scale")
    if not 0 < scale <= 64:
        raise ProtocolError(f"'render_scale' = {scale} outside (0, 64]")
    par = _float(obj.get("pixel_aspect", 1.0), "pixel_aspect")
    if not 0.05 <= par <= 20:
        raise ProtocolError(f"'pixel_aspect' = {par} outside [0.05, 20]")
    flags = {}
    for key in ("alpha", "premultiplied"):
        flags[key] = obj.get(key, False)
        if not isinstance(flags[key], bool):
            raise ProtocolError(f"'{key}' must be a boolean")
    sources, after = _source_window(obj, depth_frames)
    return RenderRequest(width, height, depth_frames, dict(params), (_float(fp[0], "focus_point"), _float(fp[1], "focus_point")),
                         ffp, scale, _float(obj.get("time", 0.0), "time"), {"id": obj.get("id")}, par,
                         flags["alpha"], flags["premultiplied"], sources, after)


def _source_window(obj: dict[str, Any], depth_frames: int) -> tuple[Optional[int], int]:
    """(source_frames or None, frames_after): a depth window sends one source frame per depth
    frame (with smoothing, frame t + 1's last); an estimated source (no depth) sends its own window."""
    if "source_frames" not in obj:
        if obj.get("frames_after", 0) != 0:
            raise ProtocolError("'frames_after' needs 'source_frames'")
        return None, 0
    n = _int(obj, "source_frames", 1, MAX_DEPTH_FRAMES)
    after = _int(obj, "frames_after", 0, n - 1) if "frames_after" in obj else 0
    if depth_frames and n != depth_frames:
        raise ProtocolError(f"'source_frames' = {n} does not match the {depth_frames} depth frames "
                            f"(one source frame per depth frame)")
    return n, after

"""The OFX bridge server: one process that renders frames for every host render thread.

The C plugin connects to a Unix domain socket, sends a RENDER request (see :mod:`.protocol`)
with the pixels in a shared-memory descriptor, and waits for RENDER_OK; the server renders with
:func:`genrefocus_video.render.api.render_from_params` (the same code as ``render_bokeh``) and
writes the output in place. One thread per connection, so 8 host threads render concurrently
while the renderer (and any model or GPU context) lives once in this process.

Trust: the socket lives in a directory owned by the user with mode 0700 and is itself 0600; the
server refuses a directory or socket owned by another user (someone could otherwise plant a
socket and receive frames), refuses peers whose uid differs (SO_PEERCRED), and holds an flock so
that two plugins racing to start a bridge end up with exactly one.
"""
from __future__ import annotations

import fcntl
import logging
import mmap
import os
import signal
import socket
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import ConfigError, GenRefocusError, OutputError
from . import protocol as P
from .renderer import Renderer

log = logging.getLogger("genrefocus_video.ofx")

SOCKET_NAME = "bridge.sock"
LOCK_NAME = "bridge.lock"
PID_NAME = "bridge.pid"
#: Seconds a connection may sit idle (between messages) before the server closes it.
CONN_TIMEOUT = 300.0


def default_socket_path() -> Path:
    """$GENREFOCUS_OFX_SOCKET, else $XDG_RUNTIME_DIR/genrefocus/bridge.sock, else /tmp/genrefocus-UID/."""
    env = os.environ.get("GENREFOCUS_OFX_SOCKET")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "genrefocus" / SOCKET_NAME
    return Path(f"/tmp/genrefocus-{os.geteuid()}") / SOCKET_NAME


def secure_dir(path: Path) -> None:
    """Create `path` 0700, or accept it only if it is a real directory owned by this user."""
    uid = os.geteuid()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise OutputError(f"{path}: parent folder does not exist") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path}: refusing socket folder: not a directory (or a symlink)")
    if st.st_uid != uid:
        raise OutputError(f"{path}: refusing socket folder owned by uid {st.st_uid} (this user is uid {uid})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def check_socket_file(path: Path) -> None:
    """A leftover socket is ours to replace only if it is a socket owned by this user."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OutputError(f"{path}: exists and is not a socket; refusing to replace it")
    if st.st_uid != os.geteuid():
        raise OutputError(f"{path}: refusing socket owned by uid {st.st_uid} (this user is uid {os.geteuid()})")


class BridgeServer:
    """Accepts plugin connections on a user-owned Unix socket; one thread per connection."""

    def __init__(self, socket_path: Path, idle_timeout: float = 600.0, base: Optional[dict[str, Any]] = None) -> None:
        self.path = Path(socket_path)
        self.idle_timeout = idle_timeout
        self.renderer = Renderer(base)
        self._sock: Optional[socket.socket] = None
        self._lock_fd: Optional[int] = None
        self._active = 0
        self._last = time.monotonic()
        self._state = threading.Lock()
        self._stop = threading.Event()

    # -- setup -------------------------------------------------------------------------------
    def bind(self) -> bool:
        """Secure the folder, take the lock, bind. False if another bridge already serves here."""
        folder = self.path.parent
        secure_dir(folder)  # created 0700, or accepted only when ours (group/other bits removed)
        lock_path = folder / LOCK_NAME
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        check_socket_file(self.path)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if len(os.fsencode(self.path)) >= 108:
            raise ConfigError(f"{self.path}: socket path longer than 107 bytes")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(64)
        sock.settimeout(0.5)
        self._sock = sock
        write_pid(folder)
        return True

    @property
    def lock_fd(self) -> int:
        return -1 if self._lock_fd is None else self._lock_fd

    @property
    def listen_fd(self) -> int:
        return -1 if self._sock is None else self._sock.fileno()

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                check_socket_file(self.path)
                os.unlink(self.path)
            except (OSError, GenRefocusError):
                pass
            try:
                os.unlink(self.path.parent / PID_NAME)
            except OSError:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- serving -----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        assert self._sock is not None, "bind() first"
        threading.Thread(target=self._warm, daemon=True).start()
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                with self._state:
                    idle = self._active == 0 and time.monotonic() - self._last > self.idle_timeout
                if self.idle_timeout > 0 and idle:
                    log.info("idle for %.0f s, exiting", self.idle_timeout)
                    return
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def shutdown(self) -> None:
        self._stop.set()

    def _warm(self) -> None:
        try:
            self.renderer.warm()
        except Exception as exc:  # reported again, per frame, when a render needs it
            log.warning("renderer import failed: %s", exc)

    def _handle(self, conn: socket.socket) -> None:
        with self._state:
            self._active += 1
        try:
            conn.settimeout(CONN_TIMEOUT)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.geteuid():
                P.send_message(conn, P.MSG_ERROR, {"message": f"peer uid {uid} is not the bridge owner"})
                return
            while not self._stop.is_set():
                fds: list[int] = []
                try:
                    msg_type, payload = P.recv_message(conn, fds)
                    self._touch()
                    if msg_type not in P.REQUEST_TYPES:
                        raise P.ProtocolError(f"message type {msg_type} is not a request")
                    if msg_type == P.MSG_PING:
                        if fds:
                            raise P.ProtocolError("PING must not carry descriptors")
                        P.send_message(conn, P.MSG_PONG, {"version": P.VERSION, "pid": os.getpid()})
                        continue
                    reply = self._render(payload, fds)
                    P.send_message(conn, P.MSG_RENDER_OK, reply)
                except EOFError:
                    return
                except P.ProtocolError as exc:
                    log.warning("rejected message: %s", exc)
                    _try_send(conn, {"message": f"protocol error: {exc}"})
                    return  # framing can no longer be trusted
                except GenRefocusError as exc:
                    _try_send(conn, {"message": str(exc)})
                except (socket.timeout, ConnectionError, BrokenPipeError):
                    return
                except Exception as exc:  # a renderer bug must not kill the bridge for other threads
                    log.exception("render failed")
                    _try_send(conn, {"message": f"render failed: {type(exc).__name__}: {' '.join(str(exc).split())}"})
                finally:
                    for fd in fds:
                        os.close(fd)
                    self._touch()
        finally:
            conn.close()
            with self._state:
                self._active -= 1

    def _touch(self) -> None:
        with self._state:
            self._last = time.monotonic()

    def _render_mapped(self, req: P.RenderRequest, mm: mmap.mmap, d_off: int, o_off: int) -> None:
        """Render from the mapped frame into its output region (views, no intermediate copies)."""
        h, w = req.height, req.width
        buf = np.frombuffer(mm, dtype="<f4")
        rgb = h * w * 3
        frames = [_readonly(buf[i * rgb:(i + 1) * rgb].reshape(h, w, 3)) for i in range(req.source_frames)]
        src, later = frames[:req.source_frames - req.frames_after], frames[req.source_frames - req.frames_after:]
        depths = [_readonly(buf[d_off // 4 + i * h * w:d_off // 4 + (i + 1) * h * w].reshape(h, w))
                  for i in range(req.depth_frames)]
        src_a = None
        try:
            if req.alpha:
                sa_off, oa_off = req.alpha_offsets()
                src_a = _readonly(buf[sa_off // 4:sa_off // 4 + h * w].reshape(h, w))
                out, out_a = self.renderer.render_rgba(req, src, src_a, depths, later)
                if out_a.shape != (h, w):
                    raise GenRefocusError(f"renderer returned alpha shape {out_a.shape}, expected {(h, w)}")
                buf[oa_off // 4:oa_off // 4 + h * w] = out_a.reshape(-1)
            else:
                out = self.renderer.render(req, src, depths, later)
            if out.shape != (h, w, 3):
                raise GenRefocusError(f"renderer returned shape {out.shape}, expected {(h, w, 3)}")
            buf[o_off // 4:o_off // 4 + h * w * 3] = out.reshape(-1)
        finally:
            del buf, frames, src, later, depths, src_a

    def _render(self, payload: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        req = P.parse_render(payload)
        if len(fds) != 1:
            raise P.ProtocolError(f"RENDER needs exactly one shared-memory descriptor, got {len(fds)}")
        _, d_off, o_off, total = req.layout()
        st = os.fstat(fds[0])
        if not stat.S_ISREG(st.st_mode):
            raise P.ProtocolError("the pixel descriptor is not a shared-memory file")
        if st.st_size < total:
            raise P.ProtocolError(f"shared memory holds {st.st_size} bytes, the {req.width}x{req.height} layout needs {total}")
        t0 = time.perf_counter()
        # MAP_POPULATE: fault the whole frame in one call instead of one page fault per 4 KiB.
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mm = mmap.mmap(fds[0], total, flags, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            self._render_mapped(req, mm, d_off, o_off)
        finally:
            try:
                mm.close()
            except BufferError:  # a view still alive (exception path): let GC unmap it
                pass
        return {"id": req.extra.get("id"), "ms": round((time.perf_counter() - t0) * 1e3, 3)}


def write_pid(folder: Path) -> None:
    """bridge.pid (0600, atomic): lets tools and tests find the process that serves the socket."""
    tmp = folder / f".{PID_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    os.replace(tmp, folder / PID_NAME)


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False  # the renderer reads the shared pixels in place, never writes them
    return v


def _try_send(conn: socket.socket, payload: dict[str, Any]) -> None:
    try:
        P.send_message(conn, P.MSG_ERROR, payload)
    except OSError:
        pass


def _close_inherited(keep: set) -> None:
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def daemonize(log_path: Path) -> None:
    """Classic double fork so the plugin's child exits at once (no zombie in the host)."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)


def serve(socket_path: Optional[Path] = None, idle_timeout: float = 600.0, daemon: bool = False,
          aperture_image: Optional[str] = None) -> int:
    """Run a bridge until idle, SIGTERM or SIGINT. 0 also when another bridge already serves."""
    path = Path(socket_path) if socket_path else default_socket_path()
    base: dict[str, Any] = {}
    if aperture_image:
        if not os.path.isfile(aperture_image):
            raise ConfigError(f"{aperture_image}: aperture image not found (--aperture-image)")
        base["aperture.image"] = os.path.abspath(aperture_image)
    server = BridgeServer(path, idle_timeout, base)
    if not server.bind():
        log.info("a bridge already serves %s", path)
        return 0
    if daemon:
        # Started by a plugin inside a host: drop every descriptor inherited from the host (its
        # files and sockets must not live on in a long-running daemon), keep the lock and socket.
        _close_inherited({server.lock_fd, server.listen_fd})
        # The lock fd and listening socket survive the forks; the pid file is rewritten below.
        daemonize(path.parent / "bridge.log")
        write_pid(path.parent)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)

    def _stop(_sig: int, _frm: Any) -> None:
        server.shutdown()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("bridge pid %d serving %s", os.getpid(), path)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0


__all__ = ["BridgeServer", "Renderer", "serve", "default_socket_path", "secure_dir"]

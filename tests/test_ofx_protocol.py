"""The bridge protocol against a real BridgeServer on a real Unix socket: well-formed requests render
exactly what render_bokeh renders; malformed, oversized and inconsistent messages are rejected and
the server keeps serving."""
from __future__ import annotations

import mmap
import os
import socket
import struct
import threading

import numpy as np
import pytest

from genrefocus_video import render_bokeh
from genrefocus_video.ofx import protocol as P
from genrefocus_video.ofx.renderer import sample_focus
from genrefocus_video.ofx.server import BridgeServer

H, W = 12, 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proto")
    srv = BridgeServer(folder / "bridge.sock", idle_timeout=0)
    assert srv.bind()
    assert os.stat(folder / "bridge.sock").st_mode & 0o777 == 0o600
    assert os.stat(folder).st_mode & 0o777 == 0o700
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    th.join(5)
    srv.close()


def connect(srv) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(srv.path))
    return s


def closed(s: socket.socket) -> bool:
    """The server hung up (EOF, or a reset when it closed with our unread bytes still queued)."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def pixels(depth_frames: int = 1, seed: int = 0, depth_step: float = 0.1) -> tuple[np.ndarray, np.ndarray, int]:
    """One request's buffer: the same source RGB for every frame of the window, disparity frame i
    (t - i) = disp × (1 + depth_step·i)."""
    rng = np.random.default_rng(seed)
    img = rng.random((H, W, 3)).astype(np.float32)
    disp = np.full((H, W), 0.2, np.float32)
    disp[3:9, 4:12] = 0.9
    fd = os.memfd_create("test-frame")
    req = P.RenderRequest(W, H, depth_frames, {}, (0.0, 0.0), False)
    _, d_off, _, total = req.layout()
    os.ftruncate(fd, total)
    with mmap.mmap(fd, total) as mm:
        buf = np.frombuffer(mm, dtype="<f4")
        for i in range(req.source_frames):
            buf[i * H * W * 3:(i + 1) * H * W * 3] = img.reshape(-1)
        for i in range(depth_frames):
            buf[d_off // 4 + i * H * W:d_off // 4 + (i + 1) * H * W] = (disp * (1 + depth_step * i)).reshape(-1)
        del buf
    return img, disp, fd


def render_payload(**over) -> dict:
    payload = {"id": 1, "width": W, "height": H, "depth_frames": 1, "render_scale": 1.0, "time": 0.0,
               "focus_point": [0.0, 0.0], "focus_from_point": False,
               "params": {"blur_k": 6.0, "focus_disparity": 0.9, "aperture_shape": 1, "aperture_blades": 5}}
    payload.update(over)
    return payload


def read_output(fd: int, depth_frames: int = 1) -> np.ndarray:
    off = P.RenderRequest(W, H, depth_frames, {}, (0.0, 0.0), False).layout()[2]
    return np.frombuffer(os.pread(fd, H * W * 3 * 4, off), "<f4").reshape(H, W, 3)


def test_render_round_trip_equals_render_bokeh(server):
    img, disp, fd = pixels()
    with connect(server) as s:
        P.send_message(s, P.MSG_RENDER, render_payload(), [fd])
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_RENDER_OK and reply["id"] == 1
        np.testing.assert_allclose(read_output(fd), render_bokeh(img, disp, 0.9, 6.0, aperture="polygon", blades=5),
                                   rtol=1e-6, atol=1e-6)
        # The same connection serves again, and PING answers with the version.
        P.send_message(s, P.MSG_PING, {})
        assert P.recv_message(s) == (P.MSG_PONG, {"version": P.VERSION, "pid": os.getpid()})
    os.close(fd)


def test_focus_from_point_and_render_scale(server):
    img, disp, fd = pixels()
    with connect(server) as s:
        P.send_message(s, P.MSG_RENDER, render_payload(focus_from_point=True, focus_point=[5.5, 4.5],
                                                       render_scale=0.5), [fd])
        assert P.recv_message(s)[0] == P.MSG_RENDER_OK
    # 3x3 median around column 5, row 4 lies inside the 0.9 plane; K scales with the render scale.
    np.testing.assert_allclose(read_output(fd), render_bokeh(img, disp, 0.9, 3.0, aperture="polygon", blades=5),
                               rtol=1e-6, atol=1e-6)
    os.close(fd)


def test_depth_smoothing_of_a_static_window_keeps_the_disparity(server):
    """A window of 3 identical frames (static source and depth): the flow-guided smoothing has
    nothing to remove, so frame t renders with its own disparity; a window whose earlier depth
    differs (the far plane 10 % and 20 % nearer there) renders differently: the frames were used."""
    img, disp, fd = pixels(depth_frames=3, depth_step=0.0)
    with connect(server) as s:
        p = render_payload(depth_frames=3, time=2.0)
        p["params"]["depth_smoothing"] = 0.5
        P.send_message(s, P.MSG_RENDER, p, [fd])
        assert P.recv_message(s)[0] == P.MSG_RENDER_OK
        ref = render_bokeh(img, disp, 0.9, 6.0, aperture="polygon", blades=5)
        np.testing.assert_allclose(read_output(fd, 3), ref, rtol=1e-5, atol=1e-5)
        os.close(fd)
        _, _, fd = pixels(depth_frames=3, depth_step=0.1)
        P.send_message(s, P.MSG_RENDER, p, [fd])
        assert P.recv_message(s)[0] == P.MSG_RENDER_OK
        assert np.abs(read_output(fd, 3) - ref).max() > 1e-3
    os.close(fd)


HDR = struct.Struct("<4sHHI")


@pytest.mark.parametrize("raw,reason", [
    (HDR.pack(b"XXXX", P.VERSION, P.MSG_PING, 2) + b"{}", "bad magic"),
    (HDR.pack(b"GRFX", 9, P.MSG_PING, 2) + b"{}", "version 9"),
    (HDR.pack(b"GRFX", 1, P.MSG_PING, 2) + b"{}", "version 1 not supported"),  # the 3-frame layout before 2
    (HDR.pack(b"GRFX", P.VERSION, 77, 2) + b"{}", "unknown message type"),
    (HDR.pack(b"GRFX", P.VERSION, P.MSG_PONG, 2) + b"{}", "not a request"),
    (HDR.pack(b"GRFX", P.VERSION, P.MSG_RENDER, 10 * 1024 * 1024), "exceeds the maximum"),  # no body sent at all
    (HDR.pack(b"GRFX", P.VERSION, P.MSG_RENDER, 5) + b"[1,2]", "JSON object"),
    (HDR.pack(b"GRFX", P.VERSION, P.MSG_RENDER, 4) + b"\xff\xfe{}", "not UTF-8 JSON"),
    (HDR.pack(b"GRFX", P.VERSION, P.MSG_RENDER, 10) + b'{"a": NaN}', "not UTF-8 JSON"),
])
def test_malformed_frames_are_rejected(server, raw, reason):
    with connect(server) as s:
        s.sendall(raw)
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_ERROR and reason in reply["message"]
        assert closed(s)


def test_truncated_message_is_rejected(server):
    with connect(server) as s:
        s.sendall(HDR.pack(b"GRFX", P.VERSION, P.MSG_RENDER, 100) + b'{"width":')
        s.shutdown(socket.SHUT_WR)
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_ERROR and "truncated" in reply["message"]


@pytest.mark.parametrize("over,nfds,reason", [
    ({"width": 0}, 1, "'width' = 0"),
    ({"width": 40000}, 1, "outside"),
    ({"width": 20000, "height": 20000}, 1, "exceeds the maximum"),
    ({"height": 1.5}, 1, "'height' must be an integer"),
    ({"depth_frames": P.MAX_DEPTH_FRAMES + 1}, 1, "'depth_frames'"),
    ({"depth_frames": 2}, 1, "layout needs"),  # frame t's buffer holds no window of 2 sources + depths
    ({"extra": 1}, 1, "unknown field"),
    ({"focus_point": [1]}, 1, "focus_point"),
    ({"params": {"blur_k": [1, 2]}}, 1, "unsupported value"),
    ({}, 0, "exactly one shared-memory descriptor"),
    ({}, 2, "exactly one shared-memory descriptor"),
    ({"width": W * 4}, 1, "layout needs"),  # the descriptor is smaller than the claimed frame
    ({"frames_after": 1}, 1, "'frames_after' needs 'source_frames'"),
    ({"source_frames": 2}, 1, "does not match the 1 depth frames"),  # a depth window: one source per depth
    ({"source_frames": 1, "frames_after": 1}, 1, "'frames_after' = 1 outside [0, 0]"),  # t itself is sent
    ({"depth_frames": 0, "source_frames": 3, "frames_after": 1}, 1, "layout needs"),  # 3 sources do not fit
])
def test_inconsistent_render_requests_are_rejected(server, over, nfds, reason):
    _, _, fd = pixels()
    with connect(server) as s:
        P.send_message(s, P.MSG_RENDER, render_payload(**over), [fd] * nfds)
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_ERROR and reason in reply["message"], reply
        assert closed(s)
    os.close(fd)


@pytest.mark.parametrize("params,reason", [
    ({"blur_k": -1.0}, "'blur.k' must be >= 0"),
    ({"aperture_shape": 99}, "choice index 99"),
    ({"aperture_blades": 2}, "'aperture.blades' must be >= 3"),
    ({"no_such_param": 1}, "'no_such_param' is not part"),
])
def test_invalid_parameter_values_are_named_and_connection_survives(server, params, reason):
    _, _, fd = pixels()
    with connect(server) as s:
        P.send_message(s, P.MSG_RENDER, render_payload(params=params), [fd])
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_ERROR and reason in reply["message"], reply
        P.send_message(s, P.MSG_PING, {})  # framing was intact: the connection is still usable
        assert P.recv_message(s)[0] == P.MSG_PONG
    os.close(fd)


def test_non_finite_pixels_are_rejected(server):
    _, _, fd = pixels()
    os.pwrite(fd, np.float32(np.nan).tobytes(), 0)
    with connect(server) as s:
        P.send_message(s, P.MSG_RENDER, render_payload(), [fd])
        kind, reply = P.recv_message(s)
        assert kind == P.MSG_ERROR and "NaN" in reply["message"]
    os.close(fd)


def test_server_still_serves_after_rejections(server):
    with connect(server) as s:
        P.send_message(s, P.MSG_PING, {})
        assert P.recv_message(s)[0] == P.MSG_PONG


def test_sample_focus_is_the_cli_point_pick():
    from genrefocus_video.focus.point import point_disparity

    d = np.arange(25, dtype=np.float32).reshape(5, 5)
    assert sample_focus(d, 2.7, 2.2) == 12.0  # the 5x5 window (2 px at least) around pixel (2, 2)
    assert sample_focus(d, -5, 99) == point_disparity(d, 0, 4)[0]  # clamped to the corner pixel
    # a 3x3 depth spike under the point (a twig, a speckle): the CLI's robust pick keeps the surface
    # behind it, where a 3x3 median would return the spike
    plane = np.full((40, 60), 0.5, np.float32)
    plane[9:12, 19:22] = 5.0
    assert sample_focus(plane, 20.3, 10.8) == 0.5 == point_disparity(plane, 20, 10)[0]


def test_image_aperture_uses_the_bridge_wide_aperture_image(tmp_path):
    """Aperture 'image' has no OFX file parameter: the bridge's --aperture-image supplies it."""
    import cv2

    mask = np.zeros((33, 33), np.uint8)
    mask[4:29, 12:21] = 255  # a tall slot
    path = tmp_path / "slot.png"
    cv2.imwrite(str(path), mask)
    srv = BridgeServer(tmp_path / "b" / "bridge.sock", idle_timeout=0, base={"aperture.image": str(path)})
    img, disp, fd = pixels()
    req = P.parse_render(render_payload(params={"blur_k": 6.0, "focus_disparity": 0.9, "aperture_shape": 6}))
    req_total = req.layout()[3]
    with mmap.mmap(fd, req_total) as mm:
        srv._render_mapped(req, mm, req.layout()[1], req.layout()[2])
    np.testing.assert_allclose(read_output(fd), render_bokeh(img, disp, 0.9, 6.0, aperture="image", aperture_image=str(path)),
                               rtol=1e-6, atol=1e-6)
    os.close(fd)


def test_flow_cache_reuses_flows_and_changes_nothing():
    """Stepping forward through a clip: frame t+1's window reuses the flows of frame t's (one new
    flow per frame), and the result is the uncached result, bit for bit; the same window again
    (other lens settings) reuses the smoothed disparity, a changed frame in it does not."""
    from genrefocus_video.ofx.server import Renderer
    from genrefocus_video.ofx.temporal import ArrayCache, smoothed_disparity

    rng = np.random.default_rng(3)
    back = rng.random((24, 32, 3)).astype(np.float32)
    frames, depths = [], []
    for f in range(5):
        img = np.roll(back, f, axis=1)
        disp = np.full((24, 32), 0.2, np.float32) + 0.02 * rng.random((24, 32)).astype(np.float32)
        frames.append(img)
        depths.append(disp)
    job = Renderer().job({"depth_smoothing": 0.5})
    cache = ArrayCache()
    for t in range(3, 5):
        window = list(range(t, -1, -1))  # newest first
        plain = smoothed_disparity(job, [frames[i] for i in window], [depths[i] for i in window], t)
        cached = smoothed_disparity(job, [frames[i] for i in window], [depths[i] for i in window], t, {"flows": cache})
        assert np.array_equal(plain, cached)
    assert (cache.misses, cache.hits) == (4, 3)  # t=3: 3 flows computed; t=4: 3 reused, 1 new
    results = ArrayCache()
    window = list(range(4, -1, -1))
    args = (job, [frames[i] for i in window], [depths[i] for i in window], 4)
    first = smoothed_disparity(*args, {"flows": cache, "results": results})
    assert np.array_equal(first, plain) and smoothed_disparity(*args, {"flows": cache, "results": results}) is first
    depths[0] = depths[0] + np.float32(0.1)  # another depth at frame 0: another window, computed again
    again = smoothed_disparity(job, [frames[i] for i in window], [depths[i] for i in window], 4,
                               {"flows": cache, "results": results})
    assert again is not first and results.misses == 2

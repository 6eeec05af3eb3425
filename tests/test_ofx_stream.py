"""The bridge carries the head's state from frame t to t + 1 (ofx/stream.py).

Expectations are independent of the carrying: a fresh, uncached window that starts at the clip's
first frame is the CLI's sequential run (tests/test_ofx_host.py and test_ofx_depth_sources.py check
that against the CLI itself), and the warm-up bound of depth.temporal.warmup_frames (a window of W
earlier frames matches the sequential run within 1e-3 of the disparity range) bounds a fresh
window that starts later. The host-level orders (forward, backward, random through the real plugin
and bridge against the CLI) are in test_ofx_host.py (Depth clip) and test_ofx_depth_sources.py
(motion), which also run under the sanitizer builds.
"""
from __future__ import annotations

import numpy as np

from genrefocus_video.depth.temporal import warmup_frames
from genrefocus_video.ofx import protocol as P
from genrefocus_video.ofx.renderer import Renderer
from genrefocus_video.ofx.temporal import smoothed_disparity

STRENGTH = 0.15  # W = 8: a 16-frame clip is twice the window


def _clip(n: int = 16, h: int = 24, w: int = 32) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured background panning 1 px/frame, a nearer plane 2 px/frame, noisy depth."""
    rng = np.random.default_rng(5)
    back = rng.random((h, w + n, 3)).astype(np.float32)
    plane = rng.random((h // 2, w // 3, 3)).astype(np.float32)
    frames, depths = [], []
    for f in range(n):
        img = back[:, f:f + w].copy()
        disp = np.full((h, w), 0.2, np.float32)
        x0 = 4 + 2 * f % (w - w // 3 - 4)
        img[6:6 + h // 2, x0:x0 + w // 3] = plane
        disp[6:6 + h // 2, x0:x0 + w // 3] = 0.7
        frames.append(img)
        depths.append(disp + (0.03 * rng.standard_normal((h, w))).astype(np.float32))
    return frames, depths


def _sequential(job, frames, depths, t: int) -> np.ndarray:
    """The CLI's sequential run at frame t: a fresh, uncached window from the clip's first frame
    (and frame t + 1, the smoothing's look-ahead, where the clip has one)."""
    return smoothed_disparity(job, frames[t::-1], depths[t::-1] + depths[t + 1:t + 2], t, later=frames[t + 1:t + 2])


def _request(bridge: Renderer, frames, depths, t: int, w_back: int, ahead: bool = True) -> np.ndarray:
    """What the plugin sends for frame t: Source and Depth over [max(0, t - W), t + 1] (`ahead`; else
    up to t, as a host ignoring GetFramesNeeded may); the bridge's smoothed disparity (the render's
    input), through the Renderer's own caches and streams."""
    job = bridge.job({"depth_smoothing": STRENGTH})
    lo = max(0, t - w_back)
    caches = {"flows": bridge.flows, "results": bridge.smoothed, "streams": bridge.streams}
    later = frames[t + 1:t + 2] if ahead else []
    past = slice(t, lo - 1 if lo else None, -1)
    return smoothed_disparity(job, frames[past], depths[past] + depths[t + 1:t + 1 + len(later)], t, caches, later)


def test_stepping_forward_carries_the_state_and_is_the_sequential_run():
    """A host stepping 0, 1, ..., 15 through a clip twice the window: every request after the first
    continues the previous one's stream, and every frame is the CLI's sequential run bit for bit
    (a fresh window of W + 1 frames would only match it within the warm-up's tolerance)."""
    frames, depths = _clip()
    bridge = Renderer()
    job = bridge.job({"depth_smoothing": STRENGTH})
    w_back = warmup_frames(STRENGTH)
    for t in range(len(frames)):
        np.testing.assert_array_equal(_request(bridge, frames, depths, t, w_back), _sequential(job, frames, depths, t),
                                      err_msg=f"frame {t}")
    assert (bridge.streams.started, bridge.streams.continued) == (1, len(frames) - 1)


def test_random_access_rebuilds_its_window_within_the_warmup_tolerance():
    """Backward and random requests start a fresh stream over their window each: at t < W + 1 the
    window reaches the clip's start (the sequential run exactly), beyond it the result differs from
    the sequential run by at most the warm-up's 1e-3 of the disparity range."""
    frames, depths = _clip()
    job = Renderer().job({"depth_smoothing": STRENGTH})
    w_back = warmup_frames(STRENGTH)
    for order in ([15, 14, 13, 12, 3, 2], [11, 4, 15, 0, 9]):
        bridge = Renderer()
        for t in order:
            got, ref = _request(bridge, frames, depths, t, w_back), _sequential(job, frames, depths, t)
            if t <= w_back:
                np.testing.assert_array_equal(got, ref, err_msg=f"frame {t}")
            else:
                rng = float(np.percentile(ref, 98) - np.percentile(ref, 2))
                assert np.abs(got - ref).max() <= 1e-3 * rng, (t, np.abs(got - ref).max(), rng)
        assert (bridge.streams.started, bridge.streams.continued) == (len(order), 0)


def test_a_changed_frame_or_setting_starts_a_fresh_stream():
    """A frame that changed upstream since the previous request (its content key differs), or
    another strength, is not continued: the result is the fresh computation on what was sent."""
    frames, depths = _clip(10)
    bridge = Renderer()
    w_back = warmup_frames(STRENGTH)
    _request(bridge, frames, depths, 4, w_back)
    edited = [d + np.float32(0.05) if i == 2 else d for i, d in enumerate(depths)]
    got = _request(bridge, frames, edited, 5, w_back)
    job = bridge.job({"depth_smoothing": STRENGTH})
    np.testing.assert_array_equal(got, _sequential(job, frames, edited, 5))
    assert bridge.streams.continued == 0
    _request(bridge, frames, edited, 6, w_back)  # 6 after 5, same frames: continued
    assert bridge.streams.continued == 1


def test_a_request_without_its_look_ahead_frame_is_not_continued():
    """A host that sent frame t without t + 1 (it ignored GetFramesNeeded): frame t was smoothed
    without its look-ahead, which a sequential run has, so the request for t + 1 builds a fresh
    window (the sequential run) instead of continuing."""
    frames, depths = _clip(10)
    w_back = warmup_frames(STRENGTH)
    bridge = Renderer()
    _request(bridge, frames, depths, 3, w_back, ahead=False)
    got = _request(bridge, frames, depths, 4, w_back)
    assert bridge.streams.continued == 0
    np.testing.assert_array_equal(got, _sequential(bridge.job({"depth_smoothing": STRENGTH}), frames, depths, 4))
    _request(bridge, frames, depths, 5, w_back)  # 4 was sent with 5: continued
    assert bridge.streams.continued == 1


def test_a_stream_keeps_no_view_of_the_hosts_buffer():
    """The host reuses its shared buffer for the next request: pixels overwritten after a request
    must not change what the carried state computes next."""
    frames, depths = _clip(10)
    w_back = warmup_frames(STRENGTH)
    bridge = Renderer()
    sent_f, sent_d = [f.copy() for f in frames], [d.copy() for d in depths]  # the "shared buffer"
    _request(bridge, sent_f, sent_d, 3, w_back)
    for a in (*sent_f[:4], *sent_d[:4]):
        a[...] = 7.0  # the host's next fill of the buffer, in place
    got = _request(bridge, frames, depths, 4, w_back)
    assert bridge.streams.continued == 1
    job = bridge.job({"depth_smoothing": STRENGTH})
    np.testing.assert_array_equal(got, _sequential(job, frames, depths, 4))


def test_concurrent_requests_never_share_a_stream():
    """Two render threads asking for t + 1 and t + 2 right after t: one continues the stream, the
    other builds its own window; both equal the sequential run (the window reaches the start)."""
    import threading

    frames, depths = _clip(8)
    w_back = warmup_frames(STRENGTH)
    bridge = Renderer()
    job = bridge.job({"depth_smoothing": STRENGTH})
    _request(bridge, frames, depths, 3, w_back)
    out: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda t=t: out.__setitem__(t, _request(bridge, frames, depths, t, w_back)))
               for t in (4, 4, 5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in (4, 5):
        np.testing.assert_array_equal(out[t], _sequential(job, frames, depths, t))
    assert bridge.streams.continued <= 2


def test_estimated_source_steps_forward_through_a_stream(lfbench):
    """Depth Source = motion with smoothing: a host stepping forward continues the stream (one new
    estimate, flow and smoothing step per frame) and every frame equals a fresh bridge's result for
    the same request (the window reaches the clip's start)."""
    from lfbench_motion_clips import render_clip

    from genrefocus_video.depth.sources import SOURCES
    from genrefocus_video.ofx.estimate import source_reach

    frames = render_clip(3, (64, 48), 8, "pan")["aif"].astype(np.float32)
    h, w = frames.shape[1:3]
    before, after = source_reach("motion")
    params = {"depth_source": SOURCES.index("motion"), "blur_k": 5.0, "focus_from_point": False,
              "focus_disparity": 0.9, "depth_smoothing": 0.3}

    def request(bridge: Renderer, t: int) -> np.ndarray:
        # the source's reach after t + 1: the smoothing's look-ahead estimates frame t + 1 too
        later = [frames[i] for i in range(t + 1, min(len(frames), t + 2 + after))]
        req = P.RenderRequest(w, h, 0, dict(params), (0.0, 0.0), False, time=float(t),
                              sent_sources=t + 1 + len(later), frames_after=len(later))
        return bridge.render(req, [frames[i] for i in range(t, -1, -1)], [], later)

    bridge = Renderer()
    for t in range(len(frames)):
        np.testing.assert_array_equal(request(bridge, t), request(Renderer(), t), err_msg=f"frame {t}")
    assert (bridge.streams.started, bridge.streams.continued) == (1, len(frames) - 1)
    assert bridge.estimates["estimates"].misses == len(frames)  # one estimate per frame, none twice

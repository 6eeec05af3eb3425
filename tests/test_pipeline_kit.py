"""Small deterministic stages and clips for the pipeline/Ray tests (and checks of the kit itself).

The executors are generic over the Stage protocol, so their tests use these toy stages: a
temporal head stage with a *finite* memory (mean luminance of the last `warmup`+1 frames, so a
chunk with warm-up reproduces the unsplit state exactly) and a pure tail stage that renders from
the disparity and focus the head set. Real stages get their own end-to-end test.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from genrefocus_video.record import FrameRecord

W, H = 48, 32


class WindowDepth:
    """Temporal: disparity = mean of the last (warmup + 1) frames' luminance; a = frame-dependent."""

    name = "toy_depth"
    temporal = True

    def __init__(self, warmup: int = 2) -> None:
        self.warmup = warmup
        self.hist: deque = deque(maxlen=warmup + 1)
        self.seen = 0

    def reset(self) -> None:
        self.hist.clear()
        self.seen = 0

    def process(self, rec: FrameRecord) -> FrameRecord:
        self.hist.append(rec.frame.rgb.mean(axis=2))
        rec.disparity = (sum(self.hist) / len(self.hist)).astype(np.float32)
        rec.focus_disparity = 0.25 + 0.01 * (rec.index % 7)
        rec.k = 3.0
        rec.extras["toy_depth_history"] = len(self.hist)
        self.seen += 1
        return rec


class ToyRender:
    """Pure: output = frame blended toward its 3x3 box blur by |K (d - a)|, plus an optional sleep."""

    name = "toy_render"
    temporal = False

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep
        self.pid = os.getpid()

    def process(self, rec: FrameRecord) -> FrameRecord:
        if self.sleep:
            time.sleep(self.sleep)
        img = rec.frame.rgb
        pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
        blur = sum(pad[dy:dy + img.shape[0], dx:dx + img.shape[1]] for dy in range(3) for dx in range(3)) / 9.0
        w = np.clip(np.abs(rec.k * (rec.disparity - rec.focus_disparity)), 0.0, 1.0)[..., None]
        rec.output = (img * (1 - w) + blur * w).astype(np.float32)
        rec.extras["tail_instance"] = (os.getpid(), id(self))  # which loaded "model" rendered it
        return rec


@dataclass(frozen=True)
class ToyFactory:
    """StageFactory look-alike (head/tail); picklable by value so Ray workers can build it."""

    warmup: int = 2
    sleep: float = 0.0
    fail_at: int = -1  # raise KeyboardInterrupt at this frame if `fail_flag` exists (interruption test)
    fail_flag: str = ""

    def head(self, job, info):
        return [WindowDepth(self.warmup)]

    def tail(self, job, info):
        stages = [ToyRender(self.sleep)]
        if self.fail_at >= 0:
            stages.append(Interrupter(self.fail_at, self.fail_flag))
        return stages


class Interrupter:
    """Simulates Ctrl-C at frame `at` while the flag file exists."""

    name = "interrupter"
    temporal = False

    def __init__(self, at: int, flag: str) -> None:
        self.at, self.flag = at, flag

    def process(self, rec: FrameRecord) -> FrameRecord:
        if rec.index == self.at and self.flag and os.path.exists(self.flag):
            raise KeyboardInterrupt
        return rec


def write_clip(path: str, images, pix_fmt: str = "yuv444p", src_format: str = "rgb24") -> str:
    """Lossless FFV1 clip of `images` (H x W x 3 arrays in `src_format`) stored as `pix_fmt`, 24 fps."""
    import av

    with av.open(path, "w") as out:
        s = out.add_stream("ffv1", rate=Fraction(24, 1))
        s.height, s.width = images[0].shape[:2]
        s.pix_fmt = pix_fmt
        for i, img in enumerate(images):
            f = av.VideoFrame.from_ndarray(img, format=src_format).reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def make_clip(path: str, n: int = 12, w: int = W, h: int = H) -> str:
    """A tiny lossless FFV1 clip with a moving bright square over a gradient (deterministic)."""
    yy, xx = np.mgrid[0:h, 0:w]
    images = []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
        img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
        img[..., 2] = 40
        x0 = (3 * i) % (w - 8)
        img[8:16, x0:x0 + 8] = 250
        images.append(img)
    return write_clip(path, images)


def read_all(path: str) -> np.ndarray:
    """All frames of an output as one float32 array (via the project's reader)."""
    from genrefocus_video.io.reader import open_reader

    with open_reader(path) as r:
        return np.stack([f.rgb for f in r])


def toy_job(src: str, out: str, **executor):
    from genrefocus_video.params import load_job

    overrides = {"input.path": src, "output.path": out, "output.codec": "ffv1", "executor.progress": False}
    overrides.update({f"executor.{k}": v for k, v in executor.items()})
    return load_job(None, overrides)


def records(n: int, w: int = W, h: int = H):
    """Synthetic frame records without any file I/O."""
    from genrefocus_video.io.frame import Frame

    rng = np.random.default_rng(7)
    for i in range(n):
        yield FrameRecord(Frame(i, rng.random((h, w, 3), dtype=np.float32), None, i / 24))


def test_window_depth_warmup_reproduces_state():
    """The kit's premise: after `warmup` frames from a reset, the state equals the unsplit state."""
    ref = WindowDepth(2)
    full = [ref.process(r).disparity for r in records(8)]
    st = WindowDepth(2)
    recs = list(records(8))
    st.reset()
    for r in recs[3:5]:  # warm-up frames 3,4 for a chunk starting at 5
        st.process(r)
    later = [st.process(r).disparity for r in recs[5:]]
    for a, b in zip(full[5:], later):
        assert np.array_equal(a, b)
    # and without warm-up the state differs (the test above could fail)
    st.reset()
    assert not np.array_equal(st.process(recs[5]).disparity, full[5])

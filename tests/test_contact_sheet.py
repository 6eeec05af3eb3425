"""The contact sheet: which frames, what each cell shows, single pass and chunked alike."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

import test_pipeline_kit as kit
from genrefocus_video.pipeline.contact import GAP, LABEL_H, THUMB_W, _thumb, sheet_frames
from genrefocus_video.pipeline.run import run_job


def test_sheet_frames_spread_over_the_range():
    assert sheet_frames(0, 95, 8) == [0, 14, 27, 41, 54, 68, 81, 95]
    assert sheet_frames(10, 13, 8) == [10, 11, 12, 13]  # a short clip: every frame
    assert sheet_frames(0, 9, 1) == [5]  # one frame: the middle


def _cells(sheet: np.ndarray, n: int, th: int):
    """(before, after) thumbnails of the first n cells, cut from the sheet by its layout."""
    cols = 2 if n >= 4 else 1
    cell_w, cell_h = 2 * THUMB_W + GAP + 8, th + LABEL_H + 8
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = r * cell_h + 4, c * cell_w + 4
        yield sheet[y:y + th, x:x + THUMB_W], sheet[y:y + th, x + THUMB_W + GAP:x + 2 * THUMB_W + GAP]


def test_contact_sheet_shows_input_and_written_output_for_single_and_chunked_runs(tmp_path):
    clip = kit.make_clip(str(tmp_path / "c.mkv"), n=12)
    sheets = {}
    for chunks in (1, 3):
        out = str(tmp_path / f"o{chunks}.mkv")
        job = kit.toy_job(clip, out, executor="local", chunks=chunks)
        job = replace(job, output=replace(job.output, contact_sheet=str(tmp_path / f"s{chunks}.png"), contact_frames=4))
        run_job(job, factory=kit.ToyFactory())
        sheets[chunks] = cv2.imread(str(tmp_path / f"s{chunks}.png"))[..., ::-1]
        inp, rendered = kit.read_all(clip), kit.read_all(out)
    assert np.array_equal(sheets[1], sheets[3])  # chunked output is the same clip: the same sheet
    frames = sheet_frames(0, 11, 4)
    th = _thumb(inp[0]).shape[0]
    assert sheets[1].shape == (2 * (th + LABEL_H + 8), 2 * (2 * THUMB_W + GAP + 8), 3)
    for (before, after), i in zip(_cells(sheets[1], 4, th), frames):
        assert np.abs(before.astype(int) - _thumb(inp[i])).max() <= 1  # the input frame i
        assert np.abs(after.astype(int) - _thumb(rendered[i])).max() <= 1  # the delivered frame i
        assert np.abs(after.astype(int) - before.astype(int)).mean() > 1  # and they differ

"""The typed chunk record: JSON round trip, entries of the format written before the rebuild
resumed, damaged entries re-rendered, a record with a missing before/after image not trusted."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import test_pipeline_kit as kit
from genrefocus_video.pipeline.manifest import ChunkRecord
from genrefocus_video.pipeline.plan import Chunk
from genrefocus_video.pipeline.run import run_job
from genrefocus_video.pipeline.workdir import WorkDir

#: The keys a chunk entry had before the typed record (pipeline/job.py run_chunk).
OLD_KEYS = {"chunk", "start", "end", "frames", "start_time", "warmup_from", "fingerprint", "segment", "pid", "host",
            "seconds", "timings", "focus_rows", "focus_values", "preview", "preview_bytes", "files", "bytes"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return kit.make_clip(str(tmp_path_factory.mktemp("manifest") / "c.mkv"), n=12)


def test_record_round_trips_and_leaves_empty_fields_out():
    rec = ChunkRecord(2, 8, 11, 4, "abc", "/w/segments/seg_0002.mkv", start_time=0.333, warmup_from=6, bytes=1234,
                      timings={"seconds": {"decode": 0.1}, "frames": {"decode": 4}},
                      focus_values=[[8, 0.5], [9, 0.55]], focus_keys=[[0.0, 0.2], [11.0, 0.8]])
    data = json.loads(json.dumps(rec.to_json()))
    assert ChunkRecord.from_json(data) == rec
    assert "files" not in data and "before_after" not in data and "focus_rows" not in data
    assert rec.focus_by_frame() == {8: 0.5, 9: 0.55}


@pytest.mark.parametrize("bad", [[1, 2], {"chunk": 0, "start": 0, "end": 3}, {"chunk": "0", "start": 0, "end": 3,
                                 "frames": 4, "fingerprint": "x", "segment": "s"}, None])
def test_damaged_entries_are_not_records(bad):
    assert ChunkRecord.from_json(bad) is None


def _interrupted(clip, tmp_path):
    """A 3-chunk job stopped in its last chunk: chunks 0 and 1 are done."""
    flag = tmp_path / "stop"
    flag.write_text("1")
    out = str(tmp_path / "o.mkv")
    job = kit.toy_job(clip, out, executor="local", chunks=3)
    with pytest.raises(KeyboardInterrupt):
        run_job(job, factory=kit.ToyFactory(fail_at=9, fail_flag=str(flag)))
    flag.unlink()
    return job, out, WorkDir(out + ".work")


def test_entries_of_the_format_before_the_typed_record_are_resumed(clip, tmp_path):
    job, out, work = _interrupted(clip, tmp_path)
    for i in (0, 1):
        entry = json.load(open(work.entry_path(i)))
        old = {k: v for k, v in entry.items() if k in OLD_KEYS}
        assert set(entry) - OLD_KEYS <= {"focus_keys", "before_after"}
        json.dump(old, open(work.entry_path(i), "w"))
    s = run_job(job, factory=kit.ToyFactory())
    assert (s.chunks_rendered, s.chunks_skipped) == (1, 2)
    single = str(tmp_path / "single.mkv")
    run_job(kit.toy_job(clip, single, executor="local"), factory=kit.ToyFactory())
    assert np.array_equal(kit.read_all(out), kit.read_all(single))


def test_a_damaged_entry_or_a_lost_before_after_image_renders_its_chunk_again(clip, tmp_path):
    job, out, work = _interrupted(clip, tmp_path)
    open(work.entry_path(0), "w").write('{"chunk": 0, "start": 0')  # cut short by a full disk
    entry = json.load(open(work.entry_path(1)))
    entry["before_after"] = str(tmp_path / "gone.png")
    json.dump(entry, open(work.entry_path(1), "w"))
    fp = entry["fingerprint"]
    assert work.finished_entry(Chunk(1, 4, 7), fp, preview=False) is None
    s = run_job(job, factory=kit.ToyFactory())
    assert (s.chunks_rendered, s.chunks_skipped) == (3, 0)
    assert os.path.exists(out)

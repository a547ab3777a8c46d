from __future__ import annotations

import json
import random
import threading

import pytest

from spladekit.errors import InputError
from spladekit.ingest.checkpoint import AckTracker, Checkpoint, atomic_write_text


def test_watermark_is_the_longest_fully_acknowledged_prefix_under_random_completion():
    rng = random.Random(7)
    positions = sorted(rng.sample(range(1, 5000), 800))
    tracker = AckTracker()
    for p in positions:
        tracker.register(p)
    order = positions[:]
    rng.shuffle(order)
    acked: set[int] = set()
    for p in order:
        tracker.ack(p)
        acked.add(p)
        expected = 0
        for q in positions:
            if q not in acked:
                break
            expected = q
        assert tracker.watermark == expected
    assert tracker.in_flight == 0


def test_tracker_is_thread_safe_and_refuses_decreasing_positions():
    tracker = AckTracker(start_after=10)
    assert tracker.watermark == 10
    for p in range(11, 4011):
        tracker.register(p)
    chunks = [list(range(11 + i, 4011, 4)) for i in range(4)]
    threads = [threading.Thread(target=lambda c=c: [tracker.ack(p) for p in c]) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.watermark == 4010
    with pytest.raises(ValueError, match="increase"):
        tracker.register(5)


def test_checkpoint_round_trip_and_job_check(tmp_path):
    path = tmp_path / "sub" / "checkpoint.json"
    cp = Checkpoint(position=12, input="c.jsonl", input_size=100, target="local", model_sha256="ab")
    cp.save(path)
    back = Checkpoint.load(path)
    assert back == cp and [p.name for p in path.parent.iterdir()] == ["checkpoint.json"]  # no temp left
    back.check_same_job(Checkpoint(input="c.jsonl", input_size=100, target="local", model_sha256="ab"), path)
    with pytest.raises(InputError, match="another job"):
        back.check_same_job(Checkpoint(input="c.jsonl", input_size=101, target="local", model_sha256="ab"), path)
    assert Checkpoint.load(tmp_path / "none.json") is None


def test_checkpoint_unreadable_or_other_format_is_an_error_that_names_the_fix(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{torn")
    with pytest.raises(InputError, match="delete it"):
        Checkpoint.load(bad)
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(InputError, match="format"):
        Checkpoint.load(bad)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    atomic_write_text(path, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1

from __future__ import annotations

from spladekit.ingest.deadletter import DeadLetter, read_dead_letter
from spladekit.ingest.records import Reject


def test_entries_have_position_id_reason_and_record(tmp_path):
    path = tmp_path / "dl.jsonl"
    dl = DeadLetter(path)
    dl.write(Reject(3, "a", "empty_text", {"_id": "a", "text": ""}))
    dl.write(Reject(1, None, "invalid_utf8", "caf\\xe9", "byte 3"))
    dl.write(Reject(9, "s", "invalid_utf8", {"text": "lone \ud800"}))  # must still be a valid UTF-8 line
    dl.close()
    entries = read_dead_letter(path)
    assert [(e["position"], e["id"], e["reason"]) for e in entries] == [
        (3, "a", "empty_text"), (1, None, "invalid_utf8"), (9, "s", "invalid_utf8")]
    assert entries[0]["record"] == {"_id": "a", "text": ""} and entries[1]["detail"] == "byte 3"
    assert dl.counts == {"empty_text": 1, "invalid_utf8": 2}


def test_resume_keeps_entries_up_to_the_checkpoint_and_fresh_runs_truncate(tmp_path):
    path = tmp_path / "dl.jsonl"
    dl = DeadLetter(path)
    for p in (2, 8, 5, 11):
        dl.write(Reject(p, str(p), "empty_text"))
    dl.close()
    with open(path, "a") as f:
        f.write('{"position": 4, "id": "torn"')  # a line cut by a crash
    dl = DeadLetter(path, resume_after=5)
    dl.write(Reject(8, "8", "empty_text"))
    dl.close()
    assert [e["position"] for e in read_dead_letter(path)] == [2, 5, 8]
    DeadLetter(path).close()
    assert read_dead_letter(path) == []

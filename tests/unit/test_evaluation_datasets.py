"""Loading BEIR folders and TREC files, including bad input: warnings with counts, exclusions in the report."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from spladekit.datasets import DataWarning, load_beir, load_qrels
from spladekit.errors import InputError
from spladekit.evaluation.trec import load_run, write_run


def _beir(root: Path, corpus: list, queries: list, qrels: str, split: str = "test") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in corpus))
    (root / "queries.jsonl").write_text("".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in queries))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / f"{split}.tsv").write_text(qrels)
    return root


def _docs(n: int) -> list[dict]:
    return [{"_id": f"d{i}", "title": f"title {i}", "text": f"text {i}"} for i in range(n)]


def test_clean_folder_loads_without_warnings(tmp_path):
    root = _beir(tmp_path / "clean", _docs(3), [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"}],
                 "query-id\tcorpus-id\tscore\nq1\td0\t2\nq1\td1\t0\nq2\td2\t1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_beir(root)
    assert ds.name == "clean"
    assert set(ds.queries) == {"q1", "q2"}
    assert ds.qrels == {"q1": {"d0": 2, "d1": 0}, "q2": {"d2": 1}}
    assert ds.binary_qrels()["q1"] == {"d0": 1, "d1": 0}
    assert not ds.exclusions.any()
    assert ds.corpus["d0"].full_text() == "title 0 text 0"


def test_bad_input_is_counted_warned_and_excluded(tmp_path):
    corpus = [*_docs(3), "{not json\n", json.dumps({"title": "no id"}) + "\n"]
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"}, {"_id": "q3", "text": "c"},
               {"_id": "q4", "text": "d"}]
    qrels = ("query-id\tcorpus-id\tscore\n"
             "q1\td0\t1\n"
             "q1\tmissing1\t1\n"      # unknown document
             "q1\tmissing2\t2\n"      # unknown document
             "q2\td1\t0\n"            # q2: only non-relevant judgments
             "q9\td0\t1\n"            # unknown query
             "q1 d1\n"                # malformed: two fields
             "q1\td2\tnotanumber\n")  # malformed: score
    # q3, q4: no judgments at all
    root = _beir(tmp_path / "bad", corpus, queries, qrels)
    with pytest.warns(DataWarning) as record:
        ds = load_beir(root)
    messages = " | ".join(str(w.message) for w in record)
    assert "2 malformed corpus line(s)" in messages
    assert "2 malformed qrels line(s)" in messages
    assert "2 judgment(s) name a document missing" in messages
    assert "1 judgment(s) name a query missing" in messages
    assert "2 of 4 queries have no judgments" in messages
    assert "1 queries have only non-relevant judgments" in messages
    ex = ds.exclusions.as_dict()
    assert ex["malformed_lines"] == 4
    assert ex["qrels_unknown_doc"] == 2
    assert ex["qrels_unknown_query"] == 1
    assert ex["queries_without_judgments"] == 2
    assert ex["queries_without_relevant"] == 1
    assert sorted(ex["examples"]["queries_without_judgments"]) == ["q3", "q4"]
    # evaluation goes on with what is left
    assert list(ds.queries) == ["q1"]
    assert ds.qrels == {"q1": {"d0": 1}}
    assert len(ds.corpus) == 3


def test_named_split_and_missing_split(tmp_path):
    root = _beir(tmp_path / "s", _docs(2), [{"_id": "q1", "text": "a"}], "q1\td1\t1\n", split="dev")
    assert load_beir(root, split="dev").qrels == {"q1": {"d1": 1}}
    with pytest.raises(InputError, match="splits found: dev"):
        load_beir(root)


def test_not_a_beir_folder(tmp_path):
    with pytest.raises(InputError, match="corpus.jsonl is missing"):
        load_beir(tmp_path)


def test_nothing_left_to_evaluate(tmp_path):
    root = _beir(tmp_path / "e", _docs(1), [{"_id": "q1", "text": "a"}], "q1\tnope\t1\n")
    with pytest.warns(DataWarning), pytest.raises(InputError, match="nothing to evaluate"):
        load_beir(root)


def test_trec_qrels_and_run_round_trip(tmp_path):
    q = tmp_path / "qrels.txt"
    q.write_text("1 0 a 2\n1 0 b 0\n2 0 c 1\nbroken line here too many fields x\n")
    with pytest.warns(DataWarning, match="1 malformed qrels line"):
        qrels = load_qrels(q)
    assert qrels == {"1": {"a": 2, "b": 0}, "2": {"c": 1}}
    run = {"1": {"a": 0.1234567, "b": 3.0, "c": 3.0}, "2": {"z": 1e-30}}
    path = write_run(run, tmp_path / "run.trec", tag="t")
    lines = path.read_text().splitlines()
    assert lines[0].split()[:4] == ["1", "Q0", "b", "1"] and lines[1].split()[2] == "c"  # ties by id
    assert load_run(path) == run  # scores survive exactly
    (tmp_path / "bad.trec").write_text("1 Q0 a 1\n")
    with pytest.raises(InputError, match="6 fields"):
        load_run(tmp_path / "bad.trec")

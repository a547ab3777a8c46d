"""evaluate() and ``spladekit eval`` end to end on a toy collection, with a stand-in encoder (no download)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from _support import FakeEncoder
from spladekit import evaluation
from spladekit.cli import main
from spladekit.errors import InputError
from spladekit.evaluation import DataWarning, compute, evaluate, load_run


class CountingEncoder(FakeEncoder):
    @property
    def documents_encoded(self) -> int:
        return sum(self.calls)

@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    encoder = CountingEncoder()
    monkeypatch.setattr(evaluation.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: encoder))
    # the plain numpy kernels: same results, no numba compilation in a unit test (the kernels' own tests
    # check that both agree)
    from spladekit.local import _numba

    monkeypatch.setattr(_numba, "USE_NUMBA", False)
    root = tmp_path / "toy"
    (root / "qrels").mkdir(parents=True)
    docs = ["wing stall at high angle of attack", "boundary layer transition on a flat plate",
            "heat transfer in hypersonic flow", "buckling of thin cylindrical shells", "wing flutter and divergence"]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                               for i, t in enumerate(docs)) + "this line is broken\n")
    queries = {"q1": "wing stall", "q2": "hypersonic heat transfer", "q3": "shells buckling", "q4": "zzz qqq",
               "q5": "no judgments for me"}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t2\nq1\td4\t1\nq2\td2\t1\n"
                                             "q3\td3\t1\nq3\tgone\t1\nq4\td1\t1\n")
    return root, encoder


def test_evaluate_local_end_to_end_and_reuse(toy, tmp_path):
    root, encoder = toy
    with pytest.warns(DataWarning):
        report = evaluate(root, out_dir=tmp_path / "out", local_mode="exact", k=10)
    assert [s.name for s in report.systems] == ["splade-local"]
    assert report.n_queries == 4 and report.n_docs == 5
    assert report.exclusions["malformed_lines"] == 1
    assert report.exclusions["qrels_unknown_doc"] == 1
    assert report.exclusions["queries_without_judgments"] == 1
    s = report.system("splade-local")
    # q4 shares no word with any document: unanswered, scored 0, and the mean counts it
    assert s.info["unanswered_queries"] == 1
    assert s.per_query["q4"]["nDCG@10"] == 0.0
    ds_qrels = {"q1": {"d0": 2, "d4": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d1": 1}}
    agg, _ = compute(ds_qrels, load_run(s.run_file), report.measures)
    assert agg == s.metrics
    assert all(s.per_query[q]["RR@10"] > 0 for q in ("q1", "q2", "q3"))
    assert s.cost["mean_doc_terms"] > 0 and s.cost["index_bytes_per_doc"] > 0
    # the index was built by ingest: the broken corpus line is in its dead letter, not silently lost
    assert s.cost["not_indexed"] == {"malformed_json": 1}
    assert report.settings["encoding"]["texts"] == 5 and report.settings["encoding"]["truncated"] == 0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["systems"][0]["name"] == "splade-local"
    assert encoder.documents_encoded == 5
    # second run: vectors and index come from the cache, the numbers are the same
    with pytest.warns(DataWarning):
        again = evaluate(root, local_mode="exact", k=10)
    assert encoder.documents_encoded == 5
    assert again["splade-local"] == s.metrics
    with pytest.warns(DataWarning):
        rebuilt = evaluate(root, local_mode="exact", k=10, rebuild=True)
    assert encoder.documents_encoded == 10
    assert rebuilt["splade-local"] == s.metrics


def test_bm25_and_hybrid_need_an_index(toy):
    root, _ = toy
    with pytest.raises(InputError, match="need an index"):
        evaluate(root, bm25=True, local=False)
    with pytest.raises(InputError, match="nothing to evaluate"):
        evaluate(root, local=False)
    with pytest.raises(ValueError, match="local_mode"):
        evaluate(root, local_mode="fast")


def test_cli_eval_prints_table_and_warnings(toy, tmp_path):
    root, _ = toy
    result = CliRunner().invoke(main, ["eval", str(root), "--metrics", "nDCG@10 RR@10", "--out", str(tmp_path / "o"),
                                       "--silent", "-k", "5"])
    assert result.exit_code == 0, result.output
    assert "splade-local" in result.stdout and "RR@10" in result.stdout and "AP" not in result.stdout
    assert "warning:" in result.stderr and "malformed corpus line" in result.stderr
    assert (tmp_path / "o" / "runs" / "splade-local.trec").is_file()
    text = CliRunner().invoke(main, ["eval", str(root), "--bm25", "--hybrid", "--silent", "-k", "5",
                                     "--out", str(tmp_path / "t")])  # no engine: BM25 and hybrid on the local index
    assert text.exit_code == 0, text.output
    assert all(name in text.stdout for name in ("splade-local", "bm25-local", "hybrid-rrf", "hybrid-weighted"))
    unknown = CliRunner().invoke(main, ["eval", str(root), "--metrics", "nDCG@@10"])
    assert unknown.exit_code != 0 and "unknown measure" in unknown.output


def test_cli_scores_trec_run_files_with_trec_qrels(toy, tmp_path):
    root, _ = toy
    run = tmp_path / "mine.trec"
    run.write_text("q1 Q0 d4 1 2.0 x\nq1 Q0 d0 2 1.0 x\nq2 Q0 d2 1 5.0 x\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d0 1\nq2 0 d2 1\n")
    result = CliRunner().invoke(main, ["eval", str(root), "--run", str(run), "--qrels", str(qrels),
                                       "--metrics", "RR@10", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["systems"][0]["name"] == "mine"
    import ir_measures

    expected = {m.query_id: {"RR@10": m.value} for m in ir_measures.iter_calc(
        [ir_measures.RR @ 10], ir_measures.read_trec_qrels(str(qrels)), ir_measures.read_trec_run(str(run)))}
    assert report["systems"][0]["per_query"] == expected


def test_evaluate_pruned_documents_from_the_same_encoded_corpus(toy):
    root, encoder = toy
    with pytest.warns(DataWarning):
        full = evaluate(root, local_mode="exact", k=10)
    with pytest.warns(DataWarning):
        pruned = evaluate(root, local_mode="exact", k=10, doc_prune="top_k:2")
    assert encoder.documents_encoded == 5  # the pruned index comes from the cached vectors
    assert pruned.system("splade-local").cost["mean_doc_terms"] <= 2 < full.system("splade-local").cost[
        "mean_doc_terms"]
    assert pruned.settings["doc_prune"] == "top_k:2" and pruned.model["doc_prune"] == "top_k:2"
    assert "doc_prune" not in full.model
    with pytest.warns(DataWarning):
        again = evaluate(root, local_mode="exact", k=10)  # the full index is still there, untouched
    assert again["splade-local"] == full["splade-local"]


def test_evaluate_inference_free_queries(toy, tmp_path, monkeypatch):
    from _tiny_models import make_tiny_tokenizer, vocab

    from spladekit.search import Searcher

    root, _ = toy
    tokenizer = make_tiny_tokenizer(tmp_path / "tok")

    class Tokenizing(CountingEncoder):
        tokenizer_file = tokenizer

    encoder = Tokenizing(vocab=vocab())
    monkeypatch.setattr(evaluation.SpladeEncoder, "load", classmethod(lambda cls, *a, **kw: encoder))
    with pytest.warns(DataWarning):
        report = evaluate(root, local_mode="exact", k=10, inference_free=True, out_dir=tmp_path / "out")
    s = report.system("splade-local")
    assert report.settings["inference_free"] is True
    searcher = Searcher(local_dir=next((tmp_path / "cache" / "eval").glob("*/local-exact")), encoder=encoder,
                        inference_free=True)
    for qid, text in {"q1": "wing stall", "q2": "hypersonic heat transfer"}.items():
        assert load_run(s.run_file)[qid] == {h.id: h.score for h in searcher.search(text, k=10)}
    assert s.cost["encode_p50_ms"] is not None


def test_eval_reads_a_corpus_that_is_not_utf8_as_ingest_does(toy, tmp_path):
    root, _ = toy
    with open(root / "corpus.jsonl", "ab") as f:
        f.write(b'{"_id": "d5", "title": "", "text": "wing caf\xe9 stall"}\n')
    with pytest.warns(DataWarning, match="1 of them with undecodable bytes.*--decode-errors replace"):
        strict = evaluate(root, local_mode="exact", k=10)
    assert strict.n_docs == 5 and strict.exclusions["malformed_lines"] == 2
    assert strict.system("splade-local").cost["not_indexed"] == {"invalid_utf8": 1, "malformed_json": 1}
    assert strict.settings["input"] == {"encoding": "utf-8", "decode_errors": "strict", "repaired_lines": 0}
    with pytest.warns(DataWarning):
        replace = evaluate(root, local_mode="exact", k=10, decode_errors="replace")
    assert replace.n_docs == 6 and replace.exclusions["malformed_lines"] == 1
    assert replace.system("splade-local").cost["not_indexed"] == {"malformed_json": 1}  # d5 indexed, repaired
    assert replace.settings["input"] == {"encoding": "utf-8", "decode_errors": "replace", "repaired_lines": 1}
    with pytest.warns(DataWarning):
        latin = evaluate(root, local_mode="exact", k=10, encoding="latin-1")
    assert latin.n_docs == 6 and latin.settings["input"]["repaired_lines"] == 0
    out = CliRunner().invoke(main, ["eval", str(root), "--mode", "exact", "-k", "10", "--silent",
                                    "--decode-errors", "skip"])
    assert out.exit_code == 0 and "splade-local" in out.stdout, out.output

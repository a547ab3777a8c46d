"""Inference-free queries (weights from a tiny index, from a learned table, on the local index and the stand-in
engine) and separate query/document encoders (model cards, the pair, export of both, the query-side guard) on
tiny random BERTs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _tiny_models import make_tiny_tokenizer, vocab

from _support import REPO, FakeEncoder, FakeEngine, need, oracle_top_k
from spladekit.encoder.card import CARD_NAME, is_card, read_card, write_card
from spladekit.encoder.pair import PairEncoder
from spladekit.encoder.static import StaticQueryEncoder, idf_weights
from spladekit.errors import InputError, ModelError
from spladekit.features import FeatureNames
from spladekit.local.index import LocalIndex
from spladekit.schema import SCHEMA, ModelIdentity
from spladekit.search import Searcher, is_inference_free
from spladekit.vectors import SparseVector

TOKENS = vocab()
ID = {t: i for i, t in enumerate(TOKENS)}
SHA = "a" * 64
# three documents over the tiny vocabulary: df(wing) = 2, df(stall) = 1, df(air) = 2, df(the) = 0
DOCS = {"d1": {"wing": 1.5, "stall": 2.0}, "d2": {"wing": 0.5, "air": 1.0}, "d3": {"air": 3.0, "flow": 0.25}}


def _vec(terms: dict[str, float]) -> SparseVector:
    return SparseVector.from_dict({ID[t]: w for t, w in terms.items()})


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tok")
    make_tiny_tokenizer(directory)
    return directory


@pytest.fixture()
def local_dir(tmp_path) -> Path:
    index = LocalIndex(mode="lucene", meta=SCHEMA.meta(ModelIdentity("tiny", SHA)))
    index.add(list(DOCS), [_vec(v) for v in DOCS.values()])
    return index.save(tmp_path / "ix")


def _idf(df: int, n: int = 3) -> float:
    return float(np.float32(math.log1p((n - df + 0.5) / (df + 0.5))))


def test_inference_free_query_weights_come_from_the_index(tok_dir, local_dir) -> None:
    searcher = Searcher(local_dir=local_dir, model=str(tok_dir), inference_free=True)
    vec = searcher.encode("The wing STALL, wing!")  # distinct tokens, no special tokens, lower-cased
    assert vec.to_dict() == {ID["wing"]: _idf(2), ID["stall"]: _idf(1)}  # "the" and "," are in no document
    assert is_inference_free(searcher.encoder) and searcher.encoder.identity().query_model == "idf:local-index"
    hits = searcher.search("wing stall air", k=10)
    q = SparseVector.from_dict({ID["wing"]: _idf(2), ID["stall"]: _idf(1), ID["air"]: _idf(2)})
    want = oracle_top_k(q, {d: _vec(v) for d, v in DOCS.items()}, 10)
    assert [(h.id, h.score) for h in hits] == want


def test_inference_free_cli_search(tok_dir, local_dir) -> None:
    from click.testing import CliRunner

    from spladekit.cli import main

    ok = CliRunner().invoke(main, ["search", "wing stall", "--local", str(local_dir), "--model", str(tok_dir),
                                   "--inference-free", "--format", "jsonl"])
    assert ok.exit_code == 0, ok.output
    assert [json.loads(line)["id"] for line in ok.stdout.splitlines()] == ["d1", "d2"]
    empty = CliRunner().invoke(main, ["search", "the", "--local", str(local_dir), "--model", str(tok_dir),
                                      "--inference-free"])
    assert empty.exit_code == 1 and empty.stderr.count("Error:") == 1
    assert "no token with a positive weight" in empty.stderr


def test_inference_free_on_an_engine_counts_document_frequencies_once(tok_dir) -> None:
    names = FeatureNames(TOKENS)
    engine = FakeEngine("elasticsearch", names=names, meta=SCHEMA.meta(ModelIdentity("tiny", SHA)))
    engine.add(list(DOCS), [_vec(v) for v in DOCS.values()])
    searcher = Searcher(engine_index=engine, model=str(tok_dir), inference_free=True)
    hits = searcher.search("wing stall", k=5)
    aggs = [b for b in engine.bodies if "aggs" in b]
    assert len(aggs) == 1 and sorted(aggs[0]["aggs"]["df"]["filters"]["filters"]) == sorted(
        str(ID[t]) for t in ("stall", "wing"))
    assert searcher.encode("wing stall").to_dict() == {ID["wing"]: _idf(2), ID["stall"]: _idf(1)}
    searcher.search("stall wing", k=5)
    assert len([b for b in engine.bodies if "aggs" in b]) == 1  # both tokens known now: no new request
    searcher.search("air flow", k=5)
    assert len([b for b in engine.bodies if "aggs" in b]) == 2
    # the same query vector and the same hits as on the local index
    local = LocalIndex(mode="lucene", meta=engine.meta())
    local.add(list(DOCS), [_vec(v) for v in DOCS.values()])
    ids, scores = local.search(searcher.encode("wing stall"), k=5)
    assert [(h.id, h.score) for h in hits] == list(zip(ids, scores.tolist(), strict=True))


def test_a_learned_table_round_trips_through_idf_json(tok_dir, tmp_path) -> None:
    weights = np.zeros(len(TOKENS), np.float32)
    weights[[ID["wing"], ID["stall"], ID["the"]]] = [2.5, 0.75, -1.0]  # a negative weight cannot be a boost
    static = StaticQueryEncoder(tok_dir / "tokenizer.json", weights, source="learned")
    path = static.save_idf_json(tmp_path / "idf.json")
    assert json.loads(path.read_text()) == {"wing": 2.5, "stall": 0.75, "the": -1.0}
    again = StaticQueryEncoder.from_idf_json(path, tok_dir / "tokenizer.json")
    assert again.encode_queries(["the wing stall", "air"])[0].to_dict() == {ID["wing"]: 2.5, ID["stall"]: 0.75}
    assert len(again.encode_queries(["air"])[0]) == 0
    assert again.identity().query_sha256 == static.identity().query_sha256 is not None
    assert again.decode(again.encode_queries(["stall wing"])[0]) == [("wing", 2.5), ("stall", 0.75)]
    (tmp_path / "bad.json").write_text(json.dumps({"zeppelin": 1.0}))
    with pytest.raises(ModelError, match="tokens the tokenizer lacks"):
        StaticQueryEncoder.from_idf_json(tmp_path / "bad.json", tok_dir / "tokenizer.json")
    with pytest.raises(ModelError, match="made for another tokenizer"):
        StaticQueryEncoder(tok_dir / "tokenizer.json", np.ones(3), source="x")
    with pytest.raises(ModelError, match="encodes queries only"):
        static.encode_documents(["wing"])


def test_idf_is_bm25s_and_zero_where_no_document_holds_the_token() -> None:
    got = idf_weights(np.array([0, 1, 5, 10]), n_docs=10, vocab_size=6)
    want = [0.0, _idf(1, 10), _idf(5, 10), _idf(10, 10), 0.0, 0.0]
    assert got.dtype == np.float32 and got.tolist() == want


def test_model_cards_are_checked(tmp_path) -> None:
    write_card(tmp_path / "c", document="splade-tiny", query="q")
    assert is_card(tmp_path / "c") and not is_card(tmp_path)
    assert read_card(tmp_path / "c").query_model == "q"  # not a folder there: a model name
    (tmp_path / "c" / "q").mkdir()
    assert read_card(tmp_path / "c").query_model == str(tmp_path / "c" / "q")
    for bad, needle in [({"format": "x"}, "not a spladekit model card"),
                        ({"format": "spladekit-model-card", "format_version": 9}, "format_version 9"),
                        ({"format": "spladekit-model-card", "format_version": 1, "query": "q"}, "no document"),
                        ({"format": "spladekit-model-card", "format_version": 1, "document": "d"}, "exactly one"),
                        ({"format": "spladekit-model-card", "format_version": 1, "document": "d", "query": "q",
                          "query_table": "idf.json"}, "exactly one")]:
        (tmp_path / "c" / CARD_NAME).write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=needle):
            read_card(tmp_path / "c")
    with pytest.raises(ValueError, match="exactly one query side"):
        write_card(tmp_path / "d", document="x")


def test_a_pair_needs_one_vocabulary() -> None:
    with pytest.raises(ModelError, match="different vocabularies"):
        PairEncoder(FakeEncoder(), FakeEncoder(vocab=["[PAD]", "wing"]))


# ------------------------------------------------------------------------------- separate encoders (tiny BERTs)


@pytest.fixture(scope="module")
def pair_models(tmp_path_factory):
    """Two random tiny BERTs with one vocabulary (document: seed 0, query: seed 1), a card naming them, and the
    export cache in a temporary folder."""
    need("torch", "the separate-encoder tests export tiny models (the 'export' extra)")
    from _tiny_models import make_tiny_model

    root = tmp_path_factory.mktemp("pair")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLADEKIT_CACHE", str(root / "cache"))
        doc = make_tiny_model(root / "doc", seed=0)
        query = make_tiny_model(root / "query", seed=1)
        card = write_card(root / "card", document=str(doc), query=str(query))
        yield doc, query, card


def test_separate_encoders_round_trip(pair_models, tmp_path) -> None:
    from spladekit.encoder.export import export_named
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.models import sha256_file

    doc, query, card = pair_models
    texts = ["the wing stall", "air flow over a plane at high angle of attack"]
    queries = ["wing stall", "shock wave at mach 2"]
    alone_doc, alone_query = SpladeEncoder.load(doc), SpladeEncoder.load(query)
    want_docs = alone_doc.encode_documents(texts)
    want_queries = alone_query.encode_queries(queries)
    assert [v.to_dict() for v in want_queries] != [v.to_dict() for v in alone_doc.encode_queries(queries)]
    for pair in (SpladeEncoder.load(card), SpladeEncoder.load(doc_model=doc, query_model=query),
                 SpladeEncoder.load(export_named(card, tmp_path / "exported", max_length=32))):
        assert isinstance(pair, PairEncoder)
        assert [v.to_dict() for v in pair.encode_documents(texts)] == [v.to_dict() for v in want_docs]
        got = pair.encode_queries(queries)
        for a, b in zip(got, want_queries, strict=True):
            assert a.ids.tolist() == b.ids.tolist()
            np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-5)
        ident = pair.identity()
        assert ident.weights_sha256 == sha256_file(doc / "model.safetensors")
        assert ident.query_sha256 == sha256_file(query / "model.safetensors")
    assert read_card(tmp_path / "exported").document == "document"
    assert (tmp_path / "exported" / "query" / "model.onnx").is_file()
    assert SpladeEncoder.load(card).identity().model == str(card)


@pytest.mark.filterwarnings("ignore:.*were longer than")
def test_an_index_records_its_query_encoder_and_search_uses_it(pair_models, tmp_path) -> None:
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.ingest import ingest

    doc, query, card = pair_models
    ingest(REPO / "ingest" / "sample_corpus.jsonl", local_dir=tmp_path / "ix", model=str(card),
           checkpoint=tmp_path / "j" / "cp.json")
    meta = LocalIndex.load(tmp_path / "ix").meta
    assert meta["model"] == str(card) and meta["query_model"] == str(query)
    searcher = Searcher(local_dir=tmp_path / "ix")  # the card, from _meta: queries by the query model
    vec = SpladeEncoder.load(query).encode_queries(["wing stall"])[0]
    hits = searcher.search("wing stall", k=5)
    ids, scores = searcher.local.search(searcher.encoder.encode_queries(["wing stall"])[0], k=5)
    assert [h.id for h in hits] == ids and searcher.encode("wing stall").ids.tolist() == vec.ids.tolist()
    with pytest.raises(InputError, match=f"--model {card}"):
        Searcher(local_dir=tmp_path / "ix", model=str(doc)).encoder  # noqa: B018 - the check runs on load
    # inference-free queries against the same index: weighted from its own statistics, no query model
    free = Searcher(local_dir=tmp_path / "ix", inference_free=True)
    assert free.encoder.identity().query_model == "idf:local-index" and free.search("wing stall", k=3)


@pytest.mark.filterwarnings("ignore:.*were longer than")
def test_an_inference_free_card_ships_its_table(pair_models, tmp_path) -> None:
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.ingest import ingest

    doc, _, _ = pair_models
    weights = np.zeros(len(TOKENS), np.float32)
    weights[[ID["wing"], ID["stall"]]] = [3.0, 1.5]
    StaticQueryEncoder(doc / "tokenizer.json", weights, source="t").save_idf_json(tmp_path / "idf.json")
    card = write_card(tmp_path / "card", document=str(doc), query_table=str(tmp_path / "idf.json"))
    pair = SpladeEncoder.load(card)
    assert is_inference_free(pair)
    assert pair.encode_queries(["the wing stall"])[0].to_dict() == {ID["wing"]: 3.0, ID["stall"]: 1.5}
    ingest(REPO / "ingest" / "sample_corpus.jsonl", local_dir=tmp_path / "ix", model=str(card),
           checkpoint=tmp_path / "j" / "cp.json")
    searcher = Searcher(local_dir=tmp_path / "ix", inference_free=True)  # the card's table, not the index's IDF
    assert searcher.encode("wing stall").to_dict() == {ID["wing"]: 3.0, ID["stall"]: 1.5}

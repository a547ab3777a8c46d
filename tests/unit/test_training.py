"""Fine-tuning: data checks, the split recipe, and a few real training steps on a tiny random BERT.

The tiny model (random weights, a 200-word vocabulary) is built in a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from _support import need
from spladekit.errors import InputError
from spladekit.training.data import Pair, load_pairs, read_jsonl_pairs, validate_pairs
from spladekit.training.split import split_queries, title_pairs

torch = need("torch", "training needs the 'train' extra (torch)")
need("sentence_transformers", "training needs the 'train' extra (sentence-transformers)")
need("datasets", "training needs the 'train' extra (datasets)")

WORDS = ("wing stall lift drag flow shock wave boundary layer heat transfer pressure supersonic subsonic "
         "laminar turbulent plate cylinder cone nozzle jet mach number velocity angle attack airfoil "
         "the of a in at on for and with by from to is are what how why which").split()


def _tiny_bert(root: Path) -> Path:
    """A randomly initialised 2-layer BERT masked-LM with a WordPiece tokenizer over WORDS, saved HF-style."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    out = root / "tiny-bert"
    BertForMaskedLM(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("model"))


def _pairs(n: int = 48, seed: int = 0) -> list[Pair]:
    """Synthetic pairs: the positive shares the query's content words, so the task is learnable."""
    rng = random.Random(seed)
    content = WORDS[:26]
    pairs = []
    for i in range(n):
        q = rng.sample(content, 3)
        doc = q + rng.sample(content, 5)
        rng.shuffle(doc)
        pairs.append(Pair(" ".join(q), " ".join(doc), qid=str(i), pid=f"d{i}"))
    return pairs


# ---------------------------------------------------------------- data checks


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pairs.jsonl"
    p.write_text(text, encoding="utf-8")
    return p


def test_jsonl_pairs_read_with_negatives(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"query": "q1", "positive": "d1", "negatives": ["n1"]}\n\n'
                         '{"query": "q2", "positive": "d2"}\n')
    assert read_jsonl_pairs(p) == [Pair("q1", "d1", ("n1",)), Pair("q2", "d2")]


@pytest.mark.parametrize("text, message", [
    ("", "no training pairs"),
    ("\n\n", "no training pairs"),
    ('{"query": "q"}\n', "missing 'positive'"),
    ('{"query": "q", "positive": "  "}\n', "'positive' must be a non-empty string"),
    ('{"query": 3, "positive": "d"}\n', "'query' must be a non-empty string"),
    ("not json\n", "not valid JSON"),
    ('["q", "d"]\n', "expected a JSON object"),
    ('{"query": "q", "positive": "d", "negatives": "n"}\n', '"negatives" must be a list'),
    ('{"query": "q1", "positive": "d"}\n{"query": "q2", "positive": "d"}\n', "at least two distinct"),
])
def test_bad_pairs_stop_with_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_pairs(_write(tmp_path, text))


def test_malformed_line_is_named(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"query": "q", "positive": "d"}\n{"query": "q2"}\n')
    with pytest.raises(InputError, match=r"pairs.jsonl:2"):
        load_pairs(p)


def test_missing_source_names_the_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="JSONL file"):
        load_pairs(tmp_path / "nope.jsonl")


def test_beir_folder_pairs_use_train_split(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "T", "text": "wing"}\n{"_id": "d2", "text": "drag"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": "wings"}\n{"_id": "2", "text": "drag?"}\n')
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n2\td2\t1\n")
    pairs = load_pairs(tmp_path)
    assert [(p.qid, p.pid, p.positive) for p in pairs] == [("1", "d1", "T wing"), ("2", "d2", "drag")]
    with pytest.raises(InputError, match="qrels/dev.tsv"):
        load_pairs(tmp_path, split="dev")


def test_empty_pair_list_is_refused() -> None:
    with pytest.raises(InputError, match="no training pairs"):
        validate_pairs([])


# ---------------------------------------------------------------- split recipe


def test_split_has_no_leakage_and_is_seeded() -> None:
    rng = random.Random(1)
    queries = {str(i): f"query {rng.randrange(60)}" for i in range(100)}  # many duplicated texts
    s = split_queries(queries, test_fraction=0.3, seed=7)
    assert set(s.train).isdisjoint(s.test)
    assert sorted(s.train + s.test, key=int) == sorted(queries, key=int)
    train_texts = {queries[q].lower() for q in s.train}
    assert not any(queries[q].lower() in train_texts for q in s.test)
    assert abs(len(s.test) - 30) <= 3  # duplicates move whole groups, so a few off the target
    assert split_queries(queries, test_fraction=0.3, seed=7) == s
    assert split_queries(queries, test_fraction=0.3, seed=8) != s
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        split_queries(queries, test_fraction=1.0)


def test_make_split_writes_disjoint_qrels(tmp_path: Path) -> None:
    from spladekit.training.split import make_split

    src = tmp_path / "src"
    (src / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": f"title words number {i}", "text": f"title words number {i} body {i} of a plate"}
            for i in range(10)]
    (src / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (src / "queries.jsonl").write_text("".join(json.dumps({"_id": str(i), "text": f"q {i}"}) + "\n"
                                               for i in range(10)))
    (src / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                            + "".join(f"{i}\td{i}\t1\n{i}\td{(i + 1) % 10}\t0\n" for i in range(10)))
    out = make_split(src, tmp_path / "split", test_fraction=0.4, seed=3, pseudo_queries=-1)
    rec = json.loads((out / "split.json").read_text())
    train_q = {line.split("\t")[0] for line in (out / "qrels/train.tsv").read_text().splitlines()[1:]}
    test_q = {line.split("\t")[0] for line in (out / "qrels/test.tsv").read_text().splitlines()[1:]}
    assert train_q == set(rec["train_queries"]) and test_q == set(rec["test_queries"])
    assert train_q.isdisjoint(test_q) and len(test_q) == 4
    pairs = read_jsonl_pairs(out / "train_pairs.jsonl")
    judged = [p for p in pairs if not p.qid.startswith("title:")]
    assert {p.qid for p in judged} == train_q  # no test query among the training pairs
    assert rec["train_pairs_pseudo"] == 10 and all(p.positive.startswith("body") for p in pairs
                                                   if p.qid.startswith("title:"))


def test_title_pairs_strip_the_repeated_title() -> None:
    from spladekit.datasets import Document

    pairs = title_pairs({"a": Document("flow over a plate", "flow over a plate . the laminar layer"),
                         "b": Document("", "no title here at all")})
    assert [(p.query, p.positive) for p in pairs] == [("flow over a plate", ". the laminar layer")]


# ---------------------------------------------------------------- training


def _fixed_batch(model, pairs: list[Pair]):
    """The batch as sentence-transformers' trainer builds it: one tokenized feature dict per column."""
    cols = [[p.query for p in pairs], [p.positive for p in pairs]]
    return [model.tokenize(c) for c in cols]


def test_loss_equals_sentence_transformers_own(tiny_model: Path) -> None:
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    from spladekit.training.train import build_loss, build_model

    pairs = _pairs(8)
    ours = build_model(tiny_model, max_length=32)
    ours_loss = build_loss(ours, lambda_q=0.5, lambda_d=0.3)
    theirs = SparseEncoder(modules=[Transformer(str(tiny_model), transformer_task="fill-mask", max_seq_length=32),
                                    SpladePooling("max")], device="cpu")
    theirs_loss = SpladeLoss(theirs, SparseMultipleNegativesRankingLoss(theirs), document_regularizer_weight=0.3,
                             query_regularizer_weight=0.5)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        a = ours_loss(_fixed_batch(ours, pairs), None)
        b = theirs_loss(_fixed_batch(theirs, pairs), None)
        # and independently of both: InfoNCE over dot products (scale 1) + lambda * FLOPS
        q = theirs.encode([p.query for p in pairs], convert_to_tensor=True, convert_to_sparse_tensor=False)
        d = theirs.encode([p.positive for p in pairs], convert_to_tensor=True, convert_to_sparse_tensor=False)
        ce = torch.nn.functional.cross_entropy(q @ d.T, torch.arange(len(pairs)))
        flops_q, flops_d = (q.mean(0) ** 2).sum(), (d.mean(0) ** 2).sum()
    assert set(a) == set(b) == {"base_loss", "document_regularizer_loss", "query_regularizer_loss"}
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-6, atol=1e-7), key
    assert torch.allclose(a["base_loss"], ce, rtol=1e-5)
    assert torch.allclose(a["query_regularizer_loss"], 0.5 * flops_q, rtol=1e-5)
    assert torch.allclose(a["document_regularizer_loss"], 0.3 * flops_d, rtol=1e-5)


def _mean_loss(model_dir: Path, pairs: list[Pair]) -> float:
    from spladekit.training.train import build_loss, build_model

    model = build_model(model_dir, max_length=32)
    loss = build_loss(model, lambda_q=0.0, lambda_d=0.0)
    model.eval()
    with torch.no_grad():
        return float(loss(_fixed_batch(model, pairs), None)["base_loss"])


def test_training_decreases_loss_keeps_sparsity_and_reloads(tiny_model: Path, tmp_path: Path) -> None:
    from spladekit.training.train import TrainConfig, train_model

    pairs = _pairs(64)
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=3e-3, lambda_q=0.05, lambda_d=0.05,
                         max_length=32, seed=5, save_steps=4)
    active_before = _mean_active(tiny_model, pairs)
    out = train_model(pairs, tiny_model, tmp_path / "out", config, silent=True)

    before, after = _mean_loss(tiny_model, pairs[:16]), _mean_loss(out, pairs[:16])
    assert after < before, (before, after)
    rec = json.loads((out / "spladekit_training.json").read_text())
    logged = [h["loss"] for h in rec["log_history"] if "loss" in h]
    assert logged and all(math.isfinite(x) for x in logged)
    # an HF masked-LM folder the encoder/export read, vectors still sparse
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (out / name).is_file(), name
    # FLOPS regularisation keeps documents sparse: fewer active terms than the (random, dense) start
    active_after = _mean_active(out, pairs)
    assert 0 < active_after < active_before, (active_before, active_after)


def _mean_active(model_dir: Path, pairs: list[Pair]) -> float:
    from spladekit.training.train import build_model

    model = build_model(model_dir, max_length=32)
    emb = model.encode([p.positive for p in pairs], convert_to_tensor=True, convert_to_sparse_tensor=False)
    return float((emb > 0).sum(1).float().mean())


def test_training_is_reproducible_and_resumable(tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from spladekit.training.train import TrainConfig, last_checkpoint, train_model

    pairs = _pairs(16)
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, max_length=32, seed=11, save_steps=2)
    a = train_model(pairs, tiny_model, tmp_path / "a", config, silent=True)
    b = train_model(pairs, tiny_model, tmp_path / "b", config, silent=True)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    ckpt = last_checkpoint(a)
    assert ckpt is not None and ckpt.name == "checkpoint-4"
    (ckpt.parent / "checkpoint-2").mkdir(exist_ok=True)  # an older folder must not be picked
    assert last_checkpoint(a) == ckpt
    c = train_model(pairs, tiny_model, a, config, resume=True, silent=True)
    rec = json.loads((c / "spladekit_training.json").read_text())
    assert rec["resumed_from"] == "checkpoint-4" and rec["global_step"] == 4


def test_bad_config_is_refused_before_training(tiny_model: Path, tmp_path: Path) -> None:
    from spladekit.training.train import TrainConfig, train_model

    with pytest.raises(ValueError, match="cpu, cuda"):
        train_model(_pairs(4), tiny_model, tmp_path, TrainConfig(device="tpu"))
    with pytest.raises(InputError, match="nothing to resume"):
        train_model(_pairs(4), tiny_model, tmp_path, TrainConfig(), resume=True)


def test_cli_reports_bad_pairs_and_trains(tiny_model: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spladekit.cli import main

    bad = _write(tmp_path, '{"query": "q"}\n')
    res = CliRunner().invoke(main, ["train", str(bad), "--base", str(tiny_model), "-o", str(tmp_path / "m")])
    assert res.exit_code == 1 and "missing 'positive'" in res.output
    res = CliRunner().invoke(main, ["train", str(bad), "-o", str(tmp_path / "m"), "--batch-size", "1"])
    assert res.exit_code == 2 and "batch_size must be >= 2" in res.output

    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"query": p.query, "positive": p.positive}) + "\n" for p in _pairs(8)))
    res = CliRunner().invoke(main, ["train", str(good), "--base", str(tiny_model), "-o", str(tmp_path / "m"),
                                    "--batch-size", "4", "--max-length", "32", "--silent"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "m")  # the training log goes to stderr
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_mined_negatives_never_include_a_judged_positive(tiny_model: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    need("onnx", "mining exports the base model to ONNX (the 'export' extra)")
    from spladekit.training.negatives import mine_hard_negatives

    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    rng = random.Random(3)
    corpus = {f"d{i}": " ".join(rng.sample(WORDS[:26], 6)) for i in range(40)}
    corpus["dup"] = corpus["d0"]  # same text as a positive under another id: must not come back either
    # query 0 has two judged positives (d0, d1); each of its pairs must avoid both
    pairs = [Pair("wing stall lift", corpus["d0"], qid="0", pid="d0"),
             Pair("wing stall lift", corpus["d1"], qid="0", pid="d1"),
             Pair("shock wave mach", corpus["d2"], qid="1", pid="d2")]
    mined = mine_hard_negatives(pairs, str(tiny_model), 3, corpus=corpus, depth=10, seed=1)
    again = mine_hard_negatives(pairs, str(tiny_model), 3, corpus=corpus, depth=10, seed=1)
    assert [p.negatives for p in mined] == [p.negatives for p in again]  # seeded
    for p in mined:
        assert len(p.negatives) == 3
        judged = {corpus["d0"], corpus["d1"]} if p.qid == "0" else {corpus["d2"]}
        assert not judged & set(p.negatives), p
    with pytest.raises(ValueError, match="depth"):
        mine_hard_negatives(pairs, str(tiny_model), 5, corpus=corpus, depth=3)


def test_train_from_a_beir_folder_with_mined_negatives(tiny_model: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    need("onnx", "mining exports the base model to ONNX (the 'export' extra)")
    from spladekit.training import train

    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    pairs = _pairs(16)
    (src / "corpus.jsonl").write_text("".join(json.dumps({"_id": p.pid, "text": p.positive}) + "\n" for p in pairs))
    (src / "queries.jsonl").write_text("".join(json.dumps({"_id": p.qid, "text": p.query}) + "\n" for p in pairs))
    qrels = "".join(f"{p.qid}\t{p.pid}\t1\n" for p in pairs)
    (src / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    out = train(src, tiny_model, tmp_path / "m", epochs=1, batch_size=8, max_length=32, hard_negatives=2,
                silent=True)
    rec = json.loads((out / "spladekit_training.json").read_text())
    assert rec["pairs"] == 16 and rec["hard_negative_columns"] == 2
    assert rec["pairs_source"] == str(src)


@pytest.mark.parametrize("query_side", ["separate", "inference-free"])
def test_asymmetric_training_writes_a_card_that_encodes_as_sentence_transformers_does(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query_side: str) -> None:
    need("onnx", "loading the trained card exports both sides to ONNX (the 'export' extra)")
    import numpy as np
    from safetensors.torch import load_file

    from spladekit.encoder.card import read_card
    from spladekit.encoder.runtime import SpladeEncoder
    from spladekit.search import is_inference_free
    from spladekit.training.train import TrainConfig, build_loss, build_model, initial_query_table, train_model

    monkeypatch.setenv("SPLADEKIT_CACHE", str(tmp_path / "cache"))
    pairs = _pairs(64)
    documents = [p.positive for p in pairs]
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=3e-3, lambda_q=0.01, lambda_d=0.01,
                         max_length=32, seed=5, save_steps=100, query_side=query_side, query_lr=5e-2)
    out = train_model(pairs, tiny_model, tmp_path / "out", config, silent=True)
    rec = json.loads((out / "spladekit_training.json").read_text())
    logged = [h["loss"] for h in rec["log_history"] if "loss" in h]
    assert len(logged) >= 2 and logged[-1] < logged[0], logged
    assert read_card(out).document_model == str(out / "document")
    if query_side == "separate":
        wq, wd = load_file(out / "query" / "model.safetensors"), load_file(out / "document" / "model.safetensors")
        assert any(not torch.equal(wq[k], wd[k]) for k in wq)  # two encoders, trained apart
    else:
        table = json.loads((out / "idf.json").read_text())
        start = initial_query_table(tiny_model / "tokenizer.json", documents)
        vocab = json.loads((tiny_model / "tokenizer.json").read_text())["model"]["vocab"]
        assert any(abs(w - float(start[vocab[t]])) > 1e-3 for t, w in table.items())  # the table learned
        model = build_model(tiny_model, 32, query_side=query_side, idf_documents=documents)
        assert build_loss(model, 0.1, 0.1, query_side).query_regularizer_weight is None
    # what sentence-transformers computes from the saved pieces (its own Router, its own idf.json reader),
    # spladekit computes from the card
    st = _st_router(out, query_side)
    ours = SpladeEncoder.load(out)
    assert is_inference_free(ours) == (query_side == "inference-free")
    queries = [p.query for p in pairs[:6]]
    with torch.no_grad():
        want_q = st.encode_query(queries, convert_to_tensor=True, convert_to_sparse_tensor=False).numpy()
        want_d = st.encode_document(documents[:6], convert_to_tensor=True, convert_to_sparse_tensor=False).numpy()
    for got, want in ((ours.encode_queries(queries), want_q), (ours.encode_documents(documents[:6]), want_d)):
        for vec, dense in zip(got, want, strict=True):
            assert vec.ids.tolist() == np.flatnonzero(dense > 0).tolist()
            np.testing.assert_allclose(vec.weights, dense[vec.ids], atol=1e-4, rtol=1e-4)


def _st_router(out: Path, query_side: str):
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Router, Transformer
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling

    def splade(folder: Path) -> list:
        return [Transformer(str(folder), transformer_task="fill-mask", max_seq_length=32), SpladePooling("max")]

    document = splade(out / "document")
    if query_side == "separate":
        query = splade(out / "query")
    else:
        query = [SparseStaticEmbedding.from_json(str(out / "idf.json"), tokenizer=document[0].tokenizer, frozen=True)]
    return SparseEncoder(modules=[Router.for_query_document(query, document)], device="cpu").eval()

"""Long documents through ingest: nothing silent (the report counts truncated documents, tokens dropped and
windows, and warns), split-and-pool from the CLI equals the Python API, and the index records the length."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from _support import need

need("torch", "building the tiny test encoder needs the 'export' extra (torch, transformers)")

from _tiny_models import WORDS, make_tiny_model  # noqa: E402

from spladekit.cli import main  # noqa: E402
from spladekit.encoder.export import export  # noqa: E402
from spladekit.errors import IndexFormatError  # noqa: E402
from spladekit.ingest import TruncationWarning, ingest  # noqa: E402
from spladekit.local.index import LocalIndex  # noqa: E402

MAX_LENGTH = 32
BODY = MAX_LENGTH - 2  # words per window: each word is one token of the tiny vocabulary


def _words(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("tiny"), kind="bert")
    return export(model, tmp_path_factory.mktemp("onnx") / "enc", max_length=MAX_LENGTH, vocab_blocks=3)


@pytest.fixture()
def corpus(tmp_path):
    # Known lengths: 10 short documents, 2 of BODY + 10 words (10 tokens dropped each), 1 of 3 * BODY words.
    rows = [{"_id": f"s{i}", "text": _words(5 + i)} for i in range(10)]
    rows += [{"_id": "long1", "text": _words(BODY + 10)}, {"_id": "long2", "text": _words(BODY + 10)},
             {"_id": "long3", "text": _words(3 * BODY)}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_report_counts_truncation_and_warns(onnx_dir, corpus, tmp_path):
    with pytest.warns(TruncationWarning, match="3 of 13 documents .* lost 80 tokens.*--long-text split"):
        report = ingest(corpus, local_dir=tmp_path / "t", model=str(onnx_dir), checkpoint=tmp_path / "j" / "cp.json")
    assert report.encoding == {"texts": 13, "truncated": 3, "tokens_dropped": 10 + 10 + 2 * BODY, "split": 0,
                               "windows": 13}
    assert (report.max_length, report.long_text) == (MAX_LENGTH, "truncate")
    meta = LocalIndex.load(tmp_path / "t").meta
    assert (meta["max_length"], meta["long_text"]) == (MAX_LENGTH, "truncate")


def test_split_encodes_every_token_and_the_cli_equals_python(onnx_dir, corpus, tmp_path):
    py = ingest(corpus, local_dir=tmp_path / "py", local_mode="exact", model=str(onnx_dir), long_text="split",
                checkpoint=tmp_path / "j1" / "cp.json")
    assert py.encoding["truncated"] == 0 and py.encoding["split"] == 3
    assert py.encoding["windows"] == 10 + 2 * 2 + 4  # windows overlap by a quarter (stride 8)
    cli = CliRunner().invoke(main, ["ingest", str(corpus), "--local", str(tmp_path / "cli"), "--local-mode", "exact",
                                    "--model", str(onnx_dir), "--long-text", "split", "--silent", "--json",
                                    "--checkpoint", str(tmp_path / "j2" / "cp.json")])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["encoding"] == py.encoding
    a, b = LocalIndex.load(tmp_path / "py"), LocalIndex.load(tmp_path / "cli")
    for doc in ("s0", "long1", "long3"):
        va, vb = a.doc_vector(doc), b.doc_vector(doc)
        np.testing.assert_array_equal(va.ids, vb.ids)
        np.testing.assert_array_equal(va.weights.view(np.uint32), vb.weights.view(np.uint32))  # bit for bit


def test_an_index_built_at_another_length_or_policy_is_refused(onnx_dir, corpus, tmp_path):
    job = {"model": str(onnx_dir), "checkpoint": tmp_path / "j" / "cp.json"}
    with pytest.warns(TruncationWarning):
        ingest(corpus, local_dir=tmp_path / "ix", **job)
    with pytest.raises(IndexFormatError, match=f"max_length={MAX_LENGTH}.*max_length=16.*--max-length {MAX_LENGTH}"):
        ingest(corpus, local_dir=tmp_path / "ix", max_length=16, **job)
    with pytest.raises(IndexFormatError, match="long_text=truncate.*--long-text truncate"):
        ingest(corpus, local_dir=tmp_path / "ix", long_text="split", **job)

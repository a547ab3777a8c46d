"""Feature names over the whole default vocabulary: reversible, collision-free, no dots."""

from __future__ import annotations

import pytest

from _support import skip_or_fail
from spladekit.features import FeatureNames, escape, unescape


@pytest.fixture(scope="module")
def names() -> FeatureNames:
    from spladekit import models

    # Unit tests never download: use the default model only when it is already in the cache.
    if not (models.default_dir() / "tokenizer.json").is_file():
        skip_or_fail(f"default model not fetched (run: spladekit model fetch {models.DEFAULT_MODEL})")
    return FeatureNames.from_tokenizer_file(models.resolve_model(models.DEFAULT_MODEL) / "tokenizer.json")


def test_all_tokens_reversible_unique_dotless(names: FeatureNames) -> None:
    assert len(names) == 30522
    assert len(set(names.names)) == len(names)
    for i, (token, name) in enumerate(zip(names.tokens, names.names, strict=True)):
        assert "." not in name
        assert name.strip() == name and name
        assert unescape(name) == token
        assert names.id(name) == i


def test_tokens_that_need_escaping_are_escaped(names: FeatureNames) -> None:
    dotted = [t for t in names.tokens if "." in t]
    assert dotted  # BERT's vocabulary has ".", "...", "##." and friends
    assert all("%2E" in escape(t) for t in dotted)

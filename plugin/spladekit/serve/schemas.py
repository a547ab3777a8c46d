"""The JSON bodies of the service's endpoints, as pydantic models: validated strictly (no type coercion, no
unknown fields), and published in the OpenAPI document (``/openapi.json``).

The fields mirror ``spladekit search`` and ``spladekit encode`` option for option (``two_phase`` carries
``--first-pass-terms``, ``--first-pass-mass`` and ``--window``; ``prune`` the four ``--prune-*`` options), and
they reach the same library calls. Limits that the operator sets (text length, texts per request, k) are
checked by :mod:`spladekit.serve.service`, not here, because they are options of ``spladekit serve``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from spladekit import dialects
from spladekit.search import EXPLAIN_TOP

EngineName = Literal[dialects.names()]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EncodeRequest(_Strict):
    """``spladekit encode TEXT... [--query]``."""

    texts: list[str] = Field(min_length=1, description="The texts to encode.")
    kind: Literal["query", "document"] = Field(
        "query", description="query: as a search encodes its query (always truncated); document: as ingest does.")
    top_k: int | None = Field(None, ge=1, description="Keep only the K largest weights of each vector [default: all].")


class EncodedText(BaseModel):
    terms: int = Field(description="Non-zero terms of the vector (before top_k).")
    top: list[tuple[str, float]] = Field(
        description="[token, weight] by decreasing weight (ties by token id); weights are the exact float32 values.")


class EncodeResponse(BaseModel):
    model: str
    kind: str
    vectors: list[EncodedText]


class TwoPhaseOptions(_Strict):
    """``--two-phase`` with its options."""

    first_pass_terms: int | None = Field(None, ge=1, description="Query tokens of the first pass [default: 10].")
    first_pass_mass: float | None = Field(
        None, gt=0, le=1, description="The fewest largest query tokens holding this share of the query's weight.")
    window: int | None = Field(None, ge=1, description="Hits rescored with the full query [default: 100].")


class PruneOptions(_Strict):
    """The ``--prune-*`` options: which query terms a SPLADE search sends."""

    top_k: int | None = Field(None, ge=1, description="Keep only the N largest query weights.")
    min_weight: float | None = Field(None, ge=0, description="Drop query weights below this.")
    ratio: float | None = Field(None, ge=0, le=1, description="Drop query weights below RATIO x the largest.")
    mass: float | None = Field(None, gt=0, le=1,
                               description="Keep the fewest largest weights holding this share of the total.")


class SearchRequest(_Strict):
    """``spladekit search TEXT`` with the same options."""

    text: str = Field(description="The query.")
    mode: Literal["splade", "bm25", "hybrid"] = Field("splade", description="SPLADE, BM25 (match on the text "
                                                                             "field) or both fused (hybrid).")
    k: int = Field(10, ge=1, description="Hits to return.")
    two_phase: bool | TwoPhaseOptions = Field(
        False, description="Approximate SPLADE: match the high-weight tokens, rescore the top window exactly.")
    prune: PruneOptions | None = Field(None, description="Query pruning.")
    filter: dict[str, Any] | list[dict[str, Any]] | None = Field(
        None, description='An engine query used as a non-scoring filter, e.g. {"ids": {"values": ["3", "7"]}} '
                          "(the local index understands ids filters only).")
    explain: bool = Field(False, description=f"Per hit, the {EXPLAIN_TOP} query tokens that contributed most.")
    fusion: Literal["rrf", "weighted"] = Field("rrf", description="Hybrid fusion: reciprocal rank fusion or the "
                                                                  "min-max normalised weighted sum.")
    alpha: float = Field(0.5, ge=0, le=1, description="Weighted fusion: the weight of SPLADE (BM25 gets 1 - alpha).")


class QueryRequest(SearchRequest):
    """The request body ``spladekit search`` would send for these arguments, without sending it."""

    engine: EngineName | None = Field(  # type: ignore[valid-type]
        None, description="Spell the body for this engine [default: the service's engine; required on a local "
                          "index].")


class Contribution(BaseModel):
    token: str
    token_id: int
    query_weight: float
    doc_weight: float
    contribution: float


class Hit(BaseModel):
    """``spladekit search --format jsonl``, one line."""

    id: str
    score: float
    rank: int
    title: str | None = None
    text: str | None = None
    components: dict[str, float | int | None] = Field(default_factory=dict)
    explanation: list[Contribution] | None = None


class SearchResponse(BaseModel):
    mode: str
    backend: str
    took_ms: float
    hits: list[Hit]


class QueryResponse(BaseModel):
    engine: str
    mode: str
    index: str | None = Field(description="Send each body to POST /{index}/_search (null on a local index).")
    searches: dict[str, dict[str, Any]] = Field(
        description="One body per ranking: splade, bm25, or both for hybrid (fuse them as the fusion field says).")
    fusion: dict[str, Any] | None = Field(None, description="Hybrid only: how spladekit fuses the two rankings.")
    notes: list[str] = Field(description="What pruning to the bool clause limit cut.")


class ErrorResponse(BaseModel):
    error: str = Field(description="One line: what is wrong and how to fix it.")

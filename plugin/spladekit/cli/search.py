"""``spladekit search``: one query against an engine index or the local index, with explanations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from spladekit.cli._common import connect_kwargs, connection_options, friendly_errors

FORMATS = ("table", "jsonl", "trec")
SNIPPET = 70


def _snippet(hit: Any) -> str:
    text = " ".join(x for x in (hit.title, hit.text) if x)
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def format_hits(hits: list[Any], fmt: str, *, qid: str = "1", tag: str = "spladekit") -> str:
    """Hits as a table, JSON lines, or a TREC run (``qid Q0 docid rank score tag``)."""
    if fmt == "jsonl":
        return "\n".join(json.dumps(h.to_dict(), ensure_ascii=False) for h in hits)
    if fmt == "trec":
        return "\n".join(f"{qid} Q0 {h.id} {h.rank} {h.score!r} {tag}" for h in hits)
    if not hits:
        return "no hits"
    width = max(len(h.id) for h in hits)
    lines = [f"{'rank':>4}  {'score':>10}  {'id':<{width}}  text"]
    for h in hits:
        lines.append(f"{h.rank:>4}  {h.score:>10.6g}  {h.id:<{width}}  {_snippet(h)}")
        if h.components:
            parts = [f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in h.components.items()
                     if v is not None]
            lines.append(f"{'':>18}{' '.join(parts)}")
        for c in h.explanation or ():
            lines.append(f"{'':>18}{c.token:<16} {c.query_weight:8.4f} x {c.doc_weight:8.4f} = {c.contribution:.4f}")
    return "\n".join(lines)


@click.command("search")
@click.argument("query")
@click.option("--engine", "engine_url", metavar="URL", help="Search this engine (needs --index).")
@click.option("--index", "index_name", metavar="NAME", help="Engine index to search.")
@click.option("--local", "local_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Search this local index [default: $SPLADEKIT_INDEX or ./.spladekit/index without --engine].")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1), help="Hits to return.")
@click.option("--explain", is_flag=True, help="List, per hit, the query tokens that contributed most.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output: a table, JSON lines (one hit each) or a TREC run (qid Q0 docid rank score tag).")
@click.option("--bm25", is_flag=True,
              help="BM25 (match on the text field) instead of SPLADE; on the local index, the engines' BM25.")
@click.option("--hybrid", is_flag=True, help="SPLADE and BM25 fused client-side (engine or local index).")
@click.option("--fusion", type=click.Choice(["rrf", "weighted"]), default="rrf", show_default=True,
              help="Hybrid fusion: reciprocal rank fusion or min-max normalised weighted sum.")
@click.option("--alpha", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Weighted fusion: weight of SPLADE (BM25 gets 1 - alpha).")
@click.option("--two-phase", is_flag=True,
              help="Approximate: match the high-weight tokens, rescore the top --window with the full query.")
@click.option("--first-pass-terms", default=None, type=click.IntRange(1),
              help="Two-phase: query tokens of the first pass [default: 10].")
@click.option("--first-pass-mass", default=None, type=click.FloatRange(0, 1, min_open=True),
              help="Two-phase: the fewest largest query tokens holding this fraction of the query's weight "
                   "(capped by --first-pass-terms when given).")
@click.option("--window", default=None, type=click.IntRange(1), help="Two-phase: rescore window [default: 100].")
@click.option("--approx", default=1.0, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Local index: approximate block-max SPLADE, skipping a block of documents when APPROX times its "
                   "bound is below the k-th score so far (faster; hits keep exact scores; 1 is exact).")
@click.option("--prune-top-k", type=click.IntRange(1), help="Keep only the N largest query weights.")
@click.option("--prune-min-weight", type=click.FloatRange(0), help="Drop query weights below this.")
@click.option("--prune-ratio", type=click.FloatRange(0, 1), help="Drop query weights below RATIO x the largest.")
@click.option("--prune-mass", type=click.FloatRange(0, 1, min_open=True),
              help="Keep only the fewest largest query weights that hold this fraction of the total.")
@click.option("--filter", "filter_json", metavar="JSON",
              help='Engine query used as a non-scoring filter, e.g. \'{"ids": {"values": ["3", "7"]}}\'.')
@click.option("--inference-free", is_flag=True,
              help="No transformer on the query path: the query's tokens weighted by the model card's learned "
                   "table, else by IDF from the index's own document frequencies.")
@click.option("--model", default=None, help="Query encoder [default: the index's model, else splade-tiny].")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Tokens of the query the encoder reads [default: the model's own].")
@click.option("--qid", default="1", show_default=True, help="Query id written in --format trec.")
@click.option("--tag", default="spladekit", show_default=True, help="Run tag written in --format trec.")
@connection_options
@friendly_errors
def search(query: str, engine_url: str | None, index_name: str | None, local_dir: Path | None, k: int,
           explain: bool, fmt: str, bm25: bool, hybrid: bool, fusion: str, alpha: float, two_phase: bool,
           first_pass_terms: int | None, first_pass_mass: float | None, window: int | None, approx: float,
           prune_top_k: int | None, prune_min_weight: float | None, prune_ratio: float | None,
           prune_mass: float | None, filter_json: str | None, inference_free: bool, model: str | None,
           max_length: int | None, qid: str, tag: str, connection: dict[str, Any]) -> None:
    """Search QUERY with SPLADE (default), BM25 or both, on an engine index or the local index.

    \b
    spladekit search "how do wings stall" --engine http://127.0.0.1:9200 --index docs --explain
    spladekit search "how do wings stall" --local .spladekit/index -k 5 --format trec
    """
    from spladekit import paths
    from spladekit.query import TwoPhase
    from spladekit.search import search as run_search

    if bm25 and hybrid:
        raise click.UsageError("give --bm25 or --hybrid, not both")
    if engine_url and local_dir:
        raise click.UsageError("give --engine URL --index NAME or --local DIR, not both")
    if engine_url and not index_name:
        raise click.UsageError("--engine needs --index NAME")
    if index_name and not engine_url:
        raise click.UsageError("--index needs --engine URL")
    if approx < 1.0 and engine_url:
        raise click.UsageError("--approx applies to the local index; on an engine use --two-phase")
    if approx < 1.0 and bm25:
        raise click.UsageError("--approx approximates SPLADE; it does not apply to --bm25")
    if (first_pass_terms or first_pass_mass or window) and not two_phase:
        raise click.UsageError("--first-pass-terms, --first-pass-mass and --window apply to --two-phase only")
    filter_ = None
    if filter_json:
        try:
            filter_ = json.loads(filter_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--filter") from None
        if not isinstance(filter_, (dict, list)):
            raise click.BadParameter("must be a JSON object (an engine query) or a list", param_hint="--filter")
    plan: bool | TwoPhase = False
    if two_phase:
        plan = TwoPhase.of(first_pass_terms, first_pass_mass, window)
        if k > plan.window:
            raise click.BadParameter(f"-k {k} is above the two-phase window ({plan.window}): lower -k or pass "
                                     f"--window {k}", param_hint="-k")
    if engine_url is None and local_dir is None:
        local_dir = paths.default_local_index()
    connect: dict[str, Any] = connect_kwargs(connection) if engine_url is not None else {}
    prune = {"top_k": prune_top_k, "min_weight": prune_min_weight, "ratio": prune_ratio, "mass": prune_mass}
    mode = "bm25" if bm25 else "hybrid" if hybrid else "splade"
    hits = run_search(query, engine_url=engine_url, index=index_name, local_dir=local_dir, k=k, mode=mode,
                      two_phase=plan, prune=prune, filter=filter_, explain=explain, model=model, fusion=fusion,
                      alpha=alpha, max_length=max_length, inference_free=inference_free, approx=approx, **connect)
    click.echo(format_hits(hits, fmt, qid=qid, tag=tag))

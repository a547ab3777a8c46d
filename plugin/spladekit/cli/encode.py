"""``spladekit export`` (torch -> ONNX) and ``spladekit encode`` (text -> tokens and weights)."""

from __future__ import annotations

import json
from typing import Any

import click

from spladekit.cli._common import DOC_PRUNE_HELP, PruningRule, encoder_options, friendly_errors


@click.command()
@click.argument("model_name", metavar="MODEL", default="splade-tiny")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Directory to write model.onnx, the tokenizer and spladekit_encoder.json into.")
@click.option("--opset", default=17, show_default=True, type=click.IntRange(13), help="ONNX opset.")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Longest window the export runs [default: the model's own, 512 for splade-tiny].")
@click.option("--top-k", type=click.IntRange(1), default=None,
              help="Add an in-graph top-k output; vectors keep K terms at most.")
@click.option("--vocab-blocks", default=120, show_default=True, type=click.IntRange(1),
              help="Slices of the vocabulary projection, each reduced while in cache.")
@friendly_errors
def export(model_name: str, output: str, opset: int, max_length: int | None, top_k: int | None,
           vocab_blocks: int) -> None:
    """Export MODEL (splade-tiny, an HF id or a local directory) to an ONNX encoder with pooling fused in.

    A model card folder (a document and a query encoder, or a query weight table) exports both sides into
    OUTPUT/document and OUTPUT/query, with a card naming them.
    """
    import time

    from spladekit.encoder.export import export_named

    started = time.perf_counter()
    out = export_named(model_name, output, opset=opset, max_length=max_length, top_k=top_k,
                       vocab_blocks=vocab_blocks)
    click.echo(f"exported {model_name} to {out} in {time.perf_counter() - started:.1f} s", err=True)
    click.echo(str(out))


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", "model_dir", default="splade-tiny", show_default=True,
              help="Exported encoder directory, or a model name/dir to export once into the cache.")
@click.option("--top-k", default=20, show_default=True, type=click.IntRange(1), help="Tokens to print per text.")
@click.option("--query", is_flag=True, help="Encode as queries (always truncated) instead of documents.")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Tokens per window [default: the model's own, 512 for splade-tiny].")
@click.option("--long-text", type=click.Choice(["truncate", "split"]), default="truncate", show_default=True,
              help="Documents longer than --max-length: cut them, or max-pool overlapping windows.")
@click.option("--max-windows", type=click.IntRange(1), default=None, help="With --long-text split: windows per text.")
@click.option("--doc-prune", type=PruningRule(), default=None,
              help=DOC_PRUNE_HELP.split(" Recorded")[0] + " (documents only; queries: search --prune-*).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per text instead of a table.")
@encoder_options
@friendly_errors
def encode(texts: tuple[str, ...], model_dir: str, top_k: int, query: bool, max_length: int | None, long_text: str,
           max_windows: int | None, doc_prune: Any, as_json: bool, runtime: dict[str, str]) -> None:
    """Print the top tokens and weights SPLADE gives each of TEXTS."""
    from spladekit.encoder.runtime import SpladeEncoder

    if max_windows is not None and long_text != "split":
        raise click.UsageError("--max-windows applies to --long-text split only")
    if doc_prune is not None and query:
        raise click.UsageError("--doc-prune prunes documents; prune queries at search time (search --prune-top-k, "
                               "--prune-ratio, --prune-mass, --prune-min-weight)")
    encoder = SpladeEncoder.load(model_dir, long_text=long_text, max_length=max_length, max_windows=max_windows,
                                 **runtime)
    vectors = (encoder.encode_queries(list(texts)) if query
               else encoder.encode_documents(list(texts), prune=doc_prune))
    for text, vec in zip(texts, vectors, strict=True):
        pairs = encoder.decode(vec, top_k)
        if as_json:
            click.echo(json.dumps({"text": text, "terms": len(vec), "top": [[t, round(w, 4)] for t, w in pairs]}))
            continue
        click.echo(f"{text[:70]!r}: {len(vec)} terms")
        for token, weight in pairs:
            click.echo(f"  {token:<20} {weight:.4f}")
    stats = encoder.last_stats
    if stats.truncated or stats.empty or stats.split:
        click.echo(f"{stats.truncated} text(s) truncated at {encoder.max_length} tokens ({stats.tokens_dropped} "
                   f"tokens dropped), {stats.split} split into {stats.windows} windows, {stats.empty} empty",
                   err=True)

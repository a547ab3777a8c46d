"""``spladekit train``: fine-tune a SPLADE model on (query, positive) pairs."""

from __future__ import annotations

import contextlib
import sys

import click

from spladekit.cli._common import friendly_errors


@click.command()
@click.argument("pairs", type=click.Path(exists=True))
@click.option("--base", default="splade-tiny", show_default=True,
              help="Model to start from: splade-tiny, an HF id or a local masked-LM directory.")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Directory to write the fine-tuned masked-LM into (checkpoints go to OUTPUT/checkpoints).")
@click.option("--epochs", default=1.0, show_default=True, help="Passes over the pairs.")
@click.option("--batch-size", default=32, show_default=True, help="Pairs per step (the in-batch negatives).")
@click.option("--lr", "learning_rate", default=5e-5, show_default=True, help="Peak learning rate.")
@click.option("--lambda-q", default=5e-4, show_default=True, help="FLOPS regularisation weight on queries.")
@click.option("--lambda-d", default=3e-4, show_default=True, help="FLOPS regularisation weight on documents.")
@click.option("--hard-negatives", default=0, show_default=True,
              help="Negatives per pair mined with the base model and the local index (0: in-batch only).")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False), default=None,
              help="corpus.jsonl to mine negatives from (default: the BEIR folder's corpus, else the pairs).")
@click.option("--max-length", default=256, show_default=True, help="Tokens per text during training.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where training runs (cuda: a GPU).")
@click.option("--seed", default=13, show_default=True, help="Seed for initialisation, shuffling and mining.")
@click.option("--save-steps", default=200, show_default=True, help="Steps between checkpoints.")
@click.option("--separate-query-encoder", is_flag=True,
              help="Fine-tune a query encoder and a document encoder (two copies of BASE) together; writes "
                   "OUTPUT/query, OUTPUT/document and a model card.")
@click.option("--inference-free", is_flag=True,
              help="Learn a query weight table (no transformer on the query path) with the document encoder; "
                   "writes OUTPUT/document, OUTPUT/idf.json and a model card.")
@click.option("--query-lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Learning rate of the --inference-free query table.")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in OUTPUT/checkpoints.")
@click.option("--silent", is_flag=True, help="No progress bars.")
@friendly_errors
def train(pairs: str, base: str, output: str, epochs: float, batch_size: int, learning_rate: float,
          lambda_q: float, lambda_d: float, hard_negatives: int, corpus: str | None, max_length: int,
          device: str, seed: int, save_steps: int, separate_query_encoder: bool, inference_free: bool,
          query_lr: float, resume: bool, silent: bool) -> None:
    """Fine-tune BASE on PAIRS: a JSONL of {"query", "positive"} objects or a BEIR folder (qrels/train.tsv).

    The result is an HF masked-LM directory: pass it to `spladekit export`, ingest or search like any model
    (with --separate-query-encoder or --inference-free: a model card folder, used the same way).
    """
    from spladekit.training import train as train_model

    if separate_query_encoder and inference_free:
        raise click.UsageError("give --separate-query-encoder or --inference-free, not both")
    query_side = "separate" if separate_query_encoder else "inference-free" if inference_free else "shared"
    # transformers writes its loss log to stdout; stdout is kept for the one result line
    try:
        with contextlib.redirect_stdout(sys.stderr):
            out = train_model(pairs, base, output, epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, lambda_q=lambda_q, lambda_d=lambda_d,
                              hard_negatives=hard_negatives, corpus=corpus, max_length=max_length, device=device,
                              seed=seed, save_steps=save_steps, query_side=query_side, query_lr=query_lr,
                              resume=resume, silent=silent)
    except ValueError as exc:  # an option out of range: the message lists the valid values
        raise click.UsageError(str(exc)) from exc
    click.echo(str(out))

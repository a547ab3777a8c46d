"""``spladekit ingest INPUT``: a corpus into OpenSearch, Elasticsearch or the embedded local index."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from spladekit.cli._common import (
    DOC_PRUNE_HELP,
    Progress,
    PruningRule,
    connect_kwargs,
    connection_options,
    decoding_options,
    encoder_options,
    friendly_errors,
    report_option,
    write_report,
)


@click.command(epilog="Exit status: 0 everything indexed; 3 done, but records went to the dead letter (the summary "
               "says how many and where); 4 stopped before the end (engine down past retries, interrupted, "
               "--max-errors exceeded): fix the cause and run the same command with --resume; 1 error; 2 usage error.")
@click.argument("input", type=click.Path(exists=True, allow_dash=True))
@click.option("--engine", "engine_url", metavar="URL", default=None,
              help="OpenSearch/Elasticsearch URL (e.g. http://127.0.0.1:9200). Without it: the local index.")
@click.option("--index", default=None, metavar="NAME", help="Engine index (created with the mappings if missing).")
@click.option("--local", "local_dir", type=click.Path(file_okay=False), default=None,
              help="Local index folder (default $SPLADEKIT_INDEX or ./.spladekit/index).")
@click.option("--local-mode", type=click.Choice(["lucene", "exact"]), default="lucene", show_default=True,
              help="Local index: store weights as the engines do (scores equal theirs) or as float32.")
@click.option("--model", default="splade-tiny", show_default=True, help="Model name, HF id or exported folder.")
@click.option("--max-length", type=click.IntRange(8), default=None,
              help="Tokens per window [default: the model's own, 512 for splade-tiny].")
@click.option("--long-text", type=click.Choice(["truncate", "split"]), default="truncate", show_default=True,
              help="Documents longer than --max-length: cut (counted in the report) or encoded whole as "
                   "overlapping windows, max-pooled.")
@click.option("--max-windows", type=click.IntRange(1), default=None,
              help="With --long-text split: at most N windows per document (the rest is counted as dropped).")
@click.option("--doc-prune", type=PruningRule(), default=None, help=DOC_PRUNE_HELP)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "beir", "csv", "tsv", "parquet"]), default=None,
              help="Input format (default: from the name; a folder is BEIR; - is JSONL). gzip, zstd, bzip2 and xz "
                   "input is decompressed whatever its name (.jsonl.gz, .csv.zst, ...).")
@decoding_options
@click.option("--id-field", default=None, help="Id field (default _id, then id).")
@click.option("--text-field", default="text", show_default=True, help="Field holding the document text.")
@click.option("--title-field", default="title", show_default=True, help="Joined before the text as BEIR does.")
@click.option("--require-id", is_flag=True, help="Dead-letter records without an id instead of deriving one.")
@click.option("--max-doc-bytes", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Larger title+text go to the dead letter as too_large.")
@click.option("--max-errors", default="90%", show_default=True, metavar="N|P%",
              help="Stop (checkpointed) when more than N records, or P% of those read so far, fail.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of the same job.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (default .spladekit/jobs/<target>-<digest>/checkpoint.json).")
@click.option("--dead-letter", type=click.Path(dir_okay=False), default=None,
              help="Dead-letter JSONL (default beside the checkpoint).")
@click.option("--force", is_flag=True, help="Write into an index built with another model or length (mixes scores!).")
@click.option("--shards", type=click.IntRange(1), default=None,
              help="Primary shards of a new engine index [default: 1]; must match an existing index.")
@click.option("--replicas", type=click.IntRange(0), default=None,
              help="Replicas of a new engine index [default: 0 on one data node, 1 on two or more, following the "
                   "cluster (auto_expand_replicas 0-1)]; must match an existing index.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Texts per encoder call.")
@click.option("--bulk-docs", type=click.IntRange(1), default=256, show_default=True,
              help="Documents per bulk request.")
@click.option("--bulk-bytes", type=click.IntRange(1024), default=10 << 20, show_default=True,
              help="Bytes per bulk request.")
@click.option("--writers", type=click.IntRange(1), default=1, show_default=True, help="Concurrent bulk requests.")
@click.option("--max-retries", type=click.IntRange(0), default=8, show_default=True,
              help="Retries of a document on 429/502/503/504/connection errors before the job stops.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="Encoder threads (default: all cores; with --ray: per worker, default 1).")
@click.option("--reorder", is_flag=True,
              help="Local index: reorder its rows by recursive graph bisection at the end (faster exact search on "
                   "large indexes; about a minute per million documents).")
@encoder_options
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Encode on Ray workers (the ray extra; JSON-lines input that every node reads at the same path). "
                   "Alone: join $RAY_ADDRESS, else start Ray on this machine; ADDRESS (host:6379 or auto): join that "
                   "cluster (from outside it: ray job submit ... --ray auto). Put INPUT before it.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="With --ray: encoder actors, each loading the model once [default: one per CPU of the cluster, "
                   "or per --gpus-per-worker of its GPUs]; --threads sets each one's cores (default 1).")
@click.option("--ray-block", type=click.IntRange(1), default=None,
              help="With --ray: input lines per Ray task, the unit of work and of retry [default: 1024].")
@click.option("--gpus-per-worker", type=click.FloatRange(0, min_open=True), default=None,
              help="With --ray: GPUs per encoder actor (GPU actors; without it, CPU actors); use with --backend "
                   "torch --device cuda.")
@connection_options
@report_option
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout instead of the summary.")
@click.option("--silent", is_flag=True, help="No progress bar.")
@friendly_errors
def ingest(input: str, engine_url: str | None, index: str | None, local_dir: str | None, local_mode: str,
           model: str, max_length: int | None, long_text: str, max_windows: int | None, doc_prune: Any,
           fmt: str | None, decoding: dict[str, str], id_field: str | None, text_field: str, title_field: str,
           require_id: bool, max_doc_bytes: int,
           max_errors: str, resume: bool, checkpoint: str | None, dead_letter: str | None, force: bool,
           shards: int | None, replicas: int | None, batch_size: int, bulk_docs: int, bulk_bytes: int, writers: int,
           max_retries: int, threads: int | None, reorder: bool, runtime: dict[str, str], ray_address: str | None,
           workers: int, ray_block: int, gpus_per_worker: float, connection: dict[str, Any], report_path: Path | None,
           as_json: bool, silent: bool) -> None:
    """Encode INPUT (JSONL, BEIR folder, CSV/TSV, Parquet, or - for stdin; gzip/zstd/bzip2/xz compressed or
    not) and index it; print a summary.

    Every record ends indexed or in the dead letter with its position and reason; after a crash, Ctrl-C or
    an engine outage, run the same command with --resume. Policies: ingest/README.md.
    """
    from spladekit import readers
    from spladekit.ingest import IngestStopped
    from spladekit.ingest import ingest as run_ingest
    from spladekit.ingest.limits import ErrorLimit

    if (engine_url is None) != (index is None):
        raise click.UsageError("give --engine URL together with --index NAME (or neither, for the local index)")
    if engine_url is not None and local_dir is not None:
        raise click.UsageError("give either --engine/--index or --local, not both")
    if (shards is not None or replicas is not None) and engine_url is None:
        raise click.UsageError("--shards and --replicas apply to an engine index (--engine URL --index NAME)")
    if max_windows is not None and long_text != "split":
        raise click.UsageError("--max-windows applies to --long-text split only")
    try:
        limit = ErrorLimit.parse(max_errors)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--max-errors "), param_hint="--max-errors") from None
    if ray_address is None and (workers is not None or gpus_per_worker is not None or ray_block is not None):
        raise click.UsageError("--workers, --ray-block and --gpus-per-worker apply to --ray only")
    if gpus_per_worker is not None and runtime["device"] != "cuda":
        raise click.UsageError("--gpus-per-worker gives each worker a GPU: add --backend torch --device cuda")
    ray = None if ray_address is None else (ray_address or True)
    if ray is not None:
        _quiet_ray()
    distributed = {} if ray is None else {"ray": ray, "workers": workers, "gpus_per_worker": gpus_per_worker or 0.0,
                                          **({"ray_block": ray_block} if ray_block else {})}
    auth = connect_kwargs(connection, with_timeout=False) if engine_url is not None else {}
    bar = None
    if not silent:
        try:
            source, kind = readers.resolve_input(input, fmt)
            total = readers.count_records(source, kind)
        except Exception:  # noqa: BLE001 - the library call reports a bad input properly
            total = None
        bar = Progress(total, "ingest")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)  # for developers (Ray's), not for a user of the CLI
        try:
            report = run_ingest(
                input, engine_url=engine_url, index=index, local_dir=local_dir, local_mode=local_mode, model=model,
                max_length=max_length, long_text=long_text, max_windows=max_windows, doc_prune=doc_prune,
                format=fmt, **decoding, id_field=id_field,
                text_field=text_field, title_field=title_field or None, require_id=require_id,
                max_doc_bytes=max_doc_bytes, max_errors=limit, resume=resume, checkpoint=checkpoint,
                dead_letter=dead_letter, force=force, shards=shards, replicas=replicas, batch_size=batch_size,
                bulk_docs=bulk_docs,
                bulk_bytes=bulk_bytes, writers=writers, max_retries=max_retries, threads=threads, reorder=reorder,
                progress=bar, **distributed, **runtime, **auth,
            )
        except IngestStopped as exc:
            report = exc.report
        finally:
            if bar is not None:
                bar.close()
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    write_report(report_path, report.to_json())
    click.echo(report.to_json() if as_json else report.summary())
    if not report.complete:
        click.echo(f"Error: {report.stopped}", err=True)
    sys.exit(report.exit_code)


def _quiet_ray() -> None:
    """Ray's INFO and WARNING lines and its C++ error log (one line per job about actor restarts, expected) would
    break the one progress bar: they stay in Ray's session logs. A user who wants them on stderr exports
    RAY_BACKEND_LOG_LEVEL=info."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray.data  # noqa: F401 - configures Ray Data's loggers, which are then turned down
    except ImportError:
        return  # the library names the missing extra
    for name in ("ray", "ray.data"):  # errors too: the job reports a worker's failure in one line of its own
        logging.getLogger(name).setLevel(logging.CRITICAL)

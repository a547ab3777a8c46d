"""``spladekit ingest INPUT``: a corpus into OpenSearch, Elasticsearch or the embedded local index."""

from __future__ import annotations

import sys

import click

from spladekit.cli._common import USER_HELP, engine_auth, friendly_errors


@click.command()
@click.argument("input", type=click.Path(allow_dash=True))
@click.option("--engine", "engine_url", metavar="URL", default=None,
              help="OpenSearch/Elasticsearch URL (e.g. http://127.0.0.1:9200). Without it: the local index.")
@click.option("--index", default=None, metavar="NAME", help="Engine index (created with the mappings if missing).")
@click.option("--local", "local_dir", type=click.Path(file_okay=False), default=None,
              help="Local index folder (default $SPLADEKIT_INDEX or ./.spladekit/index).")
@click.option("--model", default="splade-tiny", show_default=True, help="Model name, HF id or exported folder.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "beir", "csv", "tsv", "parquet"]), default=None,
              help="Input format (default: from the name; a folder is BEIR; - is JSONL).")
@click.option("--id-field", default=None, help="Id field (default _id, then id).")
@click.option("--text-field", default="text", show_default=True)
@click.option("--title-field", default="title", show_default=True, help="Joined before the text as BEIR does.")
@click.option("--require-id", is_flag=True, help="Dead-letter records without an id instead of deriving one.")
@click.option("--max-doc-bytes", type=int, default=1 << 20, show_default=True,
              help="Larger title+text go to the dead letter as too_large.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of the same job.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file (default .spladekit/jobs/<target>-<digest>/checkpoint.json).")
@click.option("--dead-letter", type=click.Path(dir_okay=False), default=None,
              help="Dead-letter JSONL (default beside the checkpoint).")
@click.option("--force", is_flag=True, help="Write into an index built with another model (mixes scores!).")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Texts per encoder call.")
@click.option("--bulk-docs", type=int, default=256, show_default=True, help="Documents per bulk request.")
@click.option("--bulk-bytes", type=int, default=10 << 20, show_default=True, help="Bytes per bulk request.")
@click.option("--writers", type=int, default=1, show_default=True, help="Concurrent bulk requests.")
@click.option("--max-retries", type=int, default=8, show_default=True,
              help="Retries of a document on 429/502/503/504/connection errors before the job stops.")
@click.option("--threads", type=int, default=None, help="Encoder threads (default: all cores).")
@click.option("--reorder", is_flag=True,
              help="Local index: reorder its rows by recursive graph bisection at the end (faster exact search on "
                   "large indexes; about a minute per million documents).")
@click.option("--user", default=None, envvar="SPLADEKIT_ENGINE_USER",
              help=USER_HELP)
@click.option("--api-key", default=None, envvar="SPLADEKIT_ENGINE_API_KEY",
              help="API key [env SPLADEKIT_ENGINE_API_KEY].")
@click.option("--ca-certs", type=click.Path(exists=True, dir_okay=False), default=None, help="CA bundle for TLS.")
@click.option("--no-verify-certs", is_flag=True, help="Turn TLS verification off (not recommended).")
@click.option("--silent", is_flag=True, help="No progress bar.")
@friendly_errors
def ingest(input: str, engine_url: str | None, index: str | None, local_dir: str | None, model: str,
           fmt: str | None, id_field: str | None, text_field: str, title_field: str, require_id: bool,
           max_doc_bytes: int, resume: bool, checkpoint: str | None, dead_letter: str | None, force: bool,
           batch_size: int, bulk_docs: int, bulk_bytes: int, writers: int, max_retries: int,
           threads: int | None, reorder: bool, user: str | None, api_key: str | None, ca_certs: str | None,
           no_verify_certs: bool, silent: bool) -> None:
    """Encode INPUT (JSONL, BEIR folder, CSV/TSV, Parquet, or - for stdin) and index it; print a JSON report.

    Every record ends indexed or in the dead letter with its position and reason; after a crash, Ctrl-C or
    an engine outage, run the same command with --resume. Policies: ingest/README.md.
    """
    from spladekit.ingest import ingest as run_ingest
    from spladekit.ingest import readers

    password = engine_auth(user, None).get("password")
    bar = None
    if not silent:
        from tqdm import tqdm

        total = None
        try:
            source, kind = readers.resolve_input(input, fmt)
            total = readers.count_records(source, kind)
        except Exception:  # noqa: BLE001 - the library call reports a bad input properly
            total = None
        bar = tqdm(total=total, unit="doc", desc="ingest", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    try:
        report = run_ingest(
            input, engine_url=engine_url, index=index, local_dir=local_dir, model=model, format=fmt,
            id_field=id_field, text_field=text_field, title_field=title_field or None, require_id=require_id,
            max_doc_bytes=max_doc_bytes, resume=resume, checkpoint=checkpoint, dead_letter=dead_letter,
            force=force, batch_size=batch_size, bulk_docs=bulk_docs, bulk_bytes=bulk_bytes, writers=writers,
            max_retries=max_retries, threads=threads, reorder=reorder, user=user, password=password, api_key=api_key,
            ca_certs=ca_certs, verify_certs=not no_verify_certs, progress=bar.update if bar else None,
        )
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted; the checkpoint holds every acknowledged record: run the same command with --resume "
            "to continue") from None
    finally:
        if bar is not None:
            bar.close()
    click.echo(report.to_json())

"""``spladekit doctor``: check the installation, the model, the engine tooling, an engine and a Ray cluster."""

from __future__ import annotations

import json
from typing import Any

import click

from spladekit.cli._common import connect_kwargs, connection_options, friendly_errors


@click.command()
@click.option("--engines", is_flag=True,
              help="Also require what 'spladekit engine fetch|start' needs (Java, Maven, the distributions, node "
                   "folders).")
@click.option("--engine", "engine_url", metavar="URL",
              help="Check this running engine: kind, version, cluster health, credentials.")
@connection_options
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Check that this Ray cluster answers (host:6379, ray://host:10001 or auto).")
@click.option("--json", "as_json", is_flag=True, help='Print {"ok": bool, "checks": [...]} for scripts.')
@click.pass_context
@friendly_errors
def doctor(ctx: click.Context, engines: bool, engine_url: str | None, connection: dict[str, Any],
           ray_address: str | None, as_json: bool) -> None:
    """Check what spladekit needs; each item is ok, missing or warn, with the fix to run.

    Exit status 0 when everything needed is ok, 1 when something needed is missing. Always needed:
    Python >= 3.11, the core packages, a writable cache, the default model (pinned sha256) and its encoder.
    --engines adds Java, Maven (while a distribution is still to fetch), the engine distributions, node
    folders and the engines extra; --engine URL adds the engine answering, accepting the credentials, and
    the engines extra; --ray adds the ray extra and the cluster answering. Other missing items (an extra
    you did not ask for) are reported as optional; warnings (no CUDA device) never fail.

    \b
    spladekit doctor
    spladekit doctor --engines
    spladekit doctor --engine https://search.example:9200 --user admin --ca-certs ca.pem --json
    """
    from spladekit.doctor import run_checks

    auth = connect_kwargs(connection) if engine_url is not None else {}
    report = run_checks(engine_url, ray_address, engines, **auth)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.table())
    if report.exit_code:
        needed = [c for c in report.checks if c.status == "missing" and c.needed]
        click.echo("Error: needed but missing: " + "; ".join(f"{c.name} ({c.detail})" for c in needed), err=True)
    ctx.exit(report.exit_code)

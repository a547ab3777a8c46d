"""Shared CLI plumbing: library errors as one-line errors, the connection options every engine verb takes,
``--report FILE``, and the progress bar.

Exit statuses (every verb): 0 success; 1 an error, in one line on stderr that names the fix; 2 a usage error
(a bad option or argument); ``ingest`` adds 3 (done, but some records went to the dead letter) and 4 (stopped
before the end; ``--resume`` continues), ``parity`` exits 1 when the engine and the local index disagree.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from spladekit.errors import SpladekitError

F = TypeVar("F", bound=Callable[..., Any])

#: The exit statuses, for the help texts and the README (ingest's are in spladekit.ingest.report).
EXIT_HELP = ("Exit status: 0 success; 1 error (one line on stderr naming the fix); 2 usage error; ingest: 3 done "
             "but records went to the dead letter, 4 stopped before the end (run again with --resume); parity: 1 "
             "when the engine and the local index disagree.")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def friendly_errors(func: F) -> F:
    """Run a command; a user's mistake never ends in a traceback:

    - :class:`SpladekitError` (what spladekit raises on purpose, its message names the fix) -> exit 1;
    - ``ValueError`` from the library (an option out of range, a bad combination) -> a usage error, exit 2;
    - a missing extra (``ImportError`` naming ``spladekit[extra]``), an ``OSError`` on a file -> exit 1.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except SpladekitError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except ValueError as exc:
            raise click.UsageError(_one_line(exc)) from None
        except ImportError as exc:
            if "spladekit[" in str(exc) or "pip install" in str(exc):
                raise click.ClickException(_one_line(exc)) from None
            raise
        except OSError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted") from None

    return wrapper  # type: ignore[return-value]


#: The engine password is read from this variable or prompted for, never taken on the command line (where
#: the shell history and ``ps`` would show it).
PASSWORD_ENV = "SPLADEKIT_ENGINE_PASSWORD"
USER_HELP = f"Basic-auth user [env SPLADEKIT_ENGINE_USER]; the password comes from ${PASSWORD_ENV} or a prompt."


def engine_auth(user: str | None, api_key: str | None) -> dict[str, str]:
    """``connect``/``ingest`` keyword arguments for the credentials given: user (+ password), API key."""
    auth: dict[str, str] = {}
    if user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = click.prompt(f"password for {user}", hide_input=True, err=True)
        auth |= {"user": user, "password": password}
    if api_key is not None:
        auth["api_key"] = api_key
    return auth


def connection_options(func: F) -> F:
    """The credential and TLS options of every verb that talks to an engine (ingest, search, parity, eval,
    doctor): ``--user`` (password from ``$SPLADEKIT_ENGINE_PASSWORD`` or a prompt), ``--api-key``,
    ``--ca-certs``, ``--insecure``, ``--timeout``. The command receives them as one ``connection`` argument
    (call :func:`connect_kwargs` on it)."""
    options = [
        click.option("--user", envvar="SPLADEKIT_ENGINE_USER", default=None, help=USER_HELP),
        click.option("--api-key", envvar="SPLADEKIT_ENGINE_API_KEY", default=None,
                     help="Engine API key [env SPLADEKIT_ENGINE_API_KEY]."),
        click.option("--ca-certs", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="CA bundle (PEM) that signed the engine's certificate."),
        click.option("--insecure", "--no-verify-certs", "insecure", is_flag=True,
                     help="Do not verify the engine's TLS certificate (anyone on the path can read and change "
                          "the traffic; for throw-away test nodes only)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
                     help="Seconds to wait for one engine request."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, user: str | None, api_key: str | None, ca_certs: str | None, insecure: bool,
                timeout: float, **kwargs: Any) -> Any:
        connection = {"user": user, "api_key": api_key, "ca_certs": ca_certs, "insecure": insecure,
                      "timeout": timeout}
        return func(*args, connection=connection, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def connect_kwargs(connection: Mapping[str, Any], *, with_timeout: bool = True) -> dict[str, Any]:
    """The keyword arguments :func:`spladekit.engines.connect` (and ingest, search, parity, eval) take."""
    if connection.get("insecure"):
        click.secho("WARNING: --insecure: the engine's TLS certificate is NOT verified; anyone between you and "
                    "the engine can read and change the traffic, credentials included.", fg="red", err=True)
    out: dict[str, Any] = engine_auth(connection.get("user"), connection.get("api_key"))
    out["ca_certs"] = connection.get("ca_certs")
    out["verify_certs"] = not connection.get("insecure")
    if with_timeout:
        out["timeout"] = connection.get("timeout", 60.0)
    return out


def report_option(func: F) -> F:
    """``--report FILE``: the JSON report goes there (stdout keeps the human summary)."""
    return click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True, path_type=Path),
                        default=None, help="Write the JSON report to FILE (stdout keeps the human summary).")(func)


def write_report(path: Path | None, data: Mapping[str, Any] | str) -> None:
    """Write a JSON report atomically enough for scripts (the whole text at once)."""
    if path is None:
        return
    text = data if isinstance(data, str) else json.dumps(data, indent=2, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


class Progress:
    """A tqdm bar on stderr that ingest can also tell about truncated documents (``note``). It is drawn from the
    first update on, so that what a job prints while it starts (a Ray cluster starting) comes before it, not
    through it, and its docs/s and ETA count the work, not the start."""

    def __init__(self, total: int | None, desc: str, unit: str = "doc") -> None:
        self._options = {"total": total, "unit": unit, "desc": desc, "file": sys.stderr, "dynamic_ncols": True,
                         "smoothing": 0.1}
        self.bar: Any = None
        self._lock = threading.Lock()

    def _bar(self) -> Any:
        with self._lock:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(**self._options)
            return self.bar

    def __call__(self, n: int) -> None:
        self._bar().update(n)

    def note(self, **counts: int) -> None:
        self._bar().set_postfix(counts, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def decoding_options(func: F) -> F:
    """``--encoding CODEC`` and ``--decode-errors strict|replace|skip`` (ingest, eval): how input bytes become
    text (:class:`spladekit.readers.Decoding`). The command receives them as one ``decoding`` dict of the
    library's keyword arguments (``encoding``, ``decode_errors``), the codec checked here."""
    options = [
        click.option("--encoding", default="utf-8", show_default=True, metavar="CODEC",
                     help="The input's codec (JSONL/CSV/TSV): any ASCII-compatible Python codec (latin-1, "
                          "cp1252, ...)."),
        click.option("--decode-errors", type=click.Choice(["strict", "replace", "skip"]), default="strict",
                     show_default=True,
                     help="Records with bytes the codec cannot decode: strict refuses them (ingest: dead letter "
                          "invalid_utf8; eval: excluded, counted); replace keeps them with U+FFFD in place of "
                          "those bytes, skip without them (the report counts them as repaired)."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, encoding: str, decode_errors: str, **kwargs: Any) -> Any:
        from spladekit.readers import Decoding

        try:
            Decoding(encoding)
        except ValueError as exc:
            raise click.BadParameter(str(exc).removeprefix("--encoding "), param_hint="--encoding") from None
        return func(*args, decoding={"encoding": encoding, "decode_errors": decode_errors}, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def encoder_options(func: F) -> F:
    """``--backend onnx|torch``, ``--device cpu|cuda``, ``--dtype float32|bfloat16|float16`` (ingest, encode, eval):
    the command receives them as one ``runtime`` dict for :meth:`spladekit.encoder.SpladeEncoder.load`."""
    options = [
        click.option("--backend", type=click.Choice(["onnx", "torch"]), default="onnx", show_default=True,
                     help="onnx: the ONNX export on onnxruntime (CPU); torch: the model on torch (GPUs; the export "
                          "extra)."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
                     help="Where the encoder runs (cuda: a GPU, with --backend torch)."),
        click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32",
                     show_default=True, help="Precision of the encoder (bfloat16/float16: --backend torch)."),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, backend: str, device: str, dtype: str, **kwargs: Any) -> Any:
        if dtype != "float32" and backend != "torch":
            raise click.UsageError(f"--dtype {dtype} needs --backend torch (the onnx backend computes in float32)")
        return func(*args, runtime={"backend": backend, "device": device, "dtype": dtype}, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


class PruningRule(click.ParamType):
    """A pruning rule as the CLI spells it (``top_k:64``, ``mass:0.9,top_k:128``): a ``spladekit.vectors.Pruning``."""

    name = "RULE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from spladekit.vectors import Pruning

        if value is None or isinstance(value, Pruning):
            return value
        try:
            return Pruning.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DOC_PRUNE_HELP = ("Static pruning of each document vector: top_k:N (the N largest weights), ratio:R (weights >= R x "
                  "the largest), mass:M (the fewest largest holding M of the weight), min_weight:W; comma-separated "
                  "to combine. Recorded in the index; an index never mixes rules.")

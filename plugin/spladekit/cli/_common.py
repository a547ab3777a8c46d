"""Shared CLI plumbing: turning library errors into click errors, engine credentials."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from spladekit.errors import SpladekitError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Run a command and turn SpladekitError (and a missing extra) into a one-paragraph ClickException."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpladekitError as exc:
            raise click.ClickException(str(exc)) from exc
        except ImportError as exc:
            if "spladekit[" in str(exc):
                raise click.ClickException(str(exc)) from exc
            raise

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

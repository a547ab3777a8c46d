"""Shared CLI plumbing: turning library errors into click errors."""

from __future__ import annotations

import functools
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
